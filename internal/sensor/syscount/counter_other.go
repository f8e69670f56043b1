//go:build !(linux && amd64)

package syscount

import (
	"context"
	"runtime"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// Counter is the system call counter; it runs only on Linux x86-64, whose
// system call table names the counts.
type Counter struct{}

// Open reports that the counter does not run on this platform.
func Open(o Options) (*Counter, error) {
	return nil, &UnavailableError{
		Missing: []string{"Linux on x86-64"},
		Detail:  "this is " + runtime.GOOS + "/" + runtime.GOARCH,
	}
}

// Close does nothing.
func (c *Counter) Close() error { return nil }

// Interval is zero.
func (c *Counter) Interval() time.Duration { return 0 }

// MapEntries is zero.
func (c *Counter) MapEntries() int { return 0 }

// Run does nothing.
func (c *Counter) Run(context.Context, func([]event.CountVector, IntervalStats) error) error {
	return nil
}

// Drain returns nothing.
func (c *Counter) Drain() ([]event.CountVector, IntervalStats, error) {
	return nil, IntervalStats{}, nil
}
