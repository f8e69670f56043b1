package track

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/models"
)

// Kind is the engine kind resource objects name.
const Kind = "track"

// Settings are a track engine's section of a resource object.
type Settings struct {
	// Models are model files or glob patterns, relative to the resource
	// object.
	Models  []string      `yaml:"models"`
	Beam    int           `yaml:"beam"`
	Floor   float64       `yaml:"floor"`
	Step    float64       `yaml:"report_step"`
	Expire  time.Duration `yaml:"expire"`
	MaxKeys int           `yaml:"max_keys"`
	// Compare lists model pairs to choose between with Wald's test.
	Compare []CompareSettings `yaml:"compare"`

	base string
}

// CompareSettings are one comparison: models [A, B], error rates, and the
// verdicts' texts when A or B is chosen.
type CompareSettings struct {
	Models   []string `yaml:"models"`
	Alpha    float64  `yaml:"alpha"`
	Beta     float64  `yaml:"beta"`
	Verdicts []string `yaml:"verdicts"`
}

func newSettings() config.Settings {
	return &Settings{Beam: 8, Floor: 1e-6, Step: 0.05, Expire: time.Hour, MaxKeys: 200_000}
}

func (s *Settings) files(resolve func(string) string) ([]string, error) {
	var out []string
	for _, pat := range s.Models {
		switch {
		case strings.HasPrefix(pat, models.Prefix):
			out = append(out, pat)
			continue
		case filepath.IsAbs(pat):
		case resolve != nil:
			pat = resolve(pat)
		default:
			pat = filepath.Join(s.base, pat)
		}
		m, err := filepath.Glob(pat)
		if err != nil {
			return nil, fmt.Errorf("model files %q: %w", pat, err)
		}
		if len(m) == 0 {
			m = []string{pat} // reported missing when read
		}
		sort.Strings(m)
		out = append(out, m...)
	}
	return out, nil
}

func (s *Settings) comparisons() []Comparison {
	var out []Comparison
	for _, c := range s.Compare {
		cmp := Comparison{Alpha: c.Alpha, Beta: c.Beta}
		if len(c.Models) == 2 {
			cmp.A, cmp.B = c.Models[0], c.Models[1]
		}
		cmp.VerdictA, cmp.VerdictB = cmp.A+" explains it better", cmp.B+" explains it better"
		if len(c.Verdicts) == 2 {
			cmp.VerdictA, cmp.VerdictB = c.Verdicts[0], c.Verdicts[1]
		}
		out = append(out, cmp)
	}
	return out
}

// Validate loads the model files, so their mistakes are reported with
// their own lines, and checks the comparisons against them.
func (s *Settings) Validate(p *config.Problems, path string) {
	s.base = p.BaseDir
	if len(s.Models) == 0 {
		p.Addf(config.Join(path, "models"), "at least one model file")
		return
	}
	if s.Beam < 1 || s.Beam > 1024 {
		p.Addf(config.Join(path, "beam"), "a beam of 1 to 1024 hypotheses")
	}
	if !(s.Floor > 0 && s.Floor < 1) {
		p.Addf(config.Join(path, "floor"), "a floor between 0 and 1")
	}
	if !(s.Step > 0 && s.Step < 1) {
		p.Addf(config.Join(path, "report_step"), "a step between 0 and 1")
	}
	if s.Expire <= 0 || s.MaxKeys < 1 {
		p.Addf(path, "expire and max_keys must be positive")
	}
	files, err := s.files(nil)
	if err != nil {
		p.Addf(config.Join(path, "models"), "%v", err)
		return
	}
	models, err := LoadModels(files)
	var ce *config.Error
	switch {
	case errors.As(err, &ce):
		for _, pr := range ce.Problems {
			if pr.Line > 0 {
				p.Add(pr)
			} else {
				p.Addf(config.Join(path, "models"), "%s: %s", pr.File, pr.Msg)
			}
		}
		return
	case err != nil:
		p.Addf(config.Join(path, "models"), "%v", err)
		return
	}
	for i, c := range s.Compare {
		cp := config.Index(config.Join(path, "compare"), i)
		if len(c.Models) != 2 {
			p.Addf(config.Join(cp, "models"), "a comparison names two models")
		}
		if len(c.Verdicts) != 0 && len(c.Verdicts) != 2 {
			p.Addf(config.Join(cp, "verdicts"), "two texts: when the first model is chosen, when the second is")
		}
	}
	e := New(models, Options{})
	if err := e.Compare(s.comparisons()); err != nil {
		p.Addf(config.Join(path, "compare"), "%v", err)
	}
}

// Event is the report a monitor stores and disseminates: the columns of
// seed 000 Figure 7 (model, alert status, score, last modified, number of
// observations) with the evidence.
func (r Report) Event() event.Report {
	out := event.Report{Time: r.Time, Model: r.Model.ID, Score: r.Score, Severity: r.Severity, Evidence: r.Evidence,
		Attrs: map[string]any{"title": r.Model.Title, "observations": int64(r.Observations), "key_field": r.KeyField,
			"band_yellow": r.Model.Yellow, "band_red": r.Model.Red}}
	if a, err := netip.ParseAddr(r.Key); err == nil {
		out.IP = a.Unmap().String()
		out.Host = r.Host
	} else {
		out.Host = r.Key
	}
	if !r.LastModified.IsZero() {
		out.Attrs["last_modified"] = r.LastModified.UTC().Format(time.RFC3339Nano)
	}
	score := strconv.FormatFloat(r.Score, 'f', 2, 64)
	if r.Verdict != "" {
		out.State = "Verdict"
		out.Attrs["verdict"], out.Attrs["versus"], out.Attrs["log_likelihood_ratio"] = r.Verdict, r.Versus.ID, r.LLR
		out.Explanation = fmt.Sprintf("%s: %s (%s explains its %d observations better than %s; score %s)", r.Key, r.Verdict, r.Model.ID, r.Observations, r.Versus.ID, score)
		return out
	}
	out.State = r.State
	out.Explanation = fmt.Sprintf("%s: %s %s, score %s after %d observations (%s)", r.Key, r.Model.ID, r.State, score, r.Observations, r.Model.Title)
	return out
}
