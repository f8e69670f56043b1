package config

import (
	"path/filepath"
	"strings"
	"time"
)

// AgentEffector configures the host agent's effector (vigil agent): the
// part that carries out a monitor's requests to signal a process or
// restart a service on this host, within its own protections and budgets,
// whatever the request says.
type AgentEffector struct {
	// Enabled turns the effector on; off, no request is taken.
	Enabled bool `yaml:"enabled"`
	// ProtectedNames are executables' base names never signalled (the
	// kernel's process name is not used: any process can change its own).
	// Pid 1, the agent, its parent, the bus server it uses and kernel
	// threads are protected whatever this says.
	ProtectedNames []string `yaml:"protected_names"`
	// ProtectedExes are executables (absolute paths) never signalled.
	ProtectedExes []string `yaml:"protected_exes"`
	// ProtectedUnits are systemd units never restarted.
	ProtectedUnits []string `yaml:"protected_units"`
	// Units lets a restart request name a systemd unit without a
	// configured command: the unit is restarted over D-Bus.
	Units bool `yaml:"units"`
	// Restart maps a service name to the command that restarts it; such a
	// command is used before D-Bus.
	Restart map[string]RestartCommand `yaml:"restart"`
	// Budgets bound the actions of each kind ("signal", "restart"); a
	// request beyond its budget is refused.
	Budgets map[string]Budget `yaml:"budgets"`
	// OutputBytes bounds the output of a restart command kept in a reply.
	OutputBytes int `yaml:"output_bytes"`
	// Remember is how long a request id is remembered (a repeat within it
	// is answered with the first reply, without acting again).
	Remember time.Duration `yaml:"remember"`
}

// RestartCommand is a command that restarts a service: an argument list
// run without a shell, within a timeout.
type RestartCommand struct {
	Argv    []string      `yaml:"argv"`
	Timeout time.Duration `yaml:"timeout"`
}

// EffectorActions are the kinds of action an effector budgets.
var EffectorActions = []string{"signal", "restart"}

// MaxEffectorOutputBytes bounds OutputBytes.
const MaxEffectorOutputBytes = 32 << 10

func (e *AgentEffector) validate(p *Problems, path string) {
	for i, n := range e.ProtectedNames {
		if n == "" || strings.ContainsAny(n, "/\x00") || len(n) > 255 {
			p.Addf(Index(Join(path, "protected_names"), i), "%q is not a process name (1 to 255 bytes without /)", n)
		}
	}
	for i, x := range e.ProtectedExes {
		if !filepath.IsAbs(x) || strings.ContainsRune(x, 0) {
			p.Addf(Index(Join(path, "protected_exes"), i), "%q is not an absolute path", x)
		}
	}
	for i, u := range e.ProtectedUnits {
		if u == "" || strings.ContainsAny(u, "/\x00 ") {
			p.Addf(Index(Join(path, "protected_units"), i), "%q is not a unit name", u)
		}
	}
	for name, c := range e.Restart {
		rp := Join(Join(path, "restart"), name)
		if name == "" || strings.ContainsAny(name, "/\x00 ") {
			p.Addf(rp, "%q is not a service name", name)
		}
		if len(c.Argv) == 0 {
			p.Addf(Join(rp, "argv"), "missing: the command and its arguments (run without a shell)")
		} else if !filepath.IsAbs(c.Argv[0]) {
			p.Addf(Index(Join(rp, "argv"), 0), "%q is not an absolute path (no PATH lookup)", c.Argv[0])
		}
		if c.Timeout < 100*time.Millisecond || c.Timeout > 10*time.Minute {
			p.Addf(Join(rp, "timeout"), "must be between 100ms and 10m")
		}
	}
	for kind, b := range e.Budgets {
		bp := Join(Join(path, "budgets"), kind)
		known := false
		for _, k := range EffectorActions {
			known = known || k == kind
		}
		if !known {
			p.Addf(bp, "no action %q (known: %s)", kind, strings.Join(EffectorActions, ", "))
		}
		if b.Count < 1 || b.Count > 1_000_000 {
			p.Addf(Join(bp, "count"), "must be between 1 and 1000000")
		}
		if b.Per < time.Second || b.Per > 7*24*time.Hour {
			p.Addf(Join(bp, "per"), "must be between 1s and 168h")
		}
	}
	if e.OutputBytes < 0 || e.OutputBytes > MaxEffectorOutputBytes {
		p.Addf(Join(path, "output_bytes"), "must be between 0 and %d", MaxEffectorOutputBytes)
	}
	if e.Remember < time.Minute || e.Remember > 7*24*time.Hour {
		p.Addf(Join(path, "remember"), "must be between 1m and 168h")
	}
}
