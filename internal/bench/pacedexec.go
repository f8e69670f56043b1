package bench

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"time"
)

// PacedExecMeasure is the agent's whole path (read, converted, spooled,
// published to a bus in another process) while a worker starts Execs
// processes of the minimal program, one after another, at Rate a second:
// the agent's CPU at that rate measured, not scaled from a faster or
// slower storm. Its costs per wake (the reader's looks, each batch's
// publication) are shared by as many execs as come at that rate.
type PacedExecMeasure struct {
	Rate  int            `json:"offered_per_s"`
	Execs int            `json:"execs"`
	Runs  []PacedExecRun `json:"runs"`
	// MedianCoreShare and BestCoreShare are the agent's CPU, as a share
	// of one core, in the median run and the cheapest run; MedianCostUS
	// the median run's CPU per exec, in microseconds.
	MedianCoreShare float64 `json:"median_agent_core_share"`
	BestCoreShare   float64 `json:"best_agent_core_share"`
	MedianCostUS    float64 `json:"median_cost_us"`
}

// PacedExecRun is one run of the paced exec storm: how long it took, the
// rate it reached, the agent's CPU over it (a share of one core, and per
// exec), and, as for the exec storm, the PROC.EXEC events, the records
// dropped and the observations written and delivered.
type PacedExecRun struct {
	Seconds     float64 `json:"seconds"`
	ExecsPerSec float64 `json:"execs_per_s"`
	CoreShare   float64 `json:"agent_core_share"`
	CostUS      float64 `json:"cost_us"`
	ExecEvents  uint64  `json:"exec_events"`
	Dropped     uint64  `json:"dropped"`
	Written     uint64  `json:"written"`
	Delivered   uint64  `json:"delivered"`
}

// measurePacedExecs runs the paced exec storm o.Reps times with the agent
// attached.
func measurePacedExecs(ctx context.Context, o SyscallBenchOptions, progress io.Writer) (PacedExecMeasure, error) {
	m := PacedExecMeasure{Rate: o.ExecRate, Execs: o.Execs}
	if _, err := minimalProgram(); err != nil {
		return m, err
	}
	argv := []string{o.Vigil, "bench", "syscalls-worker", "exec-paced", strconv.Itoa(o.Execs), strconv.Itoa(o.ExecRate)}
	for rep := range o.Reps {
		r, err := runWorkload(ctx, argv, "events", o)
		if err != nil {
			return m, fmt.Errorf("paced exec storm: %w", err)
		}
		pr := PacedExecRun{
			Seconds: r.wall.Seconds(), ExecsPerSec: float64(o.Execs) / r.wall.Seconds(),
			CoreShare: r.vigilCPU.Seconds() / r.wall.Seconds(), CostUS: float64(r.vigilCPU.Microseconds()) / float64(o.Execs),
			ExecEvents: r.execs, Dropped: r.dropped, Written: r.written, Delivered: r.delivered,
		}
		m.Runs = append(m.Runs, pr)
		fmt.Fprintf(progress, "paced exec storm, run %d: %d execs in %.2f s (%.0f/s), the agent %.2f%% of a core (%.1f µs an exec)\n",
			rep+1, o.Execs, pr.Seconds, pr.ExecsPerSec, 100*pr.CoreShare, pr.CostUS)
	}
	byShare := slices.Clone(m.Runs)
	slices.SortFunc(byShare, func(a, b PacedExecRun) int { return cmp.Compare(a.CoreShare, b.CoreShare) })
	med := byShare[len(byShare)/2]
	m.MedianCoreShare, m.BestCoreShare, m.MedianCostUS = med.CoreShare, byShare[0].CoreShare, med.CostUS
	return m, nil
}

// execPaced is the worker "exec-paced": it writes the minimal program in
// a temporary directory and runs it n times, one after another, at rate a
// second (catching up with its schedule every 16 execs), then removes it.
func execPaced(n, rate int) error {
	dir, err := os.MkdirTemp("", "vigil-bench-exec-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	prog, err := writeMinimalProgram(dir)
	if err != nil {
		return err
	}
	start := time.Now()
	for i := range n {
		if i%16 == 0 {
			pace(start, i, rate)
		}
		if err := exec.Command(prog).Run(); err != nil {
			return fmt.Errorf("running the minimal program %s: %w", prog, err)
		}
	}
	return nil
}

// pace sleeps until the i-th of a series paced at rate a second from start
// is due (at once when it is late).
func pace(start time.Time, i, rate int) {
	if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
		time.Sleep(d)
	}
}
