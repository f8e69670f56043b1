package population

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"time"

	"github.com/vigil-ids/vigil/internal/readlimit"
	"github.com/vigil-ids/vigil/internal/wiremsg"
)

// MaxStateBytes bounds a saved state.
const MaxStateBytes = 64 << 20

// stateVersion is the saved state's format.
const stateVersion = 1

// savedState is what a population engine keeps across restarts: every
// host's aged counts, relative to its reference time.
type savedState struct {
	Version int         `json:"version"`
	Hosts   []savedHost `json:"hosts"`
}

type savedHost struct {
	Host     string                `json:"host"`
	Class    string                `json:"class"`
	Ref      time.Time             `json:"ref"`
	Last     time.Time             `json:"last"`
	Events   int64                 `json:"events"`
	Counts   map[string]float64    `json:"counts"`
	Measures map[string][2]float64 `json:"measures,omitempty"`
}

// Export writes the population's hosts, in host order.
func (p *Population) Export() []byte {
	st := savedState{Version: stateVersion}
	names := make([]string, 0, len(p.hosts))
	for k := range p.hosts {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		h := p.hosts[k]
		sh := savedHost{Host: h.name, Class: p.c.Classes[h.class].Name, Ref: h.ref, Last: h.last, Events: h.events, Counts: h.counts}
		for i, m := range p.c.Measures {
			if h.wsum[i] > 0 {
				if sh.Measures == nil {
					sh.Measures = map[string][2]float64{}
				}
				sh.Measures[m.Name] = [2]float64{h.sums[i], h.wsum[i]}
			}
		}
		st.Hosts = append(st.Hosts, sh)
	}
	return wiremsg.Encode(st)
}

// decodeState reads a saved state strictly: a malformed one is refused
// whole, with the reason.
func decodeState(data []byte) (*savedState, error) {
	var st savedState
	if err := wiremsg.Decode(data, MaxStateBytes, &st); err != nil {
		return nil, err
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("version %d, want %d", st.Version, stateVersion)
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) && v >= 0 }
	for i, h := range st.Hosts {
		if err := wiremsg.Text("host", h.Host, 1024, true); err != nil {
			return nil, fmt.Errorf("host %d: %w", i, err)
		}
		if err := wiremsg.Text("class", h.Class, 256, true); err != nil {
			return nil, fmt.Errorf("host %d: %w", i, err)
		}
		if h.Events < 0 || h.Ref.IsZero() {
			return nil, fmt.Errorf("host %d: a reference time and a count not below 0", i)
		}
		for k, v := range h.Counts {
			if err := wiremsg.Text("value", k, 1024, true); err != nil {
				return nil, fmt.Errorf("host %d: %w", i, err)
			}
			if !finite(v) {
				return nil, fmt.Errorf("host %d: value %q has count %v", i, k, v)
			}
		}
		for k, v := range h.Measures {
			// A measure's sum may be negative; its weight may not.
			if math.IsNaN(v[0]) || math.IsInf(v[0], 0) || !finite(v[1]) {
				return nil, fmt.Errorf("host %d: measure %q has %v", i, k, v)
			}
		}
	}
	return &st, nil
}

// Import replaces the population's hosts with a saved state's; hosts of
// classes no longer configured are left out, and so are values beyond
// max_types. It returns how many hosts were restored.
func (p *Population) Import(data []byte) (int, error) {
	st, err := decodeState(data)
	if err != nil {
		return 0, fmt.Errorf("population state: %w", err)
	}
	classes := map[string]int{}
	for i, c := range p.c.Classes {
		classes[c.Name] = i
	}
	p.hosts = map[string]*host{}
	for _, sh := range st.Hosts {
		ci, ok := classes[sh.Class]
		if !ok || len(p.hosts) >= p.c.MaxHosts {
			continue
		}
		h := p.newHost(sh.Host, ci, sh.Ref)
		h.last, h.events = sh.Last, sh.Events
		for k, v := range sh.Counts {
			if len(h.counts) >= p.c.MaxTypes-1 && k != otherType {
				k = otherType
			}
			h.counts[k] += v
			h.total += v
		}
		for i, m := range p.c.Measures {
			if v, ok := sh.Measures[m.Name]; ok {
				h.sums[i], h.wsum[i] = v[0], v[1]
			}
		}
		p.hosts[sh.Host] = h
	}
	return len(p.hosts), nil
}

// StateName is where a population engine of that name keeps its hosts
// in a monitor's store.
func StateName(engine string) string { return "population/" + engine }

// save writes the hosts to the state file, or to the store.
func (a *adapter) save(ctx context.Context, at time.Time) error {
	switch {
	case a.file != "":
		tmp := a.file + ".tmp"
		if err := os.WriteFile(tmp, a.p.Export(), 0o600); err != nil {
			return fmt.Errorf("saving population: %w", err)
		}
		if err := os.Rename(tmp, a.file); err != nil {
			return fmt.Errorf("saving population: %w", err)
		}
	case a.store != nil:
		if err := a.store.SaveState(ctx, StateName(a.name), a.p.Export(), at); err != nil {
			return fmt.Errorf("saving population: %w", err)
		}
	}
	return nil
}

// load reads the hosts saved before, if any. A state that cannot be read
// is said and left: the engine starts empty rather than not at all.
func (a *adapter) load(ctx context.Context) error {
	var data []byte
	switch {
	case a.file != "":
		d, err := readlimit.ReadFile(a.file, MaxStateBytes)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("population %s: %w", a.file, err)
		}
		data = d
	case a.store != nil:
		d, _, err := a.store.LoadState(ctx, StateName(a.name))
		if err != nil {
			return fmt.Errorf("population state: %w", err)
		}
		data = d
	}
	if data == nil {
		return nil
	}
	n, err := a.p.Import(data)
	if err != nil {
		a.log.Warn("population state not restored", "engine", a.name, "err", err)
		return nil
	}
	a.log.Info("population restored", "engine", a.name, "hosts", n)
	return nil
}
