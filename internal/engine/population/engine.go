package population

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
)

var _ engine.Engine = (*adapter)(nil)

// Factory makes population engines for a monitor's registry.
func Factory() engine.Factory {
	return engine.Factory{
		Kind:        Kind,
		NewSettings: newSettings,
		New: func(ctx context.Context, cs config.Settings, d engine.Deps) (engine.Engine, error) {
			s := cs.(*Settings)
			if s.cfg == nil {
				return nil, fmt.Errorf("population settings not validated")
			}
			a := &adapter{p: New(s.cfg), c: s.cfg, name: d.Name, log: d.LoggerOrDefault(), store: d.State, clock: d.ClockOrReal(),
				file: d.StateFile(s.State), last: map[string]time.Time{}, held: map[string]int{}}
			a.grants = engine.NewGrants(a.name, "host", a.log)
			if err := a.load(ctx); err != nil {
				return nil, err
			}
			return a, nil
		},
	}
}

// adapter runs a Population as a monitor's engine: it takes every event
// into its host's mix, compares the hosts with their peers every
// evaluate interval, and reports those that depart (at most once per
// host per suppress interval).
type adapter struct {
	p     *Population
	c     *Config
	name  string
	log   *slog.Logger
	store engine.StateStore
	clock clock.Clock
	file  string

	now       time.Time
	evaluated time.Time
	saved     time.Time
	last      map[string]time.Time // host -> last report
	held      map[string]int       // host -> reports held back since
	// grants lower hosts' thresholds (sensitise.go).
	grants *engine.Grants
}

func (a *adapter) Handle(_ context.Context, ev *event.Event, _ engine.Emit) error {
	a.p.Observe(ev)
	return nil
}

func (a *adapter) Tick(ctx context.Context, now time.Time, emit engine.Emit) error {
	a.now = now
	a.grants.Expire(now)
	if a.evaluated.IsZero() {
		a.evaluated, a.saved = now, now
	}
	if now.Sub(a.evaluated) >= a.c.Evaluate {
		a.evaluated = now
		a.evaluate(now, emit)
	}
	if now.Sub(a.saved) < engine.SaveEvery {
		return nil
	}
	a.saved = now
	a.p.Expire(now)
	for k, t := range a.last {
		if now.Sub(t) > a.c.Suppress {
			delete(a.last, k)
			delete(a.held, k)
		}
	}
	return a.save(ctx, now)
}

// evaluate reports the hosts that depart from their peers now.
func (a *adapter) evaluate(now time.Time, emit engine.Emit) {
	for _, f := range a.p.Evaluate(now, a.factor) {
		if !f.Departs {
			continue
		}
		if t, ok := a.last[f.Host]; ok && now.Sub(t) < a.c.Suppress {
			a.held[f.Host]++
			continue
		}
		a.last[f.Host] = now
		held := a.held[f.Host]
		delete(a.held, f.Host)
		emit(a.report(now, &f, held))
	}
}

// Model is the model name of a population report: the class's name
// prefixed, so that rules can tell them from the profiler's.
func Model(class string) string { return "population/" + class }

// report is the report of a departing host: its class, the distance,
// the values whose shares differ most and the measures out of line.
func (a *adapter) report(now time.Time, f *Finding, held int) event.Report {
	sev := event.SeverityYellow
	if f.Distance >= a.c.Red {
		sev = event.SeverityRed
	}
	var values, measures []string
	for _, s := range f.Top {
		values = append(values, s.String())
	}
	for _, m := range f.Measures {
		if m.Out {
			measures = append(measures, m.String())
		}
	}
	r := event.Report{Time: now, Model: Model(f.Class), Score: round3(f.Distance), Severity: sev, State: "Outlier",
		Evidence: f.Evidence, Explanation: truncate(f.Explain(a.c.Distance), event.MaxExplanationLen),
		Attrs: map[string]any{"class": f.Class, "distance": round3(f.Distance), "metric": a.c.Distance,
			"threshold": round3(f.Bar), "peers": int64(f.Peers), "events": round3(f.Events), "values": values}}
	if len(measures) > 0 {
		r.Attrs["measures"] = measures
	}
	if len(f.Top) > 0 {
		r.Attrs["top_value"] = f.Top[0].Value
		r.Attrs["top_host_share"] = round3(f.Top[0].Host)
		r.Attrs["top_population_share"] = round3(f.Top[0].Population)
	}
	if held > 0 {
		r.Attrs["held_back"] = int64(held)
	}
	if fac := a.factor(f.Class, f.Host); fac < 1 {
		r.Attrs["threshold_factor"] = fac
	}
	if ip, err := netip.ParseAddr(f.Host); err == nil {
		r.IP = ip.Unmap().String()
	} else {
		r.Host = f.Host
	}
	return r
}

func round3(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return math.Round(v*1000) / 1000
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

func (a *adapter) Close(ctx context.Context) error {
	at := a.now
	if at.IsZero() {
		at = a.clock.Now()
	}
	return a.save(ctx, at)
}
