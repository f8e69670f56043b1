package bench

// `vigil bench resolver`: the figures of the resolver (docs/RESPONSES.md)
// in one run. The decision unit alone on one core, fed reports at a
// target rate, with each report's time from Offer to decided; a report's
// way from Offer through a decision unit in enforce mode, a process
// method, a real embedded bus and a real host effector to the effector's
// reply, signalling processes the bench started itself; and, as root, the
// nftables method adding and applying many blocks in a network namespace
// the bench made.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/effectmsg"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/resolver"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/resolver/effect"
	"github.com/vigil-ids/vigil/internal/resolver/firewall"
	"github.com/vigil-ids/vigil/internal/sensor/host/effector"
	"github.com/vigil-ids/vigil/internal/store"
)

// ResolverOptions configure `vigil bench resolver`.
type ResolverOptions struct {
	// Policies in the decision unit (default 100).
	Policies int
	// Rate is the reports offered a second (default 10,000), for
	// Duration (default 10 s).
	Rate     float64
	Duration time.Duration
	// Sources are the distinct source addresses the reports name
	// (default 4,096).
	Sources int
	// Actions are the process actions over the bus (default 200, at most
	// MaxResolverActions): each signals a process of its own.
	Actions int
	// NftAdd and NftApply are the addresses added and applied in
	// nftables (default 10,000 and 100,000); NoNftables skips that part.
	NftAdd, NftApply int
	NoNftables       bool
	// Dir holds the store and the bus's files (default: a temporary
	// directory, removed after).
	Dir      string
	Progress io.Writer
}

// maxSources are the addresses of 198.18.0.0/15, the reports' sources.
const maxSources = 1 << 17

// MaxResolverActions bounds Actions: each starts a process.
const MaxResolverActions = 2000

// ResolverEffectTarget is the target for a report's way to the
// effector's reply: p99 under 100 ms on one machine.
const ResolverEffectTarget = 100 * time.Millisecond

// The peer figure beside it: CrowdSec's firewall bouncer polls its API for
// new decisions every update_frequency, 10 s by default.
const (
	PeerPollSeconds = 10
	PeerPollSource  = "CrowdSec firewall bouncer, update_frequency default 10s (https://docs.crowdsec.net/u/bouncers/firewall/)"
)

// Latency summarises times, in microseconds.
type Latency struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50_us"`
	P99  float64 `json:"p99_us"`
	Max  float64 `json:"max_us"`
	Mean float64 `json:"mean_us"`
}

func summarise(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(math.Ceil(q*float64(len(s))))-1)] }
	return Latency{N: len(s), P50: us(at(0.50)), P99: us(at(0.99)), Max: us(s[len(s)-1]), Mean: us(sum / time.Duration(len(s)))}
}

// ResolverDecide is the decision unit alone.
type ResolverDecide struct {
	Policies   int     `json:"policies"`
	Sources    int     `json:"sources"`
	TargetRate float64 `json:"target_reports_per_s"`
	Seconds    float64 `json:"seconds"`
	Offered    int     `json:"offered"`
	// Decided are the reports decided on (the Decided hook ran), Dropped
	// those Offer could not queue.
	Decided uint64 `json:"decided"`
	Dropped uint64 `json:"dropped"`
	// Rate is the reports decided on a second, from the first Offer to
	// the last decision; OfferedRate those offered a second, from the
	// first Offer to the last (below the target when the machine could
	// not even offer them on time).
	Rate        float64 `json:"reports_per_s"`
	OfferedRate float64 `json:"offered_per_s"`
	// KeptUp: nothing dropped and Rate within 2% of the target.
	KeptUp bool `json:"kept_up"`
	// Latency is from Offer to the report decided on.
	Latency Latency `json:"latency"`
	// Decisions by status, and the rows in the store.
	Decisions map[string]uint64 `json:"decisions"`
	Stored    int               `json:"stored"`
	// StoreWrites are the store writes the unit waited for: a decision
	// executed or planned, or a batch of suppressed and refused ones.
	StoreWrites Latency `json:"store_writes"`
}

// ResolverEffect is a report's way to the effector.
type ResolverEffect struct {
	Actions int `json:"actions"`
	// Done are the decisions executed; Acknowledged the effector's
	// replies that said done; EffectorDone what the effector counted.
	Done         int    `json:"done"`
	Acknowledged int    `json:"acknowledged"`
	EffectorDone uint64 `json:"effector_done"`
	// Reply is from Offer to the effector's reply; Decided from Offer to
	// the decision recorded.
	Reply   Latency `json:"offer_to_reply"`
	Decided Latency `json:"offer_to_decided"`
	Met     bool    `json:"target_met"`
	// PeerSeconds is the peer's figure, PeerSource where it comes from.
	PeerSeconds float64 `json:"peer_seconds"`
	PeerSource  string  `json:"peer_source"`
}

// ResolverNft is the nftables part.
type ResolverNft struct {
	// Skipped says why the part did not run.
	Skipped string `json:"skipped,omitempty"`
	// Execute is NftAdd decisions' Execute, one after another (each its
	// own transaction, as the decision unit acts).
	ExecuteN       int     `json:"execute_n"`
	ExecuteSeconds float64 `json:"execute_seconds"`
	ExecuteEach    float64 `json:"execute_us_each"`
	// Add is NftAdd blocks in force applied to an empty set in one
	// transaction (Reconcile, as at a start); Apply NftApply of them.
	AddN         int     `json:"add_n"`
	AddSeconds   float64 `json:"add_seconds"`
	ApplyN       int     `json:"apply_n"`
	ApplySeconds float64 `json:"apply_seconds"`
	// CheckSeconds is a second Reconcile of the applied set, which lists
	// it and finds every block in place; InPlace what each check found.
	CheckSeconds float64 `json:"check_seconds"`
	InPlace      []int   `json:"in_place"`
}

// ResolverResult is the whole run.
type ResolverResult struct {
	Decide ResolverDecide `json:"decide"`
	Effect ResolverEffect `json:"effect"`
	Nft    ResolverNft    `json:"nftables"`
	// Load averages (1 minute) at the start and the end.
	LoadStart float64 `json:"load_start"`
	LoadEnd   float64 `json:"load_end"`
}

// RunResolver runs the three parts.
func RunResolver(ctx context.Context, o ResolverOptions) (ResolverResult, error) {
	if o.Policies <= 0 {
		o.Policies = 100
	}
	if o.Rate <= 0 {
		o.Rate = 10_000
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Sources <= 0 {
		o.Sources = 4096
	}
	if o.Actions <= 0 {
		o.Actions = 200
	}
	if o.Actions > MaxResolverActions {
		return ResolverResult{}, fmt.Errorf("--actions %d: at most %d (each starts a process)", o.Actions, MaxResolverActions)
	}
	if o.Sources > maxSources {
		return ResolverResult{}, fmt.Errorf("--sources %d: at most %d (the addresses of 198.18.0.0/15)", o.Sources, maxSources)
	}
	if o.NftAdd <= 0 {
		o.NftAdd = 10_000
	}
	if o.NftApply <= 0 {
		o.NftApply = 100_000
	}
	if o.NftAdd > 1<<22 || o.NftApply > 1<<22 {
		return ResolverResult{}, fmt.Errorf("nftables sizes: at most %d addresses", 1<<22)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "vigil-bench-resolver-")
		if err != nil {
			return ResolverResult{}, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	var res ResolverResult
	res.LoadStart = loadAvg()
	var err error
	fmt.Fprintf(o.Progress, "decision unit: %d policies, %.0f reports/s for %v, one core\n", o.Policies, o.Rate, o.Duration)
	if res.Decide, err = benchDecide(ctx, filepath.Join(dir, "decide"), o); err != nil {
		return res, fmt.Errorf("decision unit: %w", err)
	}
	fmt.Fprintf(o.Progress, "  %d offered (%.0f/s), %d decided on, %d dropped, %.0f reports/s; Offer to decided p50 %.0f µs, p99 %.0f µs, max %.0f µs\n",
		res.Decide.Offered, res.Decide.OfferedRate, res.Decide.Decided, res.Decide.Dropped, res.Decide.Rate, res.Decide.Latency.P50, res.Decide.Latency.P99, res.Decide.Latency.Max)
	fmt.Fprintf(o.Progress, "  decisions %v, %d stored; %d store writes waited for, p50 %.0f µs, p99 %.0f µs, max %.0f µs\n",
		res.Decide.Decisions, res.Decide.Stored, res.Decide.StoreWrites.N, res.Decide.StoreWrites.P50, res.Decide.StoreWrites.P99, res.Decide.StoreWrites.Max)
	fmt.Fprintf(o.Progress, "report -> effector over the bus: %d process actions (CONT to sleep processes this run started)\n", o.Actions)
	if res.Effect, err = benchEffect(ctx, filepath.Join(dir, "effect"), o); err != nil {
		return res, fmt.Errorf("effector: %w", err)
	}
	fmt.Fprintf(o.Progress, "  %d done, %d acknowledged; Offer to reply p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		res.Effect.Done, res.Effect.Acknowledged, res.Effect.Reply.P50/1e3, res.Effect.Reply.P99/1e3, res.Effect.Reply.Max/1e3)
	if o.NoNftables {
		res.Nft.Skipped = "--no-nftables"
	} else {
		fmt.Fprintf(o.Progress, "nftables: %d decisions executed, %d and %d blocks applied, in network namespaces of this run\n", o.NftAdd, o.NftAdd, o.NftApply)
		res.Nft = benchNft(ctx, o)
	}
	if res.Nft.Skipped != "" {
		fmt.Fprintf(o.Progress, "  skipped: %s\n", res.Nft.Skipped)
	} else {
		fmt.Fprintf(o.Progress, "  execute %d: %.2f s (%.0f µs each); add %d: %.3f s; apply %d: %.3f s; check: %.3f s\n",
			res.Nft.ExecuteN, res.Nft.ExecuteSeconds, res.Nft.ExecuteEach, res.Nft.AddN, res.Nft.AddSeconds, res.Nft.ApplyN, res.Nft.ApplySeconds, res.Nft.CheckSeconds)
	}
	res.LoadEnd = loadAvg()
	return res, nil
}

// WriteSummary writes the figures against their targets.
func (r ResolverResult) WriteSummary(w io.Writer) error {
	d, e, n := r.Decide, r.Effect, r.Nft
	kept := "kept up"
	if !d.KeptUp {
		kept = "did not keep up"
	}
	fmt.Fprintf(w, "decision unit, one core: %.0f of %.0f reports/s (%s, %d dropped), p99 %.0f µs\n", d.Rate, d.TargetRate, kept, d.Dropped, d.Latency.P99)
	verdict := "met"
	if !e.Met {
		verdict = "not met"
	}
	fmt.Fprintf(w, "report -> effector reply: p50 %.2f ms, p99 %.2f ms (target p99 < %v: %s); peer: %.0f s (%s)\n",
		e.Reply.P50/1e3, e.Reply.P99/1e3, ResolverEffectTarget, verdict, e.PeerSeconds, e.PeerSource)
	if e.Reply.P99 > 0 {
		fmt.Fprintf(w, "peer's poll interval / our p99: %.0fx\n", e.PeerSeconds*1e6/e.Reply.P99)
	}
	var err error
	if n.Skipped != "" {
		_, err = fmt.Fprintf(w, "nftables: skipped (%s)\n", n.Skipped)
	} else {
		_, err = fmt.Fprintf(w, "nftables: add %d in %.3f s, apply %d in %.3f s, %d decisions one by one in %.2f s\n",
			n.AddN, n.AddSeconds, n.ApplyN, n.ApplySeconds, n.ExecuteN, n.ExecuteSeconds)
	}
	return err
}

var quietLog = slog.New(slog.DiscardHandler)

// loadAvg is the 1-minute load average (0 when unknown).
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// newUnit loads a resource object with reg's kinds and builds its
// decision unit on a store in dir.
func newUnit(ctx context.Context, dir, yaml string, reg *action.Registry, deps action.Deps, decided func(event.Report, []resolver.Decision)) (*resolver.Unit, *timedAudit, error) {
	if err := resolver.Register(reg); err != nil {
		return nil, nil, err
	}
	ro, err := config.Load([]byte(yaml), "bench.yaml", config.Registries{Responses: reg})
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(ctx, store.Options{Path: filepath.Join(dir, "vigil.db"), Logger: quietLog})
	if err != nil {
		return nil, nil, err
	}
	deps.Monitor, deps.Logger = "bench", quietLog
	methods, err := resolver.BuildMethods(ctx, reg, ro.Responses, deps)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	audit := &timedAudit{Store: st}
	u, err := resolver.NewUnit(resolver.UnitOptions{
		Monitor: "bench", Config: ro.Resolver, Methods: methods, Audit: audit, Logger: quietLog,
		QueueSize: 4096, Decided: decided,
	})
	if err != nil {
		_ = resolver.CloseMethods(methods)
		st.Close()
		return nil, nil, err
	}
	if err := u.Start(ctx); err != nil {
		u.Close()
		st.Close()
		return nil, nil, err
	}
	return u, audit, nil
}

// timedAudit is the store as the decision unit's audit, timing the
// writes the unit waits for (each decision executed or planned, and the
// batches of suppressed and refused ones).
type timedAudit struct {
	*store.Store
	mu     sync.Mutex
	writes []time.Duration
}

func (a *timedAudit) note(t0 time.Time) {
	d := time.Since(t0)
	a.mu.Lock()
	a.writes = append(a.writes, d)
	a.mu.Unlock()
}

func (a *timedAudit) PutResponse(ctx context.Context, r store.Response) error {
	defer a.note(time.Now())
	return a.Store.PutResponse(ctx, r)
}

func (a *timedAudit) PutResponses(ctx context.Context, rs []store.Response) error {
	defer a.note(time.Now())
	return a.Store.PutResponses(ctx, rs)
}

func (a *timedAudit) times() []time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.writes)
}

// reportSeq reads back the sequence number a bench report's id carries.
func reportSeq(id string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(id, "bench-"))
	return n, err == nil
}

// benchDecide offers reports at the target rate to a decision unit of
// o.Policies policies, on one core: policy i takes the reports of rule i
// with severity yellow or red, counting 5 a minute per source address,
// and runs the log method (its lines discarded) in enforce mode under the
// default budget, so that most decisions are suppressed and recorded in
// batches; each report matches one policy.
func benchDecide(ctx context.Context, dir string, o ResolverOptions) (ResolverDecide, error) {
	var y strings.Builder
	y.WriteString("monitor: {name: bench}\nresponses:\n  - {kind: log, name: log, level: info}\nresolver:\n  mode: enforce\n  policies:\n")
	for i := range o.Policies {
		fmt.Fprintf(&y, "    - {name: p%d, where: {engine: signatures, model: rule-%d, severity: [yellow, red]}, count: 5, within: 1m, subject: \"addr:src\", methods: [log]}\n", i, i)
	}
	total := int(o.Rate * o.Duration.Seconds())
	if total < 1 {
		total = 1
	}
	offered := make([]time.Time, total)
	lat := make([]time.Duration, total)
	var decided atomic.Uint64
	var last atomic.Int64
	hook := func(rep event.Report, _ []resolver.Decision) {
		if i, ok := reportSeq(rep.ID); ok && i < total {
			now := time.Now()
			lat[i] = now.Sub(offered[i])
			last.Store(now.UnixNano())
		}
		decided.Add(1)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return ResolverDecide{}, err
	}
	u, st, err := newUnit(ctx, dir, y.String(), action.NewRegistry(), action.Deps{}, hook)
	if err != nil {
		return ResolverDecide{}, err
	}
	defer st.Close()
	defer u.Close()
	// A pool of reports: source j, rule j mod policies.
	pool := make([]event.Report, o.Sources)
	for j := range pool {
		src := netip.AddrFrom4([4]byte{198, 18 + byte(j>>16&1), byte(j >> 8), byte(j)}).String()
		pool[j] = event.Report{
			Monitor: "bench", Engine: "signatures", Model: fmt.Sprintf("rule-%d", j%o.Policies),
			Host: "10.0.0.3", IP: "10.0.0.3", Score: 0.9, Severity: event.SeverityRed, State: "alert", Explanation: "bench report",
			Attrs: map[string]any{"src": src, "dst": "10.0.0.3", resolver.AttrSrcVerified: true},
		}
	}
	ids := make([]string, total)
	for i := range ids {
		ids[i] = "bench-" + strconv.Itoa(i)
	}

	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	rctx, cancel := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { _ = u.Run(rctx); close(ran) }()
	stopRun := func() { cancel(); <-ran }
	defer stopRun()

	start := time.Now()
	for sent := 0; sent < total; {
		if err := ctx.Err(); err != nil {
			return ResolverDecide{}, err
		}
		due := min(total, int(time.Since(start).Seconds()*o.Rate)+1)
		for ; sent < due; sent++ {
			rep := pool[sent%len(pool)]
			now := time.Now()
			rep.ID, rep.Time = ids[sent], now
			offered[sent] = now
			u.Offer(rep)
		}
		time.Sleep(200 * time.Microsecond)
	}
	offeredAll := time.Now()
	// Wait for the queue to drain.
	for decided.Load()+u.Dropped() < uint64(total) {
		if time.Since(offeredAll) > 60*time.Second {
			return ResolverDecide{}, fmt.Errorf("%d of %d reports decided on a minute after the last was offered", decided.Load(), total)
		}
		time.Sleep(time.Millisecond)
	}
	stopRun()
	runtime.GOMAXPROCS(prev)
	u.Flush(ctx)
	res := ResolverDecide{
		Policies: o.Policies, Sources: o.Sources, TargetRate: o.Rate, Offered: total,
		Decided: decided.Load(), Dropped: u.Dropped(), Decisions: map[string]uint64{},
	}
	end := time.Unix(0, last.Load())
	res.Seconds = end.Sub(start).Seconds()
	if res.Seconds > 0 {
		res.Rate = float64(res.Decided) / res.Seconds
	}
	if sp := offered[total-1].Sub(start).Seconds(); sp > 0 {
		res.OfferedRate = float64(total-1) / sp
	}
	res.KeptUp = res.Dropped == 0 && res.Rate >= 0.98*o.Rate
	var ls []time.Duration
	for _, d := range lat {
		if d > 0 { // decided on (a dropped report has none)
			ls = append(ls, d)
		}
	}
	res.Latency = summarise(ls)
	for _, s := range resolver.Statuses {
		if n := u.Decisions(s); n > 0 {
			res.Decisions[s] = n
		}
	}
	res.StoreWrites = summarise(st.times())
	if res.Stored, err = st.CountResponses(ctx, store.ResponseFilter{}); err != nil {
		return res, fmt.Errorf("count the decisions stored: %w", err)
	}
	return res, nil
}

// child is a process the bench started: named as the effector names it.
type child struct {
	cmd   *exec.Cmd
	pid   int
	start uint64
	exe   string
}

// startSleep starts `sleep SECONDS` and reads its start time and
// executable once it has exec'd.
func startSleep(seconds int) (*child, error) {
	self, _ := os.Readlink("/proc/self/exe")
	cmd := exec.Command("sleep", strconv.Itoa(seconds))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sleep: %w", err)
	}
	c := &child{cmd: cmd, pid: cmd.Process.Pid}
	dir := filepath.Join("/proc", strconv.Itoa(c.pid))
	deadline := time.Now().Add(5 * time.Second)
	for {
		exe, err := os.Readlink(filepath.Join(dir, "exe"))
		if err == nil && exe != self {
			c.exe = exe
			break
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("sleep (pid %d) did not exec within 5 s", c.pid)
		}
		time.Sleep(time.Millisecond)
	}
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		c.stop()
		return nil, err
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 20 {
		c.stop()
		return nil, fmt.Errorf("/proc/%d/stat: too few fields", c.pid)
	}
	if c.start, err = strconv.ParseUint(f[22-3], 10, 64); err != nil {
		c.stop()
		return nil, fmt.Errorf("/proc/%d/stat: start time: %w", c.pid, err)
	}
	return c, nil
}

func (c *child) stop() {
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}

// benchEffect sends o.Actions reports, one at a time, through a decision
// unit in enforce mode whose policy runs a process method (CONT) on the
// process each report names; the method asks a real effector over a real
// embedded bus, the monitor and the agent each connected with its own
// identity. Each report names a sleep process of its own, started here:
// the effector acts once per request id, and the method's id is the
// decision's key (its process). The policy names a unit because the
// loader asks a process method's policy for every part the kind may act
// on (a unit for restarts too); a signal does not use it.
func benchEffect(ctx context.Context, dir string, o ResolverOptions) (ResolverEffect, error) {
	res := ResolverEffect{Actions: o.Actions, PeerSeconds: PeerPollSeconds, PeerSource: PeerPollSource}
	monID, senID, err := bus.LocalIdentities(filepath.Join(dir, "bus"))
	if err != nil {
		return res, err
	}
	sctx, scancel := context.WithTimeout(ctx, 15*time.Second)
	srv, err := bus.StartServer(sctx, bus.ServerOptions{
		Listen: "127.0.0.1:0", StoreDir: filepath.Join(dir, "jetstream"), Logger: quietLog,
		Users: []bus.User{bus.MonitorIdentity(monID), bus.SensorIdentity(senID)},
	})
	scancel()
	if err != nil {
		return res, err
	}
	defer srv.Shutdown()
	agentConn, err := bus.Connect(ctx, bus.ClientOptions{URL: srv.ClientURL(), Name: "bench-agent", User: senID.User, Password: senID.Password, Logger: quietLog})
	if err != nil {
		return res, fmt.Errorf("agent's connection: %w", err)
	}
	defer agentConn.Close()
	monConn, err := bus.Connect(ctx, bus.ClientOptions{URL: srv.ClientURL(), Name: "bench-monitor", User: monID.User, Password: monID.Password, Logger: quietLog})
	if err != nil {
		return res, fmt.Errorf("monitor's connection: %w", err)
	}
	defer monConn.Close()

	const host = "bench-host"
	ec := config.DefaultAgentEffector()
	ec.Enabled, ec.Budgets = true, nil
	eff, err := effector.New(effector.Options{Host: host, Config: ec, Logger: quietLog})
	if err != nil {
		return res, err
	}
	ectx, ecancel := context.WithCancel(ctx)
	served := make(chan struct{})
	go func() { _ = eff.Serve(ectx, agentConn.NC); close(served) }()
	defer func() { ecancel(); <-served }()
	ready := time.Now().Add(10 * time.Second)
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := monConn.Request(rctx, bus.EffectSubject(host), []byte("{}"))
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(ready) {
			return res, fmt.Errorf("the effector does not answer on %s: %w", bus.EffectSubject(host), err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The processes acted on: started here, killed at the end.
	children := make([]*child, 0, o.Actions)
	defer func() {
		for _, c := range children {
			c.stop()
		}
	}()
	byPID := map[int]int{}
	for i := range o.Actions {
		c, err := startSleep(600)
		if err != nil {
			return res, err
		}
		children = append(children, c)
		byPID[c.pid] = i
	}

	// The monitor's request function, noting when each reply came.
	replied := make([]time.Time, o.Actions)
	acked := make([]bool, o.Actions)
	var mu sync.Mutex
	request := func(ctx context.Context, subject string, data []byte) ([]byte, error) {
		out, err := monConn.Request(ctx, subject, data)
		at := time.Now()
		if err != nil {
			return out, err
		}
		req, derr := effectmsg.DecodeRequest(data)
		rep, rerr := effectmsg.DecodeReply(out)
		if derr == nil && rerr == nil && req.Process != nil {
			mu.Lock()
			if i, ok := byPID[req.Process.PID]; ok {
				replied[i] = at
				acked[i] = rep.Status == effectmsg.StatusDone
			}
			mu.Unlock()
		}
		return out, err
	}
	yaml := fmt.Sprintf(`monitor: {name: bench}
responses:
  - {kind: process, name: cont, action: CONT, timeout: 5s}
resolver:
  mode: enforce
  budgets:
    cont: {count: %d, per: 1h}
  policies:
    - {name: wake, where: {engine: bench, state: stopped}, subject: process, methods: [cont]}
`, o.Actions+1)
	decidedAt := make(chan time.Time, 1)
	var last []resolver.Decision
	hook := func(_ event.Report, ds []resolver.Decision) {
		last = ds
		decidedAt <- time.Now()
	}
	reg := action.NewRegistry()
	if err := effect.Register(reg); err != nil {
		return res, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, err
	}
	u, st, err := newUnit(ctx, dir, yaml, reg, action.Deps{Request: request}, hook)
	if err != nil {
		return res, err
	}
	defer st.Close()
	defer u.Close()
	rctx, cancel := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { _ = u.Run(rctx); close(ran) }()
	defer func() { cancel(); <-ran }()

	var toReply, toDecided []time.Duration
	for i, c := range children {
		rep := event.Report{
			ID: "bench-" + strconv.Itoa(i), Time: time.Now(), Monitor: "bench", Engine: "bench", Model: "stopped-process",
			Host: host, Score: 1, Severity: event.SeverityRed, State: "stopped", Explanation: "bench report",
			Attrs: map[string]any{"pid": int64(c.pid), resolver.AttrProcessStart: int64(c.start), "exe": c.exe, "name": "sleep"},
		}
		t0 := time.Now()
		u.Offer(rep)
		var at time.Time
		select {
		case at = <-decidedAt:
		case <-time.After(30 * time.Second):
			return res, fmt.Errorf("report %d not decided on within 30 s", i)
		case <-ctx.Done():
			return res, ctx.Err()
		}
		if len(last) != 1 {
			return res, fmt.Errorf("report %d made %d decisions, want 1", i, len(last))
		}
		if last[0].Status != store.StatusDone {
			return res, fmt.Errorf("report %d: decision %s: %s", i, last[0].Status, last[0].Reason)
		}
		res.Done++
		toDecided = append(toDecided, at.Sub(t0))
		mu.Lock()
		if !replied[i].IsZero() {
			toReply = append(toReply, replied[i].Sub(t0))
		}
		if acked[i] {
			res.Acknowledged++
		}
		mu.Unlock()
	}
	res.EffectorDone = eff.Count(effectmsg.ActionSignal, "done")
	res.Reply, res.Decided = summarise(toReply), summarise(toDecided)
	res.Met = res.Acknowledged == o.Actions && res.Reply.N == o.Actions && time.Duration(res.Reply.P99*1e3) < ResolverEffectTarget
	return res, nil
}

// newNetns makes a network namespace of this process's own and returns
// its file: the namespace lives while the file is open, and nothing else
// runs in it. Its path for the nftables settings is /proc/PID/fd/FD.
func newNetns() (*os.File, error) {
	type made struct {
		f   *os.File
		err error
	}
	ch := make(chan made, 1)
	go func() {
		// Locked and never unlocked: the thread that entered the new
		// namespace ends with this goroutine.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- made{nil, fmt.Errorf("unshare a network namespace: %w", err)}
			return
		}
		f, err := os.Open(fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid()))
		ch <- made{f, err}
	}()
	m := <-ch
	return m.f, m.err
}

// nftAddrs are n distinct IPv4 addresses in 100.64.0.0/10.
func nftAddrs(n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for k := range out {
		out[k] = netip.AddrFrom4([4]byte{100, 64 + byte(k>>16&0x3f), byte(k >> 8), byte(k)})
	}
	return out
}

var inPlace = regexp.MustCompile(`: (\d+) block\(s\) in place`)

// nftMethod builds an nftables method acting in a new namespace, the
// table made; done closes both.
func nftMethod(ctx context.Context) (m *firewall.Nftables, done func(), err error) {
	ns, err := newNetns()
	if err != nil {
		return nil, nil, err
	}
	s := firewall.NftablesSettings{
		Table: firewall.DefaultTable, Input: true, Forward: true, Priority: firewall.DefaultPriority,
		// The namespace has no flows: ending them would time only an
		// empty conntrack dump.
		Conntrack: false, MinPrefix4: firewall.DefaultMinPrefix4, MinPrefix6: firewall.DefaultMinPrefix6,
		Netns: fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), ns.Fd()),
	}
	m, err = firewall.NewNftables(s, action.Deps{Name: "block", Logger: quietLog})
	if err != nil {
		ns.Close()
		return nil, nil, err
	}
	done = func() { m.Close(); ns.Close() }
	if _, err := m.Reconcile(ctx, nil); err != nil {
		done()
		return nil, nil, err
	}
	return m, done, nil
}

// blocks are n blocks in force for an hour, as the store would hand them
// to Reconcile.
func blocks(addrs []netip.Addr, now time.Time) []action.Active {
	out := make([]action.Active, len(addrs))
	for i, a := range addrs {
		out[i] = action.Active{Request: action.Request{
			ID: "bench-" + strconv.Itoa(i), Method: "block", Kind: firewall.KindNftables, Key: "block|" + a.String(),
			Subject: action.Subject{Addr: a}, Time: now, Expires: now.Add(time.Hour),
		}}
	}
	return out
}

// benchNft times the nftables method, as root, in network namespaces of
// its own: NftAdd decisions executed one after another; NftAdd blocks
// applied to an empty set in one transaction; NftApply of them; and a
// check that lists the applied set and finds every block in place.
func benchNft(ctx context.Context, o ResolverOptions) ResolverNft {
	var r ResolverNft
	if os.Geteuid() != 0 {
		r.Skipped = "needs root (nftables and network namespaces)"
		return r
	}
	fail := func(what string, err error) ResolverNft {
		return ResolverNft{Skipped: fmt.Sprintf("%s: %v", what, err)}
	}
	// Decisions one by one, as the decision unit executes them.
	m, done, err := nftMethod(ctx)
	if err != nil {
		return fail("nftables in a new network namespace", err)
	}
	addrs := nftAddrs(max(o.NftAdd, o.NftApply))
	now := time.Now()
	t0 := time.Now()
	for i, a := range addrs[:o.NftAdd] {
		req := action.Request{ID: "bench-" + strconv.Itoa(i), Method: "block", Kind: firewall.KindNftables, Key: "block|" + a.String(),
			Subject: action.Subject{Addr: a}, Time: now, Expires: time.Now().Add(time.Hour)}
		if _, err := m.Execute(ctx, req); err != nil {
			done()
			return fail(fmt.Sprintf("execute decision %d", i), err)
		}
	}
	r.ExecuteN, r.ExecuteSeconds = o.NftAdd, time.Since(t0).Seconds()
	r.ExecuteEach = r.ExecuteSeconds * 1e6 / float64(o.NftAdd)
	n, err := check(ctx, m, blocks(addrs[:o.NftAdd], now))
	done()
	if err != nil {
		return fail("check the executed blocks", err)
	}
	r.InPlace = append(r.InPlace, n)
	// Blocks in force applied in one transaction.
	for _, size := range []int{o.NftAdd, o.NftApply} {
		m, done, err := nftMethod(ctx)
		if err != nil {
			return fail("nftables in a new network namespace", err)
		}
		act := blocks(addrs[:size], time.Now())
		t0 := time.Now()
		if _, err := m.Reconcile(ctx, act); err != nil {
			done()
			return fail(fmt.Sprintf("apply %d blocks", size), err)
		}
		took := time.Since(t0).Seconds()
		t1 := time.Now()
		n, err := check(ctx, m, act)
		checked := time.Since(t1).Seconds()
		done()
		if err != nil {
			return fail(fmt.Sprintf("check %d blocks", size), err)
		}
		r.InPlace = append(r.InPlace, n)
		if size == o.NftAdd && r.AddN == 0 {
			r.AddN, r.AddSeconds = size, took
		} else {
			r.ApplyN, r.ApplySeconds, r.CheckSeconds = size, took, checked
		}
	}
	return r
}

// check reconciles act again: nothing may change, and it says how many
// blocks it found in place.
func check(ctx context.Context, m *firewall.Nftables, act []action.Active) (int, error) {
	what, err := m.Reconcile(ctx, act)
	if err != nil {
		return 0, err
	}
	mm := inPlace.FindStringSubmatch(what)
	if mm == nil || !strings.Contains(what, "nothing changed") {
		return 0, fmt.Errorf("reconcile found the set changed: %s", what)
	}
	n, _ := strconv.Atoi(mm[1])
	if n != len(act) {
		return n, errors.New("reconcile found " + mm[1] + " blocks in place, want " + strconv.Itoa(len(act)))
	}
	return n, nil
}
