package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/sensor/hostevents"
)

// makeCProject writes a C project of n source files and a Makefile to
// dir, for the build workload (`make clean && make -j2`: a compiler, an
// assembler and a linker started for every file), and returns dir.
func makeCProject(dir string, n int) (string, error) {
	for _, tool := range []string{"make", "cc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Errorf("the build workload needs %s (Debian packages make and gcc): %w", tool, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var objs, decls, calls strings.Builder
	for i := range n {
		src := fmt.Sprintf(`#include <stdio.h>
#include <string.h>
#include <stdlib.h>

struct item%[1]d { int key; double weight; char name[32]; };

static int compare%[1]d(const void *a, const void *b)
{
	const struct item%[1]d *x = a, *y = b;
	return (x->key > y->key) - (x->key < y->key);
}

double work%[1]d(int rounds)
{
	struct item%[1]d items[64];
	double sum = 0;
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < 64; i++) {
			items[i].key = (i * 7919 + r * %[1]d) %% 101;
			items[i].weight = i * 0.5 + r;
			snprintf(items[i].name, sizeof items[i].name, "item-%%d-%%d", r, i);
		}
		qsort(items, 64, sizeof items[0], compare%[1]d);
		for (int i = 0; i < 64; i++)
			sum += items[i].weight * (double)strlen(items[i].name);
	}
	return sum;
}
`, i)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.c", i)), []byte(src), 0o644); err != nil {
			return "", err
		}
		fmt.Fprintf(&objs, " f%d.o", i)
		fmt.Fprintf(&decls, "double work%d(int);\n", i)
		fmt.Fprintf(&calls, "\tsum += work%d(2);\n", i)
	}
	main := "#include <stdio.h>\n" + decls.String() + "int main(void)\n{\n\tdouble sum = 0;\n" + calls.String() + "\tprintf(\"%f\\n\", sum);\n\treturn 0;\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "main.c"), []byte(main), 0o644); err != nil {
		return "", err
	}
	mk := "OBJS = main.o" + objs.String() + "\nCFLAGS = -O2\n\nprog: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\n\n%.o: %.c\n\t$(CC) $(CFLAGS) -c -o $@ $<\n\nclean:\n\trm -f prog $(OBJS)\n"
	if err := os.WriteFile(filepath.Join(dir, "Makefile"), []byte(mk), 0o644); err != nil {
		return "", err
	}
	return dir, nil
}

// makeGitTree makes a git repository of n small files in 100 directories
// under dir, all committed, for the `git status` workload, and returns
// dir.
func makeGitTree(ctx context.Context, dir string, n int) (string, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return "", fmt.Errorf("the git workload needs git (Debian package git): %w", err)
	}
	for i := range n {
		sub := filepath.Join(dir, fmt.Sprintf("d%02d", i%100))
		if i < 100 {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				return "", err
			}
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("file%d.txt", i)), []byte(strconv.Itoa(i)+"\n"), 0o644); err != nil {
			return "", err
		}
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"},
		{"-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-q", "-m", "tree"}} {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("git %s: %w: %s", args[0], err, out)
		}
	}
	return dir, nil
}

// measureFlood opens the host event programs and has o.FloodWorkers
// processes open a watched file o.Opens times between them, at rate opens
// a second (0: as fast as they can), while the events are read, decoded,
// given their context and written in compact form as the agent does (on
// its one thread running Go code); it counts the FILE.OPEN events of the
// workers and the records the ring buffer dropped.
func measureFlood(ctx context.Context, o SyscallBenchOptions, rate int, progress io.Writer) (FloodMeasure, error) {
	f := FloodMeasure{Workers: o.FloodWorkers, Opens: o.Opens / o.FloodWorkers * o.FloodWorkers, Rate: rate}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(config.DefaultAgentMaxProcs))
	s, err := hostevents.Open(hostevents.Options{Host: "bench", Events: config.DefaultAgentEvents()})
	if err != nil {
		return f, err
	}
	defer s.Close()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	started := make(chan struct{})
	var events uint64
	pids := map[int64]bool{}
	var first, last time.Time // of the workers' events
	go func() {
		<-started
		// Each event's type, time and pid peeked, not decoded: a decoder
		// here, building each event's map, would weigh on the reader more
		// than the agent's own work does.
		done <- s.Run(rctx, func(recs [][]byte) error {
			for _, rec := range recs {
				c, err := event.PeekCompactInt(rec, "pid")
				if err != nil {
					return fmt.Errorf("flood: an event unread: %w", err)
				}
				if c.Type == event.TypeFileOpen && c.Found && pids[c.Value] {
					events++
					if first.IsZero() || c.Time.Before(first) {
						first = c.Time
					}
					if c.Time.After(last) {
						last = c.Time
					}
				}
			}
			return nil
		})
	}()
	var workers []*exec.Cmd
	for range o.FloodWorkers {
		args := []string{"bench", "syscalls-worker", "opens", strconv.Itoa(o.Opens / o.FloodWorkers)}
		if rate > 0 {
			args = append(args, strconv.Itoa(max(1, rate/o.FloodWorkers)))
		}
		w := exec.CommandContext(ctx, o.Vigil, args...)
		workers = append(workers, w)
	}
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	var errs []error
	var waits []func() error
	for _, w := range workers {
		wait, err := startQuietly(w, o.slack)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		waits = append(waits, wait)
		pids[int64(w.Process.Pid)] = true
	}
	close(started)
	for _, wait := range waits {
		errs = append(errs, wait())
	}
	f.Seconds = time.Since(start).Seconds()
	time.Sleep(200 * time.Millisecond) // the last records read
	cancel()
	errs = append(errs, <-done)
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	if err := errors.Join(errs...); err != nil {
		return f, fmt.Errorf("event flood: %w", err)
	}
	st := s.Stats()
	f.Events, f.Dropped, f.Missed = events, st.Dropped, st.Missed
	f.OpensPerSec = float64(f.Opens) / f.Seconds
	f.EventsPerSec = float64(f.Events) / f.Seconds
	if f.Span = last.Sub(first).Seconds(); f.Span > 0 && f.Events > 1 {
		f.SpanEventsPerSec = float64(f.Events-1) / f.Span
	}
	f.ReaderCPU = (rusageCPU(&after) - rusageCPU(&before)).Seconds() / (f.Seconds + 0.2)
	what := "event flood"
	if rate > 0 {
		what = fmt.Sprintf("event flood paced at %d/s", rate)
	}
	fmt.Fprintf(progress, "%s: %d opens in %.2f s (%.0f/s), %d events (%.0f/s; %.0f/s from the first open to the last, %.2f s), %d records dropped, %d program runs skipped, reader %.0f%% of a core\n",
		what, f.Opens, f.Seconds, f.OpensPerSec, f.Events, f.EventsPerSec, f.SpanEventsPerSec, f.Span, f.Dropped, f.Missed, 100*f.ReaderCPU)
	return f, nil
}
