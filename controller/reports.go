package controller

import (
	"context"
	"sync"
	"time"
)

// Reports is what a driver found and has not reported yet (the Exits of Watch, the Services gone
// of a ServiceWatcher): Add never blocks, and Run hands everything added to report, in order,
// from one goroutine. The zero value is ready to use.
type Reports[T any] struct {
	mu    sync.Mutex
	items []T
	ready chan struct{} // capacity 1: items were added
	once  sync.Once
}

func (r *Reports[T]) init() { r.once.Do(func() { r.ready = make(chan struct{}, 1) }) }

// Add queues v for Run.
func (r *Reports[T]) Add(v T) {
	r.init()
	r.mu.Lock()
	r.items = append(r.items, v)
	r.mu.Unlock()
	select {
	case r.ready <- struct{}{}:
	default:
	}
}

// Run reports what was added, and what is added later, until ctx ends. Each tick of poll (nil:
// none) calls onPoll between reports, for a driver that also looks for what it is not told of.
func (r *Reports[T]) Run(ctx context.Context, report func(T), poll <-chan time.Time, onPoll func()) {
	r.init()
	for {
		r.mu.Lock()
		items := r.items
		r.items = nil
		r.mu.Unlock()
		for _, v := range items {
			report(v)
		}
		select {
		case <-ctx.Done():
			return
		case <-r.ready:
		case <-poll:
			onPoll()
		}
	}
}
