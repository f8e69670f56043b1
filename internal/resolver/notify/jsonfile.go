package notify

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// Defaults of the JSON-lines file.
const (
	DefaultMaxBytes = 100 << 20
	DefaultKeep     = 5
	maxKeep         = 1000
)

// JSONFileSettings are a jsonfile method's section of a resource object.
type JSONFileSettings struct {
	// Path is the file, relative to the resource object; its directory
	// must exist. It is created with mode 0600.
	Path string `yaml:"path"`
	// Fsync forces each line to the disk before Execute returns.
	Fsync bool `yaml:"fsync"`
	// MaxBytes rotates the file when a line would take it past this size
	// (0: never): path becomes path.1, path.1 path.2, and so on.
	MaxBytes int64 `yaml:"max_bytes"`
	// Keep is how many rotated files are kept.
	Keep   int    `yaml:"keep"`
	Format string `yaml:"format"`

	base string
}

func newJSONFileSettings() config.Settings {
	return &JSONFileSettings{MaxBytes: DefaultMaxBytes, Keep: DefaultKeep, Format: FormatVigil}
}

// Validate checks the path, its directory and the rotation settings.
func (s *JSONFileSettings) Validate(p *config.Problems, path string) {
	s.base = p.BaseDir
	if s.Path == "" {
		p.Addf(config.Join(path, "path"), "missing: the file to append to")
	} else {
		full := action.Deps{}.Path(s.base, s.Path)
		if st, err := os.Stat(filepath.Dir(full)); err != nil {
			p.Addf(config.Join(path, "path"), "directory of %s: %v", full, err)
		} else if !st.IsDir() {
			p.Addf(config.Join(path, "path"), "%s is not a directory", filepath.Dir(full))
		}
		if st, err := os.Lstat(full); err == nil && !st.Mode().IsRegular() {
			p.Addf(config.Join(path, "path"), "%s exists and is not a regular file", full)
		}
	}
	if s.MaxBytes < 0 || (s.MaxBytes > 0 && s.MaxBytes < 4096) {
		p.Addf(config.Join(path, "max_bytes"), "must be 0 (no rotation) or at least 4096")
	}
	if s.Keep < 0 || s.Keep > maxKeep {
		p.Addf(config.Join(path, "keep"), "must be between 0 and %d", maxKeep)
	}
	validFormat(p, path, s.Format)
}

func jsonfileFactory() action.Factory {
	return action.Factory{
		Kind:        KindJSONFile,
		NewSettings: newJSONFileSettings,
		New: func(_ context.Context, cs config.Settings, deps action.Deps) (action.Method, error) {
			s, ok := cs.(*JSONFileSettings)
			if !ok {
				return nil, fmt.Errorf("jsonfile: settings of type %T", cs)
			}
			return newJSONFile(s, deps)
		},
	}
}

// JSONFile appends one JSON object per decision to a file.
type JSONFile struct {
	s    *JSONFileSettings
	path string
	deps action.Deps

	mu   sync.Mutex
	f    *os.File
	size int64
}

var (
	_ action.Method = (*JSONFile)(nil)
	_ action.Closer = (*JSONFile)(nil)
)

func newJSONFile(s *JSONFileSettings, deps action.Deps) (*JSONFile, error) {
	j := &JSONFile{s: s, path: deps.Path(s.base, s.Path), deps: deps}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.open(); err != nil {
		return nil, err
	}
	return j, nil
}

// open opens (creating, mode 0600) the file for appending.
func (j *JSONFile) open() error {
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("jsonfile: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("jsonfile: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("jsonfile: %s is not a regular file", j.path)
	}
	j.f, j.size = f, st.Size()
	return nil
}

// Plan shows the line that would be appended.
func (j *JSONFile) Plan(req action.Request) (string, error) {
	line, err := render(j.s.Format, req, j.deps.Monitor)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("append %d bytes (%s) to %s: %s", len(line)+1, j.s.Format, j.path, preview(line)), nil
}

// Execute appends the line, rotating first when it would take the file
// past max_bytes.
func (j *JSONFile) Execute(ctx context.Context, req action.Request) (action.Outcome, error) {
	line, err := render(j.s.Format, req, j.deps.Monitor)
	if err != nil {
		return action.Outcome{}, err
	}
	line = append(line, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return action.Outcome{}, fmt.Errorf("jsonfile: %w", err)
	}
	if j.f != nil && j.replaced() {
		// Moved or removed by someone else (logrotate): write to the
		// file at the path, not to the one that left it.
		_ = j.f.Close()
		j.f = nil
	}
	if j.f == nil {
		if err := j.open(); err != nil {
			return action.Outcome{}, err
		}
	}
	rotated := false
	if j.s.MaxBytes > 0 && j.size > 0 && j.size+int64(len(line)) > j.s.MaxBytes {
		if err := j.rotate(); err != nil {
			return action.Outcome{}, err
		}
		rotated = true
	}
	n, err := j.f.Write(line)
	j.size += int64(n)
	if err != nil {
		return action.Outcome{}, fmt.Errorf("jsonfile: writing %s: %w", j.path, err)
	}
	if j.s.Fsync {
		if err := j.f.Sync(); err != nil {
			return action.Outcome{}, fmt.Errorf("jsonfile: syncing %s: %w", j.path, err)
		}
	}
	detail := fmt.Sprintf("appended %d bytes (%s) to %s", len(line), j.s.Format, j.path)
	if rotated {
		detail += " after rotating it"
	}
	return action.Outcome{Detail: detail}, nil
}

// replaced tells whether the path no longer names the open file.
func (j *JSONFile) replaced() bool {
	open, err := j.f.Stat()
	if err != nil {
		return true
	}
	now, err := os.Stat(j.path)
	return err != nil || !os.SameFile(open, now)
}

// rotate shifts path.N to path.N+1 (dropping what passes keep), path to
// path.1, and opens a new path.
func (j *JSONFile) rotate() error {
	if err := j.f.Close(); err != nil {
		return fmt.Errorf("jsonfile: closing %s: %w", j.path, err)
	}
	j.f = nil
	name := func(i int) string { return j.path + "." + strconv.Itoa(i) }
	if j.s.Keep == 0 {
		if err := os.Remove(j.path); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("jsonfile: rotating: %w", err)
		}
	} else {
		if err := os.Remove(name(j.s.Keep)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("jsonfile: rotating: %w", err)
		}
		for i := j.s.Keep - 1; i >= 1; i-- {
			if err := os.Rename(name(i), name(i+1)); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("jsonfile: rotating: %w", err)
			}
		}
		if err := os.Rename(j.path, name(1)); err != nil {
			return fmt.Errorf("jsonfile: rotating: %w", err)
		}
	}
	return j.open()
}

// Close closes the file.
func (j *JSONFile) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}
