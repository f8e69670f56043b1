package monitor

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/store"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// TestPackedObservations: a sensor's pack of observations (one bus
// message, bus.Conn.PublishPackedEvents) is stored as its observations,
// each once; inside a pack, an undecodable observation and one about
// another host are refused and counted one by one, and a pack whose
// framing breaks keeps the observations before the break. Every message
// is acknowledged once its observations are stored.
func TestPackedObservations(t *testing.T) {
	_, conn := startBus(t)
	mon := run(t, Options{Config: loadConfig(t, crashCfg, nil), Conn: conn("m")})
	<-mon.m.Ready()
	pub := conn("pub")
	ctx := context.Background()
	ids := event.NewRandomIDs()
	t0 := time.Now().UTC()
	good := hostEvents(ids, t0, "h", event.TypeSysCPU, 300)
	recs := make([][]byte, len(good))
	for i := range good {
		recs[i] = good[i].AppendCompact(nil)
	}
	// The 300, as a sensor sends them: several packs. Twice: a replay
	// stores nothing new.
	for range 2 {
		if n, err := pub.PublishPackedEvents(ctx, recs); err != nil || n != len(recs) {
			t.Fatalf("published %d of %d: %v", n, len(recs), err)
		}
	}
	// A pack with garbage and another host's observation among good ones,
	// and a pack cut inside its third observation.
	more := hostEvents(ids, t0.Add(time.Hour), "h", event.TypeSysCPU, 5)
	other := hostEvents(ids, t0.Add(2*time.Hour), "other", event.TypeSysCPU, 1)[0]
	var mixed []byte
	mixed = event.AppendPacked(mixed, more[0].AppendCompact(nil))
	mixed = event.AppendPacked(mixed, []byte{0xE1, 0xff, 0xff})
	mixed = event.AppendPacked(mixed, other.AppendCompact(nil))
	mixed = event.AppendPacked(mixed, more[1].AppendCompact(nil))
	var cut []byte
	for _, ev := range more[2:] {
		cut = event.AppendPacked(cut, ev.AppendCompact(nil))
	}
	cut = cut[:len(cut)-5]
	for _, data := range [][]byte{mixed, cut} {
		m := nats.NewMsg(bus.ObsSubject("h"))
		m.Data = data
		if _, err := pub.JS.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	want := 300 + 2 + 2
	testutil.WaitFor(t, 20*time.Second, "the good observations stored", func() bool {
		return mon.m.Store().Stats().EventsWritten == uint64(want)
	})
	testutil.WaitFor(t, 20*time.Second, "every message acknowledged", func() bool {
		c, err := pub.JS.Consumer(ctx, bus.StreamObs, crashDurable)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		st, serr := pub.JS.Stream(ctx, bus.StreamObs)
		return err == nil && serr == nil && info.NumAckPending == 0 && info.AckFloor.Stream == st.CachedInfo().State.LastSeq
	})
	stored, err := mon.m.Store().Events(ctx, store.Filter{Type: event.TypeSysCPU, Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range stored {
		got = append(got, ev.ID)
	}
	for _, ev := range append(good, more[:4]...) {
		if !slices.Contains(got, ev.ID) {
			t.Errorf("observation %s not stored", ev.ID)
		}
	}
	if slices.Contains(got, other.ID) || slices.Contains(got, more[4].ID) {
		t.Error("another host's observation, or the one cut, was stored")
	}
	if n := promtest.ToFloat64(mon.m.met.decodeErrors.WithLabelValues("obs")); n != 2 {
		t.Errorf("decode errors %v, want 2 (the garbage, the cut pack)", n)
	}
	if n := promtest.ToFloat64(mon.m.met.misrouted.WithLabelValues("obs")); n != 1 {
		t.Errorf("misrouted %v, want 1", n)
	}
}
