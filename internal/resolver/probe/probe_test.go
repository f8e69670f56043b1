package probe

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/testutil"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testDeps() action.Deps {
	return action.Deps{Name: "p1", Monitor: "svc-web", Clock: clock.NewManual(t0), Logger: testutil.Quiet(), Resolve: func(p string) string { return p }}
}

func registry(t *testing.T) *action.Registry {
	t.Helper()
	r := action.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	return r
}

// build validates settings as the loader would and builds the method
// through the registry.
func build(t *testing.T, kind string, set func(config.Settings)) action.Method {
	t.Helper()
	r := registry(t)
	s, ok := r.NewSettings(kind)
	if !ok {
		t.Fatalf("kind %s not registered", kind)
	}
	set(s)
	var p config.Problems
	s.Validate(&p, "responses[0]")
	if p.Len() > 0 {
		t.Fatalf("settings of %s do not validate: %v", kind, p.List())
	}
	m, err := r.Build(context.Background(), config.PluginSpec{Kind: kind, Name: "p1", Settings: s}, testDeps())
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := m.(action.Closer); ok {
		t.Cleanup(func() { _ = c.Close() })
	}
	return m
}

// problems validates settings and returns the problems as "path: msg".
func problems(s config.Settings) []string {
	var p config.Problems
	s.Validate(&p, "r")
	var out []string
	for _, pr := range p.List() {
		out = append(out, pr.Path+": "+pr.Msg)
	}
	return out
}

func request() action.Request {
	return action.Request{ID: "d1", Policy: "web-red", Method: "p1", Key: "k", Subject: action.Subject{Host: "web-1"}, Reason: "host web-1 red", Time: t0}
}

// mismatches returns the *ErrMismatch errors err wraps.
func mismatches(err error) []*ErrMismatch {
	var out []*ErrMismatch
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if m, ok := e.(*ErrMismatch); ok {
			out = append(out, m)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

func TestRegisterTwiceIsRefused(t *testing.T) {
	r := registry(t)
	if err := Register(r); err == nil {
		t.Fatal("registering the probe kinds twice succeeded")
	}
	if got := r.Kinds(); len(got) != 3 || got[0] != KindExe || got[1] != KindFile || got[2] != KindHTTP {
		t.Errorf("kinds %v", got)
	}
	if n := r.Needs(KindFile, nil); len(n) != 0 {
		t.Errorf("file-probe needs %v, want nothing", n)
	}
}

func TestErrMismatchIsFoundThroughWrapping(t *testing.T) {
	err := errors.Join(errors.New("x"), &ErrMismatch{Target: "/bin/\ntrue", What: "md5", Want: "a", Got: "b"})
	var m *ErrMismatch
	if !errors.As(err, &m) || m.What != "md5" {
		t.Fatalf("errors.As: %v", err)
	}
	if got := m.Error(); got != `"/bin/\ntrue": md5 differs: want a, got b` {
		t.Errorf("message %q: the target must stay quoted text", got)
	}
}
