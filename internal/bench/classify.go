package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/vigil-ids/vigil/internal/classifier"
	"github.com/vigil-ids/vigil/internal/engine/classify"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/learn"
)

// ClassifyTarget is the process classifier's target: seed 001's server,
// 20,000 hosts of 10 processes each, a sequence per process every 10 s,
// classified on one core.
const ClassifyTarget = 20_000.0

// Sizes of the lab the classify benchmark's synthetic data has.
const (
	ClassifyClasses  = 28
	ClassifySyscalls = 140
)

// ClassifyOptions configure `vigil bench classify`.
type ClassifyOptions struct {
	// Kinds are the model kinds measured (default every registered kind).
	Kinds []string
	// Sequences classified per kind (default 20,000).
	Sequences int
	// Epochs of training (default 2; forest: its own meaning, 0 default).
	Epochs int
	// SamplesPerClass are the training samples of each class (default 40).
	SamplesPerClass int
	// Processes followed at once while classifying (default 1,000).
	Processes int
	Seed      uint64
	Progress  io.Writer
}

// ClassifyKind is one kind's figures.
type ClassifyKind struct {
	Kind            string  `json:"kind"`
	TrainSamples    int     `json:"train_samples"`
	Epochs          int     `json:"epochs"`
	TrainSeconds    float64 `json:"train_s"`
	EpochSeconds    float64 `json:"train_s_per_epoch"`
	TrainWorkers    int     `json:"train_workers"`
	Sequences       uint64  `json:"sequences"`
	Seconds         float64 `json:"classify_s"`
	Rate            float64 `json:"sequences_per_s"`
	CPUSeconds      float64 `json:"classify_cpu_s"`
	CPURate         float64 `json:"sequences_per_cpu_s"`
	P50Micros       float64 `json:"p50_us"`
	P99Micros       float64 `json:"p99_us"`
	RatioToTarget   float64 `json:"ratio_to_target"`
	HeldOutAccuracy float64 `json:"held_out_accuracy"`
}

// ClassifyResult is `vigil bench classify`'s result.
type ClassifyResult struct {
	Classes    int            `json:"classes"`
	Features   int            `json:"features"`
	Stride     int            `json:"stride"`
	GOMAXPROCS int            `json:"gomaxprocs_classify"`
	CPUs       int            `json:"cpus"`
	Target     float64        `json:"target_sequences_per_s"`
	Kinds      []ClassifyKind `json:"kinds"`
}

// classBehaviour is the share of each system call in a synthetic class's
// calls: a dozen calls of its own, drawn from the seed.
type classBehaviour struct {
	nrs    []uint16
	shares []float64
	rate   float64 // calls per vector
}

func classBehaviours(rng *rand.Rand) []classBehaviour {
	out := make([]classBehaviour, ClassifyClasses)
	for c := range out {
		b := &out[c]
		perm := rng.Perm(ClassifySyscalls)[:12]
		var sum float64
		for _, nr := range perm {
			s := rng.ExpFloat64()
			b.nrs = append(b.nrs, uint16(nr))
			b.shares = append(b.shares, s)
			sum += s
		}
		for i := range b.shares {
			b.shares[i] /= sum
		}
		b.rate = 100 + 2000*rng.Float64()
	}
	return out
}

// classVector draws one vector of behaviour b: its calls around their
// shares, and a few calls of any number (so that every number is seen).
func classVector(rng *rand.Rand, b *classBehaviour, host string, pid int32, name string, start time.Time) event.CountVector {
	v := event.CountVector{Host: host, PID: pid, Process: name, Start: start, Interval: time.Second}
	counts := map[uint16]uint64{}
	for i, nr := range b.nrs {
		if n := uint64(b.shares[i]*b.rate*(0.6+0.8*rng.Float64()) + 0.5); n > 0 {
			counts[nr] += n
		}
	}
	for range 3 {
		counts[uint16(rng.IntN(ClassifySyscalls))]++
	}
	for nr, n := range counts {
		v.Counts = append(v.Counts, event.SyscallCount{Nr: nr, Count: n})
	}
	slices.SortFunc(v.Counts, func(a, b event.SyscallCount) int { return int(a.Nr) - int(b.Nr) })
	return v
}

// ClassifyRecordings makes a synthetic lab: ClassifyClasses classes of
// process on three hosts, samples samples of SeqLen vectors of each class
// in all.
func ClassifyRecordings(seed uint64, samples int) []learn.Recording {
	rng := rand.New(rand.NewPCG(seed, 0xc1a551f7))
	bs := classBehaviours(rng)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	hosts := []string{"lab1", "lab2", "lab3"}
	perHost := (samples*learn.SeqLen + len(hosts) - 1) / len(hosts)
	var recs []learn.Recording
	for h, host := range hosts {
		r := learn.Recording{Path: host + ".jsonl", Group: host}
		for c := range bs {
			name := fmt.Sprintf("proc%02d", c)
			pid := int32(1000 + 100*h + c)
			for i := range perHost {
				r.Vectors = append(r.Vectors, classVector(rng, &bs[c], host, pid, name, t0.Add(time.Duration(i)*time.Second)))
			}
		}
		recs = append(recs, r)
	}
	return recs
}

func (o *ClassifyOptions) fill() error {
	if len(o.Kinds) == 0 {
		o.Kinds = learn.Kinds()
	}
	for _, k := range o.Kinds {
		if _, ok := learn.Lookup(k); !ok {
			return fmt.Errorf("unknown model kind %q: want one of %s", k, strings.Join(learn.Kinds(), ", "))
		}
	}
	if o.Sequences == 0 {
		o.Sequences = 20_000
	}
	if o.Epochs == 0 {
		o.Epochs = 2
	}
	if o.SamplesPerClass == 0 {
		o.SamplesPerClass = 40
	}
	if o.Processes == 0 {
		o.Processes = 1000
	}
	if o.Sequences < 1 || o.Epochs < 1 || o.SamplesPerClass < learn.DefaultMinSamples*5/4 || o.Processes < 1 {
		return fmt.Errorf("sequences, epochs and processes must be at least 1, samples per class at least %d", learn.DefaultMinSamples*5/4)
	}
	return nil
}

// RunClassify trains each kind on a synthetic lab (on every core), then
// feeds count vectors of o.Processes processes through the classify
// engine's Observe at stride 10 on one core (GOMAXPROCS 1, the goroutine
// locked to its thread) until o.Sequences sequences are classified, timing
// each call that completes a sequence and counting the processor time the
// process used meanwhile. The clock starts when the processes' first
// sequences are due (their first SeqLen-1 vectors a warm-up).
func RunClassify(ctx context.Context, o ClassifyOptions) (ClassifyResult, error) {
	if err := o.fill(); err != nil {
		return ClassifyResult{}, err
	}
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	p, err := classifier.PrepareRecordings(ClassifyRecordings(o.Seed, o.SamplesPerClass), ClassifyClasses, 0)
	if err != nil {
		return ClassifyResult{}, err
	}
	p.Train, p.Test = learn.SplitByTime(p.All, classifier.DefaultTrainFraction)
	res := ClassifyResult{Classes: len(p.All.Classes), Features: len(p.Features) + 1, Stride: learn.SeqLen,
		GOMAXPROCS: 1, CPUs: runtime.NumCPU(), Target: ClassifyTarget}
	fmt.Fprintf(progress, "synthetic lab: %d classes, %d features, %d samples to train, %d to test\n",
		res.Classes, res.Features, len(p.Train.Samples), len(p.Test.Samples))
	for _, kind := range o.Kinds {
		k, err := classifyKind(ctx, o, p, kind)
		if err != nil {
			return res, fmt.Errorf("%s: %w", kind, err)
		}
		fmt.Fprintf(progress, "%s: trained in %.1f s (%d epochs), %.0f sequences/s on one core (%.0f per second of processor time), p50 %.0f us, p99 %.0f us\n",
			kind, k.TrainSeconds, k.Epochs, k.Rate, k.CPURate, k.P50Micros, k.P99Micros)
		res.Kinds = append(res.Kinds, k)
	}
	return res, nil
}

func classifyKind(ctx context.Context, o ClassifyOptions, p *classifier.Prepared, kind string) (ClassifyKind, error) {
	kd, _ := learn.Lookup(kind)
	workers := runtime.GOMAXPROCS(0)
	epochs := 0
	start := time.Now()
	m, err := kd.Train(ctx, p.Train, learn.Options{Seed: int64(o.Seed), Epochs: o.Epochs, Workers: workers,
		Progress: func(pr learn.Progress) { epochs = max(epochs, pr.Epochs) }})
	if err != nil {
		return ClassifyKind{}, err
	}
	took := time.Since(start)
	epochs = max(epochs, 1)
	k := ClassifyKind{Kind: kind, TrainSamples: len(p.Train.Samples), Epochs: epochs, TrainSeconds: took.Seconds(),
		EpochSeconds: took.Seconds() / float64(epochs), TrainWorkers: workers,
		HeldOutAccuracy: learn.Evaluate(m, p.Test, workers).Accuracy}
	f := &learn.File{Kind: kind, Classes: p.All.Classes, Features: p.Features, SeqLen: learn.SeqLen, Interval: p.Interval, Model: m}
	e, err := classify.New(f, classify.Options{Stride: learn.SeqLen, MaxProcesses: o.Processes + 1})
	if err != nil {
		return k, err
	}
	// Each process cycles through its class's vectors of the lab.
	pool := make([][]event.CountVector, len(p.All.Classes))
	for _, r := range p.Recordings {
		for _, v := range r.Vectors {
			for c, name := range p.All.Classes {
				if name == v.Process && len(pool[c]) < 200 {
					pool[c] = append(pool[c], v)
				}
			}
		}
	}
	for c := range pool {
		if len(pool[c]) == 0 {
			return k, errors.New("a class has no vector")
		}
	}
	type out struct {
		lat  []time.Duration
		secs float64
		cpu  time.Duration
		seqs uint64
	}
	done := make(chan out)
	prev := runtime.GOMAXPROCS(1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		lat := make([]time.Duration, 0, o.Sequences)
		emit := func(event.Report) {}
		t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
		var ru0, ru1 syscall.Rusage
		var begin time.Time
		var seqs uint64
	loop:
		for step := 0; ; step++ {
			if ctx.Err() != nil {
				break
			}
			if step == learn.SeqLen-1 {
				// The engine's steady state from here: every process has
				// its vectors but one and the next completes a sequence.
				// The warm-up (the processes' rings made) and training's
				// garbage (collected now) are not timed: they would count
				// against the first kind measured.
				runtime.GC()
				syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
				begin = time.Now()
			}
			for proc := range o.Processes {
				c := proc % len(pool)
				v := pool[c][(step+proc)%len(pool[c])]
				v.Host, v.PID, v.Start = "bench", int32(proc+1), t0.Add(time.Duration(step)*time.Second)
				s := time.Now()
				e.Observe(&v, emit)
				if n := e.Stats().Sequences; n > seqs {
					lat = append(lat, time.Since(s))
					seqs = n
					if int(seqs) >= o.Sequences {
						break loop
					}
				}
			}
		}
		secs := time.Since(begin).Seconds()
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
		done <- out{lat: lat, secs: secs, cpu: rusageCPU(&ru1) - rusageCPU(&ru0), seqs: seqs}
	}()
	r := <-done
	runtime.GOMAXPROCS(prev)
	if ctx.Err() != nil {
		return k, ctx.Err()
	}
	slices.Sort(r.lat)
	k.Sequences, k.Seconds = r.seqs, r.secs
	k.Rate = float64(r.seqs) / r.secs
	k.CPUSeconds = r.cpu.Seconds()
	if r.cpu > 0 {
		k.CPURate = float64(r.seqs) / r.cpu.Seconds()
	}
	k.RatioToTarget = k.Rate / ClassifyTarget
	k.P50Micros = float64(r.lat[len(r.lat)/2].Nanoseconds()) / 1e3
	k.P99Micros = float64(r.lat[len(r.lat)*99/100].Nanoseconds()) / 1e3
	return k, nil
}

// WriteSummary writes the table of kinds beside the target.
func (r ClassifyResult) WriteSummary(w io.Writer) error {
	fmt.Fprintf(w, "%d classes, %d features, stride %d; classify on one core (GOMAXPROCS %d, one locked goroutine), train on %d CPUs\n",
		r.Classes, r.Features, r.Stride, r.GOMAXPROCS, r.CPUs)
	fmt.Fprintf(w, "target: %.0f sequences/s on one core (20,000 hosts x 10 processes, a sequence every 10 s)\n", r.Target)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\tsequences/s\ttarget\tratio\tper cpu-s\tp50 us\tp99 us\ttrain s/epoch\tepochs\theld-out acc\t")
	for _, k := range r.Kinds {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2f\t%.0f\t%.1f\t%.1f\t%.2f\t%d\t%.3f\t\n", k.Kind, k.Rate, r.Target, k.RatioToTarget, k.CPURate, k.P50Micros, k.P99Micros, k.EpochSeconds, k.Epochs, k.HeldOutAccuracy)
	}
	return tw.Flush()
}
