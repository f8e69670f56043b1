package bench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/vigil-ids/vigil/internal/engine/profile"
	"github.com/vigil-ids/vigil/internal/event"
)

// ProfileOptions configure `vigil bench profile`.
type ProfileOptions struct {
	// Subjects profiled (default 10,000), Events measured (default
	// 2,000,000).
	Subjects, Events int
	Seed             uint64
	Progress         io.Writer
}

// ProfileResult is the profiler's cost.
type ProfileResult struct {
	Subjects int `json:"subjects"`
	Measures int `json:"measures"`
	Events   int `json:"events"`
	// Rate is events per second on one core, learning and scoring every
	// event; ExtractRate the same loop reading the twelve fields only (the
	// baseline), and Ratio the one over the other.
	Rate        float64 `json:"events_per_s"`
	ExtractRate float64 `json:"extract_events_per_s"`
	Ratio       float64 `json:"ratio_to_extract"`
	NsPerEvent  float64 `json:"ns_per_event"`
	// BytesPerSubject is the profiler's heap over its subjects.
	BytesPerSubject float64 `json:"bytes_per_subject"`
	Scored          int64   `json:"scored"`
}

// benchClass has the twelve measures of the benchmark: five categorical,
// five continuous, an intensity and the event distribution.
func benchClass() *profile.Class {
	c := &profile.Class{Name: "bench", Subject: "src", ShortHalfLife: 50, LongHalfLife: 30 * 24 * time.Hour,
		Update: 24 * time.Hour, UpdateAt: 3 * time.Hour, Rare: 0.01, Alert: 0.99, Red: 0.999, MinHistory: 100}
	for _, f := range []string{"service", "flag", "proto", "command", "status"} {
		c.Measures = append(c.Measures, profile.Measure{Name: f, Kind: profile.Categorical, Field: f})
	}
	edges := []float64{1}
	for k := 1; k <= 32; k++ {
		edges = append(edges, float64(uint64(1)<<k))
	}
	for _, f := range []string{"bytes", "packets", "duration_ms", "errors", "size"} {
		c.Measures = append(c.Measures, profile.Measure{Name: f, Kind: profile.Continuous, Field: f, Edges: edges})
	}
	c.Measures = append(c.Measures, profile.Measure{Name: "rate", Kind: profile.Intensity, Scale: time.Minute},
		profile.Measure{Name: "touched", Kind: profile.Distribution})
	return c
}

// RunProfile measures the profiler with o.Subjects subjects of twelve
// measures each: a warm-up gives every subject events and a long-term
// profile, then o.Events events are learnt and scored on one core.
func RunProfile(o ProfileOptions) (ProfileResult, error) {
	if o.Subjects <= 0 {
		o.Subjects = 10_000
	}
	if o.Events <= 0 {
		o.Events = 2_000_000
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	r := rand.New(rand.NewPCG(o.Seed, uint64(o.Subjects)))
	services := []string{"http", "https", "smtp", "dns", "ssh", "ftp", "imap", "ntp"}
	flags := []string{"SF", "S0", "REJ", "RSTO"}
	commands := []string{"GET", "POST", "HEAD", "RETR", "STOR", "USER", "PASS", "QUIT", "LIST", "MAIL"}
	status := []string{"200", "301", "404", "500", "226", "250", "530"}
	subjects := make([]string, o.Subjects)
	for i := range subjects {
		subjects[i] = fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
	}
	t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	mk := func() event.Event {
		return event.Event{Type: "NET.CONN", Attrs: map[string]any{
			"src": subjects[r.IntN(len(subjects))], "service": services[r.IntN(len(services))], "flag": flags[r.IntN(len(flags))],
			"proto": []string{"tcp", "udp"}[r.IntN(2)], "command": commands[r.IntN(len(commands))], "status": status[r.IntN(len(status))],
			"bytes": float64(r.IntN(1 << 16)), "packets": float64(r.IntN(200)), "duration_ms": float64(r.IntN(5000)),
			"errors": float64(r.IntN(3)), "size": float64(r.IntN(1 << 20)),
		}}
	}
	pool := make([]event.Event, 1<<16)
	for i := range pool {
		pool[i] = mk()
	}
	c := benchClass()
	p := profile.New([]*profile.Class{c}, profile.Options{MaxSubjects: 2 * o.Subjects})
	fmt.Fprintf(o.Progress, "%d subjects, %d measures each; warming up\n", o.Subjects, len(c.Measures))
	// Warm-up: every subject gets events and, at the update, a long-term
	// profile; a second round builds its Q and T2 histories.
	step := time.Second / 20_000
	warm := 40 * o.Subjects
	for i := range warm {
		ev := pool[i%len(pool)]
		ev.Time = t0.Add(time.Duration(i) * step)
		p.Observe(&ev, true)
	}
	p.Fold()
	for i := range warm {
		ev := pool[i%len(pool)]
		ev.Time = t0.Add(time.Duration(warm+i) * step)
		p.Observe(&ev, true)
	}
	base := t0.Add(time.Duration(2*warm) * step)
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	// The baseline: the same loop reading the fields only.
	start := time.Now()
	var sink float64
	for i := range o.Events {
		ev := &pool[i%len(pool)]
		for _, m := range c.Measures {
			if v, ok := ev.Num(m.Field); ok {
				sink += v
			} else {
				sink += float64(len(ev.Str(m.Field)))
			}
		}
	}
	extract := time.Since(start)
	before := p.Stats().Scored
	start = time.Now()
	for i := range o.Events {
		ev := pool[i%len(pool)]
		ev.Time = base.Add(time.Duration(i) * step)
		p.Observe(&ev, true)
	}
	el := time.Since(start)
	runtime.KeepAlive(sink)
	res := ProfileResult{Subjects: int(p.Stats().Subjects), Measures: len(c.Measures), Events: o.Events,
		Rate: float64(o.Events) / el.Seconds(), ExtractRate: float64(o.Events) / extract.Seconds(),
		NsPerEvent: float64(el.Nanoseconds()) / float64(o.Events), Scored: p.Stats().Scored - before}
	res.Ratio = res.Rate / res.ExtractRate
	pool = nil
	with := heapAlloc()
	runtime.KeepAlive(p)
	p = nil
	without := heapAlloc()
	if with > without {
		res.BytesPerSubject = float64(with-without) / float64(res.Subjects)
	}
	fmt.Fprintf(o.Progress, "profiler: %.0f events/s (%.0f ns/event), %d scored; reading the fields only: %.0f events/s (ratio %.2f); %.0f bytes per subject\n",
		res.Rate, res.NsPerEvent, res.Scored, res.ExtractRate, res.Ratio, res.BytesPerSubject)
	return res, nil
}
