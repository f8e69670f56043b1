package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

const testKey = "k3y-for-tests-0123456789abcdef"

// received is one POST a test receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver records POSTs and answers each with the next status of
// statuses (the last one repeating).
type receiver struct {
	mu       sync.Mutex
	got      []received
	statuses []int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.got = append(r.got, received{req.Header.Clone(), body})
	i := min(len(r.got)-1, len(r.statuses)-1)
	status := http.StatusOK
	if i >= 0 {
		status = r.statuses[i]
	}
	r.mu.Unlock()
	w.WriteHeader(status)
}

func (r *receiver) posts() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// webhook builds a webhook method for url with fast retries.
func webhook(t *testing.T, url string, set func(*WebhookSettings)) action.Method {
	t.Helper()
	key := writeKey(t, testKey, 0o600)
	return build(t, KindWebhook, testDeps(t), func(s config.Settings) {
		w := s.(*WebhookSettings)
		w.URL, w.SecretFile = url, key
		w.Backoff, w.MaxBackoff, w.Timeout = time.Millisecond, 4*time.Millisecond, 2*time.Second
		if set != nil {
			set(w)
		}
	})
}

// verify is what a receiver does: recompute the HMAC of timestamp "."
// body and compare in constant time, and refuse a stale timestamp.
func verify(t *testing.T, h http.Header, body []byte, now time.Time) {
	t.Helper()
	ts := h.Get("X-Vigil-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		t.Fatalf("timestamp header %q: %v", ts, err)
	}
	if d := now.Sub(time.Unix(sec, 0)); d < -5*time.Minute || d > 5*time.Minute {
		t.Fatalf("timestamp %s is %v away from now", ts, d)
	}
	m := hmac.New(sha256.New, []byte(testKey))
	m.Write([]byte(ts + "."))
	m.Write(body)
	want := "v1=" + hex.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(h.Get("X-Vigil-Signature")), []byte(want)) {
		t.Fatalf("signature %q, want %q", h.Get("X-Vigil-Signature"), want)
	}
}

func TestWebhookPostsTheSignedDecision(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	m := webhook(t, srv.URL+"/hook?token=s3cr3t-token", func(w *WebhookSettings) {
		w.Headers = map[string]string{"Authorization": "Bearer hdr-secret", "X-Team": "ops"}
	})
	req := sampleRequest()
	out, err := m.Execute(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	posts := rc.posts()
	if len(posts) != 1 {
		t.Fatalf("%d posts, want 1", len(posts))
	}
	p := posts[0]
	verify(t, p.header, p.body, t0)
	if p.header.Get("X-Vigil-Timestamp") != strconv.FormatInt(t0.Unix(), 10) {
		t.Errorf("timestamp %s is not the injected clock's %d", p.header.Get("X-Vigil-Timestamp"), t0.Unix())
	}
	if got := p.header.Get("X-Vigil-Delivery"); got != req.ID {
		t.Errorf("delivery id %q, want the decision id", got)
	}
	if p.header.Get("Authorization") != "Bearer hdr-secret" || p.header.Get("X-Team") != "ops" || p.header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", p.header)
	}
	var d struct {
		ID, Policy, Monitor, Reason, Severity string
		Subject                               action.Subject
		Reports                               []json.RawMessage
	}
	if err := json.Unmarshal(p.body, &d); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, p.body)
	}
	if d.ID != req.ID || d.Policy != "contain-web" || d.Monitor != "svc-web" || d.Reason != req.Reason || d.Severity != "red" ||
		d.Subject.Host != "web-3" || d.Subject.Addr != req.Subject.Addr || len(d.Reports) != 2 {
		t.Errorf("decision body %s", p.body)
	}
	r, err := event.DecodeReportJSON(d.Reports[1])
	if err != nil || r.State != "Compromised" || len(r.Evidence) != 2 {
		t.Errorf("second report %s: %v", d.Reports[1], err)
	}
	if !strings.Contains(out.Detail, "200 OK after 1 try") || !strings.Contains(out.Detail, "/hook") {
		t.Errorf("detail %q", out.Detail)
	}
	for _, text := range []string{out.Detail, mustPlan(t, m, req)} {
		for _, secret := range []string{testKey, "s3cr3t-token", "hdr-secret"} {
			if strings.Contains(text, secret) {
				t.Errorf("%q shows the secret %q", text, secret)
			}
		}
	}
}

func mustPlan(t *testing.T, m action.Method, req action.Request) string {
	t.Helper()
	plan, err := m.Plan(req)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

func TestWebhookPlanShowsTheBodyAndTouchesNothing(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	m := webhook(t, srv.URL+"/hook", func(w *WebhookSettings) { w.Headers = map[string]string{"Authorization": "Bearer x"} })
	plan := mustPlan(t, m, sampleRequest())
	for _, want := range []string{"POST", srv.URL + "/hook", "(vigil)", "X-Vigil-Signature", "headers Authorization", "up to 5 tries", `"policy":"contain-web"`, "apache2 spawned a shell"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q: %s", want, plan)
		}
	}
	if n := len(rc.posts()); n != 0 {
		t.Errorf("Plan sent %d requests", n)
	}
}

func TestWebhookRetriesServerErrorsThenSucceeds(t *testing.T) {
	rc := &receiver{statuses: []int{503, 502, 200}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	out, err := webhook(t, srv.URL, nil).Execute(context.Background(), sampleRequest())
	if err != nil {
		t.Fatal(err)
	}
	posts := rc.posts()
	if len(posts) != 3 {
		t.Fatalf("%d posts, want 3", len(posts))
	}
	for _, p := range posts {
		verify(t, p.header, p.body, t0)
		if string(p.body) != string(posts[0].body) || p.header.Get("X-Vigil-Delivery") != posts[0].header.Get("X-Vigil-Delivery") {
			t.Error("a retry differs from the first try")
		}
	}
	if !strings.Contains(out.Detail, "after 3 tries") {
		t.Errorf("detail %q", out.Detail)
	}
}

func TestWebhookGivesUpAfterItsRetries(t *testing.T) {
	rc := &receiver{statuses: []int{500}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	_, err := webhook(t, srv.URL, func(w *WebhookSettings) { w.Retries = 2 }).Execute(context.Background(), sampleRequest())
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 tries") || !strings.Contains(err.Error(), "500 Internal Server Error") {
		t.Fatalf("error %v, want a give-up after 3 tries naming the last answer", err)
	}
	if n := len(rc.posts()); n != 3 {
		t.Errorf("%d posts, want 3", n)
	}
}

func TestWebhookDoesNotRetryAClientError(t *testing.T) {
	rc := &receiver{statuses: []int{401}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	_, err := webhook(t, srv.URL, nil).Execute(context.Background(), sampleRequest())
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("error %v, want the 401", err)
	}
	if n := len(rc.posts()); n != 1 {
		t.Errorf("%d posts, want 1: a 4xx is not retried", n)
	}
}

func TestWebhookTimesOutASlowServerPerTry(t *testing.T) {
	var tries atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tries.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	m := webhook(t, srv.URL, func(w *WebhookSettings) { w.Timeout, w.Retries = 100*time.Millisecond, 1 })
	start := time.Now()
	_, err := m.Execute(context.Background(), sampleRequest())
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "gave up after 2 tries") {
		t.Fatalf("error %v, want a give-up after 2 timed-out tries", err)
	}
	if tries.Load() != 2 {
		t.Errorf("%d tries reached the server, want 2", tries.Load())
	}
	if took > 2*time.Second {
		t.Errorf("took %v: the per-try timeout of 100ms was not applied", took)
	}
}

func TestWebhookStopsWhenTheContextEnds(t *testing.T) {
	rc := &receiver{statuses: []int{503}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	m := webhook(t, srv.URL, func(w *WebhookSettings) { w.Backoff, w.MaxBackoff = time.Minute, time.Minute })
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for len(rc.posts()) == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	start := time.Now()
	_, err := m.Execute(ctx, sampleRequest())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %v: the back-off of 1m did not end with the context", took)
	}
	if n := len(rc.posts()); n != 1 {
		t.Errorf("%d posts, want 1", n)
	}
}

func TestWebhookVerifiesTLSAlways(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewUnstartedServer(rc)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()
	// Without the test server's CA, the certificate does not verify and no
	// retry mends that.
	_, err := webhook(t, srv.URL, nil).Execute(context.Background(), sampleRequest())
	if err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Fatalf("error %v, want a TLS verification failure", err)
	}
	if n := len(rc.posts()); n != 0 {
		t.Fatalf("%d posts reached the server through an unverified connection", n)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := webhook(t, srv.URL, func(w *WebhookSettings) { w.CAFile = ca }).Execute(context.Background(), sampleRequest())
	if err != nil {
		t.Fatal(err)
	}
	if len(rc.posts()) != 1 || !strings.Contains(out.Detail, "200 OK") {
		t.Errorf("with ca_file: %d posts, detail %q", len(rc.posts()), out.Detail)
	}
}

func TestWebhookRefusesAKeyOthersCanRead(t *testing.T) {
	key := writeKey(t, testKey, 0o640)
	s := newWebhookSettings().(*WebhookSettings)
	s.URL, s.SecretFile = "https://hooks.example/", key
	if got := problems(s); len(got) != 1 || !strings.Contains(got[0], "mode 0640") {
		t.Errorf("problems %v, want the key file's mode", got)
	}
	if _, err := newWebhook(s, testDeps(t)); err == nil || strings.Contains(err.Error(), testKey) {
		t.Errorf("New: %v, want a refusal that does not show the key", err)
	}
}

func TestSignIsHMACSHA256OfTimestampDotBody(t *testing.T) {
	// The message is the timestamp, a dot and the body, under the key.
	got := Sign([]byte("Jefe"), "1700000000", []byte(`{"a":1}`))
	m := hmac.New(sha256.New, []byte("Jefe"))
	m.Write([]byte(`1700000000.{"a":1}`))
	if got != hex.EncodeToString(m.Sum(nil)) {
		t.Errorf("Sign = %s", got)
	}
}

func TestWebhookWaitsAsLongAsRetryAfterSays(t *testing.T) {
	var times []time.Time
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		n := len(times)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()
	m := webhook(t, srv.URL, func(w *WebhookSettings) { w.MaxBackoff = 5 * time.Second })
	if _, err := m.Execute(context.Background(), sampleRequest()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(times) != 2 {
		t.Fatalf("%d tries, want 2", len(times))
	}
	if gap := times[1].Sub(times[0]); gap < 900*time.Millisecond {
		t.Errorf("retried after %v; the answer asked for 1s", gap)
	}
}

func TestWebhookOCSFBodySaysItsFormat(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	req := sampleRequest()
	if _, err := webhook(t, srv.URL, func(w *WebhookSettings) { w.Format = FormatOCSF }).Execute(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	p := rc.posts()[0]
	verify(t, p.header, p.body, t0)
	if p.header.Get("X-Vigil-Format") != "ocsf" {
		t.Errorf("format header %q", p.header.Get("X-Vigil-Format"))
	}
	var f map[string]any
	if err := json.Unmarshal(p.body, &f); err != nil {
		t.Fatal(err)
	}
	checkOCSF(t, f, req)
}
