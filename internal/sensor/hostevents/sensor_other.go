//go:build !(linux && amd64)

package hostevents

import (
	"context"
	"runtime"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// Sensor is the event programs; they run only on Linux x86-64.
type Sensor struct{ Off []string }

// Open reports that the event programs do not run on this platform.
func Open(o Options) (*Sensor, error) {
	return nil, &UnavailableError{Part: part, Missing: []string{"Linux on x86-64"}, Detail: "this is " + runtime.GOOS + "/" + runtime.GOARCH}
}

// Close does nothing.
func (s *Sensor) Close() error { return nil }

// Stats are zero.
func (s *Sensor) Stats() Stats { return Stats{} }

// Next returns nothing.
func (s *Sensor) Next(time.Duration) ([]event.Event, error) { return nil, nil }

// Run does nothing.
func (s *Sensor) Run(context.Context, func([][]byte) error) error { return nil }

// Flush does nothing.
func (s *Sensor) Flush() error { return nil }
