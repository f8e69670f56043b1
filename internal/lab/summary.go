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
	if r.Respond != nil {
		r.Respond.write(w)
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

// write prints the acting run's outcome: the latencies, what was blocked
// and every decision with its reason.
func (rr *RespondResult) write(w io.Writer) {
	fmt.Fprintln(w, "Responses:")
	if rr.RedAt.IsZero() {
		fmt.Fprintln(w, "  host 3 never turned red")
	} else {
		fmt.Fprintf(w, "  host 3 red at %s; red -> attacker blocked at the gateway: %s; red -> web server restarted: %s; first action -> track below red: %s\n",
			rr.RedAt.Format("15:04:05.000"), secsPlain(rr.BlockAfter), secsPlain(rr.RestartAfter), secsPlain(rr.LeftRedAfter))
	}
	fmt.Fprintf(w, "  after the flood: the attacker reaches host 3: %v; host 1 reaches host 3: %v\n", rr.AttackerReachesHost3, rr.Host1ReachesHost3)
	fmt.Fprintf(w, "  blocked at the gateway at the end: %v (the decoy named the admin address %s)\n", rr.Blocked, rr.Admin)
	fmt.Fprintln(w, "  decisions (time, policy, method, subject, status: reason):")
	for _, d := range rr.Decisions {
		fmt.Fprintf(w, "    %s %s %s %s %s: %s\n", d.Time.Format("15:04:05.000"), d.Policy, d.Method, d.Subject, d.Status, d.Reason)
	}
}

func secsPlain(v *float64) string {
	if v == nil {
		return "never"
	}
	return fmt.Sprintf("%.3f s", *v)
}
