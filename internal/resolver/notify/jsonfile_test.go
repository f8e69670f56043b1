package notify

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

func jsonfile(t *testing.T, path string, set func(*JSONFileSettings)) action.Method {
	t.Helper()
	return build(t, KindJSONFile, testDeps(t), func(s config.Settings) {
		j := s.(*JSONFileSettings)
		j.Path = path
		if set != nil {
			set(j)
		}
	})
}

// lines reads a file's JSON lines, failing on one that is not an object.
func lines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: line %d is not a JSON object: %v", path, len(out)+1, err)
		}
		out = append(out, m)
	}
	return out
}

func TestJSONFileAppendsOneObjectPerDecision(t *testing.T) {
	path := filepath.Join(t.TempDir(), "decisions.jsonl")
	m := jsonfile(t, path, func(s *JSONFileSettings) { s.Fsync = true })
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", st.Mode().Perm())
	}
	plan := mustPlan(t, m, sampleRequest())
	if !strings.Contains(plan, "append") || !strings.Contains(plan, path) || st.Size() != 0 {
		t.Errorf("plan %q (file size %d)", plan, st.Size())
	}
	for i := 0; i < 3; i++ {
		req := sampleRequest()
		req.ID = fmt.Sprintf("d%d", i)
		req.Reports[1].Explanation = "line\nbreak \"quoted\""
		out, err := m.Execute(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.Detail, "appended") || !strings.Contains(out.Detail, path) {
			t.Errorf("detail %q", out.Detail)
		}
	}
	got := lines(t, path)
	if len(got) != 3 {
		t.Fatalf("%d lines, want 3", len(got))
	}
	for i, l := range got {
		if l["id"] != fmt.Sprintf("d%d", i) || l["policy"] != "contain-web" || l["severity"] != "red" {
			t.Errorf("line %d: %v", i+1, l)
		}
	}
	// A new method on the same file appends after what is there.
	m.(action.Closer).Close()
	if _, err := jsonfile(t, path, nil).Execute(context.Background(), sampleRequest()); err != nil {
		t.Fatal(err)
	}
	if n := len(lines(t, path)); n != 4 {
		t.Errorf("%d lines after reopening, want 4", n)
	}
}

func TestJSONFileRotatesBySizeAndKeepsItsCount(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "d.jsonl")
	m := jsonfile(t, path, func(s *JSONFileSettings) { s.MaxBytes, s.Keep = 4096, 2 })
	line, _ := render(FormatVigil, sampleRequest(), "svc-web")
	perFile := 4096 / (len(line) + 1)
	total := perFile*4 + 1
	rotations := 0
	for i := 0; i < total; i++ {
		out, err := m.Execute(context.Background(), sampleRequest())
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.Detail, "after rotating") {
			rotations++
		}
	}
	if rotations != 4 {
		t.Errorf("%d rotations, want 4 (%d lines of %d bytes, %d a file)", rotations, total, len(line)+1, perFile)
	}
	names, _ := filepath.Glob(path + "*")
	if strings.Join(names, ",") != strings.Join([]string{path, path + ".1", path + ".2"}, ",") {
		t.Errorf("files %v, want the file and 2 rotated ones", names)
	}
	for _, n := range names {
		st, _ := os.Stat(n)
		if st.Size() > 4096 || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %d bytes, mode %04o", n, st.Size(), st.Mode().Perm())
		}
		lines(t, n)
	}
	if n := len(lines(t, path)); n != 1 {
		t.Errorf("the current file has %d lines, want 1", n)
	}
	if n := len(lines(t, path+".1")); n != perFile {
		t.Errorf("the last rotated file has %d lines, want %d", n, perFile)
	}
}

func TestJSONFileOCSFLinesAreFindings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ocsf.jsonl")
	m := jsonfile(t, path, func(s *JSONFileSettings) { s.Format = FormatOCSF })
	req := sampleRequest()
	if _, err := m.Execute(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	got := lines(t, path)
	if len(got) != 1 {
		t.Fatalf("%d lines", len(got))
	}
	checkOCSF(t, got[0], req)
}

func TestJSONFileRefusesAMissingDirectory(t *testing.T) {
	s := newJSONFileSettings().(*JSONFileSettings)
	s.Path = filepath.Join(t.TempDir(), "gone", "d.jsonl")
	if got := problems(s); len(got) != 1 || !strings.Contains(got[0], "no such file or directory") {
		t.Errorf("problems %v", got)
	}
	if _, err := newJSONFile(s, testDeps(t)); err == nil {
		t.Error("New made a file in a directory that does not exist")
	}
}

func TestJSONFileFollowsARotationByAnotherProgram(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.jsonl")
	m := jsonfile(t, path, nil)
	if _, err := m.Execute(context.Background(), sampleRequest()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".old"); err != nil { // as logrotate does
		t.Fatal(err)
	}
	if _, err := m.Execute(context.Background(), sampleRequest()); err != nil {
		t.Fatal(err)
	}
	if a, b := len(lines(t, path+".old")), len(lines(t, path)); a != 1 || b != 1 {
		t.Errorf("%d lines in the moved file and %d in the new one, want 1 and 1", a, b)
	}
}

func TestJSONFileLinesStayWholeUnderConcurrentDecisions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.jsonl")
	m := jsonfile(t, path, func(s *JSONFileSettings) { s.MaxBytes, s.Keep = 64<<10, 3 })
	const workers, each = 8, 25
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func(w int) {
			var err error
			for i := 0; i < each && err == nil; i++ {
				req := sampleRequest()
				req.ID = fmt.Sprintf("w%d-%d", w, i)
				_, err = m.Execute(context.Background(), req)
			}
			errs <- err
		}(w)
	}
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	seen := map[any]bool{}
	names, _ := filepath.Glob(path + "*")
	for _, n := range names {
		for _, l := range lines(t, n) {
			seen[l["id"]] = true
		}
	}
	if len(seen) != workers*each {
		t.Errorf("%d distinct decisions in %v, want %d", len(seen), names, workers*each)
	}
}
