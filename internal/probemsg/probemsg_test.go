package probemsg

import (
	"slices"
	"strings"
	"testing"
)

func TestDecodeRequestTakesEachKind(t *testing.T) {
	for _, msg := range []string{
		`{"version":1,"id":"p1","kind":"tracks"}`,
		`{"version":1,"id":"p2","kind":"tracks","subject":"10.0.0.3","limit":10}`,
		`{"version":1,"id":"p3","kind":"profile","subject":"web-3"}`,
		`{"version":1,"id":"p4","kind":"evidence","report":"01M81B5HBVE700GJC6X35D8GGE","limit":500}`,
		`{"version":1,"id":"p5","kind":"status"}`,
		`{"version":1,"id":"p6","kind":"evidence","report":"01M81B5HBVE700GJC6X35D8GGE","via":["svc1"],"within_ms":5000}`,
		`{"version":1,"id":"p7","kind":"status","via":["dom1","svc1","leaf"]}`,
	} {
		r, err := DecodeRequest([]byte(msg))
		if err != nil {
			t.Errorf("%s: %v", msg, err)
			continue
		}
		if back, err := DecodeRequest(Encode(r)); err != nil || !back.Equal(r) {
			t.Errorf("round trip of %s: %+v %v", msg, back, err)
		}
	}
	if r, _ := DecodeRequest([]byte(`{"version":1,"id":"p","kind":"status"}`)); r.Items() != DefaultLimit {
		t.Errorf("items without a limit: %d", r.Items())
	}
}

func TestDecodeRequestRefusesBadProbesNamingWhy(t *testing.T) {
	for _, c := range []struct{ msg, want string }{
		{`{"version":2,"id":"p","kind":"status"}`, "version 2"},
		{`{"version":1,"kind":"status"}`, `missing "id"`},
		{`{"version":1,"id":"p","kind":"secrets"}`, `kind "secrets": want one of tracks, profile, evidence, status`},
		{`{"version":1,"id":"p","kind":"profile"}`, `missing "subject"`},
		{`{"version":1,"id":"p","kind":"evidence"}`, `missing "report"`},
		{`{"version":1,"id":"p","kind":"status","report":"r"}`, `kind "status" takes no report`},
		{`{"version":1,"id":"p","kind":"evidence","report":"r","subject":"s"}`, `kind "evidence" takes no subject`},
		{`{"version":1,"id":"p","kind":"tracks","limit":501}`, "limit 501: want 0 to 500"},
		{`{"version":1,"id":"p","kind":"tracks","limit":-1}`, "limit -1"},
		{`{"version":1,"id":"p","kind":"profile","subject":"a\nb"}`, "control character"},
		{`{"version":1,"id":"p","kind":"status","x":1}`, `unknown field "x"`},
		{`{"version":1,"id":"p","kind":"status"} {}`, "data after the message"},
		{`{"version":1,"id":"` + strings.Repeat("p", MaxRequest) + `"}`, "at most 4096"},
		{`{"version":1,"id":"p","kind":"status","via":["a","b","c","d","e","f","g","h","i"]}`, "via: 9 monitors, at most 8"},
		{`{"version":1,"id":"p","kind":"status","via":["svc1","svc1"]}`, `via[1]: monitor "svc1" is on the path twice`},
		{`{"version":1,"id":"p","kind":"status","via":[""]}`, `missing "via[0]"`},
		{`{"version":1,"id":"p","kind":"status","via":["a\u0000b"]}`, "control character"},
		{`{"version":1,"id":"p","kind":"status","via":"svc1"}`, "via"},
		{`{"version":1,"id":"p","kind":"status","via":["svc1"],"within_ms":60001}`, "within_ms 60001: want 0 to 60000"},
		{`{"version":1,"id":"p","kind":"status","within_ms":-1}`, "within_ms -1"},
	} {
		_, err := DecodeRequest([]byte(c.msg))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "probe: ") {
			t.Errorf("%s: error %v, want one saying %q", c.msg, err, c.want)
		}
	}
}

func TestDecodeReply(t *testing.T) {
	good := `{"version":1,"id":"p","monitor":"svc1","status":"ok","data":{"tracks":[]}}`
	if _, err := DecodeReply([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ msg, want string }{
		{`{"version":1,"id":"p","monitor":"svc1","status":"maybe"}`, `status "maybe"`},
		{`{"version":1,"id":"p","status":"ok"}`, `missing "monitor"`},
		{`{"version":1,"id":"p","monitor":"m","status":"ok","data":[1]}`, "data: want a JSON object"},
		{`{"version":1,"id":"p","monitor":"m","status":"ok","data":{]}`, "not JSON"},
		{`{"version":1,"id":"p","monitor":"m","status":"lost"}`, "want one of ok, not-found, refused, failed, unreachable"},
	} {
		_, err := DecodeReply([]byte(c.msg))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.msg, err, c.want)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"version":1,"id":"p4","kind":"evidence","report":"01M81B5HBVE700GJC6X35D8GGE","limit":5}`))
	f.Add([]byte(`{"version":1,"id":"p3","kind":"profile","subject":"web-3"}`))
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":1,"id":"p6","kind":"evidence","report":"r","via":["svc1","leaf"],"within_ms":4900}`))
	f.Add([]byte(`{"version":1,"id":"p","kind":"status","via":["a","a"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRequest(data)
		if err != nil {
			return
		}
		if err := r.Check(); err != nil {
			t.Fatalf("decoded probe fails its check: %v", err)
		}
		if n := r.Items(); n < 1 || n > MaxLimit {
			t.Fatalf("items %d out of bounds", n)
		}
		if len(r.Via) > MaxVia || r.Within() <= 0 || r.Within() > MaxWithin {
			t.Fatalf("path of %d or time %v out of bounds", len(r.Via), r.Within())
		}
		for i, name := range r.Via {
			if name == "" || slices.Contains(r.Via[:i], name) {
				t.Fatalf("via %q: an empty or repeated hop", r.Via)
			}
		}
		back, err := DecodeRequest(Encode(r))
		if err != nil || !back.Equal(r) {
			t.Fatalf("round trip changed %+v into %+v (%v)", r, back, err)
		}
	})
}

func FuzzDecodeReply(f *testing.F) {
	f.Add([]byte(`{"version":1,"id":"p","monitor":"svc1","status":"not-found","detail":"no report \"x\""}`))
	f.Add([]byte(`{"version":1,"id":"p","monitor":"svc1","status":"ok","data":{"tracks":[]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeReply(data)
		if err != nil {
			return
		}
		if _, err := DecodeReply(Encode(r)); err != nil {
			t.Fatalf("re-encoded reply refused: %v", err)
		}
	})
}
