package match

// Slots: each field a set of conditions reads, and each way a condition
// prepares its text, gets a number, so that an evaluation context caches
// them per event in arrays (see Ctx). Conditions that share a Slots share
// the cache; a Ctx from NewCtx has room for every slot assigned before.

type textKey struct {
	name      string
	urldecode bool
	lower     bool
	fold      bool
}

// Slots numbers the fields and prepared texts of a set of conditions.
// The zero Slots is ready to use.
type Slots struct {
	raw        map[string]int
	txt        map[textKey]int
	nraw, ntxt int
}

func (s *Slots) init() {
	if s.raw == nil {
		s.raw, s.txt = map[string]int{}, map[textKey]int{}
		s.nraw, s.ntxt = 1, 1 // 0 is "no slot"
	}
}

// Assign gives the fields and texts of c their slots.
func (s *Slots) Assign(c Cond) {
	WalkLeaves(c, func(l *Leaf) {
		s.Field(&l.f)
		if !l.fieldref {
			l.tslot = s.textSlot(textKey{name: l.f.name, urldecode: l.urldecode, lower: l.lowers()})
		}
		if _, ok := l.Literals(); ok {
			s.foldSlot(l.f.name, l.urldecode)
		}
	})
}

// Field gives f its slot (the event's own fields need none).
func (s *Slots) Field(f *Field) {
	if f.top == topNone {
		f.slot = s.rawSlot(f.name)
	}
}

// NewCtx makes an evaluation context with room for the slots assigned so
// far.
func (s *Slots) NewCtx() Ctx {
	s.init()
	return Ctx{raw: make([]rawSlot, s.nraw), txt: make([]txtSlot, s.ntxt)}
}

func (s *Slots) rawSlot(name string) int {
	s.init()
	if n, ok := s.raw[name]; ok {
		return n
	}
	n := s.nraw
	s.raw[name] = n
	s.nraw++
	return n
}

func (s *Slots) textSlot(k textKey) int {
	s.init()
	if n, ok := s.txt[k]; ok {
		return n
	}
	n := s.ntxt
	s.txt[k] = n
	s.ntxt++
	return n
}

// foldSlot is where the folded text of a field (url-decoded or not) is
// cached for the literal scan.
func (s *Slots) foldSlot(name string, urldecode bool) int {
	return s.textSlot(textKey{name: name, urldecode: urldecode, fold: true})
}

// WalkLeaves calls fn for every field condition of c.
func WalkLeaves(c Cond, fn func(*Leaf)) {
	switch x := c.(type) {
	case *Leaf:
		fn(x)
	case andCond:
		for _, k := range x {
			WalkLeaves(k, fn)
		}
	case orCond:
		for _, k := range x {
			WalkLeaves(k, fn)
		}
	case notCond:
		WalkLeaves(x.c, fn)
	}
}
