package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/install"
)

func installCmd(e *env) *cobra.Command {
	var (
		o     install.Options
		write string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "install agent|netsensor|monitor [flags] [-- ARGS...]",
		Short: "Print (or write) a least-privilege systemd unit for a role",
		Long:  help("install"),
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			role, err := install.ParseRole(args[0])
			if err != nil {
				return fail(err)
			}
			o.Role, o.Args = role, args[1:]
			if cmd.ArgsLenAtDash() != 1 && len(args) > 1 {
				return fail(fmt.Errorf("arguments for the %s's command line go after --: vigil install %s [flags] -- ARGS", role, role))
			}
			if o.Binary == "" {
				if o.Binary, err = thisBinary(); err != nil {
					return fail(err)
				}
			}
			unit, err := install.Render(o)
			if err != nil {
				return fail(err)
			}
			if write == "" {
				_, err := e.stdout.Write(unit)
				return failed(err)
			}
			path := filepath.Join(write, install.UnitName(role))
			if err := writeUnit(path, unit, force); err != nil {
				return fail(err)
			}
			fmt.Fprintf(e.stdout, "wrote %s\nNothing else was changed. To run it:\n%s", path, install.Instructions(o, path))
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.Binary, "binary", "", "absolute path of the vigil binary the unit runs (default: this one)")
	fs.StringVar(&o.User, "user", install.DefaultUser, "user the service runs as (not created here)")
	fs.StringVar(&o.Group, "group", "", "group the service runs as (default: the user's name)")
	fs.StringVar(&o.Config, "config", "", "resource object the service reads (default /etc/vigil/ROLE.yaml)")
	fs.StringVar(&o.DataDir, "data-dir", install.DefaultDataDir, "the one directory the service may write (under /var/lib: made by systemd, mode 0700)")
	fs.StringVar(&o.KeyDir, "key-dir", install.DefaultKeyDir, "the host's key and certificates, read-only to the service")
	fs.BoolVar(&o.Effector, "effector", false, "agent: run the effector, which signals processes (adds CAP_KILL)")
	fs.BoolVar(&o.Responses, "responses", false, "monitor: nftables and tcp-kill responses (adds CAP_NET_ADMIN and netlink)")
	fs.BoolVar(&o.Probes, "probes", false, "monitor: exe-probe and file-probe read other users' processes and files (adds CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH)")
	fs.StringVar(&o.Iface, "iface", "", "netsensor: the interface to capture on (required)")
	fs.StringVar(&write, "write", "", "write vigil-ROLE.service (mode 0644) into this directory instead of printing it")
	fs.BoolVar(&force, "force", false, "with --write, replace a unit that is there")
	return cmd
}

// thisBinary is the absolute path of the running executable.
func thisBinary() (string, error) {
	p, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding this binary (give --binary): %w", err)
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	return p, nil
}

// writeUnit writes unit to path, mode 0644, refusing to replace a file
// unless force.
func writeUnit(path string, unit []byte, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s is there already: give --force to replace it", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(unit); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil { // the umask may have taken bits away
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}
