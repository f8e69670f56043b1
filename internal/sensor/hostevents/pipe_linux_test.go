//go:build linux && amd64

package hostevents

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/event"
)

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: loading the event programs needs root")
	}
}

// A real `curl URL | sh` against a local web server: whichever of the two
// execs comes second names the other end of the pipe, curl with its URL,
// within 2 s.
func TestCurlPipedIntoShellIsJoined(t *testing.T) {
	needRoot(t)
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("skipped: no curl on this machine")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "echo fetched-and-run")
	}))
	defer srv.Close()
	url := srv.URL + "/install.sh"
	w := openSensor(t, Options{})
	cmd := exec.Command("sh", "-c", curl+" -s "+url+" | sh")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "fetched-and-run") {
		t.Fatalf("curl | sh: %v\n%s", err, out)
	}
	outer := int64(cmd.Process.Pid)
	ev := w.await(t, TypeExec, "of curl or sh naming the other end of the pipe", func(e event.Event) bool {
		return e.Attrs["ppid"] == outer && (e.Attrs["stdin_from"] == "curl" || e.Attrs["stdout_to"] == "sh")
	})
	if ev.Attrs["name"] == "sh" {
		args, _ := ev.Attrs["stdin_from_args"].([]string)
		if ev.Attrs["stdin"] != "pipe" || ev.Attrs["stdin_from_exe"] != curl || !slices.Contains(args, url) {
			t.Errorf("sh's PROC.EXEC %v", ev.Attrs)
		}
	} else {
		args, _ := ev.Attrs["args"].([]string)
		if ev.Attrs["stdout"] != "pipe" || !slices.Contains(args, url) || ev.Attrs["stdout_to_exe"] == nil {
			t.Errorf("curl's PROC.EXEC %v", ev.Attrs)
		}
	}
	t.Logf("joined on %s's exec", ev.Attrs["name"])
}

// Paths given with ".." components, "." and repeated slashes are reported
// clean, filtered as clean: an unlink under a watched directory reached
// through another, a chmod u+s through "..", a rename out of it; hostile
// names stay text and over-long paths do not disturb the events.
func TestDotDotPathsReportedClean(t *testing.T) {
	needRoot(t)
	home, out := t.TempDir(), t.TempDir()
	e := homeEvents(home)
	w := openSensor(t, Options{Events: e})
	cron := filepath.Join(home, "cron.d")
	if err := os.Mkdir(cron, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"x", "y", "a\nb\xff"} {
		if err := os.WriteFile(filepath.Join(cron, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, "/bin/sh", filepath.Join(cron, "sh"), 0o755)
	// From out, "../HOME/..." does not start with the watched prefix as
	// written.
	rel := "../" + filepath.Base(home) + "/./cron.d"
	if filepath.Dir(home) != filepath.Dir(out) {
		t.Skip("skipped: the temporary directories have different parents")
	}
	pid := run(t, out, "rm", rel+"/x")
	ev := w.await(t, TypeModify, "unlink through ..", pidIs(pid))
	if ev.Attrs["op"] != "unlink" || ev.Attrs["path"] != filepath.Join(cron, "x") || ev.Attrs["path_given"] != out+"/"+rel+"/x" {
		t.Errorf("FILE.MODIFY %v", ev.Attrs)
	}
	pid = run(t, out, "chmod", "u+s", rel+"//sh")
	ev = w.await(t, TypePerm, "chmod u+s through ..", pidIs(pid))
	if ev.Attrs["path"] != filepath.Join(cron, "sh") || ev.Attrs["setuid"] != true {
		t.Errorf("FILE.PERM %v", ev.Attrs)
	}
	pid = run(t, out, "mv", rel+"/y", "../"+filepath.Base(out)+"/y")
	ev = w.await(t, TypeModify, "rename out through ..", pidIs(pid))
	if ev.Attrs["path"] != filepath.Join(cron, "y") || ev.Attrs["new_path"] != filepath.Join(out, "y") {
		t.Errorf("FILE.MODIFY %v", ev.Attrs)
	}
	pid = run(t, out, "rm", rel+"/a\nb\xff")
	ev = w.await(t, TypeModify, "unlink of a hostile name", pidIs(pid))
	if ev.Attrs["path"] != cron+"/a\nb\\xff" {
		t.Errorf("FILE.MODIFY path %q", ev.Attrs["path"])
	}
	// A path of 4,096 bytes (the kernel refuses it; the record is cut at
	// its bound) and a watched-looking one that cleans to elsewhere.
	long := rel + strings.Repeat("/.", (4096-len(out)-len(rel))/2)
	pid = runFail(t, out, "rm", "-f", long)
	pid2 := run(t, out, "sh", "-c", "touch z && exec rm "+home+"/cron.d/../../"+filepath.Base(out)+"/z")
	run(t, out, "rm", rel+"/sh")
	w.await(t, TypeModify, "the last unlink", func(e event.Event) bool { return e.Attrs["path"] == filepath.Join(cron, "sh") })
	for _, p := range []int{pid, pid2} {
		if e, ok := w.find(TypeModify, pidIs(p)); ok {
			if p == pid2 || e.Attrs["path_truncated"] != true {
				t.Errorf("an unwatched or cut path reported as watched: %v", e.Attrs)
			}
		}
	}
}

// runFail runs a program expected to fail and returns its pid.
func runFail(t *testing.T, dir, name string, args ...string) int {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	_ = cmd.Run()
	if cmd.Process == nil {
		t.Fatalf("%s did not start", name)
	}
	return cmd.Process.Pid
}
