package bus

import (
	"errors"
	"regexp"
	"sync"

	"github.com/nats-io/nats.go"
)

// refusals remembers the subjects the server refused this connection to
// publish on (its permissions violations arrive apart from the publish,
// through the connection's error handler), so that a durable publish that
// is never acknowledged can say the server refused it rather than that the
// bus was slow.
type refusals struct {
	mu       sync.Mutex
	subjects map[string]error
}

// maxRefusals bounds what a connection remembers.
const maxRefusals = 256

var publishViolation = regexp.MustCompile(`(?i)publish to "([^"]+)"`)

// note keeps err if it is a publish permissions violation.
func (r *refusals) note(err error) {
	if r == nil || !errors.Is(err, nats.ErrPermissionViolation) {
		return
	}
	m := publishViolation.FindStringSubmatch(err.Error())
	if m == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.subjects == nil || len(r.subjects) >= maxRefusals {
		r.subjects = map[string]error{}
	}
	r.subjects[m[1]] = err
}

// of returns the refusal of publishing on subject, if the server sent
// one.
func (r *refusals) of(subject string) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.subjects[subject]
}
