package controller

import (
	"time"

	"github.com/strata-paas/strata/internal/clock"
)

// throttle lets each key be answered at most once per interval: a key asked within the interval
// after its last answer waits until that interval ends, and the requests that came meanwhile
// share that one answer. The complete topology (the key "") and each cluster's part (its id)
// are answered through one each; one goroutine uses it.
type throttle struct {
	clock   clock.Clock
	every   time.Duration
	last    map[string]time.Time // keys answered less than every ago
	waiting map[string]bool      // keys asked within every of their last answer
	timer   clock.Ticker         // set while a key waits: when the first one is due
}

func newThrottle(c clock.Clock, every time.Duration) *throttle {
	return &throttle{clock: c, every: every, last: map[string]time.Time{}, waiting: map[string]bool{}}
}

// due is the channel that fires when a waiting key is due; nil while none waits. The caller then
// calls take with no key.
func (t *throttle) due() <-chan time.Time {
	if t.timer == nil {
		return nil
	}
	return t.timer.C()
}

// take adds the keys asked and returns the keys to answer now, noting them answered.
func (t *throttle) take(asked ...string) []string {
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	now := t.clock.Now()
	for key, at := range t.last {
		if now.Sub(at) >= t.every {
			delete(t.last, key)
		}
	}
	for _, key := range asked {
		t.waiting[key] = true
	}
	var answer []string
	var next time.Time
	for key := range t.waiting {
		at, answered := t.last[key]
		if !answered {
			answer = append(answer, key)
			t.last[key] = now
			delete(t.waiting, key)
			continue
		}
		if n := at.Add(t.every); next.IsZero() || n.Before(next) {
			next = n
		}
	}
	if !next.IsZero() {
		t.timer = t.clock.NewTicker(max(next.Sub(now), time.Millisecond))
	}
	return answer
}

// stop stops the timer; the throttle is not used afterwards.
func (t *throttle) stop() {
	if t.timer != nil {
		t.timer.Stop()
	}
}
