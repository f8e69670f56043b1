package population

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// TestDistances: every distance is 0 for the same distribution, 1 for
// disjoint ones, symmetric, and grows as distributions part.
func TestDistances(t *testing.T) {
	p := []float64{0.5, 0.5, 0, 0}
	q := []float64{0, 0, 0.5, 0.5}
	near := []float64{0.45, 0.5, 0.05, 0}
	far := []float64{0.2, 0.3, 0.3, 0.2}
	for _, k := range []string{Hellinger, JS, ChiSquare} {
		if d := Distance(k, p, p); d > 1e-12 {
			t.Errorf("%s(p, p) = %v, want 0", k, d)
		}
		if d := Distance(k, p, q); math.Abs(d-1) > 1e-12 {
			t.Errorf("%s of disjoint distributions = %v, want 1", k, d)
		}
		if a, b := Distance(k, p, far), Distance(k, far, p); math.Abs(a-b) > 1e-12 {
			t.Errorf("%s not symmetric: %v, %v", k, a, b)
		}
		if a, b := Distance(k, p, near), Distance(k, p, far); !(a < b) {
			t.Errorf("%s: near %v not below far %v", k, a, b)
		}
	}
}

func TestMedianMAD(t *testing.T) {
	med, mad := medianMAD([]float64{1, 2, 3, 4, 100})
	if med != 3 || mad != 1 {
		t.Errorf("median %v, MAD %v: want 3 and 1", med, mad)
	}
	med, _ = medianMAD([]float64{4, 1, 3, 2})
	if med != 2.5 {
		t.Errorf("median of four %v", med)
	}
}

// TestPopulationOfReports: with field model over REPORT events, hosts are
// compared by the mix of reports about them; the host whose reports are
// of another model departs.
func TestPopulationOfReports(t *testing.T) {
	c := &Config{Field: "model", HostField: "host", HalfLife: time.Hour, Distance: Hellinger, Threshold: 0.3, Red: 0.6,
		Spread: 3, MinPeers: 3, MinEvents: 10, Top: 2, MaxHosts: 100, MaxTypes: 16, Expire: time.Hour,
		Classes: []Class{{Name: "web", Hosts: []string{"web-*"}}}}
	p := New(c)
	for i := range 40 {
		for h := 1; h <= 5; h++ {
			model := "sustained-cpu-burn"
			if h == 2 && i%2 == 0 {
				model = "shell-connects-out"
			}
			r := event.Report{Time: t0.Add(time.Duration(i) * time.Second), Monitor: "svc", Model: model, Host: fmt.Sprintf("web-%d", h)}
			ev := r.Event()
			p.Observe(&ev)
		}
	}
	var departs []string
	for _, f := range p.Evaluate(t0.Add(time.Minute), nil) {
		if f.Departs {
			departs = append(departs, f.Host)
			if f.Top[0].Value != "shell-connects-out" {
				t.Errorf("most different: %+v", f.Top)
			}
		}
	}
	if len(departs) != 1 || departs[0] != "web-2" {
		t.Errorf("departing: %v, want web-2", departs)
	}
}
