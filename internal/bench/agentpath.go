package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/sensor/deliver"
	"github.com/vigil-ids/vigil/internal/sensor/host"
	"github.com/vigil-ids/vigil/internal/sensor/hostevents"
	"github.com/vigil-ids/vigil/internal/timerslack"
)

// The host events are measured on the agent's whole path: read from the
// ring buffer, converted, spooled on disk and published to a bus, as
// `vigil agent` does. The bus runs in a child process (the hidden worker
// "bus"), as it runs on another machine or in the monitor's process, so
// that this process's CPU is the agent's alone.

// BusWorker is the hidden worker "bus": an embedded bus on a random
// loopback port, storing in a temporary directory, that takes anonymous
// clients (it listens on loopback only, for this process's parent). It
// prints its client URL on a line of out and runs until in ends.
func BusWorker(in io.Reader, out io.Writer) error {
	dir, err := os.MkdirTemp("", "vigil-bench-bus-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := bus.StartServer(ctx, bus.ServerOptions{Listen: "127.0.0.1:0", StoreDir: dir, AllowAnonymous: true, Logger: quietLog})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	if _, err := fmt.Fprintln(out, srv.ClientURL()); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, in)
	return nil
}

// agentBus is a bus in a child process and this process's connection to
// it, with Vigil's streams in place.
type agentBus struct {
	conn  *bus.Conn
	child *exec.Cmd
	stdin io.WriteCloser
}

// startAgentBus starts the hidden worker "bus" of the vigil binary and
// connects to it.
func startAgentBus(ctx context.Context, vigil string) (*agentBus, error) {
	cmd := exec.Command(vigil, "bench", "syscalls-worker", "bus")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the bench's bus: %w", err)
	}
	b := &agentBus{child: cmd, stdin: stdin}
	url := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		url <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var u string
	select {
	case u = <-url:
	case <-time.After(30 * time.Second):
	case <-ctx.Done():
	}
	if !strings.HasPrefix(u, "nats://") {
		b.close()
		return nil, fmt.Errorf("the bench's bus did not start: %q %s", u, strings.TrimSpace(stderr.String()))
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if b.conn, err = bus.Connect(cctx, bus.ClientOptions{URL: u, Name: "bench agent", Logger: quietLog}); err != nil {
		b.close()
		return nil, err
	}
	if err := b.conn.EnsureStreams(cctx, bus.StreamLimits{}); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

func (b *agentBus) close() {
	if b.conn != nil {
		b.conn.Close()
	}
	b.stdin.Close()
	done := make(chan struct{})
	go func() { _ = b.child.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = b.child.Process.Kill()
		<-done
	}
}

// attachAgent runs the host event programs as `vigil agent` does (with
// PROC.SPAWN from the exec events, the agent's default timer slack on
// this process's threads and its default number of threads running Go
// code), their observations spooled in a temporary directory and
// published to b, until stop, which stops the events, waits until what
// they wrote has reached the bus (at most 10 s), puts back the timer
// slack of before (restore) and the threads, and notes in r the PROC.EXEC
// events, the records dropped in the kernel and the observations written
// and delivered.
func attachAgent(r *run, b *agentBus, exits string, restore time.Duration) (stop func() error, err error) {
	log := quietLog
	procs := runtime.GOMAXPROCS(config.DefaultAgentMaxProcs)
	defer func() {
		if err != nil {
			runtime.GOMAXPROCS(procs)
		}
	}()
	if restore > 0 {
		// As vigil agent does, a slack refused (without CAP_SYS_NICE) on
		// some threads leaves the others set, and the agent runs on.
		_, _ = timerslack.Set(config.DefaultAgentTimerSlack)
		defer func() {
			if err != nil {
				_, _ = timerslack.Set(restore)
			}
		}()
	}
	ev := config.DefaultAgentEvents()
	if exits != "" {
		ev.Exits = exits
	}
	s, err := hostevents.Open(hostevents.Options{Host: "bench", Events: ev, Spawn: true, Logger: log})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "vigil-bench-spool-")
	if err != nil {
		s.Close()
		return nil, err
	}
	d, err := deliver.OpenTracked(deliver.Options{Dir: dir, Publish: b.conn.PublishPackedEvents, HostID: "bench", Source: "agent", Logger: log})
	if err != nil {
		s.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	evCtx, stopEvents := context.WithCancel(context.Background())
	dCtx, stopDeliver := context.WithCancel(context.Background())
	evDone, dDone := make(chan error, 1), make(chan int64, 1)
	go func() { evDone <- host.RunEvents(evCtx, s, d, log) }()
	go func() { dDone <- d.RunDrained(dCtx, 10*time.Second) }()
	return func() error {
		time.Sleep(50 * time.Millisecond) // the last records read
		stopEvents()
		err := <-evDone
		stopDeliver()
		left := <-dDone
		st := s.Stats()
		r.execs, r.dropped = st.Execs, st.Dropped+st.Missed // a run skipped may be an event lost
		r.written, r.delivered = d.Written(), d.Acknowledged()
		if left > 0 {
			err = errors.Join(err, fmt.Errorf("%d observations did not reach the bench's bus", left))
		}
		if restore > 0 {
			_, _ = timerslack.Set(restore)
		}
		runtime.GOMAXPROCS(procs)
		return errors.Join(err, os.RemoveAll(dir))
	}, nil
}
