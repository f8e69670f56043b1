package profile

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/match"
	"github.com/vigil-ids/vigil/internal/yamlnode"
)

// Kind is the engine kind resource objects name.
const Kind = "profile"

// Settings are a profile engine's section of a resource object.
type Settings struct {
	Classes     []ClassSettings `yaml:"classes"`
	MaxSubjects int             `yaml:"max_subjects"`
	Expire      time.Duration   `yaml:"expire"`
	// Suppress is how long a subject is not reported again after a
	// report (the next report says how many were held back).
	Suppress time.Duration `yaml:"suppress"`
	// State is where the learnt profiles are kept between runs, relative
	// to the resource object ("" : the monitor's store).
	State string `yaml:"state"`

	classes []*Class
	base    string
}

// ClassSettings declare a profile class (docs/PROFILES.md).
type ClassSettings struct {
	Name          string            `yaml:"name"`
	Match         yaml.Node         `yaml:"match"`
	Subject       string            `yaml:"subject"`
	Session       string            `yaml:"session"`
	ShortHalfLife *float64          `yaml:"short_half_life"`
	LongHalfLife  time.Duration     `yaml:"long_half_life"`
	Update        time.Duration     `yaml:"update"`
	UpdateAt      time.Duration     `yaml:"update_at"`
	Rare          float64           `yaml:"rare"`
	Alert         float64           `yaml:"alert"`
	Red           float64           `yaml:"red"`
	MinHistory    float64           `yaml:"min_history"`
	BusinessHours string            `yaml:"business_hours"`
	Measures      []MeasureSettings `yaml:"measures"`
}

// MeasureSettings declare one measure: exactly one of categorical,
// continuous (with bins), intensity or distribution.
type MeasureSettings struct {
	Name         string          `yaml:"name"`
	Categorical  string          `yaml:"categorical"`
	Continuous   string          `yaml:"continuous"`
	Bins         yaml.Node       `yaml:"bins"`
	Intensity    []time.Duration `yaml:"intensity"`
	Distribution bool            `yaml:"distribution"`
}

func newSettings() config.Settings {
	return &Settings{MaxSubjects: 100_000, Expire: 30 * 24 * time.Hour, Suppress: 10 * time.Minute}
}

// Validate checks every class and compiles it.
func (s *Settings) Validate(p *config.Problems, path string) {
	s.base = p.BaseDir
	s.classes = nil
	if len(s.Classes) == 0 {
		p.Addf(config.Join(path, "classes"), "at least one profile class")
	}
	if s.MaxSubjects < 1 || s.Expire <= 0 || s.Suppress < 0 {
		p.Addf(path, "max_subjects and expire must be positive, suppress not negative")
	}
	names := map[string]bool{}
	for i := range s.Classes {
		cp := config.Index(config.Join(path, "classes"), i)
		c := s.Classes[i].compile(p, cp)
		if c == nil {
			continue
		}
		if names[c.Name] {
			p.Addf(config.Join(cp, "name"), "class %q is defined twice", c.Name)
		}
		names[c.Name] = true
		s.classes = append(s.classes, c)
	}
}

// compile makes a Class from the settings, with defaults: a short-term
// half-life of 50 events, a 30-day long-term half-life, daily updates at
// 03:00, rare below 1%, alerts above the 99th percentile (red above the
// 99.9th) after 100 scored events.
func (cs *ClassSettings) compile(p *config.Problems, path string) *Class {
	n := p.Len()
	c := &Class{Name: cs.Name, Subject: cs.Subject, Session: cs.Session, ShortHalfLife: 50, LongHalfLife: 30 * 24 * time.Hour,
		Update: 24 * time.Hour, UpdateAt: 3 * time.Hour, Rare: 0.01, Alert: 0.99, Red: 0.999, MinHistory: 100}
	if cs.Name == "" {
		p.Addf(config.Join(path, "name"), "a class needs a name")
	}
	if cs.Subject == "" {
		p.Addf(config.Join(path, "subject"), "the field naming the subject (src, host, ...)")
	}
	if cs.ShortHalfLife != nil {
		c.ShortHalfLife = *cs.ShortHalfLife
		if c.ShortHalfLife < 0 {
			p.Addf(config.Join(path, "short_half_life"), "a half-life in events, not negative (0: the event alone)")
		}
	}
	set := func(d *time.Duration, v time.Duration) {
		if v != 0 {
			*d = v
		}
	}
	set(&c.LongHalfLife, cs.LongHalfLife)
	set(&c.Update, cs.Update)
	set(&c.UpdateAt, cs.UpdateAt)
	if c.LongHalfLife < 0 || c.Update < 0 || c.UpdateAt < 0 || c.UpdateAt >= c.Update {
		p.Addf(path, "long_half_life and update must be positive, update_at within the update period")
	}
	for _, f := range []struct {
		name string
		v    float64
		dst  *float64
	}{{"rare", cs.Rare, &c.Rare}, {"alert", cs.Alert, &c.Alert}, {"red", cs.Red, &c.Red}} {
		if f.v == 0 {
			continue
		}
		if !(f.v > 0 && f.v < 1) {
			p.Addf(config.Join(path, f.name), "a probability between 0 and 1, not %v", f.v)
		}
		*f.dst = f.v
	}
	if c.Red < c.Alert {
		p.Addf(config.Join(path, "red"), "the red percentile %v is below the alert percentile %v", c.Red, c.Alert)
	}
	if cs.MinHistory > 0 {
		c.MinHistory = cs.MinHistory
	}
	if cs.BusinessHours != "" {
		bh, err := parseHours(cs.BusinessHours)
		if err != nil {
			p.Addf(config.Join(path, "business_hours"), "%v", err)
		}
		c.BusinessHours = bh
	}
	if cs.Match.Kind != 0 {
		// The match's own problems keep their positions in the file.
		r := &yamlnode.Reader{}
		m := match.Parse(r, &cs.Match, config.Join(path, "match"), nil)
		for _, pr := range r.Problems {
			p.Add(pr)
		}
		if m != nil {
			c.Accept = m.Matches
		}
	}
	if len(cs.Measures) == 0 {
		p.Addf(config.Join(path, "measures"), "at least one measure")
	}
	seen := map[string]bool{}
	for i, ms := range cs.Measures {
		mp := config.Index(config.Join(path, "measures"), i)
		for _, m := range ms.compile(p, mp) {
			if seen[m.Name] {
				p.Addf(config.Join(mp, "name"), "measure %q is defined twice", m.Name)
			}
			seen[m.Name] = true
			c.Measures = append(c.Measures, m)
		}
	}
	if len(c.Measures) > 64 {
		p.Addf(config.Join(path, "measures"), "%d measures: at most 64", len(c.Measures))
	}
	if p.Len() > n {
		return nil
	}
	return c
}

// compile makes the measures one entry declares (an intensity entry with
// several scales declares one measure per scale).
func (ms *MeasureSettings) compile(p *config.Problems, path string) []Measure {
	kinds := 0
	for _, set := range []bool{ms.Categorical != "", ms.Continuous != "", len(ms.Intensity) > 0, ms.Distribution} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		p.Addf(path, "a measure is one of categorical: FIELD, continuous: FIELD, intensity: [SCALES] or distribution: true")
		return nil
	}
	name := ms.Name
	switch {
	case ms.Categorical != "":
		if name == "" {
			name = ms.Categorical
		}
		return []Measure{{Name: name, Kind: Categorical, Field: ms.Categorical}}
	case ms.Continuous != "":
		if name == "" {
			name = ms.Continuous
		}
		m := Measure{Name: name, Kind: Continuous, Field: ms.Continuous}
		switch {
		case ms.Bins.Kind == 0 || ms.Bins.Kind == yaml.ScalarNode && ms.Bins.Value == "log2":
			m.Edges = log2Edges()
		case ms.Bins.Kind == yaml.ScalarNode && ms.Bins.Value == "auto":
			m.AutoBins = 200
		case ms.Bins.Kind == yaml.SequenceNode:
			for _, e := range ms.Bins.Content {
				v, err := strconv.ParseFloat(e.Value, 64)
				if err != nil || math.IsNaN(v) || len(m.Edges) > 0 && v <= m.Edges[len(m.Edges)-1] {
					p.Addf(config.Join(path, "bins"), "bin edges are increasing numbers: %q is not", e.Value)
					return nil
				}
				m.Edges = append(m.Edges, v)
			}
			if len(m.Edges) == 0 || len(m.Edges) > 63 {
				p.Addf(config.Join(path, "bins"), "1 to 63 bin edges")
			}
		default:
			p.Addf(config.Join(path, "bins"), "log2 (the default), auto (learnt from each subject's first values) or a list of edges")
		}
		return []Measure{m}
	case len(ms.Intensity) > 0:
		if name == "" {
			name = "intensity"
		}
		var out []Measure
		for _, sc := range ms.Intensity {
			if sc <= 0 {
				p.Addf(config.Join(path, "intensity"), "a scale is a positive duration")
				continue
			}
			out = append(out, Measure{Name: name + "@" + sc.String(), Kind: Intensity, Scale: sc})
		}
		return out
	default:
		if name == "" {
			name = "distribution"
		}
		return []Measure{{Name: name, Kind: Distribution}}
	}
}

// log2Edges bin counts and sizes by powers of two: 0, 1, 2, 4, ... 2^40.
func log2Edges() []float64 {
	edges := []float64{1}
	for k := 1; k <= 40; k++ {
		edges = append(edges, math.Exp2(float64(k)))
	}
	return edges
}

// parseHours reads "HH:MM-HH:MM".
func parseHours(s string) ([2]time.Duration, error) {
	var out [2]time.Duration
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return out, fmt.Errorf("business hours as HH:MM-HH:MM, not %q", s)
	}
	for i, part := range []string{from, to} {
		t, err := time.Parse("15:04", strings.TrimSpace(part))
		if err != nil {
			return out, fmt.Errorf("business hours as HH:MM-HH:MM, not %q", s)
		}
		out[i] = time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
	}
	if out[1] <= out[0] {
		return out, fmt.Errorf("business hours %q end before they start", s)
	}
	return out, nil
}

// ClassesIn returns the classes of a loaded resource object's profile
// engine named name ("": its first profile engine).
func ClassesIn(cfg *config.ResourceObject, name string) ([]*Class, error) {
	for _, spec := range cfg.Engines {
		if s, ok := spec.Settings.(*Settings); ok && (name == "" || spec.Name == name) {
			return s.classes, nil
		}
	}
	if name != "" {
		return nil, fmt.Errorf("no profile engine named %q", name)
	}
	return nil, fmt.Errorf("no profile engine")
}
