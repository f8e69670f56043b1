package resolver

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/store"
)

// What happens to decisions after they are made: recording, expiry, an
// operator's undo and requests, and the response events.

// Flush records the decisions waiting to be recorded together.
func (u *Unit) Flush(ctx context.Context) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.flushLocked(ctx)
}

func (u *Unit) flushLocked(ctx context.Context) {
	if len(u.pending) == 0 {
		return
	}
	if err := u.o.Audit.PutResponses(ctx, u.pending); err != nil {
		u.log.Error("decisions not recorded", "decisions", len(u.pending), "err", err)
	}
	u.pending = u.pending[:0]
}

// ExpireDue undoes the actions whose time is up (and records the
// decisions waiting to be).
func (u *Unit) ExpireDue(ctx context.Context) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.flushLocked(ctx)
	now := u.o.Clock.Now()
	if now.Sub(u.swept) >= time.Minute {
		for _, p := range u.policies {
			p.sweep(now)
		}
		u.swept = now
	}
	var due []*active
	for k, a := range u.active {
		if a.expires.IsZero() || now.Before(a.expires) {
			continue
		}
		if !a.executed {
			delete(u.active, k)
			continue
		}
		if now.Before(a.retryAt) {
			continue
		}
		due = append(due, a)
	}
	sort.Slice(due, func(i, j int) bool { return due[i].expires.Before(due[j].expires) })
	for _, a := range due {
		if err := u.undo(ctx, a, store.StatusExpired, "expired"); err != nil {
			a.backoff = min(max(2*a.backoff, time.Second), 5*time.Minute)
			a.retryAt = now.Add(a.backoff)
			u.log.Error("expired action not undone; trying again", "decision", a.id, "in", a.backoff, "err", err)
			continue
		}
		delete(u.active, a.req.Key)
	}
}

// undo reverses an executed action and records it.
func (u *Unit) undo(ctx context.Context, a *active, status, why string) error {
	m, ok := u.o.Methods[a.method]
	if !ok {
		return fmt.Errorf("method %s is not configured", a.method)
	}
	detail := ""
	if un, ok := m.Method.(action.Undoer); ok {
		uctx, cancel := context.WithTimeout(ctx, u.o.Config.ActionTimeout)
		err := un.Undo(uctx, a.req, a.out)
		cancel()
		if err != nil {
			return err
		}
		detail = "undone"
	}
	now := u.o.Clock.Now()
	undone := time.Time{}
	if status == store.StatusUndone || detail != "" {
		undone = now
	}
	reason := fmt.Sprintf("%s at %s; %s", why, now.UTC().Format(time.RFC3339), a.req.Reason)
	if err := u.o.Audit.UpdateResponse(ctx, a.id, status, reason, nil, time.Time{}, undone); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	u.counts[status].Add(1)
	u.log.Info("decision ended", "decision", a.id, "status", status, "key", a.req.Key)
	u.emit(event.TypeResponseUndo, &a.req, status, why)
	return nil
}

// InForce tells whether decision id, filed under key, is an action in
// force that Undo can reverse.
func (u *Unit) InForce(key, id string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	a, ok := u.active[key]
	if !ok || !a.executed || a.id != id {
		return false
	}
	_, undoes := u.o.Methods[a.method].Method.(action.Undoer)
	return undoes
}

// Manual is an operator's own request (vigil respond block): a method
// applied to a subject, for a time.
type Manual struct {
	Method  string
	Subject action.Subject
	// Duration: how long the action lasts (0: until undone, for methods
	// that undo).
	Duration time.Duration
	// Who asked, and why, for the audit.
	Who, Reason string
}

// needWords name the subject parts in messages.
var needWords = map[string]string{
	"host": "a host", "addr": "an address", "conn": "a connection (both ends)", "process": "a process (pid and start time)", "unit": "a unit",
}

// ErrBadRequest is the error of a manual request that cannot be carried
// out as given (an unknown method, a subject without what the method
// acts on).
var ErrBadRequest = errors.New("bad request")

// Request carries out an operator's own request, whatever the mode: the
// protected addresses and processes are refused and an action in force
// acts once, as for a policy's decision; spoof awareness and rate budgets
// apply to policies only (the operator is the evidence).
func (u *Unit) Request(ctx context.Context, mr Manual) (Decision, error) {
	m, ok := u.o.Methods[mr.Method]
	if !ok {
		known := make([]string, 0, len(u.o.Methods))
		for n := range u.o.Methods {
			known = append(known, n)
		}
		sort.Strings(known)
		return Decision{}, fmt.Errorf("%w: no response method %q (configured: %s)", ErrBadRequest, mr.Method, strings.Join(known, ", "))
	}
	s := mr.Subject
	if s.Addr.IsValid() {
		s.Addr = s.Addr.Unmap()
	}
	if s.Prefix.IsValid() {
		s.Prefix = s.Prefix.Masked()
	}
	for _, need := range m.Needs {
		ok := true
		switch need {
		case "host":
			ok = s.Host != ""
		case "addr":
			ok = s.Addr.IsValid() || s.Prefix.IsValid()
		case "conn":
			ok = s.Conn != nil && s.Conn.Local.IsValid() && s.Conn.Remote.IsValid()
		case "process":
			ok = s.Process != nil && s.Process.PID > 0 && s.Process.Start > 0
		case "unit":
			ok = s.Unit != ""
		}
		if !ok {
			return Decision{}, fmt.Errorf("%w: method %s (%s) acts on %s; the request gives none", ErrBadRequest, m.Name, m.Kind, needWords[need])
		}
	}
	if mr.Duration < 0 {
		return Decision{}, fmt.Errorf("%w: a negative duration", ErrBadRequest)
	}
	who := mr.Who
	if who == "" {
		who = "an operator"
	}
	why := "requested by " + who
	if mr.Reason != "" {
		why += ": " + strconv.Quote(mr.Reason)
	}
	p := &policy{cfg: config.Policy{Mode: config.ModeEnforce, Duration: mr.Duration}}
	u.mu.Lock()
	defer u.mu.Unlock()
	d := u.decide(ctx, p, m, s, subjectKey(s), nil, why, u.o.Clock.Now(), true)
	u.flushLocked(ctx)
	return d, nil
}

// Errors of Undo.
var (
	ErrUnknownDecision = errors.New("unknown decision")
	ErrNotActive       = errors.New("decision not in force")
)

// Undo reverses decision id by an operator's request: an unknown
// decision, one that expired, or one not in force is an error that says
// so.
func (u *Unit) Undo(ctx context.Context, id, who string) error {
	u.Flush(ctx)
	row, err := u.o.Audit.GetResponse(ctx, id)
	if errors.Is(err, store.ErrNoResponse) {
		return fmt.Errorf("undo %q: %w", id, ErrUnknownDecision)
	}
	if err != nil {
		return fmt.Errorf("undo %s: %w", id, err)
	}
	switch row.Status {
	case store.StatusDone:
	case store.StatusExpired:
		return fmt.Errorf("undo %s: it expired already (%s): %w", id, row.Reason, ErrNotActive)
	case store.StatusUndone:
		return fmt.Errorf("undo %s: it was undone already at %s: %w", id, row.Undone.Format(time.RFC3339), ErrNotActive)
	default:
		return fmt.Errorf("undo %s: it is %s, nothing was done: %w", id, row.Status, ErrNotActive)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	a, ok := u.active[row.Key]
	if !ok || a.id != id {
		if a, err = activeFromRow(row); err != nil {
			return fmt.Errorf("undo %s: %w", id, err)
		}
	}
	m, ok := u.o.Methods[row.Method]
	if !ok {
		return fmt.Errorf("undo %s: method %s is not configured in this monitor", id, row.Method)
	}
	if _, ok := m.Method.(action.Undoer); !ok {
		return fmt.Errorf("undo %s: method %s (%s) cannot undo what it did: %w", id, row.Method, row.Kind, ErrNotActive)
	}
	if who == "" {
		who = "an operator"
	}
	if err := u.undo(ctx, a, store.StatusUndone, "undone by "+who); err != nil {
		return fmt.Errorf("undo %s: %w", id, err)
	}
	if cur, ok := u.active[row.Key]; ok && cur.id == id {
		delete(u.active, row.Key)
	}
	return nil
}

// emit sends a response event.
func (u *Unit) emit(typ string, req *action.Request, status, detail string) {
	if u.o.Emit == nil {
		return
	}
	now := u.o.Clock.Now()
	ids := make([]string, 0, len(req.Reports))
	for _, r := range req.Reports {
		ids = append(ids, r.ID)
	}
	attrs := map[string]any{
		"decision": req.ID, "policy": req.Policy, "method": req.Method, "kind": req.Kind,
		"status": status, "key": req.Key, "subject": describe(req.Subject), "detail": detail,
	}
	if len(ids) > 0 {
		attrs["reports"] = ids
	}
	if !req.Expires.IsZero() {
		attrs["expires"] = req.Expires.UTC().Format(time.RFC3339Nano)
	}
	if req.Subject.Addr.IsValid() {
		attrs["addr"] = req.Subject.Addr.String()
	}
	if req.Subject.Unit != "" {
		attrs["unit"] = req.Subject.Unit
	}
	if req.Subject.Process != nil {
		attrs["pid"] = int64(req.Subject.Process.PID)
	}
	host, ip := req.Subject.Host, ""
	if n := len(req.Reports); n > 0 {
		if host == "" {
			host = req.Reports[n-1].Host
		}
		ip = req.Reports[n-1].IP
	}
	if host == "" && ip == "" {
		host = u.o.Monitor
	}
	ev := event.Event{ID: u.o.IDs.NewID(now), Time: now, Type: typ, Host: host, IP: ip, Source: u.o.Monitor, Attrs: attrs}
	if err := ev.Validate(); err != nil {
		u.log.Warn("response event not valid; not emitted", "decision", req.ID, "err", err)
		return
	}
	u.o.Emit(ev)
}
