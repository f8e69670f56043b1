package classify

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/learn"
	"github.com/vigil-ids/vigil/models"
)

// Kind is the engine kind resource objects name.
const Kind = "classify"

// Defaults.
const (
	DefaultConfidence   = 0.8
	DefaultSuppress     = 10 * time.Minute
	DefaultMaxProcesses = 50_000
	DefaultExpire       = 5 * time.Minute
	DefaultTop          = 3
	// DefaultNoveltyBelow caps the novelty thresholds: a process whose
	// class is still the likelier answer is not called novel, however
	// sure the model was of that class's held-out sequences (a model that
	// gave nearly all of them probability 1 would otherwise call any
	// doubt novel).
	DefaultNoveltyBelow = 0.5
	// MaxProcessesLimit bounds max_processes (each process holds SeqLen
	// dense vectors).
	MaxProcessesLimit = 1_000_000
)

// Settings are a classify engine's section of a resource object.
type Settings struct {
	// Model is the model file (vigil train classifier), relative to the
	// resource object.
	Model string `yaml:"model"`
	// Stride is how many new vectors of a process make its next sequence
	// classified (default: the model's sequence length, no overlap).
	Stride int `yaml:"stride"`
	// Confidence is the least probability of the top class for a
	// non-grata or masquerade report.
	Confidence float64 `yaml:"confidence"`
	// Suppress is how long a process is not reported again for the same
	// scenario.
	Suppress time.Duration `yaml:"suppress"`
	// MaxProcesses bounds the processes followed; past it the least
	// recently seen is forgotten (and counted).
	MaxProcesses int `yaml:"max_processes"`
	// Expire forgets a process that sent no vector for that long.
	Expire time.Duration `yaml:"expire"`
	// Top is how many of the most probable classes a report lists.
	Top int `yaml:"top"`
	// NoveltyBelow caps every class's novelty threshold (from training).
	NoveltyBelow float64 `yaml:"novelty_below"`
	// Persist is how many consecutive classified sequences of a process
	// must show a scenario before it is reported (with stride 1, one a
	// second).
	Persist int `yaml:"persist"`

	file *learn.File // loaded by Validate
	path string      // the model file, made absolute by Validate
}

func newSettings() config.Settings {
	return &Settings{Confidence: DefaultConfidence, Suppress: DefaultSuppress, MaxProcesses: DefaultMaxProcesses,
		Expire: DefaultExpire, Top: DefaultTop, NoveltyBelow: DefaultNoveltyBelow, Persist: 1}
}

// Validate loads the model file, so that `vigil check` refuses a missing
// or corrupted one with the loader's error, and checks the rest against
// it.
func (s *Settings) Validate(p *config.Problems, path string) {
	if !(s.Confidence > 0 && s.Confidence <= 1) {
		p.Addf(config.Join(path, "confidence"), "a probability above 0 and at most 1")
	}
	if s.Suppress < 0 {
		p.Addf(config.Join(path, "suppress"), "must not be negative")
	}
	if s.MaxProcesses < 1 || s.MaxProcesses > MaxProcessesLimit {
		p.Addf(config.Join(path, "max_processes"), "1 to %d processes", MaxProcessesLimit)
	}
	if s.Expire <= 0 {
		p.Addf(config.Join(path, "expire"), "must be positive")
	}
	if s.Top < 1 || s.Top > 16 {
		p.Addf(config.Join(path, "top"), "1 to 16 classes")
	}
	if !(s.NoveltyBelow > 0 && s.NoveltyBelow <= 1) {
		p.Addf(config.Join(path, "novelty_below"), "a probability above 0 and at most 1")
	}
	if s.Persist < 1 || s.Persist > 60 {
		p.Addf(config.Join(path, "persist"), "1 to 60 sequences")
	}
	if s.Stride < 0 {
		p.Addf(config.Join(path, "stride"), "must not be negative")
	}
	if s.Model == "" {
		p.Addf(config.Join(path, "model"), "a model file (vigil train classifier --model FILE)")
		return
	}
	s.path = s.Model
	if !filepath.IsAbs(s.path) && p.BaseDir != "" && !strings.HasPrefix(s.Model, models.Prefix) {
		s.path = filepath.Join(p.BaseDir, s.path)
	}
	f, err := loadModel(s.path)
	if err != nil {
		p.Addf(config.Join(path, "model"), "%v", err)
		return
	}
	if s.Stride > f.SeqLen {
		p.Addf(config.Join(path, "stride"), "at most the model's sequence length, %d", f.SeqLen)
	}
	s.file = f
}

// loadModel loads a model file, or one shipped in the binary
// (builtin:classifier.vgm).
func loadModel(path string) (*learn.File, error) {
	name, ok := strings.CutPrefix(path, models.Prefix)
	if !ok {
		return learn.LoadFile(path)
	}
	data, found := models.Builtin(name)
	if !found {
		return nil, fmt.Errorf("%q: no such model in the binary (the one shipped: %sclassifier.vgm)", path, models.Prefix)
	}
	f, err := learn.Load(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%q: %w", path, err)
	}
	return f, nil
}
