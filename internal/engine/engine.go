// Package engine defines the contract between a monitor and its analysis
// engines, and the registry through which engine kinds make themselves
// available to resource objects.
//
// An engine consumes events and emits reports (seed 002 section 3.1). The
// monitor owns the goroutines: it calls an engine's methods from one
// goroutine at a time, so an engine needs no locking of its own, and it
// drives time through Tick with its injected clock (the wall clock live,
// event times in a replay), so an engine never reads the wall clock.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
)

// Emit passes a report to the monitor's resolver. The engine fills what it
// concluded (model, subject, score, severity, state, evidence,
// explanation, attributes); the resolver stamps the id, the time (when
// zero), the monitor and the engine's name.
type Emit func(event.Report)

// Engine is one analysis engine instance in a monitor.
//
// The monitor calls Handle, Tick and Close from a single goroutine, never
// concurrently. Events passed to Handle are never modified afterwards: an
// engine may keep the pointer. Emit may be called any number of times
// during Handle or Tick, never after they return. When ctx is cancelled an
// engine returns promptly; Close follows.
type Engine interface {
	// Handle analyses one event. An error is logged and counted by the
	// monitor, which goes on with the next event.
	Handle(ctx context.Context, ev *event.Event, emit Emit) error
	// Tick tells the engine the time is now, so that windows close and
	// timeouts expire without new events. It is called at least once a
	// second live, and before each event in a replay.
	Tick(ctx context.Context, now time.Time, emit Emit) error
	// Close releases what the engine holds (saving what it learnt, say);
	// ctx bounds how long that may take.
	Close(ctx context.Context) error
}

// Deps are what a monitor gives an engine it builds.
type Deps struct {
	// Name is the instance's name from the resource object.
	Name string
	// Monitor is the name of the monitor the engine runs in.
	Monitor string
	Clock   clock.Clock
	Logger  *slog.Logger
	// Resolve makes a path from the resource object absolute.
	Resolve func(string) string
	// Metrics, when set, is where the engine registers its own series
	// (labelled with its name); nil in replays and tests.
	Metrics prometheus.Registerer
	// State, when set, keeps what an engine learnt across restarts (the
	// monitor's store); nil in replays and tests.
	State StateStore
}

// StateStore keeps engines' learnt state by name.
type StateStore interface {
	SaveState(ctx context.Context, name string, data []byte, at time.Time) error
	// LoadState returns nil data when nothing was saved.
	LoadState(ctx context.Context, name string) ([]byte, time.Time, error)
}

// ItemStateStore is a StateStore that also keeps a state as items (one
// per learnt subject, say), so that a save writes only what changed.
type ItemStateStore interface {
	StateStore
	// SaveStateItems drops every item first with replace, then deletes
	// del and writes put, at once.
	SaveStateItems(ctx context.Context, name string, put map[string][]byte, del []string, replace bool, at time.Time) error
	// LoadStateItems hands fn the items in key order; found is false when
	// there are none.
	LoadStateItems(ctx context.Context, name string, fn func(key string, data []byte) error) (at time.Time, found bool, err error)
}

// Factory makes engines of one kind.
type Factory struct {
	// Kind is the name resource objects use ("profile", "signature", ...).
	Kind string
	// NewSettings returns the kind's settings with their defaults.
	NewSettings func() config.Settings
	// New builds an engine from validated settings; ctx bounds what
	// building it does (reading rule files, loading saved state).
	New func(ctx context.Context, settings config.Settings, deps Deps) (Engine, error)
}

// Registry holds the engine kinds a binary offers. It implements
// config.Kinds, so the resource-object loader can decode and validate
// each engine's section.
type Registry struct {
	kinds map[string]Factory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{kinds: map[string]Factory{}} }

// Register adds a kind. Registering a kind twice, or one without a name,
// settings or constructor, is an error.
func (r *Registry) Register(f Factory) error {
	if f.Kind == "" || f.NewSettings == nil || f.New == nil {
		return fmt.Errorf("engine: incomplete factory for kind %q", f.Kind)
	}
	if _, dup := r.kinds[f.Kind]; dup {
		return fmt.Errorf("engine: kind %q registered twice", f.Kind)
	}
	r.kinds[f.Kind] = f
	return nil
}

// NewSettings implements config.Kinds.
func (r *Registry) NewSettings(kind string) (config.Settings, bool) {
	f, ok := r.kinds[kind]
	if !ok {
		return nil, false
	}
	return f.NewSettings(), true
}

// Kinds implements config.Kinds.
func (r *Registry) Kinds() []string {
	out := make([]string, 0, len(r.kinds))
	for k := range r.kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Build makes the engine a resource object's spec describes.
func (r *Registry) Build(ctx context.Context, spec config.PluginSpec, deps Deps) (Engine, error) {
	f, ok := r.kinds[spec.Kind]
	if !ok {
		return nil, fmt.Errorf("engine %s: unknown kind %q", spec.Name, spec.Kind)
	}
	settings := spec.Settings
	if settings == nil {
		settings = f.NewSettings()
	}
	deps.Name = spec.Name
	e, err := f.New(ctx, settings, deps)
	if err != nil {
		return nil, fmt.Errorf("engine %s (%s): %w", spec.Name, spec.Kind, err)
	}
	return e, nil
}

var _ config.Kinds = (*Registry)(nil)

// ClockOrReal is the engine's clock: d.Clock, or the real one.
func (d Deps) ClockOrReal() clock.Clock {
	if d.Clock == nil {
		return clock.Real{}
	}
	return d.Clock
}

// LoggerOrDefault is the engine's logger: d.Logger, or slog's default.
func (d Deps) LoggerOrDefault() *slog.Logger {
	if d.Logger == nil {
		return slog.Default()
	}
	return d.Logger
}

// StateFile is the file where an engine keeps what it learnt, from its
// settings' path: a relative path is made absolute against the resource
// object's directory (d.Resolve). "" (none: the engine keeps its state in
// d.State, when set) stays "".
func (d Deps) StateFile(path string) string {
	if path != "" && !filepath.IsAbs(path) && d.Resolve != nil {
		return d.Resolve(path)
	}
	return path
}

// SaveEvery is how often an engine that learns (profile, population)
// saves what it learnt while running, besides when it closes.
const SaveEvery = 5 * time.Minute

// VectorHandler is implemented by an engine that analyses system call
// count vectors (event.CountVector, stream VIGIL_CV) besides events. A
// monitor consumes the count vectors of its bus only when one of its
// engines implements it; the others never see them.
//
// The monitor calls HandleVectors from the same goroutine as Handle and
// Tick, never concurrently with them. The vectors passed are the
// engine's to keep; each is valid (event.CountVector.Validate). Vectors
// of one process arrive in the order they were published, which is time
// order; the monitor drops the vectors it recognises as delivered again
// (by host, pid and start) within its window, but after a restart a
// vector handled before and not yet acknowledged may come again, so an
// engine that must not count one twice ignores a vector that does not
// start after the last it took for that process. A vector counts as
// analysed once HandleVectors returns: the monitor acknowledges it on the
// bus then, so a monitor stopped in order neither loses nor repeats one.
// Emit may be called during HandleVectors, never after it returns. An
// error is logged and counted; the monitor goes on with the next vectors.
type VectorHandler interface {
	HandleVectors(ctx context.Context, vs []*event.CountVector, emit Emit) error
}
