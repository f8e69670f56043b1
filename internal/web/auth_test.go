package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/auth"
	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/store"
)

// cheapHash keeps the tests fast; the checks are those of real hashes.
var cheapHash = auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// accounts makes an accounts file in dir with a viewer, an operator and
// an admin, each's password being its name followed by "-password".
func accounts(t *testing.T, dir string) *auth.Accounts {
	t.Helper()
	a := auth.Open(dir)
	a.Params = cheapHash
	for name, role := range map[string]auth.Role{"vera": auth.Viewer, "otto": auth.Operator, "ada": auth.Admin} {
		if err := a.Add(name, role, []byte(name+"-password"), t0, false); err != nil {
			t.Fatal(err)
		}
	}
	a.TakeChanges() // made before the server starts, as `vigil users` would
	return a
}

type authFixture struct {
	url   string
	st    *store.Store
	clk   *clock.Manual
	acc   *auth.Accounts
	srv   *Server
	undoI string // a decision in force
}

// authServer serves a decision unit's API, with accounts, on a real
// socket until the test ends.
func authServer(t *testing.T, listen string) *authFixture {
	t.Helper()
	st, unit, _, d := decided(t, "bad")
	f := &authFixture{st: st, clk: clock.NewManual(t0), acc: accounts(t, t.TempDir()), undoI: d.ID}
	srv, err := New(Options{Listen: listen, Store: st, Clock: f.clk, Logger: slog.New(slog.DiscardHandler),
		Responder: unit, UndoStatus: undoStatus, Accounts: f.acc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	f.srv = srv
	_, port, _ := strings.Cut(srv.Addr().String(), "]:")
	if port == "" {
		port = srv.Addr().String()[strings.LastIndex(srv.Addr().String(), ":")+1:]
	}
	f.url = "http://127.0.0.1:" + port
	return f
}

// browserish is a client with a cookie jar and the CSRF token its login
// returned.
type browserish struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func (f *authFixture) client(t *testing.T) *browserish {
	jar, _ := cookiejar.New(nil)
	return &browserish{t: t, base: f.url, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browserish) do(method, path, body string, hdr ...string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

// login logs in as user and keeps the CSRF token.
func (b *browserish) login(user, password string) *http.Response {
	b.t.Helper()
	body, _ := json.Marshal(loginRequest{User: user, Password: password})
	resp, out := b.do(http.MethodPost, "/api/login", string(body))
	if resp.StatusCode == http.StatusOK {
		var ans sessionAnswer
		if err := json.Unmarshal([]byte(out), &ans); err != nil || ans.CSRFToken == "" || ans.User != user {
			b.t.Fatalf("login answer %s (%v)", out, err)
		}
		b.csrf = ans.CSRFToken
	}
	return resp
}

// post sends a state-changing request with the session's CSRF token.
func (b *browserish) post(path, body string) (*http.Response, string) {
	b.t.Helper()
	return b.do(http.MethodPost, path, body, CSRFHeader, b.csrf)
}

func TestNoSessionIsRefused401(t *testing.T) {
	f := authServer(t, "127.0.0.1:0")
	b := f.client(t)
	for _, path := range []string{"/api/events", "/api/reports", "/api/responses", "/api/stream", "/api/audit", "/api/session", "/metrics"} {
		resp, body := b.do(http.MethodGet, path, "")
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "login required") || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("GET %s without a session: %d %s", path, resp.StatusCode, body)
		}
	}
	if resp, _ := b.do(http.MethodPost, "/api/responses/"+f.undoI+"/undo", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("undo without a session: %d", resp.StatusCode)
	}
	if resp, _ := b.do(http.MethodGet, "/", ""); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login.html" {
		t.Errorf("the page without a session: %d to %q, want 303 to the login page", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, path := range []string{"/healthz", "/login.html", "/login.js", "/style.css"} {
		if resp, body := b.do(http.MethodGet, path, ""); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s without a session: %d %s, want it served", path, resp.StatusCode, body)
		}
	}
	// A forged cookie is no session.
	b.c.Jar.SetCookies(mustURL(t, f.url), []*http.Cookie{{Name: SessionCookie, Value: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}})
	if resp, _ := b.do(http.MethodGet, "/api/events", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged cookie: %d", resp.StatusCode)
	}
}

func TestLoginStartsASessionAndLogoutEndsIt(t *testing.T) {
	f := authServer(t, "127.0.0.1:0")
	b := f.client(t)
	if resp := b.login("vera", "wrong-password"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	if resp := b.login("nobody", "vera-password"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unknown user: %d", resp.StatusCode)
	}
	resp := b.login("vera", "vera-password")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	var c *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == SessionCookie {
			c = k
		}
	}
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.MaxAge <= 0 || len(c.Value) < 43 {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/, an expiry and 32 random bytes", c)
	}
	if c.Secure {
		t.Error("cookie marked Secure over plain HTTP (the browser would drop it)")
	}
	if resp, body := b.do(http.MethodGet, "/api/events", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("events with a session: %d %s", resp.StatusCode, body)
	}
	resp, body := b.do(http.MethodGet, "/api/session", "")
	var ans sessionAnswer
	if err := json.Unmarshal([]byte(body), &ans); err != nil || resp.StatusCode != 200 || ans.User != "vera" || ans.Role != auth.Viewer || !ans.Auth || ans.CSRFToken != b.csrf {
		t.Fatalf("session: %d %s", resp.StatusCode, body)
	}
	if resp, _ := b.post("/api/logout", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	// The cookie's value no longer opens a session, even if kept.
	b.c.Jar.SetCookies(mustURL(t, f.url), []*http.Cookie{{Name: SessionCookie, Value: c.Value}})
	if resp, _ := b.do(http.MethodGet, "/api/events", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after logout: %d", resp.StatusCode)
	}
}

func TestSessionEndsWhenIdleAccountRemovedOrPasswordChanged(t *testing.T) {
	f := authServer(t, "127.0.0.1:0")
	b := f.client(t)
	b.login("vera", "vera-password")
	f.clk.Advance(DefaultSessionIdle - time.Minute)
	if resp, _ := b.do(http.MethodGet, "/api/events", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("before the idle time: %d", resp.StatusCode)
	}
	f.clk.Advance(DefaultSessionIdle + time.Second)
	if resp, _ := b.do(http.MethodGet, "/api/events", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("idle past the limit: %d", resp.StatusCode)
	}
	o := f.client(t)
	o.login("otto", "otto-password")
	if err := f.acc.Remove("otto"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := o.do(http.MethodGet, "/api/events", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after the account's removal: %d", resp.StatusCode)
	}
	// A new password ends the sessions opened with the old one.
	a := f.client(t)
	a.login("ada", "ada-password")
	if err := f.acc.Add("ada", auth.Admin, []byte("ada-new-password"), t0, true); err != nil {
		t.Fatal(err)
	}
	if resp, _ := a.do(http.MethodGet, "/api/events", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after a new password: %d", resp.StatusCode)
	}
}

func TestViewerCannotUndoAResponse(t *testing.T) {
	f := authServer(t, "127.0.0.1:0")
	v := f.client(t)
	v.login("vera", "vera-password")
	resp, body := v.post("/api/responses/"+f.undoI+"/undo", "")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "operator") {
		t.Fatalf("viewer's undo: %d %s, want 403 naming the role needed", resp.StatusCode, body)
	}
	if resp, _ := v.post("/api/responses", `{"method":"mark","subject":{"host":"x"}}`); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer's request: %d", resp.StatusCode)
	}
	if resp, _ := v.do(http.MethodGet, "/api/audit", ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer reading the audit log: %d", resp.StatusCode)
	}
	row, _ := f.st.GetResponse(context.Background(), f.undoI)
	if row.Status != store.StatusDone {
		t.Fatalf("decision %s after the viewer's undo", row.Status)
	}
	o := f.client(t)
	o.login("otto", "otto-password")
	if resp, body := o.post("/api/responses/"+f.undoI+"/undo", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("operator's undo: %d %s", resp.StatusCode, body)
	}
	if resp, _ := o.do(http.MethodGet, "/api/audit", ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("operator reading the audit log: %d", resp.StatusCode)
	}
	row, _ = f.st.GetResponse(context.Background(), f.undoI)
	if row.Status != store.StatusUndone {
		t.Errorf("decision %s after the operator's undo", row.Status)
	}
}

func TestStateChangeWithoutCSRFTokenIsRefused(t *testing.T) {
	f := authServer(t, "127.0.0.1:0")
	o := f.client(t)
	o.login("otto", "otto-password")
	path := "/api/responses/" + f.undoI + "/undo"
	for _, c := range []struct {
		name string
		hdr  []string
	}{
		{"no token", nil},
		{"a wrong token", []string{CSRFHeader, strings.Repeat("A", len(o.csrf))}},
		{"another origin, no token", []string{"Origin", "https://evil.example"}},
		{"another origin with the token", []string{CSRFHeader, o.csrf, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}},
	} {
		if resp, body := o.do(http.MethodPost, path, "", c.hdr...); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d %s, want 403", c.name, resp.StatusCode, body)
		}
	}
	if resp, _ := o.do(http.MethodPost, "/api/logout", ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout without the token: %d", resp.StatusCode)
	}
	row, _ := f.st.GetResponse(context.Background(), f.undoI)
	if row.Status != store.StatusDone {
		t.Fatalf("decision %s after refused requests", row.Status)
	}
	if resp, body := o.post(path, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("with the token: %d %s", resp.StatusCode, body)
	}
}

func TestLoginRateLimitHolds(t *testing.T) {
	f := authServer(t, "127.0.0.1:0")
	b := f.client(t)
	for i := range DefaultLoginFailures {
		if resp := b.login("ada", "guess-number-"+string(rune('a'+i))); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, resp.StatusCode)
		}
		f.clk.Advance(time.Second)
	}
	// The right password is refused too while the limit holds, without
	// being checked.
	resp := b.login("ada", "ada-password")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "55" {
		t.Fatalf("after %d failures: %d, Retry-After %q; want 429 after 55 s (the first failure a minute old)", DefaultLoginFailures, resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Another user from the same address is refused as well.
	if resp := b.login("vera", "vera-password"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("another user from the address: %d", resp.StatusCode)
	}
	f.clk.Advance(54 * time.Second)
	if resp := b.login("ada", "ada-password"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a second early: %d", resp.StatusCode)
	}
	f.clk.Advance(time.Second)
	if resp := b.login("ada", "ada-password"); resp.StatusCode != http.StatusOK {
		t.Errorf("once the oldest failure is a minute old: %d", resp.StatusCode)
	}
}

// TestLoginRateLimitPerUser fails one user's logins from many addresses:
// the user's own limit holds for every address.
func TestLoginRateLimitPerUser(t *testing.T) {
	acc := accounts(t, t.TempDir())
	s, err := New(Options{Listen: "127.0.0.1:0", Clock: clock.NewManual(t0), Logger: slog.New(slog.DiscardHandler), Accounts: acc})
	if err != nil {
		t.Fatal(err)
	}
	s.ln.Close()
	h := s.Handler()
	login := func(addr, user, pw string) *httptest.ResponseRecorder {
		body, _ := json.Marshal(loginRequest{User: user, Password: pw})
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/api/login", strings.NewReader(string(body)))
		r.RemoteAddr = addr + ":40000"
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i := range DefaultLoginFailures {
		if w := login("10.0.0."+string(rune('1'+i)), "ada", "wrong-password"); w.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, w.Code)
		}
	}
	if w := login("10.0.9.9", "ada", "ada-password"); w.Code != http.StatusTooManyRequests {
		t.Errorf("ada from a new address: %d", w.Code)
	}
	if w := login("10.0.9.9", "vera", "vera-password"); w.Code != http.StatusOK {
		t.Errorf("vera from a new address: %d", w.Code)
	}
}

// TestForwardedHeadersAreIgnored: a client that names other addresses in
// X-Forwarded-For, X-Real-IP or Forwarded is still counted, limited and
// audited by the address it connects from (no trusted proxy is
// configurable: the headers are never read).
func TestForwardedHeadersAreIgnored(t *testing.T) {
	acc := accounts(t, t.TempDir())
	s, err := New(Options{Listen: "127.0.0.1:0", Clock: clock.NewManual(t0), Logger: slog.New(slog.DiscardHandler), Accounts: acc})
	if err != nil {
		t.Fatal(err)
	}
	s.ln.Close()
	h := s.Handler()
	for i := 0; i <= DefaultLoginFailures; i++ {
		body, _ := json.Marshal(loginRequest{User: "user-" + string(rune('a'+i)), Password: "wrong-password"})
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/api/login", strings.NewReader(string(body)))
		r.RemoteAddr = "10.0.0.7:40000"
		r.Header.Set("Content-Type", "application/json")
		spoof := "198.51.100." + string(rune('1'+i))
		r.Header.Set("X-Forwarded-For", spoof)
		r.Header.Set("X-Real-IP", spoof)
		r.Header.Set("Forwarded", "for="+spoof)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		want := http.StatusUnauthorized
		if i == DefaultLoginFailures {
			want = http.StatusTooManyRequests // the connecting address's limit
		}
		if w.Code != want {
			t.Fatalf("login %d claiming %s: %d, want %d", i+1, spoof, w.Code, want)
		}
	}
}

func TestLoginAndActionsAreAudited(t *testing.T) {
	f := authServer(t, "127.0.0.1:0")
	b := f.client(t)
	b.login("otto", "not-his-password")
	b.login("otto", "otto-password")
	b.post("/api/responses/"+f.undoI+"/undo", "")
	b.post("/api/logout", "")
	// An account added with `vigil users` while the server runs.
	other := auth.Open(filepath.Dir(f.acc.Path()))
	other.Params = cheapHash
	if err := other.Add("nina", auth.Viewer, []byte("nina-password"), t0, false); err != nil {
		t.Fatal(err)
	}
	a := f.client(t)
	a.login("ada", "ada-password")
	resp, body := a.do(http.MethodGet, "/api/audit?limit=100", "")
	var log []auditJSON
	if err := json.Unmarshal([]byte(body), &log); err != nil || resp.StatusCode != 200 {
		t.Fatalf("audit: %d %s", resp.StatusCode, body)
	}
	var got []string
	for _, e := range log {
		got = append(got, e.Actor+" "+e.Action+" "+e.Target)
	}
	want := []string{"ada login ", "(accounts file) user_added nina", "otto logout ", "otto undo " + f.undoI, "otto login ", "otto login_failed "}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("audit log\n got %q\nwant %q", got, want)
	}
	if len(log) == 6 && (log[5].OK || !log[3].OK || log[3].Role != "operator" || !strings.HasPrefix(log[3].Remote, "127.0.0.1:") || !strings.HasPrefix(log[1].Detail, "role viewer")) {
		t.Errorf("records %+v", log)
	}
}

func TestOffLoopbackNeedsAccounts(t *testing.T) {
	dir := t.TempDir()
	_, err := New(Options{Listen: "0.0.0.0:0", Logger: slog.New(slog.DiscardHandler), Accounts: auth.Open(dir)})
	if err == nil || !strings.Contains(err.Error(), "vigil users add NAME --role admin --data "+dir) {
		t.Fatalf("off loopback without accounts: %v, want a refusal saying what to create", err)
	}
	if err := CheckListen("127.0.0.1:8080", auth.Open(dir), false); err != nil {
		t.Errorf("loopback without accounts: %v", err)
	}
	if err := CheckListen("0.0.0.0:8080", auth.Open(dir), true); err != nil {
		t.Errorf("client certificates configured: %v", err)
	}
	// With an account, it starts, and every request needs a login.
	f := authServer(t, "0.0.0.0:0")
	b := f.client(t)
	if resp, _ := b.do(http.MethodGet, "/api/events", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("off loopback without a session: %d", resp.StatusCode)
	}
	b.login("vera", "vera-password")
	if resp, _ := b.do(http.MethodGet, "/api/events", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("off loopback with a session: %d", resp.StatusCode)
	}
}

// TestLoopbackWithoutAccountsNeedsNoLogin keeps `vigil up` as it was: no
// accounts on a loopback address means no login.
func TestLoopbackWithoutAccountsNeedsNoLogin(t *testing.T) {
	s, err := New(Options{Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler), Accounts: auth.Open(t.TempDir())})
	if err != nil {
		t.Fatal(err)
	}
	s.ln.Close()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/session")
	if err != nil {
		t.Fatal(err)
	}
	var ans sessionAnswer
	json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	if resp.StatusCode != 200 || ans.Auth || ans.Role != auth.Admin {
		t.Errorf("session on loopback without accounts: %d %+v", resp.StatusCode, ans)
	}
}

func TestAccountsFileReadableByOthersLocksEveryoneOut(t *testing.T) {
	f := authServer(t, "127.0.0.1:0")
	if err := os.Chmod(f.acc.Path(), 0o644); err != nil {
		t.Fatal(err)
	}
	b := f.client(t)
	if resp := b.login("ada", "ada-password"); resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("login with a world-readable accounts file: %d", resp.StatusCode)
	}
	if resp, _ := b.do(http.MethodGet, "/api/events", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a request with a world-readable accounts file: %d", resp.StatusCode)
	}
}

func FuzzDecodeLogin(f *testing.F) {
	f.Add(`{"user":"ada","password":"ada-password"}`)
	f.Add(`{"user":"ada","password":"x","extra":1}`)
	f.Add(`{"user":"<script>","password":"p"}`)
	f.Add(`{"user":"ada","password":"p"} {}`)
	f.Fuzz(func(t *testing.T, body string) {
		req, err := decodeLogin(strings.NewReader(body))
		if err != nil {
			return
		}
		if auth.ValidName(req.User) != nil || req.Password == "" || len(req.Password) > auth.MaxPassword || len(body) > maxLoginBody+64 {
			t.Fatalf("accepted %q as %+v", body, req)
		}
	})
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestSecurityHeadersOnEveryResponse checks the policy on the page, the
// login page, a 401, a 403 and an API answer: scripts from this server
// only, no inline script, no framing.
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	f := authServer(t, "127.0.0.1:0")
	v := f.client(t)
	check := func(what string, resp *http.Response) {
		t.Helper()
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: Content-Security-Policy %q lacks %q", what, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: Content-Security-Policy %q allows inline script", what, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", what, resp.Header)
		}
	}
	resp, _ := v.do(http.MethodGet, "/login.html", "")
	check("the login page", resp)
	resp, _ = v.do(http.MethodGet, "/api/events", "")
	check("a 401", resp)
	v.login("vera", "vera-password")
	resp, _ = v.do(http.MethodGet, "/", "")
	check("the page", resp)
	resp, _ = v.post("/api/responses/"+f.undoI+"/undo", "")
	check("a 403", resp)
	resp, _ = v.do(http.MethodGet, "/api/responses", "")
	check("an API answer", resp)
	for _, name := range []string{"index.html", "login.html"} {
		b, err := assets.ReadFile("assets/" + name)
		if err != nil {
			t.Fatal(err)
		}
		html := strings.ToLower(string(b))
		if inlineScript.MatchString(html) || inlineHandler.MatchString(html) || strings.Contains(html, "javascript:") {
			t.Errorf("%s has inline script", name)
		}
	}
}

var (
	inlineScript  = regexp.MustCompile(`<script(\s[^>]*)?>\s*[^<\s]`)
	inlineHandler = regexp.MustCompile(`<[^>]*\son[a-z]+\s*=`)
)

// TestAdminManagesUsers: an admin lists, adds and removes accounts
// through the API (never seeing a hash); an operator may not; each change
// is audited under the admin's name; a removed account's session ends.
func TestAdminManagesUsers(t *testing.T) {
	f := authServer(t, "127.0.0.1:0")
	o := f.client(t)
	o.login("otto", "otto-password")
	if resp, _ := o.do(http.MethodGet, "/api/users", ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("operator listing users: %d", resp.StatusCode)
	}
	if resp, _ := o.post("/api/users", `{"name":"mallory","role":"admin","password":"mallory-password"}`); resp.StatusCode != http.StatusForbidden {
		t.Errorf("operator adding an admin: %d", resp.StatusCode)
	}
	a := f.client(t)
	a.login("ada", "ada-password")
	resp, body := a.do(http.MethodGet, "/api/users", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `"name":"otto","role":"operator"`) || strings.Contains(body, "argon2") {
		t.Fatalf("users: %d %s", resp.StatusCode, body)
	}
	if resp, body := a.post("/api/users", `{"name":"nina","role":"viewer","password":"short"}`); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "too short") {
		t.Errorf("a short password: %d %s", resp.StatusCode, body)
	}
	if resp, body := a.post("/api/users", `{"name":"nina","role":"viewer","password":"nina-password"}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("adding nina: %d %s", resp.StatusCode, body)
	}
	n := f.client(t)
	if resp := n.login("nina", "nina-password"); resp.StatusCode != http.StatusOK {
		t.Fatalf("nina's login: %d", resp.StatusCode)
	}
	if resp, body := a.do(http.MethodDelete, "/api/users/nina", "", CSRFHeader, a.csrf); resp.StatusCode != http.StatusOK {
		t.Fatalf("removing nina: %d %s", resp.StatusCode, body)
	}
	if resp, _ := n.do(http.MethodGet, "/api/events", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("nina's session after her removal: %d", resp.StatusCode)
	}
	if resp, _ := a.do(http.MethodDelete, "/api/users/nina", "", CSRFHeader, a.csrf); resp.StatusCode != http.StatusNotFound {
		t.Errorf("removing nina twice: %d", resp.StatusCode)
	}
	_, body = a.do(http.MethodGet, "/api/audit?actor=ada", "")
	var log []auditJSON
	if err := json.Unmarshal([]byte(body), &log); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range log {
		got = append(got, fmt.Sprintf("%s %s %v", e.Action, e.Target, e.OK))
	}
	want := []string{"user_removed nina false", "user_removed nina true", "user_added nina true", "user_added nina false", "login  true"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("ada's audit\n got %q\nwant %q", got, want)
	}
}
