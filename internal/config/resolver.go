package config

import (
	"net/netip"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/match"
	"github.com/vigil-ids/vigil/internal/yamlnode"
)

// Resolver configures the decision unit (seed 002 section 3.5): what is
// disseminated, and the response policies that decide which response
// methods (`responses:`) act on which reports. docs/RESPONSES.md describes
// it.
type Resolver struct {
	// Publish sends reports to subscribers on vigil.report.<monitor>.
	Publish bool `yaml:"publish"`
	// MinSeverity is the least severe report that is disseminated; every
	// report is stored.
	MinSeverity Severity `yaml:"min_severity"`
	// Mode is monitor (the default: every decision is made, logged and
	// stored, nothing is executed) or enforce. A policy may override it.
	Mode string `yaml:"mode"`
	// Protect lists what is never acted on, whatever a policy says.
	Protect Protect `yaml:"protect"`
	// Budgets bound how many actions each method instance takes in a
	// time (by instance name); DefaultBudget applies to the others.
	Budgets       map[string]Budget `yaml:"budgets"`
	DefaultBudget Budget            `yaml:"default_budget"`
	// ActionTimeout bounds each execution and undo.
	ActionTimeout time.Duration `yaml:"action_timeout"`
	// Policies are the response policies.
	Policies []Policy `yaml:"policies"`
}

// Modes of the decision unit.
const (
	ModeMonitor = "monitor"
	ModeEnforce = "enforce"
)

// Protect lists addresses and processes no action touches. The monitor's
// own addresses, its bus peers, pid 1 and the monitor's own process are
// protected besides these.
type Protect struct {
	// Addresses are addresses and prefixes ("10.0.0.0/24", "192.0.2.7").
	Addresses []string `yaml:"addresses"`
	// Processes are process names (the comm or the executable's base
	// name).
	Processes []string `yaml:"processes"`
}

// Budget is a rate budget: at most Count actions in any Per.
type Budget struct {
	Count int           `yaml:"count"`
	Per   time.Duration `yaml:"per"`
}

// Policy is one response policy: which reports, counted how, call which
// methods on which subject.
type Policy struct {
	Name string `yaml:"name"`
	// Where is a condition in the match language over the reports' event
	// form (docs/RULES.md): engine, model, host, ip, state, score,
	// severity, monitor and the reports' attributes.
	Where yaml.Node `yaml:"where"`
	// Count reports matching Where, for one subject, within Within.
	Count  int           `yaml:"count"`
	Within time.Duration `yaml:"within"`
	// With are further criteria that must be met for the same subject in
	// the same window (seed 002: a threshold metric beside a severity
	// metric, from other engines or subscribed monitors).
	With []Criterion `yaml:"with"`
	// Subject says what the action is about: host, ip, addr:ATTR (an
	// address in the report's attribute ATTR), process (the report's
	// pid, start and exe attributes) or conn (src, sport, dst, dport).
	Subject string `yaml:"subject"`
	// By, when set (ip or host), counts the criteria per the reports'
	// ip or host (what they are about) rather than per subject, and takes
	// the subjects from the reports in the window that give one: a track
	// turning red about a server and a gateway alert about the same
	// server name the attacker together.
	By string `yaml:"by"`
	// Unit is a systemd unit the action concerns (restart methods).
	Unit string `yaml:"unit"`
	// Methods name `responses:` instances.
	Methods []string `yaml:"methods"`
	// Cooldown is how long after a decision the same policy does not
	// decide again for the same subject.
	Cooldown time.Duration `yaml:"cooldown"`
	// Priority orders policies that match one report (higher first).
	Priority int `yaml:"priority"`
	// DryRun plans and records without executing.
	DryRun bool `yaml:"dry_run"`
	// Mode overrides the resolver's mode for this policy.
	Mode string `yaml:"mode"`
	// Duration is how long an action lasts before it is undone (0: until
	// undone by hand, for undoable methods; once, for the others).
	Duration time.Duration `yaml:"duration"`
	// UntilGreen undoes the policy's actions in force when the track
	// that triggered them turns green: a green report from the same
	// monitor, engine and model about the same host (an Alertmanager
	// alert resolves, a block is lifted once the host is well again).
	UntilGreen bool `yaml:"until_green"`
	// Escalate gives the durations of a repeat offender's successive
	// actions (catch and release): the first decision for a subject lasts
	// Escalate[0], the next Escalate[1], and so on, the last repeating.
	Escalate []time.Duration `yaml:"escalate"`

	// Cond is Where compiled.
	Cond match.Cond `yaml:"-"`
}

// Criterion is one further condition of a policy: Count reports matching
// Where within the policy's window.
type Criterion struct {
	Where yaml.Node `yaml:"where"`
	Count int       `yaml:"count"`

	Cond match.Cond `yaml:"-"`
}

// DefaultResolver is the resolver section when a resource object gives
// none: reports published, monitor mode, sshd and the init system
// protected, 30 actions a minute per method.
func DefaultResolver() Resolver {
	return Resolver{
		Publish:       true,
		MinSeverity:   Severity(event.SeverityGreen),
		Mode:          ModeMonitor,
		Protect:       Protect{Processes: []string{"sshd", "systemd", "init", "vigil", "nats-server"}},
		DefaultBudget: Budget{Count: DefaultBudgetCount, Per: DefaultBudgetPer},
		ActionTimeout: DefaultActionTimeout,
	}
}

// Subject kinds of a policy, and the parts of an action's subject each
// supplies (action.Factory.Needs).
var subjectParts = map[string][]string{
	"host":    {"host"},
	"ip":      {"addr"},
	"addr":    {"addr"},
	"process": {"host", "process"},
	"conn":    {"host", "conn"},
}

// SubjectParts returns the subject parts ("host", "addr", "conn",
// "process", "unit") a policy's subject supplies to its methods.
func (p *Policy) SubjectParts() []string {
	kind, _, _ := strings.Cut(p.Subject, ":")
	parts := append([]string(nil), subjectParts[kind]...)
	if p.Unit != "" {
		parts = append(parts, "unit")
		if kind != "host" && kind != "process" && kind != "conn" {
			parts = append(parts, "host")
		}
	}
	return parts
}

// EffectiveMode is the policy's mode: its own, or the resolver's.
func (p *Policy) EffectiveMode(global string) string {
	if p.Mode != "" {
		return p.Mode
	}
	return global
}

func checkMode(p *Problems, path, mode string, emptyOK bool) {
	switch mode {
	case ModeMonitor, ModeEnforce:
	case "":
		if !emptyOK {
			p.Addf(path, "missing: monitor or enforce")
		}
	default:
		p.Addf(path, "unknown mode %q (want monitor or enforce)", mode)
	}
}

func (b Budget) validate(p *Problems, path string) {
	if b.Count < 1 || b.Count > 1_000_000 {
		p.Addf(Join(path, "count"), "must be between 1 and 1000000")
	}
	if b.Per < time.Second || b.Per > 24*time.Hour {
		p.Addf(Join(path, "per"), "must be between 1s and 24h")
	}
}

// validate checks the section and compiles the policies' conditions;
// responses are the methods the policies may name.
func (r *Resolver) validate(p *Problems, path string, responses []PluginSpec) {
	checkMode(p, Join(path, "mode"), r.Mode, false)
	for i, a := range r.Protect.Addresses {
		if _, ok := yamlnode.ParseCIDR(a); !ok {
			p.Addf(Index(Join(path, "protect.addresses"), i), "not an address or prefix: %q", a)
		}
	}
	for i, n := range r.Protect.Processes {
		if n == "" || strings.ContainsAny(n, "/\x00") {
			p.Addf(Index(Join(path, "protect.processes"), i), "%q is not a process name", n)
		}
	}
	methods := map[string]bool{}
	for _, s := range responses {
		methods[s.Name] = true
	}
	r.DefaultBudget.validate(p, Join(path, "default_budget"))
	for name, b := range r.Budgets {
		bp := Join(Join(path, "budgets"), name)
		if !methods[name] {
			p.Addf(bp, "no response method named %q%s", name, yamlnode.DidYouMean(name, keys(methods)))
		}
		b.validate(p, bp)
	}
	if r.ActionTimeout < 100*time.Millisecond || r.ActionTimeout > 10*time.Minute {
		p.Addf(Join(path, "action_timeout"), "must be between 100ms and 10m")
	}
	names := map[string]bool{}
	for i := range r.Policies {
		pol := &r.Policies[i]
		pp := Index(Join(path, "policies"), i)
		switch err := checkToken(pol.Name); {
		case pol.Name == "":
			p.Addf(pp, "missing %q", "name")
		case err != nil:
			p.Addf(Join(pp, "name"), "%v", err)
		case names[pol.Name]:
			p.Addf(Join(pp, "name"), "policy %q defined twice", pol.Name)
		}
		names[pol.Name] = true
		if pol.Where.Kind == 0 {
			p.Addf(pp, "missing %q: a condition on the reports the policy acts on", "where")
		} else {
			pol.Cond = compileCond(p, &pol.Where, Join(pp, "where"))
		}
		if pol.Count == 0 {
			pol.Count = 1
		}
		if pol.Count < 1 || pol.Count > 1_000_000 {
			p.Addf(Join(pp, "count"), "must be between 1 and 1000000")
		}
		if pol.Within < 0 {
			p.Addf(Join(pp, "within"), "must not be negative")
		}
		if (pol.Count > 1 || len(pol.With) > 0) && pol.Within == 0 {
			p.Addf(Join(pp, "within"), "missing: counting reports needs a window (within: 1m)")
		}
		for j := range pol.With {
			c := &pol.With[j]
			cp := Index(Join(pp, "with"), j)
			if c.Where.Kind == 0 {
				p.Addf(cp, "missing %q", "where")
			} else {
				c.Cond = compileCond(p, &c.Where, Join(cp, "where"))
			}
			if c.Count == 0 {
				c.Count = 1
			}
			if c.Count < 1 || c.Count > 1_000_000 {
				p.Addf(Join(cp, "count"), "must be between 1 and 1000000")
			}
		}
		if pol.Subject == "" {
			pol.Subject = "host"
		}
		kind, attr, hasAttr := strings.Cut(pol.Subject, ":")
		_, known := subjectParts[kind]
		switch {
		case !known:
			p.Addf(Join(pp, "subject"), "unknown subject %q (want host, ip, addr:ATTRIBUTE, process or conn)", pol.Subject)
		case kind == "addr" && (!hasAttr || !match.ValidField(attr)):
			p.Addf(Join(pp, "subject"), "addr names the attribute holding the address: addr:src")
		case kind != "addr" && hasAttr:
			p.Addf(Join(pp, "subject"), "only addr takes an attribute (addr:src)")
		}
		switch pol.By {
		case "", "ip", "host":
		default:
			p.Addf(Join(pp, "by"), "unknown %q (want ip or host: the field the reports are correlated by)", pol.By)
		}
		if pol.By != "" && pol.By == kind {
			p.Addf(Join(pp, "by"), "the subject is already the report's %s: leave by out", kind)
		}
		if pol.Unit != "" && (strings.ContainsAny(pol.Unit, "/ \t\n\x00") || len(pol.Unit) > 256) {
			p.Addf(Join(pp, "unit"), "%q is not a systemd unit name", pol.Unit)
		}
		if len(pol.Methods) == 0 {
			p.Addf(pp, "missing %q: the response methods (names from responses:) the policy calls", "methods")
		}
		seen := map[string]bool{}
		for j, m := range pol.Methods {
			mp := Index(Join(pp, "methods"), j)
			switch {
			case !methods[m]:
				p.Addf(mp, "no response method named %q in responses:%s", m, yamlnode.DidYouMean(m, keys(methods)))
			case seen[m]:
				p.Addf(mp, "method %q named twice", m)
			}
			seen[m] = true
		}
		if pol.Cooldown < 0 {
			p.Addf(Join(pp, "cooldown"), "must not be negative")
		}
		checkMode(p, Join(pp, "mode"), pol.Mode, true)
		if pol.Duration < 0 {
			p.Addf(Join(pp, "duration"), "must not be negative")
		}
		if pol.Duration > 0 && len(pol.Escalate) > 0 {
			p.Addf(Join(pp, "escalate"), "give duration or escalate, not both")
		}
		for j, d := range pol.Escalate {
			if d <= 0 {
				p.Addf(Index(Join(pp, "escalate"), j), "must be positive")
			} else if j > 0 && d < pol.Escalate[j-1] {
				p.Addf(Index(Join(pp, "escalate"), j), "%v is shorter than the step before it", d)
			}
		}
	}
}

// compileCond reads and compiles a condition written at n; its problems
// keep their positions in the file.
func compileCond(p *Problems, n *yaml.Node, path string) match.Cond {
	r := &yamlnode.Reader{}
	d := match.ReadCondition(r, n, path)
	for _, pr := range r.Problems {
		p.Add(pr)
	}
	if d == nil {
		return nil
	}
	c, probs := match.Compile(d, match.CompileOptions{})
	for _, pr := range probs {
		p.Add(pr)
	}
	return c
}

// NeedsKinds is a Kinds that says which subject parts a method of each
// kind, with its settings, acts on (the response registry). The loader
// then checks that every policy's subject supplies what its methods need.
type NeedsKinds interface {
	Kinds
	Needs(kind string, settings Settings) []string
}

// checkPolicyNeeds checks each policy's methods against what its subject
// supplies.
func (l *loader) checkPolicyNeeds(ro *ResourceObject) {
	nk, ok := l.reg.Responses.(NeedsKinds)
	if !ok {
		return
	}
	kindOf := map[string]string{}
	settingsOf := map[string]Settings{}
	for _, s := range ro.Responses {
		kindOf[s.Name], settingsOf[s.Name] = s.Kind, s.Settings
	}
	for i := range ro.Resolver.Policies {
		pol := &ro.Resolver.Policies[i]
		have := map[string]bool{}
		for _, part := range pol.SubjectParts() {
			have[part] = true
		}
		for j, m := range pol.Methods {
			kind, ok := kindOf[m]
			if !ok {
				continue
			}
			for _, need := range nk.Needs(kind, settingsOf[m]) {
				if !have[need] && !(need == "addr" && have["prefix"]) {
					l.p.Addf(Index(Join(Index("resolver.policies", i), "methods"), j),
						"method %q (%s) acts on %s, which subject %q does not give", m, kind, partWords[need], pol.Subject)
					break
				}
			}
		}
	}
}

// partWords name the subject parts in messages.
var partWords = map[string]string{
	"host": "a host", "addr": "an address", "conn": "a connection", "process": "a process", "unit": "a unit (unit:)",
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// ProtectedPrefixes returns the configured protected addresses as
// prefixes (valid after loading).
func (p Protect) ProtectedPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, a := range p.Addresses {
		if pf, ok := yamlnode.ParseCIDR(a); ok {
			out = append(out, pf)
		}
	}
	return out
}
