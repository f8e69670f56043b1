package engine

import (
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// Engines may also describe what they follow now, for the dashboard and
// the HTTP API: a running monitor asks them through these optional
// interfaces. The monitor never calls their methods concurrently with
// Handle, Tick or Close (nor after Close), so they need no locking
// either; what they return must not share memory with the engine's
// state.

// TrackLister is an engine that follows keys (hosts) through models: the
// track engine.
type TrackLister interface {
	// Tracks returns the top track of the (key, model) pairs that match
	// q, the most recently observed first, as reports without an id
	// (the monitor fills its own and the engine's names). A track that
	// has not started is left out.
	Tracks(q TrackQuery) []event.Report
}

// TrackQuery selects live tracks; zero fields match everything.
type TrackQuery struct {
	// Key matches the track's key (a host's address or id) exactly.
	Key string
	// Model matches the model's id.
	Model string
	// Limit bounds how many are returned (0: no bound).
	Limit int
}

// SubjectLister is an engine that learns per subject: the profiler.
type SubjectLister interface {
	// Subjects describes the subjects that match q, the most recently
	// seen first.
	Subjects(q SubjectQuery) []Subject
}

// SubjectQuery selects subjects; zero fields match everything.
type SubjectQuery struct {
	// Class matches the profile class's name.
	Class string
	// Subject matches the subject exactly, or as the first of the
	// fields it joins ("web-3" matches "web-3,sshd").
	Subject string
	// Limit bounds how many are returned (0: no bound).
	Limit int
}

// Subject is what an engine has learnt of one subject so far.
type Subject struct {
	// Monitor and Engine are filled by the monitor.
	Monitor string `json:"monitor"`
	Engine  string `json:"engine"`
	Class   string `json:"class"`
	// Subject is the subject's key; Field the field (or fields) it is
	// read from.
	Subject string `json:"subject"`
	Field   string `json:"subject_field"`
	// Partition is the part of the week a subject with business hours
	// is split into ("business", "off-hours").
	Partition string    `json:"partition,omitempty"`
	Events    int64     `json:"events"`
	LastSeen  time.Time `json:"last_seen"`
	// Updates counts the long-term updates folded in; Scoring says the
	// subject's events are scored (it has a long-term profile).
	Updates int  `json:"updates"`
	Scoring bool `json:"scoring"`
	// Measures are what the subject has shown, measure by measure.
	Measures []MeasureSummary `json:"measures"`
}

// MeasureSummary is one measure of a subject: the categories or bins it
// has shown most, with their shares of what was learnt (the long-term
// profile and the current period together), or an intensity's level.
type MeasureSummary struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Field is the event field measured (empty for the event
	// distribution and intensities).
	Field string `json:"field,omitempty"`
	// Top are the most frequent categories or bins, most first.
	Top []Share `json:"top,omitempty"`
	// Level is an intensity measure's current value (events, aged by
	// its half-life Scale).
	Level float64 `json:"level,omitempty"`
	Scale string  `json:"scale,omitempty"`
}

// Share is a category's (or a bin's) share of a measure.
type Share struct {
	Value string  `json:"value"`
	Share float64 `json:"share"`
}
