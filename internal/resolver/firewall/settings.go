package firewall

import (
	"path/filepath"
	"regexp"

	"github.com/vigil-ids/vigil/internal/config"
)

// The kinds' names in resource objects.
const (
	KindNftables = "nftables"
	KindTCPKill  = "tcp-kill"
)

// Defaults of the nftables kind.
const (
	// DefaultTable is the inet table Vigil owns.
	DefaultTable = "vigil"
	// DefaultMinPrefix4 and DefaultMinPrefix6 are the shortest prefixes
	// a block may name: a wider range is refused.
	DefaultMinPrefix4 = 16
	DefaultMinPrefix6 = 48
	// DefaultPriority is the chains' priority: before the usual filter
	// chains (priority 0), after connection tracking (-200).
	DefaultPriority = -10
)

// The sets of the table: one per address family, with the interval and
// timeout flags, so that a single address and a range are both elements.
const (
	Set4 = "block4"
	Set6 = "block6"
)

// tableName is what nftables accepts as a name, kept to what needs no
// quoting anywhere it is printed.
var tableName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,31}$`)

// NftablesSettings are an nftables method's section of a resource object.
type NftablesSettings struct {
	// Table is the name of Vigil's own table (family inet). Vigil creates
	// it, and changes nothing outside it.
	Table string `yaml:"table"`
	// Input and Forward say which hooks get a chain that drops packets
	// from blocked sources: input for the host itself, forward for the
	// networks a gateway routes.
	Input   bool `yaml:"input"`
	Forward bool `yaml:"forward"`
	// Priority is the chains' priority (lower runs earlier).
	Priority int `yaml:"priority"`
	// Conntrack ends the tracked flows whose source or destination is the
	// blocked address when a block is added.
	Conntrack bool `yaml:"conntrack"`
	// Netns is the file of the network namespace to act in
	// (/run/netns/NAME, /proc/PID/ns/net); empty: the monitor's own.
	Netns string `yaml:"netns"`
	// MinPrefix4 and MinPrefix6 are the shortest prefixes a block may
	// name.
	MinPrefix4 int `yaml:"min_prefix4"`
	MinPrefix6 int `yaml:"min_prefix6"`
}

func newNftablesSettings() config.Settings {
	return &NftablesSettings{
		Table:      DefaultTable,
		Input:      true,
		Forward:    true,
		Priority:   DefaultPriority,
		Conntrack:  true,
		MinPrefix4: DefaultMinPrefix4,
		MinPrefix6: DefaultMinPrefix6,
	}
}

// Validate implements config.Settings.
func (s *NftablesSettings) Validate(p *config.Problems, path string) {
	if !tableName.MatchString(s.Table) {
		p.Addf(config.Join(path, "table"), "table name %q: a letter, then up to 31 letters, digits, '_' or '-'", s.Table)
	}
	if !s.Input && !s.Forward {
		p.Addf(path, "input and forward are both off: the method would block nothing")
	}
	if s.Priority < -400 || s.Priority > 400 {
		p.Addf(config.Join(path, "priority"), "priority %d outside -400..400", s.Priority)
	}
	validateNetns(p, path, s.Netns)
	if s.MinPrefix4 < 1 || s.MinPrefix4 > 32 {
		p.Addf(config.Join(path, "min_prefix4"), "min_prefix4 %d outside 1..32", s.MinPrefix4)
	}
	if s.MinPrefix6 < 1 || s.MinPrefix6 > 128 {
		p.Addf(config.Join(path, "min_prefix6"), "min_prefix6 %d outside 1..128", s.MinPrefix6)
	}
}

// TCPKillSettings are a tcp-kill method's section of a resource object.
type TCPKillSettings struct {
	// Netns is the file of the network namespace whose sockets the
	// method ends; empty: the monitor's own.
	Netns string `yaml:"netns"`
}

func newTCPKillSettings() config.Settings { return &TCPKillSettings{} }

// Validate implements config.Settings.
func (s *TCPKillSettings) Validate(p *config.Problems, path string) {
	validateNetns(p, path, s.Netns)
}

func validateNetns(p *config.Problems, path, netns string) {
	if netns != "" && !filepath.IsAbs(netns) {
		p.Addf(config.Join(path, "netns"), "netns %q: an absolute path to a network namespace file (/run/netns/NAME)", netns)
	}
}
