package databridge

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"

	"github.com/strata-paas/strata/internal/clock"
	"github.com/strata-paas/strata/internal/databridge/gen"
	"github.com/strata-paas/strata/internal/model"
)

// steadyPublisher publishes on its own connection until stopped and counts failures, to show that
// bad input on other connections does not disturb it.
func steadyPublisher(t *testing.T, ts *testServer) (stop func() (ok, failed int64)) {
	t.Helper()
	c, err := NewClient(ClientOptions{URLs: []string{"tcp://" + ts.PlainAddr().String()}, TLS: clientTLS(t),
		Username: "admin", Password: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	// The plain URL authenticates at port+100; point the auth address at the test's secure port.
	c.endpoints[0].authAddr = ts.SecureAddr().String()
	ctx, cancel := context.WithCancel(context.Background())
	var okN, failN atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			if err := c.Publish(ctx, HealthEvent(sample)); err != nil {
				if ctx.Err() == nil {
					failN.Add(1)
					t.Errorf("steady publisher: %v", err)
				}
				continue
			}
			okN.Add(1)
		}
	})
	return func() (int64, int64) {
		// Let it publish at least a few bundles across the test.
		for deadline := time.Now().Add(5 * time.Second); okN.Load() < 5 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		cancel()
		wg.Wait()
		c.Close()
		return okN.Load(), failN.Load()
	}
}

func TestRejections(t *testing.T) {
	ts := startServer(t, nil)
	stop := steadyPublisher(t, ts)
	ctx := context.Background()

	t.Run("wrong password", func(t *testing.T) {
		cl, _ := genClient(t, ts.SecureAddr().String(), clientTLS(t))
		_, err := cl.Connect(ctx, "admin", "wrong")
		var ae *gen.ThriftAuthenticationException
		if !errors.As(err, &ae) {
			t.Fatalf("connect with a wrong password: %v, want ThriftAuthenticationException", err)
		}
		if ts.Stats().AuthFailures == 0 {
			t.Error("AuthFailures not counted")
		}
		c, _ := NewClient(ClientOptions{URLs: []string{ts.SecureAddr().String()}, TLS: clientTLS(t), Username: "admin", Password: "x"})
		if err := c.Publish(ctx, HealthEvent(sample)); !errors.Is(err, ErrAuthentication) {
			t.Errorf("client publish with a wrong password: %v, want ErrAuthentication", err)
		}
	})

	t.Run("unknown session", func(t *testing.T) {
		cl, _ := genClient(t, ts.PlainAddr().String(), nil)
		err := cl.Publish(ctx, healthBundle("no-such-session", sample))
		var se *gen.ThriftSessionExpiredException
		if !errors.As(err, &se) {
			t.Fatalf("publish: %v, want ThriftSessionExpiredException", err)
		}
		_, err = cl.DefineStream(ctx, "no-such-session", HealthStream().String())
		if !errors.As(err, &se) {
			t.Fatalf("defineStream: %v, want ThriftSessionExpiredException", err)
		}
	})

	cl, _ := genClient(t, ts.SecureAddr().String(), clientTLS(t))
	sid, err := cl.Connect(ctx, "admin", "admin")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("undefined stream", func(t *testing.T) {
		b := healthBundle(sid, sample)
		b.StringAttributeList[0] = "nobody:1.0.0"
		err := cl.Publish(ctx, b)
		var ue *gen.ThriftUndefinedEventTypeException
		if !errors.As(err, &ue) {
			t.Fatalf("publish: %v, want ThriftUndefinedEventTypeException", err)
		}
	})

	t.Run("malformed definition", func(t *testing.T) {
		for _, def := range []string{`{"name":`, `{"version":"1.0.0"}`, `{"name":"x","payloadData":[{"name":"a","type":"BLOB"}]}`} {
			_, err := cl.DefineStream(ctx, sid, def)
			var me *gen.ThriftMalformedStreamDefinitionException
			if !errors.As(err, &me) {
				t.Errorf("defineStream(%s): %v, want ThriftMalformedStreamDefinitionException", def, err)
			}
		}
	})

	t.Run("different definition", func(t *testing.T) {
		d := *HealthStream()
		d.Payload = d.Payload[:6]
		_, err := cl.DefineStream(ctx, sid, d.String())
		var ade *gen.ThriftDifferentStreamDefinitionAlreadyDefinedException
		if !errors.As(err, &ade) {
			t.Fatalf("defineStream: %v, want ThriftDifferentStreamDefinitionAlreadyDefinedException", err)
		}
		_, err = cl.FindStreamId(ctx, sid, "nope", "1.0.0")
		var nde *gen.ThriftNoStreamDefinitionExistException
		if !errors.As(err, &nde) {
			t.Fatalf("findStreamId: %v, want ThriftNoStreamDefinitionExistException", err)
		}
	})

	t.Run("short bundle", func(t *testing.T) {
		before := ts.Stats()
		b := healthBundle(sid, sample, sample)
		b.DoubleAttributeList = b.DoubleAttributeList[:1] // the second event has no value
		err := cl.Publish(ctx, b)
		var ae thrift.TApplicationException
		if !errors.As(err, &ae) || ae.TypeId() != thrift.PROTOCOL_ERROR {
			t.Fatalf("publish: %v, want a TApplicationException PROTOCOL_ERROR", err)
		}
		// The connection survives and the handler saw nothing of the rejected bundle.
		if err := cl.Publish(ctx, healthBundle(sid, sample)); err != nil {
			t.Fatalf("publish after a short bundle: %v", err)
		}
		after := ts.Stats()
		if after.RejectedBundles != before.RejectedBundles+1 {
			t.Errorf("rejected %d -> %d", before.RejectedBundles, after.RejectedBundles)
		}
	})

	badFrame := func(t *testing.T, payload []byte) {
		t.Helper()
		before := ts.Stats().BadFrames
		c, err := net.Dial("tcp", ts.PlainAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(payload)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := io.Copy(io.Discard, c); err != nil || n != 0 {
			t.Fatalf("read after bad input: %d bytes, %v; want the connection closed", n, err)
		}
		for deadline := time.Now().Add(5 * time.Second); ts.Stats().BadFrames == before; {
			if time.Now().After(deadline) {
				t.Fatal("BadFrames not counted")
			}
			time.Sleep(time.Millisecond)
		}
	}

	t.Run("garbage", func(t *testing.T) {
		badFrame(t, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		badFrame(t, []byte{0x80, 0x01, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x11, 0x22})
	})

	t.Run("2 GiB length", func(t *testing.T) {
		var ms0, ms1 runtimeMem
		ms0.read()
		// A strict header whose method name claims 2 GiB.
		badFrame(t, []byte{0x80, 0x01, 0x00, 0x01, 0x7f, 0xff, 0xff, 0xff, 'p'})
		// A frame claiming 2 GiB.
		badFrame(t, []byte{0x7f, 0xff, 0xff, 0xff, 0x80, 0x01, 0x00, 0x01})
		// A publish whose string list claims 2^31-1 elements, and one whose string claims 2 GiB.
		msg := publishMessage(sid, []Event{HealthEvent(sample)})
		i := indexOf(msg, []byte{tList, 0, 7, tString})
		huge := append([]byte(nil), msg[:i+4]...)
		badFrame(t, binary.BigEndian.AppendUint32(huge, 0x7fffffff))
		huge = binary.BigEndian.AppendUint32(append([]byte(nil), msg[:i+4]...), 1)
		badFrame(t, binary.BigEndian.AppendUint32(huge, 0x7fffffff))
		ms1.read()
		if grew := ms1.total - ms0.total; grew > 64<<20 {
			t.Errorf("allocated %d MiB while rejecting absurd lengths", grew>>20)
		}
	})

	ok, failed := stop()
	if ok == 0 || failed != 0 {
		t.Errorf("steady publisher: %d ok, %d failed", ok, failed)
	}
}

func indexOf(b, sub []byte) int {
	for i := range len(b) - len(sub) + 1 {
		if string(b[i:i+len(sub)]) == string(sub) {
			return i
		}
	}
	panic("not found")
}

func TestSessionExpiry(t *testing.T) {
	clock := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ts := startServer(t, func(o *ServerOptions) { o.SessionTTL = time.Minute; o.Now = clock.Now })
	ctx := context.Background()
	cl, _ := genClient(t, ts.SecureAddr().String(), clientTLS(t))
	sid, err := cl.Connect(ctx, "admin", "admin")
	if err != nil {
		t.Fatal(err)
	}
	// Activity keeps the session alive.
	for range 3 {
		clock.Advance(50 * time.Second)
		if err := cl.Publish(ctx, healthBundle(sid, sample)); err != nil {
			t.Fatalf("publish within the ttl: %v", err)
		}
	}
	clock.Advance(61 * time.Second)
	var se *gen.ThriftSessionExpiredException
	if err := cl.Publish(ctx, healthBundle(sid, sample)); !errors.As(err, &se) {
		t.Fatalf("publish after the ttl: %v, want ThriftSessionExpiredException", err)
	}

	// The Strata client reconnects, re-defines and retries on its own.
	c, err := NewClient(ClientOptions{URLs: []string{"ssl://" + ts.SecureAddr().String()}, TLS: clientTLS(t),
		Username: "admin", Password: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	logs := LogStream(LogStreamName("-1234", "php.cluster", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	if err := c.Publish(ctx, LogEvent(logs, model.LogEntry{MemberID: "m", Message: "hello"})); err != nil {
		t.Fatal(err)
	}
	first := c.SessionID()
	clock.Advance(2 * time.Minute)
	if err := c.Publish(ctx, LogEvent(logs, model.LogEntry{MemberID: "m", Message: "again"})); err != nil {
		t.Fatalf("publish after expiry: %v", err)
	}
	if c.SessionID() == first {
		t.Error("client kept its expired session")
	}
	evs := ts.rec.wait(t, 5)
	if e, ok := evs[4].LogEntry(); !ok || e.Message != "again" || e.Stream != "logs.0.php.cluster.2026.01.01" {
		t.Errorf("last event = %+v, %v", e, ok)
	}
}

func TestClientFailover(t *testing.T) {
	a := startServer(t, nil)
	b := startServer(t, nil)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	c, err := NewClient(ClientOptions{
		URLs:     []string{"ssl://" + deadAddr, "ssl://" + a.SecureAddr().String(), "ssl://" + b.SecureAddr().String()},
		TLS:      clientTLS(t),
		Username: "admin", Password: "admin",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Publish(ctx, HealthEvent(sample)); err != nil {
		t.Fatal(err)
	}
	a.rec.wait(t, 1)
	a.cancel()
	<-a.done
	a.done <- nil // for the cleanup
	if err := c.Publish(ctx, HealthEvent(sample)); err != nil {
		t.Fatalf("publish after the receiver stopped: %v", err)
	}
	b.rec.wait(t, 1)
}

func TestFramedAndPlain(t *testing.T) {
	ts := startServer(t, nil)
	ctx := context.Background()
	sec, _ := genClient(t, ts.SecureAddr().String(), clientTLS(t))
	sid, err := sec.Connect(ctx, "admin", "admin")
	if err != nil {
		t.Fatal(err)
	}
	// The plain service over the framed transport, with the generated plain-service client.
	conf := &thrift.TConfiguration{ConnectTimeout: 5 * time.Second, SocketTimeout: 10 * time.Second}
	trans := thrift.NewTFramedTransportConf(thrift.NewTSocketConf(ts.PlainAddr().String(), conf), conf)
	if err := trans.Open(); err != nil {
		t.Fatal(err)
	}
	defer trans.Close()
	plain := gen.NewThriftEventTransmissionServiceClientFactory(trans, thrift.NewTBinaryProtocolFactoryConf(conf))
	if err := plain.Publish(ctx, healthBundle(sid, sample)); err != nil {
		t.Fatal(err)
	}
	if ok, err := plain.DeleteStreamByNameVersion(ctx, sid, "in_flight_requests", "1.0.0"); err != nil || !ok {
		t.Fatalf("deleteStreamByNameVersion = %v, %v", ok, err)
	}
	if ok, err := plain.DeleteStreamById(ctx, sid, model.InFlightStreamID); err != nil || ok {
		t.Fatalf("deleteStreamById of a deleted stream = %v, %v", ok, err)
	}
	ts.rec.wait(t, 1)

	// connect is not a method of the plain service.
	raw, _ := genClient(t, ts.PlainAddr().String(), nil)
	_, err = raw.Connect(ctx, "admin", "admin")
	var ae thrift.TApplicationException
	if !errors.As(err, &ae) || ae.TypeId() != thrift.UNKNOWN_METHOD {
		t.Fatalf("connect on the plain service: %v, want UNKNOWN_METHOD", err)
	}
	// The connection goes on after the unknown method.
	if err := raw.Publish(ctx, healthBundle(sid, sample)); err != nil {
		t.Fatal(err)
	}
	ts.rec.wait(t, 2)
}

// TestLargeBundles sends bundles that arrive in many reads, pipelined, framed and unframed.
func TestLargeBundles(t *testing.T) {
	ts := startServer(t, nil)
	sec, _ := genClient(t, ts.SecureAddr().String(), clientTLS(t))
	sid, err := sec.Connect(context.Background(), "admin", "admin")
	if err != nil {
		t.Fatal(err)
	}
	msg := publishMessage(sid, benchSamples(2000))
	for _, framed := range []bool{false, true} {
		c, err := net.Dial("tcp", ts.PlainAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		var out []byte
		for range 3 {
			if framed {
				out = binary.BigEndian.AppendUint32(out, uint32(len(msg)))
			}
			out = append(out, msg...)
		}
		go func() {
			for len(out) > 0 { // in uneven pieces
				n := min(len(out), 7919)
				c.Write(out[:n])
				out = out[n:]
			}
		}()
		reply := publishReply
		if framed {
			reply = binary.BigEndian.AppendUint32(nil, uint32(len(publishReply)))
			reply = append(reply, publishReply...)
		}
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		got := make([]byte, 3*len(reply))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("framed=%v: %v", framed, err)
		}
		for i := range 3 {
			if string(got[i*len(reply):(i+1)*len(reply)]) != string(reply) {
				t.Fatalf("framed=%v: reply %d = %x", framed, i, got)
			}
		}
		c.Close()
	}
	evs := ts.rec.wait(t, 6*2000)
	if s, _ := evs[len(evs)-1].HealthSample(); s.Value != 1999*1.5 {
		t.Errorf("last value %v", s.Value)
	}
}
