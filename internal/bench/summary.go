package bench

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Each result's WriteSummary writes the lines that follow a run's progress:
// its ratios to the baseline and whether the target was met.

// WriteSummary writes how the cost per event grows.
func (r TrackResult) WriteSummary(w io.Writer) error {
	_, err := fmt.Fprintf(w, "cost per event, largest size / smallest: %.2f\n", r.Flatness)
	return err
}

// SignatureTarget is the signature engine's target: at least this many
// events a second on one core, and at least SignatureTargetRatio times the
// rate of decoding alone.
const (
	SignatureTarget      = 1e6
	SignatureTargetRatio = 2
)

// Met says whether the run met the signature engine's target.
func (r SignatureResult) Met() bool {
	return r.EngineRate >= SignatureTarget && r.Ratio >= SignatureTargetRatio
}

// WriteSummary writes the engine's ratios to decoding and the verdict.
func (r SignatureResult) WriteSummary(w io.Writer) error {
	fmt.Fprintf(w, "signature engine / decode only:             %.2f\n", r.Ratio)
	fmt.Fprintf(w, "decode + signature engine / decode only:    %.2f\n", r.MonitorRatio)
	verdict := "met"
	if !r.Met() {
		verdict = "not met"
	}
	_, err := fmt.Fprintf(w, "target (engine >= 1,000,000 events/s and >= 2x decode only): %s\n", verdict)
	return err
}

// WriteSummary writes the sensor's rate over tcpdump's.
func (r NetBenchResult) WriteSummary(w io.Writer) error {
	var err error
	if r.TcpdumpPPS > 0 {
		_, err = fmt.Fprintf(w, "vigil netsensor / tcpdump packets per second: %.2f\n", r.Ratio)
	} else {
		_, err = fmt.Fprintln(w, "tcpdump not measured:", r.TcpdumpMissing)
	}
	return err
}

// WriteSummary writes, per interval, the agent's CPU per sample over
// node_exporter's and both peak resident sizes.
func (r AgentBenchResult) WriteSummary(w io.Writer) error {
	if r.PeerMissing != "" {
		_, err := fmt.Fprintln(w, "peer not measured:", r.PeerMissing)
		return err
	}
	var intervals []time.Duration
	seen := map[time.Duration]bool{}
	for _, m := range r.Measures {
		if !seen[m.Interval] {
			seen[m.Interval] = true
			intervals = append(intervals, m.Interval)
		}
	}
	for _, iv := range intervals {
		var ours, peer AgentMeasure
		for _, m := range r.Measures {
			if m.Interval == iv && m.Subject == "vigil agent" {
				ours = m
			} else if m.Interval == iv {
				peer = m
			}
		}
		if peer.CPUPerSample > 0 {
			if _, err := fmt.Fprintf(w, "every %v: vigil agent / node_exporter CPU per sample = %.2f, peak RSS %.1f / %.1f MB\n",
				iv, float64(ours.CPUPerSample)/float64(peer.CPUPerSample), ours.PeakRSSMB, peer.PeakRSSMB); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteSummary writes the monitor's rates over the raw ceilings, when the
// run measured all of them.
func (r BusResult) WriteSummary(w io.Writer) error {
	byName := map[string]Phase{}
	for _, p := range r.Phases {
		byName[p.Name] = p
	}
	names := []string{"monitor decode+store via core NATS", "raw core pub/sub (ceiling)", "monitor stored via JetStream",
		"raw JetStream publish (ceiling)", "raw JetStream publish+consume (ceiling)"}
	for _, n := range names {
		if _, ok := byName[n]; !ok {
			return nil // a partial run (--only)
		}
	}
	core, rawCore := byName[names[0]], byName[names[1]]
	js, rawJS, rawJSC := byName[names[2]], byName[names[3]], byName[names[4]]
	fmt.Fprintf(w, "monitor via core NATS / raw core pub/sub:              %.2f\n", core.Rate/rawCore.Rate)
	fmt.Fprintf(w, "monitor via JetStream / raw JetStream publish:         %.2f\n", js.Rate/rawJS.Rate)
	_, err := fmt.Fprintf(w, "monitor via JetStream / raw JetStream publish+consume: %.2f\n", js.Rate/rawJSC.Rate)
	return err
}

// WriteSummary writes nothing: the profiler's progress lines say it all.
func (r ProfileResult) WriteSummary(io.Writer) error { return nil }

// WriteSummary writes each workload's slowdowns beside strace's, the web
// workload's, and the drain's cost.
func (r SyscallBenchResult) WriteSummary(w io.Writer) error {
	for _, wl := range []string{WorkloadGetppid, WorkloadCompress, WorkloadExec, WorkloadBuild, WorkloadGit} {
		bare, ok := r.Measure(wl, "bare")
		if !ok {
			continue
		}
		v, _ := r.Measure(wl, "vigil")
		fmt.Fprintf(w, "%s: bare %.3f s, vigil %.3f s (best of %d; slowdown %.1f%%, of the medians %.1f%%; counter CPU %.2f%% of a core)",
			wl, bare.Best, v.Best, len(v.Runs), 100*v.Slowdown, 100*v.MedianSlowdown, 100*v.VigilCPU)
		if s, ok := r.Measure(wl, "strace"); ok {
			fmt.Fprintf(w, ", strace -c -f %.3f s (slowdown %.1f%%", s.Best, 100*s.Slowdown)
			if ratio, ok := r.StraceRatio[wl]; ok {
				fmt.Fprintf(w, ", %.0fx vigil's)", ratio)
			} else {
				fmt.Fprint(w, "; vigil's is within the noise)")
			}
		}
		fmt.Fprintln(w)
		if e, ok := r.Measure(wl, "events"); ok {
			fmt.Fprintf(w, "%s with the host events: %.3f s (best of %d; slowdown %.1f%%, of the medians %.1f%%; their CPU %.2f%% of a core",
				wl, e.Best, len(e.Runs), 100*e.Slowdown, 100*e.MedianSlowdown, 100*e.EventsCPU)
			if wl == WorkloadExec {
				fmt.Fprintf(w, "; %d PROC.EXEC for %d execs, %d records dropped", e.Execs, r.Execs, e.Dropped)
			}
			fmt.Fprintln(w, ")")
		}
	}
	if r.ExecCostUS > 0 {
		fmt.Fprintf(w, "an exec costs the host events %.0f µs of CPU in user space: %.1f%% of a core at 1,000 execs a second\n", r.ExecCostUS, 100*r.CoreAt1000)
	}
	if p := r.PacedExecs; p != nil && len(p.Runs) > 0 {
		rates := make([]string, len(p.Runs))
		for i, pr := range p.Runs {
			rates[i] = fmt.Sprintf("%.0f", pr.ExecsPerSec)
		}
		fmt.Fprintf(w, "paced exec storm, %d execs at %d/s offered (reached %s/s): the agent used %.2f%% of a core (median of %d runs; best %.2f%%; %.1f µs an exec)\n",
			p.Execs, p.Rate, strings.Join(rates, ", "), 100*p.MedianCoreShare, len(p.Runs), 100*p.BestCoreShare, p.MedianCostUS)
	} else if r.PacedExecsMissing != "" {
		fmt.Fprintln(w, "paced exec storm not measured:", r.PacedExecsMissing)
	}
	for _, f := range []*FloodMeasure{r.Flood, r.PacedFlood} {
		if f == nil {
			continue
		}
		what := "event flood"
		if f.Rate > 0 {
			what = fmt.Sprintf("event flood paced at %d/s", f.Rate)
		}
		fmt.Fprintf(w, "%s: %d opens of %s by %d processes in %.2f s (%.0f/s); %d FILE.OPEN events (%.0f/s; %.0f/s from the first open to the last, %.2f s), %d records dropped; reader %.0f%% of a core\n",
			what, f.Opens, floodFile, f.Workers, f.Seconds, f.OpensPerSec, f.Events, f.EventsPerSec, f.SpanEventsPerSec, f.Span, f.Dropped, 100*f.ReaderCPU)
	}
	if r.EventsMissing != "" {
		fmt.Fprintln(w, "host events not measured:", r.EventsMissing)
	}
	if r.BuildMissing != "" {
		fmt.Fprintln(w, "build workload not measured:", r.BuildMissing)
	}
	if r.GitMissing != "" {
		fmt.Fprintln(w, "git workload not measured:", r.GitMissing)
	}
	for _, ws := range r.Web {
		fmt.Fprintf(w, "web server, %s: %.0f requests/s (best of %d; slowdown %.1f%%, of the medians %.1f%%)\n",
			ws.Mode, ws.Best, len(ws.Runs), 100*ws.Slowdown, 100*ws.MedianSlow)
	}
	if ratio, ok := r.StraceRatio[WorkloadWeb]; ok {
		fmt.Fprintf(w, "web server: strace's slowdown is %.0fx vigil's\n", ratio)
	}
	if r.WebMissing != "" {
		fmt.Fprintln(w, "web workload not measured:", r.WebMissing)
	}
	if v, ok := r.Measure(WorkloadGetppid, "vigil"); ok {
		fmt.Fprintf(w, "getppid calls counted for the loop: %d of %d\n", v.Counted, r.Calls)
	}
	if r.StraceMissing != "" {
		fmt.Fprintln(w, "strace not measured:", r.StraceMissing)
	}
	_, err := fmt.Fprintf(w, "drain: %.1f processes an interval, %.2f ms, %.3f%% of a core per 100 active processes\n",
		r.Drain.MeanSeen, r.Drain.MeanDrainMS, r.Drain.PctPer100Proc)
	return err
}
