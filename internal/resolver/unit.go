package resolver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/match"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/store"
)

// Audit is where the decision unit keeps its decisions (the store).
type Audit interface {
	PutResponse(ctx context.Context, r store.Response) error
	PutResponses(ctx context.Context, rs []store.Response) error
	UpdateResponse(ctx context.Context, id, status, reason string, outcome json.RawMessage, expires, undone time.Time) error
	GetResponse(ctx context.Context, id string) (store.Response, error)
	CountResponses(ctx context.Context, f store.ResponseFilter) (int, error)
	ActiveResponses(ctx context.Context) ([]store.Response, error)
}

var _ Audit = (*store.Store)(nil)

// Method is a configured response method as the decision unit uses it.
type Method struct {
	// Name is the instance's name in responses:, Kind its kind.
	Name, Kind string
	// Needs and Undoable are the kind's (action.Factory).
	Needs    []string
	Undoable bool
	Method   action.Method
}

// UnitOptions configure a decision unit.
type UnitOptions struct {
	// Monitor names the monitor (the source of response events).
	Monitor string
	// Config is the resource object's resolver section, loaded.
	Config config.Resolver
	// Methods are the configured methods, by instance name.
	Methods map[string]Method
	// Audit keeps the decisions; required.
	Audit Audit
	// Protected are addresses never acted on besides the configured ones:
	// the monitor's own addresses and its bus peers.
	Protected []netip.Prefix
	// ProtectedPIDs are processes never acted on besides pid 1 and this
	// process.
	ProtectedPIDs []int
	// Emit receives the response events (RESPONSE.ACTION,
	// RESPONSE.UNDO); nil: none are emitted.
	Emit   func(event.Event)
	Clock  clock.Clock
	IDs    event.IDSource
	Logger *slog.Logger
	// QueueSize bounds the reports waiting for Run (default 4096).
	QueueSize int
	// Decided, when set, is called by Run once each report it took from
	// the queue has been decided on, with the decisions made (none when
	// no policy decided): each is recorded by then, or waits in the batch
	// Flush writes. It runs on Run's goroutine, so it must return
	// quickly; benchmarks time a report's way through the unit with it.
	Decided func(rep event.Report, ds []Decision)
}

// Unit is a monitor's decision unit: it applies the response policies to
// every report, keeps what each policy counts, checks every decision
// against the safety rules, runs (or, in monitor mode and dry runs, only
// plans) the methods, records every decision with its reason, and undoes
// actions when they expire. Its methods are safe for concurrent use.
type Unit struct {
	o        UnitOptions
	log      *slog.Logger
	policies []*policy
	slots    match.Slots
	prot     []netip.Prefix
	protPIDs map[int]bool
	protName map[string]bool
	// untilGreen holds the policies whose actions end when their track
	// turns green.
	untilGreen map[string]bool

	mu      sync.Mutex
	ctx     match.Ctx
	active  map[string]*active // by key
	budgets map[string][]time.Time
	queue   chan event.Report
	dropped atomic.Uint64
	counts  map[string]*atomic.Uint64 // decisions by status
	// pending are suppressed and refused decisions waiting to be
	// recorded together (they never change): a flood is written in
	// batches, not a transaction a decision.
	pending []store.Response
	swept   time.Time // when the policies' memory was last swept
}

// maxPending is the most decisions recorded in one batch.
const maxPending = 512

// Statuses are the statuses a decision may have, in the order a person
// reads them.
var Statuses = []string{
	store.StatusPlanned, store.StatusDryRun, store.StatusDone, store.StatusFailed,
	store.StatusSuppressed, store.StatusRefused, store.StatusExpired, store.StatusUndone,
}

// Decisions is how many decisions reached status since the unit started
// (expired and undone count the decisions that ended so).
func (u *Unit) Decisions(status string) uint64 {
	if c, ok := u.counts[status]; ok {
		return c.Load()
	}
	return 0
}

// policy is a compiled policy with what it counts per subject.
type policy struct {
	cfg      config.Policy
	kind     string // subject kind
	attr     string // for addr:ATTR
	conds    []match.Cond
	counts   []int
	windows  map[string]*window // by subject key
	cooldown map[string]time.Time
}

// window holds, for one subject (or correlation key, with by), the times
// of the reports that met each criterion within the policy's window, and
// each criterion's latest reports (kept per criterion, so that a stream
// of reports meeting one criterion does not push out the one report that
// met another).
type window struct {
	times [][]time.Time
	kept  [][]seen
	last  time.Time
}

// reports are the window's kept reports within the policy's window,
// oldest first, each once.
func (w *window) reports(within time.Duration, now time.Time) []event.Report {
	var all []seen
	ids := map[string]bool{}
	for _, k := range w.kept {
		for _, r := range k {
			if within > 0 && now.Sub(r.at) > within {
				continue
			}
			if r.rep.ID != "" {
				if ids[r.rep.ID] {
					continue
				}
				ids[r.rep.ID] = true
			}
			all = append(all, r)
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].at.Before(all[j].at) })
	out := make([]event.Report, len(all))
	for i, r := range all {
		out[i] = r.rep
	}
	return out
}

// seen is a report and when the unit took it.
type seen struct {
	at  time.Time
	rep event.Report
}

// active is an action in force (executed), or one that would be (planned
// in monitor mode or a dry run: kept in memory only, so that monitor mode
// shows what enforcing would do).
type active struct {
	id       string
	method   string
	req      action.Request
	out      action.Outcome
	executed bool
	expires  time.Time
	// After an undo that failed: when to try again, and how long the
	// wait after the next failure is.
	retryAt time.Time
	backoff time.Duration
}

// Bounds of the decision unit's memory.
const (
	// maxSubjects is the most subjects one policy counts at once; beyond
	// it, those not seen for longest are forgotten.
	maxSubjects = 100_000
	// maxKept is the most triggering reports a decision carries.
	maxKept = 16
)

// NewUnit builds a decision unit. It does not load anything: Start does.
func NewUnit(o UnitOptions) (*Unit, error) {
	if o.Audit == nil {
		return nil, errors.New("resolver: a decision unit needs an audit store")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.IDs == nil {
		o.IDs = event.NewRandomIDs()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 4096
	}
	if o.Config.Mode == "" {
		o.Config.Mode = config.ModeMonitor
	}
	if o.Config.ActionTimeout <= 0 {
		o.Config.ActionTimeout = config.DefaultActionTimeout
	}
	if o.Config.DefaultBudget.Count <= 0 {
		o.Config.DefaultBudget = config.Budget{Count: config.DefaultBudgetCount, Per: config.DefaultBudgetPer}
	}
	u := &Unit{
		o:          o,
		log:        o.Logger.With("component", "resolver"),
		prot:       append(o.Config.Protect.ProtectedPrefixes(), o.Protected...),
		protPIDs:   map[int]bool{1: true, os.Getpid(): true},
		protName:   map[string]bool{},
		untilGreen: map[string]bool{},
		active:     map[string]*active{},
		budgets:    map[string][]time.Time{},
		queue:      make(chan event.Report, o.QueueSize),
		counts:     map[string]*atomic.Uint64{},
	}
	for _, st := range Statuses {
		u.counts[st] = new(atomic.Uint64)
	}
	for _, pid := range o.ProtectedPIDs {
		u.protPIDs[pid] = true
	}
	for _, n := range o.Config.Protect.Processes {
		u.protName[n] = true
	}
	for _, pc := range o.Config.Policies {
		if pc.Cond == nil {
			return nil, fmt.Errorf("resolver: policy %s: condition not compiled (load the resource object with config.Load)", pc.Name)
		}
		p := &policy{cfg: pc, windows: map[string]*window{}, cooldown: map[string]time.Time{}}
		p.kind, p.attr, _ = strings.Cut(pc.Subject, ":")
		p.conds = append(p.conds, pc.Cond)
		p.counts = append(p.counts, max(pc.Count, 1))
		for _, c := range pc.With {
			if c.Cond == nil {
				return nil, fmt.Errorf("resolver: policy %s: condition not compiled", pc.Name)
			}
			p.conds = append(p.conds, c.Cond)
			p.counts = append(p.counts, max(c.Count, 1))
		}
		for _, m := range pc.Methods {
			if _, ok := o.Methods[m]; !ok {
				return nil, fmt.Errorf("resolver: policy %s names method %q, which was not built", pc.Name, m)
			}
		}
		for _, c := range p.conds {
			u.slots.Assign(c)
		}
		u.policies = append(u.policies, p)
		if pc.UntilGreen {
			u.untilGreen[pc.Name] = true
		}
	}
	// Higher priority first; equal ones in the order written.
	sort.SliceStable(u.policies, func(i, j int) bool { return u.policies[i].cfg.Priority > u.policies[j].cfg.Priority })
	u.ctx = u.slots.NewCtx()
	return u, nil
}

// Dropped is how many reports Offer could not queue.
func (u *Unit) Dropped() uint64 { return u.dropped.Load() }

// Offer queues a report for Run without waiting; a full queue drops it
// and counts it (Dropped).
func (u *Unit) Offer(rep event.Report) {
	if len(u.policies) == 0 {
		return
	}
	select {
	case u.queue <- rep:
	default:
		if n := u.dropped.Add(1); n&(n-1) == 0 { // log at powers of two
			u.log.Warn("decision unit behind: report not decided on", "report", rep.ID, "dropped", n)
		}
	}
}

// Run decides on the reports Offer queues and expires actions on time,
// until ctx ends.
func (u *Unit) Run(ctx context.Context) error {
	tick := clock.NewTicker(u.o.Clock, time.Second)
	defer tick.Stop()
	defer func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		u.Flush(fctx)
		cancel()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case rep := <-u.queue:
			ds := u.Decide(ctx, rep)
			if u.o.Decided != nil {
				u.o.Decided(rep, ds)
			}
		case <-tick.C():
			u.ExpireDue(ctx)
		}
	}
}

// Start loads the decisions in force from the audit: those already past
// their expiry are undone now, the others are kept to expire on time, and
// each Reconciler method is handed its own.
func (u *Unit) Start(ctx context.Context) error {
	rows, err := u.o.Audit.ActiveResponses(ctx)
	if err != nil {
		return fmt.Errorf("resolver: load active decisions: %w", err)
	}
	u.mu.Lock()
	byMethod := map[string][]action.Active{}
	for _, r := range rows {
		a, err := activeFromRow(r)
		if err != nil {
			u.log.Error("active decision unreadable; left as it is", "decision", r.ID, "err", err)
			continue
		}
		m, ok := u.o.Methods[r.Method]
		if !ok {
			u.log.Warn("active decision of a method no longer configured; it cannot be undone here", "decision", r.ID, "method", r.Method)
			continue
		}
		if !m.Undoable && r.Expires.IsZero() {
			continue // a one-off action: nothing in force
		}
		u.active[a.req.Key] = a
		byMethod[r.Method] = append(byMethod[r.Method], action.Active{Request: a.req, Outcome: a.out})
	}
	u.mu.Unlock()
	u.log.Info("decision unit started", "policies", len(u.policies), "methods", len(u.o.Methods), "active", len(u.active), "mode", u.o.Config.Mode)
	names := make([]string, 0, len(u.o.Methods))
	for n := range u.o.Methods {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		rec, ok := u.o.Methods[n].Method.(action.Reconciler)
		if !ok {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, u.o.Config.ActionTimeout)
		what, err := rec.Reconcile(rctx, byMethod[n])
		cancel()
		if err != nil {
			u.log.Error("reconcile failed", "method", n, "err", err)
			continue
		}
		u.log.Info("reconciled", "method", n, "active", len(byMethod[n]), "changed", what)
	}
	u.ExpireDue(ctx)
	return nil
}

func activeFromRow(r store.Response) (*active, error) {
	a := &active{id: r.ID, method: r.Method, executed: true, expires: r.Expires}
	a.req = action.Request{ID: r.ID, Policy: r.Policy, Method: r.Method, Kind: r.Kind, Key: r.Key, Reason: r.Reason, Time: r.Time, Expires: r.Expires}
	if err := json.Unmarshal(r.Subject, &a.req.Subject); err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	if len(r.Outcome) > 0 {
		if err := json.Unmarshal(r.Outcome, &a.out); err != nil {
			return nil, fmt.Errorf("outcome: %w", err)
		}
	}
	return a, nil
}

// Close records the decisions still waiting to be and closes the methods
// that hold resources.
func (u *Unit) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	u.Flush(ctx)
	cancel()
	return closeMethods(u.o.Methods)
}

// Decision is what the unit decided for one method of one policy.
type Decision struct {
	ID     string
	Policy string
	Method string
	Key    string
	Status string
	Reason string
}

// Decide applies the policies to rep and carries out what they decide;
// it returns the decisions made (each recorded in the audit).
func (u *Unit) Decide(ctx context.Context, rep event.Report) []Decision {
	u.mu.Lock()
	defer u.mu.Unlock()
	now := u.o.Clock.Now()
	ev := rep.Event()
	u.ctx.Reset(&ev)
	if rep.Severity == event.SeverityGreen {
		u.greenLocked(ctx, &rep)
	}
	var out []Decision
	for _, p := range u.policies {
		var hit []bool
		for i, c := range p.conds {
			if c.Eval(&u.ctx) {
				if hit == nil {
					hit = make([]bool, len(p.conds))
				}
				hit[i] = true
			}
		}
		if hit == nil {
			continue
		}
		var subj action.Subject
		var skey string
		if p.cfg.By == "" {
			var err error
			if subj, skey, err = subjectOf(p.kind, p.attr, p.cfg.Unit, &rep); err != nil {
				u.log.Debug("report matches a policy but names no subject for it", "policy", p.cfg.Name, "report", rep.ID, "why", err)
				continue
			}
		} else if skey = correlation(p.cfg.By, &rep); skey == "" {
			u.log.Debug("report matches a policy but names nothing to correlate by", "policy", p.cfg.Name, "report", rep.ID, "by", p.cfg.By)
			continue
		}
		w := p.note(skey, hit, rep, now)
		if !p.met(w, now) {
			continue
		}
		if until, ok := p.cooldown[skey]; ok && now.Before(until) {
			u.log.Debug("policy cooling down", "policy", p.cfg.Name, "subject", skey, "until", until)
			continue
		}
		// The reports that triggered the decision: those in the window.
		reports := w.reports(p.cfg.Within, now)
		if len(reports) == 0 {
			reports = []event.Report{rep}
		}
		delete(p.windows, skey)
		if p.cfg.Cooldown > 0 {
			p.cooldown[skey] = now.Add(p.cfg.Cooldown)
		}
		if p.cfg.By == "" {
			why := p.why(subj, reports)
			for _, mname := range p.cfg.Methods {
				out = append(out, u.decide(ctx, p, u.o.Methods[mname], subj, skey, reports, why, now, false))
			}
			continue
		}
		// Correlated: each subject the reports name, newest first.
		subjects, keys := p.subjectsIn(reports)
		if len(subjects) == 0 {
			u.log.Info("policy criteria met, but no report in the window names its subject", "policy", p.cfg.Name, p.cfg.By, skey, "subject", p.cfg.Subject)
			continue
		}
		for i, subj := range subjects {
			why := p.why(subj, reports)
			for _, mname := range p.cfg.Methods {
				out = append(out, u.decide(ctx, p, u.o.Methods[mname], subj, keys[i], reports, why, now, false))
			}
		}
	}
	return out
}

// correlation is the key a report is counted under for a policy with by:
// what the report is about ("" when it names nothing).
func correlation(by string, rep *event.Report) string {
	switch by {
	case "ip":
		if rep.IP != "" {
			return "ip=" + rep.IP
		}
	case "host":
		if rep.Host != "" {
			return "host=" + rep.Host
		}
	}
	return ""
}

// subjectsIn takes the policy's subjects from the reports, newest first,
// each once, at most maxKept of them.
func (p *policy) subjectsIn(reports []event.Report) ([]action.Subject, []string) {
	var subjects []action.Subject
	var keys []string
	seen := map[string]bool{}
	for i := len(reports) - 1; i >= 0 && len(subjects) < maxKept; i-- {
		subj, key, err := subjectOf(p.kind, p.attr, p.cfg.Unit, &reports[i])
		if err != nil || seen[key] {
			continue
		}
		seen[key] = true
		subjects, keys = append(subjects, subj), append(keys, key)
	}
	return subjects, keys
}

// note counts rep for the subject, forgetting what fell out of the
// window.
func (p *policy) note(skey string, hit []bool, rep event.Report, now time.Time) *window {
	w := p.windows[skey]
	if w == nil {
		if len(p.windows) >= maxSubjects {
			p.forget(now)
		}
		w = &window{times: make([][]time.Time, len(p.conds)), kept: make([][]seen, len(p.conds))}
		p.windows[skey] = w
	}
	for i, h := range hit {
		if h {
			w.times[i] = append(w.times[i], now)
			w.kept[i] = append(w.kept[i], seen{now, rep})
			if len(w.kept[i]) > maxKept {
				w.kept[i] = w.kept[i][len(w.kept[i])-maxKept:]
			}
		}
	}
	w.last = now
	return w
}

// sweep forgets the subjects whose window has passed and the cooldowns
// that are over.
func (p *policy) sweep(now time.Time) {
	for k, w := range p.windows {
		if p.cfg.Within == 0 || now.Sub(w.last) > p.cfg.Within {
			delete(p.windows, k)
		}
	}
	for k, until := range p.cooldown {
		if !now.Before(until) {
			delete(p.cooldown, k)
		}
	}
}

// forget drops the subjects with nothing in the window, then, if that is
// not enough, the least recently seen half.
func (p *policy) forget(now time.Time) {
	for k, w := range p.windows {
		if p.cfg.Within == 0 || now.Sub(w.last) > p.cfg.Within {
			delete(p.windows, k)
		}
	}
	if len(p.windows) < maxSubjects {
		return
	}
	lasts := make([]time.Time, 0, len(p.windows))
	for _, w := range p.windows {
		lasts = append(lasts, w.last)
	}
	sort.Slice(lasts, func(i, j int) bool { return lasts[i].Before(lasts[j]) })
	cut := lasts[len(lasts)/2]
	for k, w := range p.windows {
		if !w.last.After(cut) {
			delete(p.windows, k)
		}
	}
}

// met tells whether every criterion has its count within the window.
func (p *policy) met(w *window, now time.Time) bool {
	ok := true
	for i := range w.times {
		if p.cfg.Within > 0 {
			ts := w.times[i]
			k := 0
			for k < len(ts) && now.Sub(ts[k]) > p.cfg.Within {
				k++
			}
			w.times[i] = ts[k:]
		}
		if len(w.times[i]) < p.counts[i] {
			ok = false
		}
	}
	if p.cfg.Within == 0 {
		// Without a window only the report at hand counts.
		for i := range w.times {
			w.times[i] = w.times[i][:0]
		}
	}
	return ok
}

// why says in one line why the policy decided.
func (p *policy) why(subj action.Subject, reports []event.Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "policy %s: ", p.cfg.Name)
	if p.cfg.Count > 1 || len(p.cfg.With) > 0 {
		fmt.Fprintf(&b, "%d matching reports", p.cfg.Count)
		if len(p.cfg.With) > 0 {
			fmt.Fprintf(&b, " and %d further criteria met", len(p.cfg.With))
		}
		fmt.Fprintf(&b, " within %v", p.cfg.Within)
	} else {
		b.WriteString("a matching report")
	}
	if n := len(reports); p.cfg.By != "" && n > 0 {
		corr, _ := strings.CutPrefix(correlation(p.cfg.By, &reports[n-1]), p.cfg.By+"=")
		fmt.Fprintf(&b, " about the same %s %s; acting on %s, which they name", p.cfg.By, corr, describe(subj))
	} else {
		fmt.Fprintf(&b, " about %s", describe(subj))
	}
	if n := len(reports); n > 0 {
		last := reports[n-1]
		fmt.Fprintf(&b, "; latest %s from %s: %s %.2f %s", last.ID, last.Engine, last.Severity, last.Score, strconv.Quote(last.Explanation))
	}
	return b.String()
}

// decide makes one decision: one method of one policy on one subject.
func (u *Unit) decide(ctx context.Context, p *policy, m Method, subj action.Subject, skey string, reports []event.Report, why string, now time.Time, manual bool) Decision {
	key := m.Name + "|" + skey
	mode := p.cfg.EffectiveMode(u.o.Config.Mode)
	enforce := mode == config.ModeEnforce && !p.cfg.DryRun
	req := action.Request{
		ID: u.o.IDs.NewID(now), Policy: p.cfg.Name, Method: m.Name, Kind: m.Kind, Key: key,
		Subject: subj, Reports: reports, Reason: why, Time: now,
	}
	row := store.Response{ID: req.ID, Time: now, Mode: mode, Policy: p.cfg.Name, Method: m.Name, Kind: m.Kind, Key: key}
	for _, r := range reports {
		row.Reports = append(row.Reports, r.ID)
	}
	if sj, err := json.Marshal(subj); err == nil {
		row.Subject = sj
	}
	finish := func(status, reason string) Decision {
		row.Status, row.Reason = status, reason
		u.counts[status].Add(1)
		if status == store.StatusSuppressed || status == store.StatusRefused {
			u.pending = append(u.pending, row)
			if len(u.pending) >= maxPending {
				u.flushLocked(ctx)
			}
		} else if err := u.o.Audit.PutResponse(ctx, row); err != nil {
			u.log.Error("decision not recorded", "decision", row.ID, "err", err)
		}
		lvl := slog.LevelInfo
		if status == store.StatusRefused || status == store.StatusFailed {
			lvl = slog.LevelWarn
		}
		if status != store.StatusSuppressed || u.log.Enabled(ctx, slog.LevelDebug) {
			u.log.Log(ctx, lvl, "decision", "decision", row.ID, "status", status, "policy", p.cfg.Name, "method", m.Name, "key", key, "reason", reason)
		}
		return Decision{ID: row.ID, Policy: p.cfg.Name, Method: m.Name, Key: key, Status: status, Reason: reason}
	}
	// Safety first: what is protected is never acted on.
	if len(m.Needs) > 0 {
		if why := u.protected(subj, reports); why != "" {
			return finish(store.StatusRefused, "refused: "+why+"; "+req.Reason)
		}
	}
	if !manual && needs(m, "addr") && (subj.Addr.IsValid() || subj.Prefix.IsValid()) {
		if why := spoofable(subj, reports); why != "" {
			return finish(store.StatusRefused, "refused: "+why+"; "+req.Reason)
		}
	}
	// Idempotence: what is in force acts once. An executed action stays
	// in force until its method has undone it (an undo that failed is
	// tried again); a planned one while its time lasts.
	if a, ok := u.active[key]; ok && (a.executed || a.expires.IsZero() || now.Before(a.expires)) {
		until := untilText(a.expires)
		if a.executed && !a.expires.IsZero() && !now.Before(a.expires) {
			until = " (expired, its undo pending)"
		}
		return finish(store.StatusSuppressed, fmt.Sprintf("suppressed: decision %s on the same %s is in force%s; %s", a.id, skey, until, req.Reason))
	}
	// The method's rate budget.
	b := u.o.Config.DefaultBudget
	if mb, ok := u.o.Config.Budgets[m.Name]; ok {
		b = mb
	}
	spent := u.budgets[m.Name]
	k := 0
	for k < len(spent) && now.Sub(spent[k]) >= b.Per {
		k++
	}
	spent = spent[k:]
	if len(spent) >= b.Count && !manual {
		u.budgets[m.Name] = spent
		return finish(store.StatusSuppressed, fmt.Sprintf("suppressed: method %s spent its budget of %d actions per %v; %s", m.Name, b.Count, b.Per, req.Reason))
	}
	dur, step := u.duration(ctx, p, key, enforce)
	if dur > 0 {
		req.Expires = now.Add(dur)
	}
	// An action stays in force (to expire, be undone, and act once while
	// it lasts) when its method can undo it or it has a duration; the
	// others (a notification, a restart) are one-off.
	inForce := m.Undoable || dur > 0
	detail, err := m.Method.Plan(req)
	if err != nil {
		return finish(store.StatusRefused, "refused by the method: "+err.Error()+"; "+req.Reason)
	}
	u.budgets[m.Name] = append(spent, now)
	row.Expires = req.Expires
	if step > 0 {
		req.Reason += fmt.Sprintf("; repeat offender: step %d of the escalation, %v", step+1, dur)
	}
	a := &active{id: req.ID, method: m.Name, req: req, expires: req.Expires}
	if !enforce {
		status, what := store.StatusPlanned, "monitor mode: would "
		if p.cfg.DryRun {
			status, what = store.StatusDryRun, "dry run: would "
		}
		if inForce {
			u.active[key] = a
		}
		d := finish(status, what+detail+"; "+req.Reason)
		if p.cfg.DryRun {
			u.emit(event.TypeResponseAction, &req, status, detail)
		}
		return d
	}
	ectx, cancel := context.WithTimeout(ctx, u.o.Config.ActionTimeout)
	out, err := m.Method.Execute(ectx, req)
	cancel()
	if errors.Is(err, action.ErrRefused) {
		return finish(store.StatusRefused, "refused: "+err.Error()+"; "+req.Reason)
	}
	if err != nil {
		d := finish(store.StatusFailed, "failed: "+err.Error()+"; "+req.Reason)
		// A failure is an observation too: a probe that found the
		// page changed, a process that could not be stopped.
		u.emit(event.TypeResponseAction, &req, store.StatusFailed, err.Error())
		return d
	}
	if !out.Expires.IsZero() && (req.Expires.IsZero() || out.Expires.Before(req.Expires)) {
		a.expires = out.Expires
		row.Expires = out.Expires
	}
	a.out, a.executed = out, true
	a.req.Expires = a.expires
	if oj, err := json.Marshal(out); err == nil {
		row.Outcome = oj
	}
	if inForce {
		u.active[key] = a
	}
	d := finish(store.StatusDone, out.Detail+"; "+req.Reason)
	u.emit(event.TypeResponseAction, &req, store.StatusDone, out.Detail)
	return d
}

func untilText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " until " + t.UTC().Format(time.RFC3339)
}

func needs(m Method, part string) bool {
	for _, n := range m.Needs {
		if n == part {
			return true
		}
	}
	return false
}

// duration is how long a decision's action lasts: the policy's duration,
// or its escalation's step for the number of earlier decisions on the
// same key (those that acted, when enforcing; those planned, otherwise).
func (u *Unit) duration(ctx context.Context, p *policy, key string, enforce bool) (time.Duration, int) {
	if len(p.cfg.Escalate) == 0 {
		return p.cfg.Duration, 0
	}
	statuses := []string{store.StatusDone, store.StatusExpired}
	if !enforce {
		statuses = []string{store.StatusPlanned, store.StatusDryRun}
	}
	n, err := u.o.Audit.CountResponses(ctx, store.ResponseFilter{Key: key, Statuses: statuses})
	if err != nil {
		u.log.Warn("earlier decisions not counted; escalation starts over", "key", key, "err", err)
		n = 0
	}
	step := min(n, len(p.cfg.Escalate)-1)
	return p.cfg.Escalate[step], step
}

// greenLocked undoes the actions in force of until_green policies whose
// track rep, a green report, continues: one of the reports that triggered
// them came from the same monitor, engine and model about the same host.
func (u *Unit) greenLocked(ctx context.Context, rep *event.Report) {
	for key, a := range u.active {
		if !a.executed || !u.untilGreen[a.req.Policy] || !sameTrack(a.req.Reports, rep) {
			continue
		}
		_, about, _ := strings.Cut(trackOf(rep), "=")
		why := fmt.Sprintf("the track turned green (report %s: %s %s on %s)", rep.ID, rep.Engine, rep.Model, about)
		if err := u.undo(ctx, a, store.StatusUndone, why); err != nil {
			u.log.Error("action not undone when its track turned green; it expires as set", "decision", a.id, "err", err)
			continue
		}
		delete(u.active, key)
	}
}

// trackOf is what a track's reports are about: the address of a track
// keyed by one (its reports may name the host too, once its observations
// did), else the host.
func trackOf(r *event.Report) string {
	if r.IP != "" {
		return "ip=" + r.IP
	}
	if r.Host != "" {
		return "host=" + r.Host
	}
	return ""
}

// sameTrack says whether rep continues the track of one of reports: the
// same monitor, engine and model about the same address (a track keyed by
// one), or the same host.
func sameTrack(reports []event.Report, rep *event.Report) bool {
	for i := range reports {
		r := &reports[i]
		if r.Monitor == rep.Monitor && r.Engine == rep.Engine && r.Model == rep.Model && trackOf(r) == trackOf(rep) && trackOf(r) != "" {
			return true
		}
	}
	return false
}
