package signature

// assignSlots numbers the rule set's matchers (their order in the rule
// files) and gives the fields their conditions and keys read their slots
// (see match.Slots).
func (rs *RuleSet) assignSlots() {
	ord := 0
	visit := func(m *matcher) {
		m.ord = ord
		ord++
		rs.slots.Assign(m.cond)
	}
	for _, r := range rs.Rules {
		if r.match != nil {
			visit(r.match)
		}
		if r.thr != nil {
			for i := range r.thr.groupBy {
				rs.slots.Field(&r.thr.groupBy[i])
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
					rs.slots.Field(&st.joins[j].f)
				}
			}
		}
	}
	rs.nmatchers = ord
}
