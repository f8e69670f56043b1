package profile

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/readlimit"
)

var _ engine.Engine = (*adapter)(nil)

// Factory makes profile engines for a monitor's registry.
func Factory() engine.Factory {
	return engine.Factory{
		Kind:        Kind,
		NewSettings: newSettings,
		New: func(ctx context.Context, cs config.Settings, d engine.Deps) (engine.Engine, error) {
			s := cs.(*Settings)
			e := &adapter{p: New(s.classes, Options{MaxSubjects: s.MaxSubjects, Expire: s.Expire}), suppress: s.Suppress,
				last: map[string]time.Time{}, held: map[string]int{}, name: d.Name, log: d.LoggerOrDefault(), store: d.State,
				clock: d.ClockOrReal(), file: d.StateFile(s.State)}
			e.grants = engine.NewGrants(e.name, "subject", e.log)
			if err := e.load(ctx); err != nil {
				return nil, err
			}
			return e, nil
		},
	}
}

// adapter runs a Profiler as a monitor's engine: it learns from every
// event, reports the events whose T2 is above their subject's alert
// percentile (at most one per subject per suppress interval), and keeps
// the profiles in a file or the monitor's store.
type adapter struct {
	p        *Profiler
	suppress time.Duration
	last     map[string]time.Time // subject -> last report
	held     map[string]int       // subject -> reports held back since
	name     string
	log      *slog.Logger
	store    engine.StateStore
	clock    clock.Clock // the time of a save before any tick
	file     string
	saved    time.Time
	now      time.Time
	// savedOnce: the store holds every profile, so saves write changes.
	savedOnce bool
	// grants are the control requests in force that lowered subjects'
	// thresholds (sensitise.go).
	grants *engine.Grants
}

func (a *adapter) Handle(_ context.Context, ev *event.Event, emit engine.Emit) error {
	for _, r := range a.p.Observe(ev, true) {
		factor := a.factor(r.Class.Name, r.Subject)
		if factor < 1 {
			// Sensitised: above the lowered threshold, whatever the rank.
			r.Threshold *= factor
			if !r.Ready || r.T2 <= r.Threshold {
				continue
			}
		} else if !r.Ready || r.Rank < r.Class.Alert || r.T2 <= r.Threshold {
			continue
		}
		key := r.Class.Name + "\x00" + r.Subject
		if t, ok := a.last[key]; ok && ev.Time.Sub(t) < a.suppress {
			a.held[key]++
			continue
		}
		a.last[key] = ev.Time
		held := a.held[key]
		delete(a.held, key)
		rep := report(ev, r, held)
		if factor < 1 {
			rep.Attrs["threshold_factor"] = factor
		}
		emit(rep)
	}
	return nil
}

// report is the report of an anomalous event: the subject, T2 and the
// most outlying measures with their values, so it explains itself.
func report(ev *event.Event, r Result, held int) event.Report {
	sev := event.SeverityYellow
	if r.Rank >= r.Class.Red {
		sev = event.SeverityRed
	}
	// The most outlying measures, most first, as "name=value (S s, Q q,
	// long-term p)" (report attributes are flat).
	top := r.Top(5)
	measures := make([]string, 0, len(top))
	for _, m := range top {
		txt := fmt.Sprintf("%s=%s (S %.2f, Q %.3g", m.Name, m.Value(), m.S, m.Q)
		if m.LongTerm > 0 {
			txt += fmt.Sprintf(", long-term %.3g", m.LongTerm)
		}
		measures = append(measures, txt+")")
	}
	out := event.Report{Time: ev.Time, Model: r.Class.Name, Score: r.Rank, Severity: sev, State: "Anomalous",
		Explanation: Explain(r.Class.Name, r.Score, 3),
		Attrs: map[string]any{"t2": round3(r.T2), "threshold": round3(r.Threshold), "percentile": r.Class.Alert,
			"subject": r.Subject, "subject_field": r.Class.Subject, "measures": measures}}
	if ev.ID != "" {
		out.Evidence = []string{ev.ID}
	}
	if held > 0 {
		out.Attrs["held_back"] = int64(held)
	}
	if len(top) > 0 {
		out.Attrs["top_measure"], out.Attrs["top_value"], out.Attrs["top_s"] = top[0].Name, top[0].Value(), round3(top[0].S)
	}
	if a, err := netip.ParseAddr(r.Subject); err == nil {
		out.IP = a.Unmap().String()
	} else {
		out.Host = r.Subject
	}
	return out
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

func (a *adapter) Tick(ctx context.Context, now time.Time, _ engine.Emit) error {
	a.now = now
	a.grants.Expire(now)
	if a.saved.IsZero() {
		a.saved = now
	}
	if now.Sub(a.saved) < engine.SaveEvery {
		return nil
	}
	a.saved = now
	a.p.Expire(now)
	for k, t := range a.last {
		if now.Sub(t) > a.suppress {
			delete(a.last, k)
			delete(a.held, k)
		}
	}
	return a.save(ctx, now)
}

func (a *adapter) Close(ctx context.Context) error {
	at := a.now
	if at.IsZero() {
		at = a.clock.Now()
	}
	return a.save(ctx, at)
}

// stateName is the engine's key in the store.
func (a *adapter) stateName() string { return StateName(a.name) }

// StateName is where a profile engine of that name keeps its profiles in
// a store.
func StateName(engine string) string { return "profile/" + engine }

// save writes the profiles to the state file, or to the store.
func (a *adapter) save(ctx context.Context, at time.Time) error {
	switch {
	case a.file != "":
		var b bytes.Buffer
		if err := a.p.Export(&b); err != nil {
			return err
		}
		tmp := a.file + ".tmp"
		if err := os.WriteFile(tmp, b.Bytes(), 0o600); err != nil {
			return fmt.Errorf("saving profiles: %w", err)
		}
		if err := os.Rename(tmp, a.file); err != nil {
			return fmt.Errorf("saving profiles: %w", err)
		}
	case a.store != nil:
		// Everything the first time (replacing what was loaded), then what
		// changed.
		if err := a.p.SaveStore(ctx, a.store, a.stateName(), at, !a.savedOnce); err != nil {
			return err
		}
		a.savedOnce = true
	}
	return nil
}

// load reads the profiles saved before, if any.
func (a *adapter) load(ctx context.Context) error {
	var data []byte
	switch {
	case a.file != "":
		d, err := readlimit.ReadFile(a.file, MaxStateBytes)
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("profiles %s: %w", a.file, err)
		}
		data = d
	case a.store != nil:
		d, _, err := LoadStore(ctx, a.store, a.stateName())
		if err != nil {
			return err
		}
		data = d
	}
	if data == nil {
		return nil
	}
	n, err := a.p.Import(bytes.NewReader(data))
	if err != nil {
		// What could be read is kept; the rest is said.
		a.log.Warn("profiles partly restored", "engine", a.name, "subjects", n, "err", err)
		return nil
	}
	a.log.Info("profiles restored", "engine", a.name, "subjects", n)
	return nil
}
