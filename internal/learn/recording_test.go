package learn

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/syscalls"
)

func writeRecording(t *testing.T, path string, vs []event.CountVector) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := syscalls.WriteVectors(&b, vs); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadRecordingsReadsHostsThenNonGrata(t *testing.T) {
	dir := t.TempDir()
	writeRecording(t, filepath.Join(dir, "hosts", "web-2.jsonl"), steady("web-2", "nginx", 10, 0, 3, 0, 4))
	writeRecording(t, filepath.Join(dir, "hosts", "db-1.jsonl"), steady("db-1", "postgres", 11, 0, 2, 17, 1))
	writeRecording(t, filepath.Join(dir, "nongrata", "revshell.jsonl"), steady("lab", "bash", 12, 0, 1, 0, 1))
	os.WriteFile(filepath.Join(dir, "hosts", "README"), []byte("not a recording"), 0o644)

	recs, err := ReadRecordings(dir)
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		base, group, label string
		n                  int
	}
	var got []rec
	for _, r := range recs {
		got = append(got, rec{filepath.Base(r.Path), r.Group, r.Label, len(r.Vectors)})
	}
	want := []rec{{"db-1.jsonl", "db-1", "", 2}, {"web-2.jsonl", "web-2", "", 3}, {"revshell.jsonl", "", "nongrata:revshell", 1}}
	if len(got) != len(want) {
		t.Fatalf("recordings %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("recording %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if recs[1].Vectors[0].Process != "nginx" || recs[1].Vectors[0].Counts[0] != (event.SyscallCount{Nr: 0, Count: 4}) {
		t.Fatalf("first nginx vector = %+v", recs[1].Vectors[0])
	}

	one, err := ReadRecordings(filepath.Join(dir, "hosts", "web-2.jsonl"))
	if err != nil || len(one) != 1 || one[0].Group != "web-2" || one[0].Label != "" {
		t.Fatalf("single file: %+v, %v", one, err)
	}
}

func TestReadRecordingsErrorsNameFileAndLine(t *testing.T) {
	dir := t.TempDir()
	writeRecording(t, filepath.Join(dir, "hosts", "a.jsonl"), steady("a", "x", 1, 0, 2, 0, 1))
	bad := filepath.Join(dir, "hosts", "b.jsonl")
	os.WriteFile(bad, append(must(os.ReadFile(filepath.Join(dir, "hosts", "a.jsonl"))), []byte(`{"time":"2026-12-01T10:00:00Z","host":"b","pid":1,"process":"x","interval_ms":1000,"counts":{"no_such_call":1}}`+"\n")...), 0o644)
	_, err := ReadRecordings(dir)
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "no_such_call") {
		t.Fatalf("error = %v, want the file, line 3 and the unknown call named", err)
	}

	if _, err := ReadRecordings(t.TempDir()); err == nil || !strings.Contains(err.Error(), "neither hosts/ nor nongrata/") {
		t.Fatalf("empty directory: %v", err)
	}
	empty := t.TempDir()
	os.Mkdir(filepath.Join(empty, "hosts"), 0o755)
	if _, err := ReadRecordings(empty); err == nil || !strings.Contains(err.Error(), "no .jsonl file") {
		t.Fatalf("hosts/ without recordings: %v", err)
	}
	if _, err := ReadRecordings(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing path was read")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// FuzzReadRecording feeds arbitrary bytes to the recording reader and
// what it reads to Build: errors, never a crash.
func FuzzReadRecording(f *testing.F) {
	var b bytes.Buffer
	syscalls.WriteVectors(&b, steady("h", "p", 1, 0, 12, 0, 3, 1, 2))
	f.Add(b.Bytes())
	f.Add([]byte(`{"time":"2026-12-01T10:00:00Z","host":"h","pid":1,"process":"p","interval_ms":1000,"syscalls":{"1023":1}}`))
	f.Add([]byte("{}\n\n{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := readRecording(bytes.NewReader(data), "fuzz.jsonl", "h", "")
		if err != nil {
			return
		}
		d, err := Build([]Recording{r}, BuildOptions{Features: []uint16{0, 1, 1023}, MinSamples: 1})
		if err != nil {
			return
		}
		for _, s := range d.Samples {
			if len(s.X) != SeqLen || len(s.X[0]) != d.Dim || s.Y < 0 || s.Y >= len(d.Classes) {
				t.Fatalf("bad sample %+v", s)
			}
		}
	})
}
