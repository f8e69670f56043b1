package probe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

const page = "<html>it works</html>\n"

func sum256(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// servePage serves body with status on a real listener.
func servePage(t *testing.T, status int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func httpProbe(t *testing.T, set func(*HTTPSettings)) action.Method {
	t.Helper()
	return build(t, KindHTTP, func(cs config.Settings) { set(cs.(*HTTPSettings)) })
}

func TestHTTPProbePassesWhenStatusAndBodyMatch(t *testing.T) {
	srv := servePage(t, 200, page)
	m := httpProbe(t, func(s *HTTPSettings) { s.URL = srv.URL + "/index.html"; s.BodySHA256 = strings.ToUpper(sum256(page)) })
	plan, err := m.Plan(request())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"GET " + srv.URL + "/index.html", "status 200", "body SHA-256 " + sum256(page), "at most 1048576 bytes", "redirects not followed"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan %q lacks %q", plan, want)
		}
	}
	out, err := m.Execute(context.Background(), request())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.Detail, "pass: ") || !strings.Contains(out.Detail, "answered 200 with 22 bytes of SHA-256 "+sum256(page)) {
		t.Errorf("detail %q", out.Detail)
	}
}

func TestHTTPProbeFailsOnAnotherStatus(t *testing.T) {
	srv := servePage(t, 503, "down")
	m := httpProbe(t, func(s *HTTPSettings) { s.URL = srv.URL })
	out, err := m.Execute(context.Background(), request())
	ms := mismatches(err)
	if len(ms) != 1 || ms[0].What != "status" || ms[0].Want != "200" || ms[0].Got != "503" {
		t.Fatalf("error %v, want one status mismatch", err)
	}
	if !strings.HasPrefix(out.Detail, "fail: ") || !strings.Contains(out.Detail, "want 200, got 503") {
		t.Errorf("detail %q", out.Detail)
	}
}

func TestHTTPProbeExpectsAConfiguredStatus(t *testing.T) {
	srv := servePage(t, 204, "")
	m := httpProbe(t, func(s *HTTPSettings) { s.URL = srv.URL; s.Status = 204; s.BodySHA256 = sum256("") })
	if _, err := m.Execute(context.Background(), request()); err != nil {
		t.Fatal(err)
	}
}

func TestHTTPProbeFailsOnAChangedBody(t *testing.T) {
	srv := servePage(t, 200, "<html>defaced</html>")
	m := httpProbe(t, func(s *HTTPSettings) { s.URL = srv.URL; s.BodySHA256 = sum256(page) })
	_, err := m.Execute(context.Background(), request())
	ms := mismatches(err)
	if len(ms) != 1 || ms[0].What != "body sha256" || ms[0].Want != sum256(page) || ms[0].Got != sum256("<html>defaced</html>") {
		t.Fatalf("error %v, want one body sha256 mismatch", err)
	}
}

func TestHTTPProbeFailsOnABodyOverTheLimit(t *testing.T) {
	big := strings.Repeat("x", 4097)
	srv := servePage(t, 200, big)
	m := httpProbe(t, func(s *HTTPSettings) { s.URL = srv.URL; s.MaxBodyBytes = 4096; s.BodySHA256 = sum256(big) })
	_, err := m.Execute(context.Background(), request())
	ms := mismatches(err)
	if len(ms) != 1 || ms[0].What != "body size" || !strings.Contains(ms[0].Want, "4096") {
		t.Fatalf("error %v, want one body size mismatch (the body's hash is not taken past the limit)", err)
	}
	// Exactly at the limit passes.
	srv2 := servePage(t, 200, big[:4096])
	m2 := httpProbe(t, func(s *HTTPSettings) { s.URL = srv2.URL; s.MaxBodyBytes = 4096; s.BodySHA256 = sum256(big[:4096]) })
	if _, err := m2.Execute(context.Background(), request()); err != nil {
		t.Fatal(err)
	}
}

// slowServer answers only when the request ends (the client gives up) or
// the test ends.
func slowServer(t *testing.T) *httptest.Server {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return srv
}

func TestHTTPProbeGivesUpOnASlowServerAtItsTimeout(t *testing.T) {
	srv := slowServer(t)
	m := httpProbe(t, func(s *HTTPSettings) { s.URL = srv.URL; s.Timeout = 200 * time.Millisecond })
	start := time.Now()
	_, err := m.Execute(context.Background(), request())
	took := time.Since(start)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the timeout", err)
	}
	t.Log(err)
	if len(mismatches(err)) != 0 {
		t.Errorf("a timeout is a failure to probe, not a mismatch: %v", err)
	}
	if took > 5*time.Second {
		t.Errorf("gave up after %s, timeout 200ms", took)
	}
}

func TestHTTPProbeStopsWhenItsContextIsCancelled(t *testing.T) {
	srv := slowServer(t)
	m := httpProbe(t, func(s *HTTPSettings) { s.URL = srv.URL; s.Timeout = time.Minute })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := m.Execute(ctx, request())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want cancelled", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("returned after %s", took)
	}
}

// writeCert writes srv's certificate as PEM.
func writeCert(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHTTPProbeRefusesACertificateItCannotVerify(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(page)) }))
	t.Cleanup(srv.Close)
	m := httpProbe(t, func(s *HTTPSettings) { s.URL = srv.URL })
	_, err := m.Execute(context.Background(), request())
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("error %v, want the self-signed certificate refused", err)
	}
	t.Log(err)
	if len(mismatches(err)) != 0 {
		t.Errorf("a refused handshake is not a mismatch: %v", err)
	}
	// The same server passes with its certificate as the only root.
	ca := writeCert(t, srv)
	m = httpProbe(t, func(s *HTTPSettings) { s.URL = srv.URL; s.CAFile = ca; s.BodySHA256 = sum256(page) })
	if plan, _ := m.Plan(request()); !strings.Contains(plan, "certificate verified against "+ca) {
		t.Errorf("plan %q", plan)
	}
	if _, err := m.Execute(context.Background(), request()); err != nil {
		t.Fatal(err)
	}
	// A name the certificate does not hold is refused even with the root.
	m = httpProbe(t, func(s *HTTPSettings) { s.URL = srv.URL; s.CAFile = ca; s.Host = "www.vigil.test" })
	if _, err := m.Execute(context.Background(), request()); err == nil || !strings.Contains(err.Error(), "www.vigil.test") {
		t.Fatalf("error %v, want the name refused", err)
	}
}

func TestHTTPProbeSendsTheHostHeaderAndDoesNotFollowRedirects(t *testing.T) {
	var gotHost string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost = r.Host
		http.Redirect(w, r, "http://elsewhere.invalid/", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	m := httpProbe(t, func(s *HTTPSettings) { s.URL = srv.URL; s.Host = "www.example.net"; s.Status = 302 })
	if plan, _ := m.Plan(request()); !strings.Contains(plan, "with Host www.example.net") {
		t.Errorf("plan %q", plan)
	}
	if _, err := m.Execute(context.Background(), request()); err != nil {
		t.Fatal(err)
	}
	if gotHost != "www.example.net" {
		t.Errorf("server saw Host %q", gotHost)
	}
}

func TestHTTPProbeURLNamesTheSubjectHost(t *testing.T) {
	srv := servePage(t, 200, page)
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	s := newHTTPSettings().(*HTTPSettings)
	s.URL = "http://{host}" + port + "/"
	if n := s.Needs(); len(n) != 1 || n[0] != "host" {
		t.Errorf("needs %v, want host", n)
	}
	m := httpProbe(t, func(s *HTTPSettings) { s.URL = "http://{host}" + port + "/" })
	req := request()
	req.Subject.Host = "127.0.0.1"
	if _, err := m.Execute(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "evil.example/@x", "a b", "x?y", "::1%eth0"} {
		req.Subject.Host = bad
		if _, err := m.Plan(req); err == nil {
			t.Errorf("host %q: planned", bad)
		}
		if _, err := m.Execute(context.Background(), req); err == nil {
			t.Errorf("host %q: executed", bad)
		}
	}
	req.Subject.Host = "::1"
	if plan, err := m.Plan(req); err != nil || !strings.Contains(plan, "http://[::1]"+port) {
		t.Errorf("plan %q, %v", plan, err)
	}
}

func TestHTTPProbeSettingsMistakes(t *testing.T) {
	s := newHTTPSettings().(*HTTPSettings)
	s.URL, s.Status, s.BodySHA256, s.MaxBodyBytes, s.Timeout, s.Host, s.CAFile = "ftp://x/", 42, "abc", 0, 0, "a b", "/nonexistent/ca.pem"
	got := strings.Join(problems(s), "\n")
	for _, want := range []string{"r.url: scheme \"ftp\"", "r.status: 42", "r.body_sha256: want 64 hex", "r.max_body_bytes", "r.timeout", "r.host: \"a b\"", "r.ca_file: open /nonexistent/ca.pem"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	s = newHTTPSettings().(*HTTPSettings)
	s.URL = "https://user:pw@example.net/"
	if got := strings.Join(problems(s), "\n"); !strings.Contains(got, "user information") {
		t.Errorf("problems %q", got)
	}
	s = newHTTPSettings().(*HTTPSettings)
	if got := problems(s); len(got) != 1 || !strings.Contains(got[0], "r.url: missing") {
		t.Errorf("problems %q", got)
	}
	if s.Needs() != nil {
		t.Errorf("a fixed URL needs %v", s.Needs())
	}
}
