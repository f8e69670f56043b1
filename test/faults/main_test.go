package faults

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-ids/vigil/internal/testutil/vigilproc"
)

// vigil is the binary under test, built once for the suite.
var vigil string

func TestMain(m *testing.M) { vigilproc.Main(m, &vigil) }

// figure logs one of the suite's figures and, when VIGIL_ARTIFACTS names
// a directory, appends it to faults.txt there.
func figure(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf(format, args...)
	t.Logf("figure: %s", line)
	dir := os.Getenv("VIGIL_ARTIFACTS")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("artifacts: %v", err)
		return
	}
	f, err := os.OpenFile(filepath.Join(dir, "faults.txt"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Logf("artifacts: %v", err)
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s: %s\n", t.Name(), line)
}
