// Package web serves Vigil's HTTP interface: the live page (assets embedded
// in the binary, no network access needed), server-sent event streams of
// what the monitor accepts, the JSON API for events and reports, event
// submission for third-party tools, health and Prometheus metrics.
//
// Off loopback, or once accounts exist, every request needs a login: a
// session from POST /api/login, with roles and a CSRF token (session.go),
// and operators' and admins' actions are recorded in the store's audit
// log.
//
// Every string that came from a host or the network is attacker-controlled:
// the API encodes it as JSON with <, > and & escaped, and the page only ever
// places it with textContent.
package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-ids/vigil/internal/auth"
	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/health"
	"github.com/vigil-ids/vigil/internal/store"
)

//go:embed assets
var assets embed.FS

// Options configure the HTTP server.
type Options struct {
	// Listen is host:port; port 0 picks a free port.
	Listen string
	// Store answers the queries.
	Store *store.Store
	// Live, when set, is the running monitor's view of its engines
	// (live tracks, learnt profiles).
	Live Live
	// Hierarchy, when set, is the running monitor's place in the
	// hierarchy: GET /api/hierarchy and GET /api/probe.
	Hierarchy Hierarchy
	// Publish delivers submitted events to the bus and returns how many
	// (a prefix) were durably accepted.
	Publish func(ctx context.Context, evs []event.Event) (int, error)
	Hub     *Hub
	// Gatherer serves /metrics.
	Gatherer prometheus.Gatherer
	// Health returns nil when the process is healthy; Status adds detail
	// to /healthz.
	Health func() error
	Status func() map[string]any
	// Board, when set, holds the process's health conditions: /healthz
	// lists them, and while one that blocks input holds, submissions are
	// refused with 503, its reason and Retry-After.
	Board  *health.Board
	IDs    event.IDSource
	Clock  clock.Clock
	Logger *slog.Logger
	// MaxBody bounds a submission (default DefaultMaxBody).
	MaxBody int64
	// MaxUploads bounds the submissions read at once (default
	// DefaultMaxUploads); one more is answered 429 with Retry-After.
	MaxUploads int
	// BatchEvents bounds the events a submission holds before they are
	// published (default DefaultBatchEvents).
	BatchEvents int
	// Responder, when set, undoes the decision unit's decisions (POST
	// /api/responses/{id}/undo) and carries out an operator's requests
	// (POST /api/responses); UndoStatus maps its errors to an HTTP status
	// (0: 500).
	Responder  Responder
	UndoStatus func(error) int
	// AllowedHosts are names, besides loopback names, IP addresses, the
	// listen host and the machine's name, that a request may give in its
	// Host header (see guard.go).
	AllowedHosts []string
	// Accounts, when set, are the accounts that may log in (POST
	// /api/login). On a loopback Listen with no accounts, no login is
	// needed; otherwise every request needs a session or a Peer.
	Accounts *auth.Accounts
	// Peer, when set, identifies a request by its connection rather than
	// a session: a verified client certificate (r.TLS.VerifiedChains)
	// mapped to an account name and role. Its requests need no CSRF
	// token (a program's, not a page's: the Origin check still applies).
	Peer func(r *http.Request) (user string, role auth.Role, ok bool)
	// SessionIdle ends a session unused this long (default
	// DefaultSessionIdle); SessionLifetime ends it this long after login
	// (default DefaultSessionLifetime).
	SessionIdle, SessionLifetime time.Duration
	// LoginFailures failures within LoginWindow, of a client address or
	// of a user name, refuse its logins with 429 until the oldest is
	// older than LoginWindow (defaults DefaultLoginFailures,
	// DefaultLoginWindow).
	LoginFailures int
	LoginWindow   time.Duration
	// EventsRate and EventsBurst bound each client address's submissions
	// (POST /api/events) where logins are needed: a token bucket of
	// EventsBurst refilled at EventsRate a second; beyond it, 429 with
	// Retry-After (defaults DefaultEventsRate, DefaultEventsBurst).
	EventsRate  float64
	EventsBurst int
}

// Limits of the HTTP interface (docs/LIMITS.md).
const (
	// DefaultMaxBody bounds one submission's body.
	DefaultMaxBody = 16 << 20
	// DefaultMaxUploads bounds the submissions read at the same time.
	DefaultMaxUploads = 4
	// DefaultBatchEvents bounds the decoded events a submission holds
	// before publishing them.
	DefaultBatchEvents = 1000
	// uploadTimeout bounds the time a batch of a submission may take to
	// arrive.
	uploadTimeout = time.Minute
)

// Server is the HTTP server.
type Server struct {
	o   Options
	ln  net.Listener
	srv *http.Server
	// closing ends the open event streams at shutdown; they would
	// otherwise hold Shutdown up.
	closing chan struct{}
	// hosts are the names a request may give in Host (guard.go).
	allowHosts map[string]bool
	// uploads holds a token per submission being read.
	uploads chan struct{}
	// loopback says Listen is reachable from this machine only.
	loopback bool
	sess     *sessions
	// submits limits each client's submissions.
	submits *buckets
	// probes holds a token per probe proxied to a child.
	probes chan struct{}
}

// maxErrorsListed bounds the per-line errors in a submission's answer.
const maxErrorsListed = 100

// New binds the listening socket, so that Addr is known before Serve.
func New(o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.IDs == nil {
		o.IDs = event.NewRandomIDs()
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.MaxUploads <= 0 {
		o.MaxUploads = DefaultMaxUploads
	}
	if o.BatchEvents <= 0 {
		o.BatchEvents = DefaultBatchEvents
	}
	if o.Hub == nil {
		o.Hub = NewHub()
	}
	if o.SessionIdle <= 0 {
		o.SessionIdle = DefaultSessionIdle
	}
	if o.SessionLifetime <= 0 {
		o.SessionLifetime = DefaultSessionLifetime
	}
	if o.LoginFailures <= 0 {
		o.LoginFailures = DefaultLoginFailures
	}
	if o.LoginWindow <= 0 {
		o.LoginWindow = DefaultLoginWindow
	}
	if o.EventsRate <= 0 {
		o.EventsRate = DefaultEventsRate
	}
	if o.EventsBurst <= 0 {
		o.EventsBurst = DefaultEventsBurst
	}
	if err := CheckListen(o.Listen, o.Accounts, o.Peer != nil); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("http: listening on %s: %w", o.Listen, err)
	}
	s := &Server{o: o, ln: ln, closing: make(chan struct{}), allowHosts: allowedHosts(o.Listen, o.AllowedHosts), uploads: make(chan struct{}, o.MaxUploads),
		loopback: IsLoopback(o.Listen), sess: newSessions(), submits: newBuckets(o.EventsRate, o.EventsBurst), probes: make(chan struct{}, maxProbes)}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
	}
	s.srv.RegisterOnShutdown(func() { close(s.closing) })
	if !s.loopback {
		o.Logger.Warn("http: serving off loopback over plain HTTP: passwords and session cookies cross the network in clear; use a trusted management network or TLS", "listen", o.Listen)
	}
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL is the server's base URL.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Serve answers requests until ctx ends, then shuts down gracefully (open
// event streams are closed).
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		_ = s.srv.Close()
	}
	<-errc
	return nil
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	files := http.FileServerFS(static)
	mux.Handle("GET /", files)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("POST /api/login", s.postLogin)
	mux.HandleFunc("POST /api/logout", s.postLogout)
	mux.HandleFunc("GET /api/session", s.getSession)
	mux.HandleFunc("GET /api/audit", s.need(auth.Admin, s.getAudit))
	mux.HandleFunc("GET /api/users", s.need(auth.Admin, s.getUsers))
	mux.HandleFunc("POST /api/users", s.need(auth.Admin, s.postUser))
	mux.HandleFunc("DELETE /api/users/{name}", s.need(auth.Admin, s.deleteUser))
	if s.o.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.o.Gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.o.Logger.Handler(), slog.LevelWarn)}))
	}
	mux.HandleFunc("GET /api/events", s.getEvents)
	mux.HandleFunc("GET /api/reports", s.getReports)
	mux.HandleFunc("GET /api/tracks", s.getTracks)
	mux.HandleFunc("GET /api/hosts", s.getHosts)
	mux.HandleFunc("GET /api/profiles", s.getProfiles)
	mux.HandleFunc("GET /api/observations/by-host", s.getTypeCounts)
	mux.HandleFunc("GET /api/charts/score.svg", s.getScoreChart)
	mux.HandleFunc("GET /api/charts/observations.svg", s.getObservationsChart)
	mux.HandleFunc("POST /api/events", s.need(auth.Operator, s.postEvents))
	mux.HandleFunc("GET /api/responses", s.getResponses)
	mux.HandleFunc("GET /api/responses/{id}", s.getResponse)
	mux.HandleFunc("POST /api/responses/{id}/undo", s.need(auth.Operator, s.postUndo))
	mux.HandleFunc("POST /api/responses", s.need(auth.Operator, s.postRequest))
	mux.HandleFunc("GET /api/stream", s.stream)
	mux.HandleFunc("GET /api/hierarchy", s.getHierarchy)
	mux.HandleFunc("GET /api/probe", s.getProbe)
	return securityHeaders(s.guard(s.authenticate(mux)))
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	body := map[string]any{"status": "ok"}
	if s.o.Status != nil {
		for k, v := range s.o.Status() {
			body[k] = v
		}
	}
	var errs []error
	if s.o.Health != nil {
		errs = append(errs, s.o.Health())
	}
	if s.o.Board != nil {
		if cs := s.o.Board.Conditions(); len(cs) > 0 {
			body["conditions"] = cs
			errs = append(errs, s.o.Board.Err())
		}
	}
	code := http.StatusOK
	if err := errors.Join(errs...); err != nil {
		body["status"] = "unhealthy"
		body["error"] = strings.ReplaceAll(err.Error(), "\n", "; ")
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, body)
}

// retryAfterUnhealthy is the Retry-After of a submission refused because
// the process cannot store it.
const retryAfterUnhealthy = "5"

// refuseUnhealthy answers a submission 503 when a condition that blocks
// storage holds, and says whether it did.
func (s *Server) refuseUnhealthy(w http.ResponseWriter) bool {
	if s.o.Board == nil {
		return false
	}
	err := s.o.Board.InputErr()
	if err == nil {
		return false
	}
	w.Header().Set("Retry-After", retryAfterUnhealthy)
	writeJSON(w, http.StatusServiceUnavailable, submitAnswer{Error: "not accepting events while unhealthy (nothing was delivered): " + err.Error()})
	return true
}

// parseFilter reads the query parameters of the list endpoints; unknown
// parameters are errors, so a typo does not silently widen a query.
func (s *Server) parseFilter(r *http.Request, allowed ...string) (store.Filter, error) {
	var f store.Filter
	q := r.URL.Query()
	ok := map[string]bool{"since": true, "until": true, "limit": true}
	for _, a := range allowed {
		ok[a] = true
	}
	for k := range q {
		if !ok[k] {
			return f, fmt.Errorf("unknown parameter %q", k)
		}
	}
	f.Host, f.IP, f.Type = q.Get("host"), q.Get("ip"), q.Get("type")
	f.IDs = q["id"]
	if len(f.IDs) > store.MaxIDs {
		return f, fmt.Errorf("parameter \"id\": %d given, at most %d", len(f.IDs), store.MaxIDs)
	}
	f.Monitor, f.Engine, f.Model = q.Get("monitor"), q.Get("engine"), q.Get("model")
	var err error
	if f.Since, err = s.parseTime("since", q.Get("since")); err != nil {
		return f, err
	}
	if f.Until, err = s.parseTime("until", q.Get("until")); err != nil {
		return f, err
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxLimit {
			return f, fmt.Errorf("parameter \"limit\": want an integer from 1 to %d, got %q", store.MaxLimit, v)
		}
		f.Limit = n
	}
	if v := q.Get("severity"); v != "" {
		sev, err := event.ParseSeverity(v)
		if err != nil {
			return f, fmt.Errorf("parameter \"severity\": %w", err)
		}
		f.MinSeverity = &sev
	}
	return f, nil
}

// parseTime accepts RFC 3339 or a duration meaning "that long ago".
func (s *Server) parseTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return s.o.Clock.Now().Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("parameter %q: want an RFC 3339 time or a duration such as 15m, got %q", name, v)
}

func (s *Server) getEvents(w http.ResponseWriter, r *http.Request) {
	f, err := s.parseFilter(r, "host", "ip", "type", "id")
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	evs, err := s.o.Store.Events(r.Context(), f)
	writeList(w, s.o.Logger, "events", evs, err, (*event.Event).AppendJSON)
}

func (s *Server) getReports(w http.ResponseWriter, r *http.Request) {
	f, err := s.parseFilter(r, "host", "ip", "monitor", "engine", "model", "severity")
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	rs, err := s.o.Store.Reports(r.Context(), f)
	writeList(w, s.o.Logger, "reports", rs, err, (*event.Report).AppendJSON)
}

// getTracks answers with the newest report per subject and model, and the
// running engines' live tracks: the live track table (seed 000 Figure 7).
func (s *Server) getTracks(w http.ResponseWriter, r *http.Request) {
	f, err := s.parseFilter(r, "host", "ip", "monitor", "engine", "model", "severity")
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	rs, err := s.tracks(r.Context(), f)
	writeList(w, s.o.Logger, "tracks", rs, err, (*event.Report).AppendJSON)
}

// hostTypes is one row of the observation types by host table (seed 000
// Table 2).
type hostTypes struct {
	Host   string           `json:"host"`
	IP     string           `json:"ip"`
	Counts map[string]int64 `json:"counts"`
	Total  int64            `json:"total"`
}

// getTypeCounts answers with the events counted by subject and type.
func (s *Server) getTypeCounts(w http.ResponseWriter, r *http.Request) {
	f, err := s.parseFilter(r, "host", "ip", "type")
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	cs, err := s.o.Store.TypeCounts(r.Context(), f)
	if err != nil {
		s.o.Logger.Error("querying type counts", "err", err)
		writeError(w, http.StatusInternalServerError, errors.New("query failed"))
		return
	}
	rows := []hostTypes{}
	for _, c := range cs {
		if n := len(rows); n == 0 || rows[n-1].Host != c.Host || rows[n-1].IP != c.IP {
			rows = append(rows, hostTypes{Host: c.Host, IP: c.IP, Counts: map[string]int64{}})
		}
		row := &rows[len(rows)-1]
		row.Counts[c.Type] = c.Count
		row.Total += c.Count
	}
	writeJSON(w, http.StatusOK, rows)
}

// writeList answers a query with its records as a JSON array, or with the
// query's failure.
func writeList[T any](w http.ResponseWriter, log *slog.Logger, what string, items []T, err error, appendJSON func(*T, []byte) []byte) {
	if err != nil {
		log.Error("querying "+what, "err", err)
		writeError(w, http.StatusInternalServerError, errors.New("query failed"))
		return
	}
	b := make([]byte, 0, 320*len(items)+2)
	b = append(b, '[')
	for i := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSON(&items[i], b)
	}
	writeRaw(w, http.StatusOK, append(b, ']', '\n'))
}

// lineProblem is one rejected line of a submission.
type lineProblem struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// submitAnswer is the reply to POST /api/events.
type submitAnswer struct {
	Accepted int           `json:"accepted"`
	Rejected int           `json:"rejected"`
	Errors   []lineProblem `json:"errors,omitempty"`
	Error    string        `json:"error,omitempty"`
}

// postEvents takes JSON-lines events. The body is decoded as it arrives
// and published in batches of at most BatchEvents, so a submission holds
// one batch whatever its size; at most MaxUploads are read at once. Good
// lines are delivered even when others are bad; the answer lists the bad
// ones by line number, and its status is 200 only when every line was
// good.
func (s *Server) postEvents(w http.ResponseWriter, r *http.Request) {
	if s.o.Publish == nil {
		writeError(w, http.StatusServiceUnavailable, errors.New("this server does not accept events"))
		return
	}
	// Without logins (loopback, no accounts) submissions are not limited,
	// as before there were accounts.
	if p := principalOf(r); p == nil || p.Via != "local" {
		if ok, wait := s.submits.take(clientAddr(r), s.o.Clock.Now()); !ok {
			secs := int(math.Ceil(wait.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeError(w, http.StatusTooManyRequests, fmt.Errorf("more than %d submissions at once or %g a second from this address; retry in %d s (nothing was delivered)", s.o.EventsBurst, s.o.EventsRate, secs))
			return
		}
	}
	if err := checkSubmitType(r); err != nil {
		writeError(w, http.StatusUnsupportedMediaType, err)
		return
	}
	if s.refuseUnhealthy(w) {
		return
	}
	if r.ContentLength > s.o.MaxBody {
		writeJSON(w, http.StatusRequestEntityTooLarge, submitAnswer{Error: fmt.Sprintf("body of %d bytes is larger than the limit of %d bytes; nothing was delivered", r.ContentLength, s.o.MaxBody)})
		return
	}
	select {
	case s.uploads <- struct{}{}:
		defer func() { <-s.uploads }()
	default:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, fmt.Errorf("%d submissions are being read already, the most at once; retry shortly", cap(s.uploads)))
		return
	}
	// Each batch must arrive within uploadTimeout (network time, not
	// event time); the time the bus takes to store one is not counted.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(uploadTimeout))
	body := http.MaxBytesReader(w, r.Body, s.o.MaxBody)
	er := event.NewEventReader(body).Normalizing(s.o.IDs, s.o.Clock.Now, "api")
	var ans submitAnswer
	batch := make([]event.Event, 0, min(s.o.BatchEvents, 256))
	// flush publishes the batch; false means the answer has been written.
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		n, err := s.o.Publish(r.Context(), batch)
		ans.Accepted += n
		if err != nil {
			s.o.Logger.Error("delivering submitted events", "accepted", n, "of", len(batch), "err", err)
			ans.Error = fmt.Sprintf("the bus accepted %d of %d events: %v", ans.Accepted, ans.Accepted+len(batch)-n, err)
			w.Header().Set("Retry-After", retryAfterUnhealthy)
			writeJSON(w, http.StatusServiceUnavailable, ans)
			return false
		}
		clear(batch)
		batch = batch[:0]
		_ = rc.SetReadDeadline(time.Now().Add(uploadTimeout))
		return true
	}
	for {
		ev, err := er.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var le *event.LineError
		if errors.As(err, &le) {
			ans.Rejected++
			if len(ans.Errors) < maxErrorsListed {
				ans.Errors = append(ans.Errors, lineProblem{Line: le.Line, Error: le.Err.Error()})
			}
			continue
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			ans.Error = fmt.Sprintf("body larger than the limit of %d bytes; the %d events before line %d were delivered, the rest was not", s.o.MaxBody, ans.Accepted, er.Line()+1)
			writeJSON(w, http.StatusRequestEntityTooLarge, ans)
			return
		}
		if err != nil {
			ans.Error = fmt.Sprintf("reading the body after line %d: %v (%d events before it were delivered)", er.Line(), err, ans.Accepted)
			writeJSON(w, http.StatusBadRequest, ans)
			return
		}
		batch = append(batch, ev)
		if len(batch) >= s.o.BatchEvents && !flush() {
			return
		}
	}
	if !flush() {
		return
	}
	code := http.StatusOK
	if ans.Rejected > 0 {
		code = http.StatusBadRequest
	}
	writeJSON(w, code, ans)
}

// stream sends accepted events and reports as server-sent events until the
// client goes away or the server shuts down.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, errors.New("streaming unsupported"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, ": vigil live stream\nretry: 2000\n\n")
	fl.Flush()
	c := s.o.Hub.subscribe()
	defer s.o.Hub.unsubscribe(c)
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case msg := <-c.ch:
			if _, err := w.Write(msg); err != nil {
				return
			}
			// Send what else is waiting in one flush.
			for n := len(c.ch); n > 0; n-- {
				if _, err := w.Write(<-c.ch); err != nil {
					return
				}
			}
			fl.Flush()
		case <-keepalive.C:
			if _, err := io.WriteString(w, ": keepalive\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encoding failed"}`)
	}
	writeRaw(w, code, append(b, '\n'))
}

func writeRaw(w http.ResponseWriter, code int, b []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

// CheckListen refuses a listen address reachable from other machines
// when nothing could authenticate its requests: no accounts and no client
// certificates. Its error says what to create.
func CheckListen(listen string, accounts *auth.Accounts, clientCerts bool) error {
	if listen == "" || IsLoopback(listen) || clientCerts {
		return nil
	}
	if accounts == nil {
		return fmt.Errorf("--listen %s is reachable from other machines, so every request needs a login, and this server has no accounts", listen)
	}
	n, err := accounts.Count()
	if err != nil {
		return fmt.Errorf("--listen %s: %w", listen, err)
	}
	if n == 0 {
		dir := filepath.Dir(accounts.Path())
		return fmt.Errorf("--listen %s is reachable from other machines, so every request needs a login, and %s holds no accounts: create one with `vigil users add NAME --role admin --data %s` (or listen on 127.0.0.1)", listen, accounts.Path(), dir)
	}
	return nil
}

// IsLoopback reports whether a listen address only accepts connections
// from this machine.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
