package learn

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/syscalls"
)

// NonGrataPrefix starts the label of every vector of a recording under
// nongrata/: "nongrata:<class>".
const NonGrataPrefix = "nongrata:"

// Recording is one file of count vectors (JSON lines, the form
// syscalls.ReadVectors reads).
type Recording struct {
	Path string
	// Group is the host: the file name without .jsonl under hosts/ (or of
	// a single file). It is empty for a recording under nongrata/, whose
	// samples take their group from their vectors' host.
	Group string
	// Label is "" when each process's name is its label; else every
	// vector's label (nongrata/<class>.jsonl -> "nongrata:<class>").
	Label   string
	Vectors []event.CountVector
}

// ReadRecordings reads a directory laid out as DIR/hosts/<host>.jsonl
// (labels = process names) and DIR/nongrata/<class>.jsonl (label
// "nongrata:<class>"); a path to a single .jsonl file is read as one host
// recording named after the file. Files not ending in .jsonl are skipped.
// Recordings come sorted: hosts, then nongrata, each by file name. Errors
// name the file and line.
func ReadRecordings(path string) ([]Recording, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("recordings: %w", err)
	}
	if !st.IsDir() {
		r, err := readRecordingFile(path, strings.TrimSuffix(filepath.Base(path), ".jsonl"), "")
		if err != nil {
			return nil, err
		}
		return []Recording{r}, nil
	}
	var out []Recording
	found := false
	for _, sub := range []string{"hosts", "nongrata"} {
		dir := filepath.Join(path, sub)
		ents, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("recordings: %w", err)
		}
		found = true
		for _, e := range ents {
			name, ok := strings.CutSuffix(e.Name(), ".jsonl")
			if !ok || e.IsDir() {
				continue
			}
			if name == "" {
				return nil, fmt.Errorf("recordings: %q: empty name before .jsonl", filepath.Join(dir, e.Name()))
			}
			group, label := name, ""
			if sub == "nongrata" {
				group, label = "", NonGrataPrefix+name
			}
			r, err := readRecordingFile(filepath.Join(dir, e.Name()), group, label)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	if !found {
		return nil, fmt.Errorf("recordings: %q holds neither hosts/ nor nongrata/ (nor is it a .jsonl file)", path)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("recordings: no .jsonl file under %q", path)
	}
	return out, nil
}

func readRecordingFile(path, group, label string) (Recording, error) {
	f, err := os.Open(path)
	if err != nil {
		return Recording{}, fmt.Errorf("recordings: %w", err)
	}
	defer f.Close()
	r, err := readRecording(f, path, group, label)
	if err != nil {
		return Recording{}, err
	}
	return r, nil
}

// readRecording reads one recording's JSON lines from rd.
func readRecording(rd io.Reader, path, group, label string) (Recording, error) {
	vs, err := syscalls.ReadVectors(rd)
	if err != nil {
		return Recording{}, fmt.Errorf("recording %q: %w", path, err)
	}
	return Recording{Path: path, Group: group, Label: label, Vectors: vs}, nil
}
