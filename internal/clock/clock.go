// Package clock is the one source of time of the components that tell time (the CEP, the cloud
// controller, the mock IaaS and the autoscaler): the real clock, and a manual one that tests move
// by hand and the autoscaler's replay sets to each recorded time.
package clock

import (
	"sync"
	"sync/atomic"
	"time"
)

// Clock tells the time and makes tickers.
type Clock interface {
	Now() time.Time
	NewTicker(d time.Duration) Ticker
}

// Ticker is a stoppable source of ticks, like *time.Ticker.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// System is the clock of the time package.
type System struct{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// NewTicker returns a time.Ticker.
func (System) NewTicker(d time.Duration) Ticker { return systemTicker{time.NewTicker(d)} }

type systemTicker struct{ t *time.Ticker }

func (t systemTicker) C() <-chan time.Time { return t.t.C }
func (t systemTicker) Stop()               { t.t.Stop() }

// Manual is a clock that moves only when Advance is called; its tickers fire as Advance passes
// their next tick, at most one pending tick each, like time.Ticker. It is safe for concurrent use.
type Manual struct {
	mu      sync.Mutex
	now     time.Time
	tickers []*manualTicker
}

// NewManual returns a manual clock showing now.
func NewManual(now time.Time) *Manual { return &Manual{now: now} }

type manualTicker struct {
	c       chan time.Time
	d       time.Duration
	next    time.Time
	stopped atomic.Bool
}

func (t *manualTicker) C() <-chan time.Time { return t.c }
func (t *manualTicker) Stop()               { t.stopped.Store(true) }

// Now returns the clock's time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// NewTicker returns a ticker whose first tick is d after the clock's time.
func (m *Manual) NewTicker(d time.Duration) Ticker {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := &manualTicker{c: make(chan time.Time, 1), d: d, next: m.now.Add(d)}
	m.tickers = append(m.tickers, t)
	return t
}

// Advance moves the clock by d and fires the tickers that are due.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.moveLocked(m.now.Add(d))
}

// Set moves the clock to t and fires the tickers that are due; a t before the clock's time sets
// it back without firing any.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.moveLocked(t)
}

func (m *Manual) moveLocked(now time.Time) {
	m.now = now
	for _, t := range m.tickers {
		for !t.stopped.Load() && !t.next.After(m.now) {
			select {
			case t.c <- m.now:
			default:
			}
			t.next = t.next.Add(t.d)
		}
	}
}
