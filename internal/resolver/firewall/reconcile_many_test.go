package firewall

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// TestReconcileRestoresManyBlocks: at a start after a crash, 50,000
// blocks in force (an empty set: the namespace's table was lost) are all
// restored in one transaction (one message a block overflowed the
// socket's receive buffer with the kernel's acknowledgements), and a
// second reconcile finds every one in place and changes nothing.
func TestReconcileRestoresManyBlocks(t *testing.T) {
	if testing.Short() {
		t.Skip("50,000 blocks")
	}
	ns := testutil.NewNetns(t)
	requireNftablesTB(t, ns)
	s := newNftablesSettings().(*NftablesSettings)
	s.Netns, s.Conntrack = ns.Path, false
	m, err := NewNftables(*s, action.Deps{Name: "block", Clock: clock.Real{}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	now := time.Now()
	var act []action.Active
	for _, p := range addrs(0, 50_000) {
		act = append(act, action.Active{Request: action.Request{
			ID: "d-" + p.Addr().String(), Method: "block", Kind: KindNftables, Key: "block|" + p.Addr().String(),
			Subject: action.Subject{Addr: p.Addr()}, Time: now, Expires: now.Add(time.Hour),
		}})
	}
	what, err := m.Reconcile(t.Context(), act)
	if err != nil {
		t.Fatalf("restoring 50,000 blocks: %v", err)
	}
	if !strings.Contains(what, "0 block(s) in place; restored 50000:") {
		t.Errorf("first reconcile: %s", what)
	}
	what, err = m.Reconcile(t.Context(), act)
	if err != nil || !strings.HasPrefix(what, "inet vigil: 50000 block(s) in place; nothing changed") {
		t.Errorf("second reconcile: %q, %v", what, err)
	}
}
