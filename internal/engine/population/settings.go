package population

import (
	"fmt"
	"path"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/match"
	"github.com/vigil-ids/vigil/internal/yamlnode"
)

// Kind is the engine kind resource objects name.
const Kind = "population"

// Distances a class may be judged by.
const (
	Hellinger = "hellinger"
	JS        = "js"
	ChiSquare = "chi2"
)

// Settings are a population engine's section of a resource object
// (docs/ENGINES.md).
type Settings struct {
	// Match selects the events that count (default: every event).
	Match yaml.Node `yaml:"match"`
	// Field is the event field whose values make a host's mix ("type":
	// the observation types); HostField names the host.
	Field     string `yaml:"field"`
	HostField string `yaml:"host_field"`
	// HalfLife ages every host's counts: an event weighs half as much
	// after it.
	HalfLife time.Duration `yaml:"half_life"`
	// Evaluate is how often the hosts are compared with their peers.
	Evaluate time.Duration `yaml:"evaluate"`
	// Distance is hellinger, js or chi2 (each between 0 and 1).
	Distance string `yaml:"distance"`
	// Threshold is the distance above which a host departs from its
	// peers; Red the distance of a red report.
	Threshold float64 `yaml:"threshold"`
	Red       float64 `yaml:"red"`
	// Spread: a host is reported only when its distance is also above
	// the class's median distance plus Spread times their MAD (0: off),
	// so that a class of unlike hosts is not reported whole.
	Spread float64 `yaml:"spread"`
	// MinPeers is how many other hosts of the class, each with MinEvents,
	// a host is compared with at least; MinEvents the aged count of
	// events a host needs to be judged or to count as a peer.
	MinPeers  int     `yaml:"min_peers"`
	MinEvents float64 `yaml:"min_events"`
	// Top is how many of the most different values a report names.
	Top      int             `yaml:"top"`
	Suppress time.Duration   `yaml:"suppress"`
	MaxHosts int             `yaml:"max_hosts"`
	MaxTypes int             `yaml:"max_types"`
	Expire   time.Duration   `yaml:"expire"`
	State    string          `yaml:"state"`
	Classes  []ClassSettings `yaml:"classes"`
	// Measures are named numeric attributes whose aged mean per host is
	// compared with the peers' median (robust z against their MAD).
	Measures []MeasureSettings `yaml:"measures"`

	cfg  *Config
	base string
}

// ClassSettings declare a host class: host name patterns, or an
// attribute's values, or both (a host is in the first class it fits).
type ClassSettings struct {
	Name      string   `yaml:"name"`
	Hosts     []string `yaml:"hosts"`
	Attribute string   `yaml:"attribute"`
	Values    []string `yaml:"values"`
}

// MeasureSettings declare one numeric measure.
type MeasureSettings struct {
	Name  string `yaml:"name"`
	Field string `yaml:"field"`
	// Threshold is the robust z (|value - median| / (1.4826 MAD)) above
	// which the measure departs.
	Threshold float64 `yaml:"threshold"`
}

// Config is what validated settings compile to.
type Config struct {
	Accept    func(*event.Event) bool
	Field     string
	HostField string
	HalfLife  time.Duration
	Evaluate  time.Duration
	Distance  string
	Threshold float64
	Red       float64
	Spread    float64
	MinPeers  int
	MinEvents float64
	Top       int
	Suppress  time.Duration
	MaxHosts  int
	MaxTypes  int
	Expire    time.Duration
	Classes   []Class
	Measures  []Measure
}

// Class is a compiled host class.
type Class struct {
	Name      string
	Hosts     []string
	Attribute string
	Values    map[string]bool
}

// Measure is a compiled numeric measure.
type Measure struct {
	Name      string
	Field     string
	Threshold float64
}

func newSettings() config.Settings {
	return &Settings{Field: "type", HostField: "host", HalfLife: 10 * time.Minute, Evaluate: time.Minute,
		Distance: Hellinger, Threshold: 0.3, Red: 0.6, Spread: 3, MinPeers: 3, MinEvents: 50, Top: 3,
		Suppress: 30 * time.Minute, MaxHosts: 10_000, MaxTypes: 64, Expire: 24 * time.Hour}
}

// Validate checks the settings and compiles them.
func (s *Settings) Validate(p *config.Problems, at string) {
	s.base = p.BaseDir
	s.cfg = nil
	n := p.Len()
	c := &Config{Field: s.Field, HostField: s.HostField, HalfLife: s.HalfLife, Evaluate: s.Evaluate, Distance: s.Distance,
		Threshold: s.Threshold, Red: s.Red, Spread: s.Spread, MinPeers: s.MinPeers, MinEvents: s.MinEvents, Top: s.Top,
		Suppress: s.Suppress, MaxHosts: s.MaxHosts, MaxTypes: s.MaxTypes, Expire: s.Expire}
	if s.Field == "" {
		p.Addf(config.Join(at, "field"), "the event field whose values make a host's mix (type, source, ...)")
	}
	if s.HostField == "" {
		p.Addf(config.Join(at, "host_field"), "the event field naming the host (host, ip, ...)")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"half_life", s.HalfLife}, {"evaluate", s.Evaluate}, {"expire", s.Expire}} {
		if d.v <= 0 {
			p.Addf(config.Join(at, d.name), "a positive duration, not %s", d.v)
		}
	}
	if s.Suppress < 0 {
		p.Addf(config.Join(at, "suppress"), "a duration not below zero, not %s", s.Suppress)
	}
	switch s.Distance {
	case Hellinger, JS, ChiSquare:
	default:
		p.Addf(config.Join(at, "distance"), "%q: want %s, %s or %s", s.Distance, Hellinger, JS, ChiSquare)
	}
	if !(s.Threshold > 0 && s.Threshold < 1) {
		p.Addf(config.Join(at, "threshold"), "a distance between 0 and 1, not %v", s.Threshold)
	} else if !(s.Red >= s.Threshold && s.Red <= 1) {
		p.Addf(config.Join(at, "red"), "a distance from the threshold (%v) to 1, not %v", s.Threshold, s.Red)
	}
	if s.Spread < 0 {
		p.Addf(config.Join(at, "spread"), "not negative (0: off), not %v", s.Spread)
	}
	if s.MinPeers < 1 {
		p.Addf(config.Join(at, "min_peers"), "at least 1 peer, not %d", s.MinPeers)
	}
	if !(s.MinEvents >= 1) {
		p.Addf(config.Join(at, "min_events"), "at least 1 event, not %v", s.MinEvents)
	}
	if s.Top < 1 || s.Top > 20 {
		p.Addf(config.Join(at, "top"), "1 to 20 values, not %d", s.Top)
	}
	if s.MaxHosts < 1 {
		p.Addf(config.Join(at, "max_hosts"), "at least 1, not %d", s.MaxHosts)
	}
	if s.MaxTypes < 2 || s.MaxTypes > 1024 {
		p.Addf(config.Join(at, "max_types"), "2 to 1024 values per host, not %d", s.MaxTypes)
	}
	if s.Match.Kind != 0 {
		r := &yamlnode.Reader{}
		m := match.Parse(r, &s.Match, config.Join(at, "match"), nil)
		for _, pr := range r.Problems {
			p.Add(pr)
		}
		if m != nil {
			c.Accept = m.Matches
		}
	}
	if len(s.Classes) == 0 {
		p.Addf(config.Join(at, "classes"), "at least one host class (name, and hosts or attribute with values)")
	}
	names := map[string]bool{}
	for i, cs := range s.Classes {
		cp := config.Index(config.Join(at, "classes"), i)
		cl := Class{Name: cs.Name, Hosts: cs.Hosts, Attribute: cs.Attribute}
		if cs.Name == "" {
			p.Addf(config.Join(cp, "name"), "a class needs a name")
		} else if names[cs.Name] {
			p.Addf(config.Join(cp, "name"), "class %q is defined twice", cs.Name)
		}
		names[cs.Name] = true
		if len(cs.Hosts) == 0 && cs.Attribute == "" {
			p.Addf(cp, "a class names its hosts: hosts (name patterns such as web-*) or attribute with values")
		}
		for j, h := range cs.Hosts {
			if _, err := path.Match(h, ""); err != nil || h == "" {
				p.Addf(config.Index(config.Join(cp, "hosts"), j), "%q is not a host name pattern (*, ?, [a-z])", h)
			}
		}
		if (cs.Attribute == "") != (len(cs.Values) == 0) {
			p.Addf(config.Join(cp, "values"), "attribute and values go together: the attribute's values that put a host in the class")
		}
		if len(cs.Values) > 0 {
			cl.Values = map[string]bool{}
			for _, v := range cs.Values {
				cl.Values[v] = true
			}
		}
		c.Classes = append(c.Classes, cl)
	}
	mnames := map[string]bool{}
	for i, ms := range s.Measures {
		mp := config.Index(config.Join(at, "measures"), i)
		m := Measure{Name: ms.Name, Field: ms.Field, Threshold: ms.Threshold}
		if m.Field == "" {
			p.Addf(config.Join(mp, "field"), "the numeric attribute measured")
		}
		if m.Name == "" {
			m.Name = m.Field
		}
		if mnames[m.Name] {
			p.Addf(config.Join(mp, "name"), "measure %q is defined twice", m.Name)
		}
		mnames[m.Name] = true
		if m.Threshold == 0 {
			m.Threshold = 5
		}
		if !(m.Threshold > 0) {
			p.Addf(config.Join(mp, "threshold"), "a robust z above 0, not %v", m.Threshold)
		}
		c.Measures = append(c.Measures, m)
	}
	if len(s.Measures) > 16 {
		p.Addf(config.Join(at, "measures"), "%d measures: at most 16", len(s.Measures))
	}
	if p.Len() > n {
		return
	}
	s.cfg = c
}

// classOf is the class a host is in by its name, or by the event's
// attribute; -1 when none.
func (c *Config) classOf(host string, ev *event.Event) int {
	for i := range c.Classes {
		for _, pat := range c.Classes[i].Hosts {
			if ok, _ := path.Match(pat, host); ok {
				return i
			}
		}
	}
	for i := range c.Classes {
		cl := &c.Classes[i]
		if cl.Attribute != "" && cl.Values[ev.Field(cl.Attribute)] {
			return i
		}
	}
	return -1
}

// ConfigIn returns the compiled settings of a loaded resource object's
// population engine named name ("": its first).
func ConfigIn(cfg *config.ResourceObject, name string) (*Config, error) {
	for _, spec := range cfg.Engines {
		if s, ok := spec.Settings.(*Settings); ok && (name == "" || spec.Name == name) {
			return s.cfg, nil
		}
	}
	return nil, fmt.Errorf("no population engine %q", name)
}
