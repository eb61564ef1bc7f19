package bus

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// slowProxy forwards connections on a loopback port to target, the client's bytes at about
// rate bytes a second, and returns its address.
func slowProxy(t *testing.T, target string, rate int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	const tick = 10 * time.Millisecond
	chunk := rate / int(time.Second/tick)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			t.Cleanup(func() { c.Close(); u.Close() })
			go func() { _, _ = io.Copy(c, u) }()
			go func() {
				pace := time.NewTicker(tick)
				defer pace.Stop()
				buf := make([]byte, chunk)
				for range pace.C {
					n, err := c.Read(buf)
					if n > 0 {
						if _, err := u.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestLargeMessageOverASlowLink: a message that takes longer than the write timeout to go out,
// but goes out steadily, is delivered, and the connection stays up (paho's deadline covered the
// whole packet: a 90 MB complete topology on a busy machine dropped the connection, which then
// sent it again, for ever).
func TestLargeMessageOverASlowLink(t *testing.T) {
	t.Parallel()
	b := runBroker(t, BrokerOptions{MaxPacketSize: 64 << 20})
	sub := runClient(t, Options{URLs: []string{b.URL()}})
	handler, ch := collector(1)
	ctx := ctxT(t)
	if err := sub.Subscribe(ctx, "strata-test/large", handler); err != nil {
		t.Fatal(err)
	}
	sub.waitFor(t, Connected)

	proxy := slowProxy(t, b.Addrs()[0].String(), 16<<20) // 16 MB/s: 24 MB take 1.5 s
	c, err := New(Options{URLs: []string{"tcp://" + proxy}, Logger: testLogger(t), RetryMin: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c.writeTimeout = 300 * time.Millisecond
	pub := &testClient{Client: c, states: make(chan State, 16)}
	c.opts.OnState = func(s State) { pub.states <- s }
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(wait):
			t.Errorf("client Run did not return")
		}
	})
	pub.waitFor(t, Connected)

	body := strings.Repeat("x", 24<<20)
	if err := pub.Publish(ctx, "strata-test/large", []byte(body), 1); err != nil {
		t.Fatal(err)
	}
	got := take(t, ch, 1)
	if len(got[0].payload) != len(body) {
		t.Errorf("received %d bytes, want %d", len(got[0].payload), len(body))
	}
	if st := pub.Stats(); st.Connects != 1 {
		t.Errorf("%d connections, want 1: the slow write dropped the connection (%s)", st.Connects, st.LastError)
	}
}
