package match

import (
	"net/netip"

	"github.com/vigil-ids/vigil/internal/event"
)

// Field names where a value comes from: the event's own fields (type, id,
// host, ip, source) or an attribute.
type Field struct {
	name string
	top  int // topNone, or which top-level field
	// slot is where an evaluation caches the field's value for the event
	// at hand (0: not cached); see Slots.
	slot int
}

const (
	topNone = iota
	topType
	topID
	topHost
	topIP
	topSource
)

// NewField returns the field called name (see ValidField).
func NewField(name string) Field {
	switch name {
	case "type":
		return Field{name: name, top: topType}
	case "id":
		return Field{name: name, top: topID}
	case "host":
		return Field{name: name, top: topHost}
	case "ip":
		return Field{name: name, top: topIP}
	case "source":
		return Field{name: name, top: topSource}
	}
	return Field{name: name}
}

// Name is the field's name as written.
func (f Field) Name() string { return f.name }

// IsType tells whether the field is the event's type.
func (f Field) IsType() bool { return f.top == topType }

// Get returns the field's value in ev: a string, int64, float64, bool or
// []string; false when the event has none.
func (f Field) Get(ev *event.Event) (any, bool) {
	switch f.top {
	case topType:
		return ev.Type, true
	case topID:
		return ev.ID, ev.ID != ""
	case topHost:
		return ev.Host, ev.Host != ""
	case topIP:
		return ev.IP, ev.IP != ""
	case topSource:
		return ev.Source, ev.Source != ""
	}
	v, ok := ev.Attrs[f.name]
	return v, ok
}

// Text returns the field's value as text ("" when missing).
func (f Field) Text(ev *event.Event) string {
	v, ok := f.Get(ev)
	if !ok {
		return ""
	}
	return event.FormatValue(v)
}

// Ctx is what a condition is evaluated against: the event, a sequence
// instance's variables, and what was already worked out about the event
// (field values, transformed text, parsed addresses), so that a thousand
// conditions looking at the same field read and transform it once. The
// zero Ctx caches nothing; Slots.NewCtx makes one that does. A Ctx is used
// from one goroutine.
type Ctx struct {
	ev   *event.Event
	vars []string // a sequence instance's bound variables
	gen  uint32   // the event's generation: slots of another are stale
	raw  []rawSlot
	txt  []txtSlot
}

type rawSlot struct {
	gen  uint32
	ok   bool
	addr uint8 // 0: not parsed yet, 1: an address, 2: not an address
	v    any
	a    netip.Addr
}

type txtSlot struct {
	gen uint32
	s   string
}

// Reset starts on a new event (and forgets the variables).
func (c *Ctx) Reset(ev *event.Event) {
	c.ev, c.vars = ev, nil
	c.gen++
	if c.gen == 0 { // wrapped: no slot may look current
		clear(c.raw)
		clear(c.txt)
		c.gen = 1
	}
}

// Event is the event at hand.
func (c *Ctx) Event() *event.Event { return c.ev }

// SetVars gives the values of a sequence instance's variables, by index
// (see CompileOptions.Vars); nil when none.
func (c *Ctx) SetVars(vars []string) { c.vars = vars }

// Get is f.Get of the event at hand, read once per event.
func (c *Ctx) Get(f *Field) (any, bool) {
	if f.slot <= 0 || f.slot >= len(c.raw) {
		return f.Get(c.ev)
	}
	r := &c.raw[f.slot]
	if r.gen != c.gen {
		v, ok := f.Get(c.ev)
		*r = rawSlot{gen: c.gen, ok: ok, v: v}
	}
	return r.v, r.ok
}

// addrOf parses the text s of field f as an address, once per event.
func (c *Ctx) addrOf(f *Field, s string) (netip.Addr, bool) {
	if f.slot <= 0 || f.slot >= len(c.raw) || c.raw[f.slot].gen != c.gen {
		a, err := netip.ParseAddr(s)
		return a.Unmap(), err == nil
	}
	r := &c.raw[f.slot]
	if r.addr == 0 {
		r.addr = 2
		if a, err := netip.ParseAddr(s); err == nil {
			r.a, r.addr = a.Unmap(), 1
		}
	}
	return r.a, r.addr == 1
}

// ValidField tells whether s may name a field: letters, digits, '.', '_',
// ':' and '-', at most event.MaxNameLen bytes.
func ValidField(s string) bool {
	if s == "" || len(s) > event.MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// ValidName tells whether s may name a list or a variable: letters,
// digits, '_' and '-', at most 64 bytes.
func ValidName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
