package controller_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/strata-paas/strata/controller"
)

// Reports hands over, in order, what was added before and while Run runs, and polls on its
// ticks.
func TestReports(t *testing.T) {
	var r controller.Reports[int]
	r.Add(1)
	r.Add(2)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan int, 10)
	poll := make(chan time.Time)
	polled := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx, func(v int) { got <- v }, poll, func() { polled <- struct{}{} })
	}()
	r.Add(3)
	var seen []int
	for len(seen) < 3 {
		select {
		case v := <-got:
			seen = append(seen, v)
		case <-time.After(10 * time.Second):
			t.Fatalf("reported %v, want [1 2 3]", seen)
		}
	}
	if !slices.Equal(seen, []int{1, 2, 3}) {
		t.Errorf("reported %v, want [1 2 3]", seen)
	}
	poll <- time.Now()
	<-polled
	cancel()
	<-done
}
