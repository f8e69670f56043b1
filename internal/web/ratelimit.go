package web

import (
	"math"
	"sync"
	"time"
)

// Defaults of the submission rate limit (POST /api/events), per client
// address, where logins are needed.
const (
	DefaultEventsRate  = 20.0 // submissions a second, sustained
	DefaultEventsBurst = 40   // submissions at once
)

// buckets is a token bucket per key: each holds up to burst tokens,
// refilled at rate a second; a request takes one.
type buckets struct {
	mu    sync.Mutex
	rate  float64
	burst float64
	m     map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newBuckets(rate float64, burst int) *buckets {
	return &buckets{rate: rate, burst: float64(burst), m: map[string]*bucket{}}
}

// take takes a token from key's bucket; when it is empty, it says how long
// until one is there.
func (b *buckets) take(key string, now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := b.m[key]
	if k == nil {
		if len(b.m) >= maxLimiterKeys {
			b.prune(now)
		}
		k = &bucket{tokens: b.burst, last: now}
		b.m[key] = k
	}
	if d := now.Sub(k.last); d > 0 {
		k.tokens = math.Min(b.burst, k.tokens+d.Seconds()*b.rate)
		k.last = now
	}
	if k.tokens >= 1 {
		k.tokens--
		return true, 0
	}
	return false, time.Duration((1 - k.tokens) / b.rate * float64(time.Second))
}

// prune drops the buckets that have refilled (they hold nothing to
// remember), then, if the map is still full, arbitrary ones.
func (b *buckets) prune(now time.Time) {
	for key, k := range b.m {
		if k.tokens+now.Sub(k.last).Seconds()*b.rate >= b.burst {
			delete(b.m, key)
		}
	}
	for key := range b.m {
		if len(b.m) < maxLimiterKeys {
			break
		}
		delete(b.m, key)
	}
}
