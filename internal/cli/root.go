// Package cli implements the vigil command: one verb per role, each a thin
// layer that loads configuration, builds the parts and runs them for the
// life of a context.
package cli

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/node"
	"github.com/vigil-ids/vigil/internal/resolver/notify"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitPartial = 1 // the work was done, but some input was bad (and skipped)
	ExitFailure = 2 // bad usage, bad configuration, or the work failed
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// partial reports that some input was bad.
func partial(format string, args ...any) error {
	return &exitError{code: ExitPartial, err: fmt.Errorf(format, args...)}
}

// env is what every command shares.
type env struct {
	stdout, stderr io.Writer
	logLevel       string
	logFormat      string
	log            *slog.Logger
}

// loadConfig loads the resource object in file (required) with this
// binary's plug-in kinds.
func (e *env) loadConfig(file string) (*config.ResourceObject, *engine.Registry, error) {
	if file == "" {
		return nil, nil, fail(fmt.Errorf("--config is required"))
	}
	regs, engines := node.Registries()
	cfg, err := config.LoadFile(file, regs)
	if err != nil {
		return nil, nil, fail(err)
	}
	return cfg, engines, nil
}

// Main runs the vigil command with args (without the program name) and
// returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	if Version != "dev" {
		notify.Version = Version // the product version in OCSF findings
	}
	root := &cobra.Command{
		Use:           "vigil",
		Short:         "Vigil watches servers and the gateways between their networks, and explains what it finds",
		Long:          help("vigil"),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			lg, err := newLogger(e.stderr, e.logLevel, e.logFormat)
			if err != nil {
				return fail(err)
			}
			e.log = lg
			return nil
		},
	}
	root.PersistentFlags().StringVar(&e.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.PersistentFlags().StringVar(&e.logFormat, "log-format", "text", "log format: text or json")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.AddCommand(
		versionCmd(e), upCmd(e), agentCmd(e), netsensorCmd(e), monitorCmd(e), replayCmd(e), checkCmd(e), ingestCmd(e), benchCmd(e), labCmd(e), evalCmd(e), trainCmd(e), profilesCmd(e), recordCmd(e), respondCmd(e), pkiCmd(e), enrollCmd(e), usersCmd(e), installCmd(e),
	)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var xe *exitError
	if errors.As(err, &xe) {
		if xe.code != ExitOK {
			fmt.Fprintln(stderr, "vigil:", xe.err)
		}
		return xe.code
	}
	fmt.Fprintln(stderr, "vigil:", err)
	if strings.Contains(err.Error(), "unknown command") || strings.Contains(err.Error(), "flag") || strings.Contains(err.Error(), "arg") {
		fmt.Fprintln(stderr, "Run 'vigil --help' for usage.")
	}
	return ExitFailure
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", format)
}

//go:embed help/*.txt
var helpFiles embed.FS

// help is a verb's long help, kept in help/VERB.txt (help/PARENT-VERB.txt
// for subcommands).
func help(name string) string {
	b, err := helpFiles.ReadFile("help/" + name + ".txt")
	if err != nil {
		panic(err) // a verb without its help file is a programming error, caught by TestVerbsHaveHelp
	}
	return strings.TrimRight(string(b), "\n")
}

// fail is a failure of the work, or bad usage: exit status 2.
func fail(err error) error { return &exitError{code: ExitFailure, err: err} }

// failed is fail(err), or nil when err is nil.
func failed(err error) error {
	if err == nil {
		return nil
	}
	return fail(err)
}

// optionalConfig loads a sensor's resource object in file (its monitor
// section may be left out), or returns the defaults when there is none.
func (e *env) optionalConfig(file string) (*config.ResourceObject, error) {
	if file == "" {
		return config.Default(), nil
	}
	regs, _ := node.Registries()
	ro, err := config.LoadSensorFile(file, regs)
	if err != nil {
		return nil, fail(err)
	}
	return ro, nil
}
