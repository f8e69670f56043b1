package testutil

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// alertmanagerConfig routes every alert to a receiver that sends nothing:
// the tests read alerts back through the API.
const alertmanagerConfig = `route:
  receiver: discard
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: discard
`

// AlertmanagerBinary finds Prometheus Alertmanager: $VIGIL_ALERTMANAGER,
// or Debian's prometheus-alertmanager, or alertmanager on the PATH.
func AlertmanagerBinary() (string, error) {
	if p := os.Getenv("VIGIL_ALERTMANAGER"); p != "" {
		return p, nil
	}
	for _, name := range []string{"prometheus-alertmanager", "alertmanager"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no prometheus-alertmanager or alertmanager binary (apt-get install prometheus-alertmanager)")
}

// StartAlertmanager runs a real Alertmanager on a free loopback port with
// a minimal configuration, its storage in a temporary directory and
// clustering off, waits until /-/ready answers, and returns its base URL
// (http://127.0.0.1:PORT). The process is stopped when the test ends. The
// test is skipped, with the reason, when no binary is installed.
func StartAlertmanager(t testing.TB) string {
	t.Helper()
	bin, err := AlertmanagerBinary()
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte(alertmanagerConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	var lastOut string
	for attempt := 0; attempt < 3; attempt++ {
		addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		out := &LockedBuffer{}
		cmd := exec.Command(bin,
			"--config.file="+cfg,
			"--storage.path="+filepath.Join(dir, fmt.Sprintf("data%d", attempt)),
			"--web.listen-address="+addr,
			"--cluster.listen-address=",
			"--log.level=warn",
		)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting %s: %v", bin, err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		base := "http://" + addr
		if waitReady(base+"/-/ready", done, 30*time.Second) {
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-done
			})
			return base
		}
		_ = cmd.Process.Kill()
		<-done
		lastOut = out.String()
	}
	t.Fatalf("alertmanager did not become ready; its output:\n%s", lastOut)
	return ""
}

// waitReady polls url until it answers 200, the process exits, or the
// deadline passes.
func waitReady(url string, exited <-chan struct{}, timeout time.Duration) bool {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	pause := 10 * time.Millisecond
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(pause)
		pause = min(2*pause, 100*time.Millisecond)
	}
	return false
}
