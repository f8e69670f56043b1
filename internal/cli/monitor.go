package cli

import (
	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/node"
)

func monitorCmd(e *env) *cobra.Command {
	var (
		cfgFile, dataDir, listen, busListen string
		bf                                  busFlags
	)
	cmd := &cobra.Command{
		Use:   "monitor --config FILE",
		Short: "Run one monitor from a resource object, on an external bus",
		Long:  help("monitor"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, engines, err := e.loadConfig(cfgFile)
			if err != nil {
				return err
			}
			o := node.MonitorOptions{Config: cfg, Engines: engines, DataDir: dataDir, Listen: listen, Logger: e.log}
			if busListen != "" {
				cfg.Server.Listen = busListen
				if err := config.ValidateServer(cfg); err != nil {
					return fail(err)
				}
				o.Embedded = true
			} else {
				o.Bus = bf.apply(cfg.Bus, cfg.Resolve)
			}
			if err := checkListen(listen, dataDir); err != nil {
				return err
			}
			o.Leaf = func(status string) {
				e.log.Info("bus leaf nodes", "monitor", cfg.Monitor.Name, "status", status)
			}
			o.Ready = func(httpURL, busURL, dataDir string) {
				e.log.Info("monitor up", "monitor", cfg.Monitor.Name, "layer", cfg.Monitor.Layer, "bus", busURL, "http", httpURL, "data", dataDir)
			}
			return failed(node.RunMonitor(cmd.Context(), o))
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&cfgFile, "config", "", "resource object (required)")
	fs.StringVar(&dataDir, "data", config.DefaultDataDir, "data directory (store)")
	fs.StringVar(&listen, "listen", "", "HTTP address of the API and live page (default: none)")
	fs.StringVar(&busListen, "bus-listen", "", "run an embedded bus server on this address instead of connecting to one")
	bf.register(fs)
	return cmd
}
