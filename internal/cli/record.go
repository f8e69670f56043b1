package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
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
		Long: `Record what this machine's processes do, for learning: with --syscalls, count
system calls per process with eBPF for --duration and write every interval's
count vectors to --out as JSON lines (the form vigil agent --syscalls --stdout
prints). A process's vectors in time order are a sequence, labelled with its
name (docs/SYSCALLS.md); a summary of the sequences by label goes to stderr.
Needs root, or CAP_BPF and CAP_PERFMON. An interrupt ends the recording early
and keeps what was recorded.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !sys.enabled {
				return &exitError{code: ExitFailure, err: errors.New("say what to record: --syscalls (the only kind so far)")}
			}
			if out == "" {
				return &exitError{code: ExitFailure, err: errors.New("--out FILE is required")}
			}
			if duration <= 0 {
				return &exitError{code: ExitFailure, err: errors.New("--duration must be positive")}
			}
			a := config.Default().Agent
			a.Syscalls = sys.apply(func(name string) bool { return cmd.Flags().Changed(name) }, a.Syscalls)
			if hostID != "" {
				a.HostID = hostID
			}
			if err := config.ValidateAgent(a); err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			c, err := syscount.Open(counterOptions(e, a))
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			defer c.Close()
			f, err := os.Create(out)
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			w := bufio.NewWriter(f)
			ctx, cancel := context.WithTimeout(cmd.Context(), duration)
			defer cancel()
			var all []event.CountVector
			var lost uint64
			e.log.Info("recording system calls", "duration", duration, "interval", c.Interval(), "out", out)
			runErr := c.Run(ctx, func(vs []event.CountVector, st syscount.IntervalStats) error {
				lost += st.Lost + st.Missed
				all = append(all, vs...)
				if err := syscalls.WriteVectors(w, vs); err != nil {
					return err
				}
				return w.Flush()
			})
			if err := errors.Join(runErr, w.Flush(), f.Close()); err != nil {
				return &exitError{code: ExitFailure, err: fmt.Errorf("recording to %s: %w", out, err)}
			}
			seqs := syscalls.Sequences(all)
			byLabel := map[string][2]int{} // sequences, vectors
			for _, s := range seqs {
				n := byLabel[s.Label]
				byLabel[s.Label] = [2]int{n[0] + 1, n[1] + len(s.Vectors)}
			}
			labels := make([]string, 0, len(byLabel))
			for l := range byLabel {
				labels = append(labels, l)
			}
			sort.Slice(labels, func(i, j int) bool {
				if byLabel[labels[i]][1] != byLabel[labels[j]][1] {
					return byLabel[labels[i]][1] > byLabel[labels[j]][1]
				}
				return labels[i] < labels[j]
			})
			fmt.Fprintf(e.stderr, "%s: %d vectors, %d sequences, %d labels", out, len(all), len(seqs), len(labels))
			if lost > 0 {
				fmt.Fprintf(e.stderr, "; %d system calls lost to a full map (raise --syscall-map-entries)", lost)
			}
			fmt.Fprintln(e.stderr)
			for i, l := range labels {
				if i == 20 {
					fmt.Fprintf(e.stderr, "  ... %d more labels\n", len(labels)-20)
					break
				}
				fmt.Fprintf(e.stderr, "  %-16s %5d sequences %7d vectors\n", l, byLabel[l][0], byLabel[l][1])
			}
			return nil
		},
	}
	sys.register(cmd, "")
	cmd.Flags().DurationVar(&duration, "duration", time.Minute, "how long to record")
	cmd.Flags().StringVar(&out, "out", "", "file to write the count vectors to (JSON lines)")
	cmd.Flags().StringVar(&hostID, "host-id", "", "host id in the vectors (default: the hostname)")
	return cmd
}
