package bus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

func startServer(t testing.TB, o ServerOptions) *Server {
	t.Helper()
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.StoreDir == "" {
		o.StoreDir = t.TempDir()
	}
	o.Logger = testutil.Quiet()
	if os.Getenv("BUS_TEST_LOG") != "" {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("server", o.Name)
	}
	o.AllowAnonymous = len(o.Users) == 0
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := StartServer(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func connect(t testing.TB, o ClientOptions) *Conn {
	t.Helper()
	c, err := Connect(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func makeEvents(n int, host string) []event.Event {
	ids := event.NewSeededIDs(uint64(len(host)))
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	evs := make([]event.Event, n)
	for i := range evs {
		tm := t0.Add(time.Duration(i) * time.Millisecond)
		evs[i] = event.Event{
			ID: ids.NewID(tm), Time: tm, Type: event.TypeSysCPU, Host: host, IP: "10.0.0.3", Source: "test",
			Attrs: map[string]any{"seq": int64(i)},
		}
	}
	return evs
}

func TestToken(t *testing.T) {
	for in, want := range map[string]string{
		"web-3": "web-3", "10.0.0.3": "10_0_0_3", "": "_", "a b.c>*": "a_b_c__", "ü": "__",
		strings.Repeat("x", 200): strings.Repeat("x", 128),
	} {
		if got := Token(in); got != want {
			t.Errorf("Token(%q) = %q, want %q", in, got, want)
		}
	}
	if ObsSubject("10.0.0.3") != "vigil.obs.10_0_0_3" || ReportSubject("svc") != "vigil.report.svc" {
		t.Error("subject builders wrong")
	}
	for subj, want := range map[string]string{"vigil.obs.h": StreamObs, "vigil.cv.h": StreamCV, "vigil.report.m": StreamReports, "vigil.ctl.m": ""} {
		if got := streamFor(subj); got != want {
			t.Errorf("streamFor(%s) = %q", subj, got)
		}
	}
}

// TestDurableResume publishes events, consumes part of them, stops the
// consumer without acknowledging the rest, and checks that a consumer of
// the same name gets exactly the unacknowledged remainder.
func TestDurableResume(t *testing.T) {
	s := startServer(t, ServerOptions{})
	c := connect(t, ClientOptions{URL: s.ClientURL(), Name: "test"})
	ctx := context.Background()
	if err := c.EnsureStreams(ctx, StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	evs := makeEvents(1000, "web-1")
	if n, err := c.PublishEvents(ctx, evs); err != nil || n != len(evs) {
		t.Fatalf("published %d: %v", n, err)
	}
	// Publishing the same events again is de-duplicated by id.
	if n, err := c.PublishEvents(ctx, evs[:10]); err != nil || n != 10 {
		t.Fatalf("republish: %d %v", n, err)
	}
	info, err := c.JS.Stream(ctx, StreamObs)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.CachedInfo().State.Msgs; got != 1000 {
		t.Fatalf("stream holds %d messages, want 1000 (duplicates not removed)", got)
	}

	var mu sync.Mutex
	var got []int64
	first, err := c.ConsumeDurable(ctx, DurableOptions{Name: "mon", Subjects: []string{AllObs}, Batch: 100}, func(m *Msg) {
		ev, err := event.DecodeBus(m.Data)
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		seq, _ := ev.Int("seq")
		got = append(got, seq)
		if seq == 399 {
			if err := m.Ack(); err != nil { // acks 0..399
				t.Error(err)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 15*time.Second, "first consumer to see 1000", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 1000 })
	first.Stop()

	mu.Lock()
	got = nil
	mu.Unlock()
	second, err := c.ConsumeDurable(ctx, DurableOptions{Name: "mon", Subjects: []string{AllObs}, Takeover: true}, func(m *Msg) {
		ev, err := event.DecodeBus(m.Data)
		if err != nil {
			t.Error(err)
			return
		}
		seq, _ := ev.Int("seq")
		mu.Lock()
		got = append(got, seq)
		mu.Unlock()
		_ = m.Ack()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Stop()
	testutil.WaitFor(t, 15*time.Second, "second consumer to see the remainder", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 600 })
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 600 || got[0] != 400 || got[599] != 999 {
		t.Fatalf("resumed with %d messages from %d", len(got), got[0])
	}
}

func TestCoreSubscribe(t *testing.T) {
	s := startServer(t, ServerOptions{})
	c := connect(t, ClientOptions{Embedded: s, Name: "in-process"})
	var mu sync.Mutex
	n := 0
	sub, err := c.SubscribeCore([]string{AllLive}, "", func(m *Msg) {
		if m.Durable() {
			t.Error("core message claims to be durable")
		}
		if _, err := event.DecodeBus(m.Data); err != nil {
			t.Error(err)
		}
		mu.Lock()
		n++
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range makeEvents(500, "h") {
		if err := c.PublishEventCore(&ev); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 15*time.Second, "500 core messages", func() bool { mu.Lock(); defer mu.Unlock(); return n == 500 })
	sub.Stop()
	if sub.Dropped() != 0 {
		t.Errorf("dropped %d", sub.Dropped())
	}
}

func TestReportPublish(t *testing.T) {
	s := startServer(t, ServerOptions{})
	c := connect(t, ClientOptions{URL: s.ClientURL()})
	ctx := context.Background()
	if err := c.EnsureStreams(ctx, StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	r := event.Report{ID: "r1", Time: time.Now().UTC(), Monitor: "svc", Engine: "e", Score: 0.7, Severity: event.SeverityYellow, Host: "h"}
	if err := c.PublishReport(ctx, "svc", &r); err != nil {
		t.Fatal(err)
	}
	got := make(chan event.Report, 1)
	sub, err := c.ConsumeDurable(ctx, DurableOptions{Name: "parent", Subjects: []string{ReportSubject("svc")}}, func(m *Msg) {
		ev, err := event.DecodeBus(m.Data)
		if err != nil {
			t.Error(err)
			return
		}
		rep, err := event.ReportFromEvent(&ev)
		if err != nil {
			t.Error(err)
			return
		}
		got <- rep
		_ = m.Ack()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	select {
	case rep := <-got:
		if rep.ID != "r1" || rep.Score != 0.7 || rep.Monitor != "svc" {
			t.Errorf("report %+v", rep)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no report")
	}
	if _, err := c.ConsumeDurable(ctx, DurableOptions{Name: "x", Subjects: []string{"other.>"}}, func(*Msg) {}); err == nil {
		t.Error("a durable consumer on a subject outside every stream was created")
	}
}

// TestTLSAndCredentials runs the server with TLS and users with
// permissions, and checks who gets in and what they may do.
func TestTLSAndCredentials(t *testing.T) {
	dir := t.TempDir()
	tp := newPKI(t, dir)
	s := startServer(t, ServerOptions{
		// Without a client CA: TLS, and password identities (mutual TLS,
		// where certificates are identities, is certauth_test.go's).
		TLS: ServerTLS{CertFile: tp.serverCert, KeyFile: tp.serverKey},
		Users: []User{
			{Name: "monitor", Password: "m-secret"},
			{Name: "agent", Password: "a-secret", Publish: []string{"vigil.obs.>", "$JS.API.>", "_INBOX.>"}, Subscribe: []string{"_INBOX.>"}},
		},
	})
	url := s.ClientURL()
	base := ClientOptions{URL: url, CAFile: tp.caFile, CertFile: tp.clientCert, KeyFile: tp.clientKey}
	ctx := context.Background()

	good := base
	good.User, good.Password = "monitor", "m-secret"
	c := connect(t, good)
	if err := c.EnsureStreams(ctx, StreamLimits{}); err != nil {
		t.Fatal(err)
	}

	for name, o := range map[string]ClientOptions{
		"wrong password":     func() ClientOptions { x := base; x.User, x.Password = "monitor", "nope"; return x }(),
		"no credentials":     base,
		"untrusted server":   {URL: url, User: "monitor", Password: "m-secret", CertFile: tp.clientCert, KeyFile: tp.clientKey},
		"plain text to TLS":  {URL: strings.Replace(url, "tls://", "nats://", 1), User: "monitor", Password: "m-secret"},
		"cert and two auths": func() ClientOptions { x := good; x.CredsFile = filepath.Join(dir, "none.creds"); return x }(),
	} {
		t.Run(name, func(t *testing.T) {
			o.ConnectTimeout = 2 * time.Second
			if c, err := Connect(ctx, o); err == nil {
				c.Close()
				t.Fatal("connected")
			}
		})
	}

	agentOpts := base
	agentOpts.User, agentOpts.Password = "agent", "a-secret"
	agent := connect(t, agentOpts)
	evs := makeEvents(3, "h1")
	if n, err := agent.PublishEvents(ctx, evs); err != nil || n != 3 {
		t.Fatalf("agent publish: %d %v", n, err)
	}
	// The agent may not publish reports: the server refuses and the
	// publish is never acknowledged.
	r := event.Report{ID: "r", Time: time.Now().UTC(), Monitor: "fake", Score: 1, Severity: event.SeverityRed, Host: "h"}
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := agent.PublishReport(short, "fake", &r); err == nil {
		t.Error("agent published a report despite its permissions")
	}
}

type testPKI struct{ caFile, serverCert, serverKey, clientCert, clientKey string }

// newPKI makes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all signed by the CA.
func newPKI(t *testing.T, dir string) testPKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vigil test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "EC PRIVATE KEY", kder)
	}
	p := testPKI{caFile: write("ca.pem", "CERTIFICATE", caDER)}
	p.serverCert, p.serverKey = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = leaf("client", 3, x509.ExtKeyUsageClientAuth)
	return p
}

func TestServerErrors(t *testing.T) {
	ctx := context.Background()
	for _, o := range []ServerOptions{
		{Listen: "nonsense", StoreDir: t.TempDir(), AllowAnonymous: true},
		{Listen: "127.0.0.1:0", AllowAnonymous: true},
		{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), AllowAnonymous: true, TLS: ServerTLS{CertFile: "/nonexistent.pem", KeyFile: "/nonexistent.key"}},
		{Listen: "127.0.0.1:0", StoreDir: t.TempDir()}, // no identities
	} {
		if s, err := StartServer(ctx, o); err == nil {
			s.Shutdown()
			t.Errorf("started with %+v", o)
		}
	}
	// An address where no NATS server answers: a listener that hangs up.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if _, err := Connect(ctx, ClientOptions{URL: "nats://" + l.Addr().String(), ConnectTimeout: time.Second}); err == nil {
		t.Error("connected to nothing")
	}
}

// TestCountVectorPublish stores count vectors on their stream, once each
// however often they are published, and reads them back.
func TestCountVectorPublish(t *testing.T) {
	s := startServer(t, ServerOptions{})
	c := connect(t, ClientOptions{URL: s.ClientURL()})
	ctx := context.Background()
	if err := c.EnsureStreams(ctx, StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	var vs []event.CountVector
	for i := range 5 {
		vs = append(vs, event.CountVector{Host: "web-1", PID: int32(100 + i), Process: "httpd", Start: t0, Interval: time.Second,
			Counts: []event.SyscallCount{{Nr: 0, Count: uint64(10 + i)}, {Nr: 1, Count: 3}}})
	}
	for range 2 { // the second publish is a duplicate
		if n, err := c.PublishCountVectors(ctx, vs); err != nil || n != len(vs) {
			t.Fatalf("published %d of %d: %v", n, len(vs), err)
		}
	}
	got := make(chan event.CountVector, 10)
	sub, err := c.ConsumeDurable(ctx, DurableOptions{Name: "cv", Subjects: []string{CVSubject("web-1")}}, func(m *Msg) {
		v, err := event.DecodeCountVectorCompact(m.Data)
		if err != nil {
			t.Error(err)
			return
		}
		got <- v
		_ = m.Ack()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	seen := map[int32]uint64{}
	timeout := time.After(10 * time.Second)
	for len(seen) < len(vs) {
		select {
		case v := <-got:
			if _, dup := seen[v.PID]; dup {
				t.Fatalf("pid %d stored twice", v.PID)
			}
			seen[v.PID] = v.Counts[0].Count
		case <-timeout:
			t.Fatalf("got %d of %d vectors", len(seen), len(vs))
		}
	}
	select {
	case v := <-got:
		t.Errorf("a duplicate was stored: pid %d", v.PID)
	case <-time.After(300 * time.Millisecond):
	}
	for i, v := range vs {
		if seen[v.PID] != uint64(10+i) {
			t.Errorf("pid %d: read count %d, published %d", v.PID, seen[v.PID], 10+i)
		}
	}
}
