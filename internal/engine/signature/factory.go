package signature

import (
	"context"
	"fmt"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
)

// The engine kind's registration: its factory, and the adapter that runs
// an Engine as a monitor's engine.

var _ engine.Engine = (*adapter)(nil)

// Factory makes signature engines for a monitor's registry.
func Factory() engine.Factory {
	return engine.Factory{
		Kind:        Kind,
		NewSettings: newSettings,
		New: func(_ context.Context, cs config.Settings, d engine.Deps) (engine.Engine, error) {
			s := cs.(*Settings)
			patterns := s.patterns(d.Resolve)
			rs, files, err := Load(patterns, s.options())
			if err != nil {
				return nil, err
			}
			log := d.Logger
			if log != nil {
				log = log.With("engine", d.Name)
			}
			e := New(rs, Limits{MaxGroups: s.MaxGroups, MaxInstances: s.MaxInstances, MaxFacts: s.MaxFacts, MaxSuppress: s.MaxSuppress}, log)
			for _, w := range rs.Warnings {
				e.log.Warn("rule warning", "warning", w.String())
			}
			e.WatchFiles(patterns, s.options(), files, s.Reload)
			if d.Clock != nil {
				e.next = d.Clock.Now().Add(s.Reload)
			}
			a := &adapter{e: e, snap: &statsSnapshot{}}
			a.snap.set(e.Stats())
			if d.Metrics != nil {
				if err := d.Metrics.Register(newCollector(d.Monitor, d.Name, a.snap)); err != nil {
					return nil, fmt.Errorf("signature engine %s: metrics: %w", d.Name, err)
				}
			}
			return a, nil
		},
	}
}

// adapter runs an Engine as a monitor's engine.
type adapter struct {
	e    *Engine
	snap *statsSnapshot
}

func (a *adapter) Handle(ctx context.Context, ev *event.Event, emit engine.Emit) error {
	a.e.Handle(ev, emit)
	return nil
}

func (a *adapter) Tick(ctx context.Context, now time.Time, emit engine.Emit) error {
	a.e.checkFiles(now)
	a.e.Tick(now, emit)
	a.snap.set(a.e.Stats())
	return nil
}

func (a *adapter) Close(context.Context) error {
	st := a.e.Stats()
	a.snap.set(st)
	a.e.log.Debug("signature engine closed", "events", st.Events, "reports", st.Reports, "suppressed", st.Suppressed,
		"groups_evicted", st.GroupsEvicted, "instances_evicted", st.InstancesEvicted, "facts_evicted", st.FactsEvicted)
	return nil
}
