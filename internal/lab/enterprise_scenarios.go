package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// EnterpriseResult is the outcome of vigil lab enterprise: each scenario
// with its checks and timings.
type EnterpriseResult struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Passed: every scenario passed.
	Passed    bool              `json:"passed"`
	Scenarios []*ScenarioResult `json:"scenarios"`
	// Reports counts each monitor's own reports at the end.
	Reports map[string]int `json:"reports"`
	// Received counts the domains' reports the enterprise holds, by
	// domain.
	Received map[string]int `json:"received"`
	// Missing names the parts of the hierarchy this build lacks, as the
	// lab found them: no domain report crossed to the enterprise (leaf
	// nodes, subscriptions across them), no /api/hierarchy (heartbeats).
	Missing    []string          `json:"missing,omitempty"`
	Dashboards map[string]string `json:"dashboards"`
	Timeline   []string          `json:"timeline"`
	Files      []string          `json:"files"`
}

// ScenarioResult is one scenario's outcome.
type ScenarioResult struct {
	// ID is the scenario's letter in issue 19 (a .. e).
	ID      string `json:"id"`
	Name    string `json:"name"`
	Passed  bool   `json:"passed"`
	Outcome string `json:"outcome"`
	// StartS and EndS are seconds from the lab's start.
	StartS float64 `json:"start_s"`
	EndS   float64 `json:"end_s"`
	// Timings are the scenario's measured latencies, in seconds.
	Timings map[string]float64 `json:"timings_s"`
	Checks  []ScenarioCheck    `json:"checks"`
}

// ScenarioCheck is one condition a scenario must meet.
type ScenarioCheck struct {
	What   string `json:"what"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Scenario returns the scenario with id, or nil.
func (r *EnterpriseResult) Scenario(id string) *ScenarioResult {
	for _, s := range r.Scenarios {
		if s.ID == id {
			return s
		}
	}
	return nil
}

func (s *ScenarioResult) check(what string, ok bool, format string, args ...any) {
	s.Checks = append(s.Checks, ScenarioCheck{What: what, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

func (s *ScenarioResult) timing(name string, d time.Duration) {
	if s.Timings == nil {
		s.Timings = map[string]float64{}
	}
	s.Timings[name] = d.Round(time.Millisecond).Seconds()
}

// The report families the scenarios look for, by the rule (model) that
// made them: the domain rules that would report scenario (a)'s probes on
// their own, and each enterprise correlation (rules/enterprise.yaml),
// also told by a word of its name.
var (
	doorknobDomainModels = []string{"smtp-recon", "finger-probes", "tcp-port-scan", "satan-probe", "doorknob-rattling"}
	familyDoorknob       = family{models: []string{"round-robin-probing"}, word: "doorknob"}
	familySpread         = family{models: []string{"spreading-web-attack"}, word: "spread"}
	familyDegradation    = family{models: []string{"aggregate-degradation", "severe-connection-loss"}, word: "degradation"}
	// webAttackModels are the rules that report scenario (b)'s requests:
	// the domain pack's and the gateway pack's.
	webAttackModels = []string{"web-attack-first", "web-attack", "http-traversal", "http-traversal-attempt", "http-system-file", "http-sql-injection", "http-command-injection"}
)

// family is a kind of report: its rules, or a word in their names.
type family struct {
	models []string
	word   string
}

// inFamily says whether a report's rule or model belongs to a family.
func inFamily(r event.Report, f family) bool {
	return slices.Contains(f.models, r.Model) || strings.Contains(strings.ToLower(r.Model), f.word)
}

// timings are the scenarios' paces: with --fast for CI, the rest for a
// person watching.
type entTimings struct {
	warmup, probeGap, cut, attackGap, degrade, outage, wait time.Duration
	// tally bounds the wait for an enterprise report that adds up the
	// domains' per-minute counts (probes, retried connections): the
	// domains report them at the end of their minute.
	tally       time.Duration
	lossPercent string
}

func (e *entLab) timings() entTimings {
	if e.o.Fast {
		return entTimings{warmup: 8 * time.Second, probeGap: 200 * time.Millisecond, cut: 10 * time.Second, attackGap: 2 * time.Second,
			degrade: 30 * time.Second, outage: 6 * time.Second, wait: 20 * time.Second, tally: 90 * time.Second, lossPercent: "12%"}
	}
	return entTimings{warmup: 60 * time.Second, probeGap: 2 * time.Second, cut: 30 * time.Second, attackGap: 15 * time.Second,
		degrade: 60 * time.Second, outage: 15 * time.Second, wait: 60 * time.Second, tally: 120 * time.Second, lossPercent: "12%"}
}

// scenarios runs (a) with (e) during it, then (b), (c) and (d), and the
// final count of reports.
func (e *entLab) scenarios(ctx context.Context) (*EnterpriseResult, error) {
	t := e.timings()
	res := &EnterpriseResult{Start: time.Now().UTC(), Dashboards: map[string]string{}}
	for _, mon := range e.monitors() {
		res.Dashboards[mon] = e.api(mon)
	}
	// A client outside fetches pages of every domain's web server while
	// the lab runs (bounded: at most one request per domain a second).
	cctx, stopClient := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); e.client(cctx) }()
	defer func() { stopClient(); wg.Wait() }()

	e.step("warm-up: %v of normal traffic", t.warmup)
	if err := sleep(ctx, t.warmup); err != nil {
		return nil, err
	}
	// The domains add up probes and retried connections a minute at a
	// time: while the enterprise waits for (a)'s and (c)'s minutes to end,
	// the lab goes on with the next scenario. Each looks at its own
	// family of reports.
	da, err := e.driveDoorknob(ctx, t)
	if err != nil {
		return nil, err
	}
	defer da.cut.stop()
	dc, err := e.driveLoss(ctx, t)
	if err != nil {
		return nil, err
	}
	b, err := e.scenarioSpread(ctx, t)
	if err != nil {
		return nil, err
	}
	a, ee, err := e.judgeDoorknob(ctx, t, da)
	if err != nil {
		return nil, err
	}
	c, err := e.judgeLoss(ctx, t, dc)
	if err != nil {
		return nil, err
	}
	d, err := e.scenarioLost(ctx, t)
	if err != nil {
		return nil, err
	}
	res.Scenarios = []*ScenarioResult{a, b, c, d, ee}
	if err := e.tally(ctx, res); err != nil {
		return nil, err
	}
	res.Passed = true
	for _, s := range res.Scenarios {
		s.Passed = len(s.Checks) > 0
		for _, c := range s.Checks {
			s.Passed = s.Passed && c.OK
		}
		res.Passed = res.Passed && s.Passed
		verdict := "FAIL"
		if s.Passed {
			verdict = "pass"
		}
		e.step("(%s) %s: %s, %s (%.1f s)", s.ID, s.Name, verdict, s.Outcome, s.EndS-s.StartS)
	}
	res.End = time.Now().UTC()
	e.tlMu.Lock()
	res.Timeline = append([]string(nil), e.timeline...)
	e.tlMu.Unlock()
	return res, nil
}

func (e *entLab) monitors() []string {
	mons := []string{entName}
	for d := 1; d <= entDomains; d++ {
		mons = append(mons, domainName(d))
	}
	return mons
}

func (e *entLab) since() float64 { return time.Since(e.t0).Seconds() }

// client is the outside client's traffic: a page and the application of
// every domain's web server, then a second's pause, until ctx ends.
func (e *entLab) client(ctx context.Context) {
	for i := 0; ctx.Err() == nil && i < 3600; i++ {
		for d := 1; d <= entDomains; d++ {
			path := "/"
			if i%2 == 1 {
				path = "/app"
			}
			_ = e.runIn(ctx, "cli", "curl", "-s", "-m", "5", "-o", "/dev/null", fmt.Sprintf("http://%s:8000%s", e.webIP(d), path))
		}
		if sleep(ctx, time.Second) != nil {
			return
		}
	}
}

// runIn runs a command in a namespace, bounded by ctx and 30 s.
func (e *entLab) runIn(ctx context.Context, ns string, args ...string) error {
	return e.runFor(ctx, 30*time.Second, ns, args...)
}

// runFor runs a command in a namespace, bounded by ctx and limit.
func (e *entLab) runFor(ctx context.Context, limit time.Duration, ns string, args ...string) error {
	path, err := lookPath(args[0])
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	out, err := execIn(cctx, e.ns(ns), path, args[1:]...)
	if err != nil {
		return fmt.Errorf("%s in %s: %w: %s", strings.Join(args, " "), ns, err, strings.TrimSpace(out))
	}
	return nil
}

// probe is one of scenario (a)'s doorknob rattles against a domain.
type probe struct {
	what string
	run  func(ctx context.Context, d int) error
}

// probes are scenario (a)'s rattles at one domain, six, below what any
// of the domain's own rules counts (doorknob-rattling 8 probes of a
// source, smtp-recon 5 VRFY or EXPN, finger-probes 3, satan-probe 8 ports
// of a server, tcp-port-scan 20): an SMTP session with a VRFY and an
// EXPN, finger on both servers, echo, and a single-port SYN probe of
// telnet, each nmap probe one port.
func (e *entLab) probes() []probe {
	nmap := func(ip func(int) string, port string) func(ctx context.Context, d int) error {
		return func(ctx context.Context, d int) error {
			return e.runIn(ctx, "atk", "nmap", "-sS", "-n", "-Pn", "--max-retries", "0", "--host-timeout", "10s", "-p", port, ip(d))
		}
	}
	smtp := func(cmds ...string) func(ctx context.Context, d int) error {
		return func(ctx context.Context, d int) error {
			out, err := e.smtp(ctx, "atk", e.mailIP(d), cmds...)
			if err != nil {
				return fmt.Errorf("SMTP to %s: %w: %s", e.mailIP(d), err, out)
			}
			return nil
		}
	}
	return []probe{
		{"SMTP VRFY root, EXPN staff", smtp("VRFY root", "EXPN staff")},
		{"finger (79) on the web server", nmap(e.webIP, "79")},
		{"single-port probe of telnet (23)", nmap(e.webIP, "23")},
		{"echo (7) on the web server", nmap(e.webIP, "7")},
		{"finger (79) on the mail server", nmap(e.mailIP, "79")},
	}
}

// doorknobRun is what driving (a) and (e) left to judge.
type doorknobRun struct {
	a, e            *ScenarioResult
	start, probeEnd time.Time
	cut             *leafCut
}

// driveDoorknob drives (a), round-robin doorknob rattling across the
// domains, and (e), domain 1's leaf link cut meanwhile: one attempt
// against domain 1's web server while it is cut off gives domain 1 a
// report the enterprise must still get.
func (e *entLab) driveDoorknob(ctx context.Context, t entTimings) (*doorknobRun, error) {
	r := &doorknobRun{a: &ScenarioResult{ID: "a", Name: "doorknob rattling round-robin", StartS: e.since()},
		e: &ScenarioResult{ID: "e", Name: "leaf link cut during (a)"}, start: time.Now()}
	probes := e.probes()
	e.step("(a) doorknob rattling: %d probes at each of the 3 domains, round-robin, %v apart; (e) domain 1's leaf link cut for %v a third of the way in", len(probes), t.probeGap, t.cut)
	cutAt := len(probes) * entDomains / 3
	var failures []string
	k := 0
	for _, p := range probes {
		for d := 1; d <= entDomains; d++ {
			if k == cutAt {
				var err error
				if r.cut, err = e.startCut(ctx, 1, t); err != nil {
					return nil, err
				}
				r.e.StartS = e.since()
			}
			if k == cutAt+1 {
				e.step("(e) one traversal attempt against d1-web while domain 1 is cut off")
				if err := e.runIn(ctx, "atk", "curl", "-s", "--path-as-is", "-m", "5", "-o", "/dev/null", fmt.Sprintf("http://%s:8000/../../etc/hosts", e.webIP(1))); err != nil {
					failures = append(failures, err.Error())
				}
			}
			if err := p.run(ctx, d); err != nil {
				failures = append(failures, err.Error())
			}
			k++
			if err := sleep(ctx, t.probeGap); err != nil {
				r.cut.stop()
				return nil, err
			}
		}
	}
	r.probeEnd = time.Now()
	e.step("(a) %d probes sent in %v (%d failed to run)", k, r.probeEnd.Sub(r.start).Round(100*time.Millisecond), len(failures))
	r.a.check("every probe ran", len(failures) == 0, "%d of %d failed: %s", len(failures), k, strings.Join(first(failures, 3), "; "))
	return r, nil
}

// judgeDoorknob waits for the enterprise's report of (a) and (e)'s
// catch-up, and judges both.
func (e *entLab) judgeDoorknob(ctx context.Context, t entTimings, r *doorknobRun) (a, ee *ScenarioResult, err error) {
	a, ee = r.a, r.e
	var entReps []event.Report
	found, _ := e.waitFor(ctx, time.Until(r.probeEnd.Add(t.tally)), func() bool {
		reps, err := e.ownReports(ctx, entName, r.start)
		entReps = filterReports(reps, func(rep event.Report) bool { return inFamily(rep, familyDoorknob) })
		return err == nil && len(entReps) > 0
	})
	if found {
		first := entReps[len(entReps)-1]
		a.timing("enterprise_report_after_last_probe", first.Time.Sub(r.probeEnd))
		a.timing("enterprise_report_after_first_probe", first.Time.Sub(r.start))
	}
	a.check("the enterprise reports the doorknob rattling", found, "%d enterprise reports of the family: %s", len(entReps), explain(entReps, 2))
	// No domain reports the family.
	var domainReps []event.Report
	for d := 1; d <= entDomains; d++ {
		reps, err := e.ownReports(ctx, domainName(d), r.start)
		if err != nil {
			return nil, nil, err
		}
		domainReps = append(domainReps, filterReports(reps, func(rep event.Report) bool {
			return rep.Severity >= event.SeverityYellow && (slices.Contains(doorknobDomainModels, rep.Model) || inFamily(rep, familyDoorknob))
		})...)
	}
	a.check("no domain reports the probes", len(domainReps) == 0, "%d domain reports of the family: %s", len(domainReps), explain(domainReps, 3))
	a.Outcome = fmt.Sprintf("%d enterprise and %d domain reports of the family", len(entReps), len(domainReps))
	a.EndS = e.since()

	// (e): domain 1 kept analysing while cut off, and the enterprise
	// caught up with every report it made then.
	cr := r.cut.wait()
	if cr.err != nil {
		return nil, nil, cr.err
	}
	evs, err := e.events(ctx, "d1", r.cut.start, cr.end, "")
	if err != nil {
		return nil, nil, err
	}
	ee.check("domain 1 kept analysing while cut off", len(evs) > 0 && len(cr.reports) > 0,
		"%d observations stored and %d reports made by domain 1 during the cut", len(evs), len(cr.reports))
	if cr.caughtUp {
		ee.timing("caught_up_after_restore", cr.caughtAt.Sub(cr.end))
	}
	ee.check("the enterprise caught up with every report domain 1 made during the cut", cr.caughtUp,
		"%d reports made during the cut, %d not received %v after the link came back: %s", len(cr.reports), len(cr.missing), t.wait, strings.Join(first(cr.missing, 5), ", "))
	ee.check("the enterprise reported (a) across the cut", found, "see (a)")
	ee.timing("cut", cr.end.Sub(r.cut.start))
	ee.Outcome = fmt.Sprintf("domain 1 stored %d observations and made %d reports while cut off; %d of them missing at the enterprise", len(evs), len(cr.reports), len(cr.missing))
	ee.EndS = e.since()
	return a, ee, nil
}

// leafCut is a cut of a domain's leaf link that restores itself after its
// time, then watches the enterprise catch up.
type leafCut struct {
	start time.Time
	done  chan cutResult
	halt  context.CancelFunc
}

type cutResult struct {
	end      time.Time
	reports  []event.Report // the domain's reports made during the cut
	missing  []string       // those the enterprise did not get
	caughtUp bool
	caughtAt time.Time
	err      error
}

// startCut cuts domain d's leaf link now and restores it after t.cut;
// from then it polls until the enterprise holds every report the domain
// made during the cut (at most t.wait).
func (e *entLab) startCut(ctx context.Context, d int, t entTimings) (*leafCut, error) {
	if err := e.cutLeaf(d, true); err != nil {
		return nil, err
	}
	cctx, halt := context.WithCancel(ctx)
	c := &leafCut{start: time.Now(), done: make(chan cutResult, 1), halt: halt}
	e.step("(e) domain %d's leaf link to the enterprise cut", d)
	go func() {
		var r cutResult
		defer func() { c.done <- r }()
		// Restored whatever happens: on time, or at once when the lab
		// ends first.
		_ = sleep(cctx, t.cut)
		if r.err = e.cutLeaf(d, false); r.err != nil {
			return
		}
		r.end = time.Now()
		e.step("(e) domain %d's leaf link restored after %v", d, r.end.Sub(c.start).Round(100*time.Millisecond))
		// What the domain made during the cut may still be on its way
		// into its store: the list is read again on every poll.
		r.caughtUp, r.caughtAt = e.waitFor(cctx, t.wait, func() bool {
			reps, err := e.ownReports(cctx, domainName(d), c.start)
			if err != nil {
				return false
			}
			r.reports = filterReports(reps, func(rep event.Report) bool { return rep.Time.Before(r.end) })
			r.missing, err = e.notReceived(cctx, r.reports)
			return err == nil && len(r.reports) > 0 && len(r.missing) == 0
		})
	}()
	return c, nil
}

// wait waits for the cut to end and the catch-up watch to finish.
func (c *leafCut) wait() cutResult {
	r := <-c.done
	c.done <- r
	return r
}

// stop ends the cut at once (the link restored) and its watch.
func (c *leafCut) stop() {
	if c == nil {
		return
	}
	c.halt()
	c.wait()
}

// cutLeaf cuts (or restores) domain d's link to the enterprise's leaf
// port: its gateway drops what it sends there, the rest of its traffic
// flows on.
func (e *entLab) cutLeaf(d int, cut bool) error {
	op := "add"
	if !cut {
		op = "del"
	}
	return e.in(fmt.Sprintf("gw%d", d), "ip", "route", op, "blackhole", e.entIP()+"/32")
}

// scenarioSpread runs (b): the gateway pack's traversal and injection
// against domain 1's web server, then domain 2's; the enterprise reports
// the spread and sensitises domain 3, which reports the first attempt
// against it.
func (e *entLab) scenarioSpread(ctx context.Context, t entTimings) (*ScenarioResult, error) {
	s := &ScenarioResult{ID: "b", Name: "web attack spreading domain by domain", StartS: e.since()}
	start := time.Now()
	attack := func(d int) error {
		for _, path := range []string{"/../../../../etc/passwd", "/app?id=1%27%20OR%20%271%27=%271", "/app?file=x;cat%20/etc/hosts"} {
			if err := e.runIn(ctx, "atk", "curl", "-s", "--path-as-is", "-m", "5", "-o", "/dev/null", fmt.Sprintf("http://%s:8000%s", e.webIP(d), path)); err != nil {
				return err
			}
		}
		return nil
	}
	var second time.Time
	for _, d := range []int{1, 2} {
		if d == 2 {
			second = time.Now()
		}
		e.step("(b) traversal, SQL and command injection against %s (%s)", serverName(d, "web"), e.webIP(d))
		if err := attack(d); err != nil {
			s.check("the attack ran", false, "%v", err)
		}
		if err := sleep(ctx, t.attackGap); err != nil {
			return nil, err
		}
	}
	// The enterprise reports the spread and sensitises domain 3.
	var spread []event.Report
	found, _ := e.waitFor(ctx, t.wait, func() bool {
		reps, err := e.ownReports(ctx, entName, start)
		spread = filterReports(reps, func(r event.Report) bool { return inFamily(r, familySpread) })
		return err == nil && len(spread) > 0
	})
	if found {
		s.timing("spread_report_after_domain2_attack_start", spread[len(spread)-1].Time.Sub(second))
	}
	s.check("the enterprise reports the attack spreading", found, "%d enterprise reports: %s", len(spread), explain(spread, 2))
	var sens []Decision
	sensitised, _ := e.waitFor(ctx, t.wait/2, func() bool {
		ds, err := e.decisions(ctx, entName)
		sens = nil
		for _, dd := range ds {
			if strings.Contains(dd.Policy+dd.Method, "sensitis") && !dd.Time.Before(start) {
				sens = append(sens, dd)
			}
		}
		return err == nil && slices.ContainsFunc(sens, func(dd Decision) bool { return dd.Status == "done" })
	})
	s.check("the enterprise sensitised the domains not yet hit", sensitised, "%d sensitise decisions: %+v", len(sens), sens)
	if len(sens) > 0 {
		s.timing("sensitise_after_domain2_attack_start", sens[len(sens)-1].Time.Sub(second))
	}
	// Domain 3 reports the first attempt against it.
	e.step("(b) the first attempt against %s (%s): one traversal", serverName(3, "web"), e.webIP(3))
	third := time.Now()
	if err := e.runIn(ctx, "atk", "curl", "-s", "--path-as-is", "-m", "5", "-o", "/dev/null", fmt.Sprintf("http://%s:8000/../../../../etc/passwd", e.webIP(3))); err != nil {
		s.check("the attempt ran", false, "%v", err)
	}
	var d3 []event.Report
	reported, _ := e.waitFor(ctx, t.wait, func() bool {
		reps, err := e.ownReports(ctx, "d3", third.Add(-time.Second))
		d3 = filterReports(reps, func(r event.Report) bool {
			return r.IP == e.webIP(3) && r.Severity >= event.SeverityYellow && slices.Contains(webAttackModels, r.Model)
		})
		return err == nil && len(d3) > 0
	})
	if reported {
		s.timing("domain3_report_after_first_attempt", d3[len(d3)-1].Time.Sub(third))
	}
	s.check("domain 3 reports the first attempt", reported, "%d domain 3 reports: %s", len(d3), explain(d3, 2))
	s.Outcome = fmt.Sprintf("%d spread reports at the enterprise, %d sensitise decisions, %d domain 3 reports of the first attempt", len(spread), len(sens), len(d3))
	s.EndS = e.since()
	return s, nil
}

// lossRun is what driving (c) left to judge.
type lossRun struct {
	c          *ScenarioResult
	start, end time.Time
	how        string
}

// driveLoss drives (c): packet loss on every domain's outside link while
// the client keeps fetching.
func (e *entLab) driveLoss(ctx context.Context, t entTimings) (*lossRun, error) {
	r := &lossRun{c: &ScenarioResult{ID: "c", Name: "aggregate degradation", StartS: e.since()}, start: time.Now()}
	e.step("(c) %s packet loss on every domain's gateway, both ways, for %v, the client connecting to every domain 6 times a second", t.lossPercent, t.degrade)
	how, err := e.addLoss(t.lossPercent)
	if err != nil {
		return nil, err
	}
	r.how = how
	if how != "tc netem" {
		e.step("(c) the loss is made with %s", how)
	}
	// More of the client's traffic meanwhile: a new connection to every
	// domain's web server six times a second, bounded in count and time.
	n := int(t.degrade.Seconds()) * 6
	var wg sync.WaitGroup
	for d := 1; d <= entDomains; d++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Ended when the loss ends, whatever is left.
			_ = e.runFor(ctx, t.degrade, "cli", "sh", "-c",
				fmt.Sprintf("exec curl -s -m 5 -H 'Connection: close' --rate 6/s 'http://%s:8000/?n=[1-%d]' >/dev/null", e.webIP(d), n))
		}()
	}
	wg.Wait()
	if err := e.removeLoss(how); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	r.end = time.Now()
	e.step("(c) loss removed")
	return r, nil
}

// judgeLoss waits for the enterprise's report of aggregate degradation
// and judges (c).
func (e *entLab) judgeLoss(ctx context.Context, t entTimings, r *lossRun) (*ScenarioResult, error) {
	s := r.c
	var deg []event.Report
	found, _ := e.waitFor(ctx, time.Until(r.start.Add(t.tally)), func() bool {
		reps, err := e.ownReports(ctx, entName, r.start)
		deg = filterReports(reps, func(rep event.Report) bool { return inFamily(rep, familyDegradation) })
		return err == nil && len(deg) > 0
	})
	if found {
		s.timing("enterprise_report_after_loss_start", deg[len(deg)-1].Time.Sub(r.start))
	}
	s.check("the enterprise reports aggregate degradation", found, "%d enterprise reports: %s", len(deg), explain(deg, 2))
	var alone, mild []event.Report
	for d := 1; d <= entDomains; d++ {
		reps, err := e.ownReports(ctx, domainName(d), r.start)
		if err != nil {
			return nil, err
		}
		alone = append(alone, filterReports(reps, func(rep event.Report) bool {
			return rep.Severity >= event.SeverityYellow && inFamily(rep, familyDegradation)
		})...)
		mild = append(mild, filterReports(reps, func(rep event.Report) bool { return rep.Model == "connection-retries" })...)
	}
	s.check("no domain reports degradation alone", len(alone) == 0, "%d domain reports: %s", len(alone), explain(alone, 3))
	s.timing("loss", r.end.Sub(r.start))
	s.Outcome = fmt.Sprintf("%d enterprise reports of aggregate degradation, %d domain reports of it alone, %d mild (green) domain reports of retried connections (loss by %s)",
		len(deg), len(alone), len(mild), r.how)
	s.EndS = e.since()
	return s, nil
}

// addLoss drops the given share of the packets every domain's gateway
// sends out of its outside link and into its domain (so that both a
// client's SYN and the server's answer may be lost): with tc netem, or where the kernel has
// no netem (sch_netem) with an nftables rule dropping packets at random
// (numgen). It says which.
func (e *entLab) addLoss(percent string) (string, error) {
	var netemErr error
	for d := 1; d <= entDomains && netemErr == nil; d++ {
		for _, dev := range []string{e.wanIf(d), "br0"} {
			if netemErr = e.in(fmt.Sprintf("gw%d", d), "tc", "qdisc", "add", "dev", dev, "root", "netem", "loss", percent); netemErr != nil {
				break
			}
		}
	}
	if netemErr == nil {
		return "tc netem", nil
	}
	_ = e.removeLoss("tc netem")
	if !strings.Contains(netemErr.Error(), "qdisc kind is unknown") {
		return "", netemErr
	}
	n := strings.TrimSuffix(percent, "%")
	for d := 1; d <= entDomains; d++ {
		rules := fmt.Sprintf(`table inet vigil_lab_loss {
  chain out {
    type filter hook postrouting priority 0; policy accept;
    oifname { "%s", "br0" } numgen random mod 100 < %s drop
  }
}
`, e.wanIf(d), n)
		cmd := exec.Command("ip", "netns", "exec", e.ns(fmt.Sprintf("gw%d", d)), "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("this kernel has no netem (%v), and nft failed too: %w: %s", netemErr, err, out)
		}
	}
	return "nftables numgen (this kernel has no netem)", nil
}

// removeLoss undoes addLoss.
func (e *entLab) removeLoss(how string) error {
	var first error
	for d := 1; d <= entDomains; d++ {
		gw := fmt.Sprintf("gw%d", d)
		var errs []error
		if how == "tc netem" {
			for _, dev := range []string{e.wanIf(d), "br0"} {
				if err := e.in(gw, "tc", "qdisc", "del", "dev", dev, "root"); err != nil && !strings.Contains(err.Error(), "No such file") && !strings.Contains(err.Error(), "Cannot delete qdisc with handle of zero") {
					errs = append(errs, err)
				}
			}
		} else if err := e.in(gw, "nft", "delete", "table", "inet", "vigil_lab_loss"); err != nil {
			errs = append(errs, err)
		}
		if first == nil && len(errs) > 0 {
			first = errs[0]
		}
	}
	return first
}

// scenarioLost runs (d): domain 2's monitor killed; the enterprise marks
// it lost within three heartbeats, then alive once it is started again,
// and holds every report domain 2 made.
func (e *entLab) scenarioLost(ctx context.Context, t entTimings) (*ScenarioResult, error) {
	s := &ScenarioResult{ID: "d", Name: "domain 2's monitor lost and back", StartS: e.since()}
	e.step("(d) domain 2's monitor killed (SIGKILL)")
	if err := e.killMonitor("d2"); err != nil {
		return nil, err
	}
	killed := time.Now()
	bound := time.Duration(entLostAfter+1) * entHeartbeat
	var lost []event.Event
	var hierLost bool
	found, seen := e.waitFor(ctx, t.wait, func() bool {
		evs, err := e.events(ctx, entName, killed.Add(-time.Second), time.Time{}, "MONITOR.LOST")
		lost = filterEvents(evs, "d2")
		if !hierLost {
			hierLost = e.hierarchyState(ctx, "d2") == "lost"
		}
		return err == nil && len(lost) > 0
	})
	if found {
		at := lost[len(lost)-1].Time
		s.timing("lost_after_kill", at.Sub(killed))
		s.check("the enterprise marks domain 2 lost within three heartbeats", at.Sub(killed) <= bound,
			"MONITOR.LOST %.2f s after the kill (bound %v: %d heartbeats of %v and one more); seen by the lab after %.2f s",
			at.Sub(killed).Seconds(), bound, entLostAfter, entHeartbeat, seen.Sub(killed).Seconds())
	} else {
		s.check("the enterprise marks domain 2 lost within three heartbeats", false, "no MONITOR.LOST about d2 within %v", t.wait)
	}
	s.check("/api/hierarchy shows domain 2 lost", hierLost, "state seen: %q", e.hierarchyState(ctx, "d2"))
	// Traffic meanwhile: domain 2's sensors keep what they see in their
	// spools until its monitor is back.
	e.step("(d) attempts against %s while its monitor is down", serverName(2, "web"))
	for i := range 3 {
		_ = e.runIn(ctx, "atk", "curl", "-s", "--path-as-is", "-m", "5", "-o", "/dev/null", fmt.Sprintf("http://%s:8000/../../etc/shadow?%d", e.webIP(2), i))
	}
	if err := sleep(ctx, time.Until(killed.Add(t.outage))); err != nil {
		return nil, err
	}
	e.step("(d) domain 2's monitor started again")
	restarted := time.Now()
	if err := e.startMonitor("d2", "mon-d2-restarted"); err != nil {
		return nil, err
	}
	if err := e.waitMonitor("d2", "mon-d2-restarted"); err != nil {
		return nil, err
	}
	var alive []event.Event
	back, _ := e.waitFor(ctx, t.wait, func() bool {
		evs, err := e.events(ctx, entName, restarted, time.Time{}, "MONITOR.ALIVE")
		alive = filterEvents(evs, "d2")
		return err == nil && len(alive) > 0
	})
	if back {
		s.timing("alive_after_restart", alive[len(alive)-1].Time.Sub(restarted))
	}
	s.check("the enterprise marks domain 2 alive again", back, "%d MONITOR.ALIVE about d2 after the restart", len(alive))
	// Nothing lost: every report on domain 2's store is at the enterprise.
	var d2 []event.Report
	var missing []string
	complete, _ := e.waitFor(ctx, t.wait, func() bool {
		var err error
		if d2, err = e.ownReports(ctx, "d2", time.Time{}); err != nil {
			return false
		}
		missing, err = e.notReceived(ctx, d2)
		return err == nil && len(missing) == 0 && len(d2) > 0
	})
	s.check("no report of domain 2 lost", complete, "domain 2 holds %d reports, %d not at the enterprise: %s", len(d2), len(missing), strings.Join(first(missing, 5), ", "))
	s.Outcome = fmt.Sprintf("lost %s after the kill, alive %s after the restart; %d of %d domain 2 reports at the enterprise",
		secsText(s.Timings, "lost_after_kill"), secsText(s.Timings, "alive_after_restart"), len(d2)-len(missing), len(d2))
	s.EndS = e.since()
	return s, nil
}

// tally counts every monitor's reports and what the enterprise received.
func (e *entLab) tally(ctx context.Context, res *EnterpriseResult) error {
	res.Reports, res.Received = map[string]int{}, map[string]int{}
	for _, mon := range e.monitors() {
		reps, err := e.ownReports(ctx, mon, time.Time{})
		if err != nil {
			return err
		}
		res.Reports[mon] = len(reps)
	}
	evs, err := e.events(ctx, entName, time.Time{}, time.Time{}, event.TypeReport)
	if err != nil {
		return err
	}
	made, received := 0, 0
	for _, ev := range evs {
		res.Received[ev.Str("monitor")]++
		received++
	}
	for d := 1; d <= entDomains; d++ {
		made += res.Reports[domainName(d)]
	}
	if made > 0 && received == 0 {
		res.Missing = append(res.Missing, fmt.Sprintf("no report of the domains (%d made) reached the enterprise: leaf nodes or subscriptions across them", made))
	}
	var tree any
	if err := getJSON(ctx, e.api(entName)+"/api/hierarchy", &tree); err != nil {
		res.Missing = append(res.Missing, fmt.Sprintf("the enterprise's /api/hierarchy: %v", err))
	}
	return nil
}

// waitFor polls cond every half second until it holds or limit passes;
// it says whether it held, and when.
func (e *entLab) waitFor(ctx context.Context, limit time.Duration, cond func() bool) (bool, time.Time) {
	deadline := time.Now().Add(limit)
	for {
		if cond() {
			return true, time.Now()
		}
		if time.Now().After(deadline) || sleep(ctx, 500*time.Millisecond) != nil {
			return false, time.Time{}
		}
	}
}

// ownReports are the reports a monitor made itself since a time, newest
// first.
func (e *entLab) ownReports(ctx context.Context, mon string, since time.Time) ([]event.Report, error) {
	q := url.Values{"monitor": {mon}, "limit": {"10000"}}
	if !since.IsZero() {
		q.Set("since", since.UTC().Format(time.RFC3339Nano))
	}
	var reps []event.Report
	err := getJSON(ctx, e.api(mon)+"/api/reports?"+q.Encode(), &reps)
	return reps, err
}

// events are a monitor's stored events between two times (zero: open),
// of one type ("" any), newest first.
func (e *entLab) events(ctx context.Context, mon string, since, until time.Time, typ string) ([]event.Event, error) {
	q := url.Values{"limit": {"10000"}}
	if !since.IsZero() {
		q.Set("since", since.UTC().Format(time.RFC3339Nano))
	}
	if !until.IsZero() {
		q.Set("until", until.UTC().Format(time.RFC3339Nano))
	}
	if typ != "" {
		q.Set("type", typ)
	}
	var evs []event.Event
	err := getJSON(ctx, e.api(mon)+"/api/events?"+q.Encode(), &evs)
	return evs, err
}

// notReceived lists the ids of the reports the enterprise does not hold.
func (e *entLab) notReceived(ctx context.Context, reps []event.Report) ([]string, error) {
	var missing []string
	for chunk := range slices.Chunk(reps, 100) {
		q := url.Values{"type": {event.TypeReport}, "limit": {"10000"}}
		for _, r := range chunk {
			q.Add("id", r.ID)
		}
		var evs []event.Event
		if err := getJSON(ctx, e.api(entName)+"/api/events?"+q.Encode(), &evs); err != nil {
			return nil, err
		}
		have := map[string]bool{}
		for _, ev := range evs {
			have[ev.ID] = true
		}
		for _, r := range chunk {
			if !have[r.ID] {
				missing = append(missing, r.ID)
			}
		}
	}
	return missing, nil
}

// decisions are a monitor's response decisions.
func (e *entLab) decisions(ctx context.Context, mon string) ([]Decision, error) {
	var rows []struct {
		Time    time.Time       `json:"time"`
		Policy  string          `json:"policy"`
		Method  string          `json:"method"`
		Subject json.RawMessage `json:"subject"`
		Status  string          `json:"status"`
		Reason  string          `json:"reason"`
	}
	if err := getJSON(ctx, e.api(mon)+"/api/responses?limit=10000", &rows); err != nil {
		return nil, err
	}
	var ds []Decision
	for _, r := range rows {
		ds = append(ds, Decision{Time: r.Time, Policy: r.Policy, Method: r.Method, Subject: subjectText(r.Subject), Status: r.Status, Reason: r.Reason})
	}
	return ds, nil
}

// hierarchyState is the health /api/hierarchy gives a monitor ("" when
// the API or the monitor is not there): the value of its state, health
// or status.
func (e *entLab) hierarchyState(ctx context.Context, mon string) string {
	var tree any
	if err := getJSON(ctx, e.api(entName)+"/api/hierarchy", &tree); err != nil {
		return ""
	}
	return findState(tree, mon)
}

// findState looks through a decoded JSON tree for the object naming mon
// and answers its state.
func findState(v any, mon string) string {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range []string{"name", "monitor"} {
			if x[k] == mon {
				for _, s := range []string{"state", "health", "status"} {
					if str, ok := x[s].(string); ok {
						return str
					}
				}
			}
		}
		for _, c := range x {
			if s := findState(c, mon); s != "" {
				return s
			}
		}
	case []any:
		for _, c := range x {
			if s := findState(c, mon); s != "" {
				return s
			}
		}
	}
	return ""
}

func filterReports(reps []event.Report, keep func(event.Report) bool) []event.Report {
	var out []event.Report
	for _, r := range reps {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// filterEvents keeps the monitor health events about mon.
func filterEvents(evs []event.Event, mon string) []event.Event {
	var out []event.Event
	for _, ev := range evs {
		if ev.Str("monitor") == mon {
			out = append(out, ev)
		}
	}
	return out
}

// explain lists up to n reports as text (escaped: explanations carry what
// came off the network).
func explain(reps []event.Report, n int) string {
	var parts []string
	for _, r := range first(reps, n) {
		parts = append(parts, fmt.Sprintf("%s %s/%s %s %q", r.Monitor, r.Engine, r.Model, r.Severity, r.Explanation))
	}
	return strings.Join(parts, "; ")
}

func first[T any](s []T, n int) []T {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func secsText(m map[string]float64, k string) string {
	if v, ok := m[k]; ok {
		return fmt.Sprintf("%.2f s", v)
	}
	return "never"
}

// write saves the result as enterprise.json and the timeline in dir.
func (r *EnterpriseResult) write(dir string) error {
	r.Files = []string{filepath.Join(dir, "enterprise.json"), filepath.Join(dir, "timeline.txt")}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(r.Files[0], append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(r.Files[1], []byte(strings.Join(r.Timeline, "\n")+"\n"), 0o644)
}
