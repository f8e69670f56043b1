package cli

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/node"
	"github.com/vigil-ids/vigil/internal/sensor/netsensor"
)

func netsensorCmd(e *env) *cobra.Command {
	var (
		iface, pcapFile, cfgFile string
		stdout                   bool
		bf                       busFlags
		n                        config.NetSensor
	)
	cmd := &cobra.Command{
		Use:   "netsensor (--iface IF | --pcap FILE) [--stdout | --bus URL]",
		Short: "Run the network sensor: turn a gateway's traffic into records",
		Long:  help("netsensor"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (iface == "") == (pcapFile == "") {
				return fail(errors.New("give one of --iface or --pcap"))
			}
			ro, err := e.optionalConfig(cfgFile)
			if err != nil {
				return err
			}
			sec, fl := ro.NetSensor, cmd.Flags()
			set(fl.Changed("id"), &sec.ID, n.ID)
			set(fl.Changed("summary-interval"), &sec.SummaryInterval, n.SummaryInterval)
			set(fl.Changed("max-flows"), &sec.MaxFlows, n.MaxFlows)
			set(fl.Changed("attempt-timeout"), &sec.AttemptTimeout, n.AttemptTimeout)
			set(fl.Changed("services"), &sec.Services, n.Services)
			set(fl.Changed("internal"), &sec.Internal, n.Internal)
			set(fl.Changed("spool-dir"), &sec.SpoolDir, n.SpoolDir)
			if err := config.ValidateNetSensor(sec); err != nil {
				return fail(err)
			}
			var src netsensor.Source
			if pcapFile != "" {
				src, err = netsensor.OpenFile(pcapFile)
			} else {
				src, err = netsensor.OpenLive(iface, netsensor.LiveOptions{})
			}
			if err != nil {
				return fail(err)
			}
			defer src.Close()
			o := node.SensorOptions{Bus: bf.apply(ro.Bus, ro.Resolve), Logger: e.log}
			if iface != "" {
				o.Logger = e.log.With("iface", iface)
			}
			if stdout {
				o.Stdout = e.stdout
			}
			return failed(node.RunNetsensor(cmd.Context(), sec, src, pcapFile != "", o))
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&iface, "iface", "", "capture live on this interface")
	fs.StringVar(&pcapFile, "pcap", "", "read this pcap or pcapng file")
	fs.BoolVar(&stdout, "stdout", false, "print records as JSON lines instead of publishing them")
	fs.StringVar(&cfgFile, "config", "", "resource object whose netsensor (and bus) sections configure the sensor")
	fs.StringVar(&n.ID, "id", "", "name of this sensor (default: the hostname)")
	fs.DurationVar(&n.SummaryInterval, "summary-interval", config.DefaultSummaryInterval, "length of interval summaries")
	fs.IntVar(&n.MaxFlows, "max-flows", config.DefaultMaxFlows, "bound of the flow table")
	fs.DurationVar(&n.AttemptTimeout, "attempt-timeout", config.DefaultAttemptTimeout, "wait for an answer before an attempt is unanswered")
	fs.StringSliceVar(&n.Services, "services", nil, "the site's services, ADDR:PORT/PROTO (others are the unassigned stream)")
	fs.StringSliceVar(&n.Internal, "internal", nil, "the site's networks, CIDR (records carry their direction: inbound is pass-through traffic)")
	fs.StringVar(&n.SpoolDir, "spool-dir", "", "spool of records waiting for the bus")
	bf.register(fs)
	return cmd
}
