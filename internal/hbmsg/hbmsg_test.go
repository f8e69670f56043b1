package hbmsg

import (
	"strings"
	"testing"
	"time"
)

const good = `{"version":1,"monitor":"dom1","layer":"domain","parent":"ent","seq":17,"time":"2026-12-02T10:00:00Z","interval":"2s",
 "counters":{"events_in":120,"reports_out":3,"lag":4,"drops":0}}`

func TestDecodeTheContractsExample(t *testing.T) {
	h, err := Decode([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	want := Heartbeat{Version: 1, Monitor: "dom1", Layer: "domain", Parent: "ent", Seq: 17,
		Time: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC), Interval: Duration(2 * time.Second),
		Counters: Counters{EventsIn: 120, ReportsOut: 3, Lag: 4}}
	if !h.Time.Equal(want.Time) || h.Monitor != want.Monitor || h.Layer != want.Layer || h.Parent != want.Parent ||
		h.Seq != want.Seq || h.Interval != want.Interval || h.Counters != want.Counters {
		t.Fatalf("decoded %+v, want %+v", h, want)
	}
	back, err := Decode(Encode(h))
	if err != nil || back.Counters != h.Counters || back.Seq != h.Seq {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}

func TestDecodeRefusesBadHeartbeatsNamingWhy(t *testing.T) {
	for _, c := range []struct{ name, msg, want string }{
		{"version", strings.Replace(good, `"version":1`, `"version":2`, 1), "version 2"},
		{"unknown field", strings.Replace(good, `"seq":17`, `"seq":17,"extra":1`, 1), `unknown field "extra"`},
		{"no name", strings.Replace(good, `"monitor":"dom1"`, `"monitor":""`, 1), `missing "monitor"`},
		{"control character", strings.Replace(good, `"monitor":"dom1"`, `"monitor":"dom\u001b1"`, 1), "control character"},
		{"seq 0", strings.Replace(good, `"seq":17`, `"seq":0`, 1), "seq 0"},
		{"negative seq", strings.Replace(good, `"seq":17`, `"seq":-1`, 1), `field "seq"`},
		{"no time", strings.Replace(good, `"time":"2026-12-02T10:00:00Z",`, ``, 1), `missing "time"`},
		{"zero interval", strings.Replace(good, `"interval":"2s"`, `"interval":"0s"`, 1), "interval 0s"},
		{"huge interval", strings.Replace(good, `"interval":"2s"`, `"interval":"100h"`, 1), "at most 1h0m0s"},
		{"bad interval", strings.Replace(good, `"interval":"2s"`, `"interval":"soon"`, 1), `interval "soon"`},
		{"trailing data", good + `{}`, "data after the message"},
		{"too big", `{"version":1,"monitor":"` + strings.Repeat("a", MaxMessage) + `"}`, "at most 2048"},
		{"not JSON", `hello`, "not JSON"},
		{"empty", ``, "empty message"},
	} {
		_, err := Decode([]byte(c.msg))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "heartbeat: ") {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(`{"version":1,"monitor":"m","seq":1,"time":"2026-01-01T00:00:00Z","interval":"1ms","counters":{}}`))
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := Decode(data)
		if err != nil {
			return
		}
		if err := h.Check(); err != nil {
			t.Fatalf("decoded heartbeat fails its check: %v", err)
		}
		back, err := Decode(Encode(h))
		if err != nil {
			t.Fatalf("re-encoded heartbeat refused: %v", err)
		}
		if back.Monitor != h.Monitor || back.Seq != h.Seq || back.Counters != h.Counters || back.Interval != h.Interval {
			t.Fatalf("round trip changed %+v into %+v", h, back)
		}
	})
}
