package signature

import (
	"errors"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/rules"
)

// Kind is the engine kind resource objects name.
const Kind = "signature"

// Settings are a signature engine's section of a resource object.
type Settings struct {
	// Rules are rule files or glob patterns, relative to the resource
	// object.
	Rules []string `yaml:"rules"`
	// Reload is how often the files are checked for changes (0: never).
	Reload       time.Duration `yaml:"reload"`
	MaxGroups    int           `yaml:"max_groups"`
	MaxInstances int           `yaml:"max_instances"`
	MaxFacts     int           `yaml:"max_facts"`
	MaxSuppress  int           `yaml:"max_suppress"`
	// Suppress is how long a rule stays quiet about the same subject
	// after reporting it, unless the rule says otherwise.
	Suppress time.Duration `yaml:"suppress"`
	// Lists replace the rule files' lists of the same name: the site's
	// own networks, accounts, services.
	Lists map[string][]string `yaml:"lists"`
	// Overrides tailor rules by id: enabled, severity, count, window,
	// suppress.
	Overrides map[string]Override `yaml:"overrides"`
	// Disable turns rules off by id.
	Disable []string `yaml:"disable"`

	base string
}

func newSettings() config.Settings {
	return &Settings{Reload: 10 * time.Second, Suppress: DefaultSuppress}
}

func (s *Settings) options() Options {
	sup := s.Suppress
	return Options{Lists: s.Lists, Overrides: s.Overrides, Disable: s.Disable, Suppress: &sup}
}

func (s *Settings) patterns(resolve func(string) string) []string {
	out := make([]string, 0, len(s.Rules))
	for _, r := range s.Rules {
		switch {
		case filepath.IsAbs(r), strings.HasPrefix(r, rules.Prefix):
			out = append(out, r)
		case resolve != nil:
			out = append(out, resolve(r))
		default:
			out = append(out, filepath.Join(s.base, r))
		}
	}
	return out
}

// Validate loads and compiles the rule files, so that their mistakes are
// reported with their own files and lines.
func (s *Settings) Validate(p *config.Problems, path string) {
	s.base = p.BaseDir
	if len(s.Rules) == 0 {
		p.Addf(config.Join(path, "rules"), "at least one rule file")
		return
	}
	if s.Reload < 0 || s.Suppress < 0 || s.MaxGroups < 0 || s.MaxInstances < 0 || s.MaxFacts < 0 || s.MaxSuppress < 0 {
		p.Addf(path, "reload, suppress and the max_ limits must not be negative")
	}
	_, _, err := Load(s.patterns(nil), s.options())
	var ce *config.Error
	switch {
	case errors.As(err, &ce):
		for _, pr := range ce.Problems {
			if pr.Line > 0 {
				p.Add(pr)
				continue
			}
			where := config.Join(path, "rules")
			if pr.Path != "" && pr.File == "" {
				where = config.Join(path, pr.Path)
			}
			if pr.File != "" {
				p.Addf(where, "%s: %s", pr.File, pr.Msg)
			} else {
				p.Addf(where, "%s", pr.Msg)
			}
		}
	case err != nil:
		p.Addf(config.Join(path, "rules"), "%v", err)
	}
}
