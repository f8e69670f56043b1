package cli

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/engine/profile"
	"github.com/vigil-ids/vigil/internal/store"
)

func profilesCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profiles",
		Short: "Export or import a profile engine's learnt profiles (training on one site, deploying on another)",
		Long: `A profile engine keeps what it learnt in the monitor's store (or in the file
its state setting names). Export writes an engine's profiles from a store
(the monitor stopped) as JSON lines; import puts such a file into a store,
for an engine of the same classes and measures, checking it first.`,
	}
	cmd.AddCommand(profilesExportCmd(e), profilesImportCmd(e))
	return cmd
}

func openStore(cmd *cobra.Command, dataDir string, logger *slog.Logger) (*store.Store, error) {
	path := filepath.Join(dataDir, "vigil.db")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no store in %s: %w", dataDir, err)
	}
	return store.Open(cmd.Context(), store.Options{Path: path, Logger: logger})
}

func profilesExportCmd(e *env) *cobra.Command {
	var dataDir, engineName, out string
	cmd := &cobra.Command{
		Use:   "export --engine NAME",
		Short: "Write a profile engine's profiles from a store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(cmd, dataDir, e.log)
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			defer st.Close()
			data, at, err := profile.LoadStore(cmd.Context(), st, profile.StateName(engineName))
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			if data == nil {
				return &exitError{code: ExitFailure, err: fmt.Errorf("the store in %s holds no profiles of an engine named %q", dataDir, engineName)}
			}
			w := e.stdout
			if out != "" && out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return &exitError{code: ExitFailure, err: err}
				}
				defer f.Close()
				w = f
			}
			if _, err := w.Write(data); err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			e.log.Info("profiles exported", "engine", engineName, "saved", at.Format(time.RFC3339), "bytes", len(data))
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&dataDir, "data", "./vigil-data", "the monitor's data directory")
	fs.StringVar(&engineName, "engine", "", "the profile engine's name in the resource object")
	fs.StringVar(&out, "out", "-", "file to write (- : standard output)")
	_ = cmd.MarkFlagRequired("engine")
	return cmd
}

func profilesImportCmd(e *env) *cobra.Command {
	var dataDir, engineName, cfgFile string
	cmd := &cobra.Command{
		Use:   "import --engine NAME --config FILE PROFILES",
		Short: "Put exported profiles into a store, for a profile engine of a resource object",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, _, err := e.loadConfig(cfgFile)
			if err != nil {
				return err
			}
			if engineName == "" {
				return &exitError{code: ExitFailure, err: fmt.Errorf("--engine names the profile engine")}
			}
			classes, err := profile.ClassesIn(cfg, engineName)
			if err != nil {
				return &exitError{code: ExitFailure, err: fmt.Errorf("%s: %w", cfgFile, err)}
			}
			var in io.Reader = os.Stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return &exitError{code: ExitFailure, err: err}
				}
				defer f.Close()
				in = f
			}
			data, err := profile.ReadState(in, args[0])
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			// Checked against the engine's classes before it is kept; what
			// is kept is the profiles as this configuration reads them.
			p := profile.New(classes, profile.Options{})
			n, err := p.Import(bytes.NewReader(data))
			if err != nil {
				return &exitError{code: ExitFailure, err: fmt.Errorf("%s: %w (nothing imported)", args[0], err)}
			}
			if err := os.MkdirAll(dataDir, 0o755); err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			st, err := store.Open(cmd.Context(), store.Options{Path: filepath.Join(dataDir, "vigil.db"), Logger: e.log})
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			defer st.Close()
			if err := p.SaveStore(cmd.Context(), st, profile.StateName(engineName), time.Now().UTC(), true); err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			fmt.Fprintf(e.stdout, "imported the profiles of %d subjects for engine %s into %s\n", n, engineName, dataDir)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&dataDir, "data", "./vigil-data", "the monitor's data directory")
	fs.StringVar(&engineName, "engine", "", "the profile engine's name in the resource object")
	fs.StringVar(&cfgFile, "config", "", "the resource object the monitor runs")
	_ = cmd.MarkFlagRequired("engine")
	return cmd
}
