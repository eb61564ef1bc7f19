package manager

import (
	"container/heap"
	"math"
	"time"
)

// maxThrottled bounds the number of sources and user names the throttle tracks; beyond it, an
// entry that has regained every attempt is forgotten for the new one, and if none has, the new
// one is refused.
const maxThrottled = 65536

// buckets is a token bucket per key: each unproven login takes a token, a success gives it back,
// and tokens come back at one per refill. At most max keys are tracked. The buckets are also a
// min-heap by the time each is full again, so that finding a bucket to forget when max keys are
// tracked looks at the heap's top instead of scanning every bucket: a login costs O(log n)
// however many sources an attacker uses. The caller serialises the calls.
type buckets struct {
	burst  float64
	refill time.Duration
	max    int
	m      map[string]*bucket
	byFull fullHeap
}

type bucket struct {
	key    string
	tokens float64
	at     time.Time // tokens is the level at at
	full   time.Time // when tokens is back at burst, without more takes
	index  int       // in buckets.byFull
}

func newBuckets(burst int, refill time.Duration, max int) *buckets {
	return &buckets{burst: float64(burst), refill: refill, max: max, m: map[string]*bucket{}}
}

// level brings b's tokens up to now.
func (bs *buckets) level(b *bucket, now time.Time) {
	b.tokens = math.Min(bs.burst, b.tokens+float64(now.Sub(b.at))/float64(bs.refill))
	b.at = now
}

// changed records b's new level in the heap.
func (bs *buckets) changed(b *bucket) {
	b.full = b.at.Add(time.Duration((bs.burst - b.tokens) * float64(bs.refill)))
	heap.Fix(&bs.byFull, b.index)
}

// take takes a token for key, or says how long until one is there.
func (bs *buckets) take(key string, now time.Time) (time.Duration, bool) {
	b, ok := bs.m[key]
	if !ok {
		if len(bs.m) >= bs.max {
			oldest := bs.byFull[0]
			if oldest.full.After(now) { // no bucket has regained every attempt
				return oldest.full.Sub(now), false
			}
			heap.Pop(&bs.byFull)
			delete(bs.m, oldest.key)
		}
		b = &bucket{key: key, tokens: bs.burst, at: now, full: now}
		bs.m[key] = b
		heap.Push(&bs.byFull, b)
	}
	bs.level(b, now)
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) * float64(bs.refill)), false
	}
	b.tokens--
	bs.changed(b)
	return 0, true
}

// give returns a token taken for key.
func (bs *buckets) give(key string) {
	if b, ok := bs.m[key]; ok {
		b.tokens = math.Min(bs.burst, b.tokens+1)
		bs.changed(b)
	}
}

// fullHeap orders buckets by the time they are full again (container/heap).
type fullHeap []*bucket

func (h fullHeap) Len() int           { return len(h) }
func (h fullHeap) Less(i, j int) bool { return h[i].full.Before(h[j].full) }
func (h fullHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *fullHeap) Push(x any) {
	b := x.(*bucket)
	b.index = len(*h)
	*h = append(*h, b)
}

func (h *fullHeap) Pop() any {
	old := *h
	b := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return b
}
