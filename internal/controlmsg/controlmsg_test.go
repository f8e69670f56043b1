package controlmsg

import (
	"strings"
	"testing"
	"time"
)

const good = `{"version":1,"id":"d1","monitor":"domain","target":"signatures","action":"enable-group","parameters":{"group":"exfiltration"},"duration":"10m"}`

func TestDecodeRequestAcceptsWellFormedRequests(t *testing.T) {
	r, err := DecodeRequest([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if r.Target != "signatures" || r.Parameters["group"] != "exfiltration" || time.Duration(r.Duration) != 10*time.Minute || r.Monitor != "domain" {
		t.Errorf("decoded %+v", r)
	}
	for _, in := range []string{
		`{"version":1,"id":"d2","monitor":"m","target":"host-profiles","action":"lower-threshold","parameters":{"subject":"10.0.0.3","factor":"0.5"},"duration":"1h"}`,
		`{"version":1,"id":"d3","monitor":"m","target":"host-profiles","action":"lower-threshold","parameters":{"subject":"web-1","factor":"0.25","class":"execs"},"duration":"24h"}`,
		`{"version":1,"id":"d4","monitor":"m","target":"signatures","action":"revert","parameters":{"request":"d1"}}`,
		`{"version":1,"id":"d5","monitor":"m","target":"sampler","action":"raise-sampling","parameters":{"interval":"500ms"},"duration":"15m"}`,
	} {
		if _, err := DecodeRequest([]byte(in)); err != nil {
			t.Errorf("%s: %v", in, err)
		}
	}
}

func TestDecodeRequestRefusesWhatIsNotExactlyARequest(t *testing.T) {
	lower := `{"version":1,"id":"d","monitor":"m","target":"p","action":"lower-threshold","parameters":{"subject":"s","factor":"0.5"},"duration":"1m"}`
	for name, c := range map[string]struct{ in, want string }{
		"unknown field":     {strings.Replace(good, `"target"`, `"force":true,"target"`, 1), `unknown field "force"`},
		"other version":     {strings.Replace(good, `"version":1`, `"version":2`, 1), "version 2"},
		"no id":             {strings.Replace(good, `"id":"d1"`, `"id":""`, 1), `missing "id"`},
		"no asker":          {strings.Replace(good, `"monitor":"domain"`, `"monitor":""`, 1), `missing "monitor"`},
		"no target":         {strings.Replace(good, `"target":"signatures"`, `"target":""`, 1), `missing "target"`},
		"control in target": {strings.Replace(good, `"signatures"`, `"sig\u001bnatures"`, 1), "control character"},
		"newline in group":  {strings.Replace(good, `"exfiltration"`, `"exfil\ntration"`, 1), "control character"},
		"line separator":    {strings.Replace(good, `"exfiltration"`, `"exfil\u2028tration"`, 1), "control character"},
		"invalid utf-8":     {strings.Replace(good, `exfiltration`, "exfil\xfftration", 1), "invalid UTF-8"},
		"unknown action":    {strings.Replace(good, `"enable-group"`, `"disable-all"`, 1), `action "disable-all"`},
		"foreign parameter": {strings.Replace(good, `{"group":"exfiltration"}`, `{"group":"x","rules":"*"}`, 1), `takes no parameter "rules"`},
		"missing group":     {strings.Replace(good, `{"group":"exfiltration"}`, `{}`, 1), `needs parameter "group"`},
		"empty group":       {strings.Replace(good, `"exfiltration"`, `""`, 1), `missing "parameters.group"`},
		"no duration":       {strings.Replace(good, `,"duration":"10m"`, ``, 1), "positive time"},
		"zero duration":     {strings.Replace(good, `"10m"`, `"0s"`, 1), "positive time"},
		"negative":          {strings.Replace(good, `"10m"`, `"-5m"`, 1), "positive time"},
		"too long":          {strings.Replace(good, `"10m"`, `"25h"`, 1), "longer than the 24h0m0s"},
		"duration number":   {strings.Replace(good, `"10m"`, `600`, 1), "want a string"},
		"duration words":    {strings.Replace(good, `"10m"`, `"soon"`, 1), `duration "soon"`},
		"factor one":        {strings.Replace(lower, `"0.5"`, `"1"`, 1), "above 0 and below 1"},
		"factor zero":       {strings.Replace(lower, `"0.5"`, `"0"`, 1), "above 0 and below 1"},
		"factor NaN":        {strings.Replace(lower, `"0.5"`, `"NaN"`, 1), "above 0 and below 1"},
		"factor number":     {strings.Replace(lower, `"0.5"`, `0.5`, 1), `field "parameters": a number where a string belongs`},
		"no subject":        {strings.Replace(lower, `"subject":"s",`, ``, 1), `needs parameter "subject"`},
		"revert duration":   {`{"version":1,"id":"d","monitor":"m","target":"p","action":"revert","parameters":{"request":"x"},"duration":"1m"}`, "takes no duration"},
		"interval zero":     {`{"version":1,"id":"d","monitor":"m","target":"sampler","action":"raise-sampling","parameters":{"interval":"0s"},"duration":"1m"}`, `interval "0s"`},
		"interval words":    {`{"version":1,"id":"d","monitor":"m","target":"sampler","action":"raise-sampling","parameters":{"interval":"fast"},"duration":"1m"}`, `interval "fast"`},
		"trailing data":     {good + `{}`, "data after the message"},
		"empty":             {``, "empty message"},
		"not json":          {`{"version":`, "not JSON"},
		"too large":         {`{"version":1,"id":"` + strings.Repeat("a", MaxMessage) + `"}`, "at most"},
		"long id":           {strings.Replace(good, `"id":"d1"`, `"id":"`+strings.Repeat("a", MaxID+1)+`"`, 1), "id longer than"},
	} {
		_, err := DecodeRequest([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", name, err, c.want)
		}
	}
}

func TestCheckParametersOfSettingsMayLeaveTheSubjectToTheDecision(t *testing.T) {
	if err := CheckParameters(ActionLowerThreshold, map[string]string{"factor": "0.5"}, false); err != nil {
		t.Errorf("settings without a subject: %v", err)
	}
	if err := CheckParameters(ActionLowerThreshold, map[string]string{"factor": "0.5"}, true); err == nil {
		t.Error("a complete request without a subject passed")
	}
}

func TestDecodeReplyChecksStatusAndVersion(t *testing.T) {
	r, err := DecodeReply([]byte(`{"version":1,"id":"d","monitor":"m","status":"done","detail":"enabled","expires":"2026-03-14T15:19:26Z"}`))
	if err != nil || r.Expires.IsZero() {
		t.Fatalf("%+v, %v", r, err)
	}
	for _, in := range []string{
		`{"version":1,"id":"d","monitor":"m","status":"maybe"}`,
		`{"version":3,"id":"d","monitor":"m","status":"done"}`,
		`{"version":1,"id":"d","monitor":"m","status":"done","extra":1}`,
		`{"version":1,"id":"","monitor":"m","status":"done"}`,
		`{"version":1,"id":"d","status":"done"}`,
	} {
		if _, err := DecodeReply([]byte(in)); err == nil {
			t.Errorf("%s: accepted", in)
		}
	}
}

func TestEncodeWritesTheDurationAsText(t *testing.T) {
	b := Encode(Request{Version: Version, ID: "x", Monitor: "m", Target: "e", Action: ActionEnableGroup, Parameters: map[string]string{"group": "g"}, Duration: Duration(90 * time.Second)})
	if !strings.Contains(string(b), `"duration":"1m30s"`) {
		t.Errorf("encoded %s", b)
	}
	if _, err := DecodeRequest(b); err != nil {
		t.Error(err)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(`{"version":1,"id":"d2","monitor":"m","target":"p","action":"lower-threshold","parameters":{"subject":"10.0.0.3","factor":"0.5"},"duration":"1h"}`))
	f.Add([]byte(`{"version":1,"id":"d4","monitor":"m","target":"s","action":"revert","parameters":{"request":"d1"}}`))
	f.Add([]byte(`{"version":1,"id":"d5","monitor":"m","target":"sampler","action":"raise-sampling","parameters":{"interval":"500ms"},"duration":"15m"}`))
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRequest(data)
		if err != nil {
			return
		}
		// What decodes checks, stays within bounds, and survives a round
		// trip.
		if err := r.Check(); err != nil {
			t.Fatalf("decoded request fails its check: %v", err)
		}
		if d := time.Duration(r.Duration); r.Action != ActionRevert && (d <= 0 || d > MaxDuration) {
			t.Fatalf("duration %v out of bounds", d)
		}
		back, err := DecodeRequest(Encode(r))
		if err != nil {
			t.Fatalf("re-encoded request refused: %v", err)
		}
		if back.ID != r.ID || back.Duration != r.Duration || len(back.Parameters) != len(r.Parameters) {
			t.Fatalf("round trip changed %+v into %+v", r, back)
		}
	})
}

func FuzzDecodeReply(f *testing.F) {
	f.Add([]byte(`{"version":1,"id":"d","monitor":"m","status":"done","detail":"enabled 2 rules","expires":"2026-03-14T15:19:26Z"}`))
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
