package cep

// Window math of docs/stratos-wire.md §3.3.
//
// A window holds the events of one partition key and one metric for the current batch. In
// tumbling mode (the Stratos default) it keeps a running sum and count and the first and last
// event, which makes the average and the gradient exact and O(1) per event. The second derivative
// also needs e[n/2-1] and e[n/2], and n is known only when the batch ends. No O(1) scheme exists:
// after 2m events, any of e[m..2m-1] becomes the middle pair if enough further events arrive, so
// all of them have to be kept. The window therefore keeps the values of the batch in a per-key
// buffer that is reused from batch to batch (no allocation once it has grown to the key's usual
// batch size; the first four events live inside the window itself, which covers a member key)
// and bounded by Options.MaxWindowEvents. When a batch outgrows the bound, the buffer
// keeps every other event and doubles its stride (the events it keeps are e[0], e[s], e[2s], ...),
// so the middle pair becomes the nearest kept events around n/2: the average, the gradient and the
// first and last events stay exact, the second derivative becomes an approximation, and the
// overflow is counted. With agents publishing every 15 s, a member key sees 4 events per metric
// per minute and a cluster key 4 per member, far below the default bound of 4096.
//
// In sliding mode (Options.Sliding > 0) the buffer holds every event of the last Window, split
// into Window/Sliding buckets; each slide recomputes the batch from the buffer and drops the
// oldest bucket. An event that would exceed the bound is left out of the window and counted.

// point is one event of a window: its value and its timestamp in ms.
type point struct {
	v float64
	t int64
}

// window is the state of one partition key and one metric.
type window struct {
	n     uint32 // events in the current tumbling batch
	shift uint8  // the tumbling buffer keeps events whose index is a multiple of 1<<shift
	peak  uint32 // largest buffer length of the last batches, to release an outgrown buffer
	sum   float64
	first point
	last  point
	buf   []point // starts as small[:0]: short batches need no allocation and stay in cache
	small [4]point
	// ring counts the events of each sliding bucket (sliding mode only); ring[cur] is the bucket
	// that is filling.
	ring []uint32
}

// batch is what a window yields at the end of a batch.
type batch struct {
	n        int
	avg      float64
	grad     float64
	second   float64
	hasFirst bool // n > 0: average and gradient are defined
	hasSD    bool // n >= 3: the second derivative is defined
}

// gradient is the Stratos gradient between two events: units per second, with at least one
// second in the denominator, stamped halfway between them (§3.3).
func gradient(a, b point) point {
	gap := b.t - a.t
	if gap < 1000 {
		gap = 1000
	}
	return point{v: (b.v - a.v) * 1000 / float64(gap), t: a.t + (b.t-a.t)/2}
}

// secondDerivative is the gradient of the gradients of the two halves of a batch: a = e[0],
// b = e[n/2-1], c = e[n/2], d = e[n-1].
func secondDerivative(a, b, c, d point) float64 {
	return gradient(gradient(a, b), gradient(c, d)).v
}

// add records one event in tumbling mode. It reports whether the buffer overflowed the limit.
func (w *window) add(v float64, t int64, limit int) (overflow bool) {
	p := point{v: v, t: t}
	if w.n == 0 {
		w.first = p
	}
	w.last = p
	w.sum += v
	if w.n&(1<<w.shift-1) == 0 {
		if w.buf == nil {
			w.buf = w.small[:0]
		}
		if len(w.buf) >= limit {
			w.decimate()
			overflow = true
		}
		if w.n&(1<<w.shift-1) == 0 {
			w.buf = append(w.buf, p)
		}
	}
	w.n++
	return overflow
}

// decimate keeps every other buffered event and doubles the stride.
func (w *window) decimate() {
	k := 0
	for i := 0; i < len(w.buf); i += 2 {
		w.buf[k] = w.buf[i]
		k++
	}
	w.buf = w.buf[:k]
	w.shift++
}

// result computes the tumbling batch.
func (w *window) result() batch {
	if w.n == 0 {
		return batch{}
	}
	n := int(w.n)
	b := batch{n: n, hasFirst: true, avg: w.sum / float64(n), grad: gradient(w.first, w.last).v}
	if n >= 3 {
		lo, hi := n/2-1, n/2
		// The buffer holds the events whose index is a multiple of the stride: take the last
		// one at or before lo and the first one at or after hi (exact when the stride is 1).
		stride := 1 << w.shift
		mlo := w.buf[lo>>w.shift]
		mhi := w.last
		if j := (hi + stride - 1) >> w.shift; j < len(w.buf) {
			mhi = w.buf[j]
		}
		b.second = secondDerivative(w.first, mlo, mhi, w.last)
		b.hasSD = true
	}
	return b
}

// reset starts the next tumbling batch, keeping the buffer unless it has outgrown the key.
func (w *window) reset() {
	w.keepOrRelease(len(w.buf))
	w.n, w.shift, w.sum = 0, 0, 0
	w.buf = w.buf[:0]
}

// keepOrRelease releases a buffer that is more than four times larger than the key has needed
// recently, so a burst does not pin memory for ever. peak decays by half every batch.
func (w *window) keepOrRelease(used int) {
	w.peak = max(w.peak/2, uint32(used))
	if cap(w.buf) > 64 && uint32(cap(w.buf)) > 4*w.peak {
		w.buf = w.small[:0]
	}
}

// slideAdd records one event in sliding mode into bucket cur. It reports whether the event was
// left out because the buffer is full.
func (w *window) slideAdd(v float64, t int64, limit, buckets, cur int) (overflow bool) {
	if len(w.buf) >= limit {
		return true
	}
	if w.ring == nil {
		w.ring = make([]uint32, buckets)
	}
	if w.buf == nil {
		w.buf = w.small[:0]
	}
	w.buf = append(w.buf, point{v: v, t: t})
	w.ring[cur]++
	return false
}

// slideResult computes the batch over every buffered event.
func (w *window) slideResult() batch {
	n := len(w.buf)
	if n == 0 {
		return batch{}
	}
	sum := 0.0
	for _, p := range w.buf {
		sum += p.v
	}
	first, last := w.buf[0], w.buf[n-1]
	b := batch{n: n, hasFirst: true, avg: sum / float64(n), grad: gradient(first, last).v}
	if n >= 3 {
		b.second = secondDerivative(first, w.buf[n/2-1], w.buf[n/2], last)
		b.hasSD = true
	}
	return b
}

// slide drops the oldest bucket, which is next, the bucket about to become current.
func (w *window) slide(next int) {
	if w.ring == nil {
		return
	}
	drop := int(w.ring[next])
	w.ring[next] = 0
	if drop > 0 {
		k := copy(w.buf, w.buf[drop:])
		w.buf = w.buf[:k]
	}
	if len(w.buf) == 0 {
		w.keepOrRelease(0)
	}
}

// empty reports whether the window holds no event.
func (w *window) empty(sliding bool) bool {
	if sliding {
		return len(w.buf) == 0
	}
	return w.n == 0
}
