package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/netspec"
	"github.com/vigil-ids/vigil/internal/sensor/deliver"
	"github.com/vigil-ids/vigil/internal/sensor/host"
	"github.com/vigil-ids/vigil/internal/sensor/netsensor"
)

// sensorConfig turns a netsensor section into the sensor's configuration
// (the section was validated when it was loaded).
func sensorConfig(n config.NetSensor) (netsensor.Config, error) {
	c := netsensor.Config{
		ID: n.ID, SummaryInterval: n.SummaryInterval, MaxFlows: n.MaxFlows, AttemptTimeout: n.AttemptTimeout,
		TCPIdle: n.TCPIdle, UDPIdle: n.UDPIdle, RecordBudget: n.RecordBudget, MaxSubjects: n.MaxSubjects,
		Subjects: n.Subjects, BannerBytes: n.BannerBytes,
	}
	if c.ID == "" {
		c.ID, _ = os.Hostname()
	}
	for _, s := range n.Services {
		svc, err := netspec.ParseService(s)
		if err != nil {
			return c, err
		}
		c.Services = append(c.Services, svc)
	}
	var err error
	if c.Internal, err = netspec.ParsePrefixes(n.Internal); err != nil {
		return c, err
	}
	for _, st := range n.Streams {
		out := netsensor.Stream{Name: st.Name, Unassigned: st.Unassigned, Apps: st.Apps, Direction: st.Direction}
		for _, p := range st.Protocols {
			pr, err := netspec.ParseProto(p)
			if err != nil {
				return c, err
			}
			out.Protocols = append(out.Protocols, pr)
		}
		if out.Src, err = netspec.ParsePrefixes(st.Src); err != nil {
			return c, err
		}
		if out.Dst, err = netspec.ParsePrefixes(st.Dst); err != nil {
			return c, err
		}
		for _, p := range st.Ports {
			out.Ports = append(out.Ports, uint16(p))
		}
		for _, f := range st.Flags {
			fl, err := netspec.ParseFlags(f)
			if err != nil {
				return c, err
			}
			out.Flags = append(out.Flags, fl)
		}
		c.Streams = append(c.Streams, out)
	}
	return c, nil
}

func netsensorCmd(e *env) *cobra.Command {
	var (
		iface, pcapFile, cfgFile string
		stdout                   bool
		bf                       busFlags
		n                        config.NetSensor
		services, internal       []string
	)
	cmd := &cobra.Command{
		Use:   "netsensor (--iface IF | --pcap FILE) [--stdout | --bus URL]",
		Short: "Run the network sensor: turn a gateway's traffic into records",
		Long: `Capture traffic live on an interface (AF_PACKET, TPACKET_V3; needs root or
CAP_NET_RAW) or read a pcap or pcapng file, follow its flows, and turn it into
records: connection attempts with their outcome (established, refused,
unanswered), transport-management probes (FIN, NULL, XMAS ...), ICMP
messages, HTTP, FTP, SMTP and DNS requests with their replies, banners of
services on unassigned ports, and interval summaries per gateway, source,
destination, service and stream (docs/NETSENSOR.md).

With --stdout the records are printed as JSON lines; otherwise they are
published durably to the bus through an on-disk spool, like the host
sensor's.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (iface == "") == (pcapFile == "") {
				return &exitError{code: ExitFailure, err: fmt.Errorf("give one of --iface or --pcap")}
			}
			ro := config.Default()
			if cfgFile != "" {
				var err error
				if ro, _, err = e.loadConfig(cfgFile); err != nil {
					return err
				}
			}
			sec := ro.NetSensor
			fl := cmd.Flags()
			if fl.Changed("id") {
				sec.ID = n.ID
			}
			if fl.Changed("summary-interval") {
				sec.SummaryInterval = n.SummaryInterval
			}
			if fl.Changed("max-flows") {
				sec.MaxFlows = n.MaxFlows
			}
			if fl.Changed("attempt-timeout") {
				sec.AttemptTimeout = n.AttemptTimeout
			}
			if fl.Changed("services") {
				sec.Services = services
			}
			if fl.Changed("internal") {
				sec.Internal = internal
			}
			if fl.Changed("spool-dir") {
				sec.SpoolDir = n.SpoolDir
			}
			if err := config.ValidateNetSensor(sec); err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			scfg, err := sensorConfig(sec)
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			var src netsensor.Source
			if pcapFile != "" {
				src, err = netsensor.OpenFile(pcapFile)
			} else {
				src, err = netsensor.OpenLive(iface, netsensor.LiveOptions{})
			}
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			defer src.Close()
			if iface != "" {
				e.log.Info("netsensor capturing", "iface", iface, "id", scfg.ID)
			}
			ctx := cmd.Context()
			if stdout {
				sink := host.NewJSONSink(e.stdout)
				b := &batcher{write: sink.Write, log: e.log}
				s := netsensor.New(scfg, nil, b.add, e.log)
				err := s.Run(ctx, &batchingSource{Source: src, b: b})
				b.flush()
				st := s.Stats()
				e.log.Info("netsensor done", "packets", st.Packets, "records", st.Records, "decode_errors", st.DecodeErrors,
					"skipped", st.Skipped, "suppressed", st.Suppressed, "flows_evicted", st.FlowsEvicted, "kernel_drops", st.KernelDrops)
				if err != nil {
					return &exitError{code: ExitFailure, err: err}
				}
				return nil
			}
			conn, publish, err := sensorBus(ctx, e, bf, ro, "vigil netsensor "+scfg.ID)
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			defer conn.Close()
			if sec.SpoolDir == "" {
				sec.SpoolDir = filepath.Join("vigil-data", "netsensor-spool")
			}
			d, err := deliver.Open(deliver.Options{Dir: sec.SpoolDir, MaxBytes: sec.SpoolMaxBytes, HostID: scfg.ID, Source: scfg.ID, Logger: e.log,
				Publish: publish})
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			b := &batcher{write: d.Write, log: e.log}
			s := netsensor.New(scfg, nil, b.add, e.log)
			g, gctx := errgroup.WithContext(ctx)
			sensorDone := make(chan struct{})
			g.Go(func() error {
				defer close(sensorDone)
				err := s.Run(gctx, &batchingSource{Source: src, b: b})
				b.flush()
				return err
			})
			g.Go(func() error {
				dctx, cancel := context.WithCancel(context.WithoutCancel(gctx))
				go func() {
					<-sensorDone
					// What was recorded leaves before we do, when the bus is
					// there: all of a capture file's records (within a
					// bound), what a live capture had in hand on SIGTERM.
					limit := 2 * time.Second
					if pcapFile != "" {
						limit = 30 * time.Second
					}
					deadline := time.Now().Add(limit)
					for d.Delivered()+d.Dropped() < b.written && time.Now().Before(deadline) {
						time.Sleep(20 * time.Millisecond)
					}
					if left := int64(b.written) - int64(d.Delivered()+d.Dropped()); left > 0 {
						e.log.Warn("records left in the spool for the next run", "records", left, "spool", sec.SpoolDir)
					}
					cancel()
				}()
				d.Run(dctx)
				return nil
			})
			if err := g.Wait(); err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&iface, "iface", "", "capture live on this interface")
	fs.StringVar(&pcapFile, "pcap", "", "read this pcap or pcapng file")
	fs.BoolVar(&stdout, "stdout", false, "print records as JSON lines instead of publishing them")
	fs.StringVar(&cfgFile, "config", "", "resource object whose netsensor (and bus) sections configure the sensor")
	fs.StringVar(&n.ID, "id", "", "name of this sensor (default: the hostname)")
	fs.DurationVar(&n.SummaryInterval, "summary-interval", 10*time.Second, "length of interval summaries")
	fs.IntVar(&n.MaxFlows, "max-flows", 1<<18, "bound of the flow table")
	fs.DurationVar(&n.AttemptTimeout, "attempt-timeout", 5*time.Second, "wait for an answer before an attempt is unanswered")
	fs.StringSliceVar(&services, "services", nil, "the site's services, ADDR:PORT/PROTO (others are the unassigned stream)")
	fs.StringSliceVar(&internal, "internal", nil, "the site's networks, CIDR (records carry their direction: inbound is pass-through traffic)")
	fs.StringVar(&n.SpoolDir, "spool-dir", "", "spool of records waiting for the bus")
	bf.register(fs, "")
	return cmd
}

// batcher collects the sensor's records and writes them (to the spool, or
// standard output) in batches: when 100 are waiting, or when the oldest
// has waited 200 ms. It is used from the sensor's goroutine only.
type batcher struct {
	write   func([]event.Event) error
	log     *slog.Logger
	written uint64 // records handed to write (read once the sensor is done)
	batch   []event.Event
	since   time.Time
}

func (b *batcher) add(ev event.Event) {
	if len(b.batch) == 0 {
		b.since = time.Now()
	}
	b.batch = append(b.batch, ev)
	if len(b.batch) >= 100 {
		b.flush()
	}
}

func (b *batcher) flush() {
	if len(b.batch) == 0 {
		return
	}
	if err := b.write(b.batch); err != nil {
		b.log.Error("writing records", "err", err)
	} else {
		b.written += uint64(len(b.batch))
	}
	b.batch = b.batch[:0]
}

// batchingSource flushes the batcher when records have waited too long,
// between packets and whenever the capture pauses.
type batchingSource struct {
	netsensor.Source
	b *batcher
	n int
}

func (s *batchingSource) Next() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := s.Source.Next()
	s.n++
	if len(s.b.batch) > 0 && (err != nil || s.n%256 == 0 && time.Since(s.b.since) > 200*time.Millisecond) {
		s.b.flush()
	}
	return data, ci, err
}
