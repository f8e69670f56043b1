package track

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func mustLoad(t testing.TB, files ...string) []*Model {
	t.Helper()
	for i, f := range files {
		files[i] = "../../../models/" + f
	}
	ms, err := LoadModels(files)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// pathProb is the probability of a state sequence and the observations
// under m.
func pathProb(m *Model, states []int, obs []int) float64 {
	p := m.Init[states[0]] * m.Emissions[obs[0]].P[states[0]]
	for i := 1; i < len(states); i++ {
		p *= m.Trans[states[i-1]][states[i]] * m.Emissions[obs[i]].P[states[i]]
	}
	return p
}

// TestM1Explanations is seed 000 section 2.1: under M1 the events
// a a b c b are explained by the state sequences AABCB and ABBCB, equally
// well, and by no other.
func TestM1Explanations(t *testing.T) {
	m := mustLoad(t, "m1.yaml")[0]
	obs := []int{0, 0, 1, 2, 1} // a a b c b
	var found []string
	var probs []float64
	seq := make([]int, len(obs))
	var walk func(i int)
	walk = func(i int) {
		if i == len(obs) {
			if p := pathProb(m, seq, obs); p > 0 {
				var b strings.Builder
				for _, s := range seq {
					b.WriteString(m.States[s])
				}
				found = append(found, b.String())
				probs = append(probs, p)
			}
			return
		}
		for s := range m.States {
			seq[i] = s
			walk(i + 1)
		}
	}
	walk(0)
	if fmt.Sprint(found) != "[AABCB ABBCB]" {
		t.Fatalf("state sequences explaining aabcb: %v", found)
	}
	if math.Abs(probs[0]-probs[1]) > 1e-15 {
		t.Errorf("AABCB has probability %g, ABBCB %g: not equally likely", probs[0], probs[1])
	}
	// The engine's forward recursion over the same events ends in B with
	// certainty, having passed through C.
	e := New([]*Model{m}, Options{})
	var last Report
	for i, c := range "aabcb" {
		ev := pqsEvent(i, c)
		e.Handle(&ev, func(r Report) { last = r })
	}
	if last.State != "B" || last.Observations != 5 {
		t.Errorf("last report %+v", last)
	}
}

func pqsEvent(i int, c rune) event.Event {
	return event.Event{ID: fmt.Sprintf("e%02d", i+1), Time: t0.Add(time.Duration(i) * time.Second), Type: "PQS." + strings.ToUpper(string(c)), Host: "h"}
}

// TestM1M2Concurrent is the stream of seed 000 section 2.1 with M1 and M2
// running at once: each model's top hypothesis keeps the events it can
// explain as a sequence the model can produce, and between them every
// event is explained.
func TestM1M2Concurrent(t *testing.T) {
	ms := mustLoad(t, "m1.yaml", "m2.yaml")
	e := New(ms, Options{Beam: 16})
	const stream = "abaacabbacabaccbacabbc" // e_{1:24} as the section prints it
	for i, c := range stream {
		ev := pqsEvent(i, c)
		e.Handle(&ev, func(Report) {})
	}
	explained := map[string]bool{}
	for _, m := range ms {
		ks := e.keys[slices.Index(ms, m)]["h"]
		if ks == nil {
			t.Fatalf("no track for %s", m.ID)
		}
		top := ks.best()
		if top.alpha == nil || top.n < 5 {
			t.Fatalf("%s's top track has %d observations", m.ID, top.n)
		}
		// The assigned events, replayed alone, are a sequence m can
		// produce: the forward recursion never meets probability 0.
		var obs []int
		for _, id := range ks.evidenceIDs(top, 32) {
			var i int
			fmt.Sscanf(id, "e%d", &i)
			ev := pqsEvent(i-1, rune(stream[i-1]))
			obs = append(obs, m.Emission(&ev))
			explained[id] = true
		}
		if p := forward(m, obs); p <= 0 {
			t.Errorf("%s's top track %v is not a sequence %s can produce", m.ID, top.evidence, m.ID)
		}
		t.Logf("%s explains %d events: %v (score %.3f)", m.ID, top.n, ks.evidenceIDs(top, 32), must(score(m, top)))
	}
	if len(explained) < len(stream)-2 {
		t.Errorf("only %d of %d events explained by either model", len(explained), len(stream))
	}
}

func must(s float64, _ int) float64 { return s }

// forward is the likelihood of obs under m.
func forward(m *Model, obs []int) float64 {
	alpha := make([]float64, len(m.States))
	for s := range alpha {
		alpha[s] = m.Init[s] * m.Emissions[obs[0]].P[s]
	}
	for _, o := range obs[1:] {
		next := make([]float64, len(alpha))
		for j := range next {
			for s := range alpha {
				next[j] += alpha[s] * m.Trans[s][j]
			}
			next[j] *= m.Emissions[o].P[j]
		}
		alpha = next
	}
	var p float64
	for _, a := range alpha {
		p += a
	}
	return p
}

// hostEvents makes the observations of seed 000 section 3.3 for one host:
// h_a..h_g are host observations, n_a and n_b NIDS alerts.
func hostEvents(seq string) []event.Event {
	types := map[string]string{
		"ha": event.TypeProcSpawn, "hb": event.TypeSysMem, "hc": event.TypeProcCPU, "hd": event.TypeProcMem,
		"he": event.TypeSysCPU, "hf": event.TypeSysProcsGrowth, "hg": event.TypeSysDiskIO,
	}
	var out []event.Event
	for i, tok := range strings.Fields(seq) {
		ev := event.Event{ID: fmt.Sprintf("o%02d", i+1), Time: t0.Add(time.Duration(i) * 5 * time.Second), Host: "host-3", IP: "10.0.0.3"}
		if tok[0] == 'n' {
			ev.Type, ev.Attrs = event.TypeNIDSAlert, map[string]any{"src": "203.0.113.9", "dst": "10.0.0.3", "sid": int64(2000000 + int(tok[1]))}
		} else {
			ev.Type = types[tok]
		}
		out = append(out, ev)
	}
	return out
}

var isolatedVsAttack = Comparison{A: "m3", B: "m4", Alpha: 0.01, Beta: 0.01, VerdictA: "attack", VerdictB: "isolated failure, not attack"}

// TestIsolatedFailure is seed 000 section 3.3: over h_e h_f h_g h_a h_g n_a
// h_g h_g h_g h_g n_b, M4 (isolated degradation) ends well above M3 (host
// and network correlation), and the comparison says isolated failure; with
// host activity after each NIDS alert instead, it says attack.
func TestIsolatedFailure(t *testing.T) {
	cases := []struct {
		name, seq, verdict string
		m4Above            bool
	}{
		{"section 3.3", "he hf hg ha hg na hg hg hg hg nb", "isolated failure, not attack", true},
		{"host activity after each alert", "he hf na ha hc nb hb hc hd na ha hc", "attack", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ms := mustLoad(t, "m3.yaml", "m4.yaml")
			e := New(ms, Options{})
			if err := e.Compare([]Comparison{isolatedVsAttack}); err != nil {
				t.Fatal(err)
			}
			scores := map[string]float64{}
			var verdicts []string
			for _, ev := range hostEvents(c.seq) {
				e.Handle(&ev, func(r Report) {
					if r.Verdict != "" {
						verdicts = append(verdicts, r.Verdict)
						return
					}
					scores[r.Model.ID] = r.Score
				})
			}
			t.Logf("scores %v, verdicts %v", scores, verdicts)
			if len(verdicts) == 0 || verdicts[len(verdicts)-1] != c.verdict {
				t.Errorf("verdicts %v, want the last to be %q", verdicts, c.verdict)
			}
			if c.m4Above && !(scores["m4"] >= scores["m3"]+0.2) {
				t.Errorf("M4 %.3f is not well above M3 %.3f", scores["m4"], scores["m3"])
			}
			if !c.m4Above && !(scores["m3"] >= 0.9) {
				t.Errorf("M3 %.3f did not reach red", scores["m3"])
			}
		})
	}
}

// TestEvidence checks that a track's evidence names the observations it
// holds, latest last, up to the bound, and not those taken for noise.
func TestEvidence(t *testing.T) {
	ks := &keyState{}
	h := hyp{}
	for i := range 100 {
		ks.ring[ks.seq%evidenceRing] = fmt.Sprint(i)
		ks.seq++
		if i%3 == 0 {
			h.evidence = h.evidence<<1 | 1
		} else {
			h.evidence <<= 1
		}
	}
	ids := ks.evidenceIDs(&h, 5)
	if fmt.Sprint(ids) != "[87 90 93 96 99]" {
		t.Errorf("evidence %v", ids)
	}
	if all := ks.evidenceIDs(&h, 32); len(all) != 11 || all[0] != "69" {
		t.Errorf("all evidence %v", all)
	}
}

// TestHostActivityAloneIsNotCompromise checks M3's design: without a NIDS
// alert, however much host activity a server shows, it stays green; after
// scan alerts alone it is yellow; alerts then host activity make it red,
// surer with each observation.
func TestHostActivityAloneIsNotCompromise(t *testing.T) {
	ms := mustLoad(t, "m3.yaml")
	run := func(seq string) []Report {
		e := New(ms, Options{Step: 0.001})
		var out []Report
		for _, ev := range hostEvents(seq) {
			e.Handle(&ev, func(r Report) { out = append(out, r) })
		}
		return out
	}
	// A green track in its initial state is not reported: nothing
	// happened.
	for _, r := range run(strings.Repeat("hc ha hb hd ", 20)) {
		if r.Severity != event.SeverityGreen || r.Score > 0.01 {
			t.Errorf("host activity alone: %+v", r)
		}
	}
	scan := run("he na na na na na na")
	if last := scan[len(scan)-1]; last.Severity != event.SeverityYellow {
		t.Errorf("after scan alerts: %.3f %s", last.Score, last.Severity)
	}
	attack := run("he na na na ha hb hc hc hd")
	var scores []float64
	for _, r := range attack {
		scores = append(scores, r.Score)
	}
	if last := attack[len(attack)-1]; last.Severity != event.SeverityRed {
		t.Errorf("alerts then host activity: %v", scores)
	}
	for i := 5; i < len(scores); i++ {
		if scores[i] < scores[i-1] {
			t.Errorf("the score fell after host activity following the alerts: %v", scores)
		}
	}
}

// TestTimeoutsAndBounds checks that a state's timeout moves a quiet
// track's mass on the tick that reaches it (and is reported), that keys
// expire, and that the number of keys stays at its bound.
func TestTimeoutsAndBounds(t *testing.T) {
	ms := mustLoad(t, "m3.yaml", "m4.yaml")
	e := New(ms, Options{MaxKeys: 10, Expire: time.Hour})
	if err := e.Compare([]Comparison{isolatedVsAttack}); err != nil {
		t.Fatal(err)
	}
	var got []Report
	emit := func(r Report) { got = append(got, r) }
	// One alert: host-3 becomes Questionable.
	ev := hostEvents("na")[0]
	e.Handle(&ev, emit)
	if got[len(got)-1].State != "Questionable" {
		t.Fatalf("after an alert: %+v", got[len(got)-1])
	}
	// Quiet until just before Questionable's timeout: nothing; at it:
	// Nominal.
	timeout := ms[0].Timeout[ms[0].State("Questionable")]
	if timeout <= time.Second {
		t.Fatalf("m3's Questionable timeout %v", timeout)
	}
	n := len(got)
	e.Tick(ev.Time.Add(timeout-time.Second), emit)
	if len(got) != n {
		t.Errorf("reports before the timeout: %+v", got[n:])
	}
	e.Tick(ev.Time.Add(timeout), emit)
	if len(got) != n+1 || got[n].State != "Nominal" || !got[n].Time.Equal(ev.Time.Add(timeout)) {
		t.Errorf("at the timeout: %+v", got[n:])
	}
	// Many hosts: the bound holds and evictions are counted.
	for i := range 100 {
		ev := event.Event{ID: fmt.Sprint("k", i), Time: ev.Time.Add(timeout + time.Minute), Type: event.TypeSysCPU, IP: fmt.Sprintf("10.9.0.%d", i)}
		e.Handle(&ev, emit)
	}
	st := e.Stats()
	if st.Keys != 10 || st.KeysEvicted == 0 {
		t.Errorf("stats %+v", st)
	}
	// An hour and more of quiet: every key expires, and the comparisons
	// forget them.
	e.Tick(ev.Time.Add(2*time.Hour), emit)
	if st := e.Stats(); st.Keys != 0 || st.KeysExpired != 10 || len(e.timeouts) != 0 || len(e.cmp[0].llr) != 0 {
		t.Errorf("after an idle hour: %+v, %d timeouts, %d comparisons", st, len(e.timeouts), len(e.cmp[0].llr))
	}
}

// TestScoreWeights checks that the score weighs each state's mass by its
// score weight: M3's Questionable counts 0.6, Compromised fully.
func TestScoreWeights(t *testing.T) {
	m := mustLoad(t, "m3.yaml")[0]
	n, q, c := m.State("Nominal"), m.State("Questionable"), m.State("Compromised")
	cases := []struct {
		alpha [3]float64
		want  float64
	}{
		{[3]float64{1, 0, 0}, 0},
		{[3]float64{0, 1, 0}, 0.6},
		{[3]float64{0, 0, 1}, 1},
		{[3]float64{0.2, 0.5, 0.3}, 0.6},
	}
	for _, tc := range cases {
		alpha := make([]float64, 3)
		alpha[n], alpha[q], alpha[c] = tc.alpha[0], tc.alpha[1], tc.alpha[2]
		got, _ := score(m, &hyp{alpha: alpha})
		if math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("score of %v: %v, want %v", tc.alpha, got, tc.want)
		}
	}
}

// TestAddressTrackNamesItsHost: a track keyed by an address names, in its
// reports, the host id of the machine whose own observations carry that
// address (what a response on the host needs), never the sensor that
// reported the address as a destination.
func TestAddressTrackNamesItsHost(t *testing.T) {
	// Both kinds of observation bind to the track by their ip.
	ms, err := ParseModels("server.yaml", []byte(`id: server
key: ip
states:
  Nominal: {initial: 0.9}
  Compromised: {initial: 0.1, target: true}
transitions:
  Nominal: {Nominal: 0.9, Compromised: 0.1}
  Compromised: {Compromised: 1}
emissions:
  alert:
    match: {type: NIDS.ALERT}
    in: {Nominal: 0.01, Compromised: 0.5}
  spawn:
    match: {type: PROC.SPAWN}
    in: {Nominal: 0.5, Compromised: 0.5}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := New(ms, Options{})
	var got []event.Report
	handle := func(ev event.Event) {
		e.Handle(&ev, func(r Report) { got = append(got, r.Event()) })
	}
	alert := func(i int) event.Event {
		// As vigil ingest suricata makes it: the sensor as host, the
		// server as ip.
		return event.Event{ID: fmt.Sprintf("n%d", i), Time: t0.Add(time.Duration(i) * time.Second), Type: event.TypeNIDSAlert, Host: "ids-1", IP: "10.0.0.3", Source: "suricata",
			Attrs: map[string]any{"src": "203.0.113.9", "dst": "10.0.0.3", "sid": int64(2000001)}}
	}
	handle(alert(1))
	if len(got) == 0 || got[len(got)-1].IP != "10.0.0.3" || got[len(got)-1].Host != "" {
		t.Fatalf("after an alert only: %+v (want ip 10.0.0.3 and no host: the alert came from the sensor)", got)
	}
	for i := 2; i < 6; i++ {
		handle(event.Event{ID: fmt.Sprintf("h%d", i), Time: t0.Add(time.Duration(i) * time.Second), Type: event.TypeProcSpawn, Host: "host-3", IP: "10.0.0.3", Source: event.SourceAgent})
	}
	handle(alert(6))
	last := got[len(got)-1]
	if last.IP != "10.0.0.3" || last.Host != "host-3" {
		t.Errorf("after the host's own observations: ip %q host %q, want 10.0.0.3 and host-3", last.IP, last.Host)
	}
}
