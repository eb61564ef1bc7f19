package bus

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// rawSubscriber is an MQTT 3.1.1 subscriber that reads each PUBLISH through a small buffer,
// keeping only its topic, size and hash: what it receives costs the process nothing more.
type rawSubscriber struct {
	in  io.Reader // the connection, after what the test read from it itself
	got chan rawMessage
}

type rawMessage struct {
	topic string
	size  int
	sum   [sha256.Size]byte
}

// subscribeRaw connects as clientID and subscribes to filter at QoS 0; the subscriber reads from
// its connection once start is called.
func subscribeRaw(t testing.TB, addr, clientID, filter string) *rawSubscriber {
	t.Helper()
	c := connectAs(t, addr, clientID, "", "")
	t.Cleanup(func() { c.Close() })
	body := mqttString([]byte{0, 1}, filter)
	body = append(body, 0)
	if _, err := c.Write(append(mqttLength([]byte{0x82}, len(body)), body...)); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 5)
	if _, err := io.ReadFull(c, ack); err != nil || ack[0] != 0x90 || ack[4] != 0 {
		t.Fatalf("SUBACK %x: %v", ack, err)
	}
	return &rawSubscriber{in: c, got: make(chan rawMessage, 16)}
}

func (s *rawSubscriber) start() { go s.read() }

func (s *rawSubscriber) read() {
	defer close(s.got)
	r := bufio.NewReaderSize(s.in, 64<<10)
	for {
		kind, err := r.ReadByte()
		if err != nil {
			return
		}
		n, shift := 0, 0
		for {
			d, err := r.ReadByte()
			if err != nil {
				return
			}
			n |= int(d&0x7f) << shift
			shift += 7
			if d&0x80 == 0 {
				break
			}
		}
		body := io.LimitReader(r, int64(n))
		if kind>>4 != 3 { // not a PUBLISH
			if _, err := io.Copy(io.Discard, body); err != nil {
				return
			}
			continue
		}
		var l [2]byte
		if _, err := io.ReadFull(body, l[:]); err != nil {
			return
		}
		topic := make([]byte, int(l[0])<<8|int(l[1]))
		if _, err := io.ReadFull(body, topic); err != nil {
			return
		}
		h := sha256.New()
		size, err := io.Copy(h, body)
		if err != nil {
			return
		}
		m := rawMessage{topic: string(topic), size: int(size)}
		h.Sum(m.sum[:0])
		s.got <- m
	}
}

// next returns the next message, failing the test after wait.
func (s *rawSubscriber) next(t testing.TB) rawMessage {
	t.Helper()
	select {
	case m, ok := <-s.got:
		if !ok {
			t.Fatal("the subscriber's connection ended")
		}
		return m
	case <-time.After(wait):
		t.Fatal("the subscriber got nothing")
	}
	return rawMessage{}
}

// state is a complete state of size bytes whose bytes depend on seed.
func state(size int, seed byte) []byte {
	return append(append([]byte(`{"seed":"`), bytes.Repeat([]byte{'a' + seed%26}, size-12)...), `"}`...)
}

// TestCompleteStatesAreNotCopiedPerSubscriber: the broker hands a complete state (a Complete*
// event) that the process publishes to its clients' queues by reference, not a copy per
// subscriber: what it allocates to deliver one to four subscribers is the packet each one is
// written from, not twice that (issue 17: at 100 000 members a complete topology is 94 MB, and
// every copy of it was fresh memory, often a collection, on the way to the subscriber).
func TestCompleteStatesAreNotCopiedPerSubscriber(t *testing.T) {
	if testenv.Race {
		t.Skip("the race detector's build copies a growing buffer twice: make test runs it without")
	}
	b := runBroker(t, BrokerOptions{})
	topic := model.TopicOf(&model.CompleteTopologyEvent{})
	const subscribers, size = 4, 8 << 20
	var subs []*rawSubscriber
	for i := range subscribers {
		subs = append(subs, subscribeRaw(t, b.Addrs()[0].String(), fmt.Sprint("agent-", i), "topology/#"))
		subs[i].start()
	}
	payload := state(size, 0)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := b.PublishLocal(topic, payload, 1, nil); err != nil {
		t.Fatal(err)
	}
	for i, s := range subs {
		if m := s.next(t); m.topic != topic || m.sum != sha256.Sum256(payload) {
			t.Errorf("subscriber %d got %d bytes on %s, not the state published", i, m.size, m.topic)
		}
	}
	runtime.ReadMemStats(&after)
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(subscribers*size*3/2); got > limit {
		t.Errorf("the broker allocated %d MiB to hand a state of %d MiB to %d subscribers, want < %d MiB",
			got>>20, size>>20, subscribers, limit>>20)
	}
}

// TestCompleteStateOvertakenGoesOutAsTheNewer: a complete state still waiting for a subscriber's
// connection when a newer one of its topic is published goes out as the newer one: it would
// only be replaced by it (the older state's position in the queue is kept, so nothing that came
// between is lost). Other topics are written as published.
func TestCompleteStateOvertakenGoesOutAsTheNewer(t *testing.T) {
	// Not parallel: it moves 32 MB, and the slow-link tests expect steady progress.
	b := runBroker(t, BrokerOptions{})
	topic := model.TopicOf(&model.CompleteTopologyEvent{})
	slow := subscribeRaw(t, b.Addrs()[0].String(), "slow", "#")
	first, second, third := state(32<<20, 1), state(1<<10, 2), state(2<<10, 3)
	if err := b.PublishLocal(topic, first, 1, nil); err != nil {
		t.Fatal(err)
	}
	// The subscriber reads the start of the first state: the broker is writing it, and the rest
	// is more than the connection's buffers hold.
	start := make([]byte, 64<<10)
	if _, err := io.ReadFull(slow.in, start); err != nil {
		t.Fatal(err)
	}
	slow.in = io.MultiReader(bytes.NewReader(start), slow.in)
	if err := b.PublishLocal(topic, second, 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.PublishLocal("strata-test/between", []byte("between"), 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.PublishLocal(topic, third, 1, nil); err != nil {
		t.Fatal(err)
	}
	slow.start()
	for i, want := range []struct {
		topic   string
		payload []byte
	}{{topic, first}, {topic, third}, {"strata-test/between", []byte("between")}, {topic, third}} {
		if m := slow.next(t); m.topic != want.topic || m.sum != sha256.Sum256(want.payload) {
			t.Errorf("message %d: %d bytes on %s, want %d bytes on %s", i, m.size, m.topic, len(want.payload), want.topic)
		}
	}
}
