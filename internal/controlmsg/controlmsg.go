// Package controlmsg defines the configuration requests a monitor answers
// on its control subject (bus.CtlSubject; seed 002 section 3.5: "the
// resolver can also submit runtime configuration requests to the analysis
// engines"), and the replies. A request asks one engine of the monitor to
// become more sensitive for a while (enable a group of standby rules,
// lower a subject's alarm threshold), or to end such a change early; the
// reply says whether it was done, refused or failed, and when the change
// ends by itself.
//
// Both sides decode strictly: JSON of this version only, no unknown field,
// nothing after the object, at most MaxMessage bytes, no control character
// in a name, and the parameters each action takes and no others.
package controlmsg

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/wiremsg"
)

// Version is the version of the messages this package reads and writes.
const Version = 1

// MaxMessage bounds a request or a reply.
const MaxMessage = 16 << 10

// Bounds of a request's parts.
const (
	MaxID     = 128
	MaxName   = 256
	MaxDetail = 4096
	MaxParams = 8
	// MaxDuration is the longest a change may last: a sensitisation is a
	// temporary measure, renewed by a new request when still wanted.
	MaxDuration = 24 * time.Hour
)

// Actions.
const (
	// ActionEnableGroup turns on, for the duration, the standby rules of a
	// signature engine's group (rules written `enabled: false` with a
	// `group`). Parameters: "group".
	ActionEnableGroup = "enable-group"
	// ActionLowerThreshold multiplies the alarm threshold of a profile
	// engine's subject by "factor" (above 0, below 1) for the duration.
	// Parameters: "subject", "factor", and optionally "class" (one
	// profile class; default every class holding the subject).
	ActionLowerThreshold = "lower-threshold"
	// ActionRaiseSampling makes a host agent's /proc sampler (target
	// TargetSampler) sample every "interval" (a duration such as "1s",
	// shorter than its own) for the duration. Parameters: "interval".
	ActionRaiseSampling = "raise-sampling"
	// ActionWatchAddress makes a network sensor (target TargetNetsensor)
	// keep every activity record to or from "address" (an address or a
	// prefix) for the duration, beyond its record budget, each marked
	// watched. Parameters: "address".
	ActionWatchAddress = "watch-address"
	// ActionRevert ends the change made by request "request" before its
	// time. It takes no duration.
	ActionRevert = "revert"
)

// TargetSampler is the target of a host agent's /proc sampler.
const TargetSampler = "sampler"

// TargetNetsensor is the target of a network sensor.
const TargetNetsensor = "netsensor"

// Actions lists the actions, in the order messages name them.
var Actions = []string{ActionEnableGroup, ActionLowerThreshold, ActionRaiseSampling, ActionWatchAddress, ActionRevert}

// Sensitising says whether action makes a part more sensitive for a while
// or ends such a change early: what a peer may ask (seed 002 section 4:
// peer domains sensitise each other); every other action is the parent's
// alone. Every action of this version is one.
func Sensitising(action string) bool {
	switch action {
	case ActionEnableGroup, ActionLowerThreshold, ActionRaiseSampling, ActionWatchAddress, ActionRevert:
		return true
	}
	return false
}

// params are the parameters each action takes: required first, then
// optional.
var params = map[string]struct{ required, optional []string }{
	ActionEnableGroup:    {required: []string{"group"}},
	ActionLowerThreshold: {required: []string{"subject", "factor"}, optional: []string{"class"}},
	ActionRaiseSampling:  {required: []string{"interval"}},
	ActionWatchAddress:   {required: []string{"address"}},
	ActionRevert:         {required: []string{"request"}},
}

// Reply statuses.
const (
	// StatusDone: the change is in force until Expires (for a revert: the
	// change is over).
	StatusDone = "done"
	// StatusRefused: nothing was changed (an unknown engine, group or
	// subject, an engine that cannot do it, a duration out of bounds, an
	// asker not accepted, a malformed request); Detail says why.
	StatusRefused = "refused"
	// StatusFailed: the monitor tried and could not (its engine has
	// stopped).
	StatusFailed = "failed"
)

// Duration is a length of time written as Go writes durations ("10m0s").
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`duration: want a string such as "10m"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: want one such as \"10m\"", s)
	}
	*d = Duration(v)
	return nil
}

// Request is what a monitor (or an operator's tool) asks of a monitor.
type Request struct {
	Version int `json:"version"`
	// ID identifies the request: a repeated id is answered with the first
	// reply without acting again, and a revert names it.
	ID string `json:"id"`
	// Monitor names the asker; the receiver decides whether it accepts
	// requests from it.
	Monitor string `json:"monitor"`
	// Target is the engine (its name in the monitor's resource object)
	// the request is for.
	Target string `json:"target"`
	// Action is one of Actions; Parameters what it takes.
	Action     string            `json:"action"`
	Parameters map[string]string `json:"parameters,omitempty"`
	// Duration is how long the change lasts (0 for a revert).
	Duration Duration `json:"duration,omitzero"`
	// Reason says why (one line, for the receiver's log).
	Reason string `json:"reason,omitempty"`
}

// Reply is a monitor's answer.
type Reply struct {
	Version int    `json:"version"`
	ID      string `json:"id"`
	// Monitor names the monitor that answered.
	Monitor string `json:"monitor"`
	Status  string `json:"status"`
	// Detail says what was changed, or why nothing was.
	Detail string `json:"detail,omitempty"`
	// Expires is when the change ends by itself (done requests).
	Expires time.Time `json:"expires,omitzero"`
}

// DecodeRequest reads and checks a request.
func DecodeRequest(data []byte) (Request, error) {
	var r Request
	if err := decode(data, &r); err != nil {
		return r, fmt.Errorf("control request: %w", err)
	}
	if err := r.Check(); err != nil {
		return r, fmt.Errorf("control request: %w", err)
	}
	return r, nil
}

// Check says what is wrong with a request, or nil.
func (r Request) Check() error {
	if r.Version != Version {
		return fmt.Errorf("version %d, this monitor reads version %d", r.Version, Version)
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"id", r.ID, MaxID}, {"monitor", r.Monitor, MaxName}, {"target", r.Target, MaxName}} {
		if err := Text(f.name, f.v, f.max, true); err != nil {
			return err
		}
	}
	if len(r.Reason) > MaxDetail {
		return fmt.Errorf("reason longer than %d bytes", MaxDetail)
	}
	if err := CheckParameters(r.Action, r.Parameters, true); err != nil {
		return err
	}
	d := time.Duration(r.Duration)
	if r.Action == ActionRevert {
		if d != 0 {
			return errors.New(`action "revert" takes no duration`)
		}
		return nil
	}
	return CheckDuration(d)
}

// CheckDuration says what is wrong with a change's duration, or nil.
func CheckDuration(d time.Duration) error {
	switch {
	case d <= 0:
		return fmt.Errorf("duration %v: a change must last a positive time (it expires on its own)", d)
	case d > MaxDuration:
		return fmt.Errorf("duration %v: longer than the %v a change may last", d, MaxDuration)
	}
	return nil
}

// CheckParameters says what is wrong with an action's parameters, or nil.
// With complete false, required parameters may be missing (a response
// method's settings, which the decision completes).
func CheckParameters(action string, p map[string]string, complete bool) error {
	spec, ok := params[action]
	if !ok {
		return fmt.Errorf("action %q: want one of %s", action, strings.Join(Actions, ", "))
	}
	if len(p) > MaxParams {
		return fmt.Errorf("%d parameters, at most %d", len(p), MaxParams)
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(spec.required, k) && !slices.Contains(spec.optional, k) {
			return fmt.Errorf("action %q takes no parameter %q (it takes %s)", action, clip(k), strings.Join(append(slices.Clone(spec.required), spec.optional...), ", "))
		}
		if err := Text("parameters."+k, p[k], MaxName, true); err != nil {
			return err
		}
	}
	if complete {
		for _, k := range spec.required {
			if _, ok := p[k]; !ok {
				return fmt.Errorf("action %q needs parameter %q", action, k)
			}
		}
	}
	if f, ok := p["factor"]; ok {
		if _, err := Factor(f); err != nil {
			return err
		}
	}
	if v, ok := p["interval"]; ok {
		if _, err := Interval(v); err != nil {
			return err
		}
	}
	if v, ok := p["address"]; ok {
		if _, err := Address(v); err != nil {
			return err
		}
	}
	return nil
}

// Address reads a watch-address address: an address or a prefix (as a
// prefix; an address is its own /32 or /128).
func Address(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	return netip.Prefix{}, fmt.Errorf("address %q: want an address or a prefix such as 198.51.100.0/24", clip(s))
}

// Interval reads a raise-sampling interval: a positive duration.
func Interval(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("interval %q: want a positive duration such as \"1s\"", clip(s))
	}
	return d, nil
}

// Factor reads a lower-threshold factor: a number above 0 and below 1.
func Factor(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v > 0 && v < 1) {
		return 0, fmt.Errorf("factor %q: want a number above 0 and below 1 (0.5 halves the threshold)", clip(s))
	}
	return v, nil
}

// DecodeReply reads and checks a reply.
func DecodeReply(data []byte) (Reply, error) {
	var r Reply
	if err := decode(data, &r); err != nil {
		return r, fmt.Errorf("control reply: %w", err)
	}
	if r.Version != Version {
		return r, fmt.Errorf("control reply: version %d, want %d", r.Version, Version)
	}
	if err := Text("id", r.ID, MaxID, true); err != nil {
		return r, fmt.Errorf("control reply: %w", err)
	}
	if err := Text("monitor", r.Monitor, MaxName, true); err != nil {
		return r, fmt.Errorf("control reply: %w", err)
	}
	if len(r.Detail) > MaxDetail {
		return r, fmt.Errorf("control reply: detail longer than %d bytes", MaxDetail)
	}
	switch r.Status {
	case StatusDone, StatusRefused, StatusFailed:
	default:
		return r, fmt.Errorf("control reply: status %q: want %q, %q or %q", clip(r.Status), StatusDone, StatusRefused, StatusFailed)
	}
	return r, nil
}

// Encode writes a message.
func Encode(v any) []byte { return wiremsg.Encode(v) }

func decode(data []byte, v any) error { return wiremsg.Decode(data, MaxMessage, v) }

// Text says what is wrong with a name (wiremsg.Text).
func Text(field, v string, maxLen int, required bool) error {
	return wiremsg.Text(field, v, maxLen, required)
}

// clip bounds a string quoted in an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
