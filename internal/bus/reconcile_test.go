package bus

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestPlanConsumer(t *testing.T) {
	want := jetstream.ConsumerConfig{Durable: "m_obs", AckPolicy: jetstream.AckAllPolicy, AckWait: 30 * time.Second, MaxAckPending: 100, FilterSubject: AllObs}
	created := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	si := func(first, last uint64) *jetstream.StreamInfo {
		return &jetstream.StreamInfo{Created: created, State: jetstream.StreamState{FirstSeq: first, LastSeq: last}}
	}
	st := si(1, 1000)
	at := func(c time.Time, seq uint64) *Position { return &Position{Stream: StreamObs, Created: c, Seq: seq} }
	cons := func(f func(*jetstream.ConsumerInfo)) *jetstream.ConsumerInfo {
		ci := &jetstream.ConsumerInfo{Config: want}
		ci.Config.AckWait = 5 * time.Second
		ci.Delivered.Stream, ci.AckFloor.Stream = 800, 600
		f(ci)
		return ci
	}
	for _, tc := range []struct {
		name     string
		st       *jetstream.StreamInfo
		have     *jetstream.ConsumerInfo
		takeover bool
		resume   *Position
		action   consumerAction
		policy   jetstream.DeliverPolicy
		from     uint64
	}{
		{"none", st, nil, true, nil, consumerCreate, jetstream.DeliverAllPolicy, 0},
		{"none, store checkpoint", st, nil, true, at(created, 700), consumerCreate, jetstream.DeliverByStartSequencePolicy, 701},
		{"none, store has it all", st, nil, true, at(created, 1000), consumerCreate, jetstream.DeliverByStartSequencePolicy, 1001},
		{"none, checkpoint aged out", si(800, 1000), nil, true, at(created, 700), consumerCreate, jetstream.DeliverByStartSequencePolicy, 800},
		{"none, checkpoint of another stream", st, nil, true, at(created.Add(-time.Hour), 700), consumerCreate, jetstream.DeliverAllPolicy, 0},
		{"none, checkpoint past the end", si(1, 500), nil, true, at(created, 700), consumerCreate, jetstream.DeliverAllPolicy, 0},
		{"existing consumer wins over checkpoint", st, cons(func(*jetstream.ConsumerInfo) {}), true, at(created, 10), consumerReuse, jetstream.DeliverAllPolicy, 0},
		{"deliver all, nothing pending", st, cons(func(*jetstream.ConsumerInfo) {}), true, nil, consumerReuse, jetstream.DeliverAllPolicy, 0},
		{"start sequence kept", st, cons(func(ci *jetstream.ConsumerInfo) {
			ci.Config.DeliverPolicy, ci.Config.OptStartSeq = jetstream.DeliverByStartSequencePolicy, 201
		}), true, nil, consumerReuse, jetstream.DeliverByStartSequencePolicy, 201},
		{"pending, takeover", st, cons(func(ci *jetstream.ConsumerInfo) { ci.NumAckPending = 200 }), true, nil, consumerRecreate, jetstream.DeliverByStartSequencePolicy, 601},
		{"pending, shared", st, cons(func(ci *jetstream.ConsumerInfo) { ci.NumAckPending = 200 }), false, nil, consumerReuse, jetstream.DeliverAllPolicy, 0},
		{"pending, nothing acknowledged", st, cons(func(ci *jetstream.ConsumerInfo) { ci.NumAckPending, ci.AckFloor.Stream = 800, 0 }), true, nil, consumerRecreate, jetstream.DeliverAllPolicy, 0},
		{"floor aged out", si(700, 1000), cons(func(ci *jetstream.ConsumerInfo) { ci.NumAckPending = 200 }), true, nil, consumerRecreate, jetstream.DeliverByStartSequencePolicy, 700},
		{"stream went back", si(1, 300), cons(func(*jetstream.ConsumerInfo) {}), true, nil, consumerRecreate, jetstream.DeliverAllPolicy, 0},
		{"empty recreated stream", si(0, 0), cons(func(*jetstream.ConsumerInfo) {}), false, nil, consumerRecreate, jetstream.DeliverAllPolicy, 0},
		{"ack policy", st, cons(func(ci *jetstream.ConsumerInfo) { ci.Config.AckPolicy = jetstream.AckExplicitPolicy }), false, nil, consumerRecreate, jetstream.DeliverByStartSequencePolicy, 601},
		{"push consumer", st, cons(func(ci *jetstream.ConsumerInfo) { ci.Config.DeliverSubject = "x" }), false, nil, consumerRecreate, jetstream.DeliverByStartSequencePolicy, 601},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := planConsumer(want, tc.st, tc.have, tc.takeover, false, tc.resume)
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

// After its link failed, a consumer in another domain is recreated from
// its acknowledgement floor even with nothing unacknowledged: pull
// requests of the run given up on, held by the link, would otherwise take
// later messages for nobody.
func TestPlanConsumerAfterTheLinkFailed(t *testing.T) {
	want := jetstream.ConsumerConfig{Durable: "ent_sub_dom1", AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: ReportSubject("dom1")}
	st := &jetstream.StreamInfo{State: jetstream.StreamState{FirstSeq: 1, LastSeq: 50}}
	have := &jetstream.ConsumerInfo{Config: want}
	have.Delivered.Stream, have.AckFloor.Stream = 40, 40
	p := planConsumer(want, st, have, true, true, nil)
	if p.Action != consumerRecreate || p.Config.DeliverPolicy != jetstream.DeliverByStartSequencePolicy || p.Config.OptStartSeq != 41 {
		t.Fatalf("plan %v %v from %d (%s), want recreate from 41", p.Action, p.Config.DeliverPolicy, p.Config.OptStartSeq, p.Why)
	}
	if p := planConsumer(want, st, have, true, false, nil); p.Action != consumerReuse {
		t.Fatalf("at a start, plan %v (%s), want reuse", p.Action, p.Why)
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
	// An acknowledgement is a publish the consumer takes in its own time:
	// a consumer stopped right after it, and set up again, could find it
	// not yet taken and deliver the message again (at least once), which
	// is not what these steps are about.
	ack := func(m *Msg) {
		t.Helper()
		if err := m.Ack(); err != nil {
			t.Fatal(err)
		}
		seq := seqOf(m)
		deadline := time.Now().Add(5 * time.Second)
		for {
			info, err := c.JS.Consumer(ctx, StreamObs, "mon")
			if err == nil && info.CachedInfo().AckFloor.Stream >= seq {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("acknowledgement of sequence %d not taken: %v", seq, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	first := consume(false)
	ms := receive(100)
	ack(ms[39]) // 1..40 acknowledged, 41..100 pending
	first.Stop()

	second := consume(true)
	ms = receive(60)
	if seqOf(ms[0]) != 41 {
		t.Fatalf("takeover resumed at %d, want 41", seqOf(ms[0]))
	}
	stream, err := c.JS.Stream(ctx, StreamObs)
	if err != nil {
		t.Fatal(err)
	}
	if pos, ok := ms[0].Position(); !ok || pos.Seq != 41 || pos.Stream != StreamObs || !pos.Created.Equal(stream.CachedInfo().Created) {
		t.Errorf("position of the message of sequence 41: %+v %v", pos, ok)
	}
	ack(ms[59])
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
		ack(ms[0])
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
