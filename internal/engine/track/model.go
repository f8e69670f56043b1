// Package track is the process query engine of seed 000 (TRAFEN): process
// models, written as state machines or hidden Markov models, follow each
// host (or any key) through their states as observations arrive; a
// track's score is the posterior mass of the model's target states (each
// state weighted by its score weight) after the normalised forward
// recursion over the observations assigned to it.
//
// This file is the model language (docs/MODELS.md): parsing with every
// mistake's line, validation, and compilation of both kinds of model to
// one representation: an initial distribution, a transition matrix,
// per-state timeouts, and emission probabilities per state.
package track

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/match"
	"github.com/vigil-ids/vigil/internal/yamlnode"
	"github.com/vigil-ids/vigil/models"
)

// MaxModelFileBytes bounds a model file (the limit of every file Vigil
// reads).
const MaxModelFileBytes = yamlnode.MaxFileBytes

// maxStates bounds a model's states (the forward recursion is quadratic in
// them).
const maxStates = 64

// MaxModels bounds the models of one engine (every file it loads).
const MaxModels = 256

// probTolerance is how far a distribution may sum from 1.
const probTolerance = 1e-6

// Model is a compiled process model.
type Model struct {
	ID, Title, Description string
	File                   string
	Line                   int

	// Key is the field that binds an event to a track, unless its
	// emission names another.
	Key string

	States []string
	// Init is the initial distribution.
	Init []float64
	// Trans[i][j] is the probability of moving from state i to state j
	// at an observation.
	Trans [][]float64
	// Timeout[i] > 0: after that long without an observation, state i's
	// mass falls back to Fallback[i].
	Timeout  []time.Duration
	Fallback []int
	// Target marks the states whose posterior mass is the score (weight
	// 1); Weight is each state's contribution to the score: the score is
	// the sum over states of posterior mass times weight. A state between
	// suspicion and certainty (seed 000's Questionable) can weigh less
	// than 1.
	Target []bool
	Weight []float64

	Emissions []Emission
	// Noise is the likelihood of an observation the model can emit under
	// the hypothesis that it is unrelated to the track.
	Noise float64

	// Severity bands of the score.
	Yellow, Red float64
}

// Emission is a class of observations a model's states can produce.
type Emission struct {
	Name  string
	Match *match.Match
	// Key overrides the model's binding field for these observations
	// (NIDS alerts bind to their destination).
	Key string
	// P[i] is the probability that state i produces an observation of
	// this class.
	P []float64
}

// Defaults of a model.
const (
	DefaultNoise  = 0.01
	DefaultYellow = 0.5
	DefaultRed    = 0.9
)

// State returns the index of the named state, or -1.
func (m *Model) State(name string) int {
	for i, s := range m.States {
		if s == name {
			return i
		}
	}
	return -1
}

// Emission returns the first emission class ev belongs to, or -1.
func (m *Model) Emission(ev *event.Event) int {
	for i := range m.Emissions {
		if m.Emissions[i].Match.Matches(ev) {
			return i
		}
	}
	return -1
}

// LoadModels reads and compiles model files; every mistake of every file
// is returned at once, with its line, as a *config.Error.
func LoadModels(files []string) ([]*Model, error) {
	var all []*Model
	var probs yamlnode.Problems
	seen := map[string]*Model{}
	for _, f := range files {
		data, err := readModels(f)
		if err != nil {
			probs = append(probs, yamlnode.Problem{File: f, Msg: fmt.Sprintf("reading models: %v", err)})
			continue
		}
		ms, err := ParseModels(f, data)
		var ce *yamlnode.Error
		if errors.As(err, &ce) {
			probs = append(probs, ce.Problems...)
			continue
		}
		for _, m := range ms {
			if prev := seen[m.ID]; prev != nil {
				probs = append(probs, yamlnode.Problem{File: m.File, Line: m.Line, Col: 1, Path: "id", Msg: fmt.Sprintf("model %q is already defined at %s:%d", m.ID, prev.File, prev.Line)})
				continue
			}
			seen[m.ID] = m
			all = append(all, m)
		}
		if len(all) > MaxModels {
			probs = append(probs, yamlnode.Problem{File: f, Msg: fmt.Sprintf("more than %d models: the limit of an engine", MaxModels)})
			break
		}
	}
	if len(probs) > 0 {
		return nil, &yamlnode.Error{Problems: probs}
	}
	return all, nil
}

// readModels reads a model file, or one shipped in the binary
// (builtin:name).
func readModels(f string) ([]byte, error) {
	if name, ok := strings.CutPrefix(f, models.Prefix); ok {
		data, found := models.Builtin(name)
		if !found {
			return nil, fmt.Errorf("no model file %q is built in (m1.yaml, m2.yaml, m3.yaml, m4.yaml)", name)
		}
		return data, nil
	}
	return yamlnode.ReadFile(f)
}

// ParseModels compiles the models of one file: each YAML document is a
// model.
func ParseModels(file string, data []byte) ([]*Model, error) {
	p := &mparser{Reader: &yamlnode.Reader{File: file}}
	var out []*Model
	read := p.Documents(data, func(i int, root *yaml.Node) {
		path := ""
		if i > 0 {
			path = fmt.Sprintf("document %d", i+1)
		}
		if i >= MaxModels {
			if i == MaxModels {
				p.Addf(root, path, "more than %d models: the limit of an engine (the rest are not read)", MaxModels)
			}
			return
		}
		if m := p.model(yamlnode.Resolve(root), path); m != nil {
			out = append(out, m)
		}
	})
	if read && len(out) == 0 && len(p.Problems) == 0 {
		p.Addf(nil, "", "no model in the file")
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	seen := map[string]*Model{}
	for _, m := range out {
		if prev := seen[m.ID]; prev != nil {
			p.Add(yamlnode.Problem{File: file, Line: m.Line, Col: 1, Path: "id", Msg: fmt.Sprintf("model %q is already defined at %s:%d", m.ID, prev.File, prev.Line)})
		}
		seen[m.ID] = m
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// mparser reads models with the reader's scalar readers.
type mparser struct{ *yamlnode.Reader }

var modelKeys = []string{"id", "title", "description", "key", "types", "states", "transitions", "emissions", "noise", "severity", "lists"}

// model parses and validates one model document.
func (p *mparser) model(n *yaml.Node, path string) *Model {
	if n.Kind != yaml.MappingNode {
		p.Addf(n, path, "a model is a mapping (id, states, transitions, emissions ...)")
		return nil
	}
	before := len(p.Problems)
	m := &Model{File: p.File, Line: n.Line, Key: "ip", Noise: DefaultNoise, Yellow: DefaultYellow, Red: DefaultRed}
	var statesN, transN, emitN *yaml.Node
	declared := map[string]bool{}
	lists := map[string][]string{}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], n.Content[j+1]
		kp := yamlnode.Join(path, k.Value)
		switch k.Value {
		case "id":
			m.ID = p.name(v, kp)
		case "title":
			m.Title = p.String(v, kp)
		case "description":
			m.Description = p.String(v, kp)
		case "key":
			m.Key = p.field(v, kp)
		case "types":
			for i, t := range p.OneOrMore(v, kp) {
				if err := event.CheckType(t); err != nil {
					at := v
					if v.Kind == yaml.SequenceNode {
						at = v.Content[i]
					}
					p.Addf(at, yamlnode.Index(kp, i), "event type %q: %v", t, err)
				}
				declared[t] = true
			}
		case "states":
			statesN = v
		case "transitions":
			transN = v
		case "emissions":
			emitN = v
		case "noise":
			m.Noise = p.Fraction(v, kp, false)
		case "severity":
			p.severity(v, kp, m)
		case "lists":
			if v.Kind != yaml.MappingNode {
				p.Addf(v, kp, "want a mapping of list names to lists of values")
				continue
			}
			for i := 0; i+1 < len(v.Content); i += 2 {
				lists[v.Content[i].Value] = p.OneOrMore(v.Content[i+1], yamlnode.Join(kp, v.Content[i].Value))
			}
		default:
			p.UnknownKey(k, kp, modelKeys)
		}
	}
	if m.ID == "" {
		p.Addf(n, yamlnode.Join(path, "id"), "missing \"id\"")
	}
	if statesN == nil {
		p.Addf(n, yamlnode.Join(path, "states"), "missing \"states\"")
		return nil
	}
	p.states(statesN, yamlnode.Join(path, "states"), m)
	if len(m.States) == 0 {
		return nil
	}
	if transN == nil {
		p.Addf(n, yamlnode.Join(path, "transitions"), "missing \"transitions\"")
	} else {
		p.transitions(transN, yamlnode.Join(path, "transitions"), m)
	}
	if emitN == nil {
		p.Addf(n, yamlnode.Join(path, "emissions"), "missing \"emissions\" (what the states can produce)")
	} else {
		p.emissions(emitN, yamlnode.Join(path, "emissions"), m, declared, lists)
	}
	if len(p.Problems) > before {
		return nil
	}
	p.check(n, path, m)
	if len(p.Problems) > before {
		return nil
	}
	return m
}

// stateDoc positions, for checks after parsing.
type stateInfo struct {
	node     *yaml.Node
	fallback string
	fbNode   *yaml.Node
	initial  float64
	initSet  bool
}

// states parses the states mapping: name -> {initial, target, score,
// timeout, fallback} (or an empty value).
func (p *mparser) states(n *yaml.Node, path string, m *Model) {
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		p.Addf(n, path, "want a mapping of state names to their settings (initial, target, timeout, fallback)")
		return
	}
	if len(n.Content)/2 > maxStates {
		p.Addf(n, path, "%d states: at most %d", len(n.Content)/2, maxStates)
		return
	}
	infos := make([]stateInfo, 0, len(n.Content)/2)
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], n.Content[j+1]
		kp := yamlnode.Join(path, k.Value)
		name := p.name(k, kp)
		if m.State(name) >= 0 {
			p.Addf(k, kp, "state %q is defined twice", name)
			continue
		}
		info := stateInfo{node: k}
		var timeout time.Duration
		target := false
		weight, weightSet := 0.0, false
		switch {
		case v.Kind == yaml.ScalarNode && (v.Tag == "!!null" || v.Value == ""):
		case v.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(v.Content); i += 2 {
				sk, sv := v.Content[i], v.Content[i+1]
				sp := yamlnode.Join(kp, sk.Value)
				switch sk.Value {
				case "initial":
					info.initial, info.initSet = p.Number(sv, sp), true
					if info.initial < 0 {
						p.Addf(sv, sp, "an initial weight is not negative")
					}
				case "target":
					target = p.Bool(sv, sp)
				case "score":
					weight, weightSet = p.Number(sv, sp), true
					if weight < 0 || weight > 1 {
						p.Addf(sv, sp, "a state's score weight is from 0 to 1, not %s", sv.Value)
					}
				case "timeout":
					timeout = p.Duration(sv, sp, false)
				case "fallback":
					info.fallback, info.fbNode = p.String(sv, sp), sv
				default:
					p.UnknownKey(sk, sp, []string{"initial", "target", "score", "timeout", "fallback"})
				}
			}
		default:
			p.Addf(v, kp, "want a mapping (initial, target, score, timeout, fallback) or nothing")
		}
		switch {
		case target && weightSet && weight != 1:
			p.Addf(k, kp, "a target state counts fully in the score: give either target: true or score: %s", strconv.FormatFloat(weight, 'g', 6, 64))
		case target:
			weight = 1
		}
		if (timeout > 0) != (info.fallback != "") {
			p.Addf(k, kp, "timeout and fallback go together: after the timeout, the state's mass falls back to the fallback state")
		}
		m.States = append(m.States, name)
		m.Target = append(m.Target, target)
		m.Weight = append(m.Weight, weight)
		m.Timeout = append(m.Timeout, timeout)
		infos = append(infos, info)
	}
	m.Fallback = make([]int, len(m.States))
	m.Init = make([]float64, len(m.States))
	anyInit := false
	var sum float64
	for i, info := range infos {
		m.Fallback[i] = -1
		if info.fallback != "" {
			f := m.State(info.fallback)
			switch {
			case f < 0:
				p.Addf(info.fbNode, yamlnode.Join(yamlnode.Join(path, m.States[i]), "fallback"), "no state %q%s", info.fallback, yamlnode.DidYouMean(info.fallback, m.States))
			case f == i:
				p.Addf(info.fbNode, yamlnode.Join(yamlnode.Join(path, m.States[i]), "fallback"), "a state cannot fall back to itself")
			}
			m.Fallback[i] = f
		}
		if info.initSet {
			anyInit = true
			m.Init[i] = info.initial
			sum += info.initial
		}
	}
	switch {
	case !anyInit:
		m.Init[0] = 1 // the first state, unless told otherwise
	case sum <= 0:
		p.Addf(n, path, "the initial weights sum to 0: give at least one state a positive initial weight")
	default:
		for i := range m.Init {
			m.Init[i] /= sum
		}
	}
}

// transitions parses from -> {to: probability} or from -> [to, ...]
// (equally likely).
func (p *mparser) transitions(n *yaml.Node, path string, m *Model) {
	if n.Kind != yaml.MappingNode {
		p.Addf(n, path, "want a mapping of each state to the states it moves to")
		return
	}
	k := len(m.States)
	m.Trans = make([][]float64, k)
	for j := 0; j+1 < len(n.Content); j += 2 {
		fk, fv := n.Content[j], n.Content[j+1]
		fp := yamlnode.Join(path, fk.Value)
		from := m.State(fk.Value)
		if from < 0 {
			p.Addf(fk, fp, "no state %q%s", fk.Value, yamlnode.DidYouMean(fk.Value, m.States))
			continue
		}
		if m.Trans[from] != nil {
			p.Addf(fk, fp, "transitions from %q are given twice", fk.Value)
			continue
		}
		row := make([]float64, k)
		switch fv.Kind {
		case yaml.SequenceNode:
			if len(fv.Content) == 0 {
				p.Addf(fv, fp, "at least one state (a state that stays put lists itself)")
				continue
			}
			for i, t := range fv.Content {
				to := m.State(t.Value)
				if to < 0 {
					p.Addf(t, yamlnode.Index(fp, i), "no state %q%s", t.Value, yamlnode.DidYouMean(t.Value, m.States))
					continue
				}
				row[to] = 1 / float64(len(fv.Content))
			}
		case yaml.MappingNode:
			var sum float64
			before := len(p.Problems)
			for i := 0; i+1 < len(fv.Content); i += 2 {
				tk, tv := fv.Content[i], fv.Content[i+1]
				tp := yamlnode.Join(fp, tk.Value)
				to := m.State(tk.Value)
				if to < 0 {
					p.Addf(tk, tp, "no state %q%s", tk.Value, yamlnode.DidYouMean(tk.Value, m.States))
					continue
				}
				row[to] = p.Fraction(tv, tp, true)
				sum += row[to]
			}
			if len(p.Problems) == before && math.Abs(sum-1) > probTolerance {
				p.Addf(fv, fp, "the probabilities of leaving %q sum to %s, not 1", fk.Value, strconv.FormatFloat(sum, 'g', 6, 64))
			}
		default:
			p.Addf(fv, fp, "want {state: probability, ...} or [state, ...]")
			continue
		}
		m.Trans[from] = row
	}
	for i, row := range m.Trans {
		if row == nil {
			p.Addf(n, yamlnode.Join(path, m.States[i]), "no transitions from %q (a state that stays put lists itself: %s: [%s])", m.States[i], m.States[i], m.States[i])
		}
	}
}

var emissionKeys = []string{"match", "key", "in"}

// emissions parses name -> {match, key, in}, where in is {state:
// probability} (a hidden Markov model) or [state, ...] (a state machine:
// each state produces each of its classes equally often).
func (p *mparser) emissions(n *yaml.Node, path string, m *Model, declared map[string]bool, lists map[string][]string) {
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		p.Addf(n, path, "want a mapping of emission names to {match, in, key}")
		return
	}
	k := len(m.States)
	uniform := make([][]bool, 0) // for state-machine emissions
	for j := 0; j+1 < len(n.Content); j += 2 {
		ek, ev := n.Content[j], n.Content[j+1]
		ep := yamlnode.Join(path, ek.Value)
		e := Emission{Name: p.name(ek, ep), P: make([]float64, k)}
		for _, other := range m.Emissions {
			if other.Name == e.Name {
				p.Addf(ek, ep, "emission %q is defined twice", e.Name)
			}
		}
		if ev.Kind != yaml.MappingNode {
			p.Addf(ev, ep, "want a mapping with match and in (and optionally key)")
			continue
		}
		var in []bool
		for i := 0; i+1 < len(ev.Content); i += 2 {
			sk, sv := ev.Content[i], ev.Content[i+1]
			sp := yamlnode.Join(ep, sk.Value)
			switch sk.Value {
			case "match":
				mt := match.Parse(p.Reader, sv, sp, lists)
				e.Match = mt
				if mt != nil {
					for _, t := range mt.Types() {
						if !event.KnownType(t) && !declared[t] {
							at := sv
							if tn := yamlnode.Lookup(sv, "type"); tn != nil {
								at = tn
							}
							p.Addf(at, yamlnode.Join(sp, "type"), "unknown event type %q: not one Vigil makes; declare it in the model's types: if another tool sends it", t)
						}
					}
				}
			case "key":
				e.Key = p.field(sv, sp)
			case "in":
				switch sv.Kind {
				case yaml.SequenceNode:
					in = make([]bool, k)
					for x, s := range sv.Content {
						st := m.State(s.Value)
						if st < 0 {
							p.Addf(s, yamlnode.Index(sp, x), "no state %q%s", s.Value, yamlnode.DidYouMean(s.Value, m.States))
							continue
						}
						in[st] = true
					}
				case yaml.MappingNode:
					for x := 0; x+1 < len(sv.Content); x += 2 {
						s, pv := sv.Content[x], sv.Content[x+1]
						st := m.State(s.Value)
						if st < 0 {
							p.Addf(s, yamlnode.Join(sp, s.Value), "no state %q%s", s.Value, yamlnode.DidYouMean(s.Value, m.States))
							continue
						}
						e.P[st] = p.Fraction(pv, yamlnode.Join(sp, s.Value), false)
					}
				default:
					p.Addf(sv, sp, "want {state: probability, ...} or [state, ...]")
				}
			default:
				p.UnknownKey(sk, sp, emissionKeys)
			}
		}
		if yamlnode.Lookup(ev, "match") == nil {
			p.Addf(ev, ep, "missing \"match\" (which events are of this class)")
		}
		if yamlnode.Lookup(ev, "in") == nil {
			p.Addf(ev, ep, "missing \"in\" (the states that produce it)")
		}
		m.Emissions = append(m.Emissions, e)
		uniform = append(uniform, in)
	}
	// State-machine classes: a state produces each of its classes equally
	// often.
	counts := make([]int, k)
	for _, in := range uniform {
		for s, ok := range in {
			if ok {
				counts[s]++
			}
		}
	}
	for i, in := range uniform {
		for s, ok := range in {
			if ok {
				m.Emissions[i].P[s] = 1 / float64(counts[s])
			}
		}
	}
	for s := range k {
		var sum float64
		for _, e := range m.Emissions {
			sum += e.P[s]
		}
		if sum > 1+probTolerance {
			p.Addf(n, path, "state %q produces its classes with probabilities summing to %s, more than 1", m.States[s], strconv.FormatFloat(sum, 'g', 6, 64))
		}
	}
}

// check validates the model as a whole: target states, reachability.
func (p *mparser) check(n *yaml.Node, path string, m *Model) {
	anyTarget := false
	for _, t := range m.Target {
		anyTarget = anyTarget || t
	}
	if !anyTarget {
		p.Addf(n, yamlnode.Join(path, "states"), "no target state: mark the states whose probability is the score with target: true")
	}
	// Reachable from the initial states through transitions and
	// fallbacks.
	seen := make([]bool, len(m.States))
	var queue []int
	for i, w := range m.Init {
		if w > 0 {
			seen[i] = true
			queue = append(queue, i)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		next := []int{}
		for t, pr := range m.Trans[s] {
			if pr > 0 {
				next = append(next, t)
			}
		}
		if m.Fallback[s] >= 0 {
			next = append(next, m.Fallback[s])
		}
		for _, t := range next {
			if !seen[t] {
				seen[t] = true
				queue = append(queue, t)
			}
		}
	}
	for i, ok := range seen {
		if !ok {
			p.Addf(n, yamlnode.Join(yamlnode.Join(path, "states"), m.States[i]), "state %q is unreachable from the initial states", m.States[i])
		}
	}
	// A state that produces nothing can still be passed through; a model
	// whose states all produce nothing explains nothing.
	any := false
	for _, e := range m.Emissions {
		for _, pr := range e.P {
			any = any || pr > 0
		}
	}
	if !any {
		p.Addf(n, yamlnode.Join(path, "emissions"), "no state produces any observation")
	}
}

func (p *mparser) severity(n *yaml.Node, path string, m *Model) {
	if n.Kind != yaml.MappingNode {
		p.Addf(n, path, "want {yellow: score, red: score}")
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kp := yamlnode.Join(path, k.Value)
		switch k.Value {
		case "yellow":
			m.Yellow = p.Fraction(v, kp, false)
		case "red":
			m.Red = p.Fraction(v, kp, false)
		default:
			p.UnknownKey(k, kp, []string{"yellow", "red"})
		}
	}
	if m.Yellow >= m.Red {
		p.Addf(n, path, "yellow (%g) must be below red (%g)", m.Yellow, m.Red)
	}
}

// name is an identifier: letters, digits, '-', '_', '.'.
func (p *mparser) name(n *yaml.Node, path string) string {
	s := p.String(n, path)
	if s == "" {
		p.Addf(n, path, "an empty name")
		return s
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			p.Addf(n, path, "name %q: use letters, digits, '-', '_' and '.'", s)
			break
		}
	}
	return s
}

func (p *mparser) field(n *yaml.Node, path string) string {
	s := p.String(n, path)
	if s == "" || strings.ContainsAny(s, " \t|@$") {
		p.Addf(n, path, "want a field name (ip, host, dst, src ...)")
	}
	return s
}
