package bus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/testutil"
)

// TestJetStreamProblemKinds: JetStream turned off is told apart from what
// the server's health check reads from the streams' directories (a stream
// directory without its stream, as while one is being made).
func TestJetStreamProblemKinds(t *testing.T) {
	s := startServer(t, ServerOptions{})
	c := connect(t, ClientOptions{URL: s.ClientURL(), Name: "test"})
	if err := c.EnsureStreams(context.Background(), StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	if err := s.JetStreamProblem(); err != nil {
		t.Fatalf("healthy server: %v", err)
	}
	obs, _ := filepath.Glob(filepath.Join(s.StoreDir(), "jetstream", "*", "streams", StreamObs))
	if len(obs) != 1 {
		t.Fatalf("stream %s's directory under %s: %v", StreamObs, s.StoreDir(), obs)
	}
	stray := filepath.Join(filepath.Dir(obs[0]), "VIGIL_BEING_MADE")
	if err := os.Mkdir(stray, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := s.JetStreamProblem(); err == nil || IsJetStreamOff(err) || !strings.Contains(err.Error(), "could not be recovered") {
		t.Errorf("stream directory without its stream: %v (off: %v)", err, IsJetStreamOff(err))
	}
	if err := os.Remove(stray); err != nil {
		t.Fatal(err)
	}
	if err := s.ShutdownJetStream(); err != nil {
		t.Fatal(err)
	}
	if err := s.JetStreamProblem(); !IsJetStreamOff(err) {
		t.Errorf("JetStream off: %v", err)
	}
}

// TestConsumeAcrossJetStreamRestart: a durable consumer set up, through
// the process's own server, while JetStream is being restarted waits for
// it instead of failing, and a stream lost to the restart (it was being
// made when JetStream went down, and is not on disk) is made again, so a
// monitor starting then does not end with "stream not found". A
// connection that did not make the streams is told at once that one is
// missing.
func TestConsumeAcrossJetStreamRestart(t *testing.T) {
	s := startServer(t, ServerOptions{})
	c := connect(t, ClientOptions{Embedded: s, Name: "test", Logger: testutil.Quiet()})
	ctx := context.Background()
	if err := c.EnsureStreams(ctx, StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	var got atomic.Int64
	count := func(m *Msg) { got.Add(1); _ = m.Ack() }

	// JetStream off while the consumer is set up, back a moment later,
	// without the reports stream.
	if err := s.ShutdownJetStream(); err != nil {
		t.Fatal(err)
	}
	reports, _ := filepath.Glob(filepath.Join(s.StoreDir(), "jetstream", "*", "streams", StreamReports))
	if len(reports) != 1 {
		t.Fatalf("stream %s's directory under %s: %v", StreamReports, s.StoreDir(), reports)
	}
	if err := os.RemoveAll(reports[0]); err != nil {
		t.Fatal(err)
	}
	restarted := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		restarted <- s.RestartJetStream()
	}()
	sub, err := c.ConsumeDurable(ctx, DurableOptions{Name: "mon_a", Subjects: []string{AllObs}}, count)
	if err != nil {
		t.Fatalf("consumer set up while JetStream restarts: %v", err)
	}
	defer sub.Stop()
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}

	other := connect(t, ClientOptions{URL: s.ClientURL(), Name: "other", Logger: testutil.Quiet()})
	began := time.Now()
	if _, err := other.ConsumeDurable(ctx, DurableOptions{Name: "other", Subjects: []string{ReportSubject("m")}}, count); !errors.Is(err, jetstream.ErrStreamNotFound) || time.Since(began) > JetStreamSettle/2 {
		t.Errorf("connection that made no streams, stream missing: %v after %v", err, time.Since(began))
	}
	sub2, err := c.ConsumeDurable(ctx, DurableOptions{Name: "mon_b", Subjects: []string{ReportSubject("m")}}, count)
	if err != nil {
		t.Fatalf("consumer on a stream lost to a restart: %v", err)
	}
	defer sub2.Stop()
	if _, err := c.JS.Stream(ctx, StreamReports); err != nil {
		t.Fatalf("stream not made again: %v", err)
	}

	evs := makeEvents(20, "web-1")
	if n, err := c.PublishEvents(ctx, evs); n != len(evs) || err != nil {
		t.Fatalf("publish: %d %v", n, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() < int64(len(evs)) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got.Load() != int64(len(evs)) {
		t.Errorf("consumer set up across the restart received %d of %d", got.Load(), len(evs))
	}
}

// TestJetStreamRestartAnswersEachRequestOnce: after JetStream restarts,
// each API request is handled once. A consumer deleted and made again,
// fifty times over, is there after each time, and every request gets the
// answer it should: handled twice, the second delete would answer "not
// found" or delete the consumer just made.
func TestJetStreamRestartAnswersEachRequestOnce(t *testing.T) {
	s := startServer(t, ServerOptions{})
	c := connect(t, ClientOptions{Embedded: s, Name: "test", Logger: testutil.Quiet()})
	ctx := context.Background()
	if err := c.EnsureStreams(ctx, StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	for restart := 1; restart <= 2; restart++ {
		if err := s.RestartJetStream(); err != nil {
			t.Fatal(err)
		}
		st, err := settled(t, func() (jetstream.Stream, error) { return c.JS.Stream(ctx, StreamObs) })
		if err != nil {
			t.Fatalf("restart %d: stream %s: %v", restart, StreamObs, err)
		}
		cc := jetstream.ConsumerConfig{Durable: "d", AckPolicy: jetstream.AckAllPolicy, FilterSubject: AllObs}
		var problems []string
		for i := 0; i < 50; i++ {
			if _, err := st.CreateOrUpdateConsumer(ctx, cc); err != nil {
				problems = append(problems, fmt.Sprintf("create %d: %v", i, err))
			}
			if err := st.DeleteConsumer(ctx, "d"); err != nil {
				problems = append(problems, fmt.Sprintf("delete %d: %v", i, err))
			}
			if _, err := st.CreateOrUpdateConsumer(ctx, cc); err != nil {
				problems = append(problems, fmt.Sprintf("create again %d: %v", i, err))
			}
			if _, err := st.Consumer(ctx, "d"); err != nil {
				problems = append(problems, fmt.Sprintf("consumer after create %d: %v", i, err))
			}
		}
		if len(problems) > 0 {
			t.Errorf("after restart %d, %d problems; the first: %s", restart, len(problems), strings.Join(problems[:min(3, len(problems))], "; "))
		}
	}
}

// settled is fn's result once this process's connection is back after a
// restart (in process, within a second).
func settled[T any](t *testing.T, fn func() (T, error)) (T, error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, err := fn()
		if err == nil || time.Now().After(deadline) {
			return v, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNoRestartAfterShutdown: a JetStream restart asked for after the
// server was shut down (a health watch that outlived it) starts nothing:
// it fails, and the port stays free.
func TestNoRestartAfterShutdown(t *testing.T) {
	s := startServer(t, ServerOptions{})
	addr := s.Addr().String()
	s.Shutdown()
	if err := s.RestartJetStream(); err == nil {
		t.Fatal("restart after shutdown succeeded")
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the server's port after a refused restart: %v", err)
	}
	l.Close()
}
