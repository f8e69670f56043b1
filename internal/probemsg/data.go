package probemsg

import (
	"encoding/json"
	"time"

	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/hbmsg"
	"github.com/vigil-ids/vigil/internal/hierarchy"
)

// Tracks is the data of a tracks reply: the child's current tracks
// (reports, as event.Report writes them), the most recently observed
// first.
type Tracks struct {
	Tracks []json.RawMessage `json:"tracks"`
	// Truncated: more matched than the reply holds.
	Truncated bool `json:"truncated,omitempty"`
}

// Profile is the data of a profile reply: what the child's profilers
// have learnt of the subject.
type Profile struct {
	Subjects  []engine.Subject `json:"subjects"`
	Truncated bool             `json:"truncated,omitempty"`
}

// Evidence is the data of an evidence reply: the report, and the events
// behind it that the child's store still holds (Missing: those it no
// longer does, retention having removed them).
type Evidence struct {
	Report    json.RawMessage   `json:"report"`
	Events    []json.RawMessage `json:"events"`
	Missing   []string          `json:"missing,omitempty"`
	Truncated bool              `json:"truncated,omitempty"`
}

// Status is the data of a status reply.
type Status struct {
	Name     string            `json:"name"`
	Layer    string            `json:"layer"`
	Parent   string            `json:"parent,omitempty"`
	Time     time.Time         `json:"time"`
	Counters hbmsg.Counters    `json:"counters"`
	Children []hierarchy.Child `json:"children"`
	// Heartbeats are its children's heartbeats it took and ignored.
	Heartbeats hierarchy.Counts `json:"heartbeats"`
	// Truncated: it has more children than the reply holds (ten times
	// the probe's limit at most).
	Truncated bool `json:"truncated,omitempty"`
}
