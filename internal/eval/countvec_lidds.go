package eval

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/engine/classify"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/learn"
	"github.com/vigil-ids/vigil/internal/syscalls"
)

// LIDDSClassRecording is what a process classifier made of one LID-DS
// recording's count vectors: its sequences (every new vector of a
// process completes one) before and after the exploit began.
type LIDDSClassRecording struct {
	Name    string    `json:"name"`
	Exploit time.Time `json:"exploit,omitzero"`
	Vectors int       `json:"vectors"`
	// Processes are the names seen, each with whether the model knows
	// it as a class.
	Processes map[string]bool     `json:"processes"`
	Before    LIDDSClassSequences `json:"before_exploit"`
	After     LIDDSClassSequences `json:"from_exploit"`
}

// LIDDSClassSequences are counts over sequences.
type LIDDSClassSequences struct {
	Sequences int            `json:"sequences"`
	Scenarios map[string]int `json:"scenarios"` // novelty, non-grata, masquerade
	TopClass  map[string]int `json:"top_class"` // most probable class -> sequences
	// MeanPresented is the mean probability of the presented name's
	// class, over the sequences of processes whose name is a class.
	MeanPresented float64 `json:"mean_presented_probability"`
	presented     []float64
}

// LIDDSClassify runs a model file over every LID-DS recording (zip) in
// dir through the classify engine (stride 1, nothing suppressed), and
// counts what it concludes before and from the exploit's time.
func LIDDSClassify(dir string, f *learn.File) ([]LIDDSClassRecording, error) {
	zips, err := filepath.Glob(filepath.Join(dir, "*.zip"))
	if err != nil {
		return nil, err
	}
	if len(zips) == 0 {
		if st, err := os.Stat(dir); err == nil && !st.IsDir() {
			zips = []string{dir}
		} else {
			return nil, fmt.Errorf("%s: no LID-DS recording (.zip)", dir)
		}
	}
	sort.Strings(zips)
	var out []LIDDSClassRecording
	for _, z := range zips {
		rec, err := syscalls.ReadLIDDS(z, f.Interval)
		if err != nil {
			return nil, err
		}
		r := LIDDSClassRecording{Name: rec.Name, Exploit: rec.Exploit, Vectors: len(rec.Vectors), Processes: map[string]bool{}}
		r.Before = LIDDSClassSequences{Scenarios: map[string]int{}, TopClass: map[string]int{}}
		r.After = LIDDSClassSequences{Scenarios: map[string]int{}, TopClass: map[string]int{}}
		e, err := classify.New(f, classify.Options{Stride: 1, Suppress: 0, MaxProcesses: 1 << 16, OnSequence: func(s classify.Sequence) {
			side := &r.Before
			if !rec.Exploit.IsZero() && !s.End.Before(rec.Exploit) {
				side = &r.After
			}
			side.Sequences++
			side.TopClass[f.Classes[s.Top]]++
			if s.Scenario != "" {
				side.Scenarios[s.Scenario]++
			}
			if s.Known {
				side.presented = append(side.presented, s.Prob[slices.Index(f.Classes, s.Process)])
			}
		}})
		if err != nil {
			return nil, err
		}
		vs := slices.Clone(rec.Vectors)
		slices.SortStableFunc(vs, func(a, b event.CountVector) int { return a.Start.Compare(b.Start) })
		for i := range vs {
			r.Processes[vs[i].Process] = slices.Contains(f.Classes, vs[i].Process)
			e.Observe(&vs[i], func(event.Report) {})
		}
		for _, side := range []*LIDDSClassSequences{&r.Before, &r.After} {
			if len(side.presented) > 0 {
				var s float64
				for _, p := range side.presented {
					s += p
				}
				side.MeanPresented = s / float64(len(side.presented))
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// WriteLIDDSClassify writes LIDDSClassify's findings.
func WriteLIDDSClassify(w io.Writer, f *learn.File, recs []LIDDSClassRecording) error {
	for _, r := range recs {
		var names []string
		for n, known := range r.Processes {
			if known {
				names = append(names, fmt.Sprintf("%q (a class)", n))
			} else {
				names = append(names, fmt.Sprintf("%q (not a class: only non-grata applies)", n))
			}
		}
		sort.Strings(names)
		fmt.Fprintf(w, "LID-DS %s: %d vectors of %s; exploit at %s; model %s of %d classes\n", r.Name, r.Vectors, strings.Join(names, ", "),
			r.Exploit.Format(time.RFC3339Nano), f.Kind, len(f.Classes))
		for _, side := range []struct {
			name string
			s    LIDDSClassSequences
		}{{"before the exploit", r.Before}, {"from the exploit", r.After}} {
			fmt.Fprintf(w, "  %-19s %4d sequences; reports: novelty %d, non-grata %d, masquerade %d; mean probability of the presented class %.3f\n",
				side.name, side.s.Sequences, side.s.Scenarios[classify.ScenarioNovelty], side.s.Scenarios[classify.ScenarioNonGrata],
				side.s.Scenarios[classify.ScenarioMasquerade], side.s.MeanPresented)
			fmt.Fprintf(w, "  %-19s most probable classes: %s\n", "", topCounts(side.s.TopClass, 4))
		}
	}
	return nil
}

func topCounts(m map[string]int, n int) string {
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range m {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || all[i].v == all[j].v && all[i].k < all[j].k })
	var parts []string
	for i, e := range all {
		if i == n {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %d", e.k, e.v))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}
