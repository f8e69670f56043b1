package web

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/vigil-ids/vigil/internal/store"
)

// consoleRecorder keeps what the page logs: console calls, log entries
// (where the browser reports a Content-Security-Policy violation) and
// uncaught exceptions.
type consoleRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (c *consoleRecorder) add(ev any) {
	var line string
	switch e := ev.(type) {
	case *log.EventEntryAdded:
		line = "log " + string(e.Entry.Level) + " " + string(e.Entry.Source) + ": " + e.Entry.Text
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range e.Args {
			parts = append(parts, string(a.Value)+a.Description)
		}
		line = "console " + string(e.Type) + ": " + strings.Join(parts, " ")
	case *runtime.EventExceptionThrown:
		line = "exception: " + e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			line += " " + e.ExceptionDetails.Exception.Description
		}
	default:
		return
	}
	c.mu.Lock()
	c.lines = append(c.lines, line)
	c.mu.Unlock()
}

// matching returns the lines that mention any of words.
func (c *consoleRecorder) matching(words ...string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, l := range c.lines {
		for _, w := range words {
			if strings.Contains(strings.ToLower(l), strings.ToLower(w)) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

// TestDashboardLoginWithCSP logs an operator in through the login page in
// a real browser, with the Content-Security-Policy on, sees the live page
// and undoes a decision with its button (the page sends the CSRF token);
// nothing on the way breaks the policy or throws. An inline script added
// at the end is refused and reported, so the check would see a violation.
func TestDashboardLoginWithCSP(t *testing.T) {
	ctx := browser(t)
	st, unit, rec, d := decided(t, "httpd started sh")
	srv, err := New(Options{Listen: "127.0.0.1:0", Store: st, Logger: slog.New(slog.DiscardHandler), Responder: unit, UndoStatus: undoStatus,
		Accounts: accounts(t, t.TempDir())})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	go srv.Serve(sctx)
	t.Cleanup(stop)

	if err := chromedp.Do(ctx); err != nil { // open the tab before listening
		t.Fatal(err)
	}
	var cr consoleRecorder
	if err := chromedp.Listen(ctx, cr.add); err != nil {
		t.Fatal(err)
	}
	// Violations also arrive as DOM events, counted from the first script.
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__cspViolations = []; document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI));`,
	}); err != nil {
		t.Fatal(err)
	}
	poll := func(what, expr string) {
		t.Helper()
		// A navigation (the login's) ends a poll; poll again on the new
		// page.
		for range 5 {
			_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second)))
			if err == nil {
				return
			}
			if !strings.Contains(err.Error(), "navigated") && !strings.Contains(err.Error(), "context was destroyed") && !strings.Contains(err.Error(), "Cannot find context") {
				t.Fatalf("%s: %v (console: %q)", what, err, cr.matching(""))
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("%s: the page kept navigating (console: %q)", what, cr.matching(""))
	}
	// The live page without a session leads to the login page.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL()+"/")); err != nil {
		t.Fatal(err)
	}
	poll("the login page", `location.pathname === "/login.html" && !!document.getElementById("login")`)
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#user"), "otto"),
		chromedp.SendKeys(chromedp.CSS("#password"), "wrong-password"),
		chromedp.Click(chromedp.CSS(`#login button[type=submit]`)),
	); err != nil {
		t.Fatal(err)
	}
	poll("the wrong password's message", `document.getElementById("error").textContent.includes("wrong password")`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("password").value = "", true`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#password"), "otto-password"),
		chromedp.Click(chromedp.CSS(`#login button[type=submit]`)),
	); err != nil {
		t.Fatal(err)
	}
	poll("the live page after login", `location.pathname === "/" && document.getElementById("who").textContent === "otto (operator)" && !document.getElementById("logout").hidden`)
	poll("the decision with its undo button", `!document.getElementById("responses-section").hidden && !!document.querySelector("#responses tbody button.undo")`)
	poll("the live stream", `document.getElementById("status").textContent === "live"`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("#responses tbody button.undo").click(), true`)); err != nil {
		t.Fatal(err)
	}
	poll("the decision undone", `document.querySelector("#responses tbody tr") && document.querySelector("#responses tbody tr").cells[1].textContent === "undone"`)
	if row, _ := st.GetResponse(context.Background(), d.ID); row.Status != store.StatusUndone {
		t.Errorf("stored %+v", row)
	}
	rec.mu.Lock()
	if len(rec.undone) != 1 {
		t.Errorf("the method undid %v", rec.undone)
	}
	rec.mu.Unlock()

	violations, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__cspViolations`))
	if err != nil {
		t.Fatal(err)
	}
	if len(violations) > 0 {
		t.Errorf("the page broke its Content-Security-Policy: %q", violations)
	}
	if bad := cr.matching("Content Security Policy", "Content-Security-Policy", "exception", "Refused to"); len(bad) > 0 {
		t.Errorf("console: %q", bad)
	}

	// The check can fail: an inline script is refused and reported.
	ran, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const s = document.createElement("script"); s.textContent = "window.__inline = 1"; document.body.appendChild(s); return window.__inline === 1; })()`))
	if err != nil {
		t.Fatal(err)
	}
	if ran {
		t.Error("an inline script ran: the policy is not in force")
	}
	poll("the inline script's violation reported", `window.__cspViolations.length > 0`)
	waitConsoleCSP(t, &cr)

	// Logging out leads back to the login page, and the API refuses.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("logout").click(), true`)); err != nil {
		t.Fatal(err)
	}
	poll("the login page after logout", `location.pathname === "/login.html"`)
	status, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`fetch("/api/events").then((r) => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil || status != 401 {
		t.Errorf("the API after logout: %v, %v", status, err)
	}
}

// waitConsoleCSP waits for the browser to report the violation in
// its log too (it may arrive after the DOM event).
func waitConsoleCSP(t *testing.T, cr *consoleRecorder) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(cr.matching("Content Security Policy")) == 0 {
		if time.Now().After(deadline) {
			t.Errorf("the browser's log never reported the refused inline script; the console check would see nothing (log: %q)", cr.matching(""))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
