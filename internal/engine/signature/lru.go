package signature

// lru is a map with a bound: past it the least recently used entry is
// dropped, and counted.
type lru[V any] struct {
	m          map[string]*lruEntry[V]
	head, tail *lruEntry[V] // head is the most recently used
	cap        int
	evicted    uint64
	onEvict    func(*lruEntry[V])
}

type lruEntry[V any] struct {
	key        string
	val        V
	prev, next *lruEntry[V]
}

func newLRU[V any](capacity int) *lru[V] {
	return &lru[V]{m: map[string]*lruEntry[V]{}, cap: capacity}
}

func (l *lru[V]) len() int { return len(l.m) }

// get returns the entry of key and makes it the most recently used.
func (l *lru[V]) get(key string) (*lruEntry[V], bool) {
	e, ok := l.m[key]
	if ok {
		l.touch(e)
	}
	return e, ok
}

// getBytes is get with the key in bytes (no string is made).
func (l *lru[V]) getBytes(key []byte) (*lruEntry[V], bool) {
	e, ok := l.m[string(key)]
	if ok {
		l.touch(e)
	}
	return e, ok
}

// peek returns the entry of key without using it.
func (l *lru[V]) peek(key string) (*lruEntry[V], bool) {
	e, ok := l.m[key]
	return e, ok
}

func (l *lru[V]) touch(e *lruEntry[V]) {
	if l.head == e {
		return
	}
	l.unlink(e)
	l.pushFront(e)
}

// put adds key (which must be absent) as the most recently used, dropping
// the least recently used entry when the map is full.
func (l *lru[V]) put(key string, val V) *lruEntry[V] {
	if l.cap > 0 && len(l.m) >= l.cap && l.tail != nil {
		old := l.tail
		l.remove(old)
		l.evicted++
		if l.onEvict != nil {
			l.onEvict(old)
		}
	}
	e := &lruEntry[V]{key: key, val: val}
	l.m[key] = e
	l.pushFront(e)
	return e
}

func (l *lru[V]) remove(e *lruEntry[V]) {
	if _, ok := l.m[e.key]; !ok {
		return
	}
	delete(l.m, e.key)
	l.unlink(e)
}

func (l *lru[V]) pushFront(e *lruEntry[V]) {
	e.prev, e.next = nil, l.head
	if l.head != nil {
		l.head.prev = e
	}
	l.head = e
	if l.tail == nil {
		l.tail = e
	}
}

func (l *lru[V]) unlink(e *lruEntry[V]) {
	if e.prev != nil {
		e.prev.next = e.next
	} else if l.head == e {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else if l.tail == e {
		l.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (l *lru[V]) clear() {
	clear(l.m)
	l.head, l.tail = nil, nil
}
