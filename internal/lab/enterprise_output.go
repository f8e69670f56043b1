package lab

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// WriteSummary prints each scenario with its outcome, checks and timings.
func (r *EnterpriseResult) WriteSummary(w io.Writer) error {
	var b strings.Builder
	for _, s := range r.Scenarios {
		verdict := "FAIL"
		if s.Passed {
			verdict = "pass"
		}
		fmt.Fprintf(&b, "(%s) %-40s %s  %.1f-%.1f s  %s\n", s.ID, s.Name, verdict, s.StartS, s.EndS, s.Outcome)
		for _, c := range s.Checks {
			mark := "ok  "
			if !c.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(&b, "      %s %s: %s\n", mark, c.What, c.Detail)
		}
		names := make([]string, 0, len(s.Timings))
		for k := range s.Timings {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			fmt.Fprintf(&b, "      %s = %.3f s\n", k, s.Timings[k])
		}
	}
	fmt.Fprintf(&b, "reports made: %v; domain reports at the enterprise: %v\n", r.Reports, r.Received)
	fmt.Fprintf(&b, "lab: %.1f s; files: %s\n", r.End.Sub(r.Start).Seconds(), strings.Join(r.Files, ", "))
	_, err := io.WriteString(w, b.String())
	return err
}
