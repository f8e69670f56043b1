package bus

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStream's error code for a publish refused because the server is out
// of storage (JSInsufficientResourcesErr).
const errCodeInsufficientResources = 10023

// IsStorageRefusal reports whether err says the bus did not store a
// publish because its storage fails or is full: insufficient resources,
// no answer from the stream (JetStream disabled after a write error), or
// no acknowledgement in time (a stream whose files fail does not answer).
func IsStorageRefusal(err error) bool {
	if err == nil {
		return false
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeInsufficientResources {
		return true
	}
	return errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrAsyncPublishTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrTooManyStalledMsgs)
}

// IsNoStream reports whether err says that no stream took a publish: no
// stream captures its subject (or JetStream is off).
func IsNoStream(err error) bool {
	return errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders)
}

// StorageHint is what to add to a publish error so that its reader knows
// what to do: "" for errors that explain themselves.
func StorageHint(err error) string {
	var apiErr *jetstream.APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeInsufficientResources:
		return " (the bus is out of storage: free space in its data directory; /healthz says more)"
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders):
		return " (no stream answered: JetStream is off or failing, as after a full disk, or the stream is missing; /healthz says more)"
	case errors.Is(err, jetstream.ErrAsyncPublishTimeout):
		return " (the bus did not acknowledge in time: its storage may be failing, as on a full disk; /healthz says more)"
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return " (JetStream is off: the bus server turns it off after a storage error such as a full disk; /healthz says more)"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return " (JetStream did not answer: it may be off or failing, as after a full disk; /healthz says more)"
	}
	return ""
}
