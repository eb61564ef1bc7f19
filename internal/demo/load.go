package demo

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// load is the load generator: a fixed pool of workers, of which the first n send requests back
// to back (a closed loop: about n requests in flight).
type load struct {
	url     string
	client  *http.Client
	max     int
	workers atomic.Int64
	ok      atomic.Int64
	errs    atomic.Int64
	lat     atomic.Int64 // total latency of ok requests, ns
	lastErr atomic.Value // string
	served  sync.Map     // member -> *atomic.Int64
}

func newLoad(url string, waves []Wave) *load {
	n := 0
	for _, w := range waves {
		n = max(n, w.Workers)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: n + 1, IdleConnTimeout: 30 * time.Second}
	return &load{url: url, max: n, client: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
}

func (l *load) setWorkers(n int) { l.workers.Store(int64(n)) }

// probe sends one request and reports whether it was served.
func (l *load) probe(ctx context.Context) error {
	_, err := l.get(ctx)
	return err
}

// get sends one request and returns the member that served it.
func (l *load) get(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.url, nil)
	if err != nil {
		return "", err
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return "", err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s", resp.Status)
	}
	return resp.Header.Get(MemberHeader), nil
}

func (l *load) start(ctx context.Context, wg *sync.WaitGroup) {
	for i := range l.max {
		wg.Go(func() { l.worker(ctx, i) })
	}
}

func (l *load) worker(ctx context.Context, i int) {
	for ctx.Err() == nil {
		if int64(i) >= l.workers.Load() {
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		t0 := time.Now()
		member, err := l.get(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			l.errs.Add(1)
			l.lastErr.Store(err.Error())
			// No hot loop on a refused connection.
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		l.ok.Add(1)
		l.lat.Add(int64(time.Since(t0)))
		c, _ := l.served.LoadOrStore(member, new(atomic.Int64))
		c.(*atomic.Int64).Add(1)
	}
}
