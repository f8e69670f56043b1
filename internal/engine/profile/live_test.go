package profile

import (
	"context"
	"math"
	"os"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
)

// shippedHostProfiles is the profile engine of the built-in resource
// object (configs/default.yaml), alone in a resource object.
func shippedHostProfiles(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../../configs/default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Engines []map[string]any `yaml:"engines"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, e := range doc.Engines {
		if e["kind"] == Kind {
			out, err := yaml.Marshal(map[string]any{"monitor": map[string]any{"name": "local"}, "engines": []any{e}})
			if err != nil {
				t.Fatal(err)
			}
			return string(out)
		}
	}
	t.Fatal("configs/default.yaml runs no profiler")
	return ""
}

// agentEvent is an observation as the host agent makes it
// (internal/sensor/host: evaluate.go).
func agentEvent(typ, name string, at time.Time, attrs map[string]any) *event.Event {
	a := map[string]any{"name": name, "pid": int64(4242), "state": "S", "parent_name": "bash", "ppid": int64(4000),
		"mem_mb": 1.5, "uid": int64(1000), "exe": "/usr/bin/" + name}
	if typ == event.TypeSysMem {
		a = map[string]any{}
	}
	for k, v := range attrs {
		a[k] = v
	}
	return &event.Event{ID: typ + name + at.String(), Time: at, Type: typ, Host: "web-3", IP: "10.0.0.3", Source: "agent", Attrs: a}
}

// TestShippedHostProfiles runs the built-in resource object's profiler
// over a host agent's observations and checks what it says it learnt: per
// host and per process name, the kinds of observation, spawns and their
// rate, CPU and memory, with the live view's queries.
func TestShippedHostProfiles(t *testing.T) {
	cfg, reg := load(t, shippedHostProfiles(t))
	e := newEngine(t, cfg, reg, nil)
	ctx := context.Background()
	nop := func(event.Report) {}
	at := t0
	feed := func(ev *event.Event) {
		if err := e.Handle(ctx, ev, nop); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		at = at.Add(time.Second)
		feed(agentEvent(event.TypeProcSpawn, "sleep", at, nil))
		if i < 2 {
			feed(agentEvent(event.TypeProcTerm, "sleep", at, map[string]any{"lifetime_s": 30.0, "cpu_s": 0.02}))
		}
	}
	at = at.Add(time.Second)
	feed(agentEvent(event.TypeProcCPU, "gzip", at, map[string]any{"value": 95.0, "unit": "cpu_pct", "mem_mb": 5.0}))
	at = at.Add(time.Second)
	feed(agentEvent(event.TypeSysMem, "", at, map[string]any{"value": 80.0}))
	// A minute later: the intensities have halved at the 1m scale.
	if err := e.Tick(ctx, at.Add(time.Minute), nop); err != nil {
		t.Fatal(err)
	}
	sl, ok := e.(engine.SubjectLister)
	if !ok {
		t.Fatal("the profile engine does not list its subjects")
	}
	all := sl.Subjects(engine.SubjectQuery{})
	got := map[string]engine.Subject{}
	for _, s := range all {
		got[s.Class+"/"+s.Subject] = s
	}
	for _, want := range []string{"host/web-3", "process/web-3,sleep", "process/web-3,gzip", "process-spawns/web-3,sleep", "process-cpu/web-3,gzip", "process-exits/web-3,sleep"} {
		if _, ok := got[want]; !ok {
			t.Errorf("no subject %s among %d", want, len(all))
		}
	}
	if len(all) != 6 {
		t.Errorf("%d subjects, want 6", len(all))
	}
	// The most recently seen first: the host (SYS.MEM came last).
	if all[0].Class != "host" || all[0].Events != 7 || all[0].Scoring || all[0].Field != "host" {
		t.Errorf("first subject %+v", all[0])
	}
	measure := func(s engine.Subject, name string) engine.MeasureSummary {
		t.Helper()
		for _, m := range s.Measures {
			if m.Name == name {
				return m
			}
		}
		t.Fatalf("%s/%s has no measure %s: %+v", s.Class, s.Subject, name, s.Measures)
		return engine.MeasureSummary{}
	}
	share := func(m engine.MeasureSummary, value string) float64 {
		for _, s := range m.Top {
			if s.Value == value {
				return s.Share
			}
		}
		return -1
	}
	sleep := got["process/web-3,sleep"]
	act := measure(sleep, "activity")
	if sleep.Events != 5 || act.Field != "type" || share(act, event.TypeProcSpawn) != 0.6 || share(act, event.TypeProcTerm) != 0.4 || act.Top[0].Value != event.TypeProcSpawn {
		t.Errorf("what sleep does: %+v", act)
	}
	if m := measure(sleep, "memory"); len(m.Top) != 1 || m.Top[0].Value != "[1, 2)" || m.Top[0].Share != 1 {
		t.Errorf("sleep's memory: %+v", m)
	}
	if m := measure(sleep, "user"); share(m, "1000") != 1 {
		t.Errorf("sleep's user: %+v", m)
	}
	exits := got["process-exits/web-3,sleep"]
	if m := measure(exits, "cpu_s"); len(m.Top) != 1 || m.Top[0].Value != "[0.01, 0.1)" {
		t.Errorf("sleep's CPU seconds: %+v", m)
	}
	spawns := got["process-spawns/web-3,sleep"]
	rate := measure(spawns, "rate@1m0s")
	// Three spawns a second apart, aged 62 s from the last (two seconds
	// of other observations, then the minute): (1 + b (1 + b)) 2^(-62/60)
	// with b = 2^(-1/60).
	b := math.Exp2(-1.0 / 60)
	if want := (1 + b*(1+b)) * math.Exp2(-62.0/60); math.Abs(rate.Level-want) > 0.002 || rate.Kind != "intensity" || rate.Scale != "1m0s" {
		t.Errorf("spawn rate at 1m: %+v, want level %.3f", rate, want)
	}
	if m := measure(got["process-cpu/web-3,gzip"], "cpu_pct"); len(m.Top) != 1 || m.Top[0].Value != "[64, 128)" {
		t.Errorf("gzip's CPU: %+v", m)
	}
	if m := measure(got["host/web-3"], "process"); m.Top[0].Value != "sleep" || share(m, "gzip") <= 0 {
		t.Errorf("the host's processes: %+v", m)
	}

	// Queries: by class, by subject (whole, or the host of host,name
	// subjects), bounded.
	if s := sl.Subjects(engine.SubjectQuery{Class: "process"}); len(s) != 2 {
		t.Errorf("class process: %d subjects", len(s))
	}
	if s := sl.Subjects(engine.SubjectQuery{Subject: "web-3"}); len(s) != 6 {
		t.Errorf("subject web-3: %d subjects", len(s))
	}
	if s := sl.Subjects(engine.SubjectQuery{Subject: "web-3,gzip"}); len(s) != 2 {
		t.Errorf("subject web-3,gzip: %d subjects", len(s))
	}
	if s := sl.Subjects(engine.SubjectQuery{Subject: "web"}); len(s) != 0 {
		t.Errorf("a prefix that is no field matched %d subjects", len(s))
	}
	if s := sl.Subjects(engine.SubjectQuery{Limit: 2}); len(s) != 2 || s[0].Class != "host" {
		t.Errorf("limited: %+v", s)
	}
}

func TestBinName(t *testing.T) {
	edges := []float64{0.01, 0.1, 1}
	for k, want := range []string{"< 0.01", "[0.01, 0.1)", "[0.1, 1)", ">= 1"} {
		if got := binName(edges, k); got != want {
			t.Errorf("bin %d: %q, want %q", k, got, want)
		}
	}
	if got := binName(nil, 0); got != "" {
		t.Errorf("no edges: %q", got)
	}
}
