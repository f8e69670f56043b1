package learn

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/syscalls"
)

// BuildOptions say how Build cuts recordings into samples.
type BuildOptions struct {
	SeqLen int // vectors in a sample (default SeqLen)
	// Stride is the number of vectors between the starts of consecutive
	// samples of one process (default SeqLen: samples do not overlap).
	Stride int
	// MinSamples leaves out classes with fewer samples (default 20; set
	// Classes to keep every class).
	MinSamples int
	// MaxClasses keeps the most represented classes (0 = all); seed 001
	// kept 28. Non-grata classes are kept beside them whatever their
	// rank.
	MaxClasses int
	// Classes, when set, are exactly the classes of the data, in this
	// order (a model's); vectors of other processes are left out (or, when
	// OtherClass is one of them, labelled it) and MinSamples and
	// MaxClasses do not apply.
	Classes []string
	// Other labels the samples of the ordinary processes that MinSamples
	// and MaxClasses leave out OtherClass, one class more, instead of
	// leaving them out: a model then has an answer for a process unlike
	// every class it names (an open set), rather than the nearest class.
	Other bool
	// Features are the system call numbers a sample's vectors count one by
	// one (sorted; see SelectFeatures); every other call is counted in the
	// last entry.
	Features []uint16
	// Interval is the vectors' interval (default 1 s); vectors of another
	// interval are an error. A gap of more than 1.5 intervals between a
	// process's vectors means it made no call for a while: up to SeqLen-1
	// missing intervals are filled in with zero vectors, a longer gap ends
	// the process's run of vectors (no sample spans it). Two vectors less
	// than half an interval apart are added into one.
	Interval time.Duration
}

// OtherClass is the class of every ordinary process a model does not name
// (BuildOptions.Other). It is longer than a process name can be (15
// bytes), so no process presents it.
const OtherClass = "(other processes)"

// DefaultMinSamples is BuildOptions.MinSamples' default.
const DefaultMinSamples = 20

func (o *BuildOptions) fill() error {
	if o.SeqLen == 0 {
		o.SeqLen = SeqLen
	}
	if o.Stride == 0 {
		o.Stride = o.SeqLen
	}
	if o.MinSamples == 0 {
		o.MinSamples = DefaultMinSamples
	}
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	switch {
	case o.SeqLen < 0:
		return fmt.Errorf("build: sequence length %d is negative", o.SeqLen)
	case o.Stride < 0:
		return fmt.Errorf("build: stride %d is negative", o.Stride)
	case o.MinSamples < 0:
		return fmt.Errorf("build: minimum samples %d is negative", o.MinSamples)
	case o.MaxClasses < 0:
		return fmt.Errorf("build: maximum classes %d is negative", o.MaxClasses)
	case o.Interval < 0:
		return fmt.Errorf("build: interval %v is negative", o.Interval)
	}
	if err := checkFeatures(o.Features); err != nil {
		return fmt.Errorf("build: %w (see SelectFeatures)", err)
	}
	if err := checkClasses(o.Classes); o.Classes != nil && err != nil {
		return fmt.Errorf("build: %w", err)
	}
	return nil
}

// Build cuts recs into samples: per process (host, pid and name, see
// syscalls.Sequences) runs of consecutive vectors (BuildOptions.Interval
// says how gaps are handled), and in each run a sample of SeqLen vectors
// every Stride vectors. A sample's label is its process's name, or its
// recording's Label; its group is its recording's Group, or its vectors'
// host. Classes come sorted by name (or in BuildOptions.Classes' order);
// samples sorted by class, group and start. The same recordings give the
// same data.
func Build(recs []Recording, o BuildOptions) (*Data, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	type labelled struct {
		label string
		s     Sample
	}
	var all []labelled
	for _, r := range recs {
		for _, seq := range syscalls.Sequences(r.Vectors) {
			label, group := r.Label, r.Group
			if label == "" {
				label = seq.Label
			}
			if group == "" {
				group = seq.Host
			}
			runs, err := runsOf(seq.Vectors, &o)
			if err != nil {
				return nil, fmt.Errorf("build: recording %q: host %q pid %d process %q: %w", r.Path, seq.Host, seq.PID, seq.Label, err)
			}
			for _, run := range runs {
				for i := 0; i+o.SeqLen <= len(run.rows); i += o.Stride {
					x := make([][]float64, o.SeqLen)
					for j := range x {
						if o.Stride >= o.SeqLen {
							x[j] = run.rows[i+j]
						} else {
							x[j] = slices.Clone(run.rows[i+j])
						}
					}
					all = append(all, labelled{label, Sample{X: x, Group: group, Start: run.start.Add(time.Duration(i) * o.Interval)}})
				}
			}
		}
	}

	count := map[string]int{}
	for _, l := range all {
		count[l.label]++
	}
	classes := o.Classes
	if classes == nil {
		for c, n := range count {
			if n >= o.MinSamples {
				classes = append(classes, c)
			}
		}
		if len(classes) == 0 {
			best, most := "", 0
			for c, n := range count {
				if n > most || (n == most && c < best) {
					best, most = c, n
				}
			}
			if most == 0 {
				return nil, fmt.Errorf("build: no sample: no process has %d vectors in a run", o.SeqLen)
			}
			return nil, fmt.Errorf("build: no class has %d samples (the most: %q with %d)", o.MinSamples, best, most)
		}
		slices.SortFunc(classes, func(a, b string) int { return cmp.Or(cmp.Compare(count[b], count[a]), cmp.Compare(a, b)) })
		if o.MaxClasses > 0 {
			// Known-bad tools are what a model is for: every non-grata
			// class with enough samples is kept beside the MaxClasses
			// most represented others.
			var kept []string
			ordinary := 0
			for _, c := range classes {
				switch {
				case strings.HasPrefix(c, NonGrataPrefix):
					kept = append(kept, c)
				case ordinary < o.MaxClasses:
					kept = append(kept, c)
					ordinary++
				}
			}
			classes = kept
		}
		slices.Sort(classes)
	}
	if o.Classes == nil && o.Other {
		kept := map[string]bool{}
		for _, c := range classes {
			kept[c] = true
		}
		rest := 0
		for c, n := range count {
			if !kept[c] && !strings.HasPrefix(c, NonGrataPrefix) {
				rest += n
			}
		}
		if rest >= o.MinSamples {
			classes = append(classes, OtherClass)
			slices.Sort(classes)
		}
	}
	index := make(map[string]int, len(classes))
	for i, c := range classes {
		index[c] = i
	}
	other, hasOther := index[OtherClass]
	d := &Data{Classes: slices.Clone(classes), Dim: len(o.Features) + 1}
	for _, l := range all {
		y, ok := index[l.label]
		if !ok && hasOther && l.label != OtherClass && !strings.HasPrefix(l.label, NonGrataPrefix) {
			y, ok = other, true
		}
		if ok {
			l.s.Y = y
			d.Samples = append(d.Samples, l.s)
		}
	}
	if len(d.Samples) == 0 {
		return nil, fmt.Errorf("build: no sample of the classes %q", classes)
	}
	slices.SortStableFunc(d.Samples, func(a, b Sample) int {
		return cmp.Or(cmp.Compare(a.Y, b.Y), cmp.Compare(a.Group, b.Group), a.Start.Compare(b.Start))
	})
	return d, nil
}

type run struct {
	start time.Time
	rows  [][]float64
}

// runsOf cuts one process's vectors (in time order) into runs of
// consecutive intervals, each vector made dense.
func runsOf(vs []event.CountVector, o *BuildOptions) ([]run, error) {
	var out []run
	var cur run
	var last time.Time
	for i := range vs {
		v := &vs[i]
		if v.Interval != o.Interval {
			return nil, fmt.Errorf("vector at %s has an interval of %v, want %v", v.Start.UTC().Format(time.RFC3339Nano), v.Interval, o.Interval)
		}
		x := Dense(v, o.Features)
		if cur.rows == nil {
			cur = run{start: v.Start, rows: [][]float64{x}}
			last = v.Start
			continue
		}
		gap := v.Start.Sub(last)
		switch {
		case gap < o.Interval/2:
			prev := cur.rows[len(cur.rows)-1]
			for j := range prev {
				prev[j] += x[j]
			}
			continue
		case gap <= o.Interval*3/2:
		default:
			missing := int((gap+o.Interval/2)/o.Interval) - 1
			if missing > o.SeqLen-1 {
				out = append(out, cur)
				cur = run{start: v.Start, rows: [][]float64{x}}
				last = v.Start
				continue
			}
			for k := 0; k < missing; k++ {
				cur.rows = append(cur.rows, make([]float64, len(x)))
			}
		}
		cur.rows = append(cur.rows, x)
		last = v.Start
	}
	if cur.rows != nil {
		out = append(out, cur)
	}
	return out, nil
}

// checkClasses says what is wrong with a class list: empty, an empty,
// overlong or non-text name, or a name twice.
func checkClasses(cs []string) error {
	if len(cs) == 0 {
		return fmt.Errorf("no classes")
	}
	if len(cs) > ClassLimit {
		return fmt.Errorf("%d classes, over the limit of %d", len(cs), ClassLimit)
	}
	seen := make(map[string]bool, len(cs))
	for i, c := range cs {
		if c == "" {
			return fmt.Errorf("class %d: empty name", i)
		}
		if err := checkText(c); err != nil {
			return fmt.Errorf("class %d: %w", i, err)
		}
		if seen[c] {
			return fmt.Errorf("class %d: %q appears twice", i, c)
		}
		seen[c] = true
	}
	return nil
}

// ClassLimit is the most classes a model may have.
const ClassLimit = 4096

// maxNameLen bounds a class name (a process name, or nongrata: and one).
const maxNameLen = 256

// maxOptionsLen bounds a model file's training options text.
const maxOptionsLen = 4096

// checkText says what is wrong with a name: over maxNameLen bytes, not
// UTF-8, or a control character in it.
func checkText(s string) error { return checkTextLen(s, maxNameLen) }

func checkTextLen(s string, limit int) error {
	if len(s) > limit {
		return fmt.Errorf("%d bytes, over the limit of %d", len(s), limit)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%q: invalid UTF-8", s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%q: control character %U", s, r)
		}
	}
	return nil
}
