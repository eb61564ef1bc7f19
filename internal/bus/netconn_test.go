package bus

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
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

// countingConn counts the Read calls that reach a connection.
type countingConn struct {
	net.Conn
	reads int
}

func (c *countingConn) Read(b []byte) (int, error) {
	c.reads++
	return c.Conn.Read(b)
}

// TestReadsAreBuffered: paho reads a packet's fixed header a byte at a time, so a client reading
// its socket directly made three read calls for every message it received (7 s of CPU in an
// undeploy of 100 000 members, issue 17). A burst of small packets now takes a few reads.
func TestReadsAreBuffered(t *testing.T) {
	t.Parallel()
	const n = 1000
	server, client := net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	var burst bytes.Buffer
	for i := range n {
		pk := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
		pk.TopicName = "topology/MemberTerminatedEvent"
		pk.Payload = []byte(fmt.Sprintf(`{"memberId":"m-%d"}`, i))
		if err := pk.Write(&burst); err != nil {
			t.Fatal(err)
		}
	}
	go func() { _, _ = server.Write(burst.Bytes()) }()
	counted := &countingConn{Conn: client}
	conn := newProgressConn(counted, time.Second)
	for i := range n {
		pk, err := packets.ReadPacket(conn)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if got, want := string(pk.(*packets.PublishPacket).Payload), fmt.Sprintf(`{"memberId":"m-%d"}`, i); got != want {
			t.Fatalf("packet %d: payload %s, want %s", i, got, want)
		}
	}
	if max := burst.Len()/readBuffer + n/10; counted.reads > max {
		t.Errorf("%d packets (%d bytes) took %d reads of the connection, want at most %d", n, burst.Len(), counted.reads, max)
	}
}
