package cep

import "sync"

// queue hands values from the engine to one draining goroutine. A bounded queue (limit > 0)
// sheds what does not fit and counts it; an unbounded one (limit 0) never sheds. Producers never
// block. The drainer swaps the queued slice for its spare, so neither side allocates once both
// slices have grown to the usual batch size.
type queue[T any] struct {
	mu    sync.Mutex
	items []T
	limit int
	shed  uint64
	ready chan struct{} // signalled when the queue becomes non-empty
}

func newQueue[T any](limit int) *queue[T] {
	return &queue[T]{limit: limit, ready: make(chan struct{}, 1)}
}

// push appends vs, or as many as fit, and reports how many were shed.
func (q *queue[T]) push(vs ...T) int {
	q.mu.Lock()
	wasEmpty := len(q.items) == 0
	n := len(vs)
	if q.limit > 0 {
		n = min(n, q.limit-len(q.items))
	}
	q.items = append(q.items, vs[:n]...)
	shed := len(vs) - n
	q.shed += uint64(shed)
	q.mu.Unlock()
	if wasEmpty && n > 0 {
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
	q.mu.Lock()
	wasEmpty := len(q.items) == 0
	if wasEmpty {
		vs, q.items = q.items[:0], vs
	} else {
		q.items = append(q.items, vs...)
		clear(vs)
		vs = vs[:0]
	}
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
	q.mu.Unlock()
	return out
}

// putBack returns values that could not be delivered to the front of the queue, ahead of any
// that arrived since. It ignores the limit: used for values that must not be lost.
func (q *queue[T]) putBack(vs []T) {
	if len(vs) == 0 {
		return
	}
	q.mu.Lock()
	q.items = append(vs[:len(vs):len(vs)], q.items...)
	q.mu.Unlock()
	q.signal()
}

// stats returns the queue length and the shed count.
func (q *queue[T]) stats() (length int, shed uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items), q.shed
}
