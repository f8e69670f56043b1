package population

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// benchPopulation is 1,000 web hosts of 20 observation types each.
func benchPopulation(b *testing.B) (*Population, []*event.Event) {
	c := &Config{Field: "type", HostField: "host", HalfLife: 10 * time.Minute, Evaluate: time.Minute, Distance: Hellinger,
		Threshold: 0.3, Red: 0.6, Spread: 3, MinPeers: 3, MinEvents: 50, Top: 3, Suppress: time.Minute,
		MaxHosts: 10_000, MaxTypes: 64, Expire: 24 * time.Hour, Classes: []Class{{Name: "web", Hosts: []string{"web-*"}}}}
	p := New(c)
	rng := rand.New(rand.NewPCG(1, 2))
	evs := make([]*event.Event, 100_000)
	for i := range evs {
		evs[i] = &event.Event{ID: fmt.Sprint(i), Time: t0.Add(time.Duration(i) * time.Millisecond), Type: fmt.Sprintf("T%02d", rng.IntN(20)),
			Host: fmt.Sprintf("web-%04d", rng.IntN(1000))}
	}
	for _, ev := range evs {
		p.Observe(ev)
	}
	return p, evs
}

// BenchmarkObserve is the cost of taking one event into its host's mix.
func BenchmarkObserve(b *testing.B) {
	p, evs := benchPopulation(b)
	b.ResetTimer()
	for i := range b.N {
		p.Observe(evs[i%len(evs)])
	}
}

// BenchmarkEvaluate is one evaluation of a class of 1,000 hosts.
func BenchmarkEvaluate(b *testing.B) {
	p, evs := benchPopulation(b)
	now := evs[len(evs)-1].Time
	b.ResetTimer()
	for range b.N {
		if len(p.Evaluate(now, nil)) != 1000 {
			b.Fatal("not every host judged")
		}
	}
}
