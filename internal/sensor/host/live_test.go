package host

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// These tests watch real processes through the real /proc of this machine,
// with short intervals.

// TestHelperProcess is not a test: the tests below run the test binary as a
// child in one of several roles, chosen by VIGIL_HELPER.
func TestHelperProcess(t *testing.T) {
	role := os.Getenv("VIGIL_HELPER")
	if role == "" {
		t.Skip("only a helper child")
	}
	switch role {
	case "burn": // burn CPU
		runtime.GOMAXPROCS(1)
		x := 0
		for {
			x++
		}
	case "grow": // grow resident memory by 16 MB every 100 ms
		var keep [][]byte
		for range 20 {
			b := make([]byte, 16<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			keep = append(keep, b)
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(time.Hour)
		_ = keep
	case "spawn": // fork shells
		for {
			cmd := exec.Command("sh", "-c", "sleep 2")
			if err := cmd.Start(); err != nil {
				os.Exit(3)
			}
			go func() { _ = cmd.Wait() }()
			time.Sleep(300 * time.Millisecond)
		}
	}
	os.Exit(0)
}

func helper(t *testing.T, role string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "VIGIL_HELPER="+role)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// watch samples the real /proc every interval and collects observations
// until found reports what it looks for, or the deadline passes.
type watcher struct {
	t      *testing.T
	agent  *Agent
	mu     sync.Mutex
	events []event.Event
}

func newWatcher(t *testing.T, cfg EvalConfig) *watcher {
	t.Helper()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this machine")
	}
	ex, err := NewExtractor("/proc", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	w := &watcher{t: t}
	w.agent = NewAgent(AgentOptions{Extractor: ex, Eval: cfg, HostID: "test", Logger: slog.New(slog.DiscardHandler)})
	w.step() // the baseline
	return w
}

func (w *watcher) step() {
	evs, err := w.agent.Step(time.Now())
	if err != nil {
		w.t.Fatal(err)
	}
	w.mu.Lock()
	w.events = append(w.events, evs...)
	w.mu.Unlock()
}

// until samples every interval until some observation satisfies match.
func (w *watcher) until(what string, interval, limit time.Duration, match func(*event.Event) bool) *event.Event {
	w.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		w.mu.Lock()
		for i := range w.events {
			if match(&w.events[i]) {
				ev := w.events[i]
				w.mu.Unlock()
				return &ev
			}
		}
		w.mu.Unlock()
		if time.Now().After(deadline) {
			var types []string
			for _, ev := range w.events {
				types = append(types, ev.Type+"("+ev.Str("name")+")")
			}
			w.t.Fatalf("no %s within %v; saw %s", what, limit, strings.Join(types, " "))
		}
		time.Sleep(interval)
		w.step()
	}
}

func pidIs(ev *event.Event, pid int) bool {
	p, _ := ev.Int("pid")
	return int(p) == pid
}

func TestLiveCPUBurner(t *testing.T) {
	w := newWatcher(t, EvalConfig{Window: 3})
	burner := helper(t, "burn")
	ev := w.until("PROC.CPU for the burner", 250*time.Millisecond, 15*time.Second, func(ev *event.Event) bool {
		return ev.Type == event.TypeProcCPU && pidIs(ev, burner.Process.Pid)
	})
	if v, _ := ev.Num("value"); v <= 20 || ev.Str("name") == "" || ev.Str("parent_name") == "" || ev.Str("state") == "" {
		t.Errorf("PROC.CPU for the burner: %s", ev.AppendJSON(nil))
	}
}

func TestLiveMemoryGrowth(t *testing.T) {
	w := newWatcher(t, EvalConfig{Window: 3})
	grower := helper(t, "grow")
	ev := w.until("PROC.MEM for the allocator", 250*time.Millisecond, 15*time.Second, func(ev *event.Event) bool {
		return ev.Type == event.TypeProcMem && pidIs(ev, grower.Process.Pid)
	})
	if inc, _ := ev.Num("increase"); inc <= 8 {
		t.Errorf("PROC.MEM for the allocator: %s", ev.AppendJSON(nil))
	}
}

func TestLiveSpawnAndTerm(t *testing.T) {
	w := newWatcher(t, EvalConfig{Window: 3, Procs: []string{"sh", "host.test"}})
	spawner := helper(t, "spawn")
	ev := w.until("PROC.SPAWN of a shell by the spawner", 200*time.Millisecond, 15*time.Second, func(ev *event.Event) bool {
		return ev.Type == event.TypeProcSpawn && ev.Str("name") == "sh" && ev.Str("ppid") == fmt.Sprint(spawner.Process.Pid)
	})
	if ev.Str("parent_name") != "host.test" || ev.Str("exe") == "" {
		t.Errorf("spawn: %s", ev.AppendJSON(nil))
	}
	// The spawner's start time, as /proc shows it while it runs, names
	// it in its observations.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", spawner.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	st, err := parseStat(stat, 4096)
	if err != nil {
		t.Fatal(err)
	}
	_ = spawner.Process.Kill()
	_ = spawner.Wait()
	term := w.until("PROC.TERM of the spawner", 200*time.Millisecond, 15*time.Second, func(ev *event.Event) bool {
		return ev.Type == event.TypeProcTerm && pidIs(ev, spawner.Process.Pid)
	})
	if got, ok := term.Int("start"); !ok || uint64(got) != st.Start {
		t.Errorf("PROC.TERM start %v, want field 22 of /proc/PID/stat, %d", term.Attrs["start"], st.Start)
	}
}

func TestLiveProcessGrowth(t *testing.T) {
	w := newWatcher(t, EvalConfig{Window: 3, Procs: []string{"none-of-these"}})
	w.step()
	var kids []*exec.Cmd
	for range 100 {
		c := exec.Command("sleep", "30")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		kids = append(kids, c)
	}
	t.Cleanup(func() {
		for _, c := range kids {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	})
	ev := w.until("SYS.PROCS.GROWTH", 200*time.Millisecond, 10*time.Second, func(ev *event.Event) bool {
		return ev.Type == event.TypeSysProcsGrowth
	})
	if inc, _ := ev.Num("increase"); inc < 80 {
		t.Errorf("growth: %s", ev.AppendJSON(nil))
	}
}

func TestLiveSocketGrowth(t *testing.T) {
	w := newWatcher(t, EvalConfig{Window: 3, Procs: []string{"none-of-these"}})
	w.step()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var accepted []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted = append(accepted, c)
			mu.Unlock()
		}
	}()
	var conns []net.Conn
	for range 200 {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		mu.Lock()
		for _, c := range accepted {
			c.Close()
		}
		mu.Unlock()
	}()
	ev := w.until("SYS.NET.SOCKS.GROWTH", 200*time.Millisecond, 10*time.Second, func(ev *event.Event) bool {
		return ev.Type == event.TypeSysNetSocksGrowth
	})
	if inc, _ := ev.Num("increase"); inc < 200 {
		t.Errorf("socket growth: %s", ev.AppendJSON(nil))
	}
}
