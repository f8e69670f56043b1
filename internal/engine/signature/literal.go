package signature

// Literal prefiltering (see match.Leaf.Literals): one scan of a field's
// text by an Aho-Corasick automaton over the literals of all matchers of
// an event type names the matchers worth evaluating.

// acMachine is an Aho-Corasick automaton over byte classes: a full
// transition table, so a scan costs two loads a byte.
type acMachine struct {
	class  [256]uint8 // byte -> class; 0 for bytes in no literal
	nclass int
	next   []int32 // state*nclass + class -> state
	out    [][]*matcher
}

// newACMachine builds the automaton of lits, each naming the matchers it
// stands for.
func newACMachine(lits map[string][]*matcher) *acMachine {
	a := &acMachine{nclass: 1}
	for s := range lits {
		for i := 0; i < len(s); i++ {
			if a.class[s[i]] == 0 {
				a.class[s[i]] = uint8(a.nclass)
				a.nclass++
			}
		}
	}
	// The trie, with -1 for a missing edge.
	type node struct {
		edges []int32
		fail  int32
		out   []*matcher
	}
	newNode := func() node {
		e := make([]int32, a.nclass)
		for i := range e {
			e[i] = -1
		}
		return node{edges: e}
	}
	nodes := []node{newNode()}
	for s, ms := range lits {
		n := int32(0)
		for i := 0; i < len(s); i++ {
			c := a.class[s[i]]
			if nodes[n].edges[c] < 0 {
				nodes = append(nodes, newNode())
				nodes[n].edges[c] = int32(len(nodes) - 1)
			}
			n = nodes[n].edges[c]
		}
		nodes[n].out = appendUnique(nodes[n].out, ms...)
	}
	// Breadth first: failure links, outputs of suffixes, full transitions.
	queue := []int32{}
	for c := range a.nclass {
		if t := nodes[0].edges[c]; t > 0 {
			nodes[t].fail = 0
			queue = append(queue, t)
		} else {
			nodes[0].edges[c] = 0
		}
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		nodes[n].out = appendUnique(nodes[n].out, nodes[nodes[n].fail].out...)
		for c := range a.nclass {
			t := nodes[n].edges[c]
			if t < 0 {
				nodes[n].edges[c] = nodes[nodes[n].fail].edges[c]
				continue
			}
			nodes[t].fail = nodes[nodes[n].fail].edges[c]
			queue = append(queue, t)
		}
	}
	a.next = make([]int32, len(nodes)*a.nclass)
	a.out = make([][]*matcher, len(nodes))
	for i, n := range nodes {
		copy(a.next[i*a.nclass:], n.edges)
		a.out[i] = n.out
	}
	// Class 0 (a byte in no literal) leads back to the root from anywhere.
	for i := range nodes {
		a.next[i*a.nclass] = 0
	}
	return a
}

// scan calls fn with the matchers of every literal text contains.
func (a *acMachine) scan(text string, fn func(*matcher)) {
	state := int32(0)
	for i := 0; i < len(text); i++ {
		state = a.next[int(state)*a.nclass+int(a.class[text[i]])]
		for _, m := range a.out[state] {
			fn(m)
		}
	}
}

func appendUnique(to []*matcher, ms ...*matcher) []*matcher {
	for _, m := range ms {
		if !containsMatcher(to, m) {
			to = append(to, m)
		}
	}
	return to
}
