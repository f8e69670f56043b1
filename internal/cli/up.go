package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/configs"
	"github.com/vigil-ids/vigil/internal/auth"
	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/node"
	"github.com/vigil-ids/vigil/internal/web"
)

func upCmd(e *env) *cobra.Command {
	var (
		listen, busListen, dataDir, cfgFile string
		noAgent                             bool
		af                                  agentFlags
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run everything on this machine: embedded bus, monitor, store and live page",
		Long:  help("up"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			regs, engines := node.Registries()
			cfg, err := config.Load(configs.Default(), "default.yaml (built in)", regs)
			if cfgFile != "" {
				cfg, engines, err = e.loadConfig(cfgFile)
			}
			if err != nil {
				return fail(err)
			}
			if cmd.Flags().Changed("bus-listen") || cfgFile == "" {
				cfg.Server.Listen = busListen
				if err := config.ValidateServer(cfg); err != nil {
					return fail(err)
				}
			}
			if err := checkListen(listen, dataDir); err != nil {
				return err
			}
			var leaf string // the banner's line on leaf nodes, when the bus has them
			o := node.MonitorOptions{
				Config: cfg, Engines: engines, DataDir: dataDir, Embedded: true, Listen: listen, Logger: e.log,
				Ready: func(httpURL, busURL, abs string) {
					login := "none (loopback, no accounts)"
					if n, err := auth.Open(abs).Count(); err != nil || n > 0 || !web.IsLoopback(listen) {
						login = "required (accounts: vigil users list --data " + abs + ")"
					}
					fmt.Fprintf(e.stdout, "Vigil is up (monitor %q).\n  live page:  %s/\n  login:      %s\n  API:        %s/api/events  %s/api/reports\n  health:     %s/healthz\n  metrics:    %s/metrics\n  bus:        %s (sensors: --bus-identity %s)\n  data:       %s\n%sPress Ctrl-C to stop.\n",
						cfg.Monitor.Name, httpURL, login, httpURL, httpURL, httpURL, httpURL, busURL, filepath.Join(node.IdentityDir(abs), bus.SensorIdentityFile), abs, leaf)
				},
			}
			o.Leaf = func(status string) { leaf = "  leaf:       " + status + "\n" }
			if !noAgent {
				if cfg.Agent, err = af.apply(cmd, "agent-", cfg.Agent); err != nil {
					return fail(err)
				}
				o.Agent = &cfg.Agent
			}
			if err := node.RunMonitor(cmd.Context(), o); err != nil {
				return fail(err)
			}
			fmt.Fprintln(e.stdout, "Vigil stopped.")
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&listen, "listen", config.DefaultHTTPListen, "HTTP address of the live page and API")
	fs.StringVar(&busListen, "bus-listen", config.DefaultBusListen, "address of the embedded NATS bus")
	fs.StringVar(&dataDir, "data", config.DefaultDataDir, "data directory (store, bus files)")
	fs.StringVar(&cfgFile, "config", "", "resource object (default: the built-in one)")
	fs.BoolVar(&noAgent, "no-agent", false, "do not run the local host sensor")
	af.register(cmd, "agent-")
	return cmd
}

// checkListen refuses an HTTP address reachable from other machines when
// the data directory holds no accounts to log in with, saying what to
// create.
func checkListen(listen, dataDir string) error {
	if err := web.CheckListen(listen, auth.Open(dataDir), false); err != nil {
		return fail(err)
	}
	return nil
}
