package web

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vigil-ids/vigil/internal/store"
)

// TestResponsesPage shows the resolver's decisions on the live page with
// their reasons (markup from a report stays text) and undoes one in force
// with its button.
func TestResponsesPage(t *testing.T) {
	ctx := browser(t)
	hostile := `<img src=x onerror="window.__pwned='img'">`
	st, unit, rec, d := decided(t, "httpd started sh "+hostile)
	srv, err := New(Options{Listen: "127.0.0.1:0", Store: st, Logger: slog.New(slog.DiscardHandler), Responder: unit, UndoStatus: undoStatus})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	go srv.Serve(sctx)
	t.Cleanup(stop)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL()+"/")); err != nil {
		t.Fatal(err)
	}
	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	poll("the decision", `!document.getElementById("responses-section").hidden && document.querySelectorAll("#responses tbody tr").length === 1`)
	row, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelector("#responses tbody tr").cells).map(td => td.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	// time, status, mode, policy, method, key, expires, reason, undo
	if len(row) != 9 || row[1] != "done" || row[2] != "enforce" || row[3] != "mark-red" || row[5] != "mark|host=web-3" || row[8] != "undo" {
		t.Fatalf("row %q", row)
	}
	if want := `httpd started sh <img src=x onerror=`; !strings.Contains(row[7], want) {
		t.Errorf("reason %q does not show the report's text as text", row[7])
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("#responses tbody button.undo").click(), true`)); err != nil {
		t.Fatal(err)
	}
	poll("the decision undone", `document.querySelector("#responses tbody tr") && document.querySelector("#responses tbody tr").cells[1].textContent === "undone" && !document.querySelector("#responses tbody button")`)
	if pwned, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__pwned !== undefined`)); pwned {
		t.Error("markup from a report ran on the page")
	}
	rec.mu.Lock()
	undone := append([]string(nil), rec.undone...)
	rec.mu.Unlock()
	if len(undone) != 1 || undone[0] != d.ID {
		t.Errorf("the method undid %v", undone)
	}
	if row, _ := st.GetResponse(context.Background(), d.ID); row.Status != store.StatusUndone {
		t.Errorf("stored %+v", row)
	}
}
