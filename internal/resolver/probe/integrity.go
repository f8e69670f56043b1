package probe

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// What file-probe and exe-probe share: hashing a file within bounds, the
// expectations it is compared with (a recorded SHA-256, or the MD5 the
// owning Debian package lists), and finding those packages.

// expectation is what a file's content is compared with.
type expectation struct {
	// what is the property compared: "sha256" or "md5".
	what string
	// want is the expected sum in lower-case hex.
	want string
	// against says where want comes from: "the expected SHA-256",
	// `package "coreutils"`.
	against string
}

// sha256Expect expects the SHA-256 sum (hex, any case).
func sha256Expect(sum, against string) expectation {
	return expectation{what: "sha256", want: strings.ToLower(sum), against: against}
}

// dpkgExpect expects the MD5 that the package listing path (absolute,
// under either of its merged-/usr names) gives; false when no package
// among owners lists it.
func dpkgExpect(owners map[string]dpkgEntry, path string) (expectation, bool) {
	for _, c := range dpkgCandidates(path) {
		if e, ok := owners[c]; ok {
			return expectation{what: "md5", want: hex.EncodeToString(e.sum[:]), against: "package " + strconv.Quote(e.pkg)}, true
		}
	}
	return expectation{}, false
}

// ownerMismatch is the difference of a file that dpkg: true asks about
// and no package's md5sums list.
func ownerMismatch(target, dpkgDir string) *ErrMismatch {
	return &ErrMismatch{Target: target, What: "owner", Want: "a package listing it in " + dpkgDir,
		Got: "none (not from a package, or a conffile, whose sums dpkg keeps elsewhere)"}
}

func (e expectation) newHash() hash.Hash {
	if e.what == "md5" {
		return md5.New()
	}
	return sha256.New()
}

// compare returns the difference between the expectation and the sum got
// (nil when they match) for target.
func (e expectation) compare(target, got string) *ErrMismatch {
	if got == e.want {
		return nil
	}
	return &ErrMismatch{Target: target, What: e.what, Want: e.want + " (" + e.against + ")", Got: got}
}

// matched says, for a pass detail, what got matched.
func (e expectation) matched(got string) string {
	return fmt.Sprintf("%s (%s %s)", e.against, strings.ToUpper(e.what), got)
}

// checkMaxFileBytes validates a max_file_bytes setting.
func checkMaxFileBytes(p *config.Problems, path string, n int64) {
	if n < 1 || n > maxMaxFileBytes {
		p.Addf(config.Join(path, "max_file_bytes"), "must be between 1 and %d", int64(maxMaxFileBytes))
	}
}

// checkDpkgDir validates a dpkg_info_dir setting that something asks for
// (why: "a file asks for dpkg").
func checkDpkgDir(p *config.Problems, path, base, dir, why string) {
	d := action.Deps{}.Path(base, dir)
	if st, err := os.Stat(d); err != nil {
		p.Addf(config.Join(path, "dpkg_info_dir"), "%v (%s)", err, why)
	} else if !st.IsDir() {
		p.Addf(config.Join(path, "dpkg_info_dir"), "%s is not a directory", d)
	}
}

// hashFile hashes the regular file at path, refusing one longer than max.
func hashFile(ctx context.Context, path string, max int64, h hash.Hash) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return hashOpen(ctx, f, path, max, h)
}

// hashOpen hashes the open regular file f, named name in messages,
// refusing one longer than max (max_file_bytes).
func hashOpen(ctx context.Context, f *os.File, name string, max int64, h hash.Hash) (string, error) {
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%q is not a regular file (%s); not checked", name, st.Mode().Type())
	}
	if st.Size() > max {
		return "", fmt.Errorf("%q is %d bytes, over max_file_bytes %d; not checked", name, st.Size(), max)
	}
	n, err := io.Copy(h, &ctxReader{ctx: ctx, r: io.LimitReader(f, max+1)})
	if err != nil {
		return "", fmt.Errorf("reading %q: %w", name, err)
	}
	if n > max {
		return "", fmt.Errorf("%q grew over max_file_bytes %d while read; not checked", name, max)
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

// ownersOf finds, in the md5sums lists in dir, the packages listing the
// absolute paths (under either of their merged-/usr names).
func ownersOf(ctx context.Context, dir string, paths []string) (map[string]dpkgEntry, error) {
	var want []string
	for _, p := range paths {
		want = append(want, dpkgCandidates(p)...)
	}
	return findOwners(ctx, dir, want)
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
