package track

import (
	"fmt"
	"math"

	"github.com/vigil-ids/vigil/internal/event"
)

// Model comparison: for a pair of models, Wald's sequential probability
// ratio test on the likelihood ratio of their top tracks for a key. Every
// observation either model can emit moves the log ratio by the change in
// each model's best likelihood (a model that cannot emit it counts it as
// noise); above log A the first model is accepted, below log B the second,
// and in between the test waits. A verdict is reported when it changes,
// and only while the chosen model's track is not green (a host in good
// health needs no explanation); the test then starts again.

// Comparison is a pair of models to choose between.
type Comparison struct {
	// A and B are model ids.
	A, B string
	// Alpha is the chance of choosing A when B is true (false alarm),
	// Beta of choosing B when A is true (miss).
	Alpha, Beta float64
	// VerdictA and VerdictB are the reports' texts ("attack",
	// "isolated failure, not attack").
	VerdictA, VerdictB string
}

// Thresholds returns log A and log B: A = (1-beta)/alpha, B =
// beta/(1-alpha).
func (c Comparison) Thresholds() (logA, logB float64) {
	return math.Log((1 - c.Beta) / c.Alpha), math.Log(c.Beta / (1 - c.Alpha))
}

type comparison struct {
	c          Comparison
	a, b       int // model indexes
	logA, logB float64
	llr        map[string]float64
	decided    map[string]int // the latest verdict per key: 1 (A), -1 (B)
}

// Compare adds model comparisons; an error names a model that is not
// loaded or a bad error rate.
func (e *Engine) Compare(cs []Comparison) error {
	for _, c := range cs {
		a, b := -1, -1
		for i, m := range e.models {
			if m.ID == c.A {
				a = i
			}
			if m.ID == c.B {
				b = i
			}
		}
		switch {
		case a < 0:
			return fmt.Errorf("compare: no model %q loaded", c.A)
		case b < 0:
			return fmt.Errorf("compare: no model %q loaded", c.B)
		case a == b:
			return fmt.Errorf("compare: %q with itself", c.A)
		case !(c.Alpha > 0 && c.Alpha < 0.5) || !(c.Beta > 0 && c.Beta < 0.5):
			return fmt.Errorf("compare %s/%s: alpha and beta are error rates between 0 and 0.5", c.A, c.B)
		}
		la, lb := c.Thresholds()
		e.cmp = append(e.cmp, &comparison{c: c, a: a, b: b, logA: la, logB: lb, llr: map[string]float64{}, decided: map[string]int{}})
	}
	return nil
}

// compare moves each comparison's log ratio for ev's key by the models'
// likelihood changes (NaN: the model cannot emit ev).
func (e *Engine) compare(ev *event.Event, deltas []float64, binds []binding, emit func(Report)) {
	for _, c := range e.cmp {
		da, db := deltas[c.a], deltas[c.b]
		if math.IsNaN(da) && math.IsNaN(db) {
			continue
		}
		ma, mb := e.models[c.a], e.models[c.b]
		if math.IsNaN(da) {
			da = math.Log(ma.Noise)
		}
		if math.IsNaN(db) {
			db = math.Log(mb.Noise)
		}
		key, field := binds[c.a].key, binds[c.a].field
		if key == "" {
			key, field = binds[c.b].key, binds[c.b].field
		}
		if key == "" {
			continue
		}
		llr := c.llr[key] + da - db
		verdict := 0
		switch {
		case llr >= c.logA:
			verdict = 1
		case llr <= c.logB:
			verdict = -1
		}
		if verdict == 0 {
			c.llr[key] = llr
			continue
		}
		win, lose, text, wi := ma, mb, c.c.VerdictA, c.a
		if verdict < 0 {
			win, lose, text, wi = mb, ma, c.c.VerdictB, c.b
		}
		r := Report{Model: win, Key: key, KeyField: field, Time: ev.Time, Verdict: text, Versus: lose, LLR: llr}
		if ks := e.keys[wi][key]; ks != nil {
			top := ks.best()
			r.Score, _ = score(win, top)
			r.LastModified, r.Observations, r.Evidence = top.last, top.n, ks.evidenceIDs(top, e.o.MaxEvidence)
		}
		r.Severity = win.Severity(r.Score)
		if r.Severity == event.SeverityGreen {
			// The better explanation explains nothing amiss: no verdict
			// yet. The ratio keeps its evidence, so the verdict comes
			// as soon as the model's track leaves green.
			c.llr[key] = llr
			continue
		}
		c.llr[key] = 0
		if c.decided[key] == verdict {
			continue // the same verdict again: nothing new
		}
		c.decided[key] = verdict
		e.stats.Reports++
		emit(r)
	}
}
