package eval

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// WriteTable writes the report as a table: the dataset, one line per
// detector with its metrics in name order, and the notes.
func (r Report) WriteTable(w io.Writer) error {
	fmt.Fprintln(w, r.Dataset)
	for _, res := range r.Results {
		keys := make([]string, 0, len(res))
		for k := range res {
			if k != "detector" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %v", k, res[k]))
		}
		fmt.Fprintf(w, "  %-22v %s\n", res["detector"], strings.Join(parts, ", "))
	}
	for _, n := range r.Notes {
		if _, err := fmt.Fprintln(w, "  ("+n+")"); err != nil {
			return err
		}
	}
	return nil
}

// WriteOutcomes writes one line per replayed capture: what it is, its
// rate, and whether (and why) the profiles flagged it.
func WriteOutcomes(w io.Writer, outs []CaptureOutcome) error {
	for _, o := range outs {
		what := "normal"
		if o.Attack != "" {
			what = o.Attack
		}
		verdict := "-"
		if o.Flagged {
			verdict = "FLAGGED: " + o.Why
		}
		if _, err := fmt.Fprintf(w, "  %-52s %-26s x%-4g %s\n", o.Capture, what, o.Rate, verdict); err != nil {
			return err
		}
	}
	return nil
}

// KDDFiles loads the NSL-KDD files train and test (test "" or the same
// file: score the training file) and evaluates the profiler on them
// (KDD).
func KDDFiles(train, test string) (Report, error) {
	if test == "" {
		test = train
	}
	tr, err := LoadKDD(train)
	if err != nil {
		return Report{}, err
	}
	te := tr
	if test != train {
		if te, err = LoadKDD(test); err != nil {
			return Report{}, err
		}
	}
	return KDD(tr, te, test), nil
}

// WriteCaptures writes the outcome of GatewayCaptures: a line per
// replayed capture, then the report's table.
func WriteCaptures(w io.Writer, rep Report, outs []CaptureOutcome) error {
	if err := WriteOutcomes(w, outs); err != nil {
		return err
	}
	return rep.WriteTable(w)
}
