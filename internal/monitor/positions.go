package monitor

import (
	"context"
	"encoding/json"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/clock"
)

// The monitor keeps in its store, for each durable consumer and stream,
// the position of the latest message the store has committed (at most a
// second behind, and exact after a clean stop). When a consumer has to be
// created again while its stream still holds messages (it was deleted),
// the bus starts it right after that position instead of at the start of
// the stream (bus.DurableOptions.Resume). The position names the stream's
// creation time, so a stream deleted and created again, whose sequence
// numbers start over, is not mistaken for the one the position is in.

// positionEvery is how often committed positions are saved.
const positionEvery = time.Second

// positionKey is the name a consumer's position is saved under in the
// store's state table.
func positionKey(durable, stream string) string {
	return "bus.position:" + durable + ":" + stream
}

// positionLoop saves committed positions every positionEvery until ctx
// ends.
func (m *Monitor) positionLoop(ctx context.Context) {
	t := clock.NewTicker(m.o.Clock, positionEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			m.savePositions(ctx)
		}
	}
}

// savePositions saves the positions committed since the last save.
func (m *Monitor) savePositions(ctx context.Context) {
	m.acks.mu.Lock()
	committed := m.acks.committed
	m.acks.committed = make(map[consumerKey]*bus.Msg, len(committed))
	m.acks.mu.Unlock()
	for k, msg := range committed {
		pos, ok := msg.Position()
		if !ok || k.src.durable == "" {
			continue
		}
		data, err := json.Marshal(pos)
		if err == nil {
			err = m.store.SaveState(ctx, positionKey(k.src.durable, k.stream), data, m.o.Clock.Now())
		}
		if err != nil {
			m.log.Warn("saving a consumer's position", "consumer", k.src.durable, "stream", k.stream, "err", err)
		}
	}
}

// resumeFrom returns the bus's way to ask where the store has the
// messages of durable's streams up to.
func (m *Monitor) resumeFrom(ctx context.Context, durable string) func(stream string) (bus.Position, bool) {
	return func(stream string) (bus.Position, bool) {
		data, _, err := m.store.LoadState(ctx, positionKey(durable, stream))
		if err != nil {
			m.log.Warn("reading a consumer's position", "consumer", durable, "stream", stream, "err", err)
			return bus.Position{}, false
		}
		if data == nil {
			return bus.Position{}, false
		}
		var pos bus.Position
		if err := json.Unmarshal(data, &pos); err != nil || pos.Stream != stream {
			m.log.Warn("a consumer's saved position is unreadable; delivering the whole stream", "consumer", durable, "stream", stream, "err", err)
			return bus.Position{}, false
		}
		return pos, true
	}
}
