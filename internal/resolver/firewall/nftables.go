package firewall

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// Nftables blocks addresses and ranges in an nftables table of Vigil's
// own: two interval sets with timeouts (block4, block6) and base chains
// on the input and forward hooks that drop packets whose source is in a
// set. Everything it changes is inside that table.
type Nftables struct {
	s     NftablesSettings
	name  string
	clock clock.Clock
	log   *slog.Logger
	netns

	// mu serialises changes: each is one batch on a connection of its
	// own, and the table is made ready once.
	mu    sync.Mutex
	ready bool
	// until is when each range this method added ends (zero: never), so
	// that a later, shorter decision on a range never shortens its block.
	until map[netip.Prefix]time.Time
}

var (
	_ action.Undoer     = (*Nftables)(nil)
	_ action.Reconciler = (*Nftables)(nil)
	_ action.Closer     = (*Nftables)(nil)
)

// NewNftables builds an nftables method. It opens the namespace file but
// touches nothing until the first Execute, Undo or Reconcile.
func NewNftables(s NftablesSettings, deps action.Deps) (*Nftables, error) {
	m := &Nftables{s: s, name: deps.Name, clock: deps.Clock, log: deps.Logger, until: map[netip.Prefix]time.Time{}}
	if m.clock == nil {
		m.clock = clock.Real{}
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if err := m.open(s.Netns); err != nil {
		return nil, err
	}
	return m, nil
}

// undoData is what Undo needs: where the element is and what it is.
type undoData struct {
	Table  string       `json:"table"`
	Set    string       `json:"set"`
	Prefix netip.Prefix `json:"prefix"`
}

// decodeUndo reads an outcome's undo data, refusing what Execute would
// not have written.
func decodeUndo(b []byte) (undoData, error) {
	var u undoData
	if err := json.Unmarshal(b, &u); err != nil {
		return u, fmt.Errorf("undo data: %w", err)
	}
	if !tableName.MatchString(u.Table) {
		return u, fmt.Errorf("undo data: table name %q", u.Table)
	}
	if !u.Prefix.IsValid() || u.Prefix.Masked() != u.Prefix {
		return u, fmt.Errorf("undo data: prefix %q", u.Prefix)
	}
	if want := setFor(u.Prefix); u.Set != want {
		return u, fmt.Errorf("undo data: set %q for %s (want %s)", u.Set, u.Prefix, want)
	}
	return u, nil
}

func setFor(p netip.Prefix) string {
	if p.Addr().Is4() {
		return Set4
	}
	return Set6
}

// plan checks req and returns the range to block and the element timeout
// (0: none).
func (m *Nftables) plan(req action.Request) (netip.Prefix, time.Duration, error) {
	p, err := target(req.Subject, m.s.MinPrefix4, m.s.MinPrefix6)
	if err != nil {
		return p, 0, err
	}
	var timeout time.Duration
	if !req.Expires.IsZero() {
		timeout = req.Expires.Sub(m.clock.Now())
		if timeout < time.Millisecond {
			return p, 0, fmt.Errorf("the block of %s expired at %s", describe(p), req.Expires.UTC().Format(time.RFC3339))
		}
		timeout = timeout.Round(time.Millisecond)
	}
	return p, timeout, nil
}

// Plan implements action.Method.
func (m *Nftables) Plan(req action.Request) (string, error) {
	p, timeout, err := m.plan(req)
	if err != nil {
		return "", err
	}
	return m.describeAdd(p, timeout) + m.describeFlush(), nil
}

func (m *Nftables) describeAdd(p netip.Prefix, timeout time.Duration) string {
	d := fmt.Sprintf("add %s to inet %s/%s", describe(p), m.s.Table, setFor(p))
	if timeout > 0 {
		return d + " for " + timeout.String()
	}
	return d + " with no timeout"
}

func (m *Nftables) describeFlush() string {
	if !m.s.Conntrack {
		return ""
	}
	return "; end its tracked connections"
}

// Execute implements action.Method: the element is added (or its timeout
// renewed, when it is there already) in one batch, then the tracked flows
// of the range are ended.
func (m *Nftables) Execute(ctx context.Context, req action.Request) (action.Outcome, error) {
	p, timeout, err := m.plan(req)
	if err != nil {
		return action.Outcome{}, err
	}
	if err := ctx.Err(); err != nil {
		return action.Outcome{}, err
	}
	m.mu.Lock()
	now := m.clock.Now()
	renew, detail := true, m.describeAdd(p, timeout)
	if prev, ok := m.until[p]; ok && (prev.IsZero() || prev.After(now)) {
		// Blocked already by this method: a decision that ends later
		// renews the element; one that ends sooner leaves it as it is
		// (adding it back, for what is left, if it went missing).
		if timeout > 0 && (prev.IsZero() || prev.After(now.Add(timeout))) {
			renew, timeout = false, 0
			if !prev.IsZero() {
				timeout = prev.Sub(now).Round(time.Millisecond)
			}
			detail = fmt.Sprintf("%s is blocked already in inet %s/%s", describe(p), m.s.Table, setFor(p))
			if timeout > 0 {
				detail += " for " + timeout.String() + " more (kept)"
			} else {
				detail += " with no timeout (kept)"
			}
		}
	}
	err = m.addLocked([]netip.Prefix{p}, timeout, renew)
	if err == nil {
		m.until[p] = time.Time{}
		if timeout > 0 {
			m.until[p] = now.Add(timeout)
		}
	}
	m.mu.Unlock()
	if err != nil {
		return action.Outcome{}, err
	}
	out := action.Outcome{Detail: detail}
	if timeout > 0 {
		out.Expires = now.Add(timeout)
	}
	out.Undo, _ = json.Marshal(undoData{Table: m.s.Table, Set: setFor(p), Prefix: p})
	if m.s.Conntrack {
		n, err := endFlows(ctx, m.ns, p)
		if err != nil {
			// The block is in place, and will expire or be undone as
			// any other: the outcome says what failed beside it.
			m.log.Warn("nftables: ending tracked connections failed", "method", m.name, "range", describe(p), "error", err)
			out.Detail += fmt.Sprintf("; ending its tracked connections failed after %d: %v", n, err)
		} else {
			out.Detail += fmt.Sprintf("; ended %d tracked connection(s)", n)
		}
	}
	return out, nil
}

// Undo implements action.Undoer: the element is deleted; one already gone
// (expired, removed by hand, the table deleted) is not an error.
func (m *Nftables) Undo(ctx context.Context, req action.Request, out action.Outcome) error {
	u, err := decodeUndo(out.Undo)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if u.Table == m.s.Table {
		delete(m.until, u.Prefix)
	}
	c, err := m.conn()
	if err != nil {
		return err
	}
	set := setDef(&nftables.Table{Family: nftables.TableFamilyINet, Name: u.Table}, u.Set)
	if err := c.SetDeleteElements(set, elements(u.Prefix, 0)); err != nil {
		return fmt.Errorf("delete %s from inet %s/%s: %w", describe(u.Prefix), u.Table, u.Set, err)
	}
	if err := c.Flush(); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("delete %s from inet %s/%s: %w", describe(u.Prefix), u.Table, u.Set, err)
	}
	return nil
}

// Reconcile implements action.Reconciler: elements of the sets that no
// active action of this method accounts for are deleted, and active
// actions whose element is missing are added again with the time they
// have left.
func (m *Nftables) Reconcile(ctx context.Context, active []action.Active) (string, error) {
	now := m.clock.Now()
	want := map[netip.Prefix]time.Duration{}
	var skipped []string
	for _, a := range active {
		if a.Request.Kind != "" && a.Request.Kind != KindNftables {
			continue
		}
		if m.name != "" && a.Request.Method != "" && a.Request.Method != m.name {
			continue
		}
		var p netip.Prefix
		if u, err := decodeUndo(a.Outcome.Undo); err == nil && u.Table == m.s.Table {
			p = u.Prefix
		} else if p, err = target(a.Request.Subject, m.s.MinPrefix4, m.s.MinPrefix6); err != nil {
			skipped = append(skipped, fmt.Sprintf("%s (%v)", a.Request.ID, err))
			continue
		}
		exp := a.Outcome.Expires
		if exp.IsZero() {
			exp = a.Request.Expires
		}
		var left time.Duration
		if !exp.IsZero() {
			left = exp.Sub(now).Round(time.Millisecond)
			if left <= 0 {
				continue // expired: the kernel has removed it, or will
			}
		}
		if old, ok := want[p]; !ok || (old != 0 && (left == 0 || left > old)) {
			want[p] = left
		}
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ensureLocked(); err != nil {
		return "", err
	}
	c, err := m.conn()
	if err != nil {
		return "", err
	}
	table := m.table()
	have := map[netip.Prefix]bool{}
	var removed []string
	for _, name := range []string{Set4, Set6} {
		set := setDef(table, name)
		elems, err := c.GetSetElements(set)
		if err != nil {
			return "", fmt.Errorf("list inet %s/%s: %w", m.s.Table, name, err)
		}
		var orphans []nftables.SetElement
		for _, r := range ranges(elems) {
			if r.prefix.IsValid() {
				if _, ok := want[r.prefix]; ok {
					have[r.prefix] = true
					continue
				}
			}
			orphans = append(orphans, r.elems...)
			removed = append(removed, r.String())
		}
		if err := chunked(c.SetDeleteElements, set, orphans); err != nil {
			return "", err
		}
	}
	// The missing ones go back in messages of many elements each (one
	// message per block would overflow the socket's receive buffer with
	// the kernel's acknowledgements once they are many thousand).
	var restored []string
	restore := map[string][]nftables.SetElement{}
	for p, left := range want {
		if have[p] {
			continue
		}
		restore[setFor(p)] = append(restore[setFor(p)], elements(p, left)...)
		r := describe(p)
		if left > 0 {
			r += " for " + left.String()
		}
		restored = append(restored, r)
	}
	for _, name := range []string{Set4, Set6} {
		if err := chunked(c.SetAddElements, setDef(table, name), restore[name]); err != nil {
			return "", err
		}
	}
	if err := c.Flush(); err != nil {
		return "", fmt.Errorf("reconcile inet %s: %w", m.s.Table, err)
	}
	clear(m.until)
	for p, left := range want {
		m.until[p] = time.Time{}
		if left > 0 {
			m.until[p] = now.Add(left)
		}
	}
	slices.Sort(removed)
	slices.Sort(restored)
	parts := []string{fmt.Sprintf("inet %s: %d block(s) in place", m.s.Table, len(have))}
	if len(removed) > 0 {
		parts = append(parts, fmt.Sprintf("removed %d orphan(s): %s", len(removed), listSome(removed)))
	}
	if len(restored) > 0 {
		parts = append(parts, fmt.Sprintf("restored %d: %s", len(restored), listSome(restored)))
	}
	if len(skipped) > 0 {
		parts = append(parts, fmt.Sprintf("skipped %d: %s", len(skipped), listSome(skipped)))
	}
	if len(removed)+len(restored) == 0 {
		parts = append(parts, "nothing changed")
	}
	return strings.Join(parts, "; "), nil
}

// listSome joins the first 20 items, saying how many more there are.
func listSome(items []string) string {
	const most = 20
	if len(items) <= most {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:most], ", "), len(items)-most)
}

// add puts prefixes into the sets in one batch, making the table ready
// first. With renew, an element already there is replaced, so that its
// timeout starts again; without, one already there is left as it is.
func (m *Nftables) add(ps []netip.Prefix, timeout time.Duration, renew bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.addLocked(ps, timeout, renew)
}

func (m *Nftables) addLocked(p []netip.Prefix, timeout time.Duration, renew bool) error {
	if err := m.ensureLocked(); err != nil {
		return err
	}
	err := m.batchLocked(p, timeout, renew)
	if err != nil && !m.tableExists() {
		// The table went away under us (deleted by hand): make it again.
		m.ready = false
		if err := m.ensureLocked(); err != nil {
			return err
		}
		err = m.batchLocked(p, timeout, renew)
	}
	return err
}

func (m *Nftables) batchLocked(ps []netip.Prefix, timeout time.Duration, renew bool) error {
	c, err := m.conn()
	if err != nil {
		return err
	}
	table := m.table()
	var v4, v6 []nftables.SetElement
	for _, p := range ps {
		if p.Addr().Is4() {
			v4 = append(v4, elements(p, timeout)...)
		} else {
			v6 = append(v6, elements(p, timeout)...)
		}
	}
	for _, x := range []struct {
		set   string
		elems []nftables.SetElement
	}{{Set4, v4}, {Set6, v6}} {
		if len(x.elems) == 0 {
			continue
		}
		set := setDef(table, x.set)
		// In one transaction: add (nothing happens when the element is
		// there), delete, add again with the new timeout.
		if err := chunked(c.SetAddElements, set, x.elems); err != nil {
			return err
		}
		if renew {
			if err := chunked(c.SetDeleteElements, set, x.elems); err != nil {
				return err
			}
			if err := chunked(c.SetAddElements, set, x.elems); err != nil {
				return err
			}
		}
	}
	if err := c.Flush(); err != nil {
		what := fmt.Sprintf("add %d range(s) to inet %s", len(ps), m.s.Table)
		if len(ps) == 1 {
			what = m.describeAdd(ps[0], timeout)
		}
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
			return fmt.Errorf("%s: it overlaps a range already in the set: %w", what, err)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// maxElemsPerMsg bounds the elements of one message: they travel in one
// netlink attribute, whose length is 16 bits (an element takes at most
// 60 bytes).
const maxElemsPerMsg = 1000

// chunked queues elems in messages of at most maxElemsPerMsg elements,
// all in the connection's one batch (one transaction), an interval's
// start and end in the same message.
func chunked(op func(*nftables.Set, []nftables.SetElement) error, set *nftables.Set, elems []nftables.SetElement) error {
	for len(elems) > 0 {
		n := min(len(elems), maxElemsPerMsg)
		if n < len(elems) && elems[n].IntervalEnd {
			n++
		}
		if err := op(set, elems[:n]); err != nil {
			return err
		}
		elems = elems[n:]
	}
	return nil
}

// tableExists says whether the table is there (true when that cannot be
// told).
func (m *Nftables) tableExists() bool {
	c, err := m.conn()
	if err != nil {
		return true
	}
	_, err = c.ListTableOfFamily(m.s.Table, nftables.TableFamilyINet)
	return !errors.Is(err, unix.ENOENT)
}

func (m *Nftables) table() *nftables.Table {
	return &nftables.Table{Family: nftables.TableFamilyINet, Name: m.s.Table}
}

func setDef(t *nftables.Table, name string) *nftables.Set {
	s := &nftables.Set{Table: t, Name: name, Interval: true, HasTimeout: true, KeyType: nftables.TypeIPAddr}
	if name == Set6 {
		s.KeyType = nftables.TypeIP6Addr
	}
	return s
}

// elements returns the interval elements of p: its first address, and the
// address after its last flagged as the interval's end (none when p runs
// to the top of the address space).
func elements(p netip.Prefix, timeout time.Duration) []nftables.SetElement {
	out := []nftables.SetElement{{Key: p.Masked().Addr().AsSlice(), Timeout: timeout}}
	if end := lastAddr(p).Next(); end.IsValid() {
		// The end carries no timeout (the kernel refuses one): a range
		// ends when its start expires.
		out = append(out, nftables.SetElement{Key: end.AsSlice(), IntervalEnd: true})
	}
	return out
}

// span is one range found in a set: its elements, and the prefix it
// covers when it is one.
type span struct {
	start, end netip.Addr
	prefix     netip.Prefix
	elems      []nftables.SetElement
}

func (s span) String() string {
	if s.prefix.IsValid() {
		return describe(s.prefix)
	}
	if !s.end.IsValid() {
		return s.start.String() + "-(end)"
	}
	return s.start.String() + "-" + s.end.Prev().String()
}

// ranges pairs a set's listed elements into ranges: each start with the
// interval end that follows it. An end with no start before it (some
// tools add one at the bottom of the space) is left alone.
func ranges(elems []nftables.SetElement) []span {
	type el struct {
		a netip.Addr
		e nftables.SetElement
	}
	var list []el
	for _, e := range elems {
		a, ok := netip.AddrFromSlice(e.Key)
		if !ok {
			continue
		}
		list = append(list, el{a, e})
	}
	slices.SortFunc(list, func(x, y el) int {
		if c := x.a.Compare(y.a); c != 0 {
			return c
		}
		// At one address an end sorts before the start it touches.
		switch {
		case x.e.IntervalEnd && !y.e.IntervalEnd:
			return -1
		case !x.e.IntervalEnd && y.e.IntervalEnd:
			return 1
		}
		return 0
	})
	var out []span
	for i := 0; i < len(list); i++ {
		if list[i].e.IntervalEnd {
			continue
		}
		s := span{start: list[i].a, elems: []nftables.SetElement{{Key: list[i].e.Key}}}
		if i+1 < len(list) && list[i+1].e.IntervalEnd {
			s.end = list[i+1].a
			s.elems = append(s.elems, nftables.SetElement{Key: list[i+1].e.Key, IntervalEnd: true})
			i++
		}
		if p, ok := prefixOf(s.start, s.end); ok {
			s.prefix = p
		}
		out = append(out, s)
	}
	return out
}

// ensureLocked makes the table, its sets and its chains as the settings
// say, once per method (again after the table was found missing). Chains
// for hooks the settings turn off are deleted; elements are kept.
func (m *Nftables) ensureLocked() error {
	if m.ready {
		return nil
	}
	c, err := m.conn()
	if err != nil {
		return err
	}
	table := m.table()
	existing := map[string]*nftables.Chain{}
	if chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet); err == nil {
		for _, ch := range chains {
			if ch.Table.Name == m.s.Table {
				existing[ch.Name] = ch
			}
		}
	} else if !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("list chains: %w", err)
	}
	c.AddTable(table)
	sets := map[string]*nftables.Set{}
	for _, name := range []string{Set4, Set6} {
		s := setDef(table, name)
		if err := c.AddSet(s, nil); err != nil {
			return fmt.Errorf("set %s: %w", name, err)
		}
		sets[name] = s
	}
	prio := nftables.ChainPriority(m.s.Priority)
	accept := nftables.ChainPolicyAccept
	for _, h := range []struct {
		name string
		hook *nftables.ChainHook
		on   bool
	}{{"input", nftables.ChainHookInput, m.s.Input}, {"forward", nftables.ChainHookForward, m.s.Forward}} {
		old := existing[h.name]
		if old != nil && (!h.on || old.Priority == nil || *old.Priority != prio) {
			c.FlushChain(old)
			c.DelChain(old)
		}
		if !h.on {
			continue
		}
		ch := c.AddChain(&nftables.Chain{Name: h.name, Table: table, Type: nftables.ChainTypeFilter,
			Hooknum: h.hook, Priority: &prio, Policy: &accept})
		c.FlushChain(ch)
		c.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: dropFrom(sets[Set4], unix.NFPROTO_IPV4, 12, 4)})
		c.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: dropFrom(sets[Set6], unix.NFPROTO_IPV6, 8, 16)})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("make table inet %s: %w", m.s.Table, err)
	}
	m.ready = true
	return nil
}

// dropFrom is `meta nfproto P <family> saddr @set counter drop`.
func dropFrom(set *nftables.Set, proto byte, off, n uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

// conn returns a connection for one batch, in the settings' namespace,
// with socket buffers big enough for large batches.
func (m *Nftables) conn() (*nftables.Conn, error) {
	opts := []nftables.ConnOption{nftables.WithSockOptions(bigBuffers)}
	if m.ns != nil {
		opts = append(opts, nftables.WithNetNSFd(int(m.ns.Fd())))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	return c, nil
}

// bigBuffers raises a netlink socket's buffers (as root, past the
// system's maximum) so that a batch of many thousand elements fits; where
// it cannot, the defaults stay.
func bigBuffers(c *netlink.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 32<<20)
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20)
	})
	return nil
}

// netns is the network namespace a method acts in.
type netns struct {
	ns *os.File // nil: the monitor's own
}

// open opens the namespace file path (none when empty).
func (n *netns) open(path string) error {
	if path == "" {
		return nil
	}
	f, err := openNetns(path)
	n.ns = f
	return err
}

// Close releases the namespace file.
func (n *netns) Close() error {
	if n.ns != nil {
		return n.ns.Close()
	}
	return nil
}

// openNetns opens a network namespace file, checking that it is one.
func openNetns(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("netns: %w", err)
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err == nil && st.Type != unix.NSFS_MAGIC && st.Type != unix.PROC_SUPER_MAGIC {
		f.Close()
		return nil, fmt.Errorf("netns: %s is not a namespace file", path)
	}
	return f, nil
}
