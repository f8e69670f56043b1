package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/classifier"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/learn"
	"github.com/vigil-ids/vigil/internal/sensor/host"
	"github.com/vigil-ids/vigil/internal/sensor/syscount"
	"github.com/vigil-ids/vigil/internal/syscalls"
)

// DefaultLocalDuration is how long vigil train classifier --local records.
const DefaultLocalDuration = 10 * time.Minute

// LocalRecordingSuffix names the recording --local keeps beside the model.
const LocalRecordingSuffix = ".recording.jsonl"

// recordLocal records this machine's processes' system call count vectors
// for d, every interval, into path (JSON lines, as vigil record --syscalls).
func recordLocal(ctx context.Context, e *env, path string, d, interval time.Duration) error {
	a := config.Default().Agent
	a.Syscalls.Enabled = true
	a.Syscalls.Interval = interval
	if err := config.ValidateAgent(a); err != nil {
		return err
	}
	co := host.CounterOptions(a, e.log)
	co.SkipSelf = true
	c, err := syscount.Open(co)
	if err != nil {
		return err
	}
	defer c.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	e.log.Info("recording system calls of this machine's processes", "duration", d, "interval", c.Interval(), "out", path)
	all, lost, runErr := syscount.Record(rctx, c, f)
	if err := errors.Join(runErr, f.Close()); err != nil {
		return fmt.Errorf("recording to %s: %w", path, err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return syscalls.WriteSequenceSummary(e.stderr, path, all, lost)
}

func trainCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a model from recordings",
		Long:  help("train"),
	}
	cmd.AddCommand(trainClassifierCmd(e))
	return cmd
}

func trainClassifierCmd(e *env) *cobra.Command {
	var (
		o        classifier.TrainOptions
		model    string
		local    bool
		duration time.Duration
		interval time.Duration
	)
	cmd := &cobra.Command{
		Use:   "classifier --data RECORDINGS|--local --model OUT",
		Short: "Train a process classifier on recorded count vectors and write its model file",
		Long:  help("train-classifier"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if local && o.Data != "" {
				return fail(errors.New("--local and --data: give one source of recordings"))
			}
			if !local && (cmd.Flags().Changed("duration") || cmd.Flags().Changed("interval")) {
				return fail(errors.New("--duration and --interval go with --local"))
			}
			if o.Data == "" && !local {
				return fail(fmt.Errorf("--data RECORDINGS is required (or --local)"))
			}
			if model == "" {
				return fail(fmt.Errorf("--model OUT is required"))
			}
			if local {
				if duration <= 0 || interval <= 0 {
					return fail(errors.New("--duration and --interval must be positive"))
				}
				if _, ok := learn.Lookup(o.Kind); !ok {
					return fail(fmt.Errorf("unknown model kind %q: want one of %s", o.Kind, strings.Join(learn.Kinds(), ", ")))
				}
				o.Data = model + LocalRecordingSuffix
				if err := recordLocal(cmd.Context(), e, o.Data, duration, interval); err != nil {
					return fail(err)
				}
			}
			o.Progress = e.stderr
			res, err := classifier.Train(cmd.Context(), o)
			if err != nil && local {
				return fail(fmt.Errorf("training on the recording %s (kept; train again with --data): %w", o.Data, err))
			}
			if err != nil {
				return fail(err)
			}
			if err := classifier.WriteScores(e.stdout, res.Scores); err != nil {
				return failed(err)
			}
			if err := learn.SaveFile(model, res.File); err != nil {
				return fail(err)
			}
			var nov []string
			for _, c := range res.File.Classes {
				if t, ok := res.File.Novelty[c]; ok {
					nov = append(nov, fmt.Sprintf("%s %.3f", c, t))
				}
			}
			fmt.Fprintf(e.stdout, "novelty thresholds (quantile %g of held-out confidences): %s\n", res.File.NoveltyQuantile, strings.Join(nov, ", "))
			fmt.Fprintf(e.stdout, "wrote %s: %s model of %d classes, %d features, trained on %d samples in %.1f s\n",
				model, res.File.Kind, len(res.File.Classes), len(res.File.Features)+1, res.Train, res.TrainDuration.Seconds())
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.Data, "data", "", "recordings: a directory of hosts/<host>.jsonl and nongrata/<class>.jsonl, or one .jsonl file")
	fs.BoolVar(&local, "local", false, "record this machine's processes with the system call counter for --duration (needs root, or CAP_BPF and CAP_PERFMON), keep the recording as OUT"+LocalRecordingSuffix+" and train on it")
	fs.DurationVar(&duration, "duration", DefaultLocalDuration, "with --local: how long to record")
	fs.DurationVar(&interval, "interval", config.DefaultSyscallInterval, "with --local: length of each count interval")
	fs.IntVar(&o.MinSamples, "min-samples", learn.DefaultMinSamples, "leave out classes with fewer samples")
	fs.StringVar(&model, "model", "", "the model file to write (atomically)")
	fs.StringVar(&o.Kind, "kind", classifier.DefaultKind, "model kind: "+strings.Join(learn.Kinds(), ", "))
	fs.IntVar(&o.Epochs, "epochs", 0, "training epochs (0: the kind's default)")
	fs.Int64Var(&o.Seed, "seed", 1, "seed of every random choice (same seed, same model)")
	fs.IntVar(&o.MaxClasses, "max-classes", classifier.DefaultMaxClasses, "keep the most represented classes")
	fs.BoolVar(&o.Other, "other", false, `train one class more, "(other processes)", of the ordinary processes --max-classes and --min-samples leave out: a process unlike every named class gets that answer rather than the nearest class's`)
	fs.IntVar(&o.MaxFeatures, "max-features", 0, "count at most this many system calls one by one, the most frequent (0: all seen)")
	fs.Float64Var(&o.NoveltyQuantile, "novelty-quantile", classifier.DefaultNoveltyQuantile, "quantile of held-out true-class confidences each class's novelty threshold is set at")
	fs.IntVar(&o.Workers, "workers", 0, "goroutines that train (0: one per CPU)")
	return cmd
}
