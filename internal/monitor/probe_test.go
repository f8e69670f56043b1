package monitor

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/probemsg"
	"github.com/vigil-ids/vigil/internal/store"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// TestProbes runs a service monitor whose parent is "dom" and probes it
// over the bus as dom: its status (counters), its live tracks and
// profiles, and the evidence events behind its report, each found or
// answered "not found" in words. A probe from another monitor than the
// parent, and a malformed one, are refused with the reason; a monitor
// with no parent answers nobody.
func TestProbes(t *testing.T) {
	_, conn := startBus(t)
	reg := testRegistry(t)
	if err := reg.Register(engine.Factory{
		Kind:        "listing",
		NewSettings: func() config.Settings { return &countSettings{Threshold: 2} },
		New: func(_ context.Context, s config.Settings, _ engine.Deps) (engine.Engine, error) {
			return &listingEngine{countEngine: countEngine{threshold: s.(*countSettings).Threshold, seen: map[string][]string{}}, last: map[string]time.Time{}}, nil
		},
	}); err != nil {
		t.Fatal(err)
	}
	svcCfg := loadConfig(t, `
monitor: {name: svc1, parent: dom}
sources: [{name: obs, subjects: ["vigil.obs.>"]}]
engines: [{kind: listing, name: lst}]
`, reg)
	svc := run(t, Options{Config: svcCfg, Engines: reg, Conn: conn("svc1")})
	rootCfg := loadConfig(t, "monitor: {name: root, layer: enterprise}\n", reg)
	root := run(t, Options{Config: rootCfg, Engines: reg, Conn: conn("root")})

	pub := conn("pub")
	evs := hostEvents(event.NewRandomIDs(), time.Now().UTC(), "web-1", event.TypeProcSpawn, 2)
	if _, err := pub.PublishEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the report stored", func() bool { return svc.m.Store().Stats().ReportsWritten == 1 })
	reps, err := svc.m.Store().Reports(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	report := reps[0]

	parent := conn("dom")
	probe := func(sender string, req probemsg.Request) probemsg.Reply {
		t.Helper()
		rep, err := probemsg.Probe(context.Background(), parent.NC, "svc1", sender, req, 5*time.Second)
		if err != nil {
			t.Fatalf("%+v: %v", req, err)
		}
		if rep.Monitor != "svc1" || rep.ID != req.ID {
			t.Fatalf("reply %+v", rep)
		}
		return rep
	}

	rep := probe("dom", probemsg.Request{ID: "s", Kind: probemsg.KindStatus})
	var st probemsg.Status
	if err := json.Unmarshal(rep.Data, &st); err != nil || rep.Status != probemsg.StatusOK {
		t.Fatalf("status %+v: %v", rep, err)
	}
	if st.Name != "svc1" || st.Parent != "dom" || st.Layer != "service" || st.Counters.EventsIn != 2 || st.Counters.ReportsOut != 1 {
		t.Errorf("status data %+v", st)
	}

	rep = probe("dom", probemsg.Request{ID: "e", Kind: probemsg.KindEvidence, Report: report.ID})
	var ev probemsg.Evidence
	if err := json.Unmarshal(rep.Data, &ev); err != nil || rep.Status != probemsg.StatusOK {
		t.Fatalf("evidence %+v: %v", rep, err)
	}
	if len(ev.Events) != 2 || len(ev.Missing) != 0 || ev.Truncated {
		t.Fatalf("evidence data %+v", ev)
	}
	for i, raw := range ev.Events {
		e, err := event.DecodeJSON(raw)
		if err != nil || e.ID != evs[i].ID && e.ID != evs[1-i].ID || e.Host != "web-1" {
			t.Errorf("evidence event %d: %+v %v", i, e, err)
		}
	}
	if back, err := event.DecodeReportJSON(ev.Report); err != nil || back.ID != report.ID {
		t.Errorf("evidence's report: %+v %v", back, err)
	}
	rep = probe("dom", probemsg.Request{ID: "e1", Kind: probemsg.KindEvidence, Report: report.ID, Limit: 1})
	if err := json.Unmarshal(rep.Data, &ev); err != nil || len(ev.Events) != 1 || !ev.Truncated {
		t.Errorf("evidence limited to one event: %+v %v", ev, err)
	}

	rep = probe("dom", probemsg.Request{ID: "t", Kind: probemsg.KindTracks, Subject: "web-1"})
	var tr probemsg.Tracks
	if err := json.Unmarshal(rep.Data, &tr); err != nil || len(tr.Tracks) != 1 {
		t.Fatalf("tracks %+v: %v", rep, err)
	}
	var track map[string]any
	if err := json.Unmarshal(tr.Tracks[0], &track); err != nil || track["host"] != "web-1" || track["monitor"] != "svc1" || track["engine"] != "lst" {
		t.Errorf("track %s %v", tr.Tracks[0], err)
	}
	rep = probe("dom", probemsg.Request{ID: "p", Kind: probemsg.KindProfile, Subject: "web-1"})
	var pr probemsg.Profile
	if err := json.Unmarshal(rep.Data, &pr); err != nil || len(pr.Subjects) != 1 || pr.Subjects[0].Subject != "web-1" || pr.Subjects[0].Events != 2 {
		t.Errorf("profile %+v: %v", rep, err)
	}

	for _, c := range []struct {
		req  probemsg.Request
		want string
	}{
		{probemsg.Request{ID: "n1", Kind: probemsg.KindEvidence, Report: "01NOSUCHREPORT"}, `monitor svc1 holds no report "01NOSUCHREPORT"`},
		{probemsg.Request{ID: "n2", Kind: probemsg.KindEvidence, Report: "a'; DROP TABLE reports; --"}, "holds no report"},
		{probemsg.Request{ID: "n3", Kind: probemsg.KindTracks, Subject: "nobody"}, `monitor svc1 follows no track of subject "nobody"`},
	} {
		rep := probe("dom", c.req)
		if rep.Status != probemsg.StatusNotFound || rep.Detail != c.want && !strings.Contains(rep.Detail, c.want) || rep.Data != nil {
			t.Errorf("%+v: reply %+v, want not found: %q", c.req, rep, c.want)
		}
	}
	// The root has no profiler: a profile probe answered directly.
	if rep := root.m.Probe(context.Background(), probemsg.Request{Version: 1, ID: "x", Kind: probemsg.KindProfile, Subject: "web-1"}); rep.Status != probemsg.StatusNotFound {
		t.Errorf("profile of an unknown subject: %+v", rep)
	}

	// Not from the parent.
	rep = probe("root", probemsg.Request{ID: "r", Kind: probemsg.KindStatus})
	if rep.Status != probemsg.StatusRefused || rep.Detail != "monitor svc1 answers probes from its parent dom only, not from root" || rep.Data != nil {
		t.Errorf("probe from root: %+v", rep)
	}
	// Malformed: refused with the decoder's reason, the id echoed.
	m, err := parent.NC.Request(bus.ProbeSubject("svc1", "dom"), []byte(`{"version":1,"id":"bad","kind":"secrets"}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := probemsg.DecodeReply(m.Data)
	if err != nil || bad.ID != "bad" || bad.Status != probemsg.StatusRefused || !strings.Contains(bad.Detail, `kind "secrets"`) {
		t.Errorf("malformed probe: %+v %v", bad, err)
	}
	// A monitor without a parent answers nobody.
	if _, err := probemsg.Probe(context.Background(), parent.NC, "root", "dom", probemsg.Request{ID: "z", Kind: probemsg.KindStatus}, time.Second); err == nil || !strings.Contains(err.Error(), "no monitor of that name answers probes") {
		t.Errorf("probe of the root: %v", err)
	}
	svc.stop()
	root.stop()
}

// TestProbeRepliesAreBounded asks for the evidence of a report whose 300
// events, 4 KiB each, would not fit in a reply: the reply holds as many
// as fit, says it is truncated, and stays within probemsg.MaxReply.
func TestProbeRepliesAreBounded(t *testing.T) {
	_, conn := startBus(t)
	reg := testRegistry(t)
	cfg := loadConfig(t, `
monitor: {name: svc1, parent: dom}
sources: [{name: obs, subjects: ["vigil.obs.>"]}]
engines: [{kind: count, threshold: 300}]
`, reg)
	svc := run(t, Options{Config: cfg, Engines: reg, Conn: conn("svc1")})
	evs := hostEvents(event.NewRandomIDs(), time.Now().UTC(), "web-1", event.TypeProcSpawn, 300)
	for i := range evs {
		evs[i].Attrs["blob"] = strings.Repeat("x", 4096)
	}
	if _, err := conn("pub").PublishEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, "the report stored", func() bool { return svc.m.Store().Stats().ReportsWritten == 1 })
	reps, err := svc.m.Store().Reports(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := conn("dom").NC.Request(bus.ProbeSubject("svc1", "dom"), probemsg.Encode(probemsg.Request{Version: 1, ID: "big", Kind: probemsg.KindEvidence, Report: reps[0].ID, Limit: probemsg.MaxLimit}), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Data) > probemsg.MaxReply {
		t.Fatalf("a reply of %d bytes, over %d", len(m.Data), probemsg.MaxReply)
	}
	rep, err := probemsg.DecodeReply(m.Data)
	if err != nil || rep.Status != probemsg.StatusOK || rep.Detail != "truncated to fit a reply" {
		t.Fatalf("reply %+v %v", rep, err)
	}
	var ev probemsg.Evidence
	if err := json.Unmarshal(rep.Data, &ev); err != nil || !ev.Truncated || len(ev.Events) < 50 || len(ev.Events) >= 300 {
		t.Fatalf("evidence of %d events, truncated %v (%v)", len(ev.Events), ev.Truncated, err)
	}
	t.Logf("%d of 300 events in a reply of %d bytes (missing %d)", len(ev.Events), len(m.Data), len(ev.Missing))
}
