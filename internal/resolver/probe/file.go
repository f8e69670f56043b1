package probe

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
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
	if s.MaxFileBytes < 1 || s.MaxFileBytes > maxMaxFileBytes {
		p.Addf(config.Join(path, "max_file_bytes"), "must be between 1 and %d", int64(maxMaxFileBytes))
	}
	if usesDpkg {
		dir := action.Deps{}.Path(s.base, s.DpkgInfoDir)
		if st, err := os.Stat(dir); err != nil {
			p.Addf(config.Join(path, "dpkg_info_dir"), "%v (a file asks for dpkg)", err)
		} else if !st.IsDir() {
			p.Addf(config.Join(path, "dpkg_info_dir"), "%s is not a directory", dir)
		}
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
		var want []string
		for _, f := range fp.files {
			if f.Dpkg {
				want = append(want, dpkgCandidates(f.Path)...)
			}
		}
		var err error
		if owners, err = findOwners(ctx, fp.dpkgDir, want); err != nil {
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
	var h hash.Hash
	var want, what, against string
	if f.Dpkg {
		var e dpkgEntry
		found := false
		for _, c := range dpkgCandidates(f.Path) {
			if e, found = owners[c]; found {
				break
			}
		}
		if !found {
			return "", &ErrMismatch{Target: f.Path, What: "owner", Want: "a package listing it in " + fp.dpkgDir,
				Got: "none (not from a package, or a conffile, whose sums dpkg keeps elsewhere)"}
		}
		h, want, what, against = md5.New(), hex.EncodeToString(e.sum[:]), "md5", "package "+strconv.Quote(e.pkg)
	} else {
		h, want, what, against = sha256.New(), f.SHA256, "sha256", "the expected SHA-256"
	}
	got, err := hashFile(ctx, f.Path, fp.max, h)
	if errors.Is(err, fs.ErrNotExist) {
		return "", &ErrMismatch{Target: f.Path, What: "existence", Want: "a file", Got: "no such file"}
	}
	if err != nil {
		return "", err
	}
	if got != want {
		return "", &ErrMismatch{Target: f.Path, What: what, Want: want + " (" + against + ")", Got: got}
	}
	return fmt.Sprintf("%q matches %s (%s %s)", f.Path, against, strings.ToUpper(what), got), nil
}

// hashFile hashes the regular file at path, refusing one longer than max.
func hashFile(ctx context.Context, path string, max int64, h hash.Hash) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%q is not a regular file (%s); not checked", path, st.Mode().Type())
	}
	if st.Size() > max {
		return "", fmt.Errorf("%q is %d bytes, over max_file_bytes %d; not checked", path, st.Size(), max)
	}
	n, err := io.Copy(h, &ctxReader{ctx: ctx, r: io.LimitReader(f, max+1)})
	if err != nil {
		return "", fmt.Errorf("reading %q: %w", path, err)
	}
	if n > max {
		return "", fmt.Errorf("%q grew over max_file_bytes %d while read; not checked", path, max)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ctxReader stops a long read when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// dpkgEntry is a file's line in a package's md5sums.
type dpkgEntry struct {
	pkg string
	sum [md5.Size]byte
}

// dpkgCandidates are the relative paths under which dpkg may list the
// absolute path p: itself, and its other name on a merged-/usr system
// (/bin/true is /usr/bin/true; packages list either).
func dpkgCandidates(p string) []string {
	rel := strings.TrimLeft(filepath.Clean(p), "/")
	out := []string{rel}
	top, _, _ := strings.Cut(rel, "/")
	if rest, ok := strings.CutPrefix(rel, "usr/"); ok {
		top, _, _ = strings.Cut(rest, "/")
		if mergedTop(top) {
			out = append(out, rest)
		}
	} else if mergedTop(top) {
		out = append(out, "usr/"+rel)
	}
	return out
}

// mergedTop reports whether /top is a link to /usr/top on a merged-/usr
// Debian.
func mergedTop(top string) bool {
	switch top {
	case "bin", "sbin", "lib", "lib32", "lib64", "libx32":
		return true
	}
	return false
}

// findOwners reads the md5sums lists in dir and returns, for each of the
// wanted relative paths that a list names, the package and its MD5. When
// several packages list a path (it should not happen), the first by
// file name wins.
func findOwners(ctx context.Context, dir string, want []string) (map[string]dpkgEntry, error) {
	wanted := map[string]bool{}
	for _, w := range want {
		wanted[w] = true
	}
	lists, err := filepath.Glob(filepath.Join(dir, "*.md5sums"))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("dpkg_info_dir: %w", err)
	}
	sort.Strings(lists)
	out := map[string]dpkgEntry{}
	for _, list := range lists {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pkg := strings.TrimSuffix(filepath.Base(list), ".md5sums")
		if err := scanMD5Sums(list, func(sum [md5.Size]byte, path string) {
			if _, seen := out[path]; wanted[path] && !seen {
				out[path] = dpkgEntry{pkg: pkg, sum: sum}
			}
		}); err != nil {
			return nil, err
		}
		if len(out) == len(wanted) {
			break
		}
	}
	return out, nil
}

// scanMD5Sums calls fn for each well-formed line of the list at path;
// malformed lines are skipped (they name no file that could match).
func scanMD5Sums(path string, fn func([md5.Size]byte, string)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, maxMD5SumsBytes))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if sum, p, err := ParseMD5SumsLine(sc.Text()); err == nil {
			fn(sum, p)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
