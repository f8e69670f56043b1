package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// request sends one request with the given headers ("Host" sets the Host
// line) and returns the status and body.
func (f *fixture) request(t *testing.T, method, path, body string, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (f *fixture) stored(t *testing.T) int64 {
	t.Helper()
	n, _, err := f.st.Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCrossSiteRefused: a page of another origin, or one reaching the
// server through a name of its own (DNS rebinding), can neither submit nor
// read; programs that send no Origin, and the server's own page, can.
func TestCrossSiteRefused(t *testing.T) {
	f := newFixture(t)
	own := f.srv.URL // http://127.0.0.1:PORT
	u, _ := url.Parse(own)
	port := u.Port()
	const ev = `{"type":"T","host":"h"}` + "\n"
	nd := "application/x-ndjson"
	refused := []struct {
		name    string
		method  string
		headers map[string]string
		code    int
		want    string
	}{
		{"foreign Origin, text/plain", "POST", map[string]string{"Origin": "http://evil.example", "Content-Type": "text/plain"}, 403, "cross-origin"},
		{"foreign Origin, JSON", "POST", map[string]string{"Origin": "http://evil.example", "Content-Type": nd}, 403, "cross-origin"},
		{"other port of this host", "POST", map[string]string{"Origin": "http://127.0.0.1:1", "Content-Type": nd}, 403, "cross-origin"},
		{"opaque Origin", "POST", map[string]string{"Origin": "null", "Content-Type": nd}, 403, "cross-origin"},
		{"cross-site fetch without Origin", "POST", map[string]string{"Sec-Fetch-Site": "cross-site", "Content-Type": nd}, 403, "Sec-Fetch-Site"},
		{"same-site fetch", "POST", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": own, "Content-Type": nd}, 403, "Sec-Fetch-Site"},
		{"rebound name, POST", "POST", map[string]string{"Host": "evil.example:" + port, "Origin": "http://evil.example:" + port, "Content-Type": nd}, 403, "evil.example"},
		{"rebound name, no Origin", "POST", map[string]string{"Host": "evil.example:" + port, "Content-Type": nd}, 403, "not a name of this server"},
		{"text/plain without Origin", "POST", map[string]string{"Content-Type": "text/plain"}, 415, "text/plain"},
		{"form without Origin", "POST", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, "Content-Type"},
		{"no Content-Type", "POST", nil, 415, "Content-Type missing"},
		{"multipart form", "POST", map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, 415, "Content-Type"},
	}
	for _, tc := range refused {
		code, out := f.request(t, tc.method, "/api/events", ev, tc.headers)
		var e struct{ Error string }
		if code != tc.code || json.Unmarshal([]byte(out), &e) != nil || !strings.Contains(e.Error, tc.want) {
			t.Errorf("%s: %d %s, want %d with an error naming %q", tc.name, code, out, tc.code, tc.want)
		}
	}
	if n := f.stored(t); n != 0 {
		t.Fatalf("refused requests stored %d events", n)
	}
	// Reads through a rebound name are refused too.
	if code, out := f.request(t, "GET", "/api/events", "", map[string]string{"Host": "evil.example:" + port}); code != 403 || !strings.Contains(out, "evil.example") {
		t.Errorf("GET through a rebound name: %d %s", code, out)
	}

	accepted := []struct {
		name    string
		headers map[string]string
	}{
		{"CLI client, no Origin", map[string]string{"Content-Type": nd}},
		{"same origin", map[string]string{"Origin": own, "Sec-Fetch-Site": "same-origin", "Content-Type": "application/json; charset=utf-8"}},
		{"localhost name", map[string]string{"Host": "localhost:" + port, "Origin": "http://localhost:" + port, "Content-Type": "application/jsonl"}},
		{"typed in the address bar", map[string]string{"Sec-Fetch-Site": "none", "Content-Type": nd}},
	}
	for i, tc := range accepted {
		code, out := f.request(t, "POST", "/api/events", ev, tc.headers)
		if code != 200 {
			t.Errorf("%s: %d %s", tc.name, code, out)
		}
		if n := f.stored(t); n != int64(i+1) {
			t.Errorf("%s: %d events stored, want %d", tc.name, n, i+1)
		}
	}
	for _, host := range []string{"127.0.0.1:" + port, "localhost", "[::1]:" + port, "vigil.localhost:" + port} {
		if code, out := f.request(t, "GET", "/healthz", "", map[string]string{"Host": host}); code != 200 {
			t.Errorf("GET with Host %s: %d %s", host, code, out)
		}
	}
}

func TestAllowedHosts(t *testing.T) {
	s := &Server{allowHosts: allowedHosts("vigil.lan:8080", []string{"Monitor.Example"})}
	for host, ok := range map[string]bool{
		"vigil.lan:8080": true, "monitor.example": true, "MONITOR.example.:80": true, "10.1.2.3:8080": true,
		"attacker.example": false, "": false, "localhost.evil.example": false,
	} {
		if err := s.checkHost(host); (err == nil) != ok {
			t.Errorf("Host %q: %v", host, err)
		}
	}
}

// TestQueryLimitsRefused: the documented bounds of a query are answered
// 400 naming the parameter and the bound, never a 500 or a silent cut.
func TestQueryLimitsRefused(t *testing.T) {
	f := newFixture(t)
	ids := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "&id=x%d", i)
		}
		return b.String()
	}
	for _, tc := range []struct {
		path string
		code int
		want string
	}{
		{"/api/events?host=h" + ids(256), 200, ""},
		{"/api/events?host=h" + ids(257), 400, "at most 256"},
		{"/api/events?limit=10000", 200, ""},
		{"/api/events?limit=10001", 400, "1 to 10000"},
		{"/api/reports?limit=10001", 400, "1 to 10000"},
		{"/api/tracks?limit=10001", 400, "1 to 10000"},
		{"/api/profiles?limit=10001", 400, "1 to 10000"},
		{"/api/events?limit=-1", 400, `limit`},
	} {
		code, out := f.do(t, "GET", tc.path, "")
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%.60s: %d %s", tc.path, code, out)
		}
	}
}

// uploadServer serves a server whose Publish records its batches.
func uploadServer(t *testing.T, o Options) (*httptest.Server, func() []int) {
	srv, batches, _ := uploadServerOf(t, o)
	return srv, batches
}

func uploadServerOf(t *testing.T, o Options) (*httptest.Server, func() []int, *Server) {
	t.Helper()
	var mu sync.Mutex
	var batches []int
	o.Listen = "127.0.0.1:0"
	o.Clock = clock.NewManual(t0)
	o.IDs = event.NewSeededIDs(1)
	o.Logger = slog.New(slog.DiscardHandler)
	o.Publish = func(_ context.Context, evs []event.Event) (int, error) {
		mu.Lock()
		batches = append(batches, len(evs))
		mu.Unlock()
		return len(evs), nil
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	s.ln.Close()
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv, func() []int {
		mu.Lock()
		defer mu.Unlock()
		return append([]int(nil), batches...)
	}, s
}

func events(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"type":"T","host":"h%d"}`+"\n", i)
	}
	return b.String()
}

// TestUploadPublishedInBatches: a submission never holds more than
// BatchEvents decoded events.
func TestUploadPublishedInBatches(t *testing.T) {
	srv, batches := uploadServer(t, Options{BatchEvents: 10})
	resp, err := http.Post(srv.URL+"/api/events", "application/x-ndjson", strings.NewReader(events(25)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"accepted":25`) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if got := fmt.Sprint(batches()); got != "[10 10 5]" {
		t.Errorf("batches %s, want [10 10 5]", got)
	}
}

// TestUploadOverLimitStreamed: a body without a length that goes over the
// limit is cut there; the answer says what was delivered before.
func TestUploadOverLimitStreamed(t *testing.T) {
	srv, batches := uploadServer(t, Options{BatchEvents: 10, MaxBody: 1000})
	pr, pw := io.Pipe()
	go func() {
		_, _ = io.WriteString(pw, events(100)) // about 2,500 bytes
		pw.Close()
	}()
	resp, err := http.Post(srv.URL+"/api/events", "application/x-ndjson", pr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ans submitAnswer
	_ = json.Unmarshal(b, &ans)
	sum := 0
	for _, n := range batches() {
		sum += n
	}
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(ans.Error, "limit of 1000 bytes") || ans.Accepted != sum || sum == 0 || sum >= 100 {
		t.Errorf("%d %s (published %d)", resp.StatusCode, b, sum)
	}
}

// TestConcurrentUploadsBounded: one submission more than MaxUploads is
// answered 429 with Retry-After, and is taken once a slot is free.
func TestConcurrentUploadsBounded(t *testing.T) {
	srv, _, s := uploadServerOf(t, Options{MaxUploads: 2})
	var pipes []*io.PipeWriter
	done := make(chan int, 2)
	for range 2 {
		pr, pw := io.Pipe()
		pipes = append(pipes, pw)
		go func() {
			resp, err := http.Post(srv.URL+"/api/events", "application/x-ndjson", pr)
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		if _, err := io.WriteString(pw, events(1)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "both uploads being read", func() bool { return len(s.uploads) == 2 })
	resp, err := http.Post(srv.URL+"/api/events", "application/x-ndjson", strings.NewReader(events(1)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), "2 submissions") {
		t.Errorf("third upload: %d Retry-After=%q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	for _, pw := range pipes {
		pw.Close()
	}
	for range 2 {
		select {
		case code := <-done:
			if code != 200 {
				t.Errorf("held upload answered %d", code)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("held upload never answered")
		}
	}
	resp, err = http.Post(srv.URL+"/api/events", "application/x-ndjson", strings.NewReader(events(1)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("upload after the others finished: %d", resp.StatusCode)
	}
}

// TestConcurrentUploadsHeap: four concurrent 13 MB submissions hold about
// four batches of events at a time, not their bodies: the heap in use,
// sampled throughout, grows by less than uploadHeapBound.
func TestConcurrentUploadsHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 52 MB")
	}
	srv, _ := uploadServer(t, Options{})
	pad := strings.Repeat("x", 900)
	var b strings.Builder
	n := 0
	for ; b.Len() < 13_000_000; n++ {
		fmt.Fprintf(&b, `{"type":"APP.UPLOAD","host":"h%d","attrs":{"n":%d,"pad":"%s"}}`+"\n", n%50, n, pad)
	}
	body := b.String()
	b.Reset()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak uint64
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(srv.URL+"/api/events", "application/x-ndjson", strings.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(out), fmt.Sprintf(`"accepted":%d`, n)) {
				t.Errorf("%d %.200s", resp.StatusCode, out)
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	grew := int64(peak) - int64(base)
	t.Logf("4 concurrent uploads of %d bytes (%d events each): heap in use grew by at most %d MiB (bound %d MiB)", len(body), n, grew>>20, uploadHeapBound>>20)
	if grew > uploadHeapBound {
		t.Errorf("heap grew by %d MiB, over %d MiB", grew>>20, uploadHeapBound>>20)
	}
}

// uploadHeapBound bounds the heap four concurrent submissions take in the
// HTTP server (docs/LIMITS.md): four batches of DefaultBatchEvents events
// and their read buffers, with the collector's slack.
const uploadHeapBound = 64 << 20

// FuzzGuard: any Host, Origin and Sec-Fetch-Site are judged without a
// panic, and a POST is only let through when its Origin, if any, is the
// server's own host and port and Sec-Fetch-Site, if any, is same-origin
// or none.
func FuzzGuard(f *testing.F) {
	f.Add("127.0.0.1:8080", "http://127.0.0.1:8080", "same-origin")
	f.Add("evil.example:8080", "http://evil.example:8080", "")
	f.Add("[::1]:80", "http://[::1]", "none")
	f.Add("localhost", "null", "cross-site")
	f.Add("", "http://%zz", "same-site")
	s := &Server{o: Options{Logger: slog.New(slog.DiscardHandler)}, allowHosts: allowedHosts("127.0.0.1:8080", nil)}
	h := s.guard(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	f.Fuzz(func(t *testing.T, host, origin, site string) {
		r := httptest.NewRequest("POST", "/api/events", nil)
		r.Host = host
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if site != "" {
			r.Header.Set("Sec-Fetch-Site", site)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code == http.StatusForbidden {
			var e struct{ Error string }
			if json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error == "" {
				t.Fatalf("refusal without an error: %q", w.Body.String())
			}
			return
		}
		if w.Code != http.StatusNoContent {
			t.Fatalf("status %d", w.Code)
		}
		if s.checkHost(host) != nil {
			t.Fatalf("Host %q let through", host)
		}
		if v := r.Header.Get("Sec-Fetch-Site"); v != "" && v != "same-origin" && v != "none" {
			t.Fatalf("Sec-Fetch-Site %q let through", v)
		}
		if o := r.Header.Get("Origin"); o != "" {
			u, err := url.Parse(o)
			if err != nil || !strings.EqualFold(withPort(u.Host, u.Scheme), withPort(host, u.Scheme)) {
				t.Fatalf("Origin %q let through for Host %q", o, host)
			}
		}
	})
}
