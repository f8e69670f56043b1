package host

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
)

// Sink receives the agent's observations. Write must not wait on the
// network: sampling goes on regardless of where observations go.
type Sink interface {
	Write(evs []event.Event) error
}

// CompactSink is a Sink that also takes observations already in compact
// form (event.AppendCompact's), valid ones (as Validate would find them),
// as they are: no decoding. The records are valid only until WriteCompact
// returns; it must copy what it keeps.
type CompactSink interface {
	Sink
	WriteCompact(recs [][]byte) error
}

// AgentOptions configure an agent.
type AgentOptions struct {
	Extractor *Extractor
	Eval      EvalConfig
	// Interval between samples (default config.DefaultAgentInterval).
	Interval time.Duration
	// HostID and IP name this host in every observation.
	HostID, IP string
	Sink       Sink
	Clock      clock.Clock
	IDs        event.IDSource
	Logger     *slog.Logger
}

// Agent samples the host on a clock and reports what its evaluator finds.
type Agent struct {
	o    AgentOptions
	eval *Evaluator

	// Raised sampling (raise.go): the requests in force, a wake-up for
	// the loop when they change, and the interval the loop ticks at.
	mu      sync.Mutex
	raises  map[string]raise
	wake    chan struct{}
	ticking atomic.Int64

	// The sample being taken, for the watchdog: when it began (Unix ns
	// of the agent's clock, 0 between samples) and its stage.
	began atomic.Int64
	stage atomic.Int32
}

// The stages of a sample.
const (
	stageSnapshot int32 = iota
	stageEvaluate
	stageSink
)

// StuckAfter is how long a sample may take before the agent logs that it
// is stuck, and where: a read of /proc can block (on a process holding a
// kernel lock, say), and the agent then reports nothing until it ends.
func (a *Agent) StuckAfter() time.Duration { return max(10*time.Second, 5*a.o.Interval) }

// NewAgent returns an agent.
func NewAgent(o AgentOptions) *Agent {
	if o.Interval <= 0 {
		o.Interval = config.DefaultAgentInterval
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.IDs == nil {
		o.IDs = event.NewRandomIDs()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Extractor != nil {
		if o.Eval.Executable == nil {
			o.Eval.Executable = o.Extractor.Executable
		}
		if o.Eval.UID == nil {
			o.Eval.UID = o.Extractor.UID
		}
		if o.Eval.TCPStates == nil {
			o.Eval.TCPStates = o.Extractor.TCPStates
		}
		if o.Eval.User == nil {
			o.Eval.User = o.Extractor.UserName
		}
	}
	return &Agent{o: o, eval: NewEvaluator(o.Eval), wake: make(chan struct{}, 1)}
}

// Step takes one sample now, evaluates it and hands the observations to the
// sink. It returns them too.
func (a *Agent) Step(now time.Time) ([]event.Event, error) {
	start := a.o.Clock.Now()
	a.stage.Store(stageSnapshot)
	a.began.Store(start.UnixNano())
	defer func() {
		if took := a.o.Clock.Now().Sub(start); took >= a.StuckAfter() {
			a.o.Logger.Warn("host sensor: a sample took long", "took", took)
		}
		a.began.Store(0)
	}()
	snap, err := a.o.Extractor.Snapshot(now)
	if err != nil {
		return nil, err
	}
	a.stage.Store(stageEvaluate)
	evs := a.eval.Evaluate(snap)
	kept := evs[:0]
	for i := range evs {
		ev := evs[i]
		ev.Host, ev.IP, ev.Source = a.o.HostID, a.o.IP, "agent"
		if err := ev.Normalize(a.o.IDs, now, "agent"); err != nil {
			a.o.Logger.Warn("dropping an invalid observation", "type", ev.Type, "err", err)
			continue
		}
		kept = append(kept, ev)
	}
	if len(kept) > 0 && a.o.Sink != nil {
		a.stage.Store(stageSink)
		if err := a.o.Sink.Write(kept); err != nil {
			return kept, fmt.Errorf("host sensor: %w", err)
		}
	}
	return kept, nil
}

// Run samples every interval until ctx ends. A sample that fails is logged
// and the next one is taken on time; a slow sample makes the agent skip
// ticks rather than fall behind. While a configuration request raises the
// sampling (raise.go), it samples at the raised interval, and at its own
// again once the request has ended.
func (a *Agent) Run(ctx context.Context) error {
	a.o.Logger.Info("host sensor running", "host", a.o.HostID, "ip", a.o.IP, "interval", a.o.Interval,
		"window", a.eval.cfg.Window, "proc", a.o.Extractor.Root())
	watched := make(chan struct{})
	wctx, stopWatch := context.WithCancel(ctx)
	go a.watch(wctx, watched)
	defer func() { stopWatch(); <-watched }()
	cur := a.Interval()
	t := clock.NewTicker(a.o.Clock, cur)
	defer func() { t.Stop() }()
	a.ticking.Store(int64(cur))
	if _, err := a.Step(a.o.Clock.Now()); err != nil {
		a.o.Logger.Error("sample failed", "err", err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.wake:
		case <-t.C():
			if ctx.Err() != nil {
				return nil // ended while the last sample was taken
			}
			if _, err := a.Step(a.o.Clock.Now()); err != nil {
				a.o.Logger.Error("sample failed", "err", err)
			}
		}
		a.expireRaises(a.o.Clock.Now())
		if next := a.Interval(); next != cur {
			t.Stop()
			t = clock.NewTicker(a.o.Clock, next)
			a.o.Logger.Info("sampling interval changed", "from", cur, "to", next)
			cur = next
			a.ticking.Store(int64(cur))
		}
	}
}

// watch logs, once a sample, a sample that has taken StuckAfter and not
// ended, with where it is; it looks every interval of the agent's clock
// until ctx ends, and then closes done.
func (a *Agent) watch(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := clock.NewTicker(a.o.Clock, a.o.Interval)
	defer t.Stop()
	var told int64 // the start of the sample last logged
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C():
			began := a.began.Load()
			if began == 0 || began == told {
				continue
			}
			if d := now.Sub(time.Unix(0, began)); d >= a.StuckAfter() {
				told = began
				a.o.Logger.Warn("host sensor: a sample is stuck; nothing is reported until it ends", "for", d, "in", a.where())
			}
		}
	}
}

// where says where the sample being taken is.
func (a *Agent) where() string {
	switch a.stage.Load() {
	case stageSnapshot:
		return "reading " + a.o.Extractor.Phase()
	case stageEvaluate:
		return "evaluating the sample (reading processes' executables and users)"
	default:
		return "handing the observations on"
	}
}

// JSONSink writes observations as JSON lines.
type JSONSink struct {
	mu  sync.Mutex
	w   *bufio.Writer
	buf []byte
}

// NewJSONSink writes to w.
func NewJSONSink(w io.Writer) *JSONSink { return &JSONSink{w: bufio.NewWriter(w)} }

// Write implements Sink.
func (s *JSONSink) Write(evs []event.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range evs {
		s.buf = append(evs[i].AppendJSON(s.buf[:0]), '\n')
		if _, err := s.w.Write(s.buf); err != nil {
			return err
		}
	}
	return s.w.Flush()
}

// WriteRaw writes b, whole lines of JSON, between observations.
func (s *JSONSink) WriteRaw(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	return s.w.Flush()
}

// Identity finds this host's id (its hostname) and main IP address (that of
// the interface with the default route, read from procRoot/net/route, else
// the first address of an interface that is up and not loopback).
func Identity(procRoot string) (hostID, ip string) {
	hostID, _ = os.Hostname()
	if hostID == "" {
		hostID = "localhost"
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return hostID, ""
	}
	pick := func(ifc net.Interface) string {
		addrs, err := ifc.Addrs()
		if err != nil {
			return ""
		}
		var v6 string
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
				continue
			}
			if ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
			if v6 == "" {
				v6 = ipn.IP.String()
			}
		}
		return v6
	}
	if def := defaultRouteIface(procRoot); def != "" {
		for _, ifc := range ifaces {
			if ifc.Name == def {
				if ip := pick(ifc); ip != "" {
					return hostID, ip
				}
			}
		}
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		if ip := pick(ifc); ip != "" {
			return hostID, ip
		}
	}
	return hostID, ""
}

// defaultRouteIface reads the interface of the IPv4 default route.
func defaultRouteIface(procRoot string) string {
	f, err := os.Open(filepath.Join(procRoot, "net", "route"))
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// Iface Destination Gateway Flags ...; the default route's
		// destination and mask are zero.
		if len(fields) >= 8 && fields[1] == "00000000" && fields[7] == "00000000" {
			if _, err := hex.DecodeString(fields[2]); err == nil {
				return fields[0]
			}
		}
	}
	return ""
}
