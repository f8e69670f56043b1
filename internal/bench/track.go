package bench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/vigil-ids/vigil/internal/engine/track"
	"github.com/vigil-ids/vigil/internal/event"
)

// TrackOptions configure `vigil bench track`.
type TrackOptions struct {
	// Models are model files (default models/m3.yaml and m4.yaml).
	Models []string
	// Keys are the sizes measured (default 2,000, 20,000, 200,000).
	Keys []int
	// Events per size (default 1,000,000).
	Events int
	// Seed of the event stream.
	Seed     uint64
	Progress io.Writer
}

// TrackSize is one size's figures.
type TrackSize struct {
	Keys            int     `json:"keys"`
	Events          int     `json:"events"`
	Seconds         float64 `json:"seconds"`
	Rate            float64 `json:"events_per_s"`
	NsPerEvent      float64 `json:"ns_per_event"`
	Pairs           int     `json:"key_model_pairs"`
	BytesPerPair    float64 `json:"bytes_per_key_model"`
	Reports         uint64  `json:"reports"`
	Observations    uint64  `json:"observations"`
	HypothesesKept  float64 `json:"hypotheses_per_pair"`
	RetainedHeapMiB float64 `json:"retained_heap_mib"`
}

// TrackResult is the whole run.
type TrackResult struct {
	Models []string    `json:"models"`
	Sizes  []TrackSize `json:"sizes"`
	// Flatness is the cost per event at the largest size over that at
	// the smallest.
	Flatness float64 `json:"flatness"`
}

// trackTypes is the mix of a DMZ's observations: host sensor types of
// Table 1 (steady-state most often), NIDS alerts, and types the models do
// not follow.
var trackTypes = []struct {
	typ    string
	weight int
}{
	{event.TypeSysCPU, 20}, {event.TypeSysProcsGrowth, 10}, {event.TypeSysDiskIO, 8}, {event.TypeProcCPU, 10},
	{event.TypeProcMem, 6}, {event.TypeSysMem, 4}, {event.TypeProcSpawn, 8}, {event.TypeNIDSAlert, 14},
	{event.TypeSysNetRX, 10}, {event.TypeProcTerm, 10},
}

// RunTrack measures the track engine over a mixed stream at each size.
func RunTrack(o TrackOptions) (TrackResult, error) {
	if len(o.Models) == 0 {
		o.Models = []string{"models/m3.yaml", "models/m4.yaml"}
	}
	if len(o.Keys) == 0 {
		o.Keys = []int{2_000, 20_000, 200_000}
	}
	if o.Events <= 0 {
		o.Events = 1_000_000
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	models, err := track.LoadModels(o.Models)
	if err != nil {
		return TrackResult{}, err
	}
	res := TrackResult{}
	for _, m := range models {
		res.Models = append(res.Models, m.ID)
	}
	fmt.Fprintf(o.Progress, "models %v; %d events a size, one core\n", res.Models, o.Events)
	fmt.Fprintf(o.Progress, "%8s %10s %8s %12s %10s %10s %14s %10s\n", "keys", "events", "s", "events/s", "ns/event", "pairs", "bytes/pair", "reports")
	for _, keys := range o.Keys {
		sz := runTrackSize(models, keys, o.Events, o.Seed)
		res.Sizes = append(res.Sizes, sz)
		fmt.Fprintf(o.Progress, "%8d %10d %8.2f %12.0f %10.0f %10d %14.0f %10d\n", sz.Keys, sz.Events, sz.Seconds, sz.Rate, sz.NsPerEvent, sz.Pairs, sz.BytesPerPair, sz.Reports)
	}
	if n := len(res.Sizes); n > 1 {
		res.Flatness = res.Sizes[n-1].NsPerEvent / res.Sizes[0].NsPerEvent
	}
	return res, nil
}

func runTrackSize(models []*track.Model, keys, n int, seed uint64) TrackSize {
	r := rand.New(rand.NewPCG(seed, uint64(keys)))
	var total int
	for _, t := range trackTypes {
		total += t.weight
	}
	// The events are made beforehand (their making is not measured): a
	// pool cycled round robin, large enough that every key appears in it
	// several times.
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	step := time.Second / 20_000 // 20,000 events a second of event time
	mk := func(i int) event.Event {
		k := r.IntN(keys)
		ip := fmt.Sprintf("10.%d.%d.%d", k>>16&255, k>>8&255, k&255)
		x := r.IntN(total)
		typ := trackTypes[0].typ
		for _, t := range trackTypes {
			if x < t.weight {
				typ = t.typ
				break
			}
			x -= t.weight
		}
		ev := event.Event{ID: fmt.Sprintf("b%08d", i), Time: t0.Add(time.Duration(i) * step), Type: typ, IP: ip, Host: "h" + ip}
		if typ == event.TypeNIDSAlert {
			ev.Attrs = map[string]any{"src": "203.0.113.9", "dst": ip, "sid": int64(2010935)}
		}
		return ev
	}
	pool := make([]event.Event, min(n, max(1<<16, 4*keys)))
	for i := range pool {
		pool[i] = mk(i)
	}
	e := track.New(models, track.Options{})
	var reports uint64
	emit := func(track.Report) { reports++ }
	// Warm the keys up (every key seen) before measuring.
	for i := range min(n, 4*keys) {
		ev := pool[i%len(pool)]
		ev.Time = t0.Add(time.Duration(i) * step)
		e.Handle(&ev, emit)
	}
	prev := runtime.GOMAXPROCS(1)
	start := time.Now()
	next := time.Time{}
	off := min(n, 4*keys)
	for i := range n {
		ev := pool[i%len(pool)]
		ev.Time = t0.Add(time.Duration(off+i) * step)
		if ev.Time.After(next) {
			e.Tick(ev.Time, emit)
			next = ev.Time.Add(time.Second)
		}
		e.Handle(&ev, emit)
	}
	el := time.Since(start)
	runtime.GOMAXPROCS(prev)
	after := heapAlloc()
	st := e.Stats()
	sz := TrackSize{Keys: keys, Events: n, Seconds: el.Seconds(), Rate: float64(n) / el.Seconds(), NsPerEvent: float64(el.Nanoseconds()) / float64(n),
		Pairs: st.Keys, Reports: reports, Observations: st.Observations}
	// The engine's whole heap (measured without it, then with it) over
	// its (key, model) pairs.
	runtime.KeepAlive(pool)
	pool = nil
	withEngine := heapAlloc()
	runtime.KeepAlive(e)
	e = nil
	without := heapAlloc()
	if withEngine > without && st.Keys > 0 {
		sz.BytesPerPair = float64(withEngine-without) / float64(st.Keys)
	}
	sz.RetainedHeapMiB = mb(after)
	return sz
}
