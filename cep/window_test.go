package cep

import (
	"math"
	"math/rand/v2"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func fill(w *window, ps []point, limit int) {
	for _, p := range ps {
		w.add(p.v, p.t, limit)
	}
}

// TestGradientMath pins the §3.3 gradient: units per second, first and last event, 1 s floor.
func TestGradientMath(t *testing.T) {
	tests := []struct {
		name   string
		a, b   point
		want   float64
		wantTS int64
	}{
		{name: "30 s apart", a: point{10, 0}, b: point{40, 30000}, want: 1, wantTS: 15000},
		{name: "exactly 1 s", a: point{10, 5000}, b: point{12, 6000}, want: 2, wantTS: 5500},
		{name: "floor below 1 s", a: point{10, 1000}, b: point{15, 1200}, want: 5, wantTS: 1100},
		{name: "same instant", a: point{10, 1000}, b: point{15, 1000}, want: 5, wantTS: 1000},
		{name: "out of order uses the floor", a: point{10, 9000}, b: point{4, 1000}, want: -6, wantTS: 5000},
		{name: "decreasing", a: point{80, 0}, b: point{20, 60000}, want: -1, wantTS: 30000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := gradient(tt.a, tt.b)
			if !near(g.v, tt.want) || g.t != tt.wantTS {
				t.Errorf("gradient(%v, %v) = %v@%d, want %v@%d", tt.a, tt.b, g.v, g.t, tt.want, tt.wantTS)
			}
		})
	}
}

// TestWindowBatch is the golden table of §3.3 for one tumbling batch.
func TestWindowBatch(t *testing.T) {
	tests := []struct {
		name   string
		events []point
		want   batch
	}{
		{name: "empty batch gives nothing", events: nil, want: batch{}},
		{name: "one event: gradient 0, no second derivative",
			events: []point{{42, 1000}},
			want:   batch{n: 1, hasFirst: true, avg: 42, grad: 0}},
		{name: "two events: gradient of first and last, no second derivative",
			events: []point{{10, 0}, {40, 30000}},
			want:   batch{n: 2, hasFirst: true, avg: 25, grad: 1}},
		{name: "two events within a second use the floor",
			events: []point{{10, 0}, {13, 400}},
			want:   batch{n: 2, hasFirst: true, avg: 11.5, grad: 3}},
		{name: "gradient ignores the middle",
			events: []point{{10, 0}, {1000, 10000}, {-500, 20000}, {70, 60000}},
			// second derivative: g1 = grad(e0, e1) = 99 @5000, g2 = grad(e2, e3) = 14.25 @40000,
			// (14.25-99)*1000/35000
			want: batch{n: 4, hasFirst: true, avg: 145, grad: 1, hasSD: true, second: (14.25 - 99) * 1000 / 35000}},
		{name: "three events: halves are e0..e0 and e1..e2",
			// g1 = grad(e0, e0) = 0 @0; g2 = grad(e1, e2) = 30/15 = 2 @22500; sd = 2*1000/22500
			events: []point{{10, 0}, {20, 15000}, {50, 30000}},
			want:   batch{n: 3, hasFirst: true, avg: 80.0 / 3, grad: 40.0 / 30, hasSD: true, second: 2000.0 / 22500}},
		{name: "four events (even): halves e0..e1 and e2..e3",
			// g1 = 10/15 @7500; g2 = 40/15 @37500; sd = (40/15-10/15)*1000/30000
			events: []point{{10, 0}, {20, 15000}, {40, 30000}, {80, 45000}},
			want:   batch{n: 4, hasFirst: true, avg: 37.5, grad: 70.0 / 45, hasSD: true, second: 2.0 / 30}},
		{name: "five events (odd): halves e0..e1 and e2..e4",
			// g1 = grad(e0, e1) = 10/10 = 1 @5000; g2 = grad(e2, e4) = 40/20 = 2 @30000;
			// sd = 1*1000/25000
			events: []point{{0, 0}, {10, 10000}, {20, 20000}, {30, 30000}, {60, 40000}},
			want:   batch{n: 5, hasFirst: true, avg: 24, grad: 1.5, hasSD: true, second: 0.04}},
		{name: "halves closer than a second use the floor",
			// g1 = grad(e0, e0) = 0 @0; g2 = grad(e1, e2) = 4 (floored) @200; sd = 4*1000/1000
			events: []point{{1, 0}, {2, 100}, {6, 300}},
			want:   batch{n: 3, hasFirst: true, avg: 3, grad: 5, hasSD: true, second: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w window
			fill(&w, tt.events, DefaultMaxWindowEvents)
			got := w.result()
			if got.n != tt.want.n || got.hasFirst != tt.want.hasFirst || got.hasSD != tt.want.hasSD ||
				!near(got.avg, tt.want.avg) || !near(got.grad, tt.want.grad) || !near(got.second, tt.want.second) {
				t.Errorf("batch = %+v, want %+v", got, tt.want)
			}
			w.reset()
			if got := w.result(); got.hasFirst {
				t.Errorf("after reset: %+v, want an empty batch", got)
			}
		})
	}
}

// reference computes a batch from every event, the way §3.3 states it.
func reference(ps []point) batch {
	n := len(ps)
	if n == 0 {
		return batch{}
	}
	sum := 0.0
	for _, p := range ps {
		sum += p.v
	}
	b := batch{n: n, hasFirst: true, avg: sum / float64(n), grad: gradient(ps[0], ps[n-1]).v}
	if n >= 3 {
		g1 := gradient(ps[0], ps[n/2-1])
		g2 := gradient(ps[n/2], ps[n-1])
		b.second, b.hasSD = gradient(g1, g2).v, true
	}
	return b
}

func sameBatch(a, b batch) bool {
	return a.n == b.n && a.hasFirst == b.hasFirst && a.hasSD == b.hasSD &&
		near(a.avg, b.avg) && near(a.grad, b.grad) && near(a.second, b.second)
}

func randomPoints(r *rand.Rand, n int, t0 int64) []point {
	ps := make([]point, n)
	t := t0
	for i := range ps {
		t += int64(r.IntN(3000))
		ps[i] = point{v: r.Float64()*200 - 50, t: t}
	}
	return ps
}

// TestWindowMatchesReference checks the running state against the full-batch definition for
// many batch sizes, reusing one window across batches.
func TestWindowMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var w window
	for n := range 200 {
		ps := randomPoints(r, n, int64(n)*60000)
		fill(&w, ps, DefaultMaxWindowEvents)
		if got, want := w.result(), reference(ps); !sameBatch(got, want) {
			t.Fatalf("n=%d: batch = %+v, want %+v", n, got, want)
		}
		w.reset()
	}
}

// TestWindowOverflow: beyond the bound the buffer halves, average and gradient stay exact and the
// buffer stays within the bound.
func TestWindowOverflow(t *testing.T) {
	const limit = 8
	var w window
	overflows := 0
	var ps []point
	for i := range 1000 {
		p := point{v: float64(i), t: int64(i) * 1000}
		ps = append(ps, p)
		if w.add(p.v, p.t, limit) {
			overflows++
		}
		if len(w.buf) > limit {
			t.Fatalf("after %d events the buffer holds %d > %d", i+1, len(w.buf), limit)
		}
	}
	if overflows == 0 {
		t.Fatal("no overflow reported")
	}
	got, want := w.result(), reference(ps)
	if !near(got.avg, want.avg) || !near(got.grad, want.grad) || !got.hasSD {
		t.Fatalf("batch = %+v, want %+v", got, want)
	}
	// A straight line has second derivative 0 whichever middle events are kept.
	if !near(got.second, 0) {
		t.Errorf("second derivative of a line = %v, want 0", got.second)
	}
	// The middle events kept are the nearest ones around n/2 within one stride.
	stride := 1 << w.shift
	lo := (len(ps)/2 - 1) >> w.shift << w.shift
	if lo < len(ps)/2-stride {
		t.Errorf("middle-low index %d is more than one stride (%d) before %d", lo, stride, len(ps)/2-1)
	}
	w.reset()
	if w.shift != 0 || w.n != 0 {
		t.Errorf("reset kept stride %d or count %d", w.shift, w.n)
	}
}

// TestWindowReleasesOutgrownBuffer: a burst's buffer is released once batches are small again.
func TestWindowReleasesOutgrownBuffer(t *testing.T) {
	var w window
	for i := range 1000 {
		w.add(1, int64(i), DefaultMaxWindowEvents)
	}
	w.reset()
	for range 12 {
		for i := range 4 {
			w.add(1, int64(i), DefaultMaxWindowEvents)
		}
		w.reset()
	}
	if cap(w.buf) > 64 {
		t.Errorf("buffer capacity %d after small batches, want it released", cap(w.buf))
	}
}

// TestSlidingWindow drives a sliding window through random slides and compares every slide with a
// brute-force computation over the events of the last K buckets.
func TestSlidingWindow(t *testing.T) {
	for _, k := range []int{1, 2, 3, 6} {
		r := rand.New(rand.NewPCG(uint64(k), 7))
		var w window
		type ev struct {
			p      point
			bucket int
		}
		var all []ev
		cur := 0
		tms := int64(0)
		for slide := range 300 {
			n := r.IntN(6)
			if slide%17 == 0 {
				n = 0 // empty slides too
			}
			for range n {
				tms += int64(r.IntN(4000))
				p := point{v: r.Float64() * 100, t: tms}
				if w.slideAdd(p.v, p.t, DefaultMaxWindowEvents, k, cur) {
					t.Fatal("unexpected overflow")
				}
				all = append(all, ev{p, slide})
			}
			var in []point
			for _, e := range all {
				if e.bucket > slide-k {
					in = append(in, e.p)
				}
			}
			got, want := w.slideResult(), reference(in)
			if !sameBatch(got, want) {
				t.Fatalf("k=%d slide %d: batch = %+v, want %+v over %d events", k, slide, got, want, len(in))
			}
			next := (cur + 1) % k
			w.slide(next)
			cur = next
		}
	}
}

// TestSlidingOverflow: a full sliding window leaves events out and says so.
func TestSlidingOverflow(t *testing.T) {
	var w window
	over := 0
	for i := range 10 {
		if w.slideAdd(float64(i), int64(i), 4, 2, 0) {
			over++
		}
	}
	if over != 6 || len(w.buf) != 4 {
		t.Fatalf("overflows %d, buffered %d; want 6 and 4", over, len(w.buf))
	}
	w.slide(1) // bucket 1 is empty: nothing dropped
	if len(w.buf) != 4 {
		t.Fatalf("buffered %d after sliding past an empty bucket, want 4", len(w.buf))
	}
	w.slide(0)
	if len(w.buf) != 0 {
		t.Fatalf("buffered %d after the bucket left, want 0", len(w.buf))
	}
}
