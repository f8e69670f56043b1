package control

import (
	"errors"
	"strings"
	"testing"
)

// TestAuthorised: the parent may ask anything, a peer only to sensitise,
// every other monitor nothing; a standalone monitor takes everyone's.
func TestAuthorised(t *testing.T) {
	peers := []string{"dom2", "dom3"}
	for _, c := range []struct {
		name, sender, parent string
		peers                []string
		sensitise            bool
		want                 string // "" accepted, else part of the error
	}{
		{"parent sensitises", "ent", "ent", peers, true, ""},
		{"parent probes", "ent", "ent", peers, false, ""},
		{"peer sensitises", "dom2", "ent", peers, true, ""},
		{"peer asks more", "dom2", "ent", peers, false, "monitor dom2 is a peer of dom1; a peer may only sensitise"},
		{"stranger", "dom9", "ent", peers, true, "monitor dom9 is neither the parent (ent) nor a peer of dom1"},
		{"child asks its parent", "web1", "ent", nil, true, "neither the parent (ent)"},
		{"peers but no parent", "ent", "", peers, true, "neither the parent (none)"},
		{"empty sender", "", "", peers, true, "neither the parent"},
		{"standalone", "anyone", "", nil, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Authorised(c.sender, c.parent, c.peers, c.sensitise)
			if c.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var na *NotAuthorisedError
			if !errors.As(err, &na) {
				t.Fatalf("got %v, want a *NotAuthorisedError", err)
			}
			if got := na.For("dom1"); !strings.Contains(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}
