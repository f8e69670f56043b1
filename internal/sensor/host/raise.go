package host

import (
	"fmt"
	"slices"
	"time"

	"github.com/vigil-ids/vigil/internal/controlmsg"
)

// Raised sampling: a configuration request (internal/controlmsg, on the
// agent's bus.AgentCtlSubject) makes the agent sample more often for a
// while, to see short-lived processes and brief spikes around a host a
// monitor suspects. The agent keeps each request in force until its end
// on the agent's clock, samples at the shortest interval any asks for,
// and goes back to its own once none is left.

// MinRaisedInterval is the shortest interval a request may ask for.
const MinRaisedInterval = 250 * time.Millisecond

// raise is one request in force.
type raise struct {
	interval time.Duration
	by       string
	until    time.Time
}

// Interval is the interval the agent samples at now: its own, or the
// shortest a request in force asks for.
func (a *Agent) Interval() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.effectiveLocked()
}

// Ticking is the interval the running agent's loop ticks at (0 before it
// runs): it follows Interval once the loop has seen a change.
func (a *Agent) Ticking() time.Duration { return time.Duration(a.ticking.Load()) }

func (a *Agent) effectiveLocked() time.Duration {
	d := a.o.Interval
	for _, r := range a.raises {
		d = min(d, r.interval)
	}
	return d
}

// wakeLoop tells the running loop the interval may have changed.
func (a *Agent) wakeLoop() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// expireRaises ends the requests whose time is up at now.
func (a *Agent) expireRaises(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, r := range a.raises {
		if !r.until.After(now) {
			delete(a.raises, id)
			a.o.Logger.Info("raised sampling request expired", "request", id, "by", r.by, "interval", r.interval, "until", r.until)
		}
	}
}

// ApplyControl carries out a configuration request for the agent (the
// Apply of its control.Receiver): ActionRaiseSampling and ActionRevert
// for TargetSampler.
func (a *Agent) ApplyControl(req controlmsg.Request, now time.Time) controlmsg.Reply {
	refused := func(format string, args ...any) controlmsg.Reply {
		return controlmsg.Reply{Status: controlmsg.StatusRefused, Detail: fmt.Sprintf(format, args...)}
	}
	if req.Target != controlmsg.TargetSampler {
		return refused("no target %q in the agent of host %s (targets: %s)", req.Target, a.o.HostID, controlmsg.TargetSampler)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	defer a.wakeLoop()
	switch req.Action {
	case controlmsg.ActionRaiseSampling:
		d, err := controlmsg.Interval(req.Parameters["interval"])
		switch {
		case err != nil:
			return refused("%v", err)
		case d < MinRaisedInterval:
			return refused("interval %v: shorter than the %v the agent samples at most", d, MinRaisedInterval)
		case d >= a.o.Interval:
			return refused("interval %v: not shorter than the agent's own (%v)", d, a.o.Interval)
		}
		until := now.Add(time.Duration(req.Duration))
		if a.raises == nil {
			a.raises = map[string]raise{}
		}
		a.raises[req.ID] = raise{interval: d, by: req.Monitor, until: until}
		eff := a.effectiveLocked()
		a.o.Logger.Info("sampling raised", "request", req.ID, "by", req.Monitor, "interval", d, "until", until, "sampling_every", eff)
		return controlmsg.Reply{Status: controlmsg.StatusDone, Expires: until,
			Detail: fmt.Sprintf("host %s samples every %v (its own interval %v) until %s", a.o.HostID, eff, a.o.Interval, until.UTC().Format(time.RFC3339))}
	case controlmsg.ActionRevert:
		id := req.Parameters["request"]
		r, ok := a.raises[id]
		if !ok {
			return controlmsg.Reply{Status: controlmsg.StatusDone, Detail: fmt.Sprintf("host %s: request %s is not in force (it expired, was reverted, or was never applied)", a.o.HostID, id)}
		}
		delete(a.raises, id)
		eff := a.effectiveLocked()
		a.o.Logger.Info("raised sampling request reverted", "request", id, "interval", r.interval, "sampling_every", eff)
		return controlmsg.Reply{Status: controlmsg.StatusDone, Detail: fmt.Sprintf("host %s: ended request %s; samples every %v", a.o.HostID, id, eff)}
	}
	return refused("the sampler takes %q, not %q", controlmsg.ActionRaiseSampling, req.Action)
}

// Raises lists the ids of the requests in force, sorted.
func (a *Agent) Raises() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ids []string
	for id := range a.raises {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
