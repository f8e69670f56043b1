package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/ingest"
	"github.com/vigil-ids/vigil/internal/ingest/fwlog"
	"github.com/vigil-ids/vigil/internal/ingest/nids"
	"github.com/vigil-ids/vigil/internal/node"
)

func ingestCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Publish records from files or other tools to the bus",
	}
	cmd.AddCommand(ingestEventsCmd(e), ingestFirewallCmd(e), ingestSuricataCmd(e), ingestSnortCmd(e))
	return cmd
}

func ingestEventsCmd(e *env) *cobra.Command {
	var bf busFlags
	var source string
	var stdout bool
	cmd := &cobra.Command{
		Use:   "events [--bus URL | --stdout] FILE|-",
		Short: "Publish JSON-lines events durably to the bus",
		Long:  help("ingest-events"),
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, name, err := ingest.Open(cmd.Context(), args[0], false)
			if err != nil {
				return fail(err)
			}
			defer in.Close()
			er := event.NewEventReader(in).Normalizing(event.NewRandomIDs(), time.Now, source)
			return e.ingest(cmd.Context(), name, er.Next, bf, stdout, "vigil ingest")
		},
	}
	bf.register(cmd.Flags())
	cmd.Flags().StringVar(&source, "source", "ingest", "source recorded on events that name none")
	cmd.Flags().BoolVar(&stdout, "stdout", false, "print the checked events as JSON lines instead of publishing them")
	return cmd
}

func ingestFirewallCmd(e *env) *cobra.Command {
	var (
		bf     busFlags
		o      fwlog.Options
		stdout bool
		utc    bool
	)
	cmd := &cobra.Command{
		Use:   "firewall [--bus URL | --stdout] FILE|-",
		Short: "Publish a firewall's packet log lines (iptables, nftables) as events",
		Long:  help("ingest-firewall"),
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if utc {
				o.Location = time.UTC
			}
			p, err := fwlog.NewParser(o)
			if err != nil {
				return fail(err)
			}
			in, name, err := ingest.Open(cmd.Context(), args[0], false)
			if err != nil {
				return fail(err)
			}
			defer in.Close()
			skip := func(err error) bool { return errors.Is(err, fwlog.ErrNotPacketLog) }
			next := ingest.Lines(in, 0, p.Parse, skip, event.NewRandomIDs(), nil, "firewall")
			return e.ingest(cmd.Context(), name, next, bf, stdout, "vigil ingest firewall")
		},
	}
	fs := cmd.Flags()
	bf.register(fs)
	fs.BoolVar(&stdout, "stdout", false, "print the events as JSON lines instead of publishing them")
	fs.StringVar(&o.DropPattern, "drop-pattern", fwlog.DefaultDropPattern, "regular expression on the log prefix of discarded traffic")
	fs.StringVar(&o.PassPattern, "pass-pattern", fwlog.DefaultPassPattern, "regular expression on the log prefix of passed traffic")
	fs.StringVar(&o.Unmatched, "unmatched", "drop", "action of lines whose prefix matches neither pattern: drop or pass")
	fs.StringVar(&o.Source, "source", "", "source recorded on the events (default: the host named by each line)")
	fs.BoolVar(&utc, "utc", false, "syslog timestamps without a zone are UTC (default: local time)")
	return cmd
}

// nidsFlags are the flags of ingest suricata and ingest snort.
type nidsFlags struct {
	bus    busFlags
	stdout bool
	follow bool
	source string
	utc    bool
}

func (f *nidsFlags) register(cmd *cobra.Command, tool string) {
	fs := cmd.Flags()
	f.bus.register(fs)
	fs.BoolVar(&f.stdout, "stdout", false, "print the events as JSON lines instead of publishing them")
	fs.BoolVar(&f.follow, "follow", false, "follow the file as it grows, across rotation and truncation (like tail -F), until interrupted")
	fs.StringVar(&f.source, "source", tool, "source recorded on the events")
	fs.BoolVar(&f.utc, "utc", false, "timestamps without a zone are UTC (default: local time)")
}

// ingestAlerts publishes the alerts of the one format whose flag was
// given (ingest.OpenAlerts), and says how many other records it skipped.
func (e *env) ingestAlerts(ctx context.Context, f *nidsFlags, formats []ingest.AlertFormat, client string) error {
	o := nids.Options{Source: f.source}
	if f.utc {
		o.Location = time.UTC
	}
	a, err := ingest.OpenAlerts(ctx, formats, o, f.follow)
	if err != nil {
		return fail(err)
	}
	defer a.Close()
	err = e.ingest(ctx, a.Name, a.Next, f.bus, f.stdout, client)
	a.WriteSkipped(e.stderr)
	return err
}

func ingestSuricataCmd(e *env) *cobra.Command {
	var f nidsFlags
	formats := []ingest.AlertFormat{
		{Flag: "eve", Parse: func(p *nids.Parser) func([]byte) (event.Event, error) { return p.ParseEVE }},
		{Flag: "fast", Parse: func(p *nids.Parser) func([]byte) (event.Event, error) { return p.ParseFast }},
	}
	cmd := &cobra.Command{
		Use:   "suricata [--bus URL | --stdout] [--follow] --eve FILE|-",
		Short: "Publish Suricata's alerts (EVE JSON) as NIDS.ALERT events",
		Long:  help("ingest-suricata"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.ingestAlerts(cmd.Context(), &f, formats, "vigil ingest suricata")
		},
	}
	f.register(cmd, nids.SourceSuricata)
	cmd.Flags().StringVar(&formats[0].File, "eve", "", "EVE JSON file to read (- for standard input)")
	cmd.Flags().StringVar(&formats[1].File, "fast", "", "fast.log file to read instead (- for standard input)")
	return cmd
}

func ingestSnortCmd(e *env) *cobra.Command {
	var f nidsFlags
	formats := []ingest.AlertFormat{
		{Flag: "fast", Parse: func(p *nids.Parser) func([]byte) (event.Event, error) { return p.ParseFast }},
		{Flag: "json", Parse: func(p *nids.Parser) func([]byte) (event.Event, error) { return p.ParseSnortJSON }},
	}
	cmd := &cobra.Command{
		Use:   "snort [--bus URL | --stdout] [--follow] (--fast FILE|- | --json FILE|-)",
		Short: "Publish Snort's alerts (alert_fast, Snort 3 alert_json) as NIDS.ALERT events",
		Long:  help("ingest-snort"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.ingestAlerts(cmd.Context(), &f, formats, "vigil ingest snort")
		},
	}
	f.register(cmd, nids.SourceSnort)
	cmd.Flags().StringVar(&formats[0].File, "fast", "", "alert_fast file to read (- for standard input)")
	cmd.Flags().StringVar(&formats[1].File, "json", "", "Snort 3 alert_json file to read (- for standard input)")
	return cmd
}

// ingest publishes what r.next reads (ingest.Run), to the bus or as JSON
// lines; bad lines are reported on stderr with their line number.
func (e *env) ingest(ctx context.Context, name string, next ingest.Reader, bf busFlags, stdout bool, client string) error {
	publish := ingest.JSONPublisher(e.stdout)
	if !stdout {
		pub, closeBus, err := node.Publisher(ctx, bf.apply(config.BusClient{}, nil), client, e.log)
		if err != nil {
			return fail(err)
		}
		defer closeBus()
		publish = ingest.Publisher(pub)
	}
	res, err := ingest.Run(ctx, ingest.Options{Name: name, Next: next, Publish: publish,
		BadLine: func(le *event.LineError) { fmt.Fprintf(e.stderr, "%s:%d: %v\n", name, le.Line, le.Err) }})
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(e.stderr, "published %d events, %d bad lines\n", res.Published, res.Bad)
	if res.Bad > 0 {
		return partial("%d bad lines in %s were skipped", res.Bad, name)
	}
	return nil
}
