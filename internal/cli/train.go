package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/classifier"
	"github.com/vigil-ids/vigil/internal/learn"
)

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
		o     classifier.TrainOptions
		model string
	)
	cmd := &cobra.Command{
		Use:   "classifier --data RECORDINGS --model OUT",
		Short: "Train a process classifier on recorded count vectors and write its model file",
		Long:  help("train-classifier"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Data == "" {
				return fail(fmt.Errorf("--data RECORDINGS is required"))
			}
			if model == "" {
				return fail(fmt.Errorf("--model OUT is required"))
			}
			o.Progress = e.stderr
			res, err := classifier.Train(cmd.Context(), o)
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
	fs.StringVar(&model, "model", "", "the model file to write (atomically)")
	fs.StringVar(&o.Kind, "kind", classifier.DefaultKind, "model kind: "+strings.Join(learn.Kinds(), ", "))
	fs.IntVar(&o.Epochs, "epochs", 0, "training epochs (0: the kind's default)")
	fs.Int64Var(&o.Seed, "seed", 1, "seed of every random choice (same seed, same model)")
	fs.IntVar(&o.MaxClasses, "max-classes", classifier.DefaultMaxClasses, "keep the most represented classes")
	fs.IntVar(&o.MaxFeatures, "max-features", 0, "count at most this many system calls one by one, the most frequent (0: all seen)")
	fs.Float64Var(&o.NoveltyQuantile, "novelty-quantile", classifier.DefaultNoveltyQuantile, "quantile of held-out true-class confidences each class's novelty threshold is set at")
	fs.IntVar(&o.Workers, "workers", 0, "goroutines that train (0: one per CPU)")
	return cmd
}
