package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
)

type nopSettings struct {
	Level int `yaml:"level"`
}

func (s *nopSettings) Validate(p *config.Problems, path string) {
	if s.Level > 9 {
		p.Addf(config.Join(path, "level"), "at most 9")
	}
}

// nop is a test engine that only records what it was given.
type nop struct {
	deps  Deps
	level int
}

func (n *nop) Handle(context.Context, *event.Event, Emit) error { return nil }
func (n *nop) Tick(context.Context, time.Time, Emit) error      { return nil }
func (n *nop) Close(context.Context) error                      { return nil }

func factory(kind string) Factory {
	return Factory{
		Kind:        kind,
		NewSettings: func() config.Settings { return &nopSettings{Level: 1} },
		New: func(_ context.Context, s config.Settings, d Deps) (Engine, error) {
			return &nop{deps: d, level: s.(*nopSettings).Level}, nil
		},
	}
}

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	if err := r.Register(factory("b")); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(factory("a")); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(factory("a")); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate kind: %v", err)
	}
	if err := r.Register(Factory{Kind: "c"}); err == nil {
		t.Error("incomplete factory accepted")
	}
	if got := strings.Join(r.Kinds(), ","); got != "a,b" {
		t.Errorf("kinds %s", got)
	}
	// The registry decodes and validates engine sections for the loader.
	cfg, err := config.Load([]byte("monitor: {name: m}\nengines:\n  - kind: a\n    name: first\n    level: 7\n  - kind: b\n"), "m.yml", config.Registries{Engines: r})
	if err != nil {
		t.Fatal(err)
	}
	e, err := r.Build(context.Background(), cfg.Engines[0], Deps{Monitor: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if n := e.(*nop); n.level != 7 || n.deps.Name != "first" || n.deps.Monitor != "m" {
		t.Errorf("built %+v", n)
	}
	e2, _ := r.Build(context.Background(), cfg.Engines[1], Deps{})
	if n := e2.(*nop); n.level != 1 || n.deps.Name != "b" {
		t.Errorf("defaults or default name lost: %+v", n)
	}
	_, err = config.Load([]byte("monitor: {name: m}\nengines:\n  - kind: a\n    level: 12\n  - kind: zz\n"), "m.yml", config.Registries{Engines: r})
	if err == nil || !strings.Contains(err.Error(), "m.yml:4:5: engines[0].level: at most 9") || !strings.Contains(err.Error(), `unknown engine kind "zz" (known: a, b)`) {
		t.Errorf("validation through the registry: %v", err)
	}
	if _, err := r.Build(context.Background(), config.PluginSpec{Kind: "nope", Name: "x"}, Deps{}); err == nil {
		t.Error("built an unknown kind")
	}
}
