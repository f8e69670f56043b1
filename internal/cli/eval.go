package cli

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/engine/profile"
	"github.com/vigil-ids/vigil/internal/eval"
	"github.com/vigil-ids/vigil/internal/syscalls"
)

func evalCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Measure a detector on a public dataset, beside a baseline in the same run",
		Long: `Measure Vigil's detectors on public datasets (docs/EVALUATION.md). Each
prints a table, or with --json one object:
{"dataset": ..., "results": [{"detector": NAME, METRIC: VALUE, ...}]}.`,
	}
	cmd.AddCommand(evalNABCmd(e), evalKDDCmd(e), evalCapturesCmd(e), evalLIDDSCmd(e))
	return cmd
}

func evalNABCmd(e *env) *cobra.Command {
	var asJSON, grid bool
	cmd := &cobra.Command{
		Use:   "nab DIR",
		Short: "The profiler on the NAB corpus, beside NAB's published detectors, scored NAB's way",
		Long: `Run the statistical profiler over every series of a Numenta Anomaly
Benchmark directory (every category present: data/<category>/*.csv or
<category>/*.csv, with labels/combined_windows.json), read the published
detectors' results under results/ when present, and score them all in one
harness NAB's way: the three application profiles (config/profiles.json),
one threshold per detector and profile optimised over the corpus, scores
normalised between the null detector (0) and a perfect one (100).`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			rep, err := eval.RunNAB(args[0], eval.NABOptions{Grid: grid})
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			if asJSON {
				return e.printJSON(rep.Report)
			}
			return rep.WriteTable(e.stdout)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON")
	cmd.Flags().BoolVar(&grid, "grid", false, "also score the profiler under other half-lives (sensitivity)")
	return cmd
}

// printReport prints an evaluation as a table, or as JSON.
func (e *env) printReport(r eval.Report, asJSON bool) error {
	if asJSON {
		return e.printJSON(r)
	}
	fmt.Fprintln(e.stdout, r.Dataset)
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
		fmt.Fprintf(e.stdout, "  %-22v %s\n", res["detector"], strings.Join(parts, ", "))
	}
	for _, n := range r.Notes {
		fmt.Fprintln(e.stdout, "  ("+n+")")
	}
	return nil
}

func evalKDDCmd(e *env) *cobra.Command {
	var (
		train, test string
		asJSON      bool
	)
	cmd := &cobra.Command{
		Use:   "kdd --train FILE [--test FILE]",
		Short: "The profiler on NSL-KDD, beside a Gaussian baseline",
		Long: `Train the statistical profiler on the normal records of an NSL-KDD file
(plain or gzipped; Attack_Types.csv beside it maps attacks to categories),
score every record of the test file (default: the training file), and
report ROC AUC and the detection rate at 1% false positives (roc_auc,
dr_at_1pct_fpr), overall and per attack category, beside a Gaussian
baseline fitted to the same normal records.`,
		Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if train == "" {
				return &exitError{code: ExitFailure, err: fmt.Errorf("--train FILE is required")}
			}
			if test == "" {
				test = train
			}
			tr, err := eval.LoadKDD(train)
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			te := tr
			if test != train {
				if te, err = eval.LoadKDD(test); err != nil {
					return &exitError{code: ExitFailure, err: err}
				}
			}
			return e.printReport(eval.KDD(tr, te, test), asJSON)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&train, "train", "", "NSL-KDD file to train on (its normal records)")
	fs.StringVar(&test, "test", "", "NSL-KDD file to score (default: the training file)")
	fs.BoolVar(&asJSON, "json", false, "print the results as JSON")
	return cmd
}

func evalCapturesCmd(e *env) *cobra.Command {
	var (
		cfgFile, name string
		rounds        int
		asJSON        bool
	)
	cmd := &cobra.Command{
		Use:   "captures DATASETS",
		Short: "The gateway profiles on the shared captures: scans and floods flagged, normal traffic at other rates not",
		Long: `Run the shared captures (DATASETS is the datasets directory, holding
pcap-ppa1e, pcap-chrissanders and pcap-stopddos) through the network
sensor into the profile engine of a resource object (--config, default
configs/gateway.yaml): train on the normal captures (replayed --rounds
times, a long-term update, --rounds times more), then replay, learning
nothing, each attack capture and each normal capture at half, the same and
twice its rate, and say which the profiles flag and why.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			cfg, _, err := e.loadConfig(cfgFile)
			if err != nil {
				return err
			}
			classes, err := profile.ClassesIn(cfg, name)
			if err != nil {
				return &exitError{code: ExitFailure, err: fmt.Errorf("%s: %w", cfgFile, err)}
			}
			rep, outs, err := eval.GatewayCaptures(args[0], classes, rounds)
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			if asJSON {
				return e.printJSON(rep)
			}
			for _, o := range outs {
				what := "normal"
				if o.Attack != "" {
					what = o.Attack
				}
				verdict := "-"
				if o.Flagged {
					verdict = "FLAGGED: " + o.Why
				}
				fmt.Fprintf(e.stdout, "  %-52s %-26s x%-4g %s\n", o.Capture, what, o.Rate, verdict)
			}
			return e.printReport(rep, false)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&cfgFile, "config", "configs/gateway.yaml", "resource object whose profile engine is evaluated")
	fs.StringVar(&name, "engine", "", "the profile engine's name (default: the first)")
	fs.IntVar(&rounds, "rounds", 20, "replays of the normal captures in each training phase")
	fs.BoolVar(&asJSON, "json", false, "print the results as JSON")
	return cmd
}

func evalLIDDSCmd(e *env) *cobra.Command {
	var (
		interval time.Duration
		vectors  bool
	)
	cmd := &cobra.Command{
		Use:   "lidds RECORDING.zip",
		Short: "Read a LID-DS recording (sysdig text) into per-process system call count vectors",
		Long: `Read a LID-DS 2021 recording (a zip holding NAME.sc, sysdig's text output,
and NAME.json, its metadata) into count vectors: per process and interval
(--interval, default 1s), how many of each system call it entered; the
same vectors the system call counter sends. With --vectors, print them as
JSON lines (time, host, pid, process, interval_ms, counts by name, numbers
by number); otherwise a summary: calls per interval, the exploit's time.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if interval <= 0 {
				return &exitError{code: ExitFailure, err: fmt.Errorf("--interval must be positive")}
			}
			rec, err := syscalls.ReadLIDDS(args[0], interval)
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			if vectors {
				if err := syscalls.WriteVectors(e.stdout, rec.Vectors); err != nil {
					return &exitError{code: ExitFailure, err: err}
				}
				return nil
			}
			per := map[time.Time]uint64{}
			pids := map[int32]bool{}
			var total uint64
			for i := range rec.Vectors {
				v := &rec.Vectors[i]
				per[v.Start] += v.Total()
				pids[v.PID] = true
				total += v.Total()
			}
			times := make([]time.Time, 0, len(per))
			for t := range per {
				times = append(times, t)
			}
			sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
			var skipped int64
			for _, n := range rec.Skipped {
				skipped += n
			}
			fmt.Fprintf(e.stdout, "%s: %d vectors of %v, %d processes, %d system calls entered (%d other events left out)\n", rec.Name, len(rec.Vectors), interval, len(pids), total, skipped)
			if !rec.Exploit.IsZero() {
				fmt.Fprintf(e.stdout, "exploit at %s\n", rec.Exploit.Format(time.RFC3339Nano))
			}
			for _, t := range times {
				mark := ""
				if !rec.Exploit.IsZero() && !t.After(rec.Exploit) && t.Add(interval).After(rec.Exploit) {
					mark = "  <- the exploit"
				}
				fmt.Fprintf(e.stdout, "  %s %8d%s\n", t.Format("15:04:05.000"), per[t], mark)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.DurationVar(&interval, "interval", time.Second, "length of a vector's interval")
	fs.BoolVar(&vectors, "vectors", false, "print the vectors as JSON lines")
	return cmd
}
