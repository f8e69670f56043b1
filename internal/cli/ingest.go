package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
)

func ingestCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Publish records from files or other tools to the bus",
	}
	cmd.AddCommand(ingestEventsCmd(e))
	return cmd
}

// ingestBatch is how many events are published before waiting for the
// stream's acknowledgements.
const ingestBatch = 4096

func ingestEventsCmd(e *env) *cobra.Command {
	var bf busFlags
	var source string
	cmd := &cobra.Command{
		Use:   "events [--bus URL] FILE|-",
		Short: "Publish JSON-lines events durably to the bus",
		Long: `Read events in the JSON-lines form (one object per line with id, time, type,
host, ip, source and attrs; see docs/EVENTS.md) from FILE or standard input
and publish them durably to the bus. An event without an id or time gets
one. A malformed line is reported with its line number and skipped; the
others are delivered. The exit status is 0 when every line was delivered,
1 when some lines were bad, and 2 when delivery failed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var in io.Reader = os.Stdin
			name := "stdin"
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return &exitError{code: ExitFailure, err: err}
				}
				defer f.Close()
				in, name = f, args[0]
			}
			opts, err := clientOptions(bf.apply(config.BusClient{}, nil), "vigil ingest")
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			opts.Logger = e.log
			ctx := cmd.Context()
			conn, err := bus.Connect(ctx, opts)
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			defer conn.Close()
			if err := conn.EnsureStreams(ctx, bus.StreamLimits{}); err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			er := event.NewEventReader(in).Normalizing(event.NewRandomIDs(), time.Now, source)
			var batch []event.Event
			published, bad := 0, 0
			flush := func() error {
				n, err := conn.PublishEvents(ctx, batch)
				published += n
				batch = batch[:0]
				return err
			}
			for {
				ev, err := er.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				var le *event.LineError
				if errors.As(err, &le) {
					bad++
					fmt.Fprintf(e.stderr, "%s:%d: %v\n", name, le.Line, le.Err)
					continue
				}
				if err != nil {
					return &exitError{code: ExitFailure, err: fmt.Errorf("reading %s: %w (published %d events)", name, err, published)}
				}
				batch = append(batch, ev)
				if len(batch) == ingestBatch {
					if err := flush(); err != nil {
						return &exitError{code: ExitFailure, err: fmt.Errorf("%w (published %d events)", err, published)}
					}
				}
			}
			if len(batch) > 0 {
				if err := flush(); err != nil {
					return &exitError{code: ExitFailure, err: fmt.Errorf("%w (published %d events)", err, published)}
				}
			}
			fmt.Fprintf(e.stderr, "published %d events, %d bad lines\n", published, bad)
			if bad > 0 {
				return partial("%d bad lines in %s were skipped", bad, name)
			}
			return nil
		},
	}
	bf.register(cmd.Flags(), "nats://127.0.0.1:4222")
	cmd.Flags().StringVar(&source, "source", "ingest", "source recorded on events that name none")
	return cmd
}
