// Package hostevents is the host sensor's real-time security events: eBPF
// programs on scheduler and system call tracepoints report every exec,
// fork and exit, opens and changes of watched files, privilege gains,
// ptrace, memfd_create, kernel module and BPF program loads, and network
// connections, each with the process that acted, through a BPF ring buffer.
// A user-space process tree, seeded from /proc and kept by the fork, exec
// and exit records, gives every event its ancestors.
//
// File events are filtered in the kernel by path prefix (an LPM trie) and
// file name (a hash), both filled from the configuration. Records that
// find the ring buffer full are counted per CPU and reported as
// SENSOR.DROPPED observations, never lost silently.
//
// Without root (or CAP_BPF and CAP_PERFMON), BTF or kernel support, Open
// returns an *UnavailableError that says exactly what is missing.
package hostevents

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/sensor/syscount"
)

// Options configure a Sensor. The zero values of the bounds take the
// defaults of config.DefaultAgentEvents.
type Options struct {
	// Host and IP name the machine in the events.
	Host, IP string
	// Events is the agent section's events settings (filters and bounds).
	Events config.AgentEvents
	// Spawn makes every exec a PROC.SPAWN too (for processes whose names
	// Procs and Exclude keep), in place of the /proc sampler's.
	Spawn          bool
	Procs, Exclude []string
	// ProcRoot is the proc filesystem (default /proc).
	ProcRoot string
	Clock    clock.Clock
	IDs      event.IDSource
	Logger   *slog.Logger
	// hooks is the first way of hooking the system calls tried (tests of
	// the others): HooksTyped or HooksRaw. Empty: HooksTracepoints.
	hooks string
}

func (o *Options) defaults() error {
	d := config.DefaultAgentEvents()
	e := &o.Events
	if e.RingBufferBytes == 0 {
		e.RingBufferBytes = d.RingBufferBytes
	}
	if e.MaxArgs == 0 {
		e.MaxArgs = d.MaxArgs
	}
	if e.MaxArgBytes == 0 {
		e.MaxArgBytes = d.MaxArgBytes
	}
	if e.MaxProcesses == 0 {
		e.MaxProcesses = d.MaxProcesses
	}
	if e.ReadEvery == 0 {
		e.ReadEvery = d.ReadEvery
	}
	if e.Exits == "" {
		e.Exits = d.Exits
	}
	if err := config.ValidateAgentEvents(*e); err != nil {
		return err
	}
	if o.Host == "" {
		return errors.New("host events: no host id")
	}
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.IDs == nil {
		o.IDs = event.NewRandomIDs()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Stats count what a sensor did.
type Stats struct {
	// Records is how many kernel records were read, Events how many events
	// were made of them.
	Records, Events uint64
	// Execs is how many of the events were PROC.EXEC.
	Execs uint64
	// Dropped is how many records found the ring buffer full.
	Dropped uint64
	// DecodeErrors is how many records could not be read.
	DecodeErrors uint64
	// TreeRefused is how many processes the full process tree did not take.
	TreeRefused uint64
	// Missed is how many runs of the programs the kernel skipped because
	// another BPF program (or a map operation of the bpf() call) held
	// that CPU: their recursion misses, each perhaps an event lost.
	Missed uint64
}

// MissReason says, for a report, why the kernel skipped programs.
const MissReason = "the kernel skipped host event programs while another BPF program or map operation held the CPU"

// DropReason says, for a report, why records were dropped.
func DropReason(ringBytes int) string {
	return fmt.Sprintf("host event ring buffer full (%d bytes); raise agent.events.ring_buffer_bytes", ringBytes)
}

// UnavailableError says why the event programs cannot run here: the
// counter's typed error, with Part "host events".
type UnavailableError = syscount.UnavailableError

// part names the event programs in an UnavailableError.
const part = "host events"
