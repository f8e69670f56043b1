package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/classifier"
	"github.com/vigil-ids/vigil/internal/learn"
	"github.com/vigil-ids/vigil/internal/testutil/cvtest"
)

// vigil check recognises a process classifier's model file by its first
// line, says what it holds, and refuses a damaged one with the loader's
// reason; a resource object naming a damaged one is refused too.
func TestCheckClassifierFile(t *testing.T) {
	dir := t.TempDir()
	res, err := classifier.Train(context.Background(), classifier.TrainOptions{Data: cvtest.WriteRecordings(t, filepath.Join(dir, "rec"), 120, 1), Kind: "logreg"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "m.vgm")
	if err := learn.SaveFile(path, res.File); err != nil {
		t.Fatal(err)
	}
	what, _, err := CheckFile(path, KindAuto)
	if err != nil || what != "a process classifier (logreg) of 6 classes over 14 features" {
		t.Fatalf("check: %q, %v", what, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-40] ^= 1
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := CheckFile(path, KindAuto); err == nil || !strings.Contains(err.Error(), "checksum mismatch") || !strings.Contains(err.Error(), "m.vgm") {
		t.Fatalf("damaged file: %v", err)
	}
	ro := filepath.Join(dir, "ro.yaml")
	if err := os.WriteFile(ro, []byte("monitor: {name: m}\nengines:\n  - kind: classify\n    model: m.vgm\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := CheckFile(ro, KindAuto); err == nil || !strings.Contains(err.Error(), "ro.yaml:4") || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("resource object naming a damaged model: %v", err)
	}
	if _, _, err := CheckFile(ro, KindClassifier); err == nil || !strings.Contains(err.Error(), "not a Vigil model file") {
		t.Fatalf("a resource object checked as a model file: %v", err)
	}
}
