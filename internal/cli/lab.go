package cli

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/lab"
)

func labCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Build a testbed on this machine and run an experiment of the papers in it",
	}
	cmd.AddCommand(labDMZCmd(e))
	return cmd
}

func labDMZCmd(e *env) *cobra.Command {
	var (
		fast, asJSON bool
		dir          string
	)
	cmd := &cobra.Command{
		Use:   "dmz",
		Short: "Seed 000's DMZ experiment: four servers, a scan, a flood against host 3",
		Long:  help("lab-dmz"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			self, err := os.Executable()
			if err != nil {
				return fail(err)
			}
			if dir == "" {
				if dir, err = os.MkdirTemp("", "vigil-lab-"); err != nil {
					return fail(err)
				}
			}
			if dir, err = filepath.Abs(dir); err != nil {
				return fail(err)
			}
			// The progress goes to standard error with --json, so that
			// standard output is the one JSON object.
			o := lab.Options{Vigil: self, Dir: dir, Fast: fast, Logger: e.log, Progress: e.stdout}
			if asJSON {
				o.Progress = e.stderr
			}
			res, err := lab.Run(cmd.Context(), o)
			if err != nil {
				return fail(err)
			}
			if asJSON {
				return e.printJSON(res)
			}
			return failed(res.WriteSummary(e.stdout))
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&fast, "fast", false, "shorten the waits (the agents keep their 4 s interval)")
	fs.BoolVar(&asJSON, "json", false, "print the outcome as one JSON object")
	fs.StringVar(&dir, "dir", "", "directory of the lab's files (default: a new temporary one)")
	return cmd
}
