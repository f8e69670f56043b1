package lab

import (
	"fmt"
	"io"
)

// WriteSummary writes the experiment's outcome: the M3 timeline, when each
// server reached yellow and red relative to the flood's start, the
// observations by type (seed 000 Table 2) and the files written.
func (r *Result) WriteSummary(w io.Writer) error {
	fmt.Fprintln(w, "Timeline (seconds into the experiment; M3 state, score and band):")
	for _, line := range r.Timeline {
		fmt.Fprintln(w, "  "+line)
	}
	fmt.Fprintln(w, "Per server, from the flood's start:")
	for i := 1; i <= 4; i++ {
		h := r.Hosts[fmt.Sprintf("host%d", i)]
		if h == nil {
			continue
		}
		fmt.Fprintf(w, "  host%d %s: yellow %s, red %s, max score %.2f, at the end %.2f %s\n", i, h.IP, secs(h.YellowAfter), secs(h.RedAfter), h.MaxScore, h.FinalScore, h.FinalSeverity)
	}
	fmt.Fprintln(w, "Observations by type (seed 000 Table 2):")
	if err := WriteTable2(w, r.Table2); err != nil {
		return err
	}
	for _, f := range r.Files {
		if _, err := fmt.Fprintf(w, "wrote %s\n", f); err != nil {
			return err
		}
	}
	return nil
}

func secs(v *float64) string {
	if v == nil {
		return "never"
	}
	return fmt.Sprintf("%+.1f s", *v)
}
