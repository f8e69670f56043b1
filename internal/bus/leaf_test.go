package bus

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/pki"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// hubLeafAddr is host:port of a server's leaf listener.
func hubLeafAddr(t *testing.T, s *Server) string {
	t.Helper()
	u, err := url.Parse(s.LeafURL())
	if err != nil || u.Host == "" {
		t.Fatalf("leaf URL %q: %v", s.LeafURL(), err)
	}
	return u.Host
}

// startHub starts an enterprise bus accepting leaf nodes on loopback.
func startHub(t *testing.T, b *busCA, o ServerOptions) *Server {
	t.Helper()
	o.Name = "vigil-ent"
	o.JetStreamDomain = "ent"
	o.Leaf = LeafOptions{Listen: "127.0.0.1:0"}
	return b.start(t, o)
}

// startSite starts a domain's bus (domain dom1) that dials addr as a leaf
// node with a monitor certificate of role for name.
func startSite(t *testing.T, b *busCA, addr string, role pki.Role, name string, c clock.Clock) *Server {
	t.Helper()
	cert, key := b.issue(t, role, name)
	return startServer(t, ServerOptions{
		Name: "vigil-" + name, JetStreamDomain: "dom1", Clock: c,
		Users: []User{{Name: "local", Password: "local-secret"}},
		Leaf: LeafOptions{ReconnectWait: 100 * time.Millisecond, Remotes: []LeafRemote{{
			URLs: []string{"nats-leaf://" + addr}, CAFile: b.caFile(), CertFile: cert, KeyFile: key, CRLFile: b.crlFile(),
		}}},
	})
}

func linked(s *Server) bool { return len(s.LeafLinks()) > 0 }

// reportCounter counts the reports a consumer receives, by id.
type reportCounter struct {
	mu   sync.Mutex
	seen map[string]int
}

func (r *reportCounter) handle(m *Msg) {
	ev, err := event.DecodeCompact(m.Data)
	r.mu.Lock()
	if err == nil {
		r.seen[ev.ID]++
	} else {
		r.seen["undecodable"]++
	}
	r.mu.Unlock()
	_ = m.Ack()
}

func (r *reportCounter) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func publishReports(t *testing.T, c *Conn, from, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := from; i < from+n; i++ {
		r := event.Report{ID: fmt.Sprintf("r%04d", i), Time: time.Now().UTC(), Monitor: "dom1", Engine: "e", Score: 0.5, Severity: event.SeverityYellow, Host: "h"}
		if err := c.PublishReport(ctx, "dom1", &r); err != nil {
			t.Fatal(err)
		}
	}
}

// ackFloor is the stream sequence a consumer of the reports has every
// message acknowledged up to.
func ackFloor(t *testing.T, c *Conn, consumer string) uint64 {
	t.Helper()
	cons, err := c.JS.Consumer(context.Background(), StreamReports, consumer)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.AckFloor.Stream
}

func streamMsgs(t *testing.T, c *Conn, stream string) uint64 {
	t.Helper()
	s, err := c.JS.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// A monitor above consumes a domain's reports from the domain's own
// stream, through the leaf link, with a durable consumer that lives at
// the domain: while the link is cut the domain keeps storing, and once it
// is back every report arrives, each once. The enterprise's own stream
// never stores the domain's reports.
func TestLeafDurableConsumptionAcrossACut(t *testing.T) {
	b := newBusCA(t)
	hub := startHub(t, b, ServerOptions{})
	link := testutil.StartProxy(t, hubLeafAddr(t, hub))
	site := startSite(t, b, link.Addr(), pki.RoleMonitor, "dom1", nil)
	testutil.WaitFor(t, 10*time.Second, "the leaf link", func() bool { return linked(site) && linked(hub) })

	siteConn, hubConn := local(t, site), local(t, hub)
	ctx := context.Background()
	for _, c := range []*Conn{siteConn, hubConn} {
		if err := c.EnsureStreams(ctx, StreamLimits{}); err != nil {
			t.Fatal(err)
		}
	}
	got := &reportCounter{seen: map[string]int{}}
	sub, err := hubConn.ConsumeDurable(ctx, DurableOptions{Name: "ent_sub_dom1", Subjects: []string{ReportSubject("dom1")}, Domain: "dom1", Takeover: true}, got.handle)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()

	publishReports(t, siteConn, 0, 50)
	testutil.WaitFor(t, 10*time.Second, "the reports before the cut", func() bool { return got.distinct() == 50 })
	// Their acknowledgements reach the domain before the cut (one lost
	// with the link would rightly have its report delivered again).
	testutil.WaitFor(t, 10*time.Second, "the acknowledgements at the domain", func() bool { return ackFloor(t, siteConn, "ent_sub_dom1") == 50 })

	link.Cut()
	testutil.WaitFor(t, 10*time.Second, "the domain to notice the cut", func() bool { return !linked(site) })
	publishReports(t, siteConn, 50, 50)
	time.Sleep(500 * time.Millisecond)
	if n := got.distinct(); n != 50 {
		t.Fatalf("%d reports arrived while the link was cut, want the 50 from before", n)
	}
	link.Restore()
	back := time.Now()
	testutil.WaitFor(t, 30*time.Second, "the reports published during the cut", func() bool { return got.distinct() == 100 })
	t.Logf("caught up %v after the link was restored", time.Since(back).Round(time.Millisecond))

	time.Sleep(300 * time.Millisecond) // a doubled delivery would show by now
	got.mu.Lock()
	for id, n := range got.seen {
		if n != 1 {
			t.Errorf("report %s delivered %d times", id, n)
		}
	}
	got.mu.Unlock()
	if n := streamMsgs(t, siteConn, StreamReports); n != 100 {
		t.Errorf("the domain's stream holds %d reports, want 100", n)
	}
	if n := streamMsgs(t, hubConn, StreamReports); n != 0 {
		t.Errorf("the enterprise's own stream holds %d of the domain's reports, want none (stored once, at the domain)", n)
	}
}

// Only a monitor's certificate of Vigil's CA, not revoked, joins as a
// leaf node.
func TestLeafRefusesOtherCertificates(t *testing.T) {
	b := newBusCA(t)
	hub := startHub(t, b, ServerOptions{})
	addr := hubLeafAddr(t, hub)

	agent := startSite(t, b, addr, pki.RoleAgent, "host-a", nil)

	other := newBusCA(t)
	cert, key := other.issue(t, pki.RoleMonitor, "dom9")
	foreign := startServer(t, ServerOptions{
		Name: "vigil-dom9", JetStreamDomain: "dom9", Users: []User{{Name: "local", Password: "local-secret"}},
		Leaf: LeafOptions{ReconnectWait: 100 * time.Millisecond, Remotes: []LeafRemote{{
			// It trusts the hub's CA, but presents another CA's certificate.
			URLs: []string{"nats-leaf://" + addr}, CAFile: b.caFile(), CertFile: cert, KeyFile: key, CRLFile: b.crlFile(),
		}}},
	})

	revokedCert, revokedKey := b.issue(t, pki.RoleMonitor, "dom2")
	if _, err := b.ca.RevokeName("dom2"); err != nil {
		t.Fatal(err)
	}
	hub2 := startHub(t, b, ServerOptions{}) // reads the CRL with dom2 on it
	revoked := startServer(t, ServerOptions{
		Name: "vigil-dom2", JetStreamDomain: "dom2", Users: []User{{Name: "local", Password: "local-secret"}},
		Leaf: LeafOptions{ReconnectWait: 100 * time.Millisecond, Remotes: []LeafRemote{{
			URLs: []string{"nats-leaf://" + hubLeafAddr(t, hub2)}, CAFile: b.caFile(), CertFile: revokedCert, KeyFile: revokedKey, CRLFile: b.crlFile(),
		}}},
	})

	// A good one joins, so the others had the time to.
	good := startSite(t, b, addr, pki.RoleMonitor, "dom1", nil)
	testutil.WaitFor(t, 10*time.Second, "the monitor's leaf link", func() bool { return linked(good) })
	time.Sleep(time.Second)
	for name, s := range map[string]*Server{"an agent's certificate": agent, "another CA's certificate": foreign, "a revoked certificate": revoked} {
		if linked(s) {
			t.Errorf("a leaf with %s joined", name)
		}
	}
	if n := len(hub.LeafLinks()); n != 1 {
		t.Errorf("the hub has %d leaf links, want the monitor's only", n)
	}
	if linked(hub2) {
		t.Error("the hub that read the CRL admitted the revoked leaf")
	}
}

// A leaf whose certificate is revoked while it is joined is cut off at
// the next CRL refresh, and not admitted again.
func TestLeafRevokedWhileJoined(t *testing.T) {
	b := newBusCA(t)
	clk := clock.NewManual(time.Now())
	const refresh = time.Minute
	hub := startHub(t, b, ServerOptions{Clock: clk, TLS: ServerTLS{CRLRefresh: refresh}})
	site := startSite(t, b, hubLeafAddr(t, hub), pki.RoleMonitor, "dom1", nil)
	testutil.WaitFor(t, 10*time.Second, "the leaf link", func() bool { return linked(hub) })
	if _, err := b.ca.RevokeName("dom1"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(refresh)
	testutil.WaitFor(t, 10*time.Second, "the revoked leaf to be cut off", func() bool { return !linked(hub) })
	time.Sleep(time.Second) // it keeps dialling
	if linked(hub) || linked(site) {
		t.Error("the revoked leaf joined again")
	}
}

// The server refuses leaf settings that would open a door: a leaf
// listener without mutual TLS, a remote without a certificate, a remote
// off loopback without the CRL, a URL of another scheme.
func TestLeafOptionsRefused(t *testing.T) {
	b := newBusCA(t)
	cert, key := b.issue(t, pki.RoleMonitor, "dom1")
	cases := map[string]ServerOptions{
		"listener without mutual TLS":  {Leaf: LeafOptions{Listen: "127.0.0.1:0"}},
		"remote without a certificate": {Leaf: LeafOptions{Remotes: []LeafRemote{{URLs: []string{"nats-leaf://127.0.0.1:7422"}, CAFile: b.caFile()}}}},
		"remote off loopback without the CRL": {Leaf: LeafOptions{Remotes: []LeafRemote{{
			URLs: []string{"nats-leaf://192.0.2.1:7422"}, CAFile: b.caFile(), CertFile: cert, KeyFile: key}}}},
		"remote URL of another scheme": {Leaf: LeafOptions{Remotes: []LeafRemote{{
			URLs: []string{"http://127.0.0.1:7422"}, CAFile: b.caFile(), CertFile: cert, KeyFile: key}}}},
		"remote URL with credentials": {Leaf: LeafOptions{Remotes: []LeafRemote{{
			URLs: []string{"nats-leaf://u:p@127.0.0.1:7422"}, CAFile: b.caFile(), CertFile: cert, KeyFile: key}}}},
	}
	for name, o := range cases {
		o.Listen = "127.0.0.1:0"
		o.StoreDir = filepath.Join(t.TempDir(), "js")
		o.Users = []User{{Name: "local", Password: "x"}}
		o.Logger = testutil.Quiet()
		s, err := StartServer(context.Background(), o)
		if err == nil {
			s.Shutdown()
			t.Errorf("%s: started", name)
			continue
		}
		if len(err.Error()) < 20 {
			t.Errorf("%s: unclear error %q", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
}

// A link that fails silently swallows what the domain sends into it
// before either side notices; those reports count there as delivered.
// The consumer above notices the silence, and once the link is back it
// resumes from the last report it acknowledged: the swallowed reports
// arrive, even though reports published after the link came back are
// acknowledged first.
func TestLeafSilentFailureLosesNothing(t *testing.T) {
	b := newBusCA(t)
	hub := startHub(t, b, ServerOptions{})
	link := testutil.StartProxy(t, hubLeafAddr(t, hub))
	site := startSite(t, b, link.Addr(), pki.RoleMonitor, "dom1", nil)
	testutil.WaitFor(t, 10*time.Second, "the leaf link", func() bool { return linked(site) && linked(hub) })
	siteConn, hubConn := local(t, site), local(t, hub)
	ctx := context.Background()
	for _, c := range []*Conn{siteConn, hubConn} {
		if err := c.EnsureStreams(ctx, StreamLimits{}); err != nil {
			t.Fatal(err)
		}
	}
	got := &reportCounter{seen: map[string]int{}}
	sub, err := hubConn.ConsumeDurable(ctx, DurableOptions{Name: "ent_sub_dom1", Subjects: []string{ReportSubject("dom1")}, Domain: "dom1", Takeover: true}, got.handle)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	publishReports(t, siteConn, 0, 10)
	testutil.WaitFor(t, 10*time.Second, "the first reports", func() bool { return got.distinct() == 10 })

	link.Blackhole()
	publishReports(t, siteConn, 10, 40) // sent into the link, swallowed
	time.Sleep(time.Second)
	link.Cut() // both ends see the link go
	testutil.WaitFor(t, 20*time.Second, "both ends to see the link lost", func() bool { return !linked(site) && !linked(hub) })
	link.Restore()
	testutil.WaitFor(t, 20*time.Second, "the link back", func() bool { return linked(site) && linked(hub) })
	publishReports(t, siteConn, 50, 10)
	back := time.Now()
	testutil.WaitFor(t, 30*time.Second, "every report", func() bool { return got.distinct() == 60 })
	t.Logf("every report within %v of the last publish", time.Since(back).Round(time.Millisecond))
	got.mu.Lock()
	defer got.mu.Unlock()
	for i := 0; i < 60; i++ {
		if id := fmt.Sprintf("r%04d", i); got.seen[id] == 0 {
			t.Errorf("report %s lost", id)
		}
	}
}

// A monitor above starts while its domain is out of reach (the link not
// up yet): it starts all the same, and consumes the domain's reports once
// the link is up, from the first.
func TestLeafConsumerStartsBeforeTheLink(t *testing.T) {
	b := newBusCA(t)
	hub := startHub(t, b, ServerOptions{})
	link := testutil.StartProxy(t, hubLeafAddr(t, hub))
	link.Cut()
	site := startSite(t, b, link.Addr(), pki.RoleMonitor, "dom1", nil)
	siteConn, hubConn := local(t, site), local(t, hub)
	ctx := context.Background()
	for _, c := range []*Conn{siteConn, hubConn} {
		if err := c.EnsureStreams(ctx, StreamLimits{}); err != nil {
			t.Fatal(err)
		}
	}
	got := &reportCounter{seen: map[string]int{}}
	began := time.Now()
	sub, err := hubConn.ConsumeDurable(ctx, DurableOptions{Name: "ent_sub_dom1", Subjects: []string{ReportSubject("dom1")}, Domain: "dom1", Takeover: true}, got.handle)
	if err != nil {
		t.Fatalf("a consumer of an unreachable domain: %v, want it started, consuming once the domain answers", err)
	}
	defer sub.Stop()
	if d := time.Since(began); d > domainTimeout+time.Second {
		t.Errorf("starting took %v", d)
	}
	publishReports(t, siteConn, 0, 20)
	link.Restore()
	testutil.WaitFor(t, 20*time.Second, "the reports once the link is up", func() bool { return got.distinct() == 20 })
}

// FuzzParseLeafURL: any text is refused or accepted without a panic, and
// an accepted URL is a leaf port: nats-leaf or tls, a host, a port, no
// credentials.
func FuzzParseLeafURL(f *testing.F) {
	for _, s := range []string{"nats-leaf://10.0.0.1:7422", "tls://hub.example:7422", "nats://h:1", "nats-leaf://u:p@h:1", "nats-leaf://h", "", "tls://[::1]:7422/x?y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseLeafURL(s)
		if err != nil {
			return
		}
		if u.Scheme != "nats-leaf" && u.Scheme != "tls" || u.Hostname() == "" || u.Port() == "" || u.User != nil {
			t.Errorf("accepted %q as %+v", s, u)
		}
	})
}

// Across the link pass the monitors' requests, probes, heartbeats and
// replies, both ways; observations, reports and effector requests pass
// neither way.
func TestLeafCarriesOnlyMonitorTraffic(t *testing.T) {
	b := newBusCA(t)
	hub := startHub(t, b, ServerOptions{})
	site := startSite(t, b, hubLeafAddr(t, hub), pki.RoleMonitor, "dom1", nil)
	testutil.WaitFor(t, 10*time.Second, "the leaf link", func() bool { return linked(site) && linked(hub) })
	siteConn, hubConn := local(t, site), local(t, hub)

	// received collects what a side's core subscription to ">" gets.
	type received struct {
		mu   sync.Mutex
		subj map[string]bool
	}
	listen := func(c *Conn) *received {
		r := &received{subj: map[string]bool{}}
		sub, err := c.NC.Subscribe(">", func(m *nats.Msg) {
			r.mu.Lock()
			r.subj[m.Subject] = true
			r.mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
		if err := c.NC.Flush(); err != nil {
			t.Fatal(err)
		}
		return r
	}
	atHub, atSite := listen(hubConn), listen(siteConn)
	time.Sleep(300 * time.Millisecond) // the interest crosses the link

	pass := []string{"vigil.hb.dom1", "vigil.ctl.ent.dom1", "vigil.probe.ent.dom1", "_INBOX.x.y"}
	stay := []string{"vigil.obs.web-1", "vigil.live.web-1", "vigil.cv.web-1", "vigil.report.dom1", "vigil.effect.web-1", "vigil.agentctl.web-1", "$JS.API.INFO"}
	for _, dir := range []struct {
		name string
		from *Conn
		to   *received
	}{{"site to enterprise", siteConn, atHub}, {"enterprise to site", hubConn, atSite}} {
		for _, r := range []*received{atHub, atSite} { // each side also hears itself
			r.mu.Lock()
			r.subj = map[string]bool{}
			r.mu.Unlock()
		}
		for _, s := range append(append([]string{}, pass...), stay...) {
			if err := dir.from.NC.Publish(s, []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		if err := dir.from.NC.Flush(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		dir.to.mu.Lock()
		for _, s := range pass {
			if !dir.to.subj[s] {
				t.Errorf("%s: %s did not cross", dir.name, s)
			}
		}
		for _, s := range stay {
			if dir.to.subj[s] {
				t.Errorf("%s: %s crossed", dir.name, s)
			}
		}
		dir.to.mu.Unlock()
	}

	// A probe from the enterprise is answered by the domain.
	sub, err := siteConn.NC.Subscribe(ProbeListenSubject("dom1"), func(m *nats.Msg) { _ = m.Respond([]byte("tracks")) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = siteConn.NC.Flush()
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if reply, err := hubConn.Request(ctx, ProbeSubject("dom1", "ent"), []byte("?")); err != nil || string(reply) != "tracks" {
		t.Errorf("a probe across the link: %q, %v", reply, err)
	}
}

// docs/BUS.md's "Sites as leaf nodes" names every subject a leaf link
// carries and every one a site keeps to itself.
func TestLeafPermissionsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/BUS.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "## Sites as leaf nodes")
	if !ok {
		t.Fatal("docs/BUS.md has no section \"Sites as leaf nodes\"")
	}
	for _, s := range append(append(append([]string{}, leafExports...), leafImports...), leafDenied...) {
		if !strings.Contains(section, "`"+s+"`") {
			t.Errorf("docs/BUS.md's leaf section does not name `%s`", s)
		}
	}
}

// A link that stalls (its cable pulled, the connections kept open) holds
// what both ends sent into it and delivers it late, when it comes back:
// pull requests of a consumer the monitor above has given up on reach the
// domain then, and the domain delivers reports to them that nobody
// receives. Stalls of random lengths, some ending with the link back and
// some with it lost and dialled again, at random moments relative to the
// reports and to the consumer's heartbeats: every report reaches the
// monitor above, and none is acknowledged without having been received.
func TestLeafStallsLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("stalls the link for tens of seconds")
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 19))
	b := newBusCA(t)
	hub := startHub(t, b, ServerOptions{})
	link := testutil.StartProxy(t, hubLeafAddr(t, hub))
	site := startSite(t, b, link.Addr(), pki.RoleMonitor, "dom1", nil)
	testutil.WaitFor(t, 10*time.Second, "the leaf link", func() bool { return linked(site) && linked(hub) })
	consumerLog := &lockedBuffer{}
	siteConn := local(t, site)
	hubConn := connect(t, ClientOptions{Embedded: hub, User: "local", Password: "local-secret", Logger: slog.New(slog.NewTextHandler(consumerLog, nil))})
	ctx := context.Background()
	for _, c := range []*Conn{siteConn, hubConn} {
		if err := c.EnsureStreams(ctx, StreamLimits{}); err != nil {
			t.Fatal(err)
		}
	}
	got := &reportCounter{seen: map[string]int{}}
	sub, err := hubConn.ConsumeDurable(ctx, DurableOptions{Name: "ent_sub_dom1", Subjects: []string{ReportSubject("dom1")}, Domain: "dom1", Takeover: true}, got.handle)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	defer func() {
		if t.Failed() {
			t.Logf("the consumer's log:\n%s", consumerLog.String())
		}
	}()

	// Reports come one or a few at a time, at random moments, all along:
	// often around one stall, seldom around the next.
	published := 0
	var sparse atomic.Bool
	stopPub, pubDone := make(chan struct{}), make(chan struct{})
	pubRng := rand.New(rand.NewPCG(uint64(seed), 20))
	go func() {
		defer close(pubDone)
		for {
			select {
			case <-stopPub:
				return
			case <-time.After(time.Duration(20+pubRng.IntN(map[bool]int{false: 600, true: 2500}[sparse.Load()])) * time.Millisecond):
			}
			for n := 1 + pubRng.IntN(3); n > 0; n-- {
				r := event.Report{ID: fmt.Sprintf("r%04d", published), Time: time.Now().UTC(), Monitor: "dom1", Engine: "e", Score: 0.5, Severity: event.SeverityYellow, Host: "h"}
				if err := siteConn.PublishReport(ctx, "dom1", &r); err != nil {
					t.Errorf("publishing report %s at the domain: %v", r.ID, err)
					return
				}
				published++
			}
		}
	}()
	end := time.Now().Add(22 * time.Second)
	for i := 0; time.Now().Before(end); i++ {
		time.Sleep(time.Duration(100+rng.IntN(1000)) * time.Millisecond)
		stall := time.Duration(3000+rng.IntN(9000)) * time.Millisecond
		lost := rng.IntN(3) == 0
		sparse.Store(i%2 == 1)
		if i == 0 {
			// Long enough for the consumer to miss its heartbeats, short
			// enough for the link to outlive it.
			stall, lost = 7*time.Second, false
		}
		t.Logf("stall %d: %v, then the link %s", i, stall, map[bool]string{false: "back", true: "lost and dialled again"}[lost])
		link.Stall()
		time.Sleep(stall)
		if lost {
			link.Cut()
			testutil.WaitFor(t, 20*time.Second, "both ends to see the link lost", func() bool { return !linked(site) && !linked(hub) })
		}
		link.Restore()
		testutil.WaitFor(t, 20*time.Second, "the link up", func() bool { return linked(site) && linked(hub) })
	}
	close(stopPub)
	<-pubDone
	back := time.Now()
	testutil.WaitFor(t, 45*time.Second, fmt.Sprintf("every one of the %d reports", published), func() bool { return got.distinct() >= published })
	t.Logf("%d reports, every one within %v of the last publish", published, time.Since(back).Round(time.Millisecond))
	got.mu.Lock()
	defer got.mu.Unlock()
	again := 0
	for i := 0; i < published; i++ {
		id := fmt.Sprintf("r%04d", i)
		if got.seen[id] == 0 {
			t.Errorf("report %s lost", id)
		}
		again += got.seen[id] - 1
	}
	if len(got.seen) != published {
		t.Errorf("%d distinct reports received, %d published", len(got.seen), published)
	}
	t.Logf("%d deliveries again of reports received already (recognised by id above)", again)
	if n := strings.Count(consumerLog.String(), "durable consumer resumed"); n == 0 {
		t.Errorf("the consumer never resumed after a stall: the stalls did not test it")
	} else {
		t.Logf("the consumer resumed %d times", n)
	}
}

// lockedBuffer collects log lines written from any goroutine.
type lockedBuffer = testutil.LockedBuffer

// Reports made just as a stalled link comes back, and then none for a
// while: the consumer above has given up on its run during the stall, and
// that run's pull requests, held by the link, reach the domain with the
// first bytes through; the domain hands them the reports, for nobody.
// Each report arrives all the same, without waiting for another report
// to show that one is missing.
func TestLeafReportsAsAStalledLinkComesBack(t *testing.T) {
	seed := time.Now().UnixNano()
	after := time.Duration(rand.New(rand.NewPCG(uint64(seed), 21)).IntN(2000)) * time.Millisecond
	t.Logf("seed %d: reports %v after the link is back", seed, after)
	b := newBusCA(t)
	hub := startHub(t, b, ServerOptions{})
	link := testutil.StartProxy(t, hubLeafAddr(t, hub))
	site := startSite(t, b, link.Addr(), pki.RoleMonitor, "dom1", nil)
	testutil.WaitFor(t, 10*time.Second, "the leaf link", func() bool { return linked(site) && linked(hub) })
	consumerLog := &lockedBuffer{}
	siteConn := local(t, site)
	hubConn := connect(t, ClientOptions{Embedded: hub, User: "local", Password: "local-secret", Logger: slog.New(slog.NewTextHandler(consumerLog, nil))})
	ctx := context.Background()
	for _, c := range []*Conn{siteConn, hubConn} {
		if err := c.EnsureStreams(ctx, StreamLimits{}); err != nil {
			t.Fatal(err)
		}
	}
	got := &reportCounter{seen: map[string]int{}}
	sub, err := hubConn.ConsumeDurable(ctx, DurableOptions{Name: "ent_sub_dom1", Subjects: []string{ReportSubject("dom1")}, Domain: "dom1", Takeover: true}, got.handle)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	defer func() {
		if t.Failed() {
			t.Logf("the consumer's log:\n%s", consumerLog.String())
		}
	}()
	publishReports(t, siteConn, 0, 2)
	testutil.WaitFor(t, 10*time.Second, "the first reports", func() bool { return got.distinct() == 2 })
	link.Stall() // long enough for the consumer to miss its heartbeats
	time.Sleep(7 * time.Second)
	link.Restore()
	time.Sleep(after)
	publishReports(t, siteConn, 2, 1)
	testutil.WaitFor(t, 8*time.Second, "the report made as the link came back", func() bool { return got.distinct() == 3 })
}
