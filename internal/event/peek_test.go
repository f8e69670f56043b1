package event

import (
	"errors"
	"strings"
	"testing"
)

func TestPeekCompact(t *testing.T) {
	for _, ev := range sampleEvents() {
		k, err := PeekCompact(ev.AppendCompact(nil))
		if err != nil {
			t.Fatalf("%s: %v", ev.ID, err)
		}
		if k != (CompactKey{ID: ev.ID, Host: ev.Host, IP: ev.IP}) {
			t.Errorf("peeked %+v from %+v", k, ev)
		}
	}
	ev := sampleEvents()[0]
	good := ev.AppendCompact(nil)
	noID := ev
	noID.ID = ""
	badID := ev
	badID.ID = "a b"
	nobody := ev
	nobody.Host, nobody.IP = "", ""
	badIP := ev
	badIP.IP = "not-an-ip"
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"empty":     {nil, ErrNotCompact.Error()},
		"json":      {[]byte(`{"id":"x"}`), ErrNotCompact.Error()},
		"truncated": {good[:3], `"id": count`},
		"no id":     {noID.AppendCompact(nil), `"id": missing`},
		"bad id":    {badID.AppendCompact(nil), `"id": character`},
		"no host":   {nobody.AppendCompact(nil), "needs a host or an ip"},
		"bad ip":    {badIP.AppendCompact(nil), `"ip": not an IP address`},
		"too large": {append([]byte{magicEvent}, make([]byte, MaxEventBytes)...), "over the limit"},
	} {
		_, err := PeekCompact(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, c.want)
		}
		if name == "too large" && !errors.Is(err, ErrTooLarge) {
			t.Errorf("too large: %v is not ErrTooLarge", err)
		}
	}
}

// PeekCompactLike reads what PeekCompact reads; a host or IP like the
// previous key's is taken from it, and any other is read and checked.
func TestPeekCompactLike(t *testing.T) {
	evs := sampleEvents()
	var like CompactKey
	for _, ev := range append(evs, evs...) {
		rec := ev.AppendCompact(nil)
		want, err := PeekCompact(rec)
		if err != nil {
			t.Fatal(err)
		}
		k, err := PeekCompactLike(rec, like)
		if err != nil || k != want {
			t.Errorf("like %+v: peeked %+v (%v), want %+v", like, k, err, want)
		}
		like = k
	}
	good := evs[0]
	good.IP = "10.0.0.3"
	like, err := PeekCompact(good.AppendCompact(nil))
	if err != nil {
		t.Fatal(err)
	}
	badHost, badIP := good, good
	badHost.Host = "web\x07"
	badIP.IP = "10.0.0.300"
	for name, c := range map[string]struct {
		ev   Event
		want string
	}{"host": {badHost, `"host"`}, "ip": {badIP, `"ip": not an IP address`}} {
		if _, err := PeekCompactLike(c.ev.AppendCompact(nil), like); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("a bad %s after a good one: %v, want an error containing %q", name, err, c.want)
		}
	}
}

// FuzzPeekCompact checks PeekCompact against DecodeCompact: whatever the
// full decoder accepts, the peek accepts with the same id, host and IP;
// nothing panics.
func FuzzPeekCompact(f *testing.F) {
	for _, ev := range sampleEvents() {
		f.Add(ev.AppendCompact(nil))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = PeekCompactInt(data, "pid") // whatever the data, no panic
		k, perr := PeekCompact(data)
		ev, err := DecodeCompact(data)
		if err != nil {
			return
		}
		if perr != nil {
			t.Fatalf("decoded %+v, but the peek failed: %v", ev, perr)
		}
		if k != (CompactKey{ID: ev.ID, Host: ev.Host, IP: ev.IP}) {
			t.Fatalf("peeked %+v, decoded %+v", k, ev)
		}
		// One integer attribute, as decoded.
		for name, v := range ev.Attrs {
			c, err := PeekCompactInt(data, name)
			i, isInt := v.(int64)
			if err != nil || c.Type != ev.Type || !c.Time.Equal(ev.Time) || c.Found != isInt || c.Value != i {
				t.Fatalf("%s = %v: peeked %+v (%v)", name, v, c, err)
			}
		}
		// Like a sample's key, the same.
		if l, err := PeekCompactLike(data, CompactKey{ID: "x", Host: "web-3", IP: "10.0.0.3"}); err != nil || l != k {
			t.Fatalf("peeked like another key %+v (%v), alone %+v", l, err, k)
		}
	})
}

// PeekCompactInt reads the type, the time and one integer attribute as
// DecodeCompact decodes them.
func TestPeekCompactInt(t *testing.T) {
	for _, ev := range sampleEvents() {
		rec := ev.AppendCompact(nil)
		for name, v := range ev.Attrs {
			c, err := PeekCompactInt(rec, name)
			if err != nil {
				t.Fatalf("%s, %s: %v", ev.ID, name, err)
			}
			i, isInt := v.(int64)
			if c.Type != ev.Type || !c.Time.Equal(ev.Time) || c.Found != isInt || c.Value != i {
				t.Errorf("%s, %s = %v: peeked %+v", ev.ID, name, v, c)
			}
		}
		if c, err := PeekCompactInt(rec, "no-such-attribute"); err != nil || c.Found {
			t.Errorf("%s: an attribute it lacks: %+v, %v", ev.ID, c, err)
		}
	}
	good := sampleEvents()[0].AppendCompact(nil)
	for n := range len(good) - 1 {
		if _, err := PeekCompactInt(good[:n], "zzz"); err == nil {
			t.Errorf("cut to %d of %d bytes: no error", n, len(good))
		}
	}
}
