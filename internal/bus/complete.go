package bus

import (
	"bytes"
	"sync"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/strata-paas/strata/internal/model"
)

// completeStates are the topics of the Complete* events: each message is a whole state, which a
// newer one on the same topic replaces entirely.
var completeStates = map[string]bool{
	model.TopicOf(&model.CompleteTopologyEvent{}):     true,
	model.TopicOf(&model.CompleteApplicationsEvent{}): true,
	model.TopicOf(&model.CompleteTenantEvent{}):       true,
}

// latestStates hands the complete states the process publishes to mochi by reference. mochi
// copies a publication's payload for each subscriber it queues it for, then encodes that copy
// into the packet it writes: at 100 000 members a complete topology is 94 MB, and each copy was
// fresh memory, often enough to start a collection on the way (issue 17). So the broker keeps
// the state and gives mochi a small stand-in naming its topic, which mochi copies instead; the
// hook puts the state back when mochi encodes the packet for a subscriber. What it puts back is
// the latest state published on that topic: one that a newer state overtook while it waited in
// a subscriber's queue goes out as the newer one, in its own place in that queue (the messages
// queued after it, older than the newer state, still follow it, as after an urgent publication).
type latestStates struct {
	mochi.HookBase
	srv    *mochi.Server
	mu     sync.Mutex // orders the publications: the last stored is the last queued
	states sync.Map   // topic -> []byte, the latest state handed to mochi
}

// standInPrefix starts the stand-in of a state: a NUL, so no event's JSON, then the topic.
const standInPrefix = "\x00strata: the latest state of "

func (h *latestStates) ID() string { return "strata-latest-states" }

func (h *latestStates) Provides(b byte) bool { return b == mochi.OnPacketEncode }

// publish hands payload, a state on one of completeStates' topics, to mochi's subscribers, as
// mochi.Server.Publish does.
func (h *latestStates) publish(topic string, payload []byte, retain bool, qos byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.states.Store(topic, payload)
	return h.srv.Publish(topic, []byte(standInPrefix+topic), retain, qos)
}

// OnPacketEncode puts the latest state in place of a stand-in the process published. The stand-in
// names the topic itself, since mochi may send a topic alias in place of the topic's name.
func (h *latestStates) OnPacketEncode(_ *mochi.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type != packets.Publish || pk.Origin != mochi.InlineClientId ||
		!bytes.HasPrefix(pk.Payload, []byte(standInPrefix)) {
		return pk
	}
	if state, ok := h.states.Load(string(pk.Payload[len(standInPrefix):])); ok {
		pk.Payload = state.([]byte)
	}
	return pk
}
