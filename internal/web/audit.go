package web

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/vigil-ids/vigil/internal/store"
)

// auditJSON is an audit record as GET /api/audit gives it.
type auditJSON struct {
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Role   string    `json:"role"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Remote string    `json:"remote"`
	OK     bool      `json:"ok"`
	Detail string    `json:"detail"`
}

// getAudit answers with the audit log, newest first:
// GET /api/audit?actor=&action=&since=&until=&limit= (admin).
func (s *Server) getAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "actor", "action", "since", "until", "limit":
		default:
			writeError(w, http.StatusBadRequest, fmt.Errorf("unknown parameter %q", k))
			return
		}
	}
	f := store.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action")}
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
	rows, err := s.o.Store.AuditLog(r.Context(), f)
	if err != nil {
		s.o.Logger.Error("querying the audit log", "err", err)
		writeError(w, http.StatusInternalServerError, fmt.Errorf("query failed"))
		return
	}
	out := make([]auditJSON, 0, len(rows))
	for _, a := range rows {
		out = append(out, auditJSON(a))
	}
	writeJSON(w, http.StatusOK, out)
}
