package cli

import (
	"fmt"
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
		Long:  help("eval"),
	}
	cmd.AddCommand(evalNABCmd(e), evalKDDCmd(e), evalCapturesCmd(e), evalLIDDSCmd(e), evalCountVecCmd(e))
	return cmd
}

func evalNABCmd(e *env) *cobra.Command {
	var asJSON, grid bool
	cmd := &cobra.Command{
		Use:   "nab DIR",
		Short: "The profiler on the NAB corpus, beside NAB's published detectors, scored NAB's way",
		Long:  help("eval-nab"),
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			rep, err := eval.RunNAB(args[0], eval.NABOptions{Grid: grid})
			if err != nil {
				return fail(err)
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
	return failed(r.WriteTable(e.stdout))
}

func evalKDDCmd(e *env) *cobra.Command {
	var (
		train, test string
		asJSON      bool
	)
	cmd := &cobra.Command{
		Use:   "kdd --train FILE [--test FILE]",
		Short: "The profiler on NSL-KDD, beside a Gaussian baseline",
		Long:  help("eval-kdd"),
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if train == "" {
				return fail(fmt.Errorf("--train FILE is required"))
			}
			rep, err := eval.KDDFiles(train, test)
			if err != nil {
				return fail(err)
			}
			return e.printReport(rep, asJSON)
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
		Long:  help("eval-captures"),
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			cfg, _, err := e.loadConfig(cfgFile)
			if err != nil {
				return err
			}
			classes, err := profile.ClassesIn(cfg, name)
			if err != nil {
				return fail(fmt.Errorf("%s: %w", cfgFile, err))
			}
			rep, outs, err := eval.GatewayCaptures(args[0], classes, rounds)
			if err != nil {
				return fail(err)
			}
			if asJSON {
				return e.printJSON(rep)
			}
			return failed(eval.WriteCaptures(e.stdout, rep, outs))
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
		Long:  help("eval-lidds"),
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if interval <= 0 {
				return fail(fmt.Errorf("--interval must be positive"))
			}
			rec, err := syscalls.ReadLIDDS(args[0], interval)
			if err != nil {
				return fail(err)
			}
			if vectors {
				return failed(syscalls.WriteVectors(e.stdout, rec.Vectors))
			}
			return failed(rec.WriteSummary(e.stdout, interval))
		},
	}
	fs := cmd.Flags()
	fs.DurationVar(&interval, "interval", time.Second, "length of a vector's interval")
	fs.BoolVar(&vectors, "vectors", false, "print the vectors as JSON lines")
	return cmd
}
