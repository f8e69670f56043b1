package signature

// Slots: each field a condition reads, and each way a condition prepares
// its text, gets a number, so that an evaluation context caches them per
// event in arrays (see evalCtx).

type textKey struct {
	name      string
	urldecode bool
	lower     bool
	fold      bool
}

// assignSlots numbers the rule set's matchers (their order in the rule
// files) and the slots of their conditions.
func (rs *RuleSet) assignSlots() {
	rs.rawSlots = map[string]int{}
	rs.txtSlots = map[textKey]int{}
	rs.nraw, rs.ntxt = 1, 1 // 0 is "no slot"
	ord := 0
	visit := func(m *matcher) {
		m.ord = ord
		ord++
		walkLeaves(m.cond, func(l *leaf) {
			if l.f.top == topNone {
				l.f.slot = rs.rawSlot(l.f.name)
			}
			if !l.fieldref {
				l.tslot = rs.textSlot(textKey{name: l.f.name, urldecode: l.urldecode, lower: l.lowers()})
			}
			if _, ok := leafLiterals(l); ok {
				rs.foldSlot(l.f.name, l.urldecode)
			}
		})
	}
	slot := func(f *field) {
		if f.top == topNone {
			f.slot = rs.rawSlot(f.name)
		}
	}
	for _, r := range rs.Rules {
		if r.match != nil {
			visit(r.match)
		}
		if r.thr != nil {
			for i := range r.thr.groupBy {
				slot(&r.thr.groupBy[i])
			}
		}
		if r.seq != nil {
			// Later steps first: an event advances the instances that
			// waited before it came, and cannot both start an instance
			// and advance it.
			for i := len(r.seq.steps) - 1; i >= 0; i-- {
				st := &r.seq.steps[i]
				visit(st.m)
				for j := range st.joins {
					slot(&st.joins[j].f)
				}
			}
		}
	}
	rs.nmatchers = ord
}

func (rs *RuleSet) rawSlot(name string) int {
	if n, ok := rs.rawSlots[name]; ok {
		return n
	}
	n := rs.nraw
	rs.rawSlots[name] = n
	rs.nraw++
	return n
}

func (rs *RuleSet) textSlot(k textKey) int {
	if n, ok := rs.txtSlots[k]; ok {
		return n
	}
	n := rs.ntxt
	rs.txtSlots[k] = n
	rs.ntxt++
	return n
}

// foldSlot is where the folded text of a field (url-decoded or not) is
// cached for the literal scan.
func (rs *RuleSet) foldSlot(name string, urldecode bool) int {
	return rs.textSlot(textKey{name: name, urldecode: urldecode, fold: true})
}

// walkLeaves calls fn for every field condition of c.
func walkLeaves(c cond, fn func(*leaf)) {
	switch x := c.(type) {
	case *leaf:
		fn(x)
	case andCond:
		for _, k := range x {
			walkLeaves(k, fn)
		}
	case orCond:
		for _, k := range x {
			walkLeaves(k, fn)
		}
	case notCond:
		walkLeaves(x.c, fn)
	}
}
