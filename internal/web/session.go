package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-ids/vigil/internal/auth"
	"github.com/vigil-ids/vigil/internal/store"
)

// Authentication (docs/SECURITY.md, "Dashboard and API authentication").
//
// On a loopback address with no accounts, every request is served as
// today, as an admin: only this machine's users reach it. Otherwise every
// request but /healthz, the login page and POST /api/login needs a
// principal: a session (POST /api/login with a password of the accounts
// file), or what Options.Peer says of the connection (a verified client
// certificate). A session is a random 32-byte cookie (HttpOnly,
// SameSite=Strict, Secure over TLS) held in memory, ending after an idle
// time or a lifetime, or when its account is removed; its role is read
// from the accounts file at each request. A session's state-changing
// request must carry its CSRF token in X-CSRF-Token.

// Defaults of the session and login limits.
const (
	DefaultSessionIdle     = time.Hour
	DefaultSessionLifetime = 12 * time.Hour
	// DefaultLoginFailures failures of an address, or of a user name,
	// within DefaultLoginWindow refuse its next logins with 429 until
	// the oldest leaves the window.
	DefaultLoginFailures = 5
	DefaultLoginWindow   = time.Minute
	// maxSessions bounds the sessions held; the longest idle goes first.
	maxSessions = 10000
	// maxLimiterKeys bounds the addresses and names whose failures are
	// counted.
	maxLimiterKeys = 16384
	// maxHashing bounds the password checks run at once (each takes the
	// hash's memory, 64 MiB by default).
	maxHashing = 2
	// maxLoginBody bounds a login request.
	maxLoginBody = 4 << 10
)

// SessionCookie is the session cookie's name.
const SessionCookie = "vigil_session"

// CSRFHeader carries a session's CSRF token.
const CSRFHeader = "X-CSRF-Token"

// Principal is who makes a request.
type Principal struct {
	// User is the account's name ("" when no login is needed).
	User string
	Role auth.Role
	// Via says how: "session", "certificate" or "local" (loopback without
	// accounts).
	Via  string
	sess *session
}

// describe names the principal in a decision's "who".
func (p *Principal) describe(r *http.Request) string {
	if p == nil || p.User == "" {
		return "the HTTP API (" + r.RemoteAddr + ")"
	}
	return fmt.Sprintf("%s (%s) through the HTTP API (%s)", p.User, p.Role, r.RemoteAddr)
}

type principalKey struct{}

// principalOf is the request's principal, nil when there is none.
func principalOf(r *http.Request) *Principal {
	p, _ := r.Context().Value(principalKey{}).(*Principal)
	return p
}

type session struct {
	user string
	// hash is the account's password hash at login: a new password (or
	// the account removed and made again) ends the session.
	hash    string
	csrf    string
	created time.Time
	seen    time.Time
}

// sessions holds the server's sessions and login failures.
type sessions struct {
	mu    sync.Mutex
	byKey map[[32]byte]*session
	fails map[string][]time.Time
	hash  chan struct{}
}

func newSessions() *sessions {
	return &sessions{byKey: map[[32]byte]*session{}, fails: map[string][]time.Time{}, hash: make(chan struct{}, maxHashing)}
}

// sessionKey is the map key of a cookie value: its SHA-256, so that the
// lookup's timing says nothing of the secret.
func sessionKey(cookie string) [32]byte { return sha256.Sum256([]byte(cookie)) }

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// authRequired says whether requests need a principal: off loopback
// always; on loopback once there are accounts (or the file is bad: fail
// closed).
func (s *Server) authRequired() bool {
	if !s.loopback || s.o.Peer != nil {
		return true
	}
	if s.o.Accounts == nil {
		return false
	}
	n, err := s.o.Accounts.Count()
	if err != nil {
		s.o.Logger.Error("accounts unreadable: every request needs a login, and none can succeed", "err", err)
		return true
	}
	return n > 0
}

// identify finds the request's principal; nil when it has none.
func (s *Server) identify(r *http.Request) *Principal {
	if s.o.Peer != nil {
		if user, role, ok := s.o.Peer(r); ok && role.Allows(auth.Viewer) {
			return &Principal{User: user, Role: role, Via: "certificate"}
		}
	}
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" && s.o.Accounts != nil {
		if p := s.sessionPrincipal(c.Value); p != nil {
			return p
		}
	}
	if !s.authRequired() {
		return &Principal{Role: auth.Admin, Via: "local"}
	}
	return nil
}

// sessionPrincipal looks the cookie's session up, ending it when it has
// expired, or its account is gone or has a new password.
func (s *Server) sessionPrincipal(cookie string) *Principal {
	k := sessionKey(cookie)
	now := s.o.Clock.Now()
	ss := s.sess
	ss.mu.Lock()
	se := ss.byKey[k]
	if se != nil && (now.Sub(se.seen) > s.o.SessionIdle || now.Sub(se.created) > s.o.SessionLifetime) {
		delete(ss.byKey, k)
		se = nil
	}
	var user, hash string
	if se != nil {
		se.seen = now
		user, hash = se.user, se.hash
	}
	ss.mu.Unlock()
	if se == nil {
		return nil
	}
	u, ok, err := s.o.Accounts.Lookup(user)
	if err != nil || !ok || u.Hash != hash {
		ss.mu.Lock()
		delete(ss.byKey, k)
		ss.mu.Unlock()
		return nil
	}
	return &Principal{User: u.Name, Role: u.Role, Via: "session", sess: se}
}

// newSession starts a session for user and returns its cookie value and
// CSRF token.
func (s *Server) newSession(u auth.User) (string, *session, error) {
	tok, err := randomToken()
	if err != nil {
		return "", nil, err
	}
	csrf, err := randomToken()
	if err != nil {
		return "", nil, err
	}
	now := s.o.Clock.Now()
	se := &session{user: u.Name, hash: u.Hash, csrf: csrf, created: now, seen: now}
	ss := s.sess
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.byKey) >= maxSessions {
		var oldest [32]byte
		var oldestSeen time.Time
		for k, v := range ss.byKey {
			if now.Sub(v.seen) > s.o.SessionIdle || now.Sub(v.created) > s.o.SessionLifetime {
				delete(ss.byKey, k)
				continue
			}
			if oldestSeen.IsZero() || v.seen.Before(oldestSeen) {
				oldest, oldestSeen = k, v.seen
			}
		}
		if len(ss.byKey) >= maxSessions {
			delete(ss.byKey, oldest)
		}
	}
	ss.byKey[sessionKey(tok)] = se
	return tok, se, nil
}

func (s *Server) endSession(cookie string) {
	s.sess.mu.Lock()
	delete(s.sess.byKey, sessionKey(cookie))
	s.sess.mu.Unlock()
}

// retryAfter says how long key's logins are refused: zero when it has had
// fewer than LoginFailures failures within LoginWindow.
func (s *Server) retryAfter(key string, now time.Time) time.Duration {
	ss := s.sess
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ts := recent(ss.fails[key], now, s.o.LoginWindow)
	if len(ts) == 0 {
		delete(ss.fails, key)
		return 0
	}
	ss.fails[key] = ts
	if len(ts) < s.o.LoginFailures {
		return 0
	}
	return ts[len(ts)-s.o.LoginFailures].Add(s.o.LoginWindow).Sub(now)
}

// failed counts a failed login against key.
func (s *Server) failed(key string, now time.Time) {
	ss := s.sess
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if _, ok := ss.fails[key]; !ok && len(ss.fails) >= maxLimiterKeys {
		for k, ts := range ss.fails {
			if len(recent(ts, now, s.o.LoginWindow)) == 0 {
				delete(ss.fails, k)
			}
		}
		for k := range ss.fails {
			if len(ss.fails) < maxLimiterKeys {
				break
			}
			delete(ss.fails, k)
		}
	}
	ts := append(recent(ss.fails[key], now, s.o.LoginWindow), now)
	if len(ts) > s.o.LoginFailures {
		ts = ts[len(ts)-s.o.LoginFailures:]
	}
	ss.fails[key] = ts
}

// recent drops the times older than window before now.
func recent(ts []time.Time, now time.Time, window time.Duration) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= window {
		i++
	}
	return ts[i:]
}

// clientAddr is the request's address without its port.
func clientAddr(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// loginRequest is POST /api/login's body.
type loginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// decodeLogin reads a login request: one JSON object with user and
// password, no other field, within maxLoginBody.
func decodeLogin(body io.Reader) (loginRequest, error) {
	var req loginRequest
	dec := json.NewDecoder(io.LimitReader(body, maxLoginBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("login request: want {\"user\": ..., \"password\": ...}: %w", err)
	}
	if dec.InputOffset() > maxLoginBody {
		return req, fmt.Errorf("login request larger than %d bytes", maxLoginBody)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return req, errors.New("login request: data after the JSON object")
	}
	if req.User == "" || req.Password == "" {
		return req, errors.New("login request: user and password are required")
	}
	if len(req.Password) > auth.MaxPassword {
		return req, fmt.Errorf("login request: password longer than %d bytes", auth.MaxPassword)
	}
	if err := auth.ValidName(req.User); err != nil {
		return req, fmt.Errorf("login request: %w", err)
	}
	return req, nil
}

// sessionAnswer is the answer of POST /api/login and GET /api/session.
type sessionAnswer struct {
	User string    `json:"user"`
	Role auth.Role `json:"role"`
	// Auth says whether this server needs a login.
	Auth      bool       `json:"auth"`
	CSRFToken string     `json:"csrf_token,omitempty"`
	Expires   *time.Time `json:"expires,omitempty"`
}

// postLogin checks a user's password and starts a session.
func (s *Server) postLogin(w http.ResponseWriter, r *http.Request) {
	switch {
	case s.o.Accounts == nil:
		writeError(w, http.StatusBadRequest, errors.New("this server has no accounts to log in with"))
		return
	case !s.authRequired():
		writeError(w, http.StatusBadRequest, errors.New("this server needs no login (loopback address, no accounts)"))
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, errors.New("login: send Content-Type: application/json"))
		return
	}
	req, err := decodeLogin(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	now := s.o.Clock.Now()
	addr := clientAddr(r)
	addrKey, userKey := "addr "+addr, "user "+req.User
	if d := max(s.retryAfter(addrKey, now), s.retryAfter(userKey, now)); d > 0 {
		secs := int((d + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		// Not recorded in the audit log: refusals cost nothing, and a flood
		// of them would fill it. The failures that led here are there.
		s.o.Logger.Warn("http: login refused while the failed-login limit holds", "user", req.User, "remote", r.RemoteAddr, "retry_after_s", secs)
		writeError(w, http.StatusTooManyRequests, fmt.Errorf("too many failed logins from this address or for this user; retry in %d s", secs))
		return
	}
	select {
	case s.sess.hash <- struct{}{}:
	case <-r.Context().Done():
		return
	}
	u, err := s.o.Accounts.Authenticate(req.User, []byte(req.Password))
	<-s.sess.hash
	if err != nil {
		s.failed(addrKey, now)
		s.failed(userKey, now)
		s.audit(r, &Principal{User: req.User}, "login_failed", "", false, err.Error())
		if !errors.Is(err, auth.ErrBadCredentials) {
			s.o.Logger.Error("login", "user", req.User, "err", err)
			writeError(w, http.StatusInternalServerError, errors.New("the accounts file cannot be read; see the server's log"))
			return
		}
		writeError(w, http.StatusUnauthorized, err)
		return
	}
	tok, se, err := s.newSession(u)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: tok, Path: "/", MaxAge: int(s.o.SessionLifetime / time.Second),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	p := &Principal{User: u.Name, Role: u.Role, Via: "session"}
	s.audit(r, p, "login", "", true, "")
	exp := se.created.Add(s.o.SessionLifetime)
	writeJSON(w, http.StatusOK, sessionAnswer{User: u.Name, Role: u.Role, Auth: true, CSRFToken: se.csrf, Expires: &exp})
}

// postLogout ends the request's session.
func (s *Server) postLogout(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if c, err := r.Cookie(SessionCookie); err == nil && p != nil && p.sess != nil {
		s.endSession(c.Value)
		s.audit(r, p, "logout", "", true, "")
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, map[string]bool{"logged_out": true})
}

// getSession says who the request's principal is, with the session's
// CSRF token (the page reads it after a reload).
func (s *Server) getSession(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	ans := sessionAnswer{User: p.User, Role: p.Role, Auth: p.Via != "local"}
	if p.sess != nil {
		ans.CSRFToken = p.sess.csrf
		exp := p.sess.created.Add(s.o.SessionLifetime)
		ans.Expires = &exp
	}
	writeJSON(w, http.StatusOK, ans)
}

// publicPaths are served without a principal.
var publicPaths = map[string]bool{
	"GET /healthz": true, "GET /login.html": true, "GET /login.js": true, "GET /style.css": true,
	"HEAD /healthz": true, "HEAD /login.html": true, "HEAD /login.js": true, "HEAD /style.css": true,
	"POST /api/login": true,
}

// changesState says whether a request's method may change state.
func changesState(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// authenticate finds each request's principal, refuses requests without
// one (401, or the login page for a page), and a session's state-changing
// requests without its CSRF token (403).
func (s *Server) authenticate(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.auditAccountChanges(r)
		p := s.identify(r)
		if p == nil {
			if publicPaths[r.Method+" "+r.URL.Path] {
				h.ServeHTTP(w, r)
				return
			}
			if (r.Method == http.MethodGet || r.Method == http.MethodHead) && !strings.HasPrefix(r.URL.Path, "/api/") && r.URL.Path != "/metrics" {
				http.Redirect(w, r, "/login.html", http.StatusSeeOther)
				return
			}
			w.Header().Set("WWW-Authenticate", `Session realm="vigil", login="/api/login"`)
			writeError(w, http.StatusUnauthorized, errors.New("login required: POST /api/login with your user and password"))
			return
		}
		if p.sess != nil && changesState(r) && r.URL.Path != "/api/login" {
			got := r.Header.Get(CSRFHeader)
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(p.sess.csrf)) != 1 {
				s.o.Logger.Warn("http: request without its session's CSRF token refused", "method", r.Method, "path", r.URL.Path, "user", p.User, "remote", r.RemoteAddr)
				writeError(w, http.StatusForbidden, fmt.Errorf("CSRF token missing or wrong: send the %s header given at login (GET /api/session)", CSRFHeader))
				return
			}
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// need wraps a handler that only a role allowing role may use (403 for
// the others).
func (s *Server) need(role auth.Role, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := principalOf(r)
		if p == nil {
			w.Header().Set("WWW-Authenticate", `Session realm="vigil", login="/api/login"`)
			writeError(w, http.StatusUnauthorized, errors.New("login required: POST /api/login with your user and password"))
			return
		}
		if !p.Role.Allows(role) {
			s.audit(r, p, "forbidden", r.Method+" "+r.URL.Path, false, "role "+string(p.Role)+" may not")
			writeError(w, http.StatusForbidden, fmt.Errorf("%s may not %s %s: it needs the %s role", p.Role, r.Method, r.URL.Path, role))
			return
		}
		h(w, r)
	}
}

// audit records an action in the store (and the log when it cannot).
func (s *Server) audit(r *http.Request, p *Principal, action, target string, ok bool, detail string) {
	a := store.Audit{Time: s.o.Clock.Now(), Action: action, Target: target, Remote: r.RemoteAddr, OK: ok, Detail: detail}
	if p != nil {
		a.Actor, a.Role = p.User, string(p.Role)
		if p.Via == "local" {
			a.Actor = "(local, no login)"
		}
	}
	if s.o.Store == nil {
		return
	}
	if err := s.o.Store.PutAudit(context.WithoutCancel(r.Context()), a); err != nil {
		s.o.Logger.Error("audit: recording an action failed", "action", action, "actor", a.Actor, "err", err)
	}
}

// auditAccountChanges records the changes of the accounts file seen since
// the last request (made with `vigil users`).
func (s *Server) auditAccountChanges(r *http.Request) {
	if s.o.Accounts == nil {
		return
	}
	for _, c := range s.o.Accounts.TakeChanges() {
		detail := ""
		switch {
		case c.From != "" && c.To != "" && c.From != c.To:
			detail = fmt.Sprintf("role %s -> %s", c.From, c.To)
		case c.To != "":
			detail = "role " + string(c.To)
		case c.From != "":
			detail = "role was " + string(c.From)
		}
		a := store.Audit{Time: s.o.Clock.Now(), Actor: "(accounts file)", Action: c.What, Target: c.Name, Remote: "local", OK: true,
			Detail: detail + " (" + s.o.Accounts.Path() + ")"}
		if s.o.Store == nil {
			continue
		}
		if err := s.o.Store.PutAudit(context.WithoutCancel(r.Context()), a); err != nil {
			s.o.Logger.Error("audit: recording an account change failed", "change", c.What, "user", c.Name, "err", err)
		}
	}
}
