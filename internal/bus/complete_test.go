package bus

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// rawSubscriber is an MQTT subscriber that reads each PUBLISH through a small buffer, keeping
// only its topic, size and hash: what it receives costs the process nothing more.
type rawSubscriber struct {
	in  io.Reader // the connection, after what the test read from it itself
	v5  bool
	got chan rawMessage
}

type rawMessage struct {
	topic string
	size  int
	sum   [sha256.Size]byte
}

// subscribeRaw connects as clientID with MQTT 3.1.1 and subscribes to filter at QoS 0; the
// subscriber reads from its connection once start is called.
func subscribeRaw(t testing.TB, addr, clientID, filter string) *rawSubscriber {
	t.Helper()
	c := connectAs(t, addr, clientID, "", "")
	t.Cleanup(func() { c.Close() })
	s := &rawSubscriber{in: c, got: make(chan rawMessage, 16)}
	s.subscribe(t, c, filter)
	return s
}

// subscribeRaw5 is subscribeRaw with MQTT 5, announcing maxPacket as the client's maximum packet
// size (0: none).
func subscribeRaw5(t testing.TB, addr, clientID, filter string, maxPacket uint32) *rawSubscriber {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var props []byte
	if maxPacket > 0 {
		props = binary.BigEndian.AppendUint32([]byte{0x27}, maxPacket)
	}
	body := append(mqttString(nil, "MQTT"), 5, 0x02, 0, 60)
	body = append(mqttLength(body, len(props)), props...)
	body = mqttString(body, clientID)
	if _, err := c.Write(append(mqttLength([]byte{0x10}, len(body)), body...)); err != nil {
		t.Fatal(err)
	}
	if kind, ack := readSmall(t, c); kind != 0x20 || len(ack) < 2 || ack[1] != 0 {
		t.Fatalf("CONNACK %x %x", kind, ack)
	}
	s := &rawSubscriber{in: c, v5: true, got: make(chan rawMessage, 16)}
	s.subscribe(t, c, filter)
	return s
}

func (s *rawSubscriber) subscribe(t testing.TB, c net.Conn, filter string) {
	t.Helper()
	body := []byte{0, 1}
	if s.v5 {
		body = append(body, 0) // no properties
	}
	body = append(mqttString(body, filter), 0)
	if _, err := c.Write(append(mqttLength([]byte{0x82}, len(body)), body...)); err != nil {
		t.Fatal(err)
	}
	if kind, ack := readSmall(t, c); kind != 0x90 || ack[len(ack)-1] != 0 {
		t.Fatalf("SUBACK %x %x", kind, ack)
	}
}

// readSmall reads one packet of a few bytes: its first byte and its body.
func readSmall(t testing.TB, c net.Conn) (byte, []byte) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	defer c.SetReadDeadline(time.Time{})
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(c, hdr); err != nil || hdr[1]&0x80 != 0 {
		t.Fatalf("packet header %x: %v", hdr, err)
	}
	body := make([]byte, hdr[1])
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatal(err)
	}
	return hdr[0], body
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
		n, err := binary.ReadUvarint(r) // MQTT's variable-length integer is a little-endian base-128 one
		if err != nil {
			return
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
		if kind&0x06 != 0 { // the packet id
			if _, err := io.ReadFull(body, l[:]); err != nil {
				return
			}
		}
		if s.v5 { // the properties (mochi sends a few bytes: the message expiry)
			if _, err := io.ReadFull(body, l[:1]); err != nil || l[0]&0x80 != 0 {
				return
			}
			if _, err := io.CopyN(io.Discard, body, int64(l[0])); err != nil {
				return
			}
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

// TestCompleteStatesAreNotCopiedPerSubscriber: the broker writes a complete state (a Complete*
// event, or a cluster's part of the topology) that the process publishes to each subscriber from
// the one copy it was given: what it allocates to deliver two states of 8 MiB to four subscribers
// is a fraction of one copy, where mochi copied each twice for each subscriber (issue 17: at
// 100 000 members a complete topology is 94 MB, and every copy of it was fresh memory, often a
// collection, on the way to the subscriber).
func TestCompleteStatesAreNotCopiedPerSubscriber(t *testing.T) {
	b := runBroker(t, BrokerOptions{})
	const subscribers, size = 4, 8 << 20
	var subs []*rawSubscriber
	for i := range subscribers {
		subs = append(subs, subscribeRaw(t, b.Addrs()[0].String(), fmt.Sprint("agent-", i), "#"))
		subs[i].start()
	}
	topics := []string{model.TopicOf(&model.CompleteTopologyEvent{}), model.ClusterTopologyTopic("app.php.domain")}
	payloads := [][]byte{state(size, 0), state(size, 1)}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i, topic := range topics {
		payload := payloads[i]
		if err := b.PublishLocal(topic, payload, 1, nil); err != nil {
			t.Fatal(err)
		}
		for j, s := range subs {
			if m := s.next(t); m.topic != topic || m.sum != sha256.Sum256(payload) {
				t.Errorf("subscriber %d got %d bytes on %s, not the state published on %s", j, m.size, m.topic, topic)
			}
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > size/4 {
		t.Errorf("the broker allocated %d KiB to hand two states of %d KiB to %d subscribers, want < %d KiB",
			got>>10, size>>10, subscribers, size>>12)
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

// TestCompleteStateToMQTT5Clients: an MQTT 5 client gets a complete state whole, and one whose
// maximum packet size is below the state's does not get it at all (MQTT 5 §3.1.2.11.4: the
// broker drops such a packet), but gets what follows it; the drop is counted.
func TestCompleteStateToMQTT5Clients(t *testing.T) {
	t.Parallel()
	b := runBroker(t, BrokerOptions{})
	addr := b.Addrs()[0].String()
	topic := model.TopicOf(&model.CompleteTopologyEvent{})
	whole := subscribeRaw5(t, addr, "v5", "#", 0)
	limited := subscribeRaw5(t, addr, "v5-limited", "#", 1<<20)
	whole.start()
	limited.start()
	payload := state(2<<20, 4)
	if err := b.PublishLocal(topic, payload, 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.PublishLocal("strata-test/after", []byte("after"), 1, nil); err != nil {
		t.Fatal(err)
	}
	if m := whole.next(t); m.topic != topic || m.sum != sha256.Sum256(payload) {
		t.Errorf("the MQTT 5 client got %d bytes on %s, want the state", m.size, m.topic)
	}
	if m := limited.next(t); m.topic != "strata-test/after" {
		t.Errorf("the client of 1 MiB packets got %d bytes on %s, want the message after the state", m.size, m.topic)
	}
	if d := b.Stats().MessagesDropped; d != 1 {
		t.Errorf("%d messages dropped, want the state to the client of 1 MiB packets", d)
	}
}

// TestClientsMayNotPublishStandIns: a client's publication, or will, whose payload starts as the
// broker's stand-in for a complete state is refused, whatever its topic or the client's role:
// the broker would have written the complete topology in its place, to any subscriber.
func TestClientsMayNotPublishStandIns(t *testing.T) {
	t.Parallel()
	b := runBroker(t, BrokerOptions{})
	topic := model.TopicOf(&model.CompleteTopologyEvent{})
	if err := b.PublishLocal(topic, state(1<<10, 5), 1, nil); err != nil { // a state to stand in for
		t.Fatal(err)
	}
	sub := subscribeRaw(t, b.Addrs()[0].String(), "sub", "#")
	sub.start()
	pub := runClient(t, Options{URLs: []string{b.URL()}}) // anonymous on loopback: the platform's role
	ctx := ctxT(t)
	for _, at := range []string{"strata-test/forged", topic} {
		if err := pub.Publish(ctx, at, []byte(standInPrefix+topic), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Publish(ctx, "strata-test/after", []byte("after"), 1); err != nil {
		t.Fatal(err)
	}
	if m := sub.next(t); m.topic != "strata-test/after" {
		t.Errorf("the subscriber got %d bytes on %s, want only the message after the stand-ins", m.size, m.topic)
	}
	if n := b.Stats().PublishRefused; n != 2 {
		t.Errorf("%d publications refused, want the two stand-ins", n)
	}
	_, err := mqttClient(t, b.URL(), "will", "", "", func(o *mqtt.ClientOptions) {
		o.SetBinaryWill("strata-test/will", []byte(standInPrefix+topic), 1, false)
	})
	if err == nil {
		t.Error("a will whose payload is a stand-in was accepted")
	}
}

// TestClusterPartsForgottenWithoutSubscribers: the broker keeps a cluster's part while a client
// subscribes to its topic, and forgets it once none does (the Complete* events it keeps, as
// retained messages); a stand-in of a part forgotten meanwhile is not written, and the packets
// written with it still are.
func TestClusterPartsForgottenWithoutSubscribers(t *testing.T) {
	t.Parallel()
	b := runBroker(t, BrokerOptions{})
	// A cluster id so long that the stand-in's packet is larger than most states.
	part := model.ClusterTopologyTopic(strings.Repeat("app.php.domain.", 40))
	complete := model.TopicOf(&model.CompleteTopologyEvent{})
	agent := subscribeRaw(t, b.Addrs()[0].String(), "agent", "#")
	agent.start()
	for _, topic := range []string{part, complete} {
		payload := state(1<<10, 7)
		if err := b.PublishLocal(topic, payload, 1, nil); err != nil {
			t.Fatal(err)
		}
		if m := agent.next(t); m.topic != topic || m.sum != sha256.Sum256(payload) {
			t.Fatalf("the agent got %d bytes on %s, want the state on %s", m.size, m.topic, topic)
		}
	}
	kept := func(topic string) bool { _, ok := b.latest.states.Load(topic); return ok }
	b.latest.forgetUnsubscribed()
	if !kept(part) || !kept(complete) {
		t.Fatalf("a state a client subscribes to was forgotten (part kept %v, complete topology kept %v)", kept(part), kept(complete))
	}
	agent.in.(io.Closer).Close()
	testenv.Eventually(t, wait, "the agent to be gone", func() bool { return b.Stats().ClientsConnected == 0 })
	b.latest.forgetUnsubscribed()
	if kept(part) || !kept(complete) {
		t.Errorf("with no subscriber: part kept %v, want false; complete topology kept %v, want true", kept(part), kept(complete))
	}

	// A stand-in of the forgotten part, between two other packets of one write.
	w := &bufConn{}
	c := newLimitConn(w, 1<<20, nil, b.latest)
	before := publishPacket("strata-test/before", "before")
	after := publishPacket("strata-test/after", "after")
	dropped := b.Stats().MessagesDropped
	in := slices.Concat(before, publishPacket(part, standInPrefix+part), after)
	if n, err := c.Write(in); n != len(in) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(in))
	}
	if got, want := w.b.Bytes(), slices.Concat(before, after); !bytes.Equal(got, want) {
		t.Errorf("wrote %q, want %q", got, want)
	}
	if d := b.Stats().MessagesDropped - dropped; d != 1 {
		t.Errorf("%d messages dropped, want the stand-in of the forgotten part", d)
	}
}

// publishPacket is an MQTT 3.1.1 PUBLISH packet at QoS 0.
func publishPacket(topic, payload string) []byte {
	body := append(mqttString(nil, topic), payload...)
	return append(mqttLength([]byte{0x30}, len(body)), body...)
}

// bufConn is a connection that only collects what is written to it.
type bufConn struct {
	net.Conn
	b bytes.Buffer
}

func (c *bufConn) Write(p []byte) (int, error) { return c.b.Write(p) }
