// Package effectmsg defines the messages a monitor and a host agent's
// effector exchange over the bus (request/reply on bus.EffectSubject): a
// request to signal a process or restart a service, and the effector's
// reply. Both sides decode strictly: a message with an unknown field,
// another version, trailing data or a missing part is refused with a
// message naming what is wrong.
package effectmsg

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vigil-ids/vigil/internal/wiremsg"
)

// Version is the version of the messages this package reads and writes.
const Version = 1

// MaxMessage bounds a request or a reply.
const MaxMessage = 64 << 10

// Actions.
const (
	ActionSignal  = "signal"
	ActionRestart = "restart"
)

// Signals an effector sends.
var Signals = []string{"TERM", "KILL", "STOP", "CONT"}

// Reply statuses.
const (
	// StatusDone: the action was carried out.
	StatusDone = "done"
	// StatusRefused: the effector would not act (a protected process, a
	// start time or executable that differs, a budget spent, a malformed
	// request); nothing was touched.
	StatusRefused = "refused"
	// StatusFailed: the effector tried and the action failed (the process
	// had ended, the restart command exited non-zero).
	StatusFailed = "failed"
)

// Process names a process: its pid, its start time in clock ticks since
// boot (field 22 of /proc/PID/stat) and its executable (/proc/PID/exe).
type Process struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
	Exe   string `json:"exe"`
}

// Request is what a monitor asks of a host's effector.
type Request struct {
	Version int `json:"version"`
	// ID identifies the request: a repeated id is answered with the first
	// reply, without acting again.
	ID string `json:"id"`
	// Host is the host id the request is meant for; an effector refuses a
	// request for another host.
	Host string `json:"host"`
	// Monitor names the asking monitor, for the effector's log.
	Monitor string `json:"monitor,omitempty"`
	// Action is ActionSignal or ActionRestart.
	Action string `json:"action"`
	// Signal (ActionSignal) is one of Signals; Process the process.
	Signal  string   `json:"signal,omitempty"`
	Process *Process `json:"process,omitempty"`
	// Service (ActionRestart) is a service name with a configured restart
	// command, or a systemd unit.
	Service string `json:"service,omitempty"`
	// Reason says why (one line, for the effector's log).
	Reason string `json:"reason,omitempty"`
}

// Reply is an effector's answer.
type Reply struct {
	Version int    `json:"version"`
	ID      string `json:"id"`
	Host    string `json:"host"`
	Status  string `json:"status"`
	// Reason says why a request was refused or failed.
	Reason string `json:"reason,omitempty"`
	// Detail says what was done ("sent TERM to pid 4242 (/usr/bin/sleep)").
	Detail string `json:"detail,omitempty"`
	// Output is the restart command's output, bounded.
	Output string `json:"output,omitempty"`
	// Gone, on a signal that failed or was refused, says the process
	// named no longer exists: it ended, or another process holds its pid
	// now. (A monitor undoing a STOP has then nothing left to continue.)
	Gone bool `json:"gone,omitempty"`
}

// Bounds of a request's strings.
const (
	MaxID     = 128
	MaxName   = 256
	MaxReason = 1024
	MaxPath   = 4096
)

// DecodeRequest reads and checks a request.
func DecodeRequest(data []byte) (Request, error) {
	var r Request
	if err := decode(data, &r); err != nil {
		return r, fmt.Errorf("effect request: %w", err)
	}
	if err := r.Check(); err != nil {
		return r, fmt.Errorf("effect request: %w", err)
	}
	return r, nil
}

// Check says what is wrong with a request, or nil.
func (r Request) Check() error {
	if r.Version != Version {
		return fmt.Errorf("version %d, this effector reads version %d", r.Version, Version)
	}
	if err := text("id", r.ID, MaxID, true); err != nil {
		return err
	}
	if err := text("host", r.Host, MaxName, true); err != nil {
		return err
	}
	if err := text("monitor", r.Monitor, MaxName, false); err != nil {
		return err
	}
	if len(r.Reason) > MaxReason {
		return fmt.Errorf("reason longer than %d bytes", MaxReason)
	}
	switch r.Action {
	case ActionSignal:
		if !validSignal(r.Signal) {
			return fmt.Errorf("signal %q: want one of %s", r.Signal, strings.Join(Signals, ", "))
		}
		if r.Service != "" {
			return errors.New(`"service" given with action "signal"`)
		}
		p := r.Process
		switch {
		case p == nil:
			return errors.New(`action "signal" needs "process"`)
		case p.PID <= 0:
			return fmt.Errorf("process: pid %d is not a process id", p.PID)
		case p.Start == 0:
			return errors.New("process: no start time (field 22 of /proc/PID/stat); a process is named by pid, start time and executable")
		case p.Exe == "" || p.Exe[0] != '/':
			return fmt.Errorf("process: executable %q is not an absolute path", p.Exe)
		case len(p.Exe) > MaxPath || strings.ContainsRune(p.Exe, 0):
			return errors.New("process: executable path too long or holding a NUL byte")
		}
	case ActionRestart:
		if r.Signal != "" || r.Process != nil {
			return errors.New(`"signal" or "process" given with action "restart"`)
		}
		if err := text("service", r.Service, MaxName, true); err != nil {
			return err
		}
	default:
		return fmt.Errorf("action %q: want %q or %q", r.Action, ActionSignal, ActionRestart)
	}
	return nil
}

// DecodeReply reads and checks a reply.
func DecodeReply(data []byte) (Reply, error) {
	var r Reply
	if err := decode(data, &r); err != nil {
		return r, fmt.Errorf("effect reply: %w", err)
	}
	if r.Version != Version {
		return r, fmt.Errorf("effect reply: version %d, want %d", r.Version, Version)
	}
	switch r.Status {
	case StatusDone, StatusRefused, StatusFailed:
	default:
		return r, fmt.Errorf("effect reply: status %q: want %q, %q or %q", r.Status, StatusDone, StatusRefused, StatusFailed)
	}
	if r.Gone && r.Status == StatusDone {
		return r, fmt.Errorf("effect reply: status %q with \"gone\": a process that is gone was not acted on", r.Status)
	}
	return r, nil
}

// Encode writes a message.
func Encode(v any) []byte { return wiremsg.Encode(v) }

func decode(data []byte, v any) error { return wiremsg.Decode(data, MaxMessage, v) }

func text(field, v string, maxLen int, required bool) error {
	return wiremsg.Text(field, v, maxLen, required)
}

func validSignal(s string) bool {
	for _, v := range Signals {
		if s == v {
			return true
		}
	}
	return false
}
