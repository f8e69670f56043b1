package hostevents

import (
	"fmt"

	"github.com/vigil-ids/vigil/internal/event"
)

// convert returns the events of one record (none for a fork) as a
// monitor would read them: made in compact form, then decoded, so that
// every test of the converter also checks that what it makes decodes.
func (c *converter) convert(r *Record) []event.Event {
	c.reset()
	c.add(r)
	recs := c.records(nil)
	evs := make([]event.Event, 0, len(recs))
	for _, rec := range recs {
		ev, err := event.DecodeCompact(rec)
		if err != nil {
			panic(fmt.Sprintf("an event made of a %v record does not decode: %v", r.Kind, err))
		}
		evs = append(evs, ev)
	}
	c.reset()
	return evs
}

// decoded is Run's emit for tests that read events: each batch's records
// decoded and handed to emit.
func decoded(emit func([]event.Event) error) func([][]byte) error {
	return func(recs [][]byte) error {
		evs := make([]event.Event, 0, len(recs))
		for _, rec := range recs {
			ev, err := event.DecodeCompact(rec)
			if err != nil {
				return fmt.Errorf("an event emitted does not decode: %w", err)
			}
			evs = append(evs, ev)
		}
		return emit(evs)
	}
}
