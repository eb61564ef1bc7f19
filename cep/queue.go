package cep

import "sync"

// queue hands values from the engine to one draining goroutine. A bounded queue (limit > 0)
// sheds what does not fit and counts it; an unbounded one (limit 0) never sheds. Producers never
// block. The drainer swaps the queued slice for its spare, so neither side allocates once both
// slices have grown to the usual batch size. A value weighs one unit, or what weigh says (a
// pending value counts its summaries): the limit, the shed count and the length are in units, and
// a value that fits only in part is cut to the units that fit.
type queue[T any] struct {
	mu    sync.Mutex
	items []T
	units int // weight of items
	limit int
	shed  uint64
	weigh func([]T) int  // nil: one unit a value
	cut   func(T, int) T // a value's first units, when weigh is set
	ready chan struct{}  // signalled when the queue becomes non-empty
}

func newQueue[T any](limit int) *queue[T] {
	return &queue[T]{limit: limit, ready: make(chan struct{}, 1)}
}

// newWeighedQueue returns a queue whose values weigh what weigh says; cut(v, n) is v reduced to
// its first n units.
func newWeighedQueue[T any](limit int, weigh func([]T) int, cut func(T, int) T) *queue[T] {
	q := newQueue[T](limit)
	q.weigh, q.cut = weigh, cut
	return q
}

func (q *queue[T]) weight(vs []T) int {
	if q.weigh == nil {
		return len(vs)
	}
	return q.weigh(vs)
}

// push appends vs, or as many as fit from the front, and reports how many units were shed.
func (q *queue[T]) push(vs ...T) int {
	q.mu.Lock()
	wasEmpty := len(q.items) == 0
	n, units := len(vs), q.weight(vs)
	total := units
	var part []T // the value that fits in part, cut
	if q.limit > 0 && q.units+units > q.limit {
		units = 0
		for n = 0; n < len(vs); n++ {
			w := q.weight(vs[n : n+1])
			if room := q.limit - q.units - units; w > room {
				if room > 0 && q.cut != nil {
					part = []T{q.cut(vs[n], room)}
				}
				break
			}
			units += w
		}
	}
	q.items = append(q.items, vs[:n]...)
	q.items = append(q.items, part...)
	units += q.weight(part)
	q.units += units
	shed := total - units
	q.shed += uint64(shed)
	q.mu.Unlock()
	if wasEmpty && n+len(part) > 0 {
		q.signal()
	}
	return shed
}

// handOver queues vs, which the queue keeps when it is empty (the caller no longer uses vs), and
// returns an empty slice for the caller's next values: the queue's spare, or vs emptied when the
// values were copied. It never sheds: for an unbounded queue.
func (q *queue[T]) handOver(vs []T) []T {
	if len(vs) == 0 {
		return vs
	}
	units := q.weight(vs)
	q.mu.Lock()
	wasEmpty := len(q.items) == 0
	if wasEmpty {
		vs, q.items = q.items[:0], vs
	} else {
		q.items = append(q.items, vs...)
		clear(vs)
		vs = vs[:0]
	}
	q.units += units
	q.mu.Unlock()
	if wasEmpty {
		q.signal()
	}
	return vs
}

func (q *queue[T]) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// take returns the queued values and keeps spare (emptied) for the next ones. The caller owns the
// returned slice until it passes it back as spare.
func (q *queue[T]) take(spare []T) []T {
	clear(spare)
	q.mu.Lock()
	out := q.items
	q.items = spare[:0]
	q.units = 0
	q.mu.Unlock()
	return out
}

// putBack returns values that could not be delivered to the front of the queue, ahead of any
// that arrived since. It ignores the limit: used for values that must not be lost.
func (q *queue[T]) putBack(vs []T) {
	if len(vs) == 0 {
		return
	}
	units := q.weight(vs)
	q.mu.Lock()
	q.items = append(vs[:len(vs):len(vs)], q.items...)
	q.units += units
	q.mu.Unlock()
	q.signal()
}

// stats returns the queued units and the shed count.
func (q *queue[T]) stats() (units int, shed uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.units, q.shed
}
