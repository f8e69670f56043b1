package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/eval"
	"github.com/vigil-ids/vigil/internal/learn"
)

func evalCountVecCmd(e *env) *cobra.Command {
	var (
		o             eval.CountVecOptions
		models, cross string
		lidds, model  string
		asJSON        bool
	)
	cmd := &cobra.Command{
		Use:   "countvec --data RECORDINGS [--model FILE] | --lidds DIR --model FILE",
		Short: "Process classifiers on count vectors with seed 001's protocols, every model kind side by side",
		Long:  help("eval-countvec"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if lidds != "" {
				if model == "" {
					return fail(fmt.Errorf("--lidds needs --model FILE (vigil train classifier)"))
				}
				f, err := learn.LoadFile(model)
				if err != nil {
					return fail(err)
				}
				recs, err := eval.LIDDSClassify(lidds, f)
				if err != nil {
					return fail(err)
				}
				if asJSON {
					return e.printJSON(recs)
				}
				return failed(eval.WriteLIDDSClassify(e.stdout, f, recs))
			}
			if o.Data == "" {
				return fail(fmt.Errorf("--data RECORDINGS is required (or --lidds DIR --model FILE)"))
			}
			if model != "" {
				f, err := learn.LoadFile(model)
				if err != nil {
					return fail(err)
				}
				recs, err := eval.ScenarioClassify(o.Data, f)
				if err != nil {
					return fail(err)
				}
				if asJSON {
					return e.printJSON(recs)
				}
				return failed(eval.WriteScenarioClassify(e.stdout, f, recs))
			}
			if o.Runs < 1 {
				return fail(fmt.Errorf("--runs must be at least 1"))
			}
			if models != "" {
				o.Models = splitList(models)
			}
			if cross != "" {
				hosts, ok := strings.CutPrefix(cross, "test=")
				if !ok || hosts == "" {
					return fail(fmt.Errorf("--cross-host %q: want test=HOST[,HOST...]", cross))
				}
				o.TestGroups = splitList(hosts)
			}
			o.Progress = e.stderr
			rep, err := eval.CountVec(cmd.Context(), o)
			if err != nil {
				return fail(err)
			}
			if asJSON {
				return e.printJSON(rep)
			}
			return failed(rep.WriteTable(e.stdout))
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.Data, "data", "", "recordings: a directory of hosts/<host>.jsonl and nongrata/<class>.jsonl, or one .jsonl file")
	fs.IntVar(&o.Runs, "runs", 10, "runs of each model, each with its own seed")
	fs.StringVar(&models, "models", strings.Join(eval.DefaultCountVecModels, ","), "model kinds to compare, comma-separated")
	fs.StringVar(&cross, "cross-host", "", "test=HOST[,HOST...]: train on the other hosts, test on these (seed 001 Table 2)")
	fs.IntVar(&o.Epochs, "epochs", 0, "training epochs (0: each kind's default)")
	fs.Int64Var(&o.Seed, "seed", 1, "seed of the first run (run r uses seed+r)")
	fs.IntVar(&o.MaxClasses, "max-classes", 28, "keep the most represented classes")
	fs.IntVar(&o.MaxFeatures, "max-features", 0, "count at most this many system calls one by one (0: all seen)")
	fs.IntVar(&o.Workers, "workers", 0, "goroutines that train (0: one per CPU)")
	fs.BoolVar(&o.Verbose, "verbose", false, "show the trainers' progress too")
	fs.StringVar(&lidds, "lidds", "", "instead: run the model of --model over the LID-DS recordings (zips) in DIR")
	fs.StringVar(&model, "model", "", "a trained model file: with --data, the classify engine's conclusions on each recording; with --lidds, on LID-DS")
	fs.BoolVar(&asJSON, "json", false, "print the results as JSON")
	return cmd
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
