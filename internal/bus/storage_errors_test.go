package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

func TestStorageRefusal(t *testing.T) {
	for _, c := range []struct {
		err     error
		refusal bool
		hint    string
	}{
		{&jetstream.APIError{Code: 503, ErrorCode: errCodeInsufficientResources, Description: "insufficient resources"}, true, "out of storage"},
		{fmt.Errorf("bus: event x not stored: %w", jetstream.ErrNoStreamResponse), true, "no stream answered"},
		{fmt.Errorf("wrapped: %w", jetstream.ErrAsyncPublishTimeout), true, "did not acknowledge in time"},
		{context.DeadlineExceeded, false, "did not answer"},
		{&jetstream.APIError{Code: 400, ErrorCode: 10058, Description: "stream name already in use"}, false, ""},
		{errors.New("something else"), false, ""},
		{nil, false, ""},
	} {
		if got := IsStorageRefusal(c.err); got != c.refusal {
			t.Errorf("IsStorageRefusal(%v) = %v", c.err, got)
		}
		h := StorageHint(c.err)
		if (c.hint == "") != (h == "") || !strings.Contains(h, c.hint) {
			t.Errorf("StorageHint(%v) = %q, want one with %q", c.err, h, c.hint)
		}
	}
}
