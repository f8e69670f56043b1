package bus

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ErrJetStreamOff is the problem JetStreamProblem reports while JetStream
// is disabled: a state the server entered (after a storage error) or was
// put in, not a reading of its files that may be momentary.
var ErrJetStreamOff = errors.New("JetStream is disabled (the bus server turns it off after a storage error such as a full disk)")

// IsJetStreamOff reports whether a JetStreamProblem is JetStream being
// disabled. Other problems come from the server's health check, which
// lists the streams' directories and looks each one up: a stream being
// created has its directory before it is registered, and reads as "could
// not be recovered" until it is, so such a problem means something only
// when it lasts.
func IsJetStreamOff(err error) bool { return errors.Is(err, ErrJetStreamOff) }

// JetStreamProblem is nil while the embedded server's JetStream stores
// messages, else why it does not. A stream whose files had a write error
// (a full disk) keeps failing every later write, without an answer to the
// publisher, until JetStream is restarted; when the error is a full disk
// the server may also disable JetStream by itself.
func (s *Server) JetStreamProblem() error {
	if !s.nats().JetStreamEnabled() {
		return ErrJetStreamOff
	}
	h := s.nats().Healthz(&server.HealthzOptions{})
	if h.StatusCode != http.StatusOK || h.Error != "" {
		return fmt.Errorf("JetStream storage failing: %s", h.Error)
	}
	return nil
}

// RestartJetStream restarts JetStream by restarting the server in this
// process on the same ports, directory and limits: JetStream shuts down
// (streams and consumers close their files) and starts again, recovering
// its streams and consumers from disk with their write errors cleared.
// Clients reconnect by themselves (this process's own at once, in
// process) and their subscriptions and consumers resume. Messages
// already acknowledged are in the stream files and stay; a publish that
// was not acknowledged is the publisher's to repeat (its message id
// de-duplicates it).
//
// JetStream is not re-enabled inside the running server: nats-server
// (v2.15) keeps the first JetStream's API subscription when it is shut
// down, so that after EnableJetStream every API request is handled
// twice; a consumer deleted and made again could be deleted by the
// second handling of the delete, and a stream the same way.
func (s *Server) RestartJetStream() error {
	s.restart.Lock()
	defer s.restart.Unlock()
	if s.stopped {
		return errors.New("bus server: shut down, not restarted")
	}
	old := s.nats()
	old.Shutdown()
	old.WaitForShutdown()
	ns, err := startNATS(s.opts.Clone(), s.log, 10*time.Second)
	if err != nil {
		return fmt.Errorf("bus server: starting again to restart JetStream: %w", err)
	}
	s.cur.Store(ns)
	if s.auth != nil {
		s.auth.forget()
	}
	s.log.Info("bus server restarted, and JetStream with it")
	return nil
}

// StoreDir is the directory JetStream's files are in.
func (s *Server) StoreDir() string { return s.storeDir }

// ShutdownJetStream turns JetStream off, keeping the server and its
// clients: publishers get "no responders" at once.
func (s *Server) ShutdownJetStream() error {
	if !s.nats().JetStreamEnabled() {
		return nil
	}
	s.log.Warn("shutting JetStream down")
	return s.nats().ShutdownJetStream()
}

// FitStreamBytes is want, or less when JetStream's storage (its limit,
// by default the space free on its filesystem at start) cannot hold the
// durable streams at that size: a quarter of it each, so that the three
// streams leave room for the monitor's store on the same filesystem.
func (s *Server) FitStreamBytes(want int64) int64 {
	if want <= 0 {
		want = 1 << 30
	}
	if fit := s.jsConfig.MaxStore / 4; fit > 0 && fit < want {
		return fit
	}
	return want
}
