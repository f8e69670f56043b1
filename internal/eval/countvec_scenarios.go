package eval

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/vigil-ids/vigil/internal/engine/classify"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/learn"
	"github.com/vigil-ids/vigil/internal/syscalls"
)

// Kinds of recordings ScenarioClassify reads, and what the classify engine
// should conclude of each.
const (
	RecordingHost       = "hosts"      // ordinary processes: nothing
	RecordingNonGrata   = "nongrata"   // a known-bad tool: non-grata
	RecordingMasquerade = "masquerade" // a program under another's name: masquerade
)

// ScenarioRecording is what a model concluded of one recording's
// sequences (vigil lab services' layout: hosts/, nongrata/, masquerade/).
type ScenarioRecording struct {
	Kind      string         `json:"kind"` // hosts, nongrata or masquerade
	Name      string         `json:"name"` // the file's name without .jsonl
	Vectors   int            `json:"vectors"`
	Sequences int            `json:"sequences"`
	Scenarios map[string]int `json:"scenarios"` // novelty, non-grata, masquerade -> sequences
	TopClass  map[string]int `json:"top_class"` // most probable class -> sequences
	// Expected is how many sequences drew the conclusion the recording's
	// kind calls for: none for hosts; non-grata naming this recording's
	// class for nongrata; masquerade for masquerade (or non-grata of a
	// process presenting a known class's name, which names the
	// masquerade).
	Expected int `json:"expected"`
}

// ScenarioClassify runs a model file through the classify engine (its
// default stride and confidence, nothing suppressed) over every recording
// of a directory laid out as vigil lab services writes it, and counts what
// it concludes of each. Recordings the model never saw (another run of the
// lab) are the test of the engine's three scenarios.
func ScenarioClassify(dir string, f *learn.File) ([]ScenarioRecording, error) {
	var out []ScenarioRecording
	found := false
	for _, kind := range []string{RecordingHost, RecordingNonGrata, RecordingMasquerade} {
		files, err := filepath.Glob(filepath.Join(dir, kind, "*.jsonl"))
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		for _, p := range files {
			found = true
			r, err := scenarioRecording(p, kind, f)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	if !found {
		return nil, fmt.Errorf("%s: no recording under hosts/, nongrata/ or masquerade/", dir)
	}
	return out, nil
}

func scenarioRecording(path, kind string, f *learn.File) (ScenarioRecording, error) {
	r := ScenarioRecording{Kind: kind, Name: strings.TrimSuffix(filepath.Base(path), ".jsonl"),
		Scenarios: map[string]int{}, TopClass: map[string]int{}}
	fh, err := os.Open(path)
	if err != nil {
		return r, err
	}
	vs, err := syscalls.ReadVectors(fh)
	fh.Close()
	if err != nil {
		return r, fmt.Errorf("%s: %w", path, err)
	}
	r.Vectors = len(vs)
	want := learn.NonGrataPrefix + r.Name
	e, err := classify.New(f, classify.Options{MaxProcesses: 1 << 16, OnSequence: func(s classify.Sequence) {
		r.Sequences++
		r.TopClass[f.Classes[s.Top]]++
		if s.Scenario != "" {
			r.Scenarios[s.Scenario]++
		}
		switch {
		case kind == RecordingHost && s.Scenario == "",
			kind == RecordingNonGrata && s.Scenario == classify.ScenarioNonGrata && f.Classes[s.Top] == want,
			kind == RecordingMasquerade && s.Scenario == classify.ScenarioMasquerade,
			// A known-bad tool under a known process's name is
			// reported as non-grata, naming the masquerade.
			kind == RecordingMasquerade && s.Scenario == classify.ScenarioNonGrata && s.Known:
			r.Expected++
		}
	}})
	if err != nil {
		return r, err
	}
	slices.SortStableFunc(vs, func(a, b event.CountVector) int { return a.Start.Compare(b.Start) })
	for i := range vs {
		e.Observe(&vs[i], func(event.Report) {})
	}
	return r, nil
}

// WriteScenarioClassify writes ScenarioClassify's findings as a table.
func WriteScenarioClassify(w io.Writer, f *learn.File, recs []ScenarioRecording) error {
	fmt.Fprintf(w, "model %s of %d classes; each recording's sequences and what the classify engine concluded\n", f.Kind, len(f.Classes))
	fmt.Fprintf(w, "%-11s %-16s %9s %8s %10s %8s  %-22s %s\n", "kind", "recording", "sequences", "novelty", "non-grata", "masq.", "as expected", "most probable classes")
	var errs []error
	for _, r := range recs {
		expect := map[string]string{RecordingHost: "nothing", RecordingNonGrata: "non-grata " + r.Name, RecordingMasquerade: "masquerade"}[r.Kind]
		share := 0.0
		if r.Sequences > 0 {
			share = float64(r.Expected) / float64(r.Sequences)
		}
		_, err := fmt.Fprintf(w, "%-11s %-16s %9d %8d %10d %8d  %-22s %s\n", r.Kind, r.Name, r.Sequences,
			r.Scenarios[classify.ScenarioNovelty], r.Scenarios[classify.ScenarioNonGrata], r.Scenarios[classify.ScenarioMasquerade],
			fmt.Sprintf("%d (%.1f%%, %s)", r.Expected, 100*share, expect), topCounts(r.TopClass, 3))
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
