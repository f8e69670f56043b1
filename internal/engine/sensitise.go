package engine

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/vigil-ids/vigil/internal/controlmsg"
)

// Change is a temporary configuration change a monitor's control requests
// ask of an engine (seed 002 section 3.5: the resolver's runtime
// configuration requests, "to increase or decrease the scope of
// analyses"), as internal/controlmsg carries it.
type Change struct {
	// ID identifies the change (the request's id): applying a change with
	// the ID of one in force replaces it; Desensitise names it.
	ID string
	// By is the monitor that asked, for the engine's log.
	By string
	// Action is one of controlmsg's actions (controlmsg.ActionEnableGroup,
	// controlmsg.ActionLowerThreshold); Params its checked parameters.
	Action string
	Params map[string]string
	// Until is when the change ends by itself, on the monitor's clock.
	Until time.Time
}

// Sensitiser is an engine whose analysis can be made more sensitive for a
// while: a signature engine turns on a group of standby rules, a profile
// engine lowers one subject's alarm threshold.
//
// The contract:
//   - The monitor calls Sensitise and Desensitise like Handle and Tick:
//     from one goroutine at a time, never while the engine works.
//   - Sensitise applies c as of now and returns one line saying what it
//     changed; or an error, its message the reason for a person, when it
//     refuses (an action it does not take, a group or subject it does
//     not know, c.Until not after now), having changed nothing.
//   - Each change ends by itself: the engine undoes it on the first Tick
//     whose time is at or past c.Until (the monitor ticks at least once a
//     second on its own clock, so a change lasts at most a second past
//     its time), and logs that it ended. Several changes in force add up
//     (two groups on, the lowest factor of a subject); ending one leaves
//     the others.
//   - Desensitise ends change id at once and says what it undid; ok is
//     false when no change of that id is in force (ended already, never
//     applied), which is not an error.
//   - Changes live in memory only: a restarted engine starts without them.
type Sensitiser interface {
	Sensitise(c Change, now time.Time) (string, error)
	Desensitise(id string, now time.Time) (detail string, ok bool)
}

// LowerThreshold reads a change that lowers a subject's threshold
// (controlmsg.ActionLowerThreshold): its subject, its class ("": every
// class) and its factor. An engine of kind takes no other action.
func LowerThreshold(c Change, kind string) (subject, class string, factor float64, err error) {
	if c.Action != controlmsg.ActionLowerThreshold {
		return "", "", 0, fmt.Errorf("a %s engine takes %q, not %q", kind, controlmsg.ActionLowerThreshold, c.Action)
	}
	factor, err = controlmsg.Factor(c.Params["factor"])
	if err != nil {
		return "", "", 0, err
	}
	return c.Params["subject"], c.Params["class"], factor, nil
}

// CheckUntil refuses a change that would end at or before now.
func CheckUntil(c Change, now time.Time) error {
	if !c.Until.After(now) {
		return fmt.Errorf("the change would end at %s, not after now (%s)", c.Until.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// Grant is a lowered threshold in force: Subject's, in each of Classes,
// multiplied by Factor (below 1) until Until, at By's request.
type Grant struct {
	Subject string
	Classes []string
	Factor  float64
	By      string
	Until   time.Time
}

// Grants are the lowered thresholds an engine holds, by the id of the
// request that asked: several in force add up, the lowest factor of a
// class and subject holding. Like the engine, they are used from one
// goroutine at a time.
type Grants struct {
	engine string
	noun   string // what the engine calls a subject ("host", "subject")
	log    *slog.Logger
	byID   map[string]Grant
	// lowered: class NUL subject -> the lowest factor in force.
	lowered map[string]float64
}

// NewGrants holds the lowered thresholds of the engine named engine,
// whose subjects are noun ("host", "subject") in its log and replies.
func NewGrants(engine, noun string, log *slog.Logger) *Grants {
	return &Grants{engine: engine, noun: noun, log: log}
}

// Put applies g as request id, replacing the request of that id.
func (gs *Grants) Put(id string, g Grant) {
	if gs.byID == nil {
		gs.byID = map[string]Grant{}
	}
	gs.byID[id] = g
	gs.apply()
}

// End ends request id at once (Sensitiser.Desensitise) and says what it
// undid; ok is false when none of that id is in force.
func (gs *Grants) End(id string) (detail string, ok bool) {
	g, ok := gs.byID[id]
	if !ok {
		return "", false
	}
	delete(gs.byID, id)
	gs.apply()
	gs.log.Info(gs.noun+" threshold request reverted", "engine", gs.engine, "request", id, gs.noun, g.Subject)
	return fmt.Sprintf("ended request %s: %s %q back to its own threshold unless another request holds it", id, gs.noun, g.Subject), true
}

// Expire ends the requests whose time is up at now.
func (gs *Grants) Expire(now time.Time) {
	ended := false
	for id, g := range gs.byID {
		if !g.Until.After(now) {
			delete(gs.byID, id)
			ended = true
			gs.log.Info(gs.noun+" threshold request expired", "engine", gs.engine, "request", id, "by", g.By, gs.noun, g.Subject, "until", g.Until)
		}
	}
	if ended {
		gs.apply()
	}
}

// Factor is the factor of class and subject's threshold: the lowest in
// force, 1 when none.
func (gs *Grants) Factor(class, subject string) float64 {
	if f, ok := gs.lowered[class+"\x00"+subject]; ok {
		return f
	}
	return 1
}

// apply computes each class and subject's factor from the requests in
// force.
func (gs *Grants) apply() {
	gs.lowered = nil
	for _, g := range gs.byID {
		if gs.lowered == nil {
			gs.lowered = map[string]float64{}
		}
		for _, c := range g.Classes {
			k := c + "\x00" + g.Subject
			if f, ok := gs.lowered[k]; !ok || g.Factor < f {
				gs.lowered[k] = g.Factor
			}
		}
	}
}
