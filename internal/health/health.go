// Package health is the one place where a process's parts report the
// conditions that make it unhealthy (a store that cannot write, a bus that
// cannot store, a stalled queue, a full spool): /healthz, the metrics and
// the live page read them from here, and new input is refused while a
// condition that blocks storage holds.
package health

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/clock"
)

// The conditions Vigil's parts report.
const (
	// StoreWrite: the store's commits fail (a full disk, say); they are
	// retried with what is queued kept.
	StoreWrite = "store_write"
	// StoreStalled: the store's queue has not drained for StallAfter.
	StoreStalled = "store_stalled"
	// JetStream: the bus's JetStream storage fails or is disabled.
	JetStream = "jetstream"
	// BusPublish: the bus does not acknowledge publishes (insufficient
	// resources, no response from the stream, timeouts).
	BusPublish = "bus_publish"
	// SpoolFull: a sensor's spool is full and drops its oldest records.
	SpoolFull = "spool_full"
)

// Known lists the conditions exported as metrics.
var Known = []string{StoreWrite, StoreStalled, JetStream, BusPublish, SpoolFull}

// Condition is one reason the process is unhealthy.
type Condition struct {
	Name   string    `json:"name"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
	// BlocksInput: new input cannot be stored while it holds, so it is
	// refused.
	BlocksInput bool `json:"blocks_input"`
}

// Board holds the conditions that hold now. Its methods are safe for
// concurrent use.
type Board struct {
	clk   clock.Clock
	log   *slog.Logger
	mu    sync.Mutex
	conds map[string]Condition
}

// New returns an empty board (healthy). Changes are logged on log.
func New(clk clock.Clock, log *slog.Logger) *Board {
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.Default()
	}
	return &Board{clk: clk, log: log, conds: map[string]Condition{}}
}

// Set says condition name holds for reason. A condition already holding
// keeps its Since and takes the new reason.
func (b *Board) Set(name, reason string, blocksInput bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.conds[name]
	if !ok {
		c = Condition{Name: name, Since: b.clk.Now()}
		b.log.Error("unhealthy", "condition", name, "reason", reason, "blocks_input", blocksInput)
	}
	c.Reason, c.BlocksInput = reason, blocksInput
	b.conds[name] = c
}

// Clear says condition name no longer holds.
func (b *Board) Clear(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, ok := b.conds[name]; ok {
		delete(b.conds, name)
		b.log.Info("condition cleared", "condition", name, "lasted", b.clk.Now().Sub(c.Since).Round(time.Millisecond))
	}
}

// Holds reports whether condition name holds.
func (b *Board) Holds(name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.conds[name]
	return ok
}

// Conditions are the conditions that hold, by name.
func (b *Board) Conditions() []Condition {
	b.mu.Lock()
	cs := make([]Condition, 0, len(b.conds))
	for _, c := range b.conds {
		cs = append(cs, c)
	}
	b.mu.Unlock()
	slices.SortFunc(cs, func(x, y Condition) int { return strings.Compare(x.Name, y.Name) })
	return cs
}

// Err is nil when no condition holds, else an error naming them all.
func (b *Board) Err() error { return join(b.Conditions(), false) }

// InputErr is nil unless a condition that blocks input holds; the error
// names those.
func (b *Board) InputErr() error { return join(b.Conditions(), true) }

func join(cs []Condition, blocking bool) error {
	var parts []string
	for _, c := range cs {
		if !blocking || c.BlocksInput {
			parts = append(parts, c.Name+": "+c.Reason)
		}
	}
	if len(parts) == 0 {
		return nil
	}
	return errors.New(strings.Join(parts, "; "))
}

// Collectors are the board's metrics: vigil_healthy (1 or 0) and
// vigil_health_condition{condition} (1 while it holds) for every Known
// condition.
func (b *Board) Collectors() []prometheus.Collector {
	cs := []prometheus.Collector{prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vigil_healthy", Help: "1 when no health condition holds (/healthz answers ok), else 0.",
	}, func() float64 {
		if b.Err() == nil {
			return 1
		}
		return 0
	})}
	for _, name := range Known {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vigil_health_condition", Help: "1 while the health condition holds (see /healthz for its reason).",
			ConstLabels: prometheus.Labels{"condition": name},
		}, func() float64 {
			if b.Holds(name) {
				return 1
			}
			return 0
		}))
	}
	return cs
}
