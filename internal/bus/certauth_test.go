package bus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/pki"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// busCA is a Vigil CA in a test's directory, with a server certificate
// for 127.0.0.1.
type busCA struct {
	ca                    *pki.CA
	dir                   string
	serverCert, serverKey string
}

func newBusCA(t *testing.T) *busCA {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.Init(filepath.Join(dir, "ca"), pki.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := &busCA{ca: ca, dir: dir}
	b.serverCert, b.serverKey = b.issue(t, pki.RoleMonitor, "127.0.0.1")
	return b
}

func (b *busCA) caFile() string  { return filepath.Join(b.ca.Dir, pki.CACertFile) }
func (b *busCA) crlFile() string { return filepath.Join(b.ca.Dir, pki.CRLFile) }

// issue writes a certificate and key for role and name, returning their
// paths.
func (b *busCA) issue(t *testing.T, role pki.Role, name string) (certFile, keyFile string) {
	t.Helper()
	is, err := b.ca.Issue(role, name, 0)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(b.dir, string(role)+"-"+name)
	if err := os.WriteFile(base+".crt", is.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base+".key", is.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return base + ".crt", base + ".key"
}

// start runs a server with mutual TLS on a random loopback port; its
// in-process identity is "local".
func (b *busCA) start(t *testing.T, o ServerOptions) *Server {
	t.Helper()
	o.TLS = ServerTLS{CertFile: b.serverCert, KeyFile: b.serverKey, ClientCAFile: b.caFile(), CRLFile: b.crlFile(), CRLRefresh: o.TLS.CRLRefresh}
	o.Users = []User{{Name: "local", Password: "local-secret"}}
	return startServer(t, o)
}

// dial connects with a certificate of role for name.
func (b *busCA) dial(t *testing.T, s *Server, role pki.Role, name string) (*Conn, error) {
	t.Helper()
	cert, key := b.issue(t, role, name)
	c, err := Connect(context.Background(), ClientOptions{
		URL: s.ClientURL(), CAFile: b.caFile(), CertFile: cert, KeyFile: key,
		ConnectTimeout: 2 * time.Second, Logger: testutil.Quiet(),
	})
	if err == nil {
		t.Cleanup(c.Close)
	}
	return c, err
}

func (b *busCA) mustDial(t *testing.T, s *Server, role pki.Role, name string) *Conn {
	t.Helper()
	c, err := b.dial(t, s, role, name)
	if err != nil {
		t.Fatalf("%s %s: %v", role, name, err)
	}
	return c
}

// local is the server's in-process connection with its password identity.
func local(t *testing.T, s *Server) *Conn {
	t.Helper()
	return connect(t, ClientOptions{Embedded: s, User: "local", Password: "local-secret", Logger: testutil.Quiet()})
}

// mayPublish publishes on subject and says whether the server refused it
// (a permissions violation naming the subject).
func mayPublish(t *testing.T, c *Conn, subject string) bool {
	t.Helper()
	if err := c.NC.Publish(subject, []byte("x")); err != nil {
		t.Fatal(err)
	}
	return !violation(t, c, "Publish to \""+subject+"\"")
}

// maySubscribe subscribes to subject and says whether the server allowed it.
func maySubscribe(t *testing.T, c *Conn, subject string) bool {
	t.Helper()
	sub, err := c.NC.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	return !violation(t, c, "Subscription to \""+subject+"\"")
}

// violation waits for the server's answer to what c sent and says whether
// it was a permissions violation containing what.
func violation(t *testing.T, c *Conn, what string) bool {
	t.Helper()
	if err := c.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	err := c.NC.LastError()
	return errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), what)
}

func TestAgentCertificatePermissions(t *testing.T) {
	b := newBusCA(t)
	s := b.start(t, ServerOptions{})
	mon := local(t, s)
	ctx := context.Background()
	if err := mon.EnsureStreams(ctx, StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	agent := b.mustDial(t, s, pki.RoleAgent, "host-a")
	if agent.MayMakeStreams() {
		t.Error("an agent's connection says it may make streams")
	}

	// Its own observations are stored: the stream acknowledges them
	// (the acknowledgement comes to the agent's own inbox).
	evs := makeEvents(2, "host-a")
	if n, err := agent.PublishEvents(ctx, evs); err != nil || n != 2 {
		t.Fatalf("agent publishing its own observations: %d, %v", n, err)
	}
	for _, subj := range []string{"vigil.obs.host-a", "vigil.live.host-a", "vigil.cv.host-a", "vigil.hb.host-a"} {
		if !mayPublish(t, agent, subj) {
			t.Errorf("agent host-a refused publishing on %s", subj)
		}
	}
	for _, subj := range []string{"vigil.obs.host-b", "vigil.live.host-b", "vigil.cv.host-b", "vigil.report.x", "vigil.ctl.x",
		"vigil.effect.host-a", "vigil.agentctl.host-b", "$JS.API.STREAM.DELETE.VIGIL_OBS", "vigil.hb.host-b"} {
		if mayPublish(t, agent, subj) {
			t.Errorf("agent host-a may publish on %s", subj)
		}
	}
	for _, subj := range []string{"vigil.effect.host-a", "vigil.agentctl.host-a"} {
		if !maySubscribe(t, agent, subj) {
			t.Errorf("agent host-a may not subscribe to %s", subj)
		}
	}
	for _, subj := range []string{"vigil.effect.host-b", "vigil.agentctl.host-b", "vigil.obs.>", "vigil.ctl.x", "_INBOX.>", "_INBOX.x509.monitor.>"} {
		if maySubscribe(t, agent, subj) {
			t.Errorf("agent host-a may subscribe to %s", subj)
		}
	}
	// Observations about host-b sent by host-a's agent never reach the
	// stream: the monitor has nothing of them to count.
	evB := makeEvents(1, "host-b")
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := agent.PublishEvents(short, evB); err == nil {
		t.Error("agent host-a published observations about host-b")
	}
	r := event.Report{ID: "r", Time: time.Now().UTC(), Monitor: "x", Score: 1, Severity: event.SeverityRed, Host: "h"}
	if err := agent.PublishReport(short, "x", &r); err == nil {
		t.Error("agent host-a published a report")
	}
	st, err := mon.JS.Stream(ctx, StreamObs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetLastMsgForSubject(ctx, "vigil.obs.host-b"); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("stream holds a message on vigil.obs.host-b (err %v)", err)
	}
	if _, err := st.GetLastMsgForSubject(ctx, "vigil.obs.host-a"); err != nil {
		t.Errorf("host-a's own observations are not stored: %v", err)
	}
}

func TestNetsensorCertificatePermissions(t *testing.T) {
	b := newBusCA(t)
	s := b.start(t, ServerOptions{})
	ns := b.mustDial(t, s, pki.RoleNetsensor, "gw-1")
	for _, subj := range []string{"vigil.obs.gw-1", "vigil.live.gw-1", "vigil.hb.gw-1"} {
		if !mayPublish(t, ns, subj) {
			t.Errorf("netsensor gw-1 refused publishing on %s", subj)
		}
	}
	for _, subj := range []string{"vigil.obs.gw-2", "vigil.cv.gw-1", "vigil.report.gw-1", "vigil.ctl.gw-1", "vigil.agentctl.gw-1"} {
		if mayPublish(t, ns, subj) {
			t.Errorf("netsensor gw-1 may publish on %s", subj)
		}
	}
	if !maySubscribe(t, ns, "vigil.agentctl.gw-1") {
		t.Error("netsensor gw-1 may not take its configuration requests")
	}
	for _, subj := range []string{"vigil.agentctl.gw-2", "vigil.effect.gw-1", "vigil.live.>"} {
		if maySubscribe(t, ns, subj) {
			t.Errorf("netsensor gw-1 may subscribe to %s", subj)
		}
	}
}

// TestNetsensorPublishesUnderItsOwnID: a network sensor's records are
// about the addresses it saw, but its certificate lets it publish on its
// own id's subjects only: its connection routes every record there, and
// the stream takes them all, durable and live.
func TestNetsensorPublishesUnderItsOwnID(t *testing.T) {
	b := newBusCA(t)
	s := b.start(t, ServerOptions{})
	ctx := context.Background()
	mon := b.mustDial(t, s, pki.RoleMonitor, "mon-1")
	if err := mon.EnsureStreams(ctx, StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	live, err := mon.NC.SubscribeSync(PrefixLive + ">")
	if err != nil {
		t.Fatal(err)
	}
	ns := b.mustDial(t, s, pki.RoleNetsensor, "gw-1")
	evs := makeEvents(4, "")
	for i := range evs {
		evs[i].IP = fmt.Sprintf("198.51.100.%d", i+1)
	}
	if n, err := ns.PublishEvents(ctx, evs); err != nil || n != 4 {
		t.Fatalf("the sensor published %d of 4: %v", n, err)
	}
	if err := ns.PublishEventCore(&evs[0]); err != nil {
		t.Fatal(err)
	}
	info, err := mon.JS.Stream(ctx, StreamObs)
	if err != nil {
		t.Fatal(err)
	}
	st, err := info.Info(ctx, jetstream.WithSubjectFilter(PrefixObs+">"))
	if err != nil {
		t.Fatal(err)
	}
	if st.State.Msgs != 4 || st.State.Subjects[ObsSubject("gw-1")] != 4 {
		t.Errorf("stream holds %d messages on %v, want 4 on %s", st.State.Msgs, st.State.Subjects, ObsSubject("gw-1"))
	}
	m, err := live.NextMsg(5 * time.Second)
	if err != nil || m.Subject != LiveSubject("gw-1") {
		t.Errorf("live record on %v: %v", m, err)
	}
}

// TestRefusedPublishSaysSo: an agent's durable publish about another host
// is refused by the server and never acknowledged; the error says the
// bus refused this identity that subject (ErrRefused), not that the bus
// was slow.
func TestRefusedPublishSaysSo(t *testing.T) {
	b := newBusCA(t)
	s := b.start(t, ServerOptions{})
	ctx := context.Background()
	if err := b.mustDial(t, s, pki.RoleMonitor, "mon-1").EnsureStreams(ctx, StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	cert, key := b.issue(t, pki.RoleAgent, "host-a")
	agent, err := Connect(ctx, ClientOptions{URL: s.ClientURL(), CAFile: b.caFile(), CertFile: cert, KeyFile: key,
		ConnectTimeout: 2 * time.Second, AckWait: time.Second, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(agent.Close)
	if n, err := agent.PublishEvents(ctx, makeEvents(2, "host-a")); err != nil || n != 2 {
		t.Fatalf("its own host: %d, %v", n, err)
	}
	n, err := agent.PublishEvents(ctx, makeEvents(2, "host-b"))
	if n != 0 || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), `publishing on vigil.obs.host-b`) {
		t.Errorf("another host: %d published, error %v; want none, and an error saying the bus refused vigil.obs.host-b", n, err)
	}
}

// TestClientCertificateOffLoopbackNeedsCRL: a client with a certificate
// bound for a server off this machine's loopback refuses to start without
// the CA's CRL (failing closed), before any packet is sent; on loopback it
// may go without.
func TestClientCertificateOffLoopbackNeedsCRL(t *testing.T) {
	b := newBusCA(t)
	cert, key := b.issue(t, pki.RoleAgent, "host-a")
	for _, url := range []string{"tls://192.0.2.1:4222", "nats://127.0.0.1:4222,tls://bus.example:4222"} {
		_, err := Connect(context.Background(), ClientOptions{URL: url, CAFile: b.caFile(), CertFile: cert, KeyFile: key, Logger: testutil.Quiet()})
		if err == nil || !strings.Contains(err.Error(), "without the CA's CRL") {
			t.Errorf("%s without a CRL: %v, want a refusal to start", url, err)
		}
	}
	if offLoopback("nats://127.0.0.1:4222, tls://localhost:4223,[::1]:4224") != "" {
		t.Error("loopback servers counted as remote")
	}
}

func TestMonitorCertificateDoesItsWork(t *testing.T) {
	b := newBusCA(t)
	s := b.start(t, ServerOptions{MonitorScopes: map[string]MonitorScope{"mon-1": {Children: []string{"edge-1"}}}})
	ctx := context.Background()
	mon := b.mustDial(t, s, pki.RoleMonitor, "mon-1")
	if !mon.MayMakeStreams() {
		t.Error("a monitor's connection says it may not make streams")
	}
	if err := mon.EnsureStreams(ctx, StreamLimits{}); err != nil {
		t.Fatalf("monitor making the streams: %v", err)
	}
	r := event.Report{ID: "r1", Time: time.Now().UTC(), Monitor: "mon-1", Score: 1, Severity: event.SeverityRed, Host: "h"}
	if err := mon.PublishReport(ctx, "mon-1", &r); err != nil {
		t.Fatalf("monitor publishing its report: %v", err)
	}

	// It reads an agent's observations through a durable consumer.
	agent := b.mustDial(t, s, pki.RoleAgent, "host-a")
	if _, err := agent.PublishEvents(ctx, makeEvents(3, "host-a")); err != nil {
		t.Fatal(err)
	}
	cons, err := mon.JS.CreateOrUpdateConsumer(ctx, StreamObs, jetstream.ConsumerConfig{Durable: "mon-1_obs", AckPolicy: jetstream.AckAllPolicy})
	if err != nil {
		t.Fatalf("monitor making a consumer: %v", err)
	}
	batch, err := cons.FetchNoWait(10)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range batch.Messages() {
		n++
		if err := m.Ack(); err != nil {
			t.Fatalf("monitor acknowledging: %v", err)
		}
	}
	if n != 3 {
		t.Errorf("monitor read %d observations, want 3", n)
	}

	// It asks the agent's effector, which answers.
	sub, err := agent.NC.Subscribe(EffectSubject("host-a"), func(m *nats.Msg) { _ = m.Respond([]byte("done")) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := agent.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if reply, err := mon.Request(rctx, EffectSubject("host-a"), []byte("stop")); err != nil || string(reply) != "done" {
		t.Fatalf("effector request: %q, %v", reply, err)
	}
	// Configuration requests go to its children only, as itself; it
	// takes its own.
	if !mayPublish(t, mon, CtlSubject("edge-1", "mon-1")) {
		t.Error("monitor mon-1 may not ask its child edge-1")
	}
	if mayPublish(t, mon, CtlSubject("edge-2", "mon-1")) {
		t.Error("monitor mon-1 may ask edge-2, not its child")
	}
	if !maySubscribe(t, mon, CtlListenSubject("mon-1")) || maySubscribe(t, mon, CtlListenSubject("edge-1")) {
		t.Error("monitor mon-1 takes configuration requests other than its own")
	}
	// Another role's inbox of the same name is not its.
	if maySubscribe(t, mon, CertInboxPrefix(pki.RoleAgent, "mon-1")+".>") {
		t.Error("monitor mon-1 may read agent mon-1's replies")
	}
}

func TestOperatorCertificateReadsOnly(t *testing.T) {
	b := newBusCA(t)
	s := b.start(t, ServerOptions{})
	op := b.mustDial(t, s, pki.RoleOperator, "alice")
	if !maySubscribe(t, op, "vigil.report.>") || !maySubscribe(t, op, "vigil.obs.>") {
		t.Error("operator may not read reports and observations")
	}
	for _, subj := range []string{"vigil.obs.h", "vigil.report.m", "vigil.effect.h", "$JS.API.INFO"} {
		if mayPublish(t, op, subj) {
			t.Errorf("operator may publish on %s", subj)
		}
	}
	if maySubscribe(t, op, "vigil.effect.>") {
		t.Error("operator may read effector requests")
	}
}

func TestRevokedCertificateRefusedAfterOneRefresh(t *testing.T) {
	b := newBusCA(t)
	clk := clock.NewManual(time.Now())
	const refresh = time.Minute
	s := b.start(t, ServerOptions{Clock: clk, TLS: ServerTLS{CRLRefresh: refresh}})
	cert, key := b.issue(t, pki.RoleAgent, "host-a")
	opts := ClientOptions{URL: s.ClientURL(), CAFile: b.caFile(), CertFile: cert, KeyFile: key, ConnectTimeout: 2 * time.Second, Logger: testutil.Quiet()}
	agent := connect(t, opts)
	if _, err := b.ca.RevokeName("host-a"); err != nil {
		t.Fatal(err)
	}
	// Before the refresh the server still holds the old CRL.
	if c, err := Connect(context.Background(), opts); err != nil {
		t.Fatalf("refused before the CRL refresh: %v", err)
	} else {
		c.Close()
	}
	clk.Advance(refresh)
	deadline := time.Now().Add(5 * time.Second)
	for agent.NC.IsConnected() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if agent.NC.IsConnected() {
		t.Error("the revoked agent is still connected one CRL refresh after the revocation")
	}
	if c, err := Connect(context.Background(), opts); err == nil {
		c.Close()
		t.Error("a revoked certificate connected after the CRL refresh")
	}
	// Another agent's certificate is still admitted.
	b.mustDial(t, s, pki.RoleAgent, "host-b")
}

func TestCRLRequired(t *testing.T) {
	b := newBusCA(t)
	ctx := context.Background()
	tlsOK := ServerTLS{CertFile: b.serverCert, KeyFile: b.serverKey, ClientCAFile: b.caFile(), CRLFile: b.crlFile()}
	users := []User{{Name: "local", Password: "p"}}
	for name, o := range map[string]ServerOptions{
		"off loopback, CRL file missing": {Listen: "0.0.0.0:0", TLS: func() ServerTLS { x := tlsOK; x.CRLFile = filepath.Join(b.dir, "none.pem"); return x }()},
		"off loopback, no CRL":           {Listen: "0.0.0.0:0", TLS: func() ServerTLS { x := tlsOK; x.CRLFile = ""; return x }()},
		"off loopback, no client CA":     {Listen: "0.0.0.0:0", TLS: ServerTLS{CertFile: b.serverCert, KeyFile: b.serverKey}},
		"off loopback, no TLS":           {Listen: "0.0.0.0:0"},
		"client CA without a CRL":        {Listen: "127.0.0.1:0", TLS: func() ServerTLS { x := tlsOK; x.CRLFile = ""; return x }()},
	} {
		t.Run(name, func(t *testing.T) {
			o.StoreDir, o.Users, o.Logger = t.TempDir(), users, testutil.Quiet()
			if s, err := StartServer(ctx, o); err == nil {
				s.Shutdown()
				t.Fatal("started")
			}
		})
	}
	// With everything, off loopback starts.
	s, err := StartServer(ctx, ServerOptions{Listen: "0.0.0.0:0", TLS: tlsOK, Users: users, StoreDir: t.TempDir(), Logger: testutil.Quiet()})
	if err != nil {
		t.Fatalf("off loopback with mutual TLS and a CRL: %v", err)
	}
	s.Shutdown()

	// On loopback a missing CRL is not fatal, but every certificate is
	// refused until it is there.
	if err := os.Rename(b.crlFile(), b.crlFile()+".away"); err != nil {
		t.Fatal(err)
	}
	s = b.start(t, ServerOptions{})
	if c, err := b.dial(t, s, pki.RoleMonitor, "mon-1"); err == nil {
		c.Close()
		t.Error("a client connected while the server has no CRL")
	}
}

// TestClientChecksServerAgainstCRL: a client given the CRL admits only a
// server whose monitor certificate is not revoked, and none while it has
// no CRL.
func TestClientChecksServerAgainstCRL(t *testing.T) {
	b := newBusCA(t)
	s := b.start(t, ServerOptions{})
	cert, key := b.issue(t, pki.RoleAgent, "host-a")
	opts := ClientOptions{URL: s.ClientURL(), CAFile: b.caFile(), CertFile: cert, KeyFile: key, CRLFile: b.crlFile(), ConnectTimeout: 2 * time.Second, Logger: testutil.Quiet()}
	c := connect(t, opts)
	if !mayPublish(t, c, "vigil.obs.host-a") {
		t.Error("agent with a CRL refused its own subject")
	}

	missing := opts
	missing.CRLFile = filepath.Join(b.dir, "none.pem")
	if c, err := Connect(context.Background(), missing); err == nil {
		c.Close()
		t.Error("a client without its CRL admitted the server")
	} else if !strings.Contains(err.Error(), "no CRL") {
		t.Errorf("refused for another reason than the missing CRL: %v", err)
	}

	if _, err := b.ca.RevokeName("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if c, err := Connect(context.Background(), opts); err == nil {
		c.Close()
		t.Error("a client admitted a server whose certificate is revoked")
	} else if !strings.Contains(err.Error(), "revoked") {
		t.Errorf("refused for another reason than the revocation: %v", err)
	}
	noCA := opts
	noCA.CAFile = ""
	if _, err := Connect(context.Background(), noCA); err == nil {
		t.Error("a CRL without its CA accepted")
	}
}

// TestCertificateCtlSenders: on a bus with mutual TLS a monitor's
// certificate sends configuration requests only as itself, only to
// itself, its children and its peers, and probes only to its children;
// it listens only on its own subjects. Real server, real certificates,
// real requests answered by the receiving monitors.
func TestCertificateCtlSenders(t *testing.T) {
	b := newBusCA(t)
	s := b.start(t, ServerOptions{MonitorScopes: map[string]MonitorScope{
		"dom1": {Children: []string{"web1"}, Peers: []string{"dom2"}},
		"dom2": {Peers: []string{"dom1"}},
		"web1": {},
	}})
	dom1 := b.mustDial(t, s, pki.RoleMonitor, "dom1")
	dom2 := b.mustDial(t, s, pki.RoleMonitor, "dom2")
	web1 := b.mustDial(t, s, pki.RoleMonitor, "web1")

	// Each monitor answers on its own subjects, saying who asked (the
	// subject's last token).
	answer := func(c *Conn, subject string) {
		t.Helper()
		sub, err := c.NC.Subscribe(subject, func(m *nats.Msg) { _ = m.Respond([]byte("from " + m.Subject)) })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
		if err := c.NC.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		conn *Conn
		name string
	}{{dom1, "dom1"}, {dom2, "dom2"}, {web1, "web1"}} {
		answer(c.conn, CtlListenSubject(c.name))
		answer(c.conn, ProbeListenSubject(c.name))
	}
	ask := func(c *Conn, subject string) bool {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		reply, err := c.Request(ctx, subject, []byte("?"))
		if err == nil && string(reply) != "from "+subject {
			t.Errorf("%s answered %q", subject, reply)
		}
		return err == nil
	}
	for _, c := range []struct {
		who     string
		conn    *Conn
		subject string
		ok      bool
	}{
		{"dom1 its child", dom1, CtlSubject("web1", "dom1"), true},
		{"dom1 probes its child", dom1, ProbeSubject("web1", "dom1"), true},
		{"dom1 its peer", dom1, CtlSubject("dom2", "dom1"), true},
		{"dom1 itself", dom1, CtlSubject("dom1", "dom1"), true},
		{"dom1 probes its peer", dom1, ProbeSubject("dom2", "dom1"), false},
		{"dom1 as dom2 to web1", dom1, CtlSubject("web1", "dom2"), false},
		{"dom1 as web1 to itself", dom1, CtlSubject("dom1", "web1"), false},
		{"dom2 its peer", dom2, CtlSubject("dom1", "dom2"), true},
		{"dom2 a non-child", dom2, CtlSubject("web1", "dom2"), false},
		{"dom2 probes a non-child", dom2, ProbeSubject("web1", "dom2"), false},
		{"web1 its parent", web1, CtlSubject("dom1", "web1"), false},
		{"web1 as dom1 to dom2", web1, CtlSubject("dom2", "dom1"), false},
		{"web1 without a sender", web1, PrefixCtl + "dom1", false},
	} {
		if got := ask(c.conn, c.subject); got != c.ok {
			t.Errorf("%s (%s): answered %v, want %v", c.who, c.subject, got, c.ok)
		}
	}
	// No one listens in another's stead.
	for _, subj := range []string{CtlListenSubject("web1"), ProbeListenSubject("web1"), "vigil.ctl.>", "vigil.ctl.web1.dom1"} {
		if maySubscribe(t, dom1, subj) {
			t.Errorf("dom1 may listen on %s", subj)
		}
	}
}
