package probe

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// Defaults and bounds of a file-probe.
const (
	DefaultDpkgInfoDir  = "/var/lib/dpkg/info"
	DefaultMaxFileBytes = 256 << 20
	maxMaxFileBytes     = 16 << 30
	maxProbeFiles       = 1024
	// maxMD5SumsBytes bounds one md5sums list read.
	maxMD5SumsBytes = 64 << 20
)

// FileCheck is one file a file-probe checks: against SHA256, or, with
// Dpkg, against the MD5 its Debian package lists.
type FileCheck struct {
	Path   string `yaml:"path"`
	SHA256 string `yaml:"sha256"`
	Dpkg   bool   `yaml:"dpkg"`
}

// FileSettings are a file-probe's section of a resource object.
type FileSettings struct {
	// Files are the files checked, each with an expected SHA-256 or dpkg.
	Files []FileCheck `yaml:"files"`
	// DpkgInfoDir holds the packages' md5sums lists.
	DpkgInfoDir string `yaml:"dpkg_info_dir"`
	// MaxFileBytes bounds each file read; a longer file is not hashed and
	// fails the probe.
	MaxFileBytes int64 `yaml:"max_file_bytes"`

	base string
}

func newFileSettings() config.Settings {
	return &FileSettings{DpkgInfoDir: DefaultDpkgInfoDir, MaxFileBytes: DefaultMaxFileBytes}
}

// Validate checks each file's path and expectation, the dpkg directory
// (when a file uses it) and the size bound.
func (s *FileSettings) Validate(p *config.Problems, path string) {
	s.base = p.BaseDir
	files := config.Join(path, "files")
	if len(s.Files) == 0 {
		p.Addf(files, "missing: a list of files, each with path and sha256 or dpkg: true")
	}
	if len(s.Files) > maxProbeFiles {
		p.Addf(files, "%d files: at most %d", len(s.Files), maxProbeFiles)
	}
	usesDpkg := false
	for i, f := range s.Files {
		at := config.Index(files, i)
		switch {
		case f.Path == "":
			p.Addf(config.Join(at, "path"), "missing: the file's absolute path")
		case !filepath.IsAbs(f.Path):
			p.Addf(config.Join(at, "path"), "%q is not an absolute path", action.Clip(f.Path, 200))
		}
		switch {
		case f.SHA256 != "" && f.Dpkg:
			p.Addf(at, "both sha256 and dpkg: give one")
		case f.SHA256 == "" && !f.Dpkg:
			p.Addf(at, "missing: sha256 (64 hex digits) or dpkg: true")
		case f.SHA256 != "" && !isHex(f.SHA256, sha256.Size*2):
			p.Addf(config.Join(at, "sha256"), "want 64 hex digits (sha256sum's output), got %q", action.Clip(f.SHA256, 80))
		}
		usesDpkg = usesDpkg || f.Dpkg
	}
	checkMaxFileBytes(p, path, s.MaxFileBytes)
	if usesDpkg {
		checkDpkgDir(p, path, s.base, s.DpkgInfoDir, "a file asks for dpkg")
	}
}

func fileFactory() action.Factory {
	return action.Factory{
		Kind:        KindFile,
		NewSettings: newFileSettings,
		New: func(_ context.Context, cs config.Settings, deps action.Deps) (action.Method, error) {
			s, ok := cs.(*FileSettings)
			if !ok {
				return nil, fmt.Errorf("%s: settings of type %T", KindFile, cs)
			}
			return newFileProbe(s, deps), nil
		},
	}
}

// FileProbe hashes files of the monitor's host and compares them.
type FileProbe struct {
	files   []FileCheck
	dpkgDir string
	max     int64
}

var _ action.Method = (*FileProbe)(nil)

func newFileProbe(s *FileSettings, deps action.Deps) *FileProbe {
	files := make([]FileCheck, len(s.Files))
	for i, f := range s.Files {
		f.Path = filepath.Clean(f.Path)
		f.SHA256 = strings.ToLower(f.SHA256)
		files[i] = f
	}
	return &FileProbe{files: files, dpkgDir: deps.Path(s.base, s.DpkgInfoDir), max: s.MaxFileBytes}
}

// Plan says which files would be hashed and against what.
func (fp *FileProbe) Plan(action.Request) (string, error) {
	parts := make([]string, len(fp.files))
	for i, f := range fp.files {
		if f.Dpkg {
			parts[i] = fmt.Sprintf("%q (MD5 against the md5sums of the package that lists it in %s)", f.Path, fp.dpkgDir)
		} else {
			parts[i] = fmt.Sprintf("%q (SHA-256, expect %s)", f.Path, f.SHA256)
		}
	}
	return fmt.Sprintf("hash %d %s of at most %d bytes each on this host: %s",
		len(fp.files), plural(len(fp.files), "file", "files"), fp.max, strings.Join(parts, "; ")), nil
}

// Execute hashes every file and compares. Mismatches (a different hash,
// a missing file, a file no package lists) are joined *ErrMismatch
// errors; a file that cannot be checked (unreadable, too large, not a
// regular file) is an error of its own. Every file is checked even when
// one fails.
func (fp *FileProbe) Execute(ctx context.Context, _ action.Request) (action.Outcome, error) {
	var owners map[string]dpkgEntry
	if fp.usesDpkg() {
		var paths []string
		for _, f := range fp.files {
			if f.Dpkg {
				paths = append(paths, f.Path)
			}
		}
		var err error
		if owners, err = ownersOf(ctx, fp.dpkgDir, paths); err != nil {
			return action.Outcome{}, fmt.Errorf("%s: %w", KindFile, err)
		}
	}
	var errs, passes []string
	var all []error
	for _, f := range fp.files {
		if err := ctx.Err(); err != nil {
			return action.Outcome{}, fmt.Errorf("%s: %w", KindFile, err)
		}
		ok, err := fp.check(ctx, f, owners)
		if err != nil {
			all = append(all, err)
			errs = append(errs, err.Error())
			continue
		}
		passes = append(passes, ok)
	}
	if len(all) > 0 {
		err := fmt.Errorf("%s: %d of %d %s failed: %w", KindFile, len(all), len(fp.files), plural(len(fp.files), "file", "files"), errors.Join(all...))
		detail := fmt.Sprintf("fail: %s", strings.Join(errs, "; "))
		if len(passes) > 0 {
			detail += "; pass: " + strings.Join(passes, "; ")
		}
		return action.Outcome{Detail: detail}, err
	}
	return action.Outcome{Detail: "pass: " + strings.Join(passes, "; ")}, nil
}

func (fp *FileProbe) usesDpkg() bool {
	for _, f := range fp.files {
		if f.Dpkg {
			return true
		}
	}
	return false
}

// check checks one file and says what matched.
func (fp *FileProbe) check(ctx context.Context, f FileCheck, owners map[string]dpkgEntry) (string, error) {
	var exp expectation
	if f.Dpkg {
		var ok bool
		if exp, ok = dpkgExpect(owners, f.Path); !ok {
			return "", ownerMismatch(f.Path, fp.dpkgDir)
		}
	} else {
		exp = sha256Expect(f.SHA256, "the expected SHA-256")
	}
	got, err := hashFile(ctx, f.Path, fp.max, exp.newHash())
	if errors.Is(err, fs.ErrNotExist) {
		return "", &ErrMismatch{Target: f.Path, What: "existence", Want: "a file", Got: "no such file"}
	}
	if err != nil {
		return "", err
	}
	if d := exp.compare(f.Path, got); d != nil {
		return "", d
	}
	return fmt.Sprintf("%q matches %s", f.Path, exp.matched(got)), nil
}
