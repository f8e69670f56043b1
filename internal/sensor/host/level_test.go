package host

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// levelSteps feeds trees to an agent every 4 s of a manual clock and
// returns the level observations of each step, in order.
func levelSteps(t *testing.T, cfg EvalConfig, trees []treeSpec) [][]event.Event {
	t.Helper()
	root := filepath.Join(t.TempDir(), "proc")
	clk := clock.NewManual(t0)
	var agent *Agent
	var out [][]event.Event
	for _, spec := range trees {
		if err := os.RemoveAll(root); err != nil {
			t.Fatal(err)
		}
		writeTree(t, root, spec)
		if agent == nil {
			ex, err := NewExtractor(root, testutil.Quiet())
			if err != nil {
				t.Fatal(err)
			}
			cfg.Executable = func(pid int) string { return fmt.Sprintf("/usr/bin/prog-%d", pid) }
			agent = NewAgent(AgentOptions{Extractor: ex, Eval: cfg, HostID: "web-3", IP: "10.0.0.3", Clock: clk,
				IDs: event.NewSeededIDs(7), Logger: testutil.Quiet()})
		}
		evs, err := agent.Step(clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		var lv []event.Event
		for _, ev := range evs {
			if ev.Type == event.TypeProcCPULevel || ev.Type == event.TypeProcMemLevel {
				lv = append(lv, ev)
			}
		}
		out = append(out, lv)
		clk.Advance(4 * time.Second)
	}
	return out
}

// burning is the base host where a miner, a child of bash (200), burns
// cpu[i] ticks (1/100 s) in the 4 s before sample i, and is gone when
// cpu[i] is negative.
func burning(cpu ...int) []treeSpec {
	var trees []treeSpec
	used := uint64(0)
	for _, c := range cpu {
		tr := base()
		if c >= 0 {
			used += uint64(c)
			tr.procs = append(tr.procs, procSpec{pid: 4242, ppid: 200, comm: "xmrig", state: "R", utime: used, start: 800, rssPages: 5000})
		}
		trees = append(trees, tr)
	}
	return trees
}

// TestCPULevelHeldRepeatedEnded: a process at 95% of a core is reported
// once the level has held its time (not before), again only after the
// repeat interval, and once when it drops below the level.
func TestCPULevelHeldRepeatedEnded(t *testing.T) {
	cfg := EvalConfig{Window: 3, Levels: Levels{CPU: 90, CPUFor: 12 * time.Second, Repeat: 20 * time.Second}}
	// Samples 0..12, 4 s apart: 95% from sample 1 to 9, then 5%.
	steps := levelSteps(t, cfg, burning(0, 380, 380, 380, 380, 380, 380, 380, 380, 380, 20, 20, 20))
	var at []string
	for i, evs := range steps {
		for _, ev := range evs {
			at = append(at, fmt.Sprintf("%d:%s", i, kind(&ev)))
		}
	}
	// Held from sample 0 (the start of the first interval at 95%): 12 s
	// at sample 3; repeated 20 s later at sample 8; ended at sample 10.
	if want := []string{"3:reached", "8:ongoing", "10:ended"}; !slices.Equal(at, want) {
		t.Fatalf("level observations %v, want %v", at, want)
	}
	first := steps[3][0]
	if first.Type != event.TypeProcCPULevel || first.Str("name") != "xmrig" || first.Str("pid") != "4242" ||
		first.Str("exe") != "/usr/bin/prog-4242" || first.Str("parent_name") != "bash" || first.Str("ppid") != "200" {
		t.Errorf("first observation %s", first.AppendJSON(nil))
	}
	if v, _ := first.Num("cpu_pct"); v != 95 {
		t.Errorf("cpu_pct %v, want 95: %s", v, first.AppendJSON(nil))
	}
	if h, _ := first.Num("held_s"); h != 12 {
		t.Errorf("held_s %v, want 12", h)
	}
	if lv, _ := first.Num("level"); lv != 90 {
		t.Errorf("level %v, want 90", lv)
	}
	if anc := first.Attrs["ancestors"]; fmt.Sprint(anc) != "[bash systemd]" {
		t.Errorf("ancestors %v, want [bash systemd]", anc)
	}
	if u, ok := first.Attrs["user"]; ok && u == "" {
		t.Error("an empty user name")
	}
	if h, _ := steps[8][0].Num("held_s"); h != 32 {
		t.Errorf("ongoing held_s %v, want 32: %s", h, steps[8][0].AppendJSON(nil))
	}
	end := steps[10][0]
	if h, _ := end.Num("held_s"); h != 36 || end.Str("ended") != "true" {
		t.Errorf("end %s: want ended, held 36 s (samples 0 to 9)", end.AppendJSON(nil))
	}
	if v, _ := end.Num("cpu_pct"); v != 5 {
		t.Errorf("end cpu_pct %v, want the sample that ended it, 5", v)
	}
}

// TestCPULevelInterrupted: a dip below the level starts the time again;
// a level that never held its time reports nothing, not even an end.
func TestCPULevelInterrupted(t *testing.T) {
	cfg := EvalConfig{Window: 3, Levels: Levels{CPU: 90, CPUFor: 12 * time.Second}}
	steps := levelSteps(t, cfg, burning(0, 380, 380, 300, 380, 380, 20, 380, 380, 380))
	for i, evs := range steps {
		if i != 9 && len(evs) > 0 {
			t.Errorf("sample %d: %s (the level never held 12 s before it)", i, evs[0].AppendJSON(nil))
		}
	}
	if len(steps[9]) != 1 || kind(&steps[9][0]) != "reached" {
		t.Errorf("sample 9 (12 s since sample 6): %v", steps[9])
	}
}

// TestLevelEndsWhenProcessExits: a process that exits while it holds its
// level ends the level, saying it exited.
func TestLevelEndsWhenProcessExits(t *testing.T) {
	cfg := EvalConfig{Window: 3, Levels: Levels{CPU: 90, CPUFor: 4 * time.Second}}
	steps := levelSteps(t, cfg, burning(0, 390, 390, -1))
	if len(steps[1]) != 1 || kind(&steps[1][0]) != "reached" {
		t.Fatalf("sample 1: %v", steps[1])
	}
	if len(steps[3]) != 1 || kind(&steps[3][0]) != "ended" || steps[3][0].Str("exited") != "true" {
		t.Fatalf("sample 3: %v, want the end, exited", steps[3])
	}
	if v, _ := steps[3][0].Num("cpu_pct_peak"); v != 97.5 {
		t.Errorf("peak %v, want 97.5", v)
	}
}

// TestMemLevel: memory held over a share of the host's, or over a size,
// is reported once held, and not while it is below both.
func TestMemLevel(t *testing.T) {
	page := uint64(os.Getpagesize())
	grow := func(rss ...uint64) []treeSpec {
		var trees []treeSpec
		for _, r := range rss {
			tr := base()
			tr.procs = append(tr.procs, procSpec{pid: 4300, ppid: 1, comm: "java", start: 800, rssPages: int(r / page)})
			trees = append(trees, tr)
		}
		return trees
	}
	// The fixture host has 16 GiB.
	steps := levelSteps(t, EvalConfig{Window: 3, Levels: Levels{Mem: 50, MemFor: 8 * time.Second}},
		grow(1<<30, 9<<30, 9<<30, 9<<30, 2<<30))
	got := ""
	for i, evs := range steps {
		for _, ev := range evs {
			got += fmt.Sprintf("%d:%s:%s ", i, ev.Type, kind(&ev))
		}
	}
	if want := "3:PROC.MEM.LEVEL:reached 4:PROC.MEM.LEVEL:ended "; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if p, _ := steps[3][0].Num("mem_pct"); p != 56.25 {
		t.Errorf("mem_pct %v, want 56.25: %s", p, steps[3][0].AppendJSON(nil))
	}
	steps = levelSteps(t, EvalConfig{Window: 3, Levels: Levels{MemMB: 2048, MemFor: 0}}, grow(1<<30, 3<<30))
	if len(steps[0]) != 0 || len(steps[1]) != 1 {
		t.Fatalf("an MB level: %v", steps)
	}
	if lv, _ := steps[1][0].Num("level_mb"); lv != 2048 {
		t.Errorf("level_mb %v, want 2048", lv)
	}
}

func TestLevelsOffByDefault(t *testing.T) {
	for i, evs := range levelSteps(t, EvalConfig{Window: 3}, burning(0, 400, 400, 400, 400)) {
		if len(evs) > 0 {
			t.Errorf("sample %d: %s with no level set", i, evs[0].AppendJSON(nil))
		}
	}
}

func kind(ev *event.Event) string {
	switch {
	case ev.Str("ended") == "true":
		return "ended"
	case ev.Str("ongoing") == "true":
		return "ongoing"
	}
	return "reached"
}

// TestLiveCPULevel burns a core in a child process and watches the real
// /proc with a short level time: the burner is reported with
// PROC.CPU.LEVEL, and its end when it is killed.
func TestLiveCPULevel(t *testing.T) {
	w := newWatcher(t, EvalConfig{Window: 3, Levels: Levels{CPU: 20, CPUFor: time.Second, Repeat: time.Hour}})
	burner := helper(t, "burn")
	ev := w.until("PROC.CPU.LEVEL for the burner", 250*time.Millisecond, 20*time.Second, func(ev *event.Event) bool {
		return ev.Type == event.TypeProcCPULevel && pidIs(ev, burner.Process.Pid)
	})
	held, _ := ev.Num("held_s")
	pct, _ := ev.Num("cpu_pct")
	if held < 1 || pct < 20 || ev.Str("name") == "" || ev.Str("exe") == "" || ev.Str("parent_name") != "host.test" || kind(ev) != "reached" {
		t.Errorf("PROC.CPU.LEVEL for the burner: %s", ev.AppendJSON(nil))
	}
	if anc, _ := ev.Attrs["ancestors"].([]string); len(anc) == 0 || anc[0] != "host.test" {
		t.Errorf("ancestors %v: want the test binary first", ev.Attrs["ancestors"])
	}
	if os.Getuid() == 0 && ev.Str("user") != "root" {
		t.Errorf("user %q, want root", ev.Str("user"))
	}
	_ = burner.Process.Kill()
	_ = burner.Wait()
	end := w.until("the end of the burner's level", 250*time.Millisecond, 10*time.Second, func(ev *event.Event) bool {
		return ev.Type == event.TypeProcCPULevel && pidIs(ev, burner.Process.Pid) && kind(ev) == "ended"
	})
	if end.Str("exited") != "true" {
		t.Errorf("end %s: want exited", end.AppendJSON(nil))
	}
	t.Logf("reached: %s", ev.AppendJSON(nil))
}

// TestLiveMemLevel: a child that grows to 320 MB resident and holds it is
// reported with PROC.MEM.LEVEL from the real /proc at a 100 MB level.
func TestLiveMemLevel(t *testing.T) {
	w := newWatcher(t, EvalConfig{Window: 3, Levels: Levels{MemMB: 100, MemFor: time.Second, Repeat: time.Hour}})
	grower := helper(t, "grow")
	ev := w.until("PROC.MEM.LEVEL for the allocator", 250*time.Millisecond, 20*time.Second, func(ev *event.Event) bool {
		return ev.Type == event.TypeProcMemLevel && pidIs(ev, grower.Process.Pid)
	})
	held, _ := ev.Num("held_s")
	rss, _ := ev.Num("mem_mb")
	if held < 1 || rss < 100 || kind(ev) != "reached" || ev.Str("mem_pct") == "" {
		t.Errorf("PROC.MEM.LEVEL for the allocator: %s", ev.AppendJSON(nil))
	}
}
