// Package resolver is a monitor's resolver (seed 002 section 3.5): it
// receives the reports of the monitor's analysis engines, completes and
// checks them, records every one, and disseminates those that meet the
// monitor's policy to its subscribers; its decision unit (Unit) applies
// the response policies to them and runs the response methods (package
// action) under the safety rules, keeping every decision in the audit
// (docs/RESPONSES.md).
package resolver

import (
	"fmt"
	"log/slog"
	"sync"
	"unicode/utf8"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/event"
)

// Options configure a resolver.
type Options struct {
	// Monitor is the name stamped on every report.
	Monitor string
	// Publish enables dissemination; MinSeverity is the least severe
	// report disseminated.
	Publish     bool
	MinSeverity event.Severity
	IDs         event.IDSource
	Clock       clock.Clock
	Logger      *slog.Logger
	// Record receives every accepted report (the store, the live feed).
	Record func(*event.Report)
	// Disseminate receives the reports the policy sends to subscribers
	// (the bus).
	Disseminate func(*event.Report)
	// Decide receives every accepted report for the decision unit
	// (Unit.Offer); it must not block.
	Decide func(event.Report)
}

// Resolver decides what happens to reports. It is safe for concurrent use:
// engines running in their own goroutines may hand it reports at once.
type Resolver struct {
	o  Options
	mu sync.Mutex
}

// New returns a resolver.
func New(o Options) *Resolver {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.IDs == nil {
		o.IDs = event.NewRandomIDs()
	}
	return &Resolver{o: o}
}

// Handle completes a report from engine (id, time, monitor, engine name),
// keeps it within the report limits, validates it, records it and, when
// the policy says so, disseminates it. It returns the report as recorded.
func (r *Resolver) Handle(engine string, rep event.Report) (event.Report, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rep.Time.IsZero() {
		rep.Time = r.o.Clock.Now()
	}
	rep.Time = rep.Time.UTC()
	if rep.ID == "" {
		rep.ID = r.o.IDs.NewID(rep.Time)
	}
	rep.Monitor = r.o.Monitor
	rep.Engine = engine
	if len(rep.Explanation) > event.MaxExplanationLen {
		cut := event.MaxExplanationLen - 3
		for cut > 0 && !utf8.RuneStart(rep.Explanation[cut]) {
			cut--
		}
		rep.Explanation = rep.Explanation[:cut] + "..."
	}
	if n := len(rep.Evidence); n > event.MaxListLen {
		// Keep the latest evidence; say how much there was.
		rep.Evidence = rep.Evidence[n-event.MaxListLen:]
		if rep.Attrs == nil {
			rep.Attrs = map[string]any{}
		}
		rep.Attrs["evidence_total"] = int64(n)
	}
	if err := rep.Validate(); err != nil {
		return rep, fmt.Errorf("resolver: report from engine %s: %w", engine, err)
	}
	if r.o.Record != nil {
		r.o.Record(&rep)
	}
	if r.o.Publish && rep.Severity >= r.o.MinSeverity && r.o.Disseminate != nil {
		r.o.Disseminate(&rep)
	}
	if r.o.Decide != nil {
		r.o.Decide(rep)
	}
	return rep, nil
}
