package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// consumerAction is what reconciling a durable consumer does.
type consumerAction int

const (
	// consumerCreate: no consumer of the name exists; one is created.
	consumerCreate consumerAction = iota
	// consumerReuse: the existing consumer is kept (its position and its
	// start policy) and only its updatable settings are brought up to date.
	consumerReuse
	// consumerRecreate: the existing consumer is deleted and a new one
	// created from the plan's start position.
	consumerRecreate
)

func (a consumerAction) String() string {
	switch a {
	case consumerCreate:
		return "create"
	case consumerReuse:
		return "reuse"
	default:
		return "recreate"
	}
}

// consumerPlan is the decision of planConsumer.
type consumerPlan struct {
	Action consumerAction
	// Config is the configuration to create or update the consumer with.
	Config jetstream.ConsumerConfig
	// Why says in words what led to the decision (logged).
	Why string
}

// planConsumer decides how a durable consumer is brought to the wanted
// configuration at start, whatever state an earlier run (or its crash)
// left. It is the one place that decides; ConsumeDurable carries it out.
//
// want is the wanted configuration; its start fields (DeliverPolicy,
// OptStartSeq, OptStartTime) are ignored, because a start position only
// matters when a consumer is created. si is the consumer's stream now;
// have is the existing consumer, nil when there is none; takeover says the
// caller is the consumer's only user and any earlier one is gone; relink
// says the caller gave up on its own earlier run of the consumer because
// the link to the consumer's server failed; resume,
// when not nil, is where the caller (its store) already has every message
// up to. The rules, in order:
//
//  1. No consumer (never created, deleted by hand, or gone with its stream
//     when the stream was deleted and recreated): create it. When resume
//     is in this very stream (same creation time) and not past its end,
//     delivery starts right after it; otherwise the whole stream is
//     delivered, and the messages the store already holds are recognised
//     by their event id and stored once.
//  2. The consumer is ahead of its stream (its delivered or acknowledged
//     sequence is past the stream's last one: the stream went back, e.g.
//     restored or recreated under an unchanged consumer): recreate it
//     delivering the whole stream, for the same reason.
//  3. The consumer cannot be updated into the wanted one (a different
//     acknowledgement or replay policy, a push consumer): recreate it
//     from the message after its acknowledgement floor.
//  4. takeover and the consumer has unacknowledged messages (the earlier
//     user was killed): recreate it from the message after its
//     acknowledgement floor, so they are delivered again at once instead
//     of after the acknowledgement timeout.
//  5. relink: recreate it from the message after its acknowledgement
//     floor, even with nothing unacknowledged now. Pull requests of the
//     run given up on may still be on their way to the consumer's server
//     (held by a link that stalled), or waiting there: kept, the consumer
//     would deliver later messages to them, for nobody. Deleting it drops
//     them, and the requests still on their way reach it before the
//     deletion does (one link, in order).
//  6. Otherwise reuse it: its start policy is kept as it is (a start
//     policy cannot be changed, and once created a consumer resumes from
//     its own position, not from its start), its other settings updated.
//
// A start position before the stream's first message (the messages aged
// out) starts at the first one. Nothing acknowledged is delivered again
// except under rules 1 and 2, where the store's de-duplication by event id
// keeps it from being doubled; nothing unacknowledged is skipped.
func planConsumer(want jetstream.ConsumerConfig, si *jetstream.StreamInfo, have *jetstream.ConsumerInfo, takeover, relink bool, resume *Position) consumerPlan {
	st := si.State
	cfg := want
	cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	cfg.OptStartSeq = 0
	cfg.OptStartTime = nil
	if have == nil {
		if resume == nil || resume.Seq == 0 {
			return consumerPlan{Action: consumerCreate, Config: cfg, Why: "no consumer"}
		}
		if !resume.Created.Equal(si.Created) || resume.Seq > st.LastSeq {
			return consumerPlan{Action: consumerCreate, Config: cfg,
				Why: fmt.Sprintf("no consumer; the store's position (sequence %d of the stream created %s) is not in this stream (created %s, last sequence %d)",
					resume.Seq, resume.Created.UTC().Format(time.RFC3339Nano), si.Created.UTC().Format(time.RFC3339Nano), st.LastSeq)}
		}
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = max(resume.Seq+1, st.FirstSeq)
		return consumerPlan{Action: consumerCreate, Config: cfg, Why: fmt.Sprintf("no consumer; the store has the stream up to sequence %d", resume.Seq)}
	}
	if have.Delivered.Stream > st.LastSeq || have.AckFloor.Stream > st.LastSeq {
		return consumerPlan{Action: consumerRecreate, Config: cfg,
			Why: fmt.Sprintf("consumer at stream sequence %d is past the stream's last %d: the stream went back", max(have.Delivered.Stream, have.AckFloor.Stream), st.LastSeq)}
	}
	from := func(why string) consumerPlan {
		next := have.AckFloor.Stream + 1
		if next < st.FirstSeq {
			next = st.FirstSeq
		}
		if next > 1 {
			cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
			cfg.OptStartSeq = next
		}
		return consumerPlan{Action: consumerRecreate, Config: cfg, Why: why}
	}
	hc := have.Config
	switch {
	case hc.AckPolicy != want.AckPolicy:
		return from(fmt.Sprintf("ack policy %v, want %v", hc.AckPolicy, want.AckPolicy))
	case hc.ReplayPolicy != want.ReplayPolicy:
		return from(fmt.Sprintf("replay policy %v, want %v", hc.ReplayPolicy, want.ReplayPolicy))
	case hc.DeliverSubject != "":
		return from("a push consumer, want a pull consumer")
	case takeover && have.NumAckPending > 0:
		return from(fmt.Sprintf("%d messages left unacknowledged", have.NumAckPending))
	case relink:
		return from("resuming after the link to its server failed: requests of the run given up on may still reach it")
	}
	cfg.DeliverPolicy = hc.DeliverPolicy
	cfg.OptStartSeq = hc.OptStartSeq
	cfg.OptStartTime = hc.OptStartTime
	return consumerPlan{Action: consumerReuse, Config: cfg, Why: "compatible"}
}

// reconcileConsumer brings the durable consumer cc.Durable on stream to
// cc as planConsumer decides, and returns it with its stream's creation
// time.
func (c *Conn) reconcileConsumer(ctx context.Context, js jetstream.JetStream, stream string, cc jetstream.ConsumerConfig, takeover, relink bool, resume func(string) (Position, bool)) (jetstream.Consumer, time.Time, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("bus: stream %s: %w", stream, err)
	}
	var have *jetstream.ConsumerInfo
	existing, err := s.Consumer(ctx, cc.Durable)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
	case err != nil:
		return nil, time.Time{}, fmt.Errorf("bus: looking up consumer %s on %s: %w", cc.Durable, stream, err)
	default:
		have = existing.CachedInfo()
	}
	// The stream's state is read after the consumer's: a message stored
	// and delivered in between would otherwise put the consumer past the
	// stream's last message, as if the stream had gone back.
	si, err := s.Info(ctx)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("bus: stream %s: %w", stream, err)
	}
	var pos *Position
	if have == nil && resume != nil {
		if p, ok := resume(stream); ok {
			pos = &p
		}
	}
	p := planConsumer(cc, si, have, takeover, relink, pos)
	switch p.Action {
	case consumerRecreate:
		if err := s.DeleteConsumer(ctx, cc.Durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, time.Time{}, fmt.Errorf("bus: deleting consumer %s on %s to recreate it (%s): %w", cc.Durable, stream, p.Why, err)
		}
		c.log.Info("recreating durable consumer", "stream", stream, "consumer", cc.Durable, "why", p.Why,
			"deliver", p.Config.DeliverPolicy.String(), "from_seq", p.Config.OptStartSeq)
	case consumerCreate:
		c.log.Info("creating durable consumer", "stream", stream, "consumer", cc.Durable, "why", p.Why,
			"deliver", p.Config.DeliverPolicy.String(), "from_seq", p.Config.OptStartSeq)
	}
	cons, err := s.CreateOrUpdateConsumer(ctx, p.Config)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("bus: durable consumer %s on %s (%s: %s): %w", cc.Durable, stream, p.Action, p.Why, err)
	}
	return cons, si.Created, nil
}
