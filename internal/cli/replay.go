package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/ingest"
	"github.com/vigil-ids/vigil/internal/monitor"
)

func replayCmd(e *env) *cobra.Command {
	var cfgFile string
	var seed uint64
	cmd := &cobra.Command{
		Use:   "replay --config FILE [EVENTS.jsonl|-]",
		Short: "Run a resource object's engines offline over recorded events",
		Long:  help("replay"),
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, engines, err := e.loadConfig(cfgFile)
			if err != nil {
				return err
			}
			in, name, err := ingest.Open(cmd.Context(), append(args, "-")[0], false)
			if err != nil {
				return fail(err)
			}
			defer in.Close()
			res, err := monitor.Replay(cmd.Context(), monitor.ReplayOptions{
				Config: cfg, Engines: engines, Logger: e.log, Seed: seed,
				BadLine: func(le *event.LineError) { fmt.Fprintf(e.stderr, "%s:%d: %v\n", name, le.Line, le.Err) },
				Progress: func(r monitor.ReplayResult) {
					e.log.Info("replaying", "events", r.Events, "reports", r.Reports)
				},
				ProgressEvery: 1_000_000,
			}, in, e.stdout)
			if err != nil {
				return fail(err)
			}
			fmt.Fprintf(e.stderr, "replayed %d events (%d duplicates, %d filtered, %d bad lines): %d reports\n",
				res.Events, res.Duplicates, res.Filtered, res.Bad, res.Reports)
			if res.Bad > 0 {
				return partial("%d bad lines in %s were skipped", res.Bad, name)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgFile, "config", "", "resource object whose engines run (required)")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed of report ids")
	return cmd
}
