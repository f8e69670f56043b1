package netsensor

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// flowKey identifies a flow in the direction client -> server.
type flowKey struct {
	proto          uint8
	cport, sport   uint16
	client, server [16]byte
}

func makeKey(proto uint8, client netip.Addr, cport uint16, server netip.Addr, sport uint16) flowKey {
	return flowKey{proto: proto, cport: cport, sport: sport, client: client.As16(), server: server.As16()}
}

// fstate is where a flow stands.
type fstate uint8

const (
	stPending   fstate = iota // an attempt waiting for its answer
	stProbe                   // a stealth probe waiting for a reset
	stOpen                    // answered (established, or a UDP reply)
	stMidstream               // first seen in the middle (began before the sensor)
	stClosing                 // FIN or RST seen
)

// flow is one flow's state. Flows live on one of the table's lists, by
// what expires them, most recently active first.
type flow struct {
	key            flowKey
	client, server netip.Addr
	cport, sport   uint16
	proto          uint8
	state          fstate
	flags          uint8 // the probe's flags
	first, last    int64 // Unix nanoseconds
	tries          int   // SYNs (or datagrams) before an answer
	unassigned     bool
	dir            string    // relative to the internal networks
	appGuess       uint8     // the application its service port suggests
	streams        []int     // indexes of the streams it belongs to
	app            *appState // from its first payload on
	// answered: established (a SYN-ACK or a UDP reply) or first seen in
	// the middle; its end is recorded with what it carried.
	answered bool
	// ackProbe: first seen as a bare ACK (no SYN, no data) and nothing
	// else since but its repeats; ackFromClient says which side sent it.
	ackProbe, ackFromClient bool
	// Payload bytes and packets each way.
	bytesToServer, bytesToClient uint64
	pktsToServer, pktsToClient   uint32

	list       *flowList
	prev, next *flow
	// Summary entries of the current interval, looked up once per flow.
	epoch         uint64
	counted       bool // its peers and ports are counted in this interval
	srcSum        *counters
	dstSum        *counters
	svcSum        *counters
	streamSums    []*counters
	recordsBudget *counters // where its records are counted against the budget
}

// flowList is a doubly linked list, most recently active at the head.
type flowList struct {
	head, tail *flow
	n          int
	timeout    time.Duration
}

func (l *flowList) pushFront(f *flow) {
	f.list, f.prev, f.next = l, nil, l.head
	if l.head != nil {
		l.head.prev = f
	}
	l.head = f
	if l.tail == nil {
		l.tail = f
	}
	l.n++
}

func (l *flowList) remove(f *flow) {
	if f.prev != nil {
		f.prev.next = f.next
	} else {
		l.head = f.next
	}
	if f.next != nil {
		f.next.prev = f.prev
	} else {
		l.tail = f.prev
	}
	f.list, f.prev, f.next = nil, nil, nil
	l.n--
}

// flowTable holds the flows, bounded: when it is full the least recently
// active flow of the most expendable list makes room, and is counted. The
// index is an open-addressed table (linear probing, deletion by backward
// shift, at most half full) with a cheap hash of the key's words: it is
// the sensor's hottest structure under a flood, where every packet starts
// a flow.
type flowTable struct {
	slots []slot
	mask  uint64
	n     int
	max   int
	// pending and probes expire after the attempt timeout, udp after the
	// UDP idle time, open after the TCP idle time, closing soon.
	pending, probes, udp, open, closing flowList
	free                                []*flow
	freeApps                            []*appState
	evicted                             uint64
}

// slot is an entry of the index: the flow's hash beside it, so a probe
// rarely has to follow the pointer.
type slot struct {
	hash uint64
	f    *flow
}

func newFlowTable(max int, attempt, udpIdle, tcpIdle time.Duration) *flowTable {
	t := &flowTable{slots: make([]slot, 1024), mask: 1023, max: max}
	t.pending.timeout, t.probes.timeout = attempt, attempt
	t.udp.timeout, t.open.timeout = udpIdle, tcpIdle
	t.closing.timeout = 10 * time.Second
	return t
}

func (t *flowTable) len() int { return t.n }

func (k *flowKey) hash() uint64 {
	a0 := binary.LittleEndian.Uint64(k.client[:8])
	a1 := binary.LittleEndian.Uint64(k.client[8:])
	b0 := binary.LittleEndian.Uint64(k.server[:8])
	b1 := binary.LittleEndian.Uint64(k.server[8:])
	p := uint64(k.cport)<<24 | uint64(k.sport)<<8 | uint64(k.proto)
	return mix64(mix64(a0^a1*0x9e3779b97f4a7c15) ^ mix64(b0^b1*0xc2b2ae3d27d4eb4f) ^ p)
}

func (t *flowTable) get(k flowKey) *flow {
	h := k.hash()
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		sl := &t.slots[i]
		if sl.f == nil {
			return nil
		}
		if sl.hash == h && sl.f.key == k {
			return sl.f
		}
	}
}

func (t *flowTable) insert(f *flow) {
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	h := f.key.hash()
	i := h & t.mask
	for t.slots[i].f != nil {
		i = (i + 1) & t.mask
	}
	t.slots[i] = slot{h, f}
	t.n++
}

// grow doubles the index: it stays small while the flows are few, so it
// stays in the processor's caches.
func (t *flowTable) grow() {
	old := t.slots
	t.slots = make([]slot, 2*len(old))
	t.mask = uint64(len(t.slots) - 1)
	for _, sl := range old {
		if sl.f == nil {
			continue
		}
		i := sl.hash & t.mask
		for t.slots[i].f != nil {
			i = (i + 1) & t.mask
		}
		t.slots[i] = sl
	}
}

// unindex removes f from the index, shifting back the entries after it
// that belong before the hole.
func (t *flowTable) unindex(f *flow) {
	h := f.key.hash()
	i := h & t.mask
	for t.slots[i].f != f {
		if t.slots[i].f == nil {
			return
		}
		i = (i + 1) & t.mask
	}
	t.slots[i] = slot{}
	t.n--
	for j := (i + 1) & t.mask; t.slots[j].f != nil; j = (j + 1) & t.mask {
		home := t.slots[j].hash & t.mask
		// Move j back into the hole at i unless its home lies in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			t.slots[i], t.slots[j] = t.slots[j], slot{}
			i = j
		}
	}
}

// add makes a flow for k, evicting one first when the table is full; the
// evicted flow is passed to onEvict before it is reused.
func (t *flowTable) add(k flowKey, onEvict func(*flow)) *flow {
	if t.n >= t.max {
		for _, l := range []*flowList{&t.pending, &t.probes, &t.udp, &t.closing, &t.open} {
			if l.tail != nil {
				old := l.tail
				onEvict(old)
				t.delete(old)
				t.evicted++
				break
			}
		}
	}
	var f *flow
	if n := len(t.free); n > 0 {
		f = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		f = new(flow)
	}
	f.key = k
	t.insert(f)
	return f
}

// place puts f at the head of the list for its state.
func (t *flowTable) place(f *flow) {
	if f.list != nil {
		f.list.remove(f)
	}
	t.listFor(f).pushFront(f)
}

func (t *flowTable) listFor(f *flow) *flowList {
	switch f.state {
	case stPending:
		return &t.pending
	case stProbe:
		return &t.probes
	case stClosing:
		return &t.closing
	}
	if f.proto == ProtoTCP {
		return &t.open
	}
	return &t.udp
}

// rekey files f under k (the same flow, its ends seen the other way).
func (t *flowTable) rekey(f *flow, k flowKey) {
	t.unindex(f)
	f.key = k
	t.insert(f)
}

// newApp returns an empty application-layer state.
func (t *flowTable) newApp() *appState {
	if n := len(t.freeApps); n > 0 {
		a := t.freeApps[n-1]
		t.freeApps = t.freeApps[:n-1]
		return a
	}
	return new(appState)
}

// touch marks f active now.
func (t *flowTable) touch(f *flow, now time.Time) {
	f.last = now.UnixNano()
	if f.list != nil && f.list.head != f {
		l := f.list
		l.remove(f)
		l.pushFront(f)
	}
}

func (t *flowTable) delete(f *flow) {
	if f.list != nil {
		f.list.remove(f)
	}
	t.unindex(f)
	if f.app != nil && len(t.freeApps) < 4096 {
		*f.app = appState{}
		t.freeApps = append(t.freeApps, f.app)
	}
	streams := f.streams[:0]
	sums := f.streamSums[:0]
	*f = flow{streams: streams, streamSums: sums}
	if len(t.free) < 4096 {
		t.free = append(t.free, f)
	}
}

// expire removes the flows idle past their list's timeout, oldest first,
// passing each to onExpire first.
func (t *flowTable) expire(now time.Time, onExpire func(*flow)) {
	for _, l := range []*flowList{&t.pending, &t.probes, &t.udp, &t.closing, &t.open} {
		for l.tail != nil && now.UnixNano()-l.tail.last >= int64(l.timeout) {
			f := l.tail
			onExpire(f)
			t.delete(f)
		}
	}
}

// each calls fn for every flow (at the end of a capture).
func (t *flowTable) drain(fn func(*flow)) {
	for _, l := range []*flowList{&t.pending, &t.probes, &t.udp, &t.closing, &t.open} {
		for l.tail != nil {
			f := l.tail
			fn(f)
			t.delete(f)
		}
	}
}
