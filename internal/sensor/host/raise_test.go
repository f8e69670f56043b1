package host

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/controlmsg"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

func raiseReq(id, interval string, d time.Duration) controlmsg.Request {
	return controlmsg.Request{Version: controlmsg.Version, ID: id, Monitor: "dom", Target: controlmsg.TargetSampler,
		Action: controlmsg.ActionRaiseSampling, Parameters: map[string]string{"interval": interval}, Duration: controlmsg.Duration(d)}
}

// distinct counts the distinct times of observations: one per sample.
func distinct(ts []time.Time) int {
	n := 0
	for i, t := range ts {
		if i == 0 || !t.Equal(ts[i-1]) {
			n++
		}
	}
	return n
}

// TestRaisedSamplingEndsOnItsOwn runs an agent sampling every 10 s on a
// manual clock: a request makes it sample every second, for five seconds
// of the clock; then it samples every 10 s again.
func TestRaisedSamplingEndsOnItsOwn(t *testing.T) {
	root := filepath.Join(t.TempDir(), "proc")
	writeTree(t, root, base())
	ex, err := NewExtractor(root, testutil.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewManual(t0)
	sink := &timesSink{}
	a := NewAgent(AgentOptions{Extractor: ex, Interval: 10 * time.Second, HostID: "web-1", Sink: sink, Clock: clk, Logger: testutil.Quiet(),
		Eval: EvalConfig{Window: 2, Thresholds: map[string]Threshold{event.TypeSysMem: {Abs: -1e9, Rel: -1e9}}}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	testutil.WaitFor(t, 10*time.Second, "the agent's loop", func() bool { return a.Ticking() == 10*time.Second })

	rep := a.ApplyControl(raiseReq("d1", "1s", 5*time.Second), clk.Now())
	if rep.Status != controlmsg.StatusDone || !rep.Expires.Equal(t0.Add(5*time.Second)) || !strings.Contains(rep.Detail, "host web-1 samples every 1s (its own interval 10s)") {
		t.Fatalf("reply %+v", rep)
	}
	testutil.WaitFor(t, 10*time.Second, "the loop to tick every second", func() bool { return a.Ticking() == time.Second })
	for i := 1; i <= 4; i++ {
		clk.Advance(time.Second)
		testutil.WaitFor(t, 10*time.Second, "a sample each second", func() bool { return distinct(sink.get()) == i })
	}
	// The tick at the request's end is the last raised one.
	clk.Advance(time.Second)
	testutil.WaitFor(t, 10*time.Second, "the interval back to its own", func() bool { return a.Ticking() == 10*time.Second })
	if got := a.Raises(); len(got) != 0 {
		t.Errorf("requests still in force: %v", got)
	}
	n := distinct(sink.get())
	clk.Advance(time.Second)
	time.Sleep(100 * time.Millisecond)
	if got := distinct(sink.get()); got != n {
		t.Errorf("a sample a second after the request ended")
	}
	clk.Advance(9 * time.Second)
	testutil.WaitFor(t, 10*time.Second, "the sample of its own interval", func() bool { return distinct(sink.get()) == n+1 })
}

func TestRaiseSamplingRefusesAndReverts(t *testing.T) {
	a := NewAgent(AgentOptions{Interval: 4 * time.Second, HostID: "web-1", Logger: testutil.Quiet()})
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, c := range map[string]struct {
		req  controlmsg.Request
		want string
	}{
		"too fast":     {raiseReq("r1", "10ms", time.Minute), "shorter than the 250ms the agent samples at most"},
		"not faster":   {raiseReq("r2", "4s", time.Minute), "not shorter than the agent's own (4s)"},
		"other target": {func() controlmsg.Request { r := raiseReq("r3", "1s", time.Minute); r.Target = "signatures"; return r }(), `no target "signatures" in the agent of host web-1 (targets: sampler)`},
		"other action": {controlmsg.Request{ID: "r4", Target: controlmsg.TargetSampler, Action: controlmsg.ActionEnableGroup, Parameters: map[string]string{"group": "g"}}, `takes "raise-sampling", not "enable-group"`},
	} {
		if rep := a.ApplyControl(c.req, now); rep.Status != controlmsg.StatusRefused || !strings.Contains(rep.Detail, c.want) {
			t.Errorf("%s: %+v, want refused saying %q", name, rep, c.want)
		}
	}
	if a.Interval() != 4*time.Second {
		t.Fatalf("a refused request changed the interval to %v", a.Interval())
	}
	a.ApplyControl(raiseReq("a", "2s", time.Hour), now)
	a.ApplyControl(raiseReq("b", "1s", time.Minute), now)
	if a.Interval() != time.Second {
		t.Errorf("two requests: interval %v, want the shorter", a.Interval())
	}
	revert := controlmsg.Request{ID: "u", Target: controlmsg.TargetSampler, Action: controlmsg.ActionRevert, Parameters: map[string]string{"request": "b"}}
	if rep := a.ApplyControl(revert, now); rep.Status != controlmsg.StatusDone || !strings.Contains(rep.Detail, "ended request b; samples every 2s") {
		t.Errorf("revert: %+v", rep)
	}
	if rep := a.ApplyControl(revert, now); rep.Status != controlmsg.StatusDone || !strings.Contains(rep.Detail, "request b is not in force") {
		t.Errorf("second revert: %+v", rep)
	}
}
