// Package probemsg defines the probes a parent monitor sends a child on
// the child's probe subject (bus.ProbeSubject; seed 002 section 3.6: pull
// messaging), and the replies: the child's current tracks, a subject's
// profile summary, the evidence events behind one of its reports, or its
// status (counters and its own children's health).
//
// A probe may name a path further down (Via): the probed monitor relays
// it to the first monitor on the path, one of its own children, as
// itself, and so on down; the last answers, and its reply comes back up
// unchanged. Each hop is a probe from a parent to its child, so every
// monitor on the way still answers its parent only. The path is bounded
// (MaxVia), and so is the time (Within: each hop gives its child less).
//
// Both sides decode strictly: JSON of this version only, no unknown
// field, nothing after the object, a bounded size, no control character
// in a name, and the fields each kind takes. Probe is the client.
package probemsg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/wiremsg"
)

// Version is the version of the messages this package reads and writes.
const Version = 1

// Bounds.
const (
	// MaxRequest bounds a probe on the wire; MaxReply a reply (well
	// under NATS's default payload limit of 1 MiB).
	MaxRequest = 4 << 10
	MaxReply   = 512 << 10
	MaxID      = 128
	MaxName    = 256
	MaxDetail  = 4096
	// MaxLimit is the most items (tracks, subjects, events) a reply
	// holds; DefaultLimit what a probe without a limit gets.
	MaxLimit     = 500
	DefaultLimit = 50
	// DefaultTimeout is how long Probe waits for a reply by default.
	DefaultTimeout = 5 * time.Second
	// MaxVia bounds the monitors a probe is relayed through below its
	// target; MaxWithin the time a relayed probe may take in all.
	MaxVia    = 8
	MaxWithin = 60 * time.Second
)

// Kinds of probe.
const (
	// KindTracks asks for the child's current tracks (Subject, when set,
	// selects a track's key: a host's address or id).
	KindTracks = "tracks"
	// KindProfile asks for the profile summary of Subject.
	KindProfile = "profile"
	// KindEvidence asks for the events behind report Report.
	KindEvidence = "evidence"
	// KindStatus asks for the child's counters and its children's health.
	KindStatus = "status"
)

// Kinds lists the kinds of probe.
var Kinds = []string{KindTracks, KindProfile, KindEvidence, KindStatus}

// Reply statuses.
const (
	StatusOK       = "ok"
	StatusNotFound = "not-found" // no such subject or report
	StatusRefused  = "refused"   // not from this monitor's parent, or malformed
	StatusFailed   = "failed"    // the monitor could not answer (its store closed)
	// StatusUnreachable: a monitor relaying the probe got no answer from
	// the next one on the path (none of that name listens, or none in
	// time); the reply names the relaying monitor and the hop.
	StatusUnreachable = "unreachable"
)

var statuses = []string{StatusOK, StatusNotFound, StatusRefused, StatusFailed, StatusUnreachable}

// Request is a probe.
type Request struct {
	Version int    `json:"version"`
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Subject string `json:"subject,omitempty"`
	Report  string `json:"report,omitempty"`
	// Limit bounds the items in the reply (0: DefaultLimit).
	Limit int `json:"limit,omitempty"`
	// Via is the path below the probed monitor, down to the one that
	// answers: the probed monitor relays the probe to Via[0], one of its
	// own children, with the rest of the path, and so on (at most MaxVia
	// monitors, each once, none the probed monitor itself). Empty: the
	// probed monitor answers.
	Via []string `json:"via,omitempty"`
	// WithinMS is how long, in milliseconds, the sender of a relayed
	// probe waits for the reply (at most MaxWithin; 0: DefaultTimeout):
	// each monitor on the path gives the next one less, so the reply, or
	// the word that a hop did not answer, comes back in time.
	WithinMS int64 `json:"within_ms,omitempty"`
}

// Reply is a child's answer.
type Reply struct {
	Version int    `json:"version"`
	ID      string `json:"id"`
	// Monitor names the monitor that answered.
	Monitor string `json:"monitor"`
	Status  string `json:"status"`
	Detail  string `json:"detail,omitempty"`
	// Data is the answer, by kind (see the package's types): Tracks,
	// Profile, Evidence or Status.
	Data json.RawMessage `json:"data,omitempty"`
}

// Encode writes a request or a reply.
func Encode(v any) []byte { return wiremsg.Encode(v) }

// DecodeRequest reads and checks a probe.
func DecodeRequest(data []byte) (Request, error) {
	var r Request
	if err := wiremsg.Decode(data, MaxRequest, &r); err != nil {
		return Request{}, fmt.Errorf("probe: %w", err)
	}
	if err := r.Check(); err != nil {
		return Request{}, fmt.Errorf("probe: %w", err)
	}
	return r, nil
}

// Check says what is wrong with a probe, or nil.
func (r Request) Check() error {
	if r.Version != Version {
		return fmt.Errorf("version %d, this monitor reads version %d", r.Version, Version)
	}
	if err := wiremsg.Text("id", r.ID, MaxID, true); err != nil {
		return err
	}
	if !slices.Contains(Kinds, r.Kind) {
		return fmt.Errorf("kind %q: want one of %s", clip(r.Kind), strings.Join(Kinds, ", "))
	}
	if err := wiremsg.Text("subject", r.Subject, MaxName, r.Kind == KindProfile); err != nil {
		return err
	}
	if err := wiremsg.Text("report", r.Report, MaxName, r.Kind == KindEvidence); err != nil {
		return err
	}
	if r.Report != "" && r.Kind != KindEvidence {
		return fmt.Errorf("kind %q takes no report", r.Kind)
	}
	if r.Subject != "" && r.Kind != KindTracks && r.Kind != KindProfile {
		return fmt.Errorf("kind %q takes no subject", r.Kind)
	}
	if r.Limit < 0 || r.Limit > MaxLimit {
		return fmt.Errorf("limit %d: want 0 to %d", r.Limit, MaxLimit)
	}
	if len(r.Via) > MaxVia {
		return fmt.Errorf("via: %d monitors, at most %d", len(r.Via), MaxVia)
	}
	for i, name := range r.Via {
		if err := wiremsg.Text(fmt.Sprintf("via[%d]", i), name, MaxName, true); err != nil {
			return err
		}
		if slices.Contains(r.Via[:i], name) {
			return fmt.Errorf("via[%d]: monitor %q is on the path twice", i, clip(name))
		}
	}
	if r.WithinMS < 0 || r.WithinMS > MaxWithin.Milliseconds() {
		return fmt.Errorf("within_ms %d: want 0 to %d", r.WithinMS, MaxWithin.Milliseconds())
	}
	return nil
}

// Within is how long the sender waits for the reply.
func (r Request) Within() time.Duration {
	if r.WithinMS == 0 {
		return DefaultTimeout
	}
	return time.Duration(r.WithinMS) * time.Millisecond
}

// Equal says whether two probes are the same.
func (r Request) Equal(o Request) bool {
	return r.Version == o.Version && r.ID == o.ID && r.Kind == o.Kind && r.Subject == o.Subject && r.Report == o.Report &&
		r.Limit == o.Limit && r.WithinMS == o.WithinMS && slices.Equal(r.Via, o.Via)
}

// Items is the number of items the probe asks for at most.
func (r Request) Items() int {
	if r.Limit == 0 {
		return DefaultLimit
	}
	return r.Limit
}

// DecodeReply reads and checks a reply.
func DecodeReply(data []byte) (Reply, error) {
	var r Reply
	if err := wiremsg.Decode(data, MaxReply, &r); err != nil {
		return Reply{}, fmt.Errorf("probe reply: %w", err)
	}
	if err := r.Check(); err != nil {
		return Reply{}, fmt.Errorf("probe reply: %w", err)
	}
	return r, nil
}

// Check says what is wrong with a reply, or nil.
func (r Reply) Check() error {
	if r.Version != Version {
		return fmt.Errorf("version %d, this monitor reads version %d", r.Version, Version)
	}
	if err := wiremsg.Text("id", r.ID, MaxID, true); err != nil {
		return err
	}
	if err := wiremsg.Text("monitor", r.Monitor, MaxName, true); err != nil {
		return err
	}
	if !slices.Contains(statuses, r.Status) {
		return fmt.Errorf("status %q: want one of %s", clip(r.Status), strings.Join(statuses, ", "))
	}
	if len(r.Detail) > MaxDetail {
		return fmt.Errorf("detail longer than %d bytes", MaxDetail)
	}
	if len(r.Data) > 0 && r.Data[0] != '{' {
		return errors.New("data: want a JSON object")
	}
	return nil
}

// Probe sends req to monitor target as sender (the sender's name is part
// of the subject: on a bus with mutual TLS only sender's certificate may
// use it) and returns the reply, waiting at most timeout (0:
// DefaultTimeout) or until ctx ends. A reply that is not a valid reply to
// req is an error.
//
// A probe with a path (req.Via) is answered by the last monitor on it;
// req.WithinMS is set to the timeout, which the hops share.
func Probe(ctx context.Context, nc *nats.Conn, target, sender string, req Request, timeout time.Duration) (Reply, error) {
	if req.Version == 0 {
		req.Version = Version
	}
	if err := req.Check(); err != nil {
		return Reply{}, fmt.Errorf("probe of %s: %w", target, err)
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if len(req.Via) > 0 {
		// The monitors on the path share the time the sender waits.
		req.WithinMS = min(timeout, MaxWithin).Milliseconds()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m, err := nc.RequestWithContext(ctx, bus.ProbeSubject(target, sender), Encode(req))
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return Reply{}, fmt.Errorf("probe of %s: no monitor of that name answers probes", target)
	case errors.Is(err, context.DeadlineExceeded):
		return Reply{}, fmt.Errorf("probe of %s: no reply within %v", target, timeout)
	case err != nil:
		return Reply{}, fmt.Errorf("probe of %s: %w", target, err)
	}
	rep, err := DecodeReply(m.Data)
	if err != nil {
		return Reply{}, fmt.Errorf("probe of %s: %w", target, err)
	}
	if rep.ID != req.ID {
		return Reply{}, fmt.Errorf("probe of %s: a reply to %q, not to %q", target, clip(rep.ID), req.ID)
	}
	return rep, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
