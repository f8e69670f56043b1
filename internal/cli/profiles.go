package cli

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine/profile"
	"github.com/vigil-ids/vigil/internal/ingest"
)

func profilesCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profiles",
		Short: "Export or import a profile engine's learnt profiles (training on one site, deploying on another)",
		Long:  help("profiles"),
	}
	cmd.AddCommand(profilesExportCmd(e), profilesImportCmd(e))
	return cmd
}

func profilesExportCmd(e *env) *cobra.Command {
	var dataDir, engineName, out string
	cmd := &cobra.Command{
		Use:   "export --engine NAME",
		Short: "Write a profile engine's profiles from a store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var buf bytes.Buffer
			at, size, err := profile.ExportStore(cmd.Context(), dataDir, engineName, &buf, e.log)
			if err == nil && (out == "" || out == "-") {
				_, err = e.stdout.Write(buf.Bytes())
			} else if err == nil {
				err = os.WriteFile(out, buf.Bytes(), 0o644)
			}
			if err != nil {
				return fail(err)
			}
			e.log.Info("profiles exported", "engine", engineName, "saved", at.Format(time.RFC3339), "bytes", size)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&dataDir, "data", config.DefaultDataDir, "the monitor's data directory")
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
				return fail(fmt.Errorf("--engine names the profile engine"))
			}
			classes, err := profile.ClassesIn(cfg, engineName)
			if err != nil {
				return fail(fmt.Errorf("%s: %w", cfgFile, err))
			}
			in, name, err := ingest.Open(cmd.Context(), args[0], false)
			if err != nil {
				return fail(err)
			}
			defer in.Close()
			n, err := profile.ImportStore(cmd.Context(), dataDir, engineName, classes, in, name, time.Now(), e.log)
			if err != nil {
				return fail(err)
			}
			fmt.Fprintf(e.stdout, "imported the profiles of %d subjects for engine %s into %s\n", n, engineName, dataDir)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&dataDir, "data", config.DefaultDataDir, "the monitor's data directory")
	fs.StringVar(&engineName, "engine", "", "the profile engine's name in the resource object")
	fs.StringVar(&cfgFile, "config", "", "the resource object the monitor runs")
	_ = cmd.MarkFlagRequired("engine")
	return cmd
}
