// Package install renders the systemd units that run Vigil's roles (the
// agent, the network sensor and the monitor) with least privilege: each as
// its own unprivileged user, with exactly the capabilities its role needs
// (in the bounding set and as ambient capabilities), a read-only view of
// the system, and only its data directory writable. It renders text only:
// it never creates users, writes system files or talks to systemd.
package install

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// Role is a part of Vigil that runs as a service.
type Role string

// The roles a unit can be rendered for.
const (
	Agent     Role = "agent"
	NetSensor Role = "netsensor"
	Monitor   Role = "monitor"
)

// Roles lists every role, in the order the documentation gives them.
var Roles = []Role{Agent, NetSensor, Monitor}

// Defaults of the options.
const (
	DefaultUser    = "vigil"
	DefaultDataDir = "/var/lib/vigil"
	DefaultKeyDir  = "/etc/vigil/tls"
	configDir      = "/etc/vigil"
)

// Options say what a unit runs and where.
type Options struct {
	Role Role
	// Binary is the absolute path of the vigil executable.
	Binary string
	// User and Group the service runs as (default DefaultUser).
	User, Group string
	// Config is the resource object (default /etc/vigil/ROLE.yaml).
	Config string
	// DataDir is the one directory the service may write (default
	// DefaultDataDir); under /var/lib it is the unit's StateDirectory,
	// made by systemd, owned by User and mode 0700.
	DataDir string
	// KeyDir holds the host's key and certificates (default
	// DefaultKeyDir); the service reads it and cannot write it.
	KeyDir string
	// Effector turns on the agent's effector (vigil agent --effector),
	// which signals other users' processes: CAP_KILL.
	Effector bool
	// Responses lets the monitor block addresses (nftables, conntrack)
	// and end connections (tcp-kill): CAP_NET_ADMIN and netlink.
	Responses bool
	// Probes lets the monitor's integrity probes read other users'
	// processes and files (exe-probe, file-probe): CAP_SYS_PTRACE and
	// CAP_DAC_READ_SEARCH.
	Probes bool
	// Iface is the interface the network sensor captures on (required
	// for NetSensor).
	Iface string
	// Args are more arguments for the role's command line.
	Args []string
}

// Capability is one Linux capability a unit grants, with the reason.
type Capability struct {
	Name, Why string
}

// UnitName is the file name of the unit of role.
func UnitName(r Role) string { return "vigil-" + string(r) + ".service" }

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("role %q is not agent, netsensor or monitor", s)
}

// WithDefaults returns o with its empty fields set to their defaults.
func (o Options) WithDefaults() Options {
	if o.User == "" {
		o.User = DefaultUser
	}
	if o.Group == "" {
		o.Group = o.User
	}
	if o.Config == "" && o.Role != "" {
		o.Config = configDir + "/" + string(o.Role) + ".yaml"
	}
	if o.DataDir == "" {
		o.DataDir = DefaultDataDir
	}
	if o.KeyDir == "" {
		o.KeyDir = DefaultKeyDir
	}
	return o
}

var (
	// userName is what useradd and systemd both accept.
	userName = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,30}$`)
	// ifaceName is a Linux interface name (at most 15 bytes, no '/',
	// no space), kept to characters a unit needs no quoting for.
	ifaceName = regexp.MustCompile(`^[A-Za-z0-9_.:@-]{1,15}$`)
)

// Validate reports the first option a unit cannot be rendered with. o
// must have its defaults (WithDefaults).
func (o Options) Validate() error {
	if _, err := ParseRole(string(o.Role)); err != nil {
		return err
	}
	for _, p := range []struct{ name, v string }{{"binary", o.Binary}, {"config", o.Config}, {"data directory", o.DataDir}, {"key directory", o.KeyDir}} {
		if err := checkPath(p.name, p.v); err != nil {
			return err
		}
	}
	if o.DataDir == "/" || strings.HasPrefix(o.KeyDir+"/", o.DataDir+"/") {
		return fmt.Errorf("data directory %q: the key directory %q may not be inside it (the service could rewrite its own keys)", o.DataDir, o.KeyDir)
	}
	if !userName.MatchString(o.User) {
		return fmt.Errorf("user %q: not a system user name (lower case letters, digits, '_' and '-', at most 31)", o.User)
	}
	if !userName.MatchString(o.Group) {
		return fmt.Errorf("group %q: not a system group name (lower case letters, digits, '_' and '-', at most 31)", o.Group)
	}
	if o.Effector && o.Role != Agent {
		return fmt.Errorf("the effector is part of the agent, not of the %s", o.Role)
	}
	if (o.Responses || o.Probes) && o.Role != Monitor {
		return fmt.Errorf("responses and probes are carried out by the monitor, not by the %s (the agent acts on processes with --effector)", o.Role)
	}
	switch {
	case o.Role == NetSensor && o.Iface == "":
		return errors.New("the network sensor needs an interface to capture on")
	case o.Role != NetSensor && o.Iface != "":
		return fmt.Errorf("an interface is for the network sensor, not for the %s", o.Role)
	case o.Iface != "" && !ifaceName.MatchString(o.Iface):
		return fmt.Errorf("interface %q: not an interface name (1 to 15 of A-Z a-z 0-9 _ . : @ -)", o.Iface)
	}
	for i, a := range o.Args {
		if err := checkWord(fmt.Sprintf("argument %d", i+1), a); err != nil {
			return err
		}
	}
	return nil
}

// checkPath accepts an absolute, clean path that a unit can hold without
// quoting or specifier expansion.
func checkPath(name, p string) error {
	if !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return fmt.Errorf("%s %q: not an absolute, clean path", name, p)
	}
	return checkWord(name, p)
}

// checkWord accepts text that stays one word with its meaning in a unit
// file: no white space, control characters, quotes, backslashes,
// specifiers (%) or variables ($).
func checkWord(name, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", name)
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f || strings.ContainsRune(`"'\%$;`, c) || (c >= 0x80 && c < 0xa0) {
			return fmt.Errorf("%s %q: %q cannot stand in a unit file (no white space, control characters, quotes, backslashes, %%, $ or ;)", name, s, c)
		}
	}
	return nil
}

// Capabilities returns what a unit for o grants, each with its reason.
func Capabilities(o Options) []Capability {
	var caps []Capability
	add := func(name, why string) { caps = append(caps, Capability{name, why}) }
	switch o.Role {
	case Agent:
		add("CAP_BPF", "load the eBPF programs and maps of the system call counter and the host events")
		add("CAP_PERFMON", "attach them to raw tracepoints and the system calls' tracepoints, and read kernel and process memory from them")
		add("CAP_SYS_PTRACE", "read other users' /proc/PID/exe, cwd, root, fd/*, io and maps (the kernel's ptrace read check)")
		add("CAP_DAC_READ_SEARCH", "open other users' /proc/PID/fd and /proc/PID/io (mode 0500 and 0400, owned by the process's user), and read the tracepoints' ids in /sys/kernel/tracing (mode 0700, root's)")
		if o.Effector {
			add("CAP_KILL", "the effector signals other users' processes through pidfds")
		}
	case NetSensor:
		add("CAP_NET_RAW", "open the AF_PACKET capture ring")
	case Monitor:
		if o.Responses {
			add("CAP_NET_ADMIN", "the nftables and tcp-kill responses: change the nftables table, end conntrack entries and destroy TCP sockets (sock_diag)")
		}
		if o.Probes {
			add("CAP_SYS_PTRACE", "exe-probe reads other users' /proc/PID/exe and /proc/PID/root")
			add("CAP_DAC_READ_SEARCH", "file-probe and exe-probe read files only their owners may read")
		}
	}
	return caps
}

// addressFamilies returns the socket families the role may open.
func addressFamilies(o Options) ([]string, string) {
	switch o.Role {
	case Agent:
		return []string{"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"},
			"AF_UNIX: the system bus (effector restarts); AF_INET/AF_INET6: the bus; AF_NETLINK: the default route's address (rtnetlink)"
	case NetSensor:
		return []string{"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET"},
			"AF_PACKET: the capture; AF_NETLINK: the interface's index (rtnetlink); AF_INET/AF_INET6: the bus; AF_UNIX: the journal"
	}
	if o.Responses {
		return []string{"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"},
			"AF_NETLINK: nftables, conntrack, sock_diag and the host's own addresses; AF_INET/AF_INET6: the bus, the web and notifications; AF_UNIX: the journal"
	}
	return []string{"AF_UNIX", "AF_INET", "AF_INET6"},
		"AF_INET/AF_INET6: the bus, the web and notifications; AF_UNIX: the journal"
}

// command returns the role's command line after the binary.
func command(o Options) []string {
	args := []string{string(o.Role), "--config", o.Config}
	switch o.Role {
	case Agent:
		args = append(args, "--spool-dir", o.DataDir+"/agent-spool")
		if o.Effector {
			args = append(args, "--effector")
		}
	case NetSensor:
		args = append(args, "--iface", o.Iface, "--spool-dir", o.DataDir+"/netsensor-spool")
	case Monitor:
		args = append(args, "--data", o.DataDir+"/monitor")
	}
	return append(args, o.Args...)
}

// stateDirectory is the data directory relative to /var/lib, or "" when
// it is elsewhere.
func stateDirectory(dataDir string) string {
	if rel, ok := strings.CutPrefix(dataDir, "/var/lib/"); ok {
		return rel
	}
	return ""
}

// Render returns the unit for o (defaults applied).
func Render(o Options) ([]byte, error) {
	o = o.WithDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	comment := func(text string) {
		for _, l := range wrap(text, 74) {
			line("# %s", l)
		}
	}
	caps := Capabilities(o)
	line("# %s: Vigil's %s, run with least privilege.", UnitName(o.Role), describe(o.Role))
	line("# Rendered by vigil install %s; docs/SECURITY.md explains each setting.", o.Role)
	line("")
	line("[Unit]")
	line("Description=Vigil %s", describe(o.Role))
	line("Documentation=https://github.com/vigil-ids/vigil/blob/main/docs/SECURITY.md")
	line("Wants=network-online.target")
	line("After=network-online.target")
	line("")
	line("[Service]")
	line("Type=exec")
	line("ExecStart=%s %s", o.Binary, strings.Join(command(o), " "))
	line("Restart=on-failure")
	line("RestartSec=5s")
	line("User=%s", o.User)
	line("Group=%s", o.Group)
	line("UMask=0077")
	line("WorkingDirectory=%s", o.DataDir)
	line("")
	comment("Capabilities: exactly these, in the bounding set and as ambient capabilities of the unprivileged user; nothing else can be gained (NoNewPrivileges).")
	names := make([]string, len(caps))
	for i, c := range caps {
		comment(c.Name + ": " + c.Why + ".")
		names[i] = c.Name
	}
	if len(caps) == 0 {
		comment("None: the " + string(o.Role) + " needs no privilege.")
	}
	line("CapabilityBoundingSet=%s", strings.Join(names, " "))
	line("AmbientCapabilities=%s", strings.Join(names, " "))
	line("NoNewPrivileges=yes")
	if o.Role == Agent {
		comment("Kernels before 5.11 charge eBPF maps to RLIMIT_MEMLOCK: systemd raises the limit before it drops privileges, so the agent needs no CAP_SYS_RESOURCE.")
		line("LimitMEMLOCK=infinity")
	}
	line("")
	comment("Files: the system is read-only, home directories are out of sight, and the data directory is the one place the service writes.")
	line("ProtectSystem=strict")
	line("ProtectHome=yes")
	line("PrivateTmp=yes")
	line("PrivateDevices=yes")
	line("PrivateMounts=yes")
	if sd := stateDirectory(o.DataDir); sd != "" {
		line("StateDirectory=%s", sd)
		line("StateDirectoryMode=0700")
	} else {
		comment("The data directory is outside /var/lib: make it (owned by " + o.User + ", mode 0700) before the first start.")
	}
	line("ReadWritePaths=%s", o.DataDir)
	comment("The host's key and certificates: readable, never writable.")
	line("ReadOnlyPaths=-%s", o.KeyDir)
	line("")
	comment("Kernel and system: nothing to change.")
	line("ProtectKernelTunables=yes")
	line("ProtectKernelModules=yes")
	line("ProtectKernelLogs=yes")
	line("ProtectControlGroups=yes")
	line("ProtectClock=yes")
	line("ProtectHostname=yes")
	switch {
	case o.Role == Agent:
		comment("ProtectProc stays default: the agent reads every process in /proc.")
	case o.Role == Monitor && o.Probes:
		comment("ProtectProc stays default: the probes read other processes in /proc.")
	case o.Role == Monitor:
		comment("Other processes are invisible; the monitor reads /proc/net/route (gateways), so all of /proc stays.")
		line("ProtectProc=invisible")
	default:
		line("ProtectProc=invisible")
		line("ProcSubset=pid")
	}
	line("RestrictNamespaces=yes")
	line("RestrictRealtime=yes")
	line("RestrictSUIDSGID=yes")
	line("LockPersonality=yes")
	line("MemoryDenyWriteExecute=yes")
	line("RemoveIPC=yes")
	line("")
	fams, why := addressFamilies(o)
	comment("Sockets: " + why + ".")
	line("RestrictAddressFamilies=%s", strings.Join(fams, " "))
	line("SystemCallArchitectures=native")
	switch o.Role {
	case Agent:
		comment("System calls: a service's, plus bpf and perf_event_open for eBPF. The effector's restart commands run with this filter too.")
		line("SystemCallFilter=@system-service bpf perf_event_open")
	default:
		comment("System calls: a service's, without the privileged ones.")
		line("SystemCallFilter=@system-service")
		line("SystemCallFilter=~@privileged")
	}
	line("SystemCallErrorNumber=EPERM")
	line("")
	line("[Install]")
	line("WantedBy=multi-user.target")
	return []byte(b.String()), nil
}

func describe(r Role) string {
	switch r {
	case Agent:
		return "agent (host sensor)"
	case NetSensor:
		return "network sensor"
	}
	return "monitor"
}

// wrap breaks text into lines of at most width runes, at spaces.
func wrap(text string, width int) []string {
	var lines []string
	cur := ""
	for _, w := range strings.Fields(text) {
		if cur != "" && len(cur)+1+len(w) > width {
			lines = append(lines, cur)
			cur = ""
		}
		if cur != "" {
			cur += " "
		}
		cur += w
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}

// Instructions says what to run, as root, after the unit is written to
// unitPath: the user, the directories, systemd. Nothing here is run by
// Vigil itself.
func Instructions(o Options, unitPath string) string {
	o = o.WithDefaults()
	var b strings.Builder
	fmt.Fprintf(&b, "# as root: the service's user, its configuration and keys, then the unit\n")
	fmt.Fprintf(&b, "getent group %s >/dev/null || groupadd --system %s\n", o.Group, o.Group)
	fmt.Fprintf(&b, "id -u %s >/dev/null 2>&1 || useradd --system --gid %s --no-create-home --home-dir %s --shell /usr/sbin/nologin %s\n", o.User, o.Group, o.DataDir, o.User)
	if cd := filepath.Dir(o.Config); cd == configDir || strings.HasPrefix(cd, configDir+"/") {
		fmt.Fprintf(&b, "install -d -m 0750 -o root -g %s %s\n", o.Group, cd)
	}
	fmt.Fprintf(&b, "# %s: mode 0640, owner root, group %s\n", o.Config, o.Group)
	fmt.Fprintf(&b, "# the host's key: vigil enroll --dir %s ..., then give it to the service's user\n", o.KeyDir)
	fmt.Fprintf(&b, "# (vigil refuses a key others may read; the unit keeps it read-only, even to its owner):\n")
	fmt.Fprintf(&b, "if [ -d %s ]; then chown -R %s:%s %s; fi\n", o.KeyDir, o.User, o.Group, o.KeyDir)
	if stateDirectory(o.DataDir) == "" {
		fmt.Fprintf(&b, "install -d -m 0700 -o %s -g %s %s\n", o.User, o.Group, o.DataDir)
	}
	if unitPath == "" {
		unitPath = "/etc/systemd/system/" + UnitName(o.Role)
		fmt.Fprintf(&b, "vigil install %s ... --write /etc/systemd/system\n", o.Role)
	}
	fmt.Fprintf(&b, "systemd-analyze verify %s\n", unitPath)
	fmt.Fprintf(&b, "systemctl daemon-reload\n")
	fmt.Fprintf(&b, "systemctl enable --now %s\n", UnitName(o.Role))
	return b.String()
}
