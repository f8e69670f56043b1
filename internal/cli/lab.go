package cli

import (
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/lab"
)

func labCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Build a testbed on this machine and run an experiment of the papers in it",
	}
	cmd.AddCommand(labDMZCmd(e), labAttacksCmd(e), labEnterpriseCmd(e), labServicesCmd(e))
	return cmd
}

func labDMZCmd(e *env) *cobra.Command {
	var (
		fast, asJSON, respond bool
		dir                   string
	)
	cmd := &cobra.Command{
		Use:   "dmz",
		Short: "Seed 000's DMZ experiment: four servers, a scan, a flood against host 3",
		Long:  help("lab-dmz"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := e.labOptions(dir, fast, asJSON)
			if err != nil {
				return fail(err)
			}
			o.Respond = respond
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
	fs.BoolVar(&respond, "respond", false, "enforce response policies: restart host 3's web server and block its attacker when it turns red, then flood host 1 from forged sources and scan it with a decoy")
	return cmd
}

func labAttacksCmd(e *env) *cobra.Command {
	var (
		fast, asJSON bool
		dir          string
		only         []string
		record       string
	)
	cmd := &cobra.Command{
		Use:   "attacks",
		Short: "Attack behaviours with real tools against a service host: what Vigil reports, with which rule, how fast",
		Long:  help("lab-attacks"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := e.labOptions(dir, fast, asJSON)
			if err != nil {
				return fail(err)
			}
			o.Record = record
			res, err := lab.RunAttacks(cmd.Context(), o, only)
			if err != nil {
				return fail(err)
			}
			if asJSON {
				if err := e.printJSON(res); err != nil {
					return fail(err)
				}
			} else if err := res.WriteTable(e.stdout); err != nil {
				return fail(err)
			}
			if !res.Passed() {
				return partial("%d of %d behaviours reported, %d reports during the baseline", res.Caught, res.Tried, len(res.Baseline))
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&fast, "fast", false, "a shorter baseline (for CI)")
	fs.BoolVar(&asJSON, "json", false, "print the outcome as one JSON object")
	fs.StringVar(&dir, "dir", "", "directory of the lab's files (default: a new temporary one)")
	fs.StringSliceVar(&only, "only", nil, "run only these behaviours (ids, comma-separated)")
	fs.StringVar(&record, "record", "", "write each behaviour's events from the service host to DIR/<behaviour>/events.jsonl (rule scenarios)")
	return cmd
}

func labEnterpriseCmd(e *env) *cobra.Command {
	var (
		fast, asJSON bool
		dir          string
	)
	cmd := &cobra.Command{
		Use:   "enterprise",
		Short: "Three domains and an enterprise monitor joined by leaf nodes: doorknob rattling, a spreading attack, degradation, a lost monitor, a cut link",
		Long:  help("lab-enterprise"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := e.labOptions(dir, fast, asJSON)
			if err != nil {
				return fail(err)
			}
			res, err := lab.RunEnterprise(cmd.Context(), o)
			if err != nil {
				return fail(err)
			}
			if asJSON {
				if err := e.printJSON(res); err != nil {
					return fail(err)
				}
			} else if err := res.WriteSummary(e.stdout); err != nil {
				return fail(err)
			}
			if !res.Passed {
				failedIDs := []string{}
				for _, s := range res.Scenarios {
					if !s.Passed {
						failedIDs = append(failedIDs, s.ID)
					}
				}
				return partial("scenarios %v did not pass", failedIDs)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&fast, "fast", false, "shorter waits and a 10 s cut of the leaf link (for CI)")
	fs.BoolVar(&asJSON, "json", false, "print the outcome as one JSON object")
	fs.StringVar(&dir, "dir", "", "directory of the lab's files (default: a new temporary one)")
	return cmd
}

func labServicesCmd(e *env) *cobra.Command {
	var (
		fast, asJSON bool
		dir          string
		duration     time.Duration
		so           lab.ServicesOptions
	)
	cmd := &cobra.Command{
		Use:   "services",
		Short: "Three hosts running real daemons under load, known-bad tools and masquerading programs, recorded as system call count vectors for the process classifier",
		Long:  help("lab-services"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return fail(errors.New("--out DIR is required: the recordings are written there"))
			}
			o, err := e.labOptions(dir, fast, asJSON)
			if err != nil {
				return fail(err)
			}
			if cmd.Flags().Changed("duration") || !fast {
				so.Duration = duration
			}
			res, err := lab.RunServices(cmd.Context(), o, so)
			if err != nil {
				return fail(err)
			}
			if asJSON {
				err = e.printJSON(res)
			} else {
				err = res.WriteSummary(e.stdout)
			}
			if err != nil {
				return fail(err)
			}
			if res.Live != nil && !res.Live.Passed() {
				return partial("live phase: not every attack was reported within %d s", lab.LiveTarget)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&fast, "fast", false, "record for 90 s unless --duration says otherwise (for CI: about 2-3 minutes in all)")
	fs.BoolVar(&asJSON, "json", false, "print the outcome as one JSON object")
	fs.StringVar(&dir, "out", "", "directory of the recordings (hosts/, nongrata/, masquerade/) and the lab's logs; made if missing, else it must hold an earlier lab's files")
	fs.DurationVar(&duration, "duration", 10*time.Minute, "how long to record")
	fs.BoolVar(&so.Attack, "attack", false, "then run the classify engine live on the hosts, healthy for --healthy, then each attack, timing its report")
	fs.StringVar(&so.Model, "model", "", "with --attack: the model the engine runs (the recording is left out); default: one trained on this run's recording")
	fs.StringVar(&so.Kind, "kind", "", "with --attack and no --model: the kind trained (default lstm; logreg with --fast)")
	fs.DurationVar(&so.Healthy, "healthy", 0, "with --attack: how long the hosts run healthy before the attacks (default 5m; 45s with --fast)")
	fs.IntVar(&so.Stride, "stride", 0, "with --attack: the engine's stride, new vectors per classified sequence (default 1)")
	fs.IntVar(&so.Persist, "persist", 0, "with --attack: the engine's persist, consecutive sequences showing a scenario before a report (default 3)")
	return cmd
}

// labOptions are a lab's options: this binary run in the namespaces, the
// lab's directory (a new temporary one when dir is empty), and the
// progress on standard error with --json, so that standard output is the
// one JSON object.
func (e *env) labOptions(dir string, fast, asJSON bool) (lab.Options, error) {
	self, err := os.Executable()
	if err != nil {
		return lab.Options{}, err
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "vigil-lab-"); err != nil {
			return lab.Options{}, err
		}
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return lab.Options{}, err
	}
	o := lab.Options{Vigil: self, Dir: dir, Fast: fast, Logger: e.log, Progress: e.stdout}
	if asJSON {
		o.Progress = e.stderr
	}
	return o, nil
}
