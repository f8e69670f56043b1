package bus

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestPlanConsumer(t *testing.T) {
	want := jetstream.ConsumerConfig{Durable: "m_obs", AckPolicy: jetstream.AckAllPolicy, AckWait: 30 * time.Second, MaxAckPending: 100, FilterSubject: AllObs}
	st := jetstream.StreamState{FirstSeq: 1, LastSeq: 1000}
	cons := func(f func(*jetstream.ConsumerInfo)) *jetstream.ConsumerInfo {
		ci := &jetstream.ConsumerInfo{Config: want}
		ci.Config.AckWait = 5 * time.Second
		ci.Delivered.Stream, ci.AckFloor.Stream = 800, 600
		f(ci)
		return ci
	}
	for _, tc := range []struct {
		name     string
		st       jetstream.StreamState
		have     *jetstream.ConsumerInfo
		takeover bool
		action   consumerAction
		policy   jetstream.DeliverPolicy
		from     uint64
	}{
		{"none", st, nil, true, consumerCreate, jetstream.DeliverAllPolicy, 0},
		{"deliver all, nothing pending", st, cons(func(*jetstream.ConsumerInfo) {}), true, consumerReuse, jetstream.DeliverAllPolicy, 0},
		{"start sequence kept", st, cons(func(ci *jetstream.ConsumerInfo) {
			ci.Config.DeliverPolicy, ci.Config.OptStartSeq = jetstream.DeliverByStartSequencePolicy, 201
		}), true, consumerReuse, jetstream.DeliverByStartSequencePolicy, 201},
		{"pending, takeover", st, cons(func(ci *jetstream.ConsumerInfo) { ci.NumAckPending = 200 }), true, consumerRecreate, jetstream.DeliverByStartSequencePolicy, 601},
		{"pending, shared", st, cons(func(ci *jetstream.ConsumerInfo) { ci.NumAckPending = 200 }), false, consumerReuse, jetstream.DeliverAllPolicy, 0},
		{"pending, nothing acknowledged", st, cons(func(ci *jetstream.ConsumerInfo) { ci.NumAckPending, ci.AckFloor.Stream = 800, 0 }), true, consumerRecreate, jetstream.DeliverAllPolicy, 0},
		{"floor aged out", jetstream.StreamState{FirstSeq: 700, LastSeq: 1000}, cons(func(ci *jetstream.ConsumerInfo) { ci.NumAckPending = 200 }), true, consumerRecreate, jetstream.DeliverByStartSequencePolicy, 700},
		{"stream went back", jetstream.StreamState{FirstSeq: 1, LastSeq: 300}, cons(func(*jetstream.ConsumerInfo) {}), true, consumerRecreate, jetstream.DeliverAllPolicy, 0},
		{"empty recreated stream", jetstream.StreamState{}, cons(func(*jetstream.ConsumerInfo) {}), false, consumerRecreate, jetstream.DeliverAllPolicy, 0},
		{"ack policy", st, cons(func(ci *jetstream.ConsumerInfo) { ci.Config.AckPolicy = jetstream.AckExplicitPolicy }), false, consumerRecreate, jetstream.DeliverByStartSequencePolicy, 601},
		{"push consumer", st, cons(func(ci *jetstream.ConsumerInfo) { ci.Config.DeliverSubject = "x" }), false, consumerRecreate, jetstream.DeliverByStartSequencePolicy, 601},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := planConsumer(want, tc.st, tc.have, tc.takeover)
			if p.Action != tc.action || p.Config.DeliverPolicy != tc.policy || p.Config.OptStartSeq != tc.from {
				t.Fatalf("plan %v %v from %d (%s), want %v %v from %d", p.Action, p.Config.DeliverPolicy, p.Config.OptStartSeq, p.Why, tc.action, tc.policy, tc.from)
			}
			if p.Why == "" {
				t.Error("plan without a reason")
			}
			if p.Config.AckWait != want.AckWait || p.Config.MaxAckPending != want.MaxAckPending || p.Config.FilterSubject != want.FilterSubject {
				t.Errorf("plan lost the wanted settings: %+v", p.Config)
			}
		})
	}
}

// TestDurableReconciled drives a real consumer through a takeover (which
// recreates it with a start sequence) and a plain restart (which must reuse
// it rather than ask for another deliver policy), then deletes it.
func TestDurableReconciled(t *testing.T) {
	s := startServer(t, ServerOptions{})
	c := connect(t, ClientOptions{URL: s.ClientURL(), Name: "test"})
	ctx := context.Background()
	if err := c.EnsureStreams(ctx, StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PublishEvents(ctx, makeEvents(100, "web-1")); err != nil {
		t.Fatal(err)
	}
	got := make(chan *Msg, 1000)
	consume := func(takeover bool) *Subscription {
		t.Helper()
		sub, err := c.ConsumeDurable(ctx, DurableOptions{Name: "mon", Subjects: []string{AllObs}, Takeover: takeover}, func(m *Msg) { got <- m })
		if err != nil {
			t.Fatal(err)
		}
		return sub
	}
	receive := func(n int) []*Msg {
		t.Helper()
		var out []*Msg
		for len(out) < n {
			select {
			case m := <-got:
				out = append(out, m)
			case <-time.After(10 * time.Second):
				t.Fatalf("received %d messages, want %d", len(out), n)
			}
		}
		return out
	}
	seqOf := func(m *Msg) uint64 {
		md, err := m.js.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		return md.Sequence.Stream
	}

	first := consume(false)
	ms := receive(100)
	if err := ms[39].Ack(); err != nil { // 1..40 acknowledged, 41..100 pending
		t.Fatal(err)
	}
	first.Stop()

	second := consume(true)
	ms = receive(60)
	if seqOf(ms[0]) != 41 {
		t.Fatalf("takeover resumed at %d, want 41", seqOf(ms[0]))
	}
	if err := ms[59].Ack(); err != nil {
		t.Fatal(err)
	}
	second.Stop()
	info, err := c.JS.Consumer(ctx, StreamObs, "mon")
	if err != nil {
		t.Fatal(err)
	}
	if ci := info.CachedInfo(); ci.Config.DeliverPolicy != jetstream.DeliverByStartSequencePolicy || ci.NumAckPending != 0 {
		t.Fatalf("after the takeover: %v, %d pending", ci.Config.DeliverPolicy, ci.NumAckPending)
	}

	evs := makeEvents(102, "web-1")
	for i, takeover := range []bool{false, true} {
		again := consume(takeover)
		if _, err := c.PublishEvents(ctx, evs[100+i:101+i]); err != nil {
			t.Fatal(err)
		}
		ms = receive(1)
		if seqOf(ms[0]) != uint64(101+i) {
			t.Fatalf("restart (takeover %v) delivered %d, want %d", takeover, seqOf(ms[0]), 101+i)
		}
		_ = ms[0].Ack()
		again.Stop()
	}

	// A deleted consumer is created again and delivers the whole stream.
	if err := c.JS.DeleteConsumer(ctx, StreamObs, "mon"); err != nil {
		t.Fatal(err)
	}
	sub := consume(true)
	ms = receive(102)
	if seqOf(ms[0]) != 1 || seqOf(ms[101]) != 102 {
		t.Fatalf("the recreated consumer delivered %d..%d", seqOf(ms[0]), seqOf(ms[101]))
	}
	_ = ms[101].Ack()
	sub.Stop()

	// A stream deleted and recreated starts its sequence over.
	if err := c.JS.DeleteStream(ctx, StreamObs); err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureStreams(ctx, StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PublishEvents(ctx, makeEvents(5, "db-1")); err != nil {
		t.Fatal(err)
	}
	sub = consume(true)
	defer sub.Stop()
	ms = receive(5)
	if seqOf(ms[0]) != 1 || seqOf(ms[4]) != 5 {
		t.Fatalf("after the stream was recreated the consumer delivered %d..%d", seqOf(ms[0]), seqOf(ms[4]))
	}
	select {
	case m := <-got:
		t.Fatalf("unexpected message %d", seqOf(m))
	case <-time.After(200 * time.Millisecond):
	}
}
