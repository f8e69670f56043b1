package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/vigil-ids/vigil/internal/auth"
	"github.com/vigil-ids/vigil/internal/config"
)

func usersCmd(e *env) *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "users",
		Short: "Add, list and remove the accounts of the dashboard and HTTP API",
		Long:  help("users"),
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data", config.DefaultDataDir, "data directory holding "+auth.UsersFile)

	var role string
	var replace bool
	add := &cobra.Command{
		Use:   "add NAME --role viewer|operator|admin",
		Short: "Add an account (the password is read from the terminal, or the first line of stdin)",
		Long: "Add an account with a role: viewer (reads), operator (also undoes and requests responses,\n" +
			"submits events) or admin (also reads the audit log). The password, 10 to 1024 bytes, is asked\n" +
			"twice on the terminal or read as the first line of stdin; it is never taken from a flag.\n" +
			"--replace sets a new password and role for an existing account.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := auth.ParseRole(role)
			if err != nil {
				return fail(fmt.Errorf("--role: %w", err))
			}
			if err := auth.ValidName(args[0]); err != nil {
				return fail(err)
			}
			pw, err := readPassword(cmd.InOrStdin(), e.stderr, args[0], true)
			if err != nil {
				return fail(err)
			}
			defer clear(pw)
			a := auth.Open(dataDir)
			if err := a.Add(args[0], r, pw, time.Now(), replace); err != nil {
				return fail(err)
			}
			fmt.Fprintf(e.stdout, "user %s (%s) saved in %s\n", args[0], r, a.Path())
			return nil
		},
	}
	add.Flags().StringVar(&role, "role", "", "viewer, operator or admin (required)")
	add.Flags().BoolVar(&replace, "replace", false, "set a new password and role for an existing account")
	_ = add.MarkFlagRequired("role")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the accounts: name, role, created",
		Long:  "List the accounts of the data directory's " + auth.UsersFile + ": name, role and when each was created.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			us, err := auth.Open(dataDir).List()
			if err != nil {
				return fail(err)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROLE\tCREATED")
			for _, u := range us {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, u.Role, u.Created.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}

	remove := &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove an account (its sessions end at their next request)",
		Long:  "Remove an account from the data directory's " + auth.UsersFile + "; a running monitor ends its sessions at their next request.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a := auth.Open(dataDir)
			if err := a.Remove(args[0]); err != nil {
				return fail(err)
			}
			fmt.Fprintf(e.stdout, "user %s removed from %s\n", args[0], a.Path())
			return nil
		},
	}
	cmd.AddCommand(add, list, remove)
	return cmd
}

// readPassword reads a password: from the terminal with echo off (asked
// twice when confirm is set), or else the first line of in.
func readPassword(in io.Reader, prompt io.Writer, name string, confirm bool) ([]byte, error) {
	if f, ok := in.(*os.File); ok {
		if old, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			first, err := readNoEcho(f, old, prompt, fmt.Sprintf("Password for %s: ", name))
			if err != nil {
				return nil, err
			}
			if !confirm {
				return first, nil
			}
			again, err := readNoEcho(f, old, prompt, "Again: ")
			if err != nil {
				return nil, err
			}
			defer clear(again)
			if !bytes.Equal(first, again) {
				clear(first)
				return nil, errors.New("the two passwords differ")
			}
			return first, nil
		}
	}
	line, err := bufio.NewReaderSize(io.LimitReader(in, auth.MaxPassword+2), auth.MaxPassword+2).ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading the password from stdin: %w", err)
	}
	line = bytes.TrimRight(line, "\r\n")
	if len(line) == 0 {
		return nil, errors.New("no password on stdin (give it as the first line, or run from a terminal)")
	}
	return line, nil
}

// readNoEcho reads a line from the terminal f with echo off, restoring
// its settings after.
func readNoEcho(f *os.File, old *unix.Termios, prompt io.Writer, text string) ([]byte, error) {
	fd := int(f.Fd())
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return nil, fmt.Errorf("terminal: %w", err)
	}
	defer func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }()
	fmt.Fprint(prompt, text)
	defer fmt.Fprintln(prompt)
	var line []byte
	b := make([]byte, 1)
	for len(line) <= auth.MaxPassword {
		n, err := f.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				return bytes.TrimRight(line, "\r"), nil
			}
			line = append(line, b[0])
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(line) > 0 {
				return line, nil
			}
			return nil, fmt.Errorf("reading the password: %w", err)
		}
	}
	return nil, fmt.Errorf("password longer than %d bytes", auth.MaxPassword)
}
