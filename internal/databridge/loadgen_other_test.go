//go:build !linux

package databridge

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func ingestConcurrent(b *testing.B, addr string, msg []byte, conns, depth int) {
	if depth != 1 {
		b.Skip("pipelined load needs the epoll load generator")
	}
	ingestConcurrentGoroutines(b, addr, msg, conns)
}

// ingestConcurrentGoroutines publishes one-event bundles over conns connections, a goroutine
// each waiting for its reply before the next (one call outstanding per connection), and reports
// the p99 latency. Where epoll exists the load generator of loadgen_linux_test.go is used
// instead: a goroutine per client connection costs the client as much as the server, which would
// hide the servers' difference.
func ingestConcurrentGoroutines(b *testing.B, addr string, msg []byte, conns int) {
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		cs[i] = c
	}
	work := make(chan struct{}, conns)
	lat := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	var failed atomic.Value
	for i, c := range cs {
		wg.Go(func() {
			var rep [20]byte
			for range work {
				t0 := time.Now()
				if _, err := c.Write(msg); err != nil {
					failed.Store(err)
					return
				}
				if _, err := io.ReadFull(c, rep[:]); err != nil {
					failed.Store(err)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		})
	}
	b.ReportAllocs()
	start := time.Now()
	n := 0
	for b.Loop() {
		work <- struct{}{}
		n++
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	reportLatency(b, all, n, elapsed)
}
