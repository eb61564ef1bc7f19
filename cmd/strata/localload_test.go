package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/demo"
)

// fetch GETs path through the load balancer and returns the status, body and serving member.
func fetch(client *http.Client, url string) (int, string, string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get(demo.MemberHeader), err
}

// waitServed polls the load balancer until every member in want has served body for path.
func waitServed(t *testing.T, lb, path, body string, want []string, within time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	seen := map[string]bool{}
	deadline := time.Now().Add(within)
	for {
		code, got, member, err := fetch(client, lb+path)
		if err == nil && code == http.StatusOK && got == body {
			seen[member] = true
		}
		if !slices.ContainsFunc(want, func(m string) bool { return !seen[m] }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("members %v did not all serve %q for %s through the LB within %v (served by %v; last answer %d %q from %q, %v)",
				want, body, path, within, seen, code, got, member, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// load sends GET requests through the load balancer at a steady rate and counts failures.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	lastStart  map[string]time.Time // member -> start of the last request it served
	errs       []string
}

func startLoad(ctx context.Context, url string, perSecond int) (*load, func()) {
	l := &load{lastStart: map[string]time.Time{}}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second / time.Duration(perSecond))
		defer tick.Stop()
		start, sent := time.Now(), 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			// A ticker drops the ticks its reader misses, so on a loaded machine (the race
			// detector, parallel packages) fewer requests went out than asked for; a CI run
			// measured 75 a second of 100. Send every request due so far.
			due := int(time.Since(start) * time.Duration(perSecond) / time.Second)
			for ; sent < due; sent++ {
				l.send(&wg, client, url)
			}
		}
	})
	return l, func() { cancel(); wg.Wait() }
}

// send sends one request in a goroutine of wg and counts its outcome.
func (l *load) send(wg *sync.WaitGroup, client *http.Client, url string) {
	wg.Go(func() {
		t0 := time.Now()
		code, body, member, err := fetch(client, url)
		l.mu.Lock()
		defer l.mu.Unlock()
		if err != nil || code != http.StatusOK || body == "" {
			l.failed.Add(1)
			if len(l.errs) < 10 {
				l.errs = append(l.errs, fmt.Sprintf("%s: %d %q %v", t0.Format("15:04:05.000"), code, body, err))
			}
			return
		}
		l.ok.Add(1)
		if t0.After(l.lastStart[member]) {
			l.lastStart[member] = t0
		}
	})
}
