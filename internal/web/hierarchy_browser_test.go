package web

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vigil-ids/vigil/internal/browsertest"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// TestLivePageMonitorTree opens the live page of a domain monitor whose
// child, a service monitor, sends heartbeats every 200 ms on a real bus:
// the tree shows the child alive with its counters; a click on it shows
// its status from a probe; a click on its report (a REPORT event from the
// child) shows the evidence events from the child's store. The child
// stops: the tree shows it lost; it starts again: alive.
func TestLivePageMonitorTree(t *testing.T) {
	ctx := browser(t)
	f := newHierFixture(t)
	f.startChild()
	srv, err := New(Options{Listen: "127.0.0.1:0", Store: f.dom.Store(), Live: f.dom, Hierarchy: f.dom, Hub: f.hub, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(sctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL()+"/")); err != nil {
		t.Fatal(err)
	}
	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	const health = `(document.querySelector('#monitors tr[data-name="svc1"] .health-state') || {}).textContent`
	poll("svc1 alive in the tree", health+` === "alive"`)
	poll("this monitor at the top of the tree", `document.querySelector("#monitors tbody tr.self").textContent.includes("dom") && document.getElementById("hier-self").textContent.includes("parent ent")`)
	testutil.WaitFor(t, 20*time.Second, "the page to open its event stream", func() bool { return f.hub.Clients() > 0 })

	// svc1 reports two spawns; the domain monitor receives the report.
	report := f.spawns()
	poll("svc1's counters", `document.querySelector('#monitors tr[data-name="svc1"]').textContent.includes("2")`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(document.querySelector('#monitors tr[data-name="svc1"]').click(), true)`)); err != nil {
		t.Fatal(err)
	}
	poll("svc1's status from a probe", `document.getElementById("probe-status").textContent.includes("svc1 (service), parent dom: events in 2, reports out 1")`)

	// From svc1's report, as the domain monitor stored it, to its evidence.
	poll("svc1's report among the events", `!!document.querySelector('#events tr.child-report[data-report="`+report.ID+`"]')`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(document.querySelector('#events tr.child-report[data-report="`+report.ID+`"]').click(), true)`)); err != nil {
		t.Fatal(err)
	}
	poll("the evidence from svc1's store", `document.querySelectorAll("#probe-events tbody tr").length === 2`)
	cells, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#probe-events td")).map(td => td.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if !containsSub(cells, "PROC.SPAWN") || !containsSub(cells, "web-1") || !containsSub(cells, "name=sh") {
		t.Errorf("evidence cells %q", cells)
	}
	if title, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("probe-title").textContent`)); !strings.Contains(title, report.ID) {
		t.Errorf("probe title %q", title)
	}

	// Lost, then back.
	f.stopChild()
	poll("svc1 lost", health+` === "lost"`)
	poll("lost in red", `getComputedStyle(document.querySelector('#monitors tr[data-name="svc1"] .health-state')).backgroundColor === "rgb(211, 58, 44)"`)
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err == nil {
		path := browsertest.Artifact(t, "monitor-tree-lost.png")
		if err := os.WriteFile(path, shot, 0o644); err == nil {
			t.Logf("screenshot %s", path)
		}
	}
	f.startChild()
	poll("svc1 alive again", health+` === "alive"`)
	poll("the health events among the events", `["MONITOR.STALE", "MONITOR.LOST", "MONITOR.ALIVE"].every(t => Array.from(document.querySelectorAll("#events tbody tr")).some(tr => tr.textContent.includes(t) && tr.textContent.includes("svc1")))`)
}

// TestLivePageMonitorTreeDrillDown opens the live page of the enterprise
// monitor ent over a tree of three monitors on a real bus (ent, its
// domain dom, dom's service monitor svc1) and drills down two layers: a
// click on dom's report shows the evidence from dom's store (svc1's
// report); a click on that shows, through dom, the evidence from svc1's
// store: the host's process spawns.
func TestLivePageMonitorTreeDrillDown(t *testing.T) {
	ctx := browser(t)
	f := newHierFixture(t)
	f.startChild()
	ent, hub := f.startEnterprise()
	srv, err := New(Options{Listen: "127.0.0.1:0", Store: ent.Store(), Live: ent, Hierarchy: ent, Hub: hub, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(sctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL()+"/")); err != nil {
		t.Fatal(err)
	}
	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	click := func(selector string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(document.querySelector('`+selector+`').click(), true)`)); err != nil {
			t.Fatal(err)
		}
	}
	poll("dom alive in ent's tree", `(document.querySelector('#monitors tr[data-name="dom"] .health-state') || {}).textContent === "alive"`)
	testutil.WaitFor(t, 20*time.Second, "the page to open its event stream", func() bool { return hub.Clients() > 0 })

	svcReport := f.spawns()
	poll("dom's report among ent's events", `!!document.querySelector('#events tr.child-report')`)
	click(`#events tr.child-report`)
	poll("dom's evidence: svc1's report", `!!document.querySelector('#probe-events tr.child-report[data-report="`+svcReport.ID+`"][data-via="svc1"]')`)
	click(`#probe-events tr.child-report[data-report="` + svcReport.ID + `"]`)
	poll("svc1's evidence through dom", `document.querySelectorAll("#probe-events tbody tr").length === 2 && document.getElementById("probe-title").textContent.includes("from svc1 through dom")`)
	cells, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#probe-events td")).map(td => td.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if !containsSub(cells, "PROC.SPAWN") || !containsSub(cells, "web-1") || !containsSub(cells, "name=sh") {
		t.Errorf("svc1's evidence cells %q", cells)
	}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err == nil {
		path := browsertest.Artifact(t, "monitor-tree-drill-down.png")
		if err := os.WriteFile(path, shot, 0o644); err == nil {
			t.Logf("screenshot %s", path)
		}
	}

	// svc1 stops: the same click says which hop did not answer.
	f.stopChild()
	click(`#events tr.child-report`)
	poll("dom's evidence again", `!!document.querySelector('#probe-events tr.child-report[data-via="svc1"]')`)
	click(`#probe-events tr.child-report[data-via="svc1"]`)
	poll("the unreachable hop named", `document.getElementById("probe-status").textContent.includes("unreachable: monitor dom relaying to svc1: probe of svc1: no monitor of that name answers probes")`)
}
