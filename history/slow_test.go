package history

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/testenv"
)

// proxy forwards TCP connections to a server and can hold all traffic: bytes read while it is
// paused are delivered when it resumes, even if their sender has given up and closed meanwhile.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cond   *sync.Cond
	paused bool
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	p.cond = sync.NewCond(&p.mu)
	t.Cleanup(func() { ln.Close(); p.resume() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) pause() { p.mu.Lock(); p.paused = true; p.mu.Unlock() }

func (p *proxy) resume() {
	p.mu.Lock()
	p.paused = false
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *proxy) gate() {
	p.mu.Lock()
	for p.paused {
		p.cond.Wait()
	}
	p.mu.Unlock()
}

func (p *proxy) serve(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.gate()
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				if err != io.EOF {
					break
				}
				break
			}
		}
		dst.Close()
		src.Close()
	}
	go pipe(s, c)
	go pipe(c, s)
}

// TestSlowClickHouse holds all traffic to ClickHouse for a while under a steady stream: inserts
// time out (some reach the server later, after the writer gave up on them), batches are spooled,
// and in the end every record is stored exactly once.
func TestSlowClickHouse(t *testing.T) {
	t.Parallel()
	p := newProxy(t, testenv.ClickHouse(t))
	c, err := NewClickHouse(t.Context(), Options{DSN: "clickhouse://" + p.addr() + "/" + randomDB("slow"),
		DataDir: t.TempDir(), BatchSize: 200, FlushInterval: 20 * time.Millisecond, InsertTimeout: 500 * time.Millisecond,
		Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	run(t, c)
	pr := produce(c, 0)
	waitFor(t, 10*time.Second, "first inserts", func() bool { return c.Stats().Inserted > 500 })
	for range 3 {
		p.pause()
		waitFor(t, 10*time.Second, "spooling", func() bool { return c.Stats().Failures > 0 && c.Stats().Spooled > 0 })
		time.Sleep(time.Second) // ClickHouse "slow" for a while, with the stream running
		p.resume()
		waitFor(t, 20*time.Second, "recovery", func() bool { return c.Stats().Healthy })
	}
	n := pr.halt()
	drained(t, c, 60*time.Second)
	st := c.Stats()
	t.Logf("stats %+v", st)
	if st.Dropped != 0 || st.SpoolDropped != 0 {
		t.Errorf("dropped rows: %+v", st)
	}
	exactlyOnce(t, c, "health", "value", uint64(n))
	exactlyOnce(t, c, "logs", "message", uint64(n))
}
