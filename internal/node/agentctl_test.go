package node

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/sensor/host"
	"github.com/vigil-ids/vigil/internal/sensor/netsensor"
	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/bustest"
)

// TestSensitiseRaisesAnAgentsSampling: a monitor's sensitise method asks
// the agent of the decision's host, running over this machine's /proc
// with the sensors' identity, to sample every 500 ms: the agent's loop
// ticks at that interval until the method's Undo, then at its own again;
// an interval below the agent's floor is refused.
func TestSensitiseRaisesAnAgentsSampling(t *testing.T) {
	s, mon, sen := bustest.StartLocal(t)
	a := config.Default().Agent
	a.HostID = "web-1"
	o, err := host.OptionsFrom(a, testutil.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	ag := host.NewAgent(o)
	g := NewGroup(testutil.Quiet())
	g.Add(Component{Name: "host agent", Run: ag.Run})
	g.Add(AgentControl(ag, "web-1", bustest.ConnectAs(t, s, sen, "agent"), testutil.Quiet()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	testutil.WaitFor(t, 10*time.Second, "the agent's loop", func() bool { return ag.Ticking() == config.DefaultAgentInterval })

	reg := ResponseRegistry()
	ro, err := config.Load([]byte(`monitor: {name: dom}
responses:
  - {kind: sensitise, name: closer, action: raise-sampling, parameters: {interval: 500ms}, duration: 15m}
  - {kind: sensitise, name: too-close, action: raise-sampling, parameters: {interval: 10ms}}
resolver:
  policies:
    - {name: p, where: {severity: red}, subject: host, methods: [closer]}
`), "dom.yml", config.Registries{Responses: reg})
	if err != nil {
		t.Fatal(err)
	}
	monitor := bustest.ConnectAs(t, s, mon, "dom")
	deps := action.Deps{Monitor: "dom", Request: monitor.Request, Logger: testutil.Quiet()}
	m, err := reg.Build(context.Background(), ro.Responses[0], deps)
	if err != nil {
		t.Fatal(err)
	}
	req := action.Request{ID: "dec-1", Time: time.Now(), Subject: action.Subject{Host: "web-1"}}
	plan, err := m.Plan(req)
	if want := "ask the agent of host web-1 (" + bus.AgentCtlSubject("web-1") + ") to sample /proc every 500ms for 15m0s"; err != nil || plan != want {
		t.Errorf("Plan = %q, %v\nwant %q", plan, err, want)
	}
	var out action.Outcome
	testutil.WaitFor(t, 10*time.Second, "the agent to take requests", func() bool {
		out, err = m.Execute(context.Background(), req)
		return err == nil
	})
	if !strings.Contains(out.Detail, "the agent of host web-1: host web-1 samples every 500ms (its own interval 4s)") || out.Expires.IsZero() {
		t.Errorf("outcome %+v", out)
	}
	testutil.WaitFor(t, 10*time.Second, "the agent to sample every 500ms", func() bool { return ag.Ticking() == 500*time.Millisecond })
	if err := m.(action.Undoer).Undo(context.Background(), req, out); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the agent back to its own interval", func() bool { return ag.Ticking() == config.DefaultAgentInterval })

	tooClose, err := reg.Build(context.Background(), ro.Responses[1], deps)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tooClose.Execute(context.Background(), action.Request{ID: "dec-2", Time: time.Now(), Subject: action.Subject{Host: "web-1"}})
	if !errors.Is(err, action.ErrRefused) || !strings.Contains(err.Error(), "shorter than the 250ms") {
		t.Errorf("a 10ms interval: %v, want a refusal saying why", err)
	}
}

// TestSensitiseWatchesAnAddress: a monitor's sensitise method asks a
// network sensor, connected with the sensors' identity, to watch the
// decision's address: the sensor watches it until the method's Undo; a
// policy whose decision names no address cannot use the method.
func TestSensitiseWatchesAnAddress(t *testing.T) {
	s, mon, sen := bustest.StartLocal(t)
	sensor := netsensor.New(netsensor.Config{ID: "gw-1"}, nil, func(event.Event) {}, testutil.Quiet())
	g := NewGroup(testutil.Quiet())
	g.Add(SensorControl("network sensor gw-1", "gw-1", sensor.ApplyControl, bustest.ConnectAs(t, s, sen, "gw-1"), testutil.Quiet()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	reg := ResponseRegistry()
	ro, err := config.Load([]byte(`monitor: {name: dom}
responses:
  - {kind: sensitise, name: watch, sensor: gw-1, action: watch-address, duration: 30m}
resolver:
  policies:
    - {name: p, where: {severity: red}, subject: "addr:src", methods: [watch]}
`), "dom.yml", config.Registries{Responses: reg})
	if err != nil {
		t.Fatal(err)
	}
	deps := action.Deps{Monitor: "dom", Request: bustest.ConnectAs(t, s, mon, "dom").Request, Logger: testutil.Quiet()}
	m, err := reg.Build(context.Background(), ro.Responses[0], deps)
	if err != nil {
		t.Fatal(err)
	}
	req := action.Request{ID: "dec-1", Time: time.Now(), Subject: action.Subject{Addr: netip.MustParseAddr("198.51.100.7")}}
	plan, err := m.Plan(req)
	if want := "ask network sensor gw-1 (" + bus.AgentCtlSubject("gw-1") + ") to keep every record to or from 198.51.100.7, beyond its record budget for 30m0s"; err != nil || plan != want {
		t.Errorf("Plan = %q, %v\nwant %q", plan, err, want)
	}
	var out action.Outcome
	testutil.WaitFor(t, 10*time.Second, "the sensor to take requests", func() bool {
		out, err = m.Execute(context.Background(), req)
		return err == nil
	})
	if got := sensor.Watching(time.Now()); len(got) != 1 || got[0].String() != "198.51.100.7/32" {
		t.Fatalf("the sensor watches %v after %+v", got, out)
	}
	if err := m.(action.Undoer).Undo(context.Background(), req, out); err != nil {
		t.Fatal(err)
	}
	if got := sensor.Watching(time.Now()); len(got) != 0 {
		t.Errorf("still watching %v after the undo", got)
	}
	_, err = config.Load([]byte(`monitor: {name: dom}
responses:
  - {kind: sensitise, name: watch, sensor: gw-1, action: watch-address}
resolver:
  policies:
    - {name: p, where: {severity: red}, subject: host, methods: [watch]}
`), "dom.yml", config.Registries{Responses: reg})
	if err == nil || !strings.Contains(err.Error(), "acts on an address") {
		t.Errorf("watch-address under subject host: %v", err)
	}
}
