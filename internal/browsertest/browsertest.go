// Package browsertest starts the real browser that tests of the dashboard
// drive (Debian's chromium through chromedp), or skips the test with the
// reason when there is none.
package browsertest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Find finds the browser: VIGIL_CHROMIUM names it, else the first of
// chromium, chromium-browser and google-chrome on PATH.
func Find() (string, error) {
	if p := os.Getenv("VIGIL_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no Chromium on this machine (install Debian's chromium, or set VIGIL_CHROMIUM)")
}

// Chromium finds the browser, or skips t with the reason.
func Chromium(t testing.TB) string {
	t.Helper()
	p, err := Find()
	if err != nil {
		t.Skip(err.Error())
	}
	return p
}

// Context starts a headless browser with its own profile and returns a
// chromedp context for it, ending after limit or with the test.
func Context(t testing.TB, limit time.Duration) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, limit)
	t.Cleanup(func() { cancelT(); cancelB(); cancelA() })
	return ctx
}

// Artifact is where a test saves a file for people to look at:
// $VIGIL_ARTIFACTS/name when that is set, else in the test's temporary
// directory.
func Artifact(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("VIGIL_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir + string(os.PathSeparator) + name
}
