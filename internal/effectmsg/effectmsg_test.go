package effectmsg

import (
	"strings"
	"testing"
)

const good = `{"version":1,"id":"d1","host":"h1","monitor":"m","action":"signal","signal":"TERM","process":{"pid":42,"start":1234,"exe":"/usr/bin/sleep"}}`

func TestDecodeRequestAcceptsAWellFormedRequest(t *testing.T) {
	r, err := DecodeRequest([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if r.Process.PID != 42 || r.Process.Start != 1234 || r.Signal != "TERM" || r.Host != "h1" {
		t.Errorf("decoded %+v", r)
	}
	restart := `{"version":1,"id":"d2","host":"h1","action":"restart","service":"apache2"}`
	if _, err := DecodeRequest([]byte(restart)); err != nil {
		t.Error(err)
	}
}

func TestDecodeRequestRefusesWhatIsNotExactlyARequest(t *testing.T) {
	for name, c := range map[string]struct{ in, want string }{
		"unknown field":  {strings.Replace(good, `"host"`, `"force":true,"host"`, 1), `unknown field "force"`},
		"other version":  {strings.Replace(good, `"version":1`, `"version":2`, 1), "version 2"},
		"no start time":  {strings.Replace(good, `"start":1234`, `"start":0`, 1), "no start time"},
		"no exe":         {strings.Replace(good, `"exe":"/usr/bin/sleep"`, `"exe":""`, 1), "not an absolute path"},
		"relative exe":   {strings.Replace(good, `/usr/bin/sleep`, `sleep`, 1), "not an absolute path"},
		"pid zero":       {strings.Replace(good, `"pid":42`, `"pid":0`, 1), "pid 0"},
		"pid negative":   {strings.Replace(good, `"pid":42`, `"pid":-1`, 1), "pid -1"},
		"pid as string":  {strings.Replace(good, `"pid":42`, `"pid":"42"`, 1), `field "process.pid"`},
		"bad signal":     {strings.Replace(good, `"TERM"`, `"HUP"`, 1), `signal "HUP"`},
		"no process":     {`{"version":1,"id":"d","host":"h","action":"signal","signal":"KILL"}`, `needs "process"`},
		"unknown action": {`{"version":1,"id":"d","host":"h","action":"reboot"}`, `action "reboot"`},
		"no id":          {strings.Replace(good, `"id":"d1"`, `"id":""`, 1), `missing "id"`},
		"control chars":  {strings.Replace(good, `"id":"d1"`, `"id":"d\n1"`, 1), "control character"},
		"trailing data":  {good + `{}`, "data after the message"},
		"empty":          {``, "empty message"},
		"not json":       {`{"version":`, "not JSON"},
		"restart+signal": {`{"version":1,"id":"d","host":"h","action":"restart","service":"x","signal":"KILL"}`, `"signal" or "process"`},
		"restart no svc": {`{"version":1,"id":"d","host":"h","action":"restart"}`, `missing "service"`},
		"too large":      {`{"version":1,"id":"` + strings.Repeat("a", MaxMessage) + `"}`, "at most"},
	} {
		_, err := DecodeRequest([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", name, err, c.want)
		}
	}
}

func TestDecodeReplyChecksStatusAndVersion(t *testing.T) {
	if _, err := DecodeReply([]byte(`{"version":1,"id":"d","host":"h","status":"refused","reason":"pid 1 is protected"}`)); err != nil {
		t.Error(err)
	}
	if r, err := DecodeReply([]byte(`{"version":1,"id":"d","host":"h","status":"failed","reason":"no process with pid 7 (it has ended)","gone":true}`)); err != nil || !r.Gone {
		t.Errorf("a reply saying the process is gone: %+v %v", r, err)
	}
	for _, in := range []string{
		`{"version":1,"id":"d","host":"h","status":"maybe"}`,
		`{"version":3,"id":"d","host":"h","status":"done"}`,
		`{"version":1,"id":"d","host":"h","status":"done","extra":1}`,
		`{"version":1,"id":"d","host":"h","status":"done","gone":true}`,
	} {
		if _, err := DecodeReply([]byte(in)); err == nil {
			t.Errorf("%s decoded", in)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(`{"version":1,"id":"d2","host":"h1","action":"restart","service":"apache2"}`))
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRequest(data)
		if err != nil {
			return
		}
		// What decodes checks, and survives a round trip.
		if err := r.Check(); err != nil {
			t.Fatalf("decoded request fails its check: %v", err)
		}
		if r.Action == ActionSignal && (r.Process == nil || r.Process.PID <= 0 || r.Process.Start == 0) {
			t.Fatalf("signal request without a full process: %+v", r)
		}
		if _, err := DecodeRequest(Encode(r)); err != nil {
			t.Fatalf("re-encoded request refused: %v", err)
		}
	})
}

func FuzzDecodeReply(f *testing.F) {
	f.Add([]byte(`{"version":1,"id":"d","host":"h","status":"done","detail":"sent TERM"}`))
	f.Add([]byte(`{"version":1,"id":"d","host":"h","status":"failed","reason":"no process with pid 7 (it has ended)","gone":true}`))
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
