package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/hierarchy"
	"github.com/vigil-ids/vigil/internal/probemsg"
	"github.com/vigil-ids/vigil/internal/store"
	"github.com/vigil-ids/vigil/internal/wiremsg"
)

// probeTimeout bounds the store queries behind one probe.
const probeTimeout = 5 * time.Second

// A monitor relaying a probe keeps a tenth of the sender's time for
// itself (its reply's way back up), at least relayMargin: the next hop
// gets the rest. minRelay is the least a hop is given; with less left,
// the relay answers unreachable at once.
const (
	relayMargin = 100 * time.Millisecond
	minRelay    = 200 * time.Millisecond
)

// maxRelays bounds the relayed probes a monitor waits on at once; one
// more is answered failed (a lost child never queues its parent's
// probes without bound).
const maxRelays = 8

// startProbes answers probes on the monitor's probe subject
// (bus.ProbeListenSubject) from its parent only: a monitor with no parent
// answers nobody over the bus. A probe to relay further down waits for
// the next hop on a goroutine of its own (at most maxRelays), so that the
// monitor answers its other probes meanwhile. It returns the function
// that stops, once every relay has ended.
func (m *Monitor) startProbes() func() {
	parent := m.cfg.Monitor.Parent
	if m.o.Conn == nil || parent == "" {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	relays := make(chan struct{}, maxRelays)
	sub, err := m.o.Conn.NC.Subscribe(bus.ProbeListenSubject(m.cfg.Monitor.Name), func(msg *nats.Msg) {
		if msg.Reply == "" {
			return
		}
		sender := msg.Subject[strings.LastIndexByte(msg.Subject, '.')+1:]
		respond := func(rep probemsg.Reply) {
			if err := msg.Respond(probemsg.Encode(rep)); err != nil {
				m.log.Warn("probe reply not sent", "sender", sender, "err", err)
			}
		}
		req, refusal := m.admitProbe(sender, msg.Data)
		if refusal != nil {
			respond(*refusal)
			return
		}
		if len(req.Via) == 0 {
			qctx, qcancel := context.WithTimeout(ctx, min(probeTimeout, req.Within()))
			defer qcancel()
			respond(m.Probe(qctx, req))
			return
		}
		select {
		case relays <- struct{}{}:
		default:
			respond(probemsg.Reply{Version: probemsg.Version, ID: req.ID, Monitor: m.cfg.Monitor.Name, Status: probemsg.StatusFailed,
				Detail: fmt.Sprintf("monitor %s relays %d probes already; try again", m.cfg.Monitor.Name, maxRelays)})
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-relays }()
			respond(m.relayProbe(ctx, req))
		}()
	})
	if err != nil {
		cancel()
		m.log.Warn("probes are not answered", "err", err)
		return func() {}
	}
	// Probes come from one parent; a burst beyond this is dropped by the
	// client rather than queued without bound.
	_ = sub.SetPendingLimits(64, 1<<20)
	return func() {
		_ = sub.Unsubscribe()
		cancel()
		wg.Wait()
	}
}

// mayProbe says whether sender (the last token of the probe's subject:
// on a bus with mutual TLS, only that monitor's certificate may send
// there) may probe this monitor: its parent only.
func (m *Monitor) mayProbe(sender string) bool {
	p := m.cfg.Monitor.Parent
	return p != "" && bus.Token(p) == sender
}

// admitProbe decodes a probe from sender and checks that sender may send
// it; otherwise it returns the refusal to answer.
func (m *Monitor) admitProbe(sender string, data []byte) (probemsg.Request, *probemsg.Reply) {
	self := m.cfg.Monitor.Name
	req, err := probemsg.DecodeRequest(data)
	if err != nil {
		return req, &probemsg.Reply{Version: probemsg.Version, ID: looseID(data), Monitor: self, Status: probemsg.StatusRefused, Detail: err.Error()}
	}
	if !m.mayProbe(sender) {
		m.log.Warn("probe refused: not from the parent", "sender", sender, "kind", req.Kind)
		return req, &probemsg.Reply{Version: probemsg.Version, ID: req.ID, Monitor: self, Status: probemsg.StatusRefused,
			Detail: fmt.Sprintf("monitor %s answers probes from its parent %s only, not from %s", self, m.cfg.Monitor.Parent, sender)}
	}
	return req, nil
}

// relayProbe sends a probe (from the parent, already checked) on to the
// next monitor on its path, one of this monitor's own children, as this
// monitor, with the rest of the path and less time, and returns the reply
// that comes back, unchanged: the last monitor's answer, or a hop's word
// that the path goes no further. A next hop that is no child of this
// monitor is not asked (not found); one that does not answer in time, or
// at all, is unreachable; either reply names this monitor and the hop.
func (m *Monitor) relayProbe(ctx context.Context, req probemsg.Request) probemsg.Reply {
	self := m.cfg.Monitor.Name
	next := req.Via[0]
	rep := probemsg.Reply{Version: probemsg.Version, ID: req.ID, Monitor: self}
	if slices.Contains(req.Via, self) {
		rep.Status, rep.Detail = probemsg.StatusRefused, clipDetail(fmt.Sprintf("monitor %s is itself on the probe's path %s", self, strings.Join(req.Via, " > ")))
		return rep
	}
	if !slices.Contains(m.ChildNames(), next) {
		rep.Status, rep.Detail = probemsg.StatusNotFound, clipDetail(fmt.Sprintf("monitor %s has no child %q: the probe goes no further", self, next))
		return rep
	}
	within := req.Within() - max(relayMargin, req.Within()/10)
	if within < minRelay {
		rep.Status, rep.Detail = probemsg.StatusUnreachable, fmt.Sprintf("monitor %s: no time left to relay the probe to %s", self, next)
		return rep
	}
	fwd := req
	fwd.Via = req.Via[1:]
	fwd.WithinMS = 0
	m.log.Debug("probe relayed", "id", req.ID, "kind", req.Kind, "to", next, "within", within)
	back, err := probemsg.Probe(ctx, m.o.Conn.NC, next, self, fwd, within)
	if err != nil {
		rep.Status, rep.Detail = probemsg.StatusUnreachable, clipDetail(fmt.Sprintf("monitor %s relaying to %s: %v", self, next, err))
		return rep
	}
	return back
}

// looseID is the id of a probe that did not decode, when it has a usable
// one ("?" otherwise), so that the sender can match the refusal.
func looseID(data []byte) string {
	var v struct {
		ID string `json:"id"`
	}
	if len(data) <= probemsg.MaxRequest && json.Unmarshal(data, &v) == nil && v.ID != "" && wiremsg.Text("id", v.ID, probemsg.MaxID, true) == nil {
		return v.ID
	}
	return "?"
}

// Probe answers a probe (already checked and authorised) from what the
// monitor holds now. The reply never exceeds probemsg.MaxReply: a long
// list is cut and marked truncated.
func (m *Monitor) Probe(ctx context.Context, req probemsg.Request) probemsg.Reply {
	rep := probemsg.Reply{Version: probemsg.Version, ID: req.ID, Monitor: m.cfg.Monitor.Name, Status: probemsg.StatusOK}
	build := func(n int) (any, string, error) { return m.probeData(ctx, req, n) }
	for n := req.Items(); ; n /= 2 {
		data, notFound, err := build(n)
		switch {
		case err != nil:
			rep.Status, rep.Detail = probemsg.StatusFailed, clipDetail(err.Error())
			return rep
		case notFound != "":
			rep.Status, rep.Detail = probemsg.StatusNotFound, clipDetail(notFound)
			return rep
		}
		rep.Data = probemsg.Encode(data)
		if len(probemsg.Encode(rep)) <= probemsg.MaxReply {
			return rep
		}
		if n <= 1 {
			rep.Data = nil
			rep.Status, rep.Detail = probemsg.StatusFailed, fmt.Sprintf("even one item makes a reply over %d bytes", probemsg.MaxReply)
			return rep
		}
		rep.Detail = "truncated to fit a reply"
	}
}

func clipDetail(s string) string {
	if len(s) > probemsg.MaxDetail {
		return s[:probemsg.MaxDetail]
	}
	return s
}

// probeData builds a reply's data with at most n items, or says what was
// not found.
func (m *Monitor) probeData(ctx context.Context, req probemsg.Request, n int) (any, string, error) {
	switch req.Kind {
	case probemsg.KindTracks:
		ts := m.LiveTracks(engine.TrackQuery{Key: req.Subject, Limit: n + 1})
		if len(ts) == 0 && req.Subject != "" {
			return nil, fmt.Sprintf("monitor %s follows no track of subject %q", m.cfg.Monitor.Name, req.Subject), nil
		}
		out := probemsg.Tracks{Tracks: []json.RawMessage{}}
		for i := range ts {
			if i == n {
				out.Truncated = true
				break
			}
			out.Tracks = append(out.Tracks, ts[i].AppendJSON(nil))
		}
		return out, "", nil
	case probemsg.KindProfile:
		ss := m.ProfileSubjects("", engine.SubjectQuery{Subject: req.Subject, Limit: n + 1})
		if len(ss) == 0 {
			return nil, fmt.Sprintf("monitor %s has no profile of subject %q", m.cfg.Monitor.Name, req.Subject), nil
		}
		out := probemsg.Profile{Subjects: ss}
		if len(ss) > n {
			out.Subjects, out.Truncated = ss[:n], true
		}
		return out, "", nil
	case probemsg.KindEvidence:
		return m.evidence(ctx, req.Report, n)
	case probemsg.KindStatus:
		st := probemsg.Status{
			Name: m.cfg.Monitor.Name, Layer: m.cfg.Monitor.Layer, Parent: m.cfg.Monitor.Parent, Time: m.o.Clock.Now().UTC(),
			Counters: m.Counters(), Children: m.Children(), Heartbeats: m.HeartbeatCounts(),
		}
		// Its children are not the items the limit counts, but a reply
		// too long for them is cut like a list.
		if most := n * 10; len(st.Children) > most {
			st.Children, st.Truncated = st.Children[:most], true
		}
		return st, "", nil
	}
	return nil, "", fmt.Errorf("kind %q not answered", req.Kind)
}

// evidence finds report id among the monitor's reports and the events
// behind it, at most n of them.
func (m *Monitor) evidence(ctx context.Context, id string, n int) (any, string, error) {
	notFound := fmt.Sprintf("monitor %s holds no report %q", m.cfg.Monitor.Name, id)
	reps, err := m.store.Reports(ctx, store.Filter{IDs: []string{id}, Limit: 1})
	if err != nil {
		return nil, "", fmt.Errorf("reading report %s: %w", id, err)
	}
	if len(reps) == 0 {
		return nil, notFound, nil
	}
	r := reps[0]
	want := r.Evidence
	out := probemsg.Evidence{Report: r.AppendJSON(nil), Events: []json.RawMessage{}}
	if len(want) > min(n, store.MaxIDs) {
		want, out.Truncated = want[:min(n, store.MaxIDs)], true
	}
	if len(want) == 0 {
		return out, "", nil
	}
	evs, err := m.store.Events(ctx, store.Filter{IDs: want, Limit: len(want)})
	if err != nil {
		return nil, "", fmt.Errorf("reading the evidence of report %s: %w", id, err)
	}
	found := make(map[string]bool, len(evs))
	for i := range evs {
		found[evs[i].ID] = true
		out.Events = append(out.Events, evs[i].AppendJSON(nil))
	}
	for _, e := range want {
		if !found[e] && !slices.Contains(out.Missing, e) {
			out.Missing = append(out.Missing, e)
		}
	}
	return out, "", nil
}

// Place is where the monitor sits in the hierarchy, with its counters.
func (m *Monitor) Place() hierarchy.Place {
	mc := m.cfg.Monitor
	return hierarchy.Place{Name: mc.Name, Layer: mc.Layer, Parent: mc.Parent, Peers: append([]string{}, mc.Peers...), Counters: m.Counters()}
}

// ProbeChild sends a probe to child, one of the monitor's children, as
// the monitor, and returns its reply (probemsg.Probe) within timeout.
func (m *Monitor) ProbeChild(ctx context.Context, child string, req probemsg.Request, timeout time.Duration) (probemsg.Reply, error) {
	if !slices.Contains(m.ChildNames(), child) {
		return probemsg.Reply{}, fmt.Errorf("monitor %q: %w %s", child, hierarchy.ErrNotChild, m.cfg.Monitor.Name)
	}
	if m.o.Conn == nil {
		return probemsg.Reply{}, errors.New("probe: the monitor has no bus connection")
	}
	return probemsg.Probe(ctx, m.o.Conn.NC, child, m.cfg.Monitor.Name, req, timeout)
}
