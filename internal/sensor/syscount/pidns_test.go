//go:build linux && amd64

package syscount

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// nsReport is what a counter run inside a pid namespace of its own saw.
type nsReport struct {
	Self    int32               `json:"self"`    // the counting process's pid there
	Caller  int32               `json:"caller"`  // its caller's pid there
	Vectors []event.CountVector `json:"vectors"` // every vector it drained
	Err     string              `json:"err,omitempty"`
}

// TestPidNamespaceCountsOnlyItsOwn runs two counters at once, each in a
// pid namespace of its own (with its own /proc) beside a caller program,
// while a third caller runs outside both: each counter reports its own
// namespace's processes only, under the pids that namespace gives them,
// with their exact counts, and none of the other callers.
func TestPidNamespaceCountsOnlyItsOwn(t *testing.T) {
	if caller := os.Getenv("VIGIL_SYSCOUNT_NS_CALLER"); caller != "" {
		pidnsHelper(caller)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to make pid and mount namespaces and load the counter")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("skipped: unshare (util-linux) not found")
	}
	// The machine's counter must load at all, else the reason is the skip.
	openCounter(t, Options{}).Close()
	dir := t.TempDir()
	callers := map[string]string{}
	for _, name := range []string{"ns_a_caller", "ns_b_caller", "outside_caller"} {
		callers[name] = buildCaller(t, dir, name)
	}
	const writes, getppids = 3000, 7000

	outside := exec.Command(callers["outside_caller"], "100000", "100000", "50", "60")
	if err := outside.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = outside.Process.Kill(); _ = outside.Wait() }()

	reports := map[string]*nsReport{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, name := range []string{"ns_a_caller", "ns_b_caller"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(unshare, "--pid", "--mount", "--fork", "--mount-proc", os.Args[0], "-test.run=^TestPidNamespaceCountsOnlyItsOwn$")
			cmd.Env = append(os.Environ(), "VIGIL_SYSCOUNT_NS_CALLER="+callers[name]+" "+strconv.Itoa(writes)+" "+strconv.Itoa(getppids))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				errs <- fmt.Errorf("counter in the namespace of %s: %w: %s", name, err, stderr.String())
				return
			}
			var r nsReport
			if i := bytes.IndexByte(out, '{'); i < 0 {
				errs <- fmt.Errorf("counter in the namespace of %s printed no report: %s", name, out)
				return
			} else if err := json.NewDecoder(bytes.NewReader(out[i:])).Decode(&r); err != nil {
				errs <- fmt.Errorf("counter in the namespace of %s: %w: %s", name, err, out)
				return
			}
			if r.Err != "" {
				errs <- fmt.Errorf("counter in the namespace of %s: %s", name, r.Err)
				return
			}
			mu.Lock()
			reports[name] = &r
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for name, r := range reports {
		var w, g uint64
		for _, v := range r.Vectors {
			// The namespace holds this test's program (with its children
			// between fork and exec) and the caller, numbered from 1 up.
			self := filepath.Base(os.Args[0])
			if len(self) > 15 {
				self = self[:15]
			}
			if (v.Process != self && v.Process != name) || v.PID < 1 || v.PID > r.Caller {
				t.Errorf("%s's counter reported pid %d named %q (%v): not a process of its namespace (itself %d, its caller %d)", name, v.PID, v.Process, v.Counts, r.Self, r.Caller)
			}
			if v.PID == r.Caller && v.Process == name {
				for _, c := range v.Counts {
					switch c.Nr {
					case uint16(nrWrite):
						w += c.Count
					case uint16(nrGetppid):
						g += c.Count
					}
				}
			}
		}
		if w < writes || g != getppids {
			t.Errorf("%s's counter saw its caller (pid %d) make %d writes and %d getppid calls; want at least %d and exactly %d", name, r.Caller, w, g, writes, getppids)
		}
		if r.Self != 1 {
			t.Errorf("%s's counter has pid %d in its namespace; want 1 (the namespace's first process)", name, r.Self)
		}
	}
}

// pidnsHelper is the test's process inside a pid namespace: it opens a
// counter (which sees it is in a namespace of its own), runs the caller
// given as "PATH WRITES GETPPIDS" in phases over about a second and a
// half, and prints what it drained as one JSON object.
func pidnsHelper(spec string) {
	var r nsReport
	defer func() {
		b, _ := json.Marshal(r)
		fmt.Println(string(b))
		os.Exit(0)
	}()
	var path, writes, getppids string
	if _, err := fmt.Sscan(spec, &path, &writes, &getppids); err != nil {
		r.Err = err.Error()
		return
	}
	r.Self = int32(os.Getpid())
	c, err := Open(Options{Host: "ns", Interval: 200 * time.Millisecond})
	if err != nil {
		r.Err = err.Error()
		return
	}
	defer c.Close()
	k := collect(c, 200*time.Millisecond)
	cmd := exec.Command(path, writes, getppids, "100", "15")
	if err := cmd.Start(); err != nil {
		r.Err = err.Error()
		return
	}
	r.Caller = int32(cmd.Process.Pid)
	err = cmd.Wait()
	close(k.stop)
	err = errors.Join(err, <-k.done, k.drain())
	if err != nil {
		r.Err = fmt.Sprintf("%s: %v", filepath.Base(path), err)
	}
	r.Vectors = k.vecs
}
