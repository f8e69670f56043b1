package probe

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/config"
)

// TestDocExampleLoadsAndBuilds loads the resource object of the Integrity
// probes section of docs/RESPONSES.md, so that the example a reader copies
// stays valid, and builds and plans each of its methods.
func TestDocExampleLoadsAndBuilds(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/RESPONSES.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "## Integrity probes")
	if !ok {
		t.Fatal("docs/RESPONSES.md has no Integrity probes section")
	}
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindStringSubmatch(section)
	if block == nil {
		t.Fatal("no yaml example in the Integrity probes section")
	}
	if _, err := os.Stat(DefaultDpkgInfoDir); err != nil {
		t.Skipf("the example names %s: %v", DefaultDpkgInfoDir, err)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "certs"), 0o755); err != nil {
		t.Fatal(err)
	}
	tls := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(tls.Close)
	if err := os.Rename(writeCert(t, tls), filepath.Join(dir, "certs", "internal-ca.pem")); err != nil {
		t.Fatal(err)
	}
	r := registry(t)
	ro, err := config.Load([]byte("monitor: {name: svc-web}\n"+block[1]), filepath.Join(dir, "monitor.yml"), config.Registries{Responses: r})
	if err != nil {
		t.Fatal(err)
	}
	if len(ro.Responses) != 3 {
		t.Fatalf("%d responses, want 3", len(ro.Responses))
	}
	hs := ro.Responses[0].Settings.(*HTTPSettings)
	if hs.Host != "www.example.net" || hs.MaxBodyBytes != 1<<20 || len(hs.Needs()) != 1 {
		t.Errorf("http-probe settings %+v", hs)
	}
	fs := ro.Responses[1].Settings.(*FileSettings)
	if len(fs.Files) != 2 || !fs.Files[0].Dpkg || fs.Files[1].SHA256 == "" {
		t.Errorf("file-probe settings %+v", fs)
	}
	es := ro.Responses[2].Settings.(*ExeSettings)
	if len(es.Names) != 2 || !es.Dpkg || len(es.Baseline) != 1 || es.MaxProcesses != DefaultMaxProcesses {
		t.Errorf("exe-probe settings %+v", es)
	}
	deps := testDeps()
	deps.Resolve = func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	for _, spec := range ro.Responses {
		m, err := r.Build(context.Background(), spec, deps)
		if err != nil {
			t.Fatalf("%s: %v", spec.Name, err)
		}
		plan, err := m.Plan(request())
		if err != nil {
			t.Errorf("%s: plan: %v", spec.Name, err)
		}
		t.Logf("%s: %s", spec.Name, plan)
	}
}

func TestProbeMistakesAreReportedWithTheirLines(t *testing.T) {
	src := `monitor: {name: m}
responses:
  - kind: http-probe
    name: h
    url: gopher://x
    status: 700
  - kind: file-probe
    name: f
    files:
      - path: /usr/bin/true
        sha256: nothex
      - path: bin/true
        dpkg: true
        colour: red
  - kind: exe-probe
    name: e
    names: [apache2, /usr/sbin/sshd]
    baseline:
      /usr/sbin/apache2: nothex
      usr/sbin/x: 4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358
    max_processes: 0
`
	_, err := config.Load([]byte(src), filepath.Join(t.TempDir(), "m.yml"), config.Registries{Responses: registry(t)})
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v, want a config error", err)
	}
	want := map[int]string{5: `scheme "gopher"`, 6: "700", 11: "64 hex", 12: "absolute", 14: "colour",
		17: "holds a slash", 19: "64 hex", 20: "not an absolute path", 21: "between 1 and 4096"}
	for line, text := range want {
		found := false
		for _, p := range ce.Problems {
			if p.Line == line && strings.Contains(p.Msg, text) {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem on line %d mentioning %q in:\n%v", line, text, err)
		}
	}
}
