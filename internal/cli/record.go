package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/sensor/host"
	"github.com/vigil-ids/vigil/internal/sensor/syscount"
	"github.com/vigil-ids/vigil/internal/syscalls"
)

func recordCmd(e *env) *cobra.Command {
	var (
		sys      syscallFlags
		duration time.Duration
		out      string
		hostID   string
	)
	cmd := &cobra.Command{
		Use:   "record --syscalls --duration D --out FILE",
		Short: "Record labelled system call count-vector sequences for training",
		Long:  help("record"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !sys.enabled {
				return fail(errors.New("say what to record: --syscalls (the only kind so far)"))
			}
			if out == "" {
				return fail(errors.New("--out FILE is required"))
			}
			if duration <= 0 {
				return fail(errors.New("--duration must be positive"))
			}
			a := config.Default().Agent
			a.Syscalls = sys.apply(func(name string) bool { return cmd.Flags().Changed(name) }, a.Syscalls)
			if hostID != "" {
				a.HostID = hostID
			}
			if err := config.ValidateAgent(a); err != nil {
				return fail(err)
			}
			co := host.CounterOptions(a, e.log)
			co.SkipSelf = true
			c, err := syscount.Open(co)
			if err != nil {
				return fail(err)
			}
			defer c.Close()
			f, err := os.Create(out)
			if err != nil {
				return fail(err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), duration)
			defer cancel()
			e.log.Info("recording system calls", "duration", duration, "interval", c.Interval(), "out", out)
			all, lost, runErr := syscount.Record(ctx, c, f)
			if err := errors.Join(runErr, f.Close()); err != nil {
				return fail(fmt.Errorf("recording to %s: %w", out, err))
			}
			return failed(syscalls.WriteSequenceSummary(e.stderr, out, all, lost))
		},
	}
	sys.register(cmd, "")
	cmd.Flags().DurationVar(&duration, "duration", time.Minute, "how long to record")
	cmd.Flags().StringVar(&out, "out", "", "file to write the count vectors to (JSON lines)")
	cmd.Flags().StringVar(&hostID, "host-id", "", "host id in the vectors (default: the hostname)")
	return cmd
}
