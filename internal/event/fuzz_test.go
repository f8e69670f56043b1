package event

import (
	"bytes"
	"encoding/json"
	"testing"
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
