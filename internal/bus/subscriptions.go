package bus

import (
	"strings"
	"sync"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// subscriptionHook counts the subscriptions the broker granted, per filter, so that a publisher
// of a periodic message can tell whether anyone subscribed since it last published
// (Broker.Subscriptions).
type subscriptionHook struct {
	mochi.HookBase
	mu      sync.Mutex
	granted map[string]uint64 // filter (without a $share/group/ prefix) → subscriptions granted
}

func (h *subscriptionHook) ID() string { return "strata-subscriptions" }

func (h *subscriptionHook) Provides(b byte) bool { return b == mochi.OnSubscribed }

// OnSubscribed counts the granted filters of a SUBSCRIBE.
func (h *subscriptionHook) OnSubscribed(_ *mochi.Client, pk packets.Packet, reasonCodes []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, f := range pk.Filters {
		if i < len(reasonCodes) && reasonCodes[i] >= packets.ErrUnspecifiedError.Code {
			continue // refused
		}
		h.granted[unshared(f.Filter)]++
	}
}

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
