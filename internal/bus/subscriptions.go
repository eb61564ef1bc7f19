package bus

import (
	"strings"
	"sync"
	"sync/atomic"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// subscriptionHook counts the subscriptions the broker granted, per filter, so that a publisher
// of a periodic message can tell whether anyone subscribed since it last published
// (Broker.Subscriptions). It also counts every change to the clients' subscriptions, once mochi
// has made it, for the answers PublishLocal keeps on whether a topic has a subscriber (gen).
type subscriptionHook struct {
	mochi.HookBase
	gen     atomic.Uint64
	mu      sync.Mutex
	granted map[string]uint64 // filter (without a $share/group/ prefix) → subscriptions granted
}

func (h *subscriptionHook) ID() string { return "strata-subscriptions" }

func (h *subscriptionHook) Provides(b byte) bool {
	switch b {
	case mochi.OnSubscribed, mochi.OnUnsubscribed, mochi.OnSessionEstablished, mochi.OnDisconnect,
		mochi.OnClientExpired:
		return true
	}
	return false
}

// OnSubscribed counts the granted filters of a SUBSCRIBE; mochi calls it before it answers.
// The broker's own subscription to the clients' publications is not one (SubscribeLocal counts
// those of the process).
func (h *subscriptionHook) OnSubscribed(cl *mochi.Client, pk packets.Packet, reasonCodes []byte) {
	h.gen.Add(1)
	if cl.ID == mochi.InlineClientId {
		return
	}
	for i, f := range pk.Filters {
		if i < len(reasonCodes) && reasonCodes[i] >= packets.ErrUnspecifiedError.Code {
			continue // refused
		}
		h.grant(f.Filter)
	}
}

// grant counts one granted subscription to filter.
func (h *subscriptionHook) grant(filter string) {
	h.mu.Lock()
	h.granted[unshared(filter)]++
	h.mu.Unlock()
}

// OnUnsubscribed follows an UNSUBSCRIBE, and the end of a clean session's subscriptions.
func (h *subscriptionHook) OnUnsubscribed(*mochi.Client, packets.Packet) { h.gen.Add(1) }

// OnSessionEstablished follows a session taken over, with the subscriptions it kept.
func (h *subscriptionHook) OnSessionEstablished(*mochi.Client, packets.Packet) { h.gen.Add(1) }

// OnDisconnect and OnClientExpired precede the end of a session's subscriptions; OnUnsubscribed
// follows it.
func (h *subscriptionHook) OnDisconnect(*mochi.Client, error, bool) { h.gen.Add(1) }

func (h *subscriptionHook) OnClientExpired(*mochi.Client) { h.gen.Add(1) }

// count is the number of granted subscriptions whose filter matches topic.
func (h *subscriptionHook) count(topic string) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var n uint64
	for f, c := range h.granted {
		if match(f, topic) {
			n += c
		}
	}
	return n
}

// unshared strips the $share/group/ prefix of a shared subscription's filter.
func unshared(filter string) string {
	rest, ok := strings.CutPrefix(filter, "$share/")
	if !ok {
		return filter
	}
	if _, f, ok := strings.Cut(rest, "/"); ok {
		return f
	}
	return filter
}

// Subscriptions is the number of subscriptions matching topic the broker has granted since it
// started (a client's resubscription after a reconnect counts again). A publisher that repeats a
// message for the clients that subscribed since its last one (the controller's periodic complete
// topology) compares it with the count at that publication.
func (b *Broker) Subscriptions(topic string) uint64 { return b.subs.count(topic) }
