package readlimit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	at := filepath.Join(dir, "at-limit")
	over := filepath.Join(dir, "over")
	if err := os.WriteFile(at, []byte(strings.Repeat("a", 1024)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(over, []byte(strings.Repeat("a", 1025)), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(at, 1024); err != nil || len(b) != 1024 {
		t.Errorf("at the limit: %d bytes, %v", len(b), err)
	}
	_, err := ReadFile(over, 1024)
	var tl *TooLargeError
	if !errors.As(err, &tl) || !errors.Is(err, ErrTooLarge) || err.Error() != over+" is larger than the limit of 1024 bytes (1 KiB)" {
		t.Errorf("over the limit: %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing"), 10); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}

// TestReadFileDevZero: an endless file is refused once past its limit,
// without reading on.
func TestReadFileDevZero(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero:", err)
	}
	start := time.Now()
	_, err := ReadFile("/dev/zero", 4<<20)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "/dev/zero is larger than the limit of 4194304 bytes (4 MiB)") {
		t.Errorf("/dev/zero: %v", err)
	}
	// A hang detector only: the one-second bound is asserted on the binary
	// (cmd/vigil TestLimitsCheckDevZero), not under the race detector.
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("refusing /dev/zero took %v", took)
	}
}

func TestReadAll(t *testing.T) {
	if b, err := ReadAll(strings.NewReader("abc"), "stdin", 3); err != nil || string(b) != "abc" {
		t.Errorf("%q %v", b, err)
	}
	if _, err := ReadAll(strings.NewReader("abcd"), "stdin", 3); err == nil || err.Error() != "stdin is larger than the limit of 3 bytes (3 B)" {
		t.Errorf("%v", err)
	}
}
