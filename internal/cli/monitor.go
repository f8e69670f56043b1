package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/web"
)

func monitorCmd(e *env) *cobra.Command {
	var (
		cfgFile, dataDir, listen, busListen string
		insecureHTTP                        bool
		bf                                  busFlags
	)
	cmd := &cobra.Command{
		Use:   "monitor --config FILE",
		Short: "Run one monitor from a resource object, on an external bus",
		Long: `Run the monitor a resource object describes: at the service, domain or
enterprise layer, the code is the same and only the resource object differs.
The monitor connects to the bus of --bus (or of the resource object's bus
section); with --bus-listen it runs an embedded bus server instead. Its
store lives under --data; with --listen it also serves the HTTP API.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, engines, err := e.loadConfig(cfgFile)
			if err != nil {
				return err
			}
			s := &stack{cfg: cfg, engines: engines, listen: listen}
			if s.dataDir, err = filepath.Abs(dataDir); err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			if busListen != "" {
				cfg.Server.Listen = busListen
				if err := config.ValidateServer(cfg); err != nil {
					return &exitError{code: ExitFailure, err: err}
				}
				s.embedded = true
			} else {
				s.busClient = bf.apply(cfg.Bus, cfg.Resolve)
				if s.busClient.URL == "" {
					s.busClient.URL = "nats://127.0.0.1:4222"
				}
			}
			if listen != "" && !web.IsLoopback(listen) && !insecureHTTP {
				return &exitError{code: ExitFailure, err: fmt.Errorf("--listen %s is reachable from other machines and the HTTP API has no authentication yet; use a loopback address or pass --insecure-http", listen)}
			}
			s.ready = func(httpURL, busURL string) {
				e.log.Info("monitor up", "monitor", cfg.Monitor.Name, "layer", cfg.Monitor.Layer, "bus", busURL, "http", httpURL, "data", s.dataDir)
			}
			if err := s.run(cmd.Context(), e); err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&cfgFile, "config", "", "resource object (required)")
	fs.StringVar(&dataDir, "data", "./vigil-data", "data directory (store)")
	fs.StringVar(&listen, "listen", "", "HTTP address of the API and live page (default: none)")
	fs.StringVar(&busListen, "bus-listen", "", "run an embedded bus server on this address instead of connecting to one")
	fs.BoolVar(&insecureHTTP, "insecure-http", false, "allow --listen on a non-loopback address")
	bf.register(fs, "")
	return cmd
}
