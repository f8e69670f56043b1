package bench

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/engine/signature"
	"github.com/vigil-ids/vigil/internal/event"
)

// SignatureOptions configure `vigil bench signature`.
type SignatureOptions struct {
	// Rules is how many rules are generated and compiled (default 1,000):
	// 70% matches, 20% thresholds, 10% sequences.
	Rules int
	// Events is how many events each phase handles (default 2,000,000).
	Events int
	// Pool is how many distinct events are generated beforehand and
	// cycled (default 1,000,000).
	Pool int
	// Keys is how many distinct outside addresses the events come from or
	// go to: the group keys of the thresholds (default 100,000).
	Keys int
	// EventRate is how many events a second of event time holds: the
	// simulated clock (default 100,000).
	EventRate float64
	// MaxGroups and MaxInstances are the engine's bounds per rule (0: the
	// engine's defaults).
	MaxGroups, MaxInstances int
	// Seed makes the rules and events (default 1).
	Seed uint64
	// CPUProfile, when set, is where the engine phase's CPU profile goes.
	CPUProfile string
	Progress   io.Writer
}

func (o *SignatureOptions) defaults() {
	if o.Rules <= 0 {
		o.Rules = 1000
	}
	if o.Events <= 0 {
		o.Events = 2_000_000
	}
	if o.Pool <= 0 {
		o.Pool = 1_000_000
	}
	if o.Keys <= 0 {
		o.Keys = 100_000
	}
	if o.EventRate <= 0 {
		o.EventRate = 100_000
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// SigPhase is one measurement of the signature benchmark, on one core.
type SigPhase struct {
	Name    string  `json:"name"`
	Events  int     `json:"events"`
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"events_per_s"`
	// PeakHeapMB is the largest heap (live and not yet collected) above
	// what was held before the phase, sampled every 65,536 events.
	PeakHeapMB float64 `json:"peak_heap_mb"`
	// RetainedMB is the live heap after the phase and a collection above
	// what was held before it: what the engine keeps.
	RetainedMB float64 `json:"retained_heap_mb"`
}

// SigReports counts reports by the kind of rule that made them.
type SigReports struct {
	Match     uint64 `json:"match"`
	Threshold uint64 `json:"threshold"`
	Sequence  uint64 `json:"sequence"`
	// Rules is how many distinct rules reported.
	Rules int `json:"rules"`
}

// SignatureResult is one run.
type SignatureResult struct {
	Rules          int     `json:"rules"`
	MatchRules     int     `json:"match_rules"`
	ThresholdRules int     `json:"threshold_rules"`
	SequenceRules  int     `json:"sequence_rules"`
	CompileSeconds float64 `json:"compile_seconds"`
	Pool           int     `json:"pool"`
	MsgBytes       float64 `json:"mean_msg_bytes"`
	Keys           int     `json:"keys"`
	// Sources is how many distinct src values the pool holds.
	Sources int `json:"distinct_sources"`
	// EventSeconds is the event time one phase covers.
	EventSeconds float64    `json:"event_seconds"`
	CPUs         int        `json:"cpus"`
	Go           string     `json:"go"`
	Phases       []SigPhase `json:"phases"`
	// Engine and Reports are of the engine phase.
	Engine  signature.Stats `json:"engine"`
	Reports SigReports      `json:"reports"`
	// Ratio is the engine's rate over the monitor's decode-only rate;
	// MonitorRatio the rate of decoding and the engine together over
	// decoding alone.
	Ratio float64 `json:"engine_to_decode"`
	// EngineRate and DecodeRate are the engine's and decoding's events
	// per second on one core.
	EngineRate float64 `json:"engine_events_per_s"`
	DecodeRate float64 `json:"decode_events_per_s"`
	// EngineInMonitorRate is the engine's rate inside the monitor's loop:
	// events over the time decoding and the engine together took beyond
	// decoding alone.
	EngineInMonitorRate float64 `json:"engine_in_monitor_events_per_s"`
	MonitorRatio        float64 `json:"decode_and_engine_to_decode"`
}

// Phase names.
const (
	sigDecode = "decode only (monitor reference)"
	sigEngine = "signature engine"
	sigBoth   = "decode + signature engine"
)

// RunSignature generates the rules and the events, compiles the rules,
// and measures on one core: decoding the events from the bus's compact
// form (the monitor's decode-only rate), the engine handling decoded
// events, and both together as a monitor does them.
func RunSignature(o SignatureOptions) (SignatureResult, error) {
	o.defaults()
	res := SignatureResult{Rules: o.Rules, Pool: o.Pool, Keys: o.Keys, CPUs: runtime.NumCPU(), Go: runtime.Version()}

	text, kinds := genRules(o.Rules, o.Seed)
	t0 := time.Now()
	rs, err := signature.Parse("bench-rules.yaml", []byte(text), signature.Options{})
	if err != nil {
		return res, fmt.Errorf("generated rules: %w", err)
	}
	res.CompileSeconds = time.Since(t0).Seconds()
	if got := len(rs.Rules); got != o.Rules {
		return res, fmt.Errorf("%d rules compiled of %d generated", got, o.Rules)
	}
	for _, k := range kinds {
		switch k {
		case "match":
			res.MatchRules++
		case "threshold":
			res.ThresholdRules++
		case "sequence":
			res.SequenceRules++
		}
	}

	pool, sources := genEvents(o.Pool, o.Keys, o.EventRate, o.Seed)
	res.Sources = sources
	// The events as the bus carries them. The generated ones are dropped:
	// the decoding phases run with a heap like a monitor's, not beside a
	// pool of a million decoded events.
	wire := make([][]byte, len(pool))
	buf := make([]byte, 0, 256*len(pool))
	for i := range pool {
		start := len(buf)
		buf = pool[i].AppendCompact(buf)
		wire[i] = buf[start:len(buf):len(buf)]
	}
	res.MsgBytes = float64(len(buf)) / float64(len(pool))
	first := pool[0].Time
	pool = nil
	lap := time.Duration(float64(len(wire)) / o.EventRate * float64(time.Second))
	res.EventSeconds = float64(o.Events) / o.EventRate
	fmt.Fprintf(o.Progress, "%d rules (%d match, %d threshold, %d sequence) compiled in %.2f s; %d events in the pool (%.0f bytes compact), %d distinct src values (%d outside keys); %.0f s of event time a phase; %d CPUs, %s\n",
		res.Rules, res.MatchRules, res.ThresholdRules, res.SequenceRules, res.CompileSeconds, len(wire), res.MsgBytes,
		res.Sources, o.Keys, res.EventSeconds, res.CPUs, res.Go)
	fmt.Fprintf(o.Progress, "%-40s %9s %7s %12s %14s %14s\n", "phase (one core)", "events", "s", "events/s", "peak heap MB", "retained MB")

	limits := signature.Limits{MaxGroups: o.MaxGroups, MaxInstances: o.MaxInstances}
	kindOf := make(map[string]string, len(rs.Rules))
	for i, r := range rs.Rules {
		kindOf[r.ID] = kinds[i]
	}
	quiet := slog.New(slog.DiscardHandler)
	discard := func(event.Report) {}

	// Decode only: what the monitor does with each message before any
	// engine sees it.
	var sink int
	decode := sigMeasure(sigDecode, o.Events, func(n int) error {
		ev, err := event.DecodeCompact(wire[n%len(wire)])
		if err != nil {
			return err
		}
		sink += len(ev.Attrs)
		return nil
	})
	if decode.err != nil {
		return res, decode.err
	}
	res.Phases = append(res.Phases, decode.SigPhase)
	fmt.Fprintln(o.Progress, decode.SigPhase.String())

	// Decoding and the engine together, as the monitor runs them: each
	// event a fresh decode, which the engine may keep in its state; each
	// lap of the pool later in event time than the one before.
	e := signature.New(rs, limits, quiet)
	clk := newSimClock(first)
	var off time.Duration
	both := sigMeasure(sigBoth, o.Events, func(n int) error {
		i := n % len(wire)
		if i == 0 && n > 0 {
			off += lap
		}
		ev, err := event.DecodeCompact(wire[i])
		if err != nil {
			return err
		}
		ev.Time = ev.Time.Add(off)
		clk.tick(e, ev.Time, discard)
		e.Handle(&ev, discard)
		return nil
	})
	if both.err != nil {
		return res, both.err
	}
	runtime.KeepAlive(e)
	res.Phases = append(res.Phases, both.SigPhase)
	fmt.Fprintln(o.Progress, both.SigPhase.String())
	if both.Seconds > decode.Seconds {
		res.EngineInMonitorRate = float64(o.Events) / (both.Seconds - decode.Seconds)
	}
	fmt.Fprintf(o.Progress, "%-40s %9d %7.2f %12.0f\n", "  engine's share of it (both - decode)", o.Events, both.Seconds-decode.Seconds, res.EngineInMonitorRate)

	// The engine alone, over events decoded beforehand.
	pool = make([]event.Event, len(wire))
	for i := range wire {
		if pool[i], err = event.DecodeCompact(wire[i]); err != nil {
			return res, err
		}
	}
	e = signature.New(rs, limits, quiet)
	reported := map[string]bool{}
	emit := func(r event.Report) {
		switch kindOf[r.Model] {
		case "match":
			res.Reports.Match++
		case "threshold":
			res.Reports.Threshold++
		case "sequence":
			res.Reports.Sequence++
		}
		reported[r.Model] = true
	}
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return res, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return res, err
		}
	}
	clk = newSimClock(first)
	eng := sigMeasure(sigEngine, o.Events, func(n int) error {
		i := n % len(pool)
		if i == 0 && n > 0 {
			for j := range pool {
				pool[j].Time = pool[j].Time.Add(lap)
			}
		}
		ev := &pool[i]
		clk.tick(e, ev.Time, emit)
		e.Handle(ev, emit)
		return nil
	})
	if o.CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	res.Engine = e.Stats()
	res.Reports.Rules = len(reported)
	res.Phases = append(res.Phases, eng.SigPhase)
	fmt.Fprintln(o.Progress, eng.SigPhase.String())
	runtime.KeepAlive(pool)

	st := res.Engine
	fmt.Fprintf(o.Progress, "engine state: %d threshold groups (%d evicted), %d sequence instances (%d evicted, %d expired), %d suppression keys\n",
		st.Groups, st.GroupsEvicted, st.Instances, st.InstancesEvicted, st.ExpiredInstances, st.SuppressKeys)
	fmt.Fprintf(o.Progress, "reports: %d (match %d, threshold %d, sequence %d) from %d rules; %d suppressed\n",
		st.Reports, res.Reports.Match, res.Reports.Threshold, res.Reports.Sequence, res.Reports.Rules, st.Suppressed)
	res.EngineRate, res.DecodeRate = eng.Rate, decode.Rate
	res.Ratio = eng.Rate / decode.Rate
	res.MonitorRatio = both.Rate / decode.Rate
	_ = sink
	return res, nil
}

func (p SigPhase) String() string {
	return fmt.Sprintf("%-40s %9d %7.2f %12.0f %14.1f %14.1f", p.Name, p.Events, p.Seconds, p.Rate, p.PeakHeapMB, p.RetainedMB)
}

type sigRun struct {
	SigPhase
	err error
}

// measure runs step for n events on one core, sampling the heap, and
// collects garbage before and after.
func sigMeasure(name string, n int, step func(int) error) sigRun {
	r := sigRun{SigPhase: SigPhase{Name: name, Events: n}}
	runtime.GC()
	base := heapAlloc()
	prev := runtime.GOMAXPROCS(1)
	var ms runtime.MemStats
	var peak uint64
	start := time.Now()
	for i := range n {
		if err := step(i); err != nil {
			r.err = fmt.Errorf("%s: event %d: %w", name, i, err)
			break
		}
		if i&0xffff == 0xffff {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	el := time.Since(start)
	runtime.GOMAXPROCS(prev)
	runtime.GC()
	r.Seconds = el.Seconds()
	r.Rate = float64(n) / el.Seconds()
	if peak > base {
		r.PeakHeapMB = mb(peak - base)
	}
	if after := heapAlloc(); after > base {
		r.RetainedMB = mb(after - base)
	}
	return r
}

func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

// simClock ticks the engine every second of event time, as the monitor
// ticks its engines every second of its clock.
type simClock struct{ next time.Time }

func newSimClock(t time.Time) *simClock {
	return &simClock{next: t.Truncate(time.Second).Add(time.Second)}
}

func (c *simClock) tick(e *signature.Engine, now time.Time, emit func(event.Report)) {
	if now.Before(c.next) {
		return
	}
	e.Tick(now, emit)
	c.next = now.Truncate(time.Second).Add(time.Second)
}

// ---- The events --------------------------------------------------------

// sigEventGen makes events shaped like the network sensor's records and
// the host sensor's process events.
type sigEventGen struct {
	r       *rand.Rand
	ids     event.IDSource
	ext     []string // outside addresses: the keys
	servers []string // inside servers
	clients []string // inside clients
	hosts   []string // agents' hosts
	hostIPs []string
	seen    map[string]struct{}
	perm    []int // the order of the keys taken in turn
	turn    int
}

// extAddr is the k-th outside address: distinct for distinct k, spread
// over a few public /8s.
func extAddr(k int) string {
	firsts := [...]int{23, 31, 45, 62, 77, 89, 91, 103, 109, 141, 176, 185, 193, 212, 217}
	low := (uint32(k/len(firsts)) * 2654435761) & 0xffffff
	return fmt.Sprintf("%d.%d.%d.%d", firsts[k%len(firsts)], low>>16, low>>8&0xff, low&0xff)
}

// genEvents makes n events, rate of them a second, and counts the
// distinct sources among them.
func genEvents(n, keys int, rate float64, seed uint64) ([]event.Event, int) {
	g := &sigEventGen{r: rand.New(rand.NewPCG(seed, 0x5157)), ids: event.NewSeededIDs(seed), seen: map[string]struct{}{}}
	for k := range keys {
		g.ext = append(g.ext, extAddr(k))
	}
	g.perm = g.r.Perm(keys)
	for i := range 2000 {
		g.servers = append(g.servers, fmt.Sprintf("10.0.%d.%d", i/250, i%250+1))
	}
	for i := range 4000 {
		g.clients = append(g.clients, fmt.Sprintf("10.1.%d.%d", i/250, i%250+1))
	}
	for i := range 500 {
		g.hosts = append(g.hosts, fmt.Sprintf("host-%03d", i))
		g.hostIPs = append(g.hostIPs, fmt.Sprintf("10.2.%d.%d", i/250, i%250+1))
	}
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	out := make([]event.Event, n)
	for i := range out {
		t := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		out[i] = g.next(t)
		if s, ok := out[i].Attrs["src"].(string); ok {
			g.seen[s] = struct{}{}
		}
	}
	return out, len(g.seen)
}

// pick returns one of items, weighted.
func pick[T any](r *rand.Rand, items []T, weights []int) T {
	total := 0
	for _, w := range weights {
		total += w
	}
	x := r.IntN(total)
	for i, w := range weights {
		if x < w {
			return items[i]
		}
		x -= w
	}
	return items[len(items)-1]
}

func (g *sigEventGen) one(s []string) string { return s[g.r.IntN(len(s))] }

// outside picks an outside address: 40% from the busiest 1%, the rest
// each in turn (shuffled), so that a pool of a few times the keys holds
// them all.
func (g *sigEventGen) outside() string {
	if g.r.IntN(10) < 4 {
		return g.ext[g.r.IntN(max(len(g.ext)/100, 1))]
	}
	g.turn++
	return g.ext[g.perm[g.turn%len(g.perm)]]
}

var (
	sigTypes       = []string{"NET.CONN", "NET.DNS", "NET.HTTP", "NET.ICMP", "NET.FTP", "NET.SMTP", "NET.PROBE", "NET.BANNER", "NET.SUMMARY", "PROC.SPAWN", "PROC.TERM"}
	sigTypeWeights = []int{40, 15, 15, 7, 3, 2, 2, 1, 2, 8, 5}
	popularPorts   = []int64{443, 80, 22, 25, 53, 3389, 445, 8080, 21, 3306, 23, 123, 993, 8443}
	popularWeights = []int{35, 20, 8, 4, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2}
	procNames      = []string{"bash", "sh", "python3", "cron", "sshd", "nginx", "php-fpm", "java", "node", "sleep", "grep", "awk", "sed", "ls", "cat", "git", "make", "gcc", "postgres", "curl", "wget", "systemctl", "logrotate", "tar"}
	procParents    = []string{"systemd", "cron", "sshd", "bash", "nginx", "php-fpm", "java", "containerd-shim", "sh", "make", "python3"}
	httpPaths      = []string{"/", "/index.html", "/api/v1/items/%d", "/api/v2/users/%d/orders", "/static/js/app.%d.js", "/static/css/site.%d.css",
		"/images/p%d.jpg", "/search?q=term%d&page=2", "/login", "/wp-login.php", "/index.php?page=%d", "/favicon.ico", "/robots.txt",
		"/api/v1/session", "/cart/add?item=%d", "/products/%d", "/blog/2026/11/post-%d", "/health", "/metrics", "/admin/"}
	attackPaths = []string{"/../../etc/passwd", "/index.php?id=1%20UNION%20SELECT%20password%20FROM%20users", "/.env", "/cgi-bin/test.cgi?x=;cat%20/etc/passwd",
		"/wp-admin/plugin-install.php", "/phpmyadmin/index.php", "/shell.php?cmd=id", "/.git/config", "/upload_3/x.php", "/admin/backup.bak"}
	domains = []string{"example.com", "example.net", "cdn.example.org", "api.example.com", "mail.example.com", "update.vendor.test",
		"static.site%d.test", "img%d.cdn.test", "tracker%d.ads.test", "www.site%d.example"}
)

func (g *sigEventGen) next(t time.Time) event.Event {
	typ := pick(g.r, sigTypes, sigTypeWeights)
	ev := event.Event{ID: g.ids.NewID(t), Time: t, Type: typ, Source: "gw-1"}
	a := make(map[string]any, 16)
	ev.Attrs = a
	src, dst := g.outside(), g.one(g.servers)
	proto := "tcp"
	var dport int64
	switch typ {
	case "NET.CONN":
		if g.r.IntN(10) < 3 { // outbound
			src, dst = g.one(g.clients), g.outside()
			a["direction"] = "outbound"
		} else {
			a["direction"] = "inbound"
		}
		if g.r.IntN(100) < 16 {
			dport = int64(1 + g.r.IntN(65535)) // scans and the odd service
		} else {
			dport = pick(g.r, popularPorts, popularWeights)
		}
		if dport == 53 || dport == 123 {
			proto = "udp"
		}
		outcome := pick(g.r, []string{"established", "refused", "unanswered", "unreachable"}, []int{78, 10, 8, 4})
		a["outcome"], a["tries"] = outcome, int64(1+g.r.IntN(3))
		switch outcome {
		case "established":
			a["rtt_ms"] = math.Round(g.r.ExpFloat64()*30_000) / 1000
		case "refused":
			a["answer"] = "rst"
		case "unreachable":
			a["answer"], a["icmp_type"], a["icmp_code"], a["icmp_from"] = "icmp", int64(3), int64(g.r.IntN(4)), dst
		}
	case "NET.DNS":
		proto, dport = "udp", 53
		src, dst = g.one(g.clients), g.one([]string{"10.0.0.53", "10.0.0.54"})
		d := g.one(domains)
		if strings.Contains(d, "%d") {
			d = fmt.Sprintf(d, g.r.IntN(5000))
		}
		if g.r.IntN(1000) == 0 {
			d = fmt.Sprintf("%x%x.t.example.net", g.r.Uint64(), g.r.Uint64()) // a tunnel's
		}
		a["app"], a["query"] = "dns", d
		a["qtype"] = pick(g.r, []string{"A", "AAAA", "MX", "TXT", "PTR", "SRV"}, []int{60, 25, 3, 4, 5, 3})
		a["rcode"] = pick(g.r, []string{"NOERROR", "NXDOMAIN", "SERVFAIL", "unanswered"}, []int{85, 12, 1, 2})
		a["answers"], a["id"] = int64(g.r.IntN(5)), int64(g.r.IntN(65536))
	case "NET.HTTP":
		dport = pick(g.r, []int64{80, 8080, 443}, []int{70, 20, 10})
		if g.r.IntN(5) == 0 {
			src, dst = g.one(g.clients), g.outside()
		} else {
			dst = g.servers[g.r.IntN(50)]
		}
		p := g.one(httpPaths)
		if strings.Contains(p, "%d") {
			p = fmt.Sprintf(p, g.r.IntN(100000))
		}
		if g.r.IntN(200) == 0 {
			p = g.one(attackPaths)
		}
		a["app"], a["path"] = "http", p
		a["method"] = pick(g.r, []string{"GET", "POST", "HEAD", "PUT", "OPTIONS"}, []int{82, 14, 2, 1, 1})
		a["http_host"] = fmt.Sprintf("site%d.example.com", g.r.IntN(20))
		a["status"] = pick(g.r, []int64{200, 304, 301, 302, 404, 403, 500}, []int{70, 8, 3, 3, 12, 2, 2})
	case "NET.ICMP":
		proto = "icmp"
		if g.r.IntN(10) < 4 {
			src, dst = g.one(g.clients), g.outside()
		}
		ty := pick(g.r, []int64{8, 0, 3, 11, 5, 13}, []int{40, 35, 15, 8, 1, 1})
		code := int64(0)
		if ty == 3 {
			code = pick(g.r, []int64{0, 1, 3, 13}, []int{10, 20, 60, 10})
		}
		names := map[int64]string{8: "echo-request", 0: "echo-reply", 3: "destination-unreachable", 11: "time-exceeded", 5: "redirect", 13: "timestamp-request"}
		a["icmp_type"], a["icmp_code"], a["icmp_name"] = ty, code, names[ty]
		if ty == 8 || ty == 0 {
			a["payload_bytes"] = pick(g.r, []int64{32, 56, 1024}, []int{60, 39, 1})
		}
	case "NET.FTP":
		dport = 21
		cmd := pick(g.r, []string{"USER", "PASS", "RETR", "STOR", "CWD", "LIST", "PWD", "TYPE", "SIZE"}, []int{15, 15, 25, 5, 15, 10, 5, 5, 5})
		user := pick(g.r, []string{"anonymous", "ftp", "alice", "bob", "guest", "admin", "backup"}, []int{30, 10, 20, 15, 10, 10, 5})
		a["app"], a["command"], a["user"] = "ftp", cmd, user
		switch cmd {
		case "PASS":
			reply := pick(g.r, []int64{230, 530}, []int{85, 15})
			a["reply"], a["argument"] = reply, "********"
			if reply == 230 && (user == "anonymous" || user == "ftp") {
				a["anonymous_login"] = true
			}
		case "USER":
			a["reply"], a["argument"] = int64(331), user
		default:
			a["reply"] = pick(g.r, []int64{226, 250, 550}, []int{70, 20, 10})
			a["argument"] = fmt.Sprintf("%s/file%d.dat", pick(g.r, []string{"/pub", "pub", "/incoming", "/home/" + user, "/etc"}, []int{40, 20, 20, 19, 1}), g.r.IntN(500))
		}
	case "NET.SMTP":
		dport = 25
		cmd := pick(g.r, []string{"EHLO", "MAIL", "RCPT", "DATA", "QUIT", "EXPN", "VRFY"}, []int{20, 20, 25, 15, 18, 1, 1})
		a["app"], a["command"] = "smtp", cmd
		a["argument"] = fmt.Sprintf("user%d@example.com", g.r.IntN(1000))
		a["reply"] = pick(g.r, []int64{250, 550, 354, 221, 252}, []int{70, 10, 8, 10, 2})
	case "NET.PROBE":
		dport = int64(1 + g.r.IntN(65535))
		a["flags"] = pick(g.r, []string{"F", "none", "FPU", "SF", "R"}, []int{40, 25, 15, 5, 15})
		a["answer"] = pick(g.r, []string{"rst", "none", "icmp-unreachable"}, []int{60, 35, 5})
		a["tries"] = int64(1)
	case "NET.BANNER":
		dport = int64(1024 + g.r.IntN(64000))
		b := pick(g.r, []string{"SSH-2.0-OpenSSH_%d.%d", "HTTP/1.1 200 OK", "220 mail ESMTP Postfix", "\\x16\\x03\\x01"}, []int{40, 30, 20, 10})
		if strings.Contains(b, "%d") {
			b = fmt.Sprintf(b, 6+g.r.IntN(4), g.r.IntN(10))
		}
		a["banner"], a["banner_bytes"], a["bytes"] = b, int64(len(b)), int64(len(b))
		a["from"] = pick(g.r, []string{"server", "client"}, []int{80, 20})
		a["guess"] = map[byte]string{'S': "ssh", 'H': "http", '2': "smtp", '\\': "tls"}[b[0]]
		a["app"] = "banner"
		a["unassigned"] = true
	case "NET.SUMMARY":
		kind := pick(g.r, []string{"gateway", "src", "dst", "service"}, []int{5, 45, 45, 5})
		a["kind"], a["interval_s"] = kind, int64(10)
		ev.IP = ""
		switch kind {
		case "gateway", "service":
			ev.Host = "gw-1"
			a["subject"] = "gw-1"
		case "src":
			a["subject"], ev.IP = src, src
		default:
			a["subject"], ev.IP = dst, dst
		}
		pk := int64(1 + g.r.IntN(5000))
		a["packets"], a["kbytes"], a["tcp"], a["syn"] = pk, pk*g.r.Int64N(1500)/1024, pk*8/10, pk/10
		a["conn_attempts"], a["established"], a["refused"], a["unanswered"] = pk/10, pk/12, pk/100, pk/200
		a["distinct_peers"], a["distinct_ports"] = int64(1+g.r.IntN(100)), int64(1+g.r.IntN(50))
		if g.r.IntN(100) == 0 {
			a["syn"], a["unanswered"] = pk*10, pk*5
		}
		return ev
	case "PROC.SPAWN", "PROC.TERM":
		h := g.r.IntN(len(g.hosts))
		ev.Host, ev.IP, ev.Source = g.hosts[h], g.hostIPs[h], "agent"
		name := g.one(procNames)
		a["name"], a["pid"], a["state"] = name, int64(1000+g.r.IntN(60000)), pick(g.r, []string{"S", "R"}, []int{80, 20})
		a["parent_name"], a["ppid"] = g.one(procParents), int64(1+g.r.IntN(60000))
		a["mem_mb"] = float64(g.r.IntN(500000)) / 100
		a["uid"] = pick(g.r, []int64{0, 33, 1000}, []int{40, 30, 30})
		exe := "/usr/bin/" + name
		if g.r.IntN(500) == 0 {
			exe = g.one([]string{"/tmp/.x/", "/dev/shm/", "/var/tmp/"}) + name
		}
		a["exe"] = exe
		return ev
	}
	ev.IP = dst
	a["proto"], a["src"], a["dst"] = proto, src, dst
	if proto != "icmp" {
		a["sport"], a["dport"] = int64(1024+g.r.IntN(64000)), dport
	}
	return ev
}

// ---- The rules ---------------------------------------------------------

// genRules writes n rules, 70% matches, 20% thresholds and 10%
// sequences, as one rule file, and returns the kind of each.
func genRules(n int, seed uint64) (string, []string) {
	r := rand.New(rand.NewPCG(seed, 0x7e1e))
	var b strings.Builder
	b.WriteString(`lists:
  shells: [sh, bash, dash, zsh, ksh, busybox]
  web_servers: [httpd, apache2, nginx, php-fpm, java, node]
  download_tools: [wget, curl, nc, ncat, socat, tftp]
  writable_dirs: [/tmp/, /var/tmp/, /dev/shm/]
  guest_accounts: [guest, demo, visitor, anonymous, ftp, test]
  satan_ports: [7, 9, 13, 19, 21, 23, 25, 37, 69, 70, 79, 87, 111, 512, 513, 514, 515, 540, 1524, 2049, 6000]
  system_files: [etc/passwd, etc/shadow, .rhosts, .netrc, .ssh/authorized_keys, boot.ini, win.ini, .htpasswd, wp-config.php, .git/config, .env]
rules:
`)
	nThr, nSeq := n*20/100, n*10/100
	kinds := make([]string, 0, n)
	for i := range n {
		kind := "match"
		// Spread the kinds through the file.
		switch {
		case i%10 == 9 && nSeq > 0:
			kind = "sequence"
			nSeq--
		case (i%10 == 1 || i%10 == 5) && nThr > 0:
			kind = "threshold"
			nThr--
		}
		kinds = append(kinds, kind)
		fmt.Fprintf(&b, "  - id: %s-%04d\n    severity: %s\n", kind, i, pick(r, []string{"green", "yellow", "red"}, []int{20, 60, 20}))
		var body string
		switch kind {
		case "match":
			body = matchRule(r, i)
		case "threshold":
			body = thresholdRule(r, i)
		default:
			body = sequenceRule(r, i)
		}
		b.WriteString(body)
	}
	return b.String(), kinds
}

func q(s string) string { return strconv.Quote(s) }

// sq quotes a regular expression for YAML: single quotes keep
// backslashes.
func sq(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func ports(r *rand.Rand, n int) string {
	p := make([]string, n)
	for i := range p {
		p[i] = strconv.Itoa(1024 + r.IntN(64000))
	}
	return "[" + strings.Join(p, ", ") + "]"
}

func popular(r *rand.Rand) int64 { return pick(r, popularPorts, popularWeights) }

// extNet is a /16 of the outside addresses.
func extNet(r *rand.Rand) string {
	return strings.Join(strings.Split(extAddr(r.IntN(1_000_000)), ".")[:2], ".") + ".0.0/16"
}

func token(r *rand.Rand) string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 6+r.IntN(6))
	for i := range b {
		b[i] = letters[r.IntN(len(letters))]
	}
	return string(b)
}

// matchRule is one single-event rule, in the shapes rule packs have
// (rules/gateway.yaml, rules/host.yaml): mostly an equality the index
// holds and a rarer condition beside it; some text searches that every
// event of their type meets.
func matchRule(r *rand.Rand, i int) string {
	shapes := []int{
		14, // 0 conn to an unusual port
		6,  // 1 conn to a common port from an outside /16
		3,  // 2 slow established conn
		3,  // 3 refused conns to classic ports
		10, // 4 HTTP path contains (no index)
		4,  // 5 HTTP method and a path regex
		4,  // 6 HTTP status and path prefix
		3,  // 7 HTTP host and path contains
		5,  // 8 DNS suffix (no index)
		4,  // 9 DNS qtype and contains
		4,  // 10 ICMP type and code
		4,  // 11 FTP command and argument
		2,  // 12 SMTP command
		2,  // 13 probe flags and port
		2,  // 14 banner
		12, // 15 process name and parent
		4,  // 16 process from a writable directory (no index)
		3,  // 17 process end by uid
		2,  // 18 blocklisted sources (no index, several types)
		3,  // 19 summary thresholds
		2,  // 20 wildcard path (no index)
		2,  // 21 system file over HTTP (urldecode, list)
	}
	idx := make([]int, len(shapes))
	for k := range idx {
		idx[k] = k
	}
	var m, rep string
	switch pick(r, idx, shapes) {
	case 0:
		m = fmt.Sprintf("{type: NET.CONN, where: {proto: tcp, dport: %s, outcome: established}}", ports(r, 1+r.IntN(3)))
		rep = "connection to {dst}:{dport} from {src}"
	case 1:
		m = fmt.Sprintf("{type: NET.CONN, where: {dport: %d, src|cidr: [%s, %s]}}", popular(r), q(extNet(r)), q(extNet(r)))
		rep = "{src} from a watched network reached {dst}:{dport}"
	case 2:
		m = fmt.Sprintf("{type: NET.CONN, where: {dport: %d, outcome: established, rtt_ms|gt: %d}}", popular(r), 250+r.IntN(500))
		rep = "slow connection from {src} to {dst}:{dport}: {rtt_ms} ms"
	case 3:
		m = fmt.Sprintf("{type: NET.CONN, where: {outcome: refused, dport: [%d, %d, %d], tries|gte: 3}}", 1+r.IntN(1024), 1+r.IntN(1024), 1+r.IntN(1024))
		rep = "{src} retried refused port {dport} on {dst}"
	case 4:
		m = fmt.Sprintf("{type: NET.HTTP, where: {path|urldecode|contains: [%s, %s]}}", q("/"+token(r)+"/"), q(token(r)+".cgi"))
		rep = "{src} requested {path} on {dst}"
	case 5:
		m = fmt.Sprintf("{type: NET.HTTP, where: {method: POST, path|re: %s}}", sq(`(?i)^/upload_`+strconv.Itoa(r.IntN(40))+`/[^/]+\.(php|jsp|aspx)$`))
		rep = "upload of a script to {dst}: {path}"
	case 6:
		m = fmt.Sprintf("{type: NET.HTTP, where: {status: %d, path|startswith: %s}}", anyOfInt(r, []int64{500, 403, 401}), q(pick(r, []string{"/api/v1/", "/admin/", "/internal/" + token(r), "/debug/" + token(r)}, []int{1, 1, 4, 4})))
		rep = "{status} for {path} on {dst} from {src}"
	case 7:
		m = fmt.Sprintf("{type: NET.HTTP, where: {http_host: %s, path|contains: %s}}", q(fmt.Sprintf("site%d.example.com", r.IntN(40))), q(pick(r, []string{"admin", token(r)}, []int{1, 3})))
		rep = "{path} on {http_host} from {src}"
	case 8:
		m = fmt.Sprintf("{type: NET.DNS, where: {query|endswith: [%s, %s]}}", q("."+token(r)+".example"), q("."+token(r)+".test"))
		rep = "{src} looked up {query}"
	case 9:
		m = fmt.Sprintf("{type: NET.DNS, where: {qtype: %s, query|contains: %s}}", pick(r, []string{"TXT", "MX", "SRV", "ANY"}, []int{4, 2, 2, 1}), q(pick(r, []string{"tracker1", token(r)}, []int{1, 5})))
		rep = "{qtype} lookup of {query} by {src}"
	case 10:
		m = fmt.Sprintf("{type: NET.ICMP, where: {icmp_type: %d, icmp_code: %d}}", pick(r, []int64{3, 5, 11, 13, 15, 17, 9, 10}, []int{4, 1, 1, 1, 1, 1, 1, 1}), r.IntN(16))
		rep = "ICMP {icmp_name} from {src} to {dst}"
	case 11:
		m = fmt.Sprintf("{type: NET.FTP, where: {command: [RETR, STOR], argument|contains: %s}}", q(pick(r, []string{"/etc/", "file" + strconv.Itoa(r.IntN(500)) + ".", token(r)}, []int{1, 2, 4})))
		rep = "FTP {command} {argument} on {dst} by {src}"
	case 12:
		m = fmt.Sprintf("{type: NET.SMTP, where: {command: [EXPN, VRFY], argument|startswith: %s}}", q(fmt.Sprintf("user%d", r.IntN(100))))
		rep = "{command} {argument} from {src}"
	case 13:
		m = fmt.Sprintf("{type: NET.PROBE, where: {flags: %s, dport: %s}}", pick(r, []string{"F", "none", "FPU", "SF"}, []int{1, 1, 1, 1}), ports(r, 2))
		rep = "{flags} probe from {src} to {dst}:{dport}"
	case 14:
		m = fmt.Sprintf("{type: NET.BANNER, where: {guess: ssh, from: server, banner|contains: %s}}", q(fmt.Sprintf("OpenSSH_%d.%d", 5+r.IntN(5), r.IntN(10))))
		rep = "old SSH on {dst}:{dport}: {banner}"
	case 15:
		name := q(token(r))
		if r.IntN(8) == 0 {
			name = anyOf(r, procNames)
		}
		parent := q("@web_servers")
		if r.IntN(2) == 0 {
			parent = anyOf(r, procParents)
		}
		m = fmt.Sprintf("{type: PROC.SPAWN, where: {name: [%s, %s, %s], parent_name: [%s, sshd]}}", name, q("x"+token(r)), q("miner-"+token(r)), parent)
		rep = "{parent_name} on {host} started {name}"
	case 16:
		m = fmt.Sprintf("{type: PROC.SPAWN, where: {exe|startswith: [%s, %s]}}", q("/tmp/"+token(r)), q("/dev/shm/"+token(r)))
		rep = "{name} on {host} runs from {exe}"
	case 17:
		m = fmt.Sprintf("{type: PROC.TERM, where: {name: %s, uid: 0, mem_mb|gt: %d}}", anyOf(r, procNames), 4000+r.IntN(1000))
		rep = "{name} on {host} ended as root"
	case 18:
		m = fmt.Sprintf("{type: [NET.CONN, NET.ICMP, NET.PROBE], where: {src|cidr: [%s, %s, %s]}}", q(extNet(r)), q(extNet(r)), q(extNet(r)))
		rep = "traffic from blocklisted {src} to {dst}"
	case 19:
		m = fmt.Sprintf("{type: NET.SUMMARY, where: {kind: %s, syn|gte: %d}}", pick(r, []string{"src", "dst"}, []int{1, 1}), 10000+r.IntN(40000))
		rep = "{syn} SYNs for {subject} in {interval_s}s"
	case 20:
		m = fmt.Sprintf("{type: NET.HTTP, where: {path: %s}}", q("*."+pick(r, []string{"bak", "old", "swp", token(r)}, []int{1, 1, 1, 3})))
		rep = "{src} fetched {path} from {dst}"
	case 21:
		m = fmt.Sprintf("{type: NET.HTTP, where: {path|urldecode|contains: \"@system_files\", status|gte: %d}}", pick(r, []int64{200, 400}, []int{1, 1}))
		rep = "system file {path} on {dst} from {src} ({status})"
	}
	return fmt.Sprintf("    match: %s\n    report: %s\n", m, q(rep))
}

func anyOf(r *rand.Rand, s []string) string { return s[r.IntN(len(s))] }

func anyOfInt(r *rand.Rand, s []int64) int64 { return s[r.IntN(len(s))] }

// thresholdRule counts per source (or host): a few broad ones (scans,
// sweeps) that hold a group for most keys, the rest narrow.
func thresholdRule(r *rand.Rand, i int) string {
	var m, thr, rep string
	if r.IntN(20) == 0 {
		switch r.IntN(5) {
		case 0:
			m = "{type: NET.CONN, where: {proto: tcp, outcome: [refused, unanswered]}}"
			thr = fmt.Sprintf("{group_by: [src], distinct: dport, count: %d, window: 10s}", 15+r.IntN(10))
			rep = "port scan from {src}: {count} closed or filtered ports within {window}"
		case 1:
			m = "{type: NET.ICMP, where: {icmp_type: 8}}"
			thr = fmt.Sprintf("{group_by: [src], distinct: dst, count: %d, window: 60s}", 10+r.IntN(10))
			rep = "ping sweep from {src}: {count} hosts within {window}"
		case 2:
			m = "{type: NET.DNS, where: {rcode: NXDOMAIN}}"
			thr = fmt.Sprintf("{group_by: [src], count: %d, window: 60s}", 50+r.IntN(50))
			rep = "{count} failed lookups from {src} within {window}"
		case 3:
			m = "{type: NET.HTTP, where: {status: 404}}"
			thr = fmt.Sprintf("{group_by: [src], count: %d, window: 60s}", 20+r.IntN(20))
			rep = "{count} missing pages asked by {src} within {window}"
		default:
			m = "{type: NET.CONN, where: {direction: inbound}}"
			thr = fmt.Sprintf("{group_by: [src], distinct: dst, count: %d, window: 60s}", 30+r.IntN(30))
			rep = "{src} reached {count} hosts within {window}"
		}
	} else {
		switch r.IntN(8) {
		case 0, 1:
			p := popular(r)
			if r.IntN(4) > 0 {
				p = int64(1024 + r.IntN(64000))
			}
			m = fmt.Sprintf("{type: NET.CONN, where: {dport: %d, outcome: [refused, unanswered]}}", p)
			thr = fmt.Sprintf("{group_by: [src], count: %d, window: %ds}", 3+r.IntN(10), 10*(1+r.IntN(6)))
			rep = "{count} failed attempts on port {dport} from {src} within {window}"
		case 2:
			m = fmt.Sprintf("{type: NET.FTP, where: {command: PASS, reply: 530, user: %s}}", pick(r, []string{"\"@guest_accounts\"", "admin", "backup", token(r)}, []int{1, 1, 1, 3}))
			thr = fmt.Sprintf("{group_by: [src, dst], count: %d, window: 10m}", 3+r.IntN(5))
			rep = "{count} failed FTP logins on {dst} from {src} within {window}"
		case 3:
			m = fmt.Sprintf("{type: NET.HTTP, where: {method: POST, path|startswith: %s}}", q(pick(r, []string{"/login", "/wp-login.php", "/api/v1/session", "/" + token(r)}, []int{1, 1, 1, 5})))
			thr = fmt.Sprintf("{group_by: [src], count: %d, window: 60s}", 10+r.IntN(20))
			rep = "{count} logins tried by {src} within {window}"
		case 4:
			m = fmt.Sprintf("{type: NET.DNS, where: {qtype: TXT, query|contains: %s}}", q(pick(r, []string{"tracker", ".", token(r)}, []int{1, 1, 4})))
			thr = fmt.Sprintf("{group_by: [src], count: %d, window: 60s}", 20+r.IntN(30))
			rep = "{count} TXT lookups by {src} within {window}"
		case 5:
			m = fmt.Sprintf("{type: PROC.SPAWN, where: {parent_name: %s}}", anyOf(r, procParents))
			thr = fmt.Sprintf("{group_by: [host], count: %d, window: 10s}", 20+r.IntN(40))
			rep = "{count} processes started by {parent_name} on {host} within {window}"
		case 6:
			m = fmt.Sprintf("{type: NET.ICMP, where: {icmp_type: [0, 8], payload_bytes|gte: %d}}", 512+r.IntN(512))
			thr = fmt.Sprintf("{group_by: [src, dst], count: %d, window: 60s}", 10+r.IntN(20))
			rep = "{count} large echo messages from {src} to {dst} within {window}"
		default:
			m = fmt.Sprintf("{type: NET.CONN, where: {dport: \"@satan_ports\", src|cidr: %s}}", q(extNet(r)))
			thr = fmt.Sprintf("{group_by: [src, dst], distinct: dport, count: %d, window: 60s}", 4+r.IntN(6))
			rep = "{src} probed {count} classic services on {dst} within {window}"
		}
	}
	return fmt.Sprintf("    match: %s\n    threshold: %s\n    report: %s\n", m, thr, q(rep))
}

// sequenceRule follows two or three steps, by source, by session, by
// host, or with variables that swap places.
func sequenceRule(r *rand.Rand, i int) string {
	var b strings.Builder
	switch r.IntN(6) {
	case 0: // probed, then in
		p1, p2 := int64(1024+r.IntN(64000)), popular(r)
		if r.IntN(6) == 0 {
			p1, p2 = popular(r), int64(1024+r.IntN(64000))
		}
		fmt.Fprintf(&b, `    sequence:
      by: [src]
      within: 60s
      steps:
        - name: refused
          match: {type: NET.CONN, where: {dport: %d, outcome: [refused, unanswered]}}
        - name: in
          match: {type: NET.CONN, where: {dport: %d, outcome: established}}
    report: "{src} got in on {dst}:{dport} after refused attempts"
`, p1, p2)
	case 1: // scanned host calls back
		fmt.Fprintf(&b, `    sequence:
      within: 10m
      steps:
        - name: scanned
          match: {type: NET.CONN, where: {outcome: refused, dport: %d}}
          bind: {attacker: src, target: dst}
        - name: callback
          match: {type: NET.CONN, where: {src: $target, dst: $attacker}}
    report: "{target} connected back to {attacker}"
`, pick(r, []int64{23, 445, 3389, int64(1 + r.IntN(1024))}, []int{1, 1, 1, 3}))
	case 2: // guest password guessed
		fmt.Fprintf(&b, `    sequence:
      by: [src, dst]
      within: 10m
      steps:
        - name: failure
          match: {type: NET.FTP, where: {command: PASS, reply: 530, user: %s}}
        - name: success
          effect: true
          match: {type: NET.FTP, where: {command: PASS, reply: 230}}
    report: "{src} logged in to {dst} after failures"
`, pick(r, []string{"\"@guest_accounts\"", "admin", token(r)}, []int{2, 1, 3}))
	case 3: // lookup, connect, fetch
		fmt.Fprintf(&b, `    sequence:
      by: [src]
      within: 2m
      steps:
        - name: lookup
          match: {type: NET.DNS, where: {qtype: %s, query|contains: %s}}
        - name: connect
          within: 1m
          match: {type: NET.CONN, where: {dport: 443, direction: outbound}}
        - name: fetch
          match: {type: NET.HTTP, where: {path|contains: %s}}
    report: "{src} fetched {path} after looking up a watched name"
`, pick(r, []string{"A", "TXT"}, []int{1, 2}), q(pick(r, []string{"tracker1", token(r)}, []int{1, 4})), q(pick(r, []string{"/static/", token(r)}, []int{1, 4})))
	case 4: // shell under a service, then a download tool, then a program from /tmp
		fmt.Fprintf(&b, `    sequence:
      by: [host]
      within: 5m
      steps:
        - name: shell
          match: {type: PROC.SPAWN, where: {name: "@shells", parent_name: %s}}
        - name: download
          match: {type: PROC.SPAWN, where: {name: "@download_tools"}}
        - name: run
          match: {type: PROC.SPAWN, where: {exe|startswith: "@writable_dirs"}}
    report: "{host}: shell under a service, a download, then {exe}"
`, pick(r, []string{"\"@web_servers\"", "python3", "cron", token(r)}, []int{2, 1, 1, 2}))
	default: // echo, then a service
		fmt.Fprintf(&b, `    sequence:
      by: [src]
      within: %ds
      steps:
        - name: ping
          match: {type: NET.ICMP, where: {icmp_type: 8, payload_bytes: %d}}
        - name: service
          match: {type: NET.CONN, where: {dport: %d, outcome: established}}
    report: "{src} pinged then reached {dst}:{dport}"
`, 10+r.IntN(50), pick(r, []int64{56, 1024}, []int{1, 3}), int64(1024+r.IntN(64000)))
	}
	return b.String()
}
