package profile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/readlimit"
)

// The exported form: a header line, then one line per subject (JSON
// lines). Profiles learnt at one site can be imported at another whose
// classes have the same names and measures.
const exportFormat = "vigil-profiles"

// MaxStateBytes bounds a saved or imported profiles file (docs/LIMITS.md).
const MaxStateBytes = 256 << 20

// ReadState reads an exported profiles file (name names it in errors)
// through the MaxStateBytes limit.
func ReadState(r io.Reader, name string) ([]byte, error) {
	return readlimit.ReadAll(r, name, MaxStateBytes)
}

type exportHeader struct {
	Format  string              `json:"format"`
	Version int                 `json:"version"`
	Classes map[string][]string `json:"classes"` // class -> its measures
}

type exportSubject struct {
	Class string `json:"class"`
	Key   string `json:"key"`
	// ClassProfile marks the class's own profile (Key: its partition).
	ClassProfile bool            `json:"class_profile,omitempty"`
	Events       int64           `json:"events"`
	Periods      int             `json:"periods"`
	LastUp       time.Time       `json:"last_update"`
	LastSeen     time.Time       `json:"last_seen"`
	T2           histJSON        `json:"t2"`
	Measures     []exportMeasure `json:"measures"`
	// The short-term profile outside sessions (per measure).
	ShortN []float64   `json:"short_n"`
	Short  [][]float32 `json:"short"`
}

type exportMeasure struct {
	Cats   []string  `json:"cats,omitempty"`
	Edges  []float64 `json:"edges,omitempty"`
	Learn  []float32 `json:"learn,omitempty"`
	Long   []float32 `json:"long,omitempty"`
	Period []float32 `json:"period,omitempty"`
	Q      histJSON  `json:"q"`
	Level  float64   `json:"level,omitempty"`
	Last   time.Time `json:"last,omitzero"`
}

type histJSON struct {
	W     []float32 `json:"w"`
	Total float32   `json:"total"`
}

func (h *hist) toJSON() histJSON {
	return histJSON{W: append([]float32(nil), h.w[:]...), Total: h.total}
}

func (h *hist) fromJSON(j histJSON) error {
	if len(j.W) != histBins {
		return fmt.Errorf("a histogram of %d bins, want %d", len(j.W), histBins)
	}
	for _, w := range j.W {
		if !(w >= 0) {
			return fmt.Errorf("a histogram weight of %v", w)
		}
	}
	copy(h.w[:], j.W)
	h.total = j.Total
	return nil
}

// Export writes every subject's profiles.
func (p *Profiler) Export(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(p.header()); err != nil {
		return err
	}
	err := p.eachSubject(false, false, func(_ string, es *exportSubject) error { return enc.Encode(es) })
	if err != nil {
		return err
	}
	return bw.Flush()
}

func (p *Profiler) header() exportHeader {
	h := exportHeader{Format: exportFormat, Version: 1, Classes: map[string][]string{}}
	for _, c := range p.classes {
		for _, m := range c.Measures {
			h.Classes[c.Name] = append(h.Classes[c.Name], m.Name)
		}
	}
	return h
}

// itemKey names a subject in saved changes: its class, whether it is a
// class profile, and its key; class profiles sort before subjects, as
// Export writes them.
func itemKey(class, key string, classProfile bool) string {
	kind := "s"
	if classProfile {
		kind = "c"
	}
	return class + "\x00" + kind + "\x00" + key
}

// headerItem is the item key of the header in saved changes: it sorts
// before every subject's.
const headerItem = ""

// eachSubject hands every subject's export (only the changed ones with
// changed), class by class, class profiles first, in key order, with its
// item key; with saving, it marks them saved.
func (p *Profiler) eachSubject(changed, saving bool, fn func(item string, es *exportSubject) error) error {
	for ci, c := range p.classes {
		type entry struct {
			key   string
			s     *Subject
			class bool
		}
		var all []entry
		for k, s := range p.classProfiles[ci] {
			if !changed || s.dirty {
				all = append(all, entry{k, s, true})
			}
		}
		for k, s := range p.subjects[ci] {
			if !changed || s.dirty {
				all = append(all, entry{k, s, false})
			}
		}
		slices.SortFunc(all, func(a, b entry) int {
			if a.class != b.class {
				if a.class {
					return -1
				}
				return 1
			}
			return strings.Compare(a.key, b.key)
		})
		for _, en := range all {
			s := en.s
			es := exportSubject{Class: c.Name, Key: en.key, ClassProfile: en.class, Events: s.events, Periods: s.periods, LastUp: s.lastUp, LastSeen: s.lastSeen,
				T2: s.t2.toJSON()}
			es.ShortN, es.Short = s.main.normalized()
			for i := range s.m {
				ms := &s.m[i]
				es.Measures = append(es.Measures, exportMeasure{Cats: ms.cats, Edges: ms.edges, Learn: ms.learn, Long: ms.f.long,
					Period: ms.f.period, Q: ms.q.toJSON(), Level: ms.level, Last: ms.last})
			}
			if err := fn(itemKey(c.Name, en.key, en.class), &es); err != nil {
				return err
			}
			if saving {
				s.dirty = false
			}
		}
	}
	return nil
}

// Changes are the profiles changed since the last call (or, with all,
// every profile): each changed subject's export line by item key, the
// header under headerItem, and the item keys of subjects dropped. Applied
// in order to what the previous calls gave (all replaces everything),
// they make what Export would write now. Full is set when every profile
// is in put and whatever was saved before must be replaced.
func (p *Profiler) Changes(all bool) (put map[string][]byte, removed []string, full bool, err error) {
	full = all || p.lostTrack
	put = map[string][]byte{}
	h, err := json.Marshal(p.header())
	if err != nil {
		return nil, nil, false, err
	}
	put[headerItem] = h
	err = p.eachSubject(!full, true, func(item string, es *exportSubject) error {
		b, err := json.Marshal(es)
		put[item] = b
		return err
	})
	if err != nil {
		return nil, nil, false, err
	}
	if !full {
		for _, k := range p.removed {
			if _, again := put[k]; !again {
				removed = append(removed, k)
			}
		}
	}
	p.removed, p.lostTrack = nil, false
	return put, removed, full, nil
}

// Import reads what Export wrote, replacing the profiles of the subjects
// it holds. Subjects of classes this profiler lacks, or whose measures
// differ, are skipped and named in the error (the others are imported);
// a malformed line stops the import with its number.
func (p *Profiler) Import(r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return 0, err
		}
		return 0, errors.New("profiles: empty")
	}
	var h exportHeader
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil || h.Format != exportFormat {
		return 0, fmt.Errorf("profiles: line 1 is not a %s header", exportFormat)
	}
	if h.Version != 1 {
		return 0, fmt.Errorf("profiles: version %d, this program reads 1", h.Version)
	}
	byName := map[string]int{}
	var mismatched []string
	for ci, c := range p.classes {
		var names []string
		for _, m := range c.Measures {
			names = append(names, m.Name)
		}
		if theirs, ok := h.Classes[c.Name]; ok && !slices.Equal(theirs, names) {
			mismatched = append(mismatched, c.Name)
			continue
		}
		byName[c.Name] = ci
	}
	n, skipped := 0, 0
	for line := 2; sc.Scan(); line++ {
		var es exportSubject
		if err := json.Unmarshal(sc.Bytes(), &es); err != nil {
			return n, fmt.Errorf("profiles: line %d: %w", line, err)
		}
		ci, ok := byName[es.Class]
		if !ok {
			skipped++
			continue
		}
		s, err := p.classes[ci].restore(&es)
		if err != nil {
			return n, fmt.Errorf("profiles: line %d (%s %s): %w", line, es.Class, es.Key, err)
		}
		if es.ClassProfile {
			p.classProfiles[ci][es.Key] = s
			continue
		}
		p.subjects[ci][s.Key] = s
		n++
	}
	if err := sc.Err(); err != nil {
		return n, err
	}
	switch {
	case len(mismatched) > 0:
		return n, fmt.Errorf("profiles: the measures of %s differ from this configuration's: not imported", strings.Join(mismatched, ", "))
	case skipped > 0:
		return n, fmt.Errorf("profiles: %d subjects of classes this configuration lacks were skipped", skipped)
	}
	return n, nil
}

// restore rebuilds a subject from its exported form.
func (c *Class) restore(es *exportSubject) (*Subject, error) {
	if len(es.Measures) != len(c.Measures) || len(es.ShortN) != len(c.Measures) || len(es.Short) != len(c.Measures) {
		return nil, fmt.Errorf("%d measures, want %d", len(es.Measures), len(c.Measures))
	}
	s := newSubject(es.Key, c, es.LastUp)
	s.events, s.periods, s.lastSeen = es.Events, es.Periods, es.LastSeen
	if err := s.t2.fromJSON(es.T2); err != nil {
		return nil, err
	}
	s.main.n, s.main.short = es.ShortN, es.Short
	for i, em := range es.Measures {
		ms := &s.m[i]
		if len(em.Long) != len(em.Period) {
			return nil, fmt.Errorf("measure %s: long-term and period tables differ in length", c.Measures[i].Name)
		}
		if c.Measures[i].Kind == Categorical || c.Measures[i].Kind == Distribution {
			if len(em.Cats) != len(em.Long) || len(em.Cats) > maxCats+1 {
				return nil, fmt.Errorf("measure %s: %d categories for %d weights", c.Measures[i].Name, len(em.Cats), len(em.Long))
			}
			ms.cats = em.Cats
			ms.hashes = make([]uint32, len(em.Cats))
			for k, cat := range em.Cats {
				if k != rareSlot && cat != "" {
					ms.hashes[k] = hashString(cat)
				}
			}
		}
		if em.Edges != nil {
			if !slices.IsSorted(em.Edges) || len(em.Long) != len(em.Edges)+1 {
				return nil, fmt.Errorf("measure %s: bad bin edges", c.Measures[i].Name)
			}
			ms.edges = em.Edges
		}
		ms.learn, ms.f.long, ms.f.period = em.Learn, em.Long, em.Period
		for _, w := range em.Long {
			ms.f.longW += float64(w)
		}
		if err := ms.q.fromJSON(em.Q); err != nil {
			return nil, err
		}
		ms.level, ms.last = em.Level, em.Last
	}
	return s, nil
}

// SaveStore saves the profiles in st under name. A store that keeps items
// gets one per subject: with all (or the first time after a load) every
// profile, replacing what was there; otherwise only the subjects changed
// since the last save, and deletions for those dropped. Other stores get
// the whole export.
func (p *Profiler) SaveStore(ctx context.Context, st engine.StateStore, name string, at time.Time, all bool) error {
	is, ok := st.(engine.ItemStateStore)
	if !ok {
		var b bytes.Buffer
		if err := p.Export(&b); err != nil {
			return err
		}
		return st.SaveState(ctx, name, b.Bytes(), at)
	}
	put, removed, full, err := p.Changes(all)
	if err != nil {
		return err
	}
	return is.SaveStateItems(ctx, name, put, removed, full, at)
}

// LoadStore returns what was saved in st under name, in Export's form, or
// nil when nothing was.
func LoadStore(ctx context.Context, st engine.StateStore, name string) ([]byte, time.Time, error) {
	if is, ok := st.(engine.ItemStateStore); ok {
		var b bytes.Buffer
		var header []byte
		at, found, err := is.LoadStateItems(ctx, name, func(key string, data []byte) error {
			if key == headerItem {
				header = data
				return nil
			}
			b.Write(data)
			b.WriteByte('\n')
			return nil
		})
		if err != nil {
			return nil, at, err
		}
		if found {
			if header == nil {
				return nil, at, fmt.Errorf("the saved state of %s has no header item", name)
			}
			return append(append(header, '\n'), b.Bytes()...), at, nil
		}
	}
	data, at, err := st.LoadState(ctx, name)
	if len(data) == 0 {
		data = nil
	}
	return data, at, err
}
