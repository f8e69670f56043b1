package bus

import (
	"context"
	"errors"
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
// it instead of failing, and a
// stream lost to the restart while it was being made is made again, so a
// monitor starting then does not end with "stream not found". A
// connection that did not make the streams is told at once that one is
// missing.
func TestConsumeAcrossJetStreamRestart(t *testing.T) {
	if testutil.Race {
		// nats-server (v2.15.2) rewrites its JetStream API exports while
		// re-enabling JetStream without the lock its API dispatch reads
		// them under: the race detector flags the library, not this
		// code. make test runs this test again without it (NORACE_TESTS).
		t.Skip("JetStream re-enabled under API requests races inside nats-server; run without -race")
	}
	s := startServer(t, ServerOptions{})
	c := connect(t, ClientOptions{Embedded: s, Name: "test", Logger: testutil.Quiet()})
	ctx := context.Background()
	if err := c.EnsureStreams(ctx, StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	var got atomic.Int64
	count := func(m *Msg) { got.Add(1); _ = m.Ack() }

	// JetStream off while the consumer is set up, back on a moment later.
	if err := s.ShutdownJetStream(); err != nil {
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

	// The stream is gone, as one being made when JetStream was restarted.
	if err := c.JS.DeleteStream(ctx, StreamReports); err != nil {
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
