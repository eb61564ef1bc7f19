package bus

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/strata-paas/strata/internal/model"
)

// completeEvents are the topics of the Complete* events.
var completeEvents = map[string]bool{
	model.TopicOf(&model.CompleteTopologyEvent{}):     true,
	model.TopicOf(&model.CompleteApplicationsEvent{}): true,
	model.TopicOf(&model.CompleteTenantEvent{}):       true,
}

// isCompleteState reports whether each message on topic is a whole state, which a newer one on
// the topic replaces entirely: the Complete* events, and a cluster's part of the topology.
func isCompleteState(topic string) bool {
	return completeEvents[topic] || strings.HasPrefix(topic, model.ClusterTopologyPrefix)
}

// latestStates hands the complete states the process publishes to its clients without copying
// them. mochi copies a publication's payload for each subscriber it queues it for, then encodes
// that copy into a buffer it writes: at 100 000 members a complete topology is 94 MB, and each
// copy was fresh memory, often enough to start a collection on the way (issue 17). So the
// broker keeps the state and gives mochi a small stand-in naming its topic, which mochi copies
// and encodes instead; the client's connection (limitConn.Write) writes the packet with the
// state in place of the stand-in, from the one copy every subscriber shares. What it writes is
// the latest state published on that topic: a state that a newer one overtook while it waited in
// a subscriber's queue goes out as the newer one, in its own place in that queue (the messages
// queued after it, older than the newer state, still follow it, as after an urgent publication).
// A client may not publish a stand-in itself (authHook).
//
// The broker keeps the latest Complete* events as it would retained messages. A cluster's part
// is kept while a client subscribes to its topic (an agent does while it asks for it), and
// forgotten by forgetUnsubscribed, so that the parts of clusters long gone are not kept for
// ever; a stand-in of a part forgotten meanwhile is not written.
type latestStates struct {
	srv     *mochi.Server
	mu      sync.Mutex   // orders the publications: the last stored is the last queued
	states  sync.Map     // topic -> []byte, the latest state handed to mochi
	used    atomic.Bool  // a stand-in was published: connections look for them
	dropped atomic.Int64 // stand-ins not written: over the client's maximum packet size, or forgotten
}

// forgetInterval is how often the broker forgets the clusters' parts nobody subscribes to.
const forgetInterval = time.Minute

// standInPrefix starts the payload of a stand-in, which goes on with the topic: a NUL, so no
// event's JSON.
const standInPrefix = "\x00strata: the latest state of "

// publish hands payload, a state on a topic of isCompleteState, to mochi's subscribers.
func (h *latestStates) publish(topic string, payload []byte, qos byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.states.Store(topic, payload)
	h.used.Store(true)
	return h.srv.Publish(topic, []byte(standInPrefix+topic), false, qos)
}

// forgetUnsubscribed forgets the clusters' parts whose topic no client subscribes to.
func (h *latestStates) forgetUnsubscribed() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.states.Range(func(k, _ any) bool {
		topic := k.(string)
		if !completeEvents[topic] && !clientsSubscribe(h.srv, topic) {
			h.states.Delete(topic)
		}
		return true
	})
}

// isStandIn reports whether a payload is a stand-in, which only the process may publish.
func isStandIn(payload []byte) bool { return bytes.HasPrefix(payload, []byte(standInPrefix)) }

// Write writes b, mochi's encoding of whole packets (it writes each packet, or the packets it
// buffered, with one Write), with the latest state in place of each stand-in (latestStates):
// the packet's fixed header, its variable header, then the state, in one writev.
func (c *limitConn) Write(b []byte) (int, error) {
	if !c.states.used.Load() {
		return c.Conn.Write(b)
	}
	var out net.Buffers
	done := 0 // b[:done] is in out
	for i := 0; i < len(b); {
		hdr, size := framing(b[i:])
		if size == 0 {
			break
		}
		if pkt := b[i : i+size]; pkt[0]>>4 == packets.Publish {
			if at, state, ok := c.standIn(pkt, hdr); ok {
				out = append(out, b[done:i])
				done = i + size
				remaining := at - hdr + len(state)
				fixed := mqttLength([]byte{pkt[0]}, remaining)
				if limit := c.sendMax.Load(); state == nil || limit > 0 && len(fixed)+remaining > int(limit) {
					c.states.dropped.Add(1) // forgotten, or [MQTT-3.1.2-24]
				} else {
					out = append(out, fixed, pkt[hdr:at], state)
				}
			}
		}
		i += size
	}
	if done == 0 {
		return c.Conn.Write(b)
	}
	out = append(out, b[done:])
	if _, err := out.WriteTo(c.Conn); err != nil {
		return 0, err
	}
	return len(b), nil
}

// standIn reports whether the payload of a PUBLISH packet is a stand-in, and returns where it
// starts and the latest state it stands in for (nil if forgotten). hdr is the length of the
// fixed header.
func (c *limitConn) standIn(pkt []byte, hdr int) (int, []byte, bool) {
	at := hdr + 2
	if len(pkt) < at {
		return 0, nil, false
	}
	at += int(pkt[hdr])<<8 | int(pkt[hdr+1]) // the topic
	if pkt[0]&0x06 != 0 {
		at += 2 // QoS 1 or 2: the packet id
	}
	if c.version.Load() == 5 {
		props, n := varint(pkt[min(at, len(pkt)):])
		if n == 0 {
			return 0, nil, false
		}
		at += n + props
	}
	if at >= len(pkt) || !isStandIn(pkt[at:]) {
		return 0, nil, false
	}
	state, _ := c.states.states.Load(string(pkt[at+len(standInPrefix):]))
	b, _ := state.([]byte)
	return at, b, true
}

// framing decodes the fixed header at the start of b: its length and the packet's, or 0 and 0
// when b does not hold the whole packet.
func framing(b []byte) (hdr, size int) {
	if len(b) < 2 {
		return 0, 0
	}
	length, n := varint(b[1:])
	if n == 0 || 1+n+length > len(b) {
		return 0, 0
	}
	return 1 + n, 1 + n + length
}

// varint decodes the MQTT variable-length integer at the start of b: its value and length, or 0
// and 0 when b does not hold it.
func varint(b []byte) (v, n int) {
	for i := 0; i < len(b) && i < 4; i++ {
		v |= int(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}

// mqttLength appends n as an MQTT variable-length integer to b.
func mqttLength(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}
