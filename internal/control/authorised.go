package control

import (
	"fmt"
	"slices"
)

// NotAuthorisedError says why a monitor's request (a configuration
// request, a probe) was refused: the sender is neither the receiving
// monitor's parent nor, for what a peer may ask, one of its peers.
type NotAuthorisedError struct {
	// Sender is the monitor that asked, Parent the receiver's parent
	// ("" for none).
	Sender, Parent string
	// Peer: the sender is a peer, asking what only the parent may.
	Peer bool
}

// Error implements error.
func (e *NotAuthorisedError) Error() string { return e.For("this monitor") }

// For words the refusal as monitor self says it.
func (e *NotAuthorisedError) For(self string) string {
	if e.Peer {
		return fmt.Sprintf("monitor %s is a peer of %s; a peer may only sensitise, the rest is the parent's (%s)", e.Sender, self, orNone(e.Parent))
	}
	return fmt.Sprintf("monitor %s is neither the parent (%s) nor a peer of %s", e.Sender, orNone(e.Parent), self)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Authorised says whether a monitor declaring parent and peers takes a
// request of sender: the parent's, any; a peer's, only a sensitising one
// (sensitise true: controlmsg.Sensitising of its action; a probe is not
// one). A standalone monitor (no parent, no peers) takes every monitor's,
// as the bus lets through (its certificate permissions, docs/BUS.md). The
// error is a *NotAuthorisedError.
func Authorised(sender, parent string, peers []string, sensitise bool) error {
	if parent == "" && len(peers) == 0 {
		return nil
	}
	if sender != "" && sender == parent {
		return nil
	}
	if slices.Contains(peers, sender) {
		if sensitise {
			return nil
		}
		return &NotAuthorisedError{Sender: sender, Parent: parent, Peer: true}
	}
	return &NotAuthorisedError{Sender: sender, Parent: parent}
}
