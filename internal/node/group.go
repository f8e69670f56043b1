// Package node runs the roles of one Vigil process (the embedded bus
// server, the monitor with its store, the web server, the host agent, the
// system call counter, the network sensor and their deliverers) as
// components of one run group (github.com/oklog/run). Every verb that runs
// for a while (vigil up, monitor, agent, netsensor) builds its group here.
//
// A component is a start/stop pair: its execute function runs the role
// until its context ends; its interrupt function cancels that context and
// returns once the role has stopped. The group interrupts components in
// the order they were added, each after the one before has stopped, so
// add producers before what they feed: sensors before their deliverers,
// the web server and the sensors before the monitor, the bus server last.
package node

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/oklog/run"
)

// Component is one role of a process.
type Component struct {
	Name string
	// Run runs the role until ctx ends (or the role's work is done, as a
	// capture file's), and returns once it has stopped.
	Run func(ctx context.Context) error
}

// Group is a run group of components.
type Group struct {
	g    run.Group
	log  *slog.Logger
	mu   sync.Mutex
	errs []error
	n    int
}

// NewGroup returns an empty group.
func NewGroup(log *slog.Logger) *Group {
	if log == nil {
		log = slog.Default()
	}
	return &Group{log: log}
}

// Len is how many components were added.
func (g *Group) Len() int { return g.n }

// Add adds c. Its context is its own, not derived from the context the
// group runs under: the group ends it in order.
func (g *Group) Add(c Component) {
	g.n++
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	g.g.Add(func() error {
		defer close(done)
		err := c.Run(ctx)
		if err != nil && !errors.Is(err, context.Canceled) {
			g.log.Error("component failed", "component", c.Name, "err", err)
			g.mu.Lock()
			g.errs = append(g.errs, err)
			g.mu.Unlock()
		} else {
			g.log.Debug("component stopped", "component", c.Name)
		}
		return err
	}, func(error) {
		cancel()
		<-done
	})
}

// Run runs every component until ctx ends or one of them returns; then it
// stops them all, in the order they were added, and returns what failed.
func (g *Group) Run(ctx context.Context) error {
	stop := make(chan struct{})
	g.g.Add(func() error {
		select {
		case <-ctx.Done():
		case <-stop:
		}
		return nil
	}, func(error) { close(stop) })
	g.g.Run()
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(g.errs...)
}
