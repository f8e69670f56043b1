package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/resolver"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/store"
)

// Responder is the monitor's decision unit (resolver.Unit): it undoes
// decisions and carries out an operator's own requests.
type Responder interface {
	Undo(ctx context.Context, id, who string) error
	Request(ctx context.Context, m resolver.Manual) (resolver.Decision, error)
	InForce(key, id string) bool
}

// requestJSON is an operator's request (POST /api/responses).
type requestJSON struct {
	Method   string         `json:"method"`
	Subject  action.Subject `json:"subject"`
	Duration string         `json:"duration"`
	Reason   string         `json:"reason"`
}

// postRequest carries out an operator's own request: POST /api/responses
// with {"method", "subject", "duration", "reason"}.
func (s *Server) postRequest(w http.ResponseWriter, r *http.Request) {
	if s.o.Responder == nil {
		writeError(w, http.StatusServiceUnavailable, errors.New("this server runs no decision unit"))
		return
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	var req requestJSON
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("request body: %w", err))
		return
	}
	var d time.Duration
	if req.Duration != "" {
		var err error
		if d, err = time.ParseDuration(req.Duration); err != nil || d < 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("duration %q: want a duration such as 10m or 24h", req.Duration))
			return
		}
	}
	p := principalOf(r)
	who := p.describe(r)
	dd, err := s.o.Responder.Request(r.Context(), resolver.Manual{Method: req.Method, Subject: req.Subject, Duration: d, Who: who, Reason: req.Reason})
	subject, _ := json.Marshal(req.Subject)
	detail := fmt.Sprintf("method %s, subject %s, duration %s, reason %q", req.Method, subject, req.Duration, req.Reason)
	if err != nil {
		detail += ": " + err.Error()
	}
	s.audit(r, p, "request", dd.ID, err == nil, detail)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]string{"id": dd.ID, "status": dd.Status, "key": dd.Key, "reason": dd.Reason})
	case s.o.UndoStatus != nil && s.o.UndoStatus(err) != 0:
		writeError(w, s.o.UndoStatus(err), err)
	default:
		s.o.Logger.Warn("request failed", "err", err)
		writeError(w, http.StatusInternalServerError, err)
	}
}

// responseJSON is a decision as the API gives it (docs/API.md).
type responseJSON struct {
	ID      string          `json:"id"`
	Time    time.Time       `json:"time"`
	Mode    string          `json:"mode"`
	Policy  string          `json:"policy"`
	Method  string          `json:"method"`
	Kind    string          `json:"kind"`
	Key     string          `json:"key"`
	Subject json.RawMessage `json:"subject"`
	Reports []string        `json:"reports"`
	Reason  string          `json:"reason"`
	Status  string          `json:"status"`
	Outcome json.RawMessage `json:"outcome,omitempty"`
	Expires *time.Time      `json:"expires,omitempty"`
	Undone  *time.Time      `json:"undone,omitempty"`
	// InForce says the action is in force and can be undone.
	InForce bool `json:"in_force"`
}

func (s *Server) toJSON(r store.Response) responseJSON {
	out := toJSON(r)
	if s.o.Responder != nil && r.Status == store.StatusDone {
		out.InForce = s.o.Responder.InForce(r.Key, r.ID)
	}
	return out
}

func toJSON(r store.Response) responseJSON {
	out := responseJSON{ID: r.ID, Time: r.Time, Mode: r.Mode, Policy: r.Policy, Method: r.Method, Kind: r.Kind, Key: r.Key,
		Subject: r.Subject, Reports: r.Reports, Reason: r.Reason, Status: r.Status, Outcome: r.Outcome}
	if out.Reports == nil {
		out.Reports = []string{}
	}
	if len(out.Subject) == 0 || !json.Valid(out.Subject) {
		out.Subject = json.RawMessage(`{}`)
	}
	if len(out.Outcome) > 0 && !json.Valid(out.Outcome) {
		out.Outcome = nil
	}
	if !r.Expires.IsZero() {
		t := r.Expires
		out.Expires = &t
	}
	if !r.Undone.IsZero() {
		t := r.Undone
		out.Undone = &t
	}
	return out
}

var responseStatuses = map[string]bool{
	store.StatusPlanned: true, store.StatusDryRun: true, store.StatusDone: true, store.StatusFailed: true,
	store.StatusSuppressed: true, store.StatusRefused: true, store.StatusExpired: true, store.StatusUndone: true,
}

// getResponses answers with the resolver's decisions, newest first:
// GET /api/responses?status=done,refused&policy=&key=&since=&until=&limit=
func (s *Server) getResponses(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "status", "policy", "key", "since", "until", "limit":
		default:
			writeError(w, http.StatusBadRequest, fmt.Errorf("unknown parameter %q", k))
			return
		}
	}
	f := store.ResponseFilter{Policy: q.Get("policy"), Key: q.Get("key")}
	if v := q.Get("status"); v != "" {
		for _, st := range strings.Split(v, ",") {
			if !responseStatuses[st] {
				writeError(w, http.StatusBadRequest, fmt.Errorf("parameter \"status\": unknown status %q", st))
				return
			}
			f.Statuses = append(f.Statuses, st)
		}
	}
	var err error
	if f.Since, err = s.parseTime("since", q.Get("since")); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if f.Until, err = s.parseTime("until", q.Get("until")); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxLimit {
			writeError(w, http.StatusBadRequest, fmt.Errorf("parameter \"limit\": want an integer from 1 to %d, got %q", store.MaxLimit, v))
			return
		}
		f.Limit = n
	}
	rows, err := s.o.Store.Responses(r.Context(), f)
	if err != nil {
		s.o.Logger.Error("querying responses", "err", err)
		writeError(w, http.StatusInternalServerError, errors.New("query failed"))
		return
	}
	out := make([]responseJSON, 0, len(rows))
	for _, row := range rows {
		out = append(out, s.toJSON(row))
	}
	writeJSON(w, http.StatusOK, out)
}

// getResponse answers with one decision: GET /api/responses/{id}.
func (s *Server) getResponse(w http.ResponseWriter, r *http.Request) {
	row, err := s.o.Store.GetResponse(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, store.ErrNoResponse):
		writeError(w, http.StatusNotFound, err)
	case err != nil:
		s.o.Logger.Error("querying a response", "err", err)
		writeError(w, http.StatusInternalServerError, errors.New("query failed"))
	default:
		writeJSON(w, http.StatusOK, s.toJSON(row))
	}
}

// postUndo undoes a decision in force: POST /api/responses/{id}/undo.
func (s *Server) postUndo(w http.ResponseWriter, r *http.Request) {
	if s.o.Responder == nil {
		writeError(w, http.StatusServiceUnavailable, errors.New("this server runs no decision unit"))
		return
	}
	id := r.PathValue("id")
	p := principalOf(r)
	who := p.describe(r)
	err := s.o.Responder.Undo(r.Context(), id, who)
	detail := ""
	if err != nil {
		detail = err.Error()
	}
	s.audit(r, p, "undo", id, err == nil, detail)
	switch {
	case err == nil:
		s.o.Logger.Info("decision undone", "decision", id, "by", who)
		writeJSON(w, http.StatusOK, map[string]string{"undone": id})
	case s.o.UndoStatus != nil && s.o.UndoStatus(err) != 0:
		writeError(w, s.o.UndoStatus(err), err)
	default:
		s.o.Logger.Warn("undo failed", "decision", id, "err", err)
		writeError(w, http.StatusInternalServerError, err)
	}
}
