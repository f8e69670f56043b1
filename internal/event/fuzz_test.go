package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// Each fuzz target checks that a decoder never panics, and that whatever it
// accepts encodes and decodes again to the same record.

func FuzzDecodeJSON(f *testing.F) {
	for _, ev := range sampleEvents() {
		f.Add(ev.AppendJSON(nil))
	}
	f.Add([]byte(`{"type":"T","host":"h","attrs":{"a":[""],"b":1.0,"c":-0}}`))
	f.Add([]byte(`{"type":"T","ip":"::1","time":"2026-01-01T00:00:00+02:00"}`))
	f.Add([]byte(`{"type":"T\u0041","host":"a\ud83d\ude00\ud800x\n\"","attrs":{"n":-0.5e-3,"l":["\u00e9"]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := DecodeJSON(data)
		if err != nil {
			return
		}
		// Differential check: only valid JSON is ever accepted, and strings
		// read as encoding/json reads them.
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		var std struct {
			Type string `json:"type"`
			Host string `json:"host"`
		}
		if err := json.Unmarshal(data, &std); err != nil || std.Type != ev.Type || std.Host != ev.Host {
			t.Fatalf("encoding/json reads type %q host %q (%v); we read %q %q", std.Type, std.Host, err, ev.Type, ev.Host)
		}
		enc := ev.AppendJSON(nil)
		again, err := DecodeJSON(enc)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", enc, err)
		}
		if enc2 := again.AppendJSON(nil); !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable encoding:\n%s\n%s", enc, enc2)
		}
	})
}

func FuzzDecodeCompact(f *testing.F) {
	for _, ev := range sampleEvents() {
		f.Add(ev.AppendCompact(nil))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := DecodeCompact(data)
		if err != nil {
			return
		}
		again, err := DecodeCompact(ev.AppendCompact(nil))
		if err != nil {
			t.Fatalf("re-decoding: %v", err)
		}
		if !bytes.Equal(ev.AppendJSON(nil), again.AppendJSON(nil)) {
			t.Fatal("round trip changed the event")
		}
	})
}

func FuzzDecodeCountVectorJSON(f *testing.F) {
	v := sampleVector()
	f.Add(v.AppendJSON(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		cv, err := DecodeCountVectorJSON(data)
		if err != nil {
			return
		}
		enc := cv.AppendJSON(nil)
		again, err := DecodeCountVectorJSON(enc)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", enc, err)
		}
		if !bytes.Equal(enc, again.AppendJSON(nil)) {
			t.Fatal("round trip changed the vector")
		}
	})
}

func FuzzDecodeCountVectorCompact(f *testing.F) {
	v := sampleVector()
	f.Add(v.AppendCompact(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		cv, err := DecodeCountVectorCompact(data)
		if err != nil {
			return
		}
		again, err := DecodeCountVectorCompact(cv.AppendCompact(nil))
		if err != nil {
			t.Fatalf("re-decoding: %v", err)
		}
		if !bytes.Equal(cv.AppendJSON(nil), again.AppendJSON(nil)) {
			t.Fatal("round trip changed the vector")
		}
	})
}

func FuzzDecodeReportJSON(f *testing.F) {
	r := sampleReport()
	f.Add(r.AppendJSON(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := DecodeReportJSON(data)
		if err != nil {
			return
		}
		ev := rep.Event()
		back, err := ReportFromEvent(&ev)
		if err != nil {
			t.Fatalf("event form of an accepted report: %v", err)
		}
		if !bytes.Equal(rep.AppendJSON(nil), back.AppendJSON(nil)) {
			t.Fatalf("round trip changed the report:\n%s\n%s", rep.AppendJSON(nil), back.AppendJSON(nil))
		}
	})
}

// FuzzBuilder writes events of hostile strings (a process's name, path
// and arguments are the attacker's) with a Builder: it takes exactly the
// events Validate takes, and what it writes decodes to the same event.
func FuzzBuilder(f *testing.F) {
	f.Add("h", "name", "sh", "/usr/bin/sh", "-c\x00id")
	f.Add("web-1", "a b", "\xff", "/tmp/\xfe", "")
	f.Add("", "exe", "x\ny", "/dev/shm/.x", "\u00e9")
	f.Fuzz(func(t *testing.T, host, name, comm, exe, args string) {
		ev := Event{ID: "01ABC", Time: time.Unix(1700000000, 5).UTC(), Type: "PROC.EXEC", Host: host, Source: "agent",
			Attrs: map[string]any{name: comm, "exe": exe, "args": strings.Split(args, "\x00"), "pid": int64(len(args))}}
		var b Builder
		b.Begin(ev.ID, ev.Time, ev.Type, ev.Host, ev.IP, ev.Source)
		if name != "exe" && name != "args" && name != "pid" {
			b.Str(name, comm)
		}
		b.Str("exe", exe)
		b.List("args", ev.Attrs["args"].([]string))
		b.Int("pid", int64(len(args)))
		rec, err := b.End(nil)
		if name == "exe" || name == "args" || name == "pid" {
			return // the map form holds one of the two
		}
		if errors.Is(err, ErrTooLarge) {
			return // no decoder takes it; Validate does not weigh events
		}
		// Of several problems, each may name another first: the two agree
		// on whether there is one.
		if want := ev.Validate(); (err == nil) != (want == nil) {
			t.Fatalf("Builder: %v; Validate: %v", err, want)
		}
		if err != nil {
			return
		}
		back, err := DecodeCompact(rec)
		if err != nil {
			t.Fatalf("decoding what the Builder wrote: %v", err)
		}
		if !bytes.Equal(back.AppendJSON(nil), ev.AppendJSON(nil)) {
			t.Fatalf("wrote %s, decoded %s", ev.AppendJSON(nil), back.AppendJSON(nil))
		}
	})
}
