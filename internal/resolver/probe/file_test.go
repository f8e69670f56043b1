package probe

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// fakeRoot is a temporary tree of files and a dpkg info directory whose
// md5sums lists name them relative to the tree's root, as dpkg names
// files relative to /.
type fakeRoot struct {
	root, info string
}

func newFakeRoot(t *testing.T) *fakeRoot {
	t.Helper()
	dir := t.TempDir()
	f := &fakeRoot{root: filepath.Join(dir, "root"), info: filepath.Join(dir, "info")}
	for _, d := range []string{f.root, f.info} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// file writes content at the absolute path root+rel and returns that path.
func (f *fakeRoot) file(t *testing.T, rel, content string) string {
	t.Helper()
	p := filepath.Join(f.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// list writes pkg's md5sums list naming the absolute paths with sums.
func (f *fakeRoot) list(t *testing.T, pkg string, lines ...string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.info, pkg+".md5sums"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fileProbe(t *testing.T, set func(*FileSettings)) action.Method {
	t.Helper()
	return build(t, KindFile, func(cs config.Settings) { set(cs.(*FileSettings)) })
}

func TestFileProbePassesWhenHashesMatch(t *testing.T) {
	f := newFakeRoot(t)
	conf := f.file(t, "etc/site.conf", "listen 80\n")
	bin := f.file(t, "usr/sbin/httpd", "\x7fELF binary")
	rel := strings.TrimLeft(bin, "/")
	f.list(t, "aaa-other", md5hex("x")+"  usr/share/doc/other/README")
	f.list(t, "httpd:amd64", "# not a line", md5hex("\x7fELF binary")+"  "+rel)
	m := fileProbe(t, func(s *FileSettings) {
		s.DpkgInfoDir = f.info
		s.Files = []FileCheck{{Path: conf, SHA256: sum256("listen 80\n")}, {Path: bin, Dpkg: true}}
	})
	plan, err := m.Plan(request())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"hash 2 files", `"` + conf + `" (SHA-256, expect ` + sum256("listen 80\n"), `"` + bin + `" (MD5 against the md5sums of the package that lists it in ` + f.info} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan %q lacks %q", plan, want)
		}
	}
	out, err := m.Execute(context.Background(), request())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.Detail, "pass: ") || !strings.Contains(out.Detail, `matches package "httpd:amd64" (MD5 `+md5hex("\x7fELF binary")) {
		t.Errorf("detail %q", out.Detail)
	}
}

func TestFileProbeFailsOnAChangedFile(t *testing.T) {
	f := newFakeRoot(t)
	conf := f.file(t, "etc/site.conf", "listen 80\nbackdoor on\n")
	bin := f.file(t, "usr/sbin/httpd", "trojan")
	f.list(t, "httpd", md5hex("\x7fELF binary")+"  "+strings.TrimLeft(bin, "/"))
	m := fileProbe(t, func(s *FileSettings) {
		s.DpkgInfoDir = f.info
		s.Files = []FileCheck{{Path: conf, SHA256: sum256("listen 80\n")}, {Path: bin, Dpkg: true}}
	})
	out, err := m.Execute(context.Background(), request())
	ms := mismatches(err)
	if len(ms) != 2 {
		t.Fatalf("error %v, want two mismatches", err)
	}
	if ms[0].Target != conf || ms[0].What != "sha256" || ms[0].Got != sum256("listen 80\nbackdoor on\n") {
		t.Errorf("first mismatch %+v", ms[0])
	}
	if ms[1].Target != bin || ms[1].What != "md5" || !strings.HasPrefix(ms[1].Want, md5hex("\x7fELF binary")+` (package "httpd")`) || ms[1].Got != md5hex("trojan") {
		t.Errorf("second mismatch %+v", ms[1])
	}
	if !strings.HasPrefix(out.Detail, "fail: ") || !strings.Contains(err.Error(), "2 of 2 files failed") {
		t.Errorf("detail %q, error %v", out.Detail, err)
	}
}

func TestFileProbeFailsOnAMissingFileAndChecksTheOthers(t *testing.T) {
	f := newFakeRoot(t)
	ok := f.file(t, "etc/ok", "fine")
	gone := filepath.Join(f.root, "usr/sbin/gone")
	f.list(t, "gone", md5hex("x")+"  "+strings.TrimLeft(gone, "/"))
	m := fileProbe(t, func(s *FileSettings) {
		s.DpkgInfoDir = f.info
		s.Files = []FileCheck{{Path: gone, Dpkg: true}, {Path: ok, SHA256: sum256("fine")}}
	})
	out, err := m.Execute(context.Background(), request())
	ms := mismatches(err)
	if len(ms) != 1 || ms[0].What != "existence" || ms[0].Target != gone {
		t.Fatalf("error %v, want the missing file", err)
	}
	if !strings.Contains(out.Detail, "pass: \""+ok+"\" matches") || !strings.Contains(err.Error(), "1 of 2 files failed") {
		t.Errorf("detail %q, error %v", out.Detail, err)
	}
}

func TestFileProbeReportsAFileNoPackageOwns(t *testing.T) {
	f := newFakeRoot(t)
	dropped := f.file(t, "usr/bin/kworkerd", "miner")
	f.list(t, "coreutils", md5hex("x")+"  usr/bin/true")
	m := fileProbe(t, func(s *FileSettings) { s.DpkgInfoDir = f.info; s.Files = []FileCheck{{Path: dropped, Dpkg: true}} })
	_, err := m.Execute(context.Background(), request())
	ms := mismatches(err)
	if len(ms) != 1 || ms[0].What != "owner" || !strings.Contains(ms[0].Got, "none") {
		t.Fatalf("error %v, want the file reported as owned by no package", err)
	}
}

func TestFileProbeDoesNotHashOverItsLimitOrNonRegularFiles(t *testing.T) {
	f := newFakeRoot(t)
	big := f.file(t, "var/big", strings.Repeat("y", 101))
	m := fileProbe(t, func(s *FileSettings) {
		s.MaxFileBytes = 100
		s.Files = []FileCheck{{Path: big, SHA256: sum256(strings.Repeat("y", 101))}, {Path: f.root, SHA256: sum256("")}}
	})
	_, err := m.Execute(context.Background(), request())
	if err == nil || !strings.Contains(err.Error(), "over max_file_bytes 100; not checked") || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("error %v", err)
	}
	if len(mismatches(err)) != 0 {
		t.Errorf("a file that could not be checked is not a mismatch: %v", err)
	}
}

func TestFileProbeStopsWhenItsContextIsCancelled(t *testing.T) {
	f := newFakeRoot(t)
	p := f.file(t, "x", "x")
	m := fileProbe(t, func(s *FileSettings) { s.Files = []FileCheck{{Path: p, SHA256: sum256("x")}} })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Execute(ctx, request()); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
}

func TestDpkgCandidatesCoverMergedUsr(t *testing.T) {
	for in, want := range map[string]string{
		"/bin/true":         "bin/true usr/bin/true",
		"/usr/bin/true":     "usr/bin/true bin/true",
		"/usr/share/x":      "usr/share/x",
		"/lib64/ld.so":      "lib64/ld.so usr/lib64/ld.so",
		"/etc/../bin//true": "bin/true usr/bin/true",
	} {
		if got := strings.Join(dpkgCandidates(in), " "); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}

// TestFileProbeOnThisDebianSystem checks /usr/bin/true and /bin/true
// against the real dpkg database (coreutils' md5sums).
func TestFileProbeOnThisDebianSystem(t *testing.T) {
	if _, err := os.Stat(filepath.Join(DefaultDpkgInfoDir, "coreutils.md5sums")); err != nil {
		t.Skipf("no Debian package database here: %v", err)
	}
	m := fileProbe(t, func(s *FileSettings) {
		s.Files = []FileCheck{{Path: "/usr/bin/true", Dpkg: true}, {Path: "/bin/true", Dpkg: true}}
	})
	out, err := m.Execute(context.Background(), request())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.Detail, `matches package "coreutils"`) != 2 {
		t.Errorf("detail %q", out.Detail)
	}
	t.Log(out.Detail)
}

func TestFileProbeSettingsMistakes(t *testing.T) {
	s := newFileSettings().(*FileSettings)
	s.DpkgInfoDir = "/nonexistent/info"
	s.MaxFileBytes = -1
	s.Files = []FileCheck{{Path: "relative/x", SHA256: "zz"}, {Path: "/x", SHA256: sum256(""), Dpkg: true}, {Path: "/y"}, {Dpkg: true}}
	got := strings.Join(problems(s), "\n")
	for _, want := range []string{
		`r.files[0].path: "relative/x" is not an absolute path`, "r.files[0].sha256: want 64 hex",
		"r.files[1]: both sha256 and dpkg", "r.files[2]: missing: sha256", "r.files[3].path: missing",
		"r.max_file_bytes", "r.dpkg_info_dir: stat /nonexistent/info",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	if got := problems(newFileSettings()); len(got) != 1 || !strings.Contains(got[0], "r.files: missing") {
		t.Errorf("empty settings: %q", got)
	}
}
