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

// FuzzPeekCompact checks PeekCompact against DecodeCompact: whatever the
// full decoder accepts, the peek accepts with the same id, host and IP;
// nothing panics.
func FuzzPeekCompact(f *testing.F) {
	for _, ev := range sampleEvents() {
		f.Add(ev.AppendCompact(nil))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
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
	})
}
