package engine

import "time"

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
