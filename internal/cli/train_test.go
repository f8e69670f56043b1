package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/sensor/syscount"
)

// busy starts a niced helper process that makes system calls until the
// test ends.
func busy(t *testing.T, ctx context.Context, name string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "nice", append([]string{"-n", "19", name}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Skipf("skipped: cannot start the helper %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
}

func TestTrainClassifierLocalRecordsThisMachineAndWritesAModelCheckAccepts(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: records for 20 s")
	}
	c, err := syscount.Open(syscount.Options{Host: "probe"})
	var ue *syscount.UnavailableError
	if errors.As(err, &ue) {
		t.Skipf("skipped: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	hctx, stop := context.WithCancel(ctx)
	defer stop()
	// Two busy programs, two classes whatever else this machine runs.
	busy(t, hctx, "sh", "-c", "while :; do echo x; done >/dev/null")
	busy(t, hctx, "dd", "if=/dev/zero", "of=/dev/null", "bs=64")

	model := filepath.Join(t.TempDir(), "local.vgm")
	var out, errb bytes.Buffer
	code := Main(ctx, []string{"train", "classifier", "--local", "--duration", "20s", "--interval", "100ms",
		"--kind", "logreg", "--min-samples", "5", "--model", model}, &out, &errb)
	stop()
	if code != ExitOK {
		t.Fatalf("exit %d; stdout %q stderr %q", code, out.String(), errb.String())
	}
	rec, err := os.ReadFile(model + LocalRecordingSuffix)
	if err != nil {
		t.Fatalf("the recording is not kept beside the model: %v", err)
	}
	for _, comm := range []string{`"sh"`, `"dd"`} {
		if !bytes.Contains(rec, []byte(comm)) {
			t.Errorf("the recording holds no vector of the helper %s", comm)
		}
	}
	if !strings.Contains(out.String(), "wrote "+model+": logreg model of") {
		t.Errorf("stdout %q: want the model written", out.String())
	}
	var cout, cerr bytes.Buffer
	if code := Main(ctx, []string{"check", model}, &cout, &cerr); code != ExitOK {
		t.Fatalf("vigil check %s: exit %d, stderr %q", model, code, cerr.String())
	}
	if !strings.Contains(cout.String(), "process classifier (logreg)") {
		t.Errorf("vigil check says %q: want a process classifier (logreg)", cout.String())
	}
}
