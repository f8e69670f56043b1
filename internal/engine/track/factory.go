package track

import (
	"context"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
)

// The engine kind's registration: its factory, and the adapter that runs
// an Engine as a monitor's engine.

var _ engine.Engine = (*adapter)(nil)

// Factory makes track engines for a monitor's registry.
func Factory() engine.Factory {
	return engine.Factory{
		Kind:        Kind,
		NewSettings: newSettings,
		New: func(_ context.Context, cs config.Settings, d engine.Deps) (engine.Engine, error) {
			s := cs.(*Settings)
			files, err := s.files(d.Resolve)
			if err != nil {
				return nil, err
			}
			models, err := LoadModels(files)
			if err != nil {
				return nil, err
			}
			e := New(models, Options{Beam: s.Beam, Floor: s.Floor, Step: s.Step, Expire: s.Expire, MaxKeys: s.MaxKeys})
			if err := e.Compare(s.comparisons()); err != nil {
				return nil, err
			}
			return &adapter{e: e}, nil
		},
	}
}

// adapter runs an Engine as a monitor's engine.
type adapter struct {
	e *Engine
}

func (a *adapter) Handle(_ context.Context, ev *event.Event, emit engine.Emit) error {
	a.e.Handle(ev, func(r Report) { emit(r.Event()) })
	return nil
}

func (a *adapter) Tick(_ context.Context, now time.Time, emit engine.Emit) error {
	a.e.Tick(now, func(r Report) { emit(r.Event()) })
	return nil
}

func (a *adapter) Close(context.Context) error { return nil }
