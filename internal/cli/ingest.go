package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/ingest/follow"
	"github.com/vigil-ids/vigil/internal/ingest/fwlog"
	"github.com/vigil-ids/vigil/internal/ingest/nids"
	"github.com/vigil-ids/vigil/internal/sensor/host"
)

func ingestCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Publish records from files or other tools to the bus",
	}
	cmd.AddCommand(ingestEventsCmd(e), ingestFirewallCmd(e), ingestSuricataCmd(e), ingestSnortCmd(e))
	return cmd
}

// ingestBatch is how many events are published before waiting for the
// stream's acknowledgements.
const ingestBatch = 4096

func ingestEventsCmd(e *env) *cobra.Command {
	var bf busFlags
	var source string
	var stdout bool
	cmd := &cobra.Command{
		Use:   "events [--bus URL | --stdout] FILE|-",
		Short: "Publish JSON-lines events durably to the bus",
		Long: `Read events in the JSON-lines form (one object per line with id, time, type,
host, ip, source and attrs; see docs/EVENTS.md) from FILE or standard input
and publish them durably to the bus. An event without an id or time gets
one. A malformed line is reported with its line number and skipped; the
others are delivered. The exit status is 0 when every line was delivered,
1 when some lines were bad, and 2 when delivery failed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, name, closeIn, err := openInput(args[0])
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			defer closeIn()
			er := event.NewEventReader(in).Normalizing(event.NewRandomIDs(), time.Now, source)
			return e.ingest(cmd.Context(), ingestRun{name: name, next: er.Next, bus: bf, stdout: stdout, client: "vigil ingest"})
		},
	}
	bf.register(cmd.Flags(), "nats://127.0.0.1:4222")
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
		Long: `Read a Linux firewall's packet log (the lines that the iptables LOG target and
nftables log statements write to the kernel log: a syslog file such as
/var/log/kern.log, journalctl -k output, or dmesg) from FILE or standard
input, and publish each packet line as an event: NET.FW.DROP for discarded
traffic, NET.FW.PASS for traffic the firewall logged and let through
(docs/NETSENSOR.md). The rule's log prefix tells which: by default a prefix
containing drop, block, reject or deny is discarded traffic, one containing
accept, allow, pass or permit is passed traffic; --drop-pattern and
--pass-pattern replace these, and --unmatched decides the rest.

Other lines of the log are skipped. A packet line that is malformed is
reported with its line number and skipped; the others are delivered.
Standard input is read as it comes (journalctl -k -f | vigil ingest
firewall -): events leave in batches of up to 4096, at least every 200 ms.
The exit status is 0 when every packet line was delivered, 1 when some were
bad, and 2 when delivery failed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if utc {
				o.Location = time.UTC
			}
			p, err := fwlog.NewParser(o)
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			in, name, closeIn, err := openInput(args[0])
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			defer closeIn()
			lr := event.NewLineReader(in, 0)
			ids := event.NewRandomIDs()
			next := func() (event.Event, error) {
				for {
					line, err := lr.Next()
					if err != nil {
						return event.Event{}, err
					}
					ev, err := p.Parse(line)
					if errors.Is(err, fwlog.ErrNotPacketLog) {
						continue
					}
					if err == nil {
						err = ev.Normalize(ids, time.Now(), "firewall")
					}
					if err != nil {
						return event.Event{}, &event.LineError{Line: lr.Line(), Err: err}
					}
					return ev, nil
				}
			}
			return e.ingest(cmd.Context(), ingestRun{name: name, next: next, bus: bf, stdout: stdout, client: "vigil ingest firewall"})
		},
	}
	fs := cmd.Flags()
	bf.register(fs, "nats://127.0.0.1:4222")
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
	f.bus.register(fs, "nats://127.0.0.1:4222")
	fs.BoolVar(&f.stdout, "stdout", false, "print the events as JSON lines instead of publishing them")
	fs.BoolVar(&f.follow, "follow", false, "follow the file as it grows, across rotation and truncation (like tail -F), until interrupted")
	fs.StringVar(&f.source, "source", tool, "source recorded on the events")
	fs.BoolVar(&f.utc, "utc", false, "timestamps without a zone are UTC (default: local time)")
}

// nidsFormat is one alert format a command reads: its flag and decoder.
type nidsFormat struct {
	flag  string
	file  string
	parse func(*nids.Parser) func([]byte) (event.Event, error)
}

// ingestAlerts publishes the alerts of the one format whose flag was
// given: each alert line becomes a NIDS.ALERT event; records that are not
// alerts are counted and skipped; malformed lines are reported with
// their number and skipped.
func (e *env) ingestAlerts(ctx context.Context, f *nidsFlags, formats []nidsFormat, client string) error {
	var chosen *nidsFormat
	var names []string
	for i := range formats {
		names = append(names, "--"+formats[i].flag)
		if formats[i].file == "" {
			continue
		}
		if chosen != nil {
			return &exitError{code: ExitFailure, err: fmt.Errorf("--%s and --%s: give one input", chosen.flag, formats[i].flag)}
		}
		chosen = &formats[i]
	}
	if chosen == nil {
		return &exitError{code: ExitFailure, err: fmt.Errorf("no input: give %s with a file, or - for standard input", strings.Join(names, " or "))}
	}
	o := nids.Options{Source: f.source}
	if f.utc {
		o.Location = time.UTC
	}
	p, err := nids.NewParser(o)
	if err != nil {
		return &exitError{code: ExitFailure, err: err}
	}
	var (
		in      io.Reader
		name    = chosen.file
		closeIn func()
	)
	switch {
	case f.follow && chosen.file == "-":
		return &exitError{code: ExitFailure, err: errors.New("--follow follows a file; standard input is always read as it comes")}
	case f.follow:
		fl, err := follow.Open(ctx, chosen.file, follow.Options{})
		if err != nil {
			return &exitError{code: ExitFailure, err: err}
		}
		in, closeIn = fl, func() { fl.Close() }
	default:
		if in, name, closeIn, err = openInput(chosen.file); err != nil {
			return &exitError{code: ExitFailure, err: err}
		}
	}
	defer closeIn()
	parse := chosen.parse(p)
	lr := event.NewLineReader(in, nids.MaxLineBytes)
	ids := event.NewRandomIDs()
	var others atomic.Int64
	next := func() (event.Event, error) {
		for {
			line, err := lr.Next()
			if err != nil {
				return event.Event{}, err
			}
			ev, err := parse(line)
			if errors.Is(err, nids.ErrNotAlert) {
				others.Add(1)
				continue
			}
			if err == nil {
				err = ev.Normalize(ids, time.Now(), f.source)
			}
			if err != nil {
				return event.Event{}, &event.LineError{Line: lr.Line(), Err: err}
			}
			return ev, nil
		}
	}
	err = e.ingest(ctx, ingestRun{name: name, next: next, bus: f.bus, stdout: f.stdout, client: client})
	if n := others.Load(); n == 1 {
		fmt.Fprintln(e.stderr, "skipped 1 record that is not an alert")
	} else if n > 1 {
		fmt.Fprintf(e.stderr, "skipped %d records that are not alerts\n", n)
	}
	return err
}

const nidsHelpTail = `
The event's ip is the alert's destination (the attacked host) and its
attributes are src, dst, sport, dport, proto, gid, sid, rev, msg,
classification, priority and action where the alert has them (see
docs/INGEST.md). Its time is the alert's own; timestamps without a zone are
local time unless --utc, and those without a year (Snort's MM/DD-...) take
the year that puts them nearest before now.

A finished file is read to its end and the command exits; with --follow the
file is followed as it grows, across rotation (rename and a new file) and
truncation, like tail -F, until SIGINT or SIGTERM. Standard input ("-") is
always read as it comes, so --follow does not apply to it. Events leave in
batches of up to 4096, at least every 200 ms. A malformed line is reported
with its line number and skipped; the others are delivered. The exit status
is 0 when every alert was delivered, 1 when some lines were bad, and 2 when
delivery failed.`

func ingestSuricataCmd(e *env) *cobra.Command {
	var f nidsFlags
	formats := []nidsFormat{
		{flag: "eve", parse: func(p *nids.Parser) func([]byte) (event.Event, error) { return p.ParseEVE }},
		{flag: "fast", parse: func(p *nids.Parser) func([]byte) (event.Event, error) { return p.ParseFast }},
	}
	cmd := &cobra.Command{
		Use:   "suricata [--bus URL | --stdout] [--follow] --eve FILE|-",
		Short: "Publish Suricata's alerts (EVE JSON) as NIDS.ALERT events",
		Long: `Read Suricata's EVE JSON log (eve.json: one record per line) from FILE or
standard input and publish each alert record as a NIDS.ALERT event, with
the sensor's host name (the record's "host"), flow_id, app_proto, in_iface
and community_id as well. The other records (dns, flow, http, tls,
fileinfo, stats ...) are skipped and counted. --fast reads Suricata's
fast.log instead.
` + nidsHelpTail,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.ingestAlerts(cmd.Context(), &f, formats, "vigil ingest suricata")
		},
	}
	f.register(cmd, nids.SourceSuricata)
	cmd.Flags().StringVar(&formats[0].file, "eve", "", "EVE JSON file to read (- for standard input)")
	cmd.Flags().StringVar(&formats[1].file, "fast", "", "fast.log file to read instead (- for standard input)")
	return cmd
}

func ingestSnortCmd(e *env) *cobra.Command {
	var f nidsFlags
	formats := []nidsFormat{
		{flag: "fast", parse: func(p *nids.Parser) func([]byte) (event.Event, error) { return p.ParseFast }},
		{flag: "json", parse: func(p *nids.Parser) func([]byte) (event.Event, error) { return p.ParseSnortJSON }},
	}
	cmd := &cobra.Command{
		Use:   "snort [--bus URL | --stdout] [--follow] (--fast FILE|- | --json FILE|-)",
		Short: "Publish Snort's alerts (alert_fast, Snort 3 alert_json) as NIDS.ALERT events",
		Long: `Read Snort's alerts from FILE or standard input and publish each as a
NIDS.ALERT event: --fast reads the alert_fast lines of Snort 2 and 3 (and
Suricata's fast.log, the same layout), --json the lines of Snort 3's
alert_json, with whichever of its fields the sensor writes (the default
set, or more: msg, class, priority, gid, sid, rev, src_addr, dst_addr ...).
` + nidsHelpTail,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.ingestAlerts(cmd.Context(), &f, formats, "vigil ingest snort")
		},
	}
	f.register(cmd, nids.SourceSnort)
	cmd.Flags().StringVar(&formats[0].file, "fast", "", "alert_fast file to read (- for standard input)")
	cmd.Flags().StringVar(&formats[1].file, "json", "", "Snort 3 alert_json file to read (- for standard input)")
	return cmd
}

// openInput opens FILE, or standard input for "-".
func openInput(arg string) (io.Reader, string, func(), error) {
	if arg == "-" {
		return os.Stdin, "stdin", func() {}, nil
	}
	f, err := os.Open(arg)
	if err != nil {
		return nil, "", nil, err
	}
	return f, arg, func() { f.Close() }, nil
}

// ingestRun is one ingest: where events come from and where they go.
type ingestRun struct {
	name   string                      // of the input, for messages
	next   func() (event.Event, error) // io.EOF at the end; *event.LineError for a skipped line
	bus    busFlags
	stdout bool
	client string
}

// ingestWait is the longest an event read waits before it is published.
const ingestWait = 200 * time.Millisecond

// ingest publishes what r.next reads: in batches of ingestBatch, and at
// least every ingestWait, so a pipe that trickles is delivered as it
// comes. Bad lines are reported on stderr with their line number.
func (e *env) ingest(ctx context.Context, r ingestRun) error {
	var publish func(context.Context, []event.Event) (int, error)
	if r.stdout {
		sink := host.NewJSONSink(e.stdout)
		publish = func(_ context.Context, evs []event.Event) (int, error) { return len(evs), sink.Write(evs) }
	} else {
		opts, err := clientOptions(r.bus.apply(config.BusClient{}, nil), r.client)
		if err != nil {
			return &exitError{code: ExitFailure, err: err}
		}
		opts.Logger = e.log
		conn, err := bus.Connect(ctx, opts)
		if err != nil {
			return &exitError{code: ExitFailure, err: err}
		}
		defer conn.Close()
		if err := conn.EnsureStreams(ctx, bus.StreamLimits{}); err != nil {
			return &exitError{code: ExitFailure, err: err}
		}
		publish = conn.PublishEvents
	}
	type item struct {
		ev  event.Event
		err error
	}
	items := make(chan item, ingestBatch)
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		defer close(items)
		for {
			ev, err := r.next()
			select {
			case items <- item{ev, err}:
			case <-rctx.Done():
				return
			}
			var le *event.LineError
			if err != nil && !errors.As(err, &le) {
				return
			}
		}
	}()
	var batch []event.Event
	published, bad := 0, 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, err := publish(ctx, batch)
		published += n
		batch = batch[:0]
		if err != nil {
			return &exitError{code: ExitFailure, err: fmt.Errorf("%w (published %d events)", err, published)}
		}
		return nil
	}
	timer := time.NewTimer(ingestWait)
	defer timer.Stop()
	for done := false; !done; {
		select {
		case it, ok := <-items:
			if !ok {
				done = true
				break
			}
			var le *event.LineError
			switch {
			case it.err == nil:
				if len(batch) == 0 {
					timer.Reset(ingestWait)
				}
				batch = append(batch, it.ev)
				if len(batch) == ingestBatch {
					if err := flush(); err != nil {
						return err
					}
				}
			case errors.Is(it.err, io.EOF):
				done = true
			case errors.As(it.err, &le):
				bad++
				fmt.Fprintf(e.stderr, "%s:%d: %v\n", r.name, le.Line, le.Err)
			default:
				_ = flush()
				return &exitError{code: ExitFailure, err: fmt.Errorf("reading %s: %w (published %d events)", r.name, it.err, published)}
			}
		case <-timer.C:
			if err := flush(); err != nil {
				return err
			}
		case <-ctx.Done():
			done = true
		}
	}
	if err := flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "published %d events, %d bad lines\n", published, bad)
	if bad > 0 {
		return partial("%d bad lines in %s were skipped", bad, r.name)
	}
	return nil
}
