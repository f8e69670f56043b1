// Package hbmsg defines the heartbeat a monitor (and later a sensor)
// publishes on its heartbeat subject (bus.HeartbeatSubject) every
// interval: the "I'm alive" message of seed 002 section 3.6, carrying
// who it is, where it sits in the hierarchy, a sequence number and its
// counters. A watcher of that component reads it to follow its health.
//
// Decoding is strict: JSON of this version only, no unknown field,
// nothing after the object, at most MaxMessage bytes, no control
// character in a name, counters and interval within bounds.
package hbmsg

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vigil-ids/vigil/internal/wiremsg"
)

// Version is the version of the heartbeat this package reads and writes.
const Version = 1

// Bounds.
const (
	// MaxMessage bounds a heartbeat on the wire.
	MaxMessage = 2 << 10
	// MaxName bounds a component's, a layer's and a parent's name.
	MaxName = 128
	// MaxInterval is the longest interval a heartbeat may announce.
	MaxInterval = time.Hour
)

// Duration is a length of time written as Go writes durations ("2s").
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`interval: want a string such as "2s"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("interval %q: want one such as \"2s\"", clip(s))
	}
	*d = Duration(v)
	return nil
}

// Counters are what a component has done since it started.
type Counters struct {
	// EventsIn: distinct events accepted.
	EventsIn uint64 `json:"events_in"`
	// ReportsOut: reports made.
	ReportsOut uint64 `json:"reports_out"`
	// Lag: items accepted but not yet stored (the store's queue).
	Lag uint64 `json:"lag"`
	// Drops: messages lost to slowness (core subscriptions, a full store
	// or engine queue).
	Drops uint64 `json:"drops"`
}

// Heartbeat is one "I'm alive" message.
type Heartbeat struct {
	Version int `json:"version"`
	// Monitor names the component (a monitor's name, or a sensor's).
	Monitor string `json:"monitor"`
	// Layer is its layer (service, domain, enterprise; "" for a sensor).
	Layer string `json:"layer,omitempty"`
	// Parent is the monitor it answers to ("" for the root).
	Parent string `json:"parent,omitempty"`
	// Seq counts heartbeats since the component started (from 1; a
	// restart begins again).
	Seq uint64 `json:"seq"`
	// Time is when it was sent, by the sender's clock.
	Time time.Time `json:"time"`
	// Interval is how often the sender sends one.
	Interval Duration `json:"interval"`
	Counters Counters `json:"counters"`
}

// Encode writes a heartbeat.
func Encode(h Heartbeat) []byte { return wiremsg.Encode(h) }

// Decode reads and checks a heartbeat.
func Decode(data []byte) (Heartbeat, error) {
	var h Heartbeat
	if err := wiremsg.Decode(data, MaxMessage, &h); err != nil {
		return Heartbeat{}, fmt.Errorf("heartbeat: %w", err)
	}
	if err := h.Check(); err != nil {
		return Heartbeat{}, fmt.Errorf("heartbeat: %w", err)
	}
	return h, nil
}

// Check says what is wrong with a heartbeat, or nil.
func (h Heartbeat) Check() error {
	if h.Version != Version {
		return fmt.Errorf("version %d, this monitor reads version %d", h.Version, Version)
	}
	if err := wiremsg.Text("monitor", h.Monitor, MaxName, true); err != nil {
		return err
	}
	if err := wiremsg.Text("layer", h.Layer, MaxName, false); err != nil {
		return err
	}
	if err := wiremsg.Text("parent", h.Parent, MaxName, false); err != nil {
		return err
	}
	if h.Seq == 0 {
		return errors.New("seq 0: heartbeats count from 1")
	}
	if h.Time.IsZero() {
		return errors.New(`missing "time"`)
	}
	if d := time.Duration(h.Interval); d <= 0 || d > MaxInterval {
		return fmt.Errorf("interval %v: want one above 0 and at most %v", d, MaxInterval)
	}
	return nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
