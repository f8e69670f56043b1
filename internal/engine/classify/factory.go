package classify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	_ "github.com/vigil-ids/vigil/internal/learn/kinds" // the model kinds a model file may name
	"github.com/vigil-ids/vigil/models"
)

var (
	_ engine.Engine        = (*adapter)(nil)
	_ engine.VectorHandler = (*adapter)(nil)
)

// Factory makes classify engines for a monitor's registry.
func Factory() engine.Factory {
	return engine.Factory{
		Kind:        Kind,
		NewSettings: newSettings,
		New: func(ctx context.Context, cs config.Settings, d engine.Deps) (engine.Engine, error) {
			s := cs.(*Settings)
			f := s.file
			if f == nil {
				// Settings made without the loader (a program's own).
				path := s.Model
				if d.Resolve != nil && !strings.HasPrefix(path, models.Prefix) {
					path = d.Resolve(path)
				}
				var err error
				if f, err = loadModel(path); err != nil {
					return nil, err
				}
			}
			log := d.LoggerOrDefault()
			e, err := New(f, Options{Stride: s.Stride, Confidence: s.Confidence, Suppress: s.Suppress,
				MaxProcesses: s.MaxProcesses, Expire: s.Expire, Top: s.Top, NoveltyBelow: s.NoveltyBelow, Persist: s.Persist, Logger: log})
			if err != nil {
				return nil, err
			}
			a := &adapter{e: e}
			log.Info("process classifier ready", "engine", d.Name, "kind", f.Kind, "classes", len(f.Classes), "features", len(f.Features))
			if d.Metrics != nil {
				if err := d.Metrics.Register(&collector{a: a, labels: prometheus.Labels{"monitor": d.Monitor, "engine": d.Name}}); err != nil {
					return nil, fmt.Errorf("classify metrics: %w", err)
				}
			}
			return a, nil
		},
	}
}

// adapter runs an Engine in a monitor.
type adapter struct {
	e *Engine
	// stats is a copy of the engine's counters the collector reads,
	// refreshed by the engine's goroutine.
	stats statsBox
}

func (a *adapter) Handle(context.Context, *event.Event, engine.Emit) error { return nil }

func (a *adapter) HandleVectors(_ context.Context, vs []*event.CountVector, emit engine.Emit) error {
	for _, v := range vs {
		a.e.Observe(v, emit)
	}
	a.stats.set(a.e.Stats())
	return nil
}

func (a *adapter) Tick(_ context.Context, now time.Time, _ engine.Emit) error {
	a.e.Expire(now)
	a.stats.set(a.e.Stats())
	return nil
}

func (a *adapter) Close(context.Context) error { return nil }
