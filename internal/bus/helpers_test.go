package bus

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/testenv"
)

// wait is how long a test waits for something that should happen promptly.
const wait = 20 * time.Second

// testLogger writes warnings and errors to the test output until the test ends.
func testLogger(t testing.TB) *slog.Logger { return testenv.Logger(t, slog.LevelWarn) }

// runBroker starts an embedded broker, stopped at the end of the test.
func runBroker(t testing.TB, o BrokerOptions) *Broker {
	t.Helper()
	if len(o.Listeners) == 0 {
		o.Listeners = []string{"127.0.0.1:0"}
	}
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	if o.Authenticate == nil && o.Identify == nil {
		o.AllowAnonymous = true // the tests of the client connect anonymously
	}
	b, err := NewBroker(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("broker Run: %v", err)
			}
		case <-time.After(wait):
			pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
			t.Errorf("broker Run did not return")
		}
	})
	return b
}

// testClient is a running Client with its state changes on a channel.
type testClient struct {
	*Client
	states chan State
}

// runClient creates a client for the URLs and runs it until the end of the test. Retries are
// fast so reconnects are quick.
func runClient(t testing.TB, o Options) *testClient {
	t.Helper()
	states := make(chan State, 1024)
	user := o.OnState
	o.OnState = func(s State) {
		if user != nil {
			user(s)
		}
		select {
		case states <- s:
		default:
		}
	}
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	if o.RetryMin == 0 {
		o.RetryMin = 20 * time.Millisecond
	}
	if o.RetryMax == 0 {
		o.RetryMax = 200 * time.Millisecond
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("client Run: %v", err)
			}
		case <-time.After(wait):
			t.Errorf("client Run did not return")
		}
	})
	return &testClient{Client: c, states: states}
}

// waitFor waits until the client reports state s.
func (c *testClient) waitFor(t testing.TB, s State) {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case got := <-c.states:
			if got == s {
				return
			}
		case <-timeout:
			t.Fatalf("client did not become %v (stats %+v)", s, c.Stats())
		}
	}
}

// received collects messages from a handler.
type received struct {
	topic   string
	payload string
}

func collector(n int) (Handler, chan received) {
	ch := make(chan received, n)
	return func(topic string, payload []byte) {
		ch <- received{topic, string(payload)}
	}, ch
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// mqttString appends a length-prefixed string.
func mqttString(b []byte, s string) []byte {
	return append(append(b, byte(len(s)>>8), byte(len(s))), s...)
}

// connectAs opens an MQTT 3.1.1 session with a username and password (anonymous with user "")
// and fails the test unless the broker accepts it.
func connectAs(t testing.TB, addr, clientID, user, password string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	flags := byte(0x02)
	if user != "" {
		flags |= 0xC0
	}
	body := mqttString(nil, "MQTT")
	body = append(body, 4, flags, 0, 60)
	body = mqttString(body, clientID)
	if user != "" {
		body = mqttString(mqttString(body, user), password)
	}
	if _, err := c.Write(append(mqttLength([]byte{0x10}, len(body)), body...)); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 4)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	if _, err := io.ReadFull(c, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		t.Fatalf("CONNACK %x: %v", ack, err)
	}
	_ = c.SetReadDeadline(time.Time{})
	return c
}

// heldClient runs a client of o whose sender, once connected, waits until release is called (at
// most wait) before it sends anything: the test fills the outbox and subscribes meanwhile.
func heldClient(t *testing.T, o Options) (c *testClient, release func()) {
	t.Helper()
	ready := make(chan struct{})
	o.OnState = func(s State) {
		if s == Connected {
			select {
			case <-ready:
			case <-time.After(wait):
			}
		}
	}
	return runClient(t, o), sync.OnceFunc(func() { close(ready) })
}
