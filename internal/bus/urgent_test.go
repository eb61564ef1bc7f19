package bus

import (
	"bytes"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// TestPublishUrgentOvertakesTheOutbox: a message published with PublishUrgent goes out ahead of
// the messages queued before it and behind an earlier urgent one, and never ahead of a message
// published after it; both FIFOs are counted in Stats.Outbox and drained by Flush (issue 17: a
// complete-topology answer waited behind ~9 500 queued messages).
func TestPublishUrgentOvertakesTheOutbox(t *testing.T) {
	t.Parallel()
	for name, start := range brokers(t) {
		t.Run(name, func(t *testing.T) {
			url := start(t)
			pub, subReady := heldClient(t, Options{URLs: []string{url}})
			ctx := ctxT(t)
			// Queued before the sender runs: 100 ordinary messages, then two urgent ones.
			for i := range 100 {
				if err := pub.Publish(ctx, "strata-test/urgent", []byte(strconv.Itoa(i)), 1); err != nil {
					t.Fatal(err)
				}
			}
			for _, p := range []string{"u1", "u2"} {
				if err := pub.PublishUrgent(ctx, "strata-test/urgent", []byte(p), 1); err != nil {
					t.Fatal(err)
				}
			}
			if st := pub.Stats(); st.Outbox != 102 {
				t.Errorf("outbox %d, want 102", st.Outbox)
			}
			handler, ch := collector(200)
			sub := runClient(t, Options{URLs: []string{url}})
			if err := sub.Subscribe(ctx, "strata-test/urgent", handler); err != nil {
				t.Fatal(err)
			}
			sub.waitFor(t, Connected)
			subReady()
			if err := pub.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			// Once connected, an urgent message goes behind what is in flight but no later
			// than anything published after it.
			if err := pub.PublishUrgent(ctx, "strata-test/urgent", []byte("u3"), 1); err != nil {
				t.Fatal(err)
			}
			if err := pub.Publish(ctx, "strata-test/urgent", []byte("last"), 1); err != nil {
				t.Fatal(err)
			}
			if err := pub.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range take(t, ch, 104) {
				got = append(got, r.payload)
			}
			if got[0] != "u1" || got[1] != "u2" {
				t.Errorf("first messages %v, want the urgent ones u1 u2", got[:2])
			}
			for i := range 100 {
				if got[2+i] != strconv.Itoa(i) {
					t.Fatalf("message %d is %q, want %d in order: %v", 2+i, got[2+i], i, got)
				}
			}
			if got[102] != "u3" || got[103] != "last" {
				t.Errorf("last messages %v, want u3 then last", got[102:])
			}
			if st := pub.Stats(); st.Outbox != 0 || st.Sent != 104 {
				t.Errorf("stats %+v, want an empty outbox and 104 sent", st)
			}
		})
	}
}

// TestPublishUrgentLocal: with Options.Local, an urgent message goes to the broker in the process
// without a connection, after the urgent ones queued before it and before the ordinary messages
// published after it, and costs the process two copies of it fewer than the connection: the
// client's packet and the broker's read of it, with a 94 MB complete topology (issue 17). What
// remains are the broker's two for the subscriber (its copy of the message and the packet it
// writes) and the subscriber's two (paho reads the packet, then copies the payload out). Not parallel: it counts the bytes the whole process allocates.
func TestPublishUrgentLocal(t *testing.T) {
	b := runBroker(t, BrokerOptions{MaxPacketSize: 64 << 20})
	ctx := ctxT(t)
	ch := make(chan []byte, 2) // not collector's: its string is a copy
	sub := runClient(t, Options{URLs: []string{b.URL()}})
	if err := sub.Subscribe(ctx, "strata-test/local", func(_ string, p []byte) { ch <- p }); err != nil {
		t.Fatal(err)
	}
	sub.waitFor(t, Connected)
	payload := bytes.Repeat([]byte("0123456789abcdef"), 24<<20/16)
	copies := map[string]float64{}
	for _, c := range []struct {
		name  string
		local LocalBroker
	}{{"connection", nil}, {"local", b}} {
		name, local := c.name, c.local
		pub := runClient(t, Options{URLs: []string{b.URL()}, Local: local})
		pub.waitFor(t, Connected)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if err := pub.PublishUrgent(ctx, "strata-test/local", payload, 1); err != nil {
			t.Fatal(err)
		}
		if err := pub.Publish(ctx, "strata-test/local", []byte("after"), 1); err != nil {
			t.Fatal(err)
		}
		var got [2][]byte
		for i := range got {
			select {
			case got[i] = <-ch:
			case <-time.After(wait):
				t.Fatalf("%s: %d messages of 2 received", name, i)
			}
		}
		runtime.ReadMemStats(&after)
		if !bytes.Equal(got[0], payload) || string(got[1]) != "after" {
			t.Fatalf("%s: received %d and %q bytes, want the %d urgent ones, then after", name, len(got[0]), got[1], len(payload))
		}
		copies[name] = float64(after.TotalAlloc-before.TotalAlloc) / float64(len(payload))
		if st := pub.Stats(); st.Sent != 2 || st.Outbox != 0 {
			t.Errorf("%s: publisher stats %+v, want 2 sent and an empty outbox", name, st)
		}
	}
	t.Logf("the process allocated %.1f times the payload over the connection, %.1f through the local broker", copies["connection"], copies["local"])
	if copies["connection"]-copies["local"] < 1.9 {
		t.Errorf("the local broker saved %.1f copies of the payload, want the client's packet and the broker's read (2)", copies["connection"]-copies["local"])
	}
}
