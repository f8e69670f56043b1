package cli

import (
	"fmt"
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
		Long: `Build the testbed of seed 000 section 4 with network namespaces (as root):
four servers (10.10.0.1-4), each in its own network, PID and mount
namespaces with Debian's apache2 on port 8000 and a vigil agent watching
apache2, bash and sh every 4 s with a window of 5; an attacker (10.20.0.1)
behind a gateway; on the gateway, vigil netsensor on the attacker's link and
a monitor running the gateway signatures and the track engine (M3, M4 and
their comparison), with the dashboard. Then run the experiment: a baseline,
an nmap scan of the four servers, a wait, a 30 s flood of HTTP requests
against host 3 (ab), and a watch after it. Print the timeline of the M3
tracks and, per host, when it reached yellow and red relative to the
flood's start. Everything the lab made is removed at the end, also when it
is interrupted or fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			self, err := os.Executable()
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			if dir == "" {
				if dir, err = os.MkdirTemp("", "vigil-lab-"); err != nil {
					return &exitError{code: ExitFailure, err: err}
				}
			}
			if dir, err = filepath.Abs(dir); err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			// The progress goes to standard error with --json, so that
			// standard output is the one JSON object.
			o := lab.Options{Vigil: self, Dir: dir, Fast: fast, Logger: e.log, Progress: e.stdout}
			if asJSON {
				o.Progress = e.stderr
			}
			res, err := lab.Run(cmd.Context(), o)
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			if asJSON {
				return e.printJSON(res)
			}
			fmt.Fprintln(e.stdout, "Timeline (seconds into the experiment; M3 state, score and band):")
			for _, line := range res.Timeline {
				fmt.Fprintln(e.stdout, "  "+line)
			}
			fmt.Fprintln(e.stdout, "Per server, from the flood's start:")
			for i := 1; i <= 4; i++ {
				h := res.Hosts[fmt.Sprintf("host%d", i)]
				fmt.Fprintf(e.stdout, "  host%d %s: yellow %s, red %s, max score %.2f, at the end %.2f %s\n", i, h.IP, secs(h.YellowAfter), secs(h.RedAfter), h.MaxScore, h.FinalScore, h.FinalSeverity)
			}
			fmt.Fprintln(e.stdout, "Observations by type (seed 000 Table 2):")
			if err := lab.WriteTable2(e.stdout, res.Table2); err != nil {
				return err
			}
			for _, f := range res.Files {
				fmt.Fprintf(e.stdout, "wrote %s\n", f)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&fast, "fast", false, "shorten the waits (the agents keep their 4 s interval)")
	fs.BoolVar(&asJSON, "json", false, "print the outcome as one JSON object")
	fs.StringVar(&dir, "dir", "", "directory of the lab's files (default: a new temporary one)")
	return cmd
}

func secs(v *float64) string {
	if v == nil {
		return "never"
	}
	return fmt.Sprintf("%+.1f s", *v)
}
