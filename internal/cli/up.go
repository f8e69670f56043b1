package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/configs"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/web"
)

func upCmd(e *env) *cobra.Command {
	var (
		listen, busListen, dataDir, cfgFile string
		insecureHTTP, noAgent               bool
		af                                  agentFlags
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run everything on this machine: embedded bus, monitor, store and live page",
		Long: `Run Vigil on this machine with no configuration: an embedded NATS bus with
JetStream, a monitor running the default resource object (or --config), its
SQLite store under --data, and an HTTP server with the live page, the JSON
API, /healthz and /metrics, and a host sensor sampling this machine (flags
--agent-*, or --no-agent). SIGINT or SIGTERM stops it within 5 seconds, with
everything already accepted flushed to the store.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			regs, engines := e.registries()
			var cfg *config.ResourceObject
			var err error
			if cfgFile != "" {
				cfg, err = config.LoadFile(cfgFile, regs)
			} else {
				cfg, err = config.Load(configs.Default(), "default.yaml (built in)", regs)
			}
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			if cmd.Flags().Changed("bus-listen") || cfgFile == "" {
				cfg.Server.Listen = busListen
				if err := revalidateServer(cfg); err != nil {
					return &exitError{code: ExitFailure, err: err}
				}
			}
			if !web.IsLoopback(listen) && !insecureHTTP {
				return &exitError{code: ExitFailure, err: fmt.Errorf("--listen %s is reachable from other machines and the HTTP API has no authentication yet; use a loopback address or pass --insecure-http", listen)}
			}
			abs, err := filepath.Abs(dataDir)
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			if !noAgent {
				a, err := af.apply(cmd, "agent-", cfg.Agent)
				if err != nil {
					return &exitError{code: ExitFailure, err: err}
				}
				cfg.Agent = a
			}
			s := &stack{
				cfg: cfg, engines: engines, dataDir: abs, embedded: true, listen: listen,
				ready: func(httpURL, busURL string) {
					fmt.Fprintf(e.stdout, "Vigil is up (monitor %q).\n  live page:  %s/\n  API:        %s/api/events  %s/api/reports\n  health:     %s/healthz\n  metrics:    %s/metrics\n  bus:        %s\n  data:       %s\nPress Ctrl-C to stop.\n",
						cfg.Monitor.Name, httpURL, httpURL, httpURL, httpURL, httpURL, busURL, abs)
				},
			}
			if !noAgent {
				s.agent = &cfg.Agent
			}
			if err := s.run(cmd.Context(), e); err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			fmt.Fprintln(e.stdout, "Vigil stopped.")
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&listen, "listen", "127.0.0.1:8080", "HTTP address of the live page and API")
	fs.StringVar(&busListen, "bus-listen", "127.0.0.1:4222", "address of the embedded NATS bus")
	fs.StringVar(&dataDir, "data", "./vigil-data", "data directory (store, bus files)")
	fs.StringVar(&cfgFile, "config", "", "resource object (default: the built-in one)")
	fs.BoolVar(&insecureHTTP, "insecure-http", false, "allow --listen on a non-loopback address")
	fs.BoolVar(&noAgent, "no-agent", false, "do not run the local host sensor")
	af.register(cmd, "agent-")
	return cmd
}

// revalidateServer checks the server section after a flag changed it.
func revalidateServer(cfg *config.ResourceObject) error {
	return config.ValidateServer(cfg)
}
