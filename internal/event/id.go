package event

import (
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"time"
)

// IDSource makes event and report ids.
type IDSource interface {
	// NewID returns a new id for a record made at t. It is safe for
	// concurrent use.
	NewID(t time.Time) string
}

// crockford is Crockford's base-32 alphabet: no I, L, O or U.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// IDLen is the length of the ids made by the sources of this package.
const IDLen = 26

// TimeIDs makes 26-character ids: 48 bits of Unix milliseconds followed by 80
// bits from a random stream, in Crockford base 32. Ids made later sort after
// ids made earlier (to the millisecond), which keeps the store's index
// append-mostly.
type TimeIDs struct {
	mu  sync.Mutex
	rng *rand.ChaCha8
}

// NewRandomIDs returns a source seeded from the operating system's random
// generator: ids are unique across processes and restarts.
func NewRandomIDs() *TimeIDs {
	var seed [32]byte
	if _, err := crand.Read(seed[:]); err != nil {
		// crypto/rand does not fail on supported platforms.
		panic("event: no system randomness: " + err.Error())
	}
	return &TimeIDs{rng: rand.NewChaCha8(seed)}
}

// NewSeededIDs returns a deterministic source: the same seed and the same
// sequence of times give the same ids. Replays use it so that their output
// is reproducible.
func NewSeededIDs(seed uint64) *TimeIDs {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return &TimeIDs{rng: rand.NewChaCha8(s)}
}

// NewID implements IDSource.
func (g *TimeIDs) NewID(t time.Time) string {
	g.mu.Lock()
	hi := g.rng.Uint64()
	lo := g.rng.Uint64()
	g.mu.Unlock()
	ms := uint64(t.UnixMilli())
	if t.UnixMilli() < 0 {
		ms = 0
	}
	var b [IDLen]byte
	// 10 characters of time (50 bits, the top two always zero for 48-bit ms).
	for i := 9; i >= 0; i-- {
		b[i] = crockford[ms&31]
		ms >>= 5
	}
	// 16 characters of randomness (80 bits): 64 from hi, 16 from lo.
	r := hi
	for i := 25; i >= 13; i-- {
		b[i] = crockford[r&31]
		r >>= 5
	}
	// 13 characters used 65 bits' worth of positions; take the rest from lo.
	r = lo
	for i := 12; i >= 10; i-- {
		b[i] = crockford[r&31]
		r >>= 5
	}
	return string(b[:])
}
