package bus

import (
	"log/slog"
	"net"
	"sync/atomic"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// clientIdentity is the identity of one connection, with whether a refusal was logged for it.
type clientIdentity struct {
	id     Identity
	key    string
	logged atomic.Bool
}

// newAuthHook returns the hook of a broker with options o; limits (nil for none) are the packet
// limits it raises once a client is identified.
func newAuthHook(o BrokerOptions, limits *packetLimits, log *slog.Logger) *authHook {
	identify := o.Identify
	if identify == nil && o.Authenticate != nil {
		auth := o.Authenticate
		identify = func(_, user, password string) (Identity, bool) {
			return Identity{Role: RoleInternal, Name: user}, auth(user, password)
		}
	}
	return &authHook{identify: identify, allowAnonymous: o.AllowAnonymous, alive: o.Alive,
		loopback: map[string]bool{}, log: log, limits: limits}
}

// admit finishes an authenticated CONNECT: the will message must be one the identity may publish,
// and the client id must not belong to a client of another identity (taking its session over
// would disconnect it, or inherit its subscriptions) nor be the broker's inline client's (whose
// publications are the process's own). It records the identity for Decide.
func (h *authHook) admit(cl *mochi.Client, pk packets.Packet, id Identity) bool {
	ci := &clientIdentity{id: id, key: id.key()}
	if cl.ID == mochi.InlineClientId {
		h.rejected.Add(1)
		h.refuse(cl, ci, refusedConnect, "", "the client id is the broker's own")
		return false
	}
	if pk.Connect.WillFlag {
		d := Decide(id, Request{Publish: true, Topic: pk.Connect.WillTopic, Body: pk.Connect.WillPayload, Retain: pk.Connect.WillRetain})
		if isStandIn(pk.Connect.WillPayload) {
			d = deny(standInRefused)
		}
		if !d.Allow {
			h.rejected.Add(1)
			h.refuse(cl, ci, refusedConnect, pk.Connect.WillTopic, "will message: "+d.Reason)
			return false
		}
	}
	for {
		prev, loaded := h.owners.LoadOrStore(cl.ID, ci)
		if !loaded {
			break
		}
		if prev.(*clientIdentity).key != ci.key {
			h.rejected.Add(1)
			h.refuse(cl, ci, refusedConnect, "", "the client id is in use by another identity")
			return false
		}
		if h.owners.CompareAndSwap(cl.ID, prev, ci) {
			break
		}
	}
	h.idents.Store(cl.Net.Conn, ci)
	return true
}

// identOf returns the identity of a client's connection, or nil.
func (h *authHook) identOf(cl *mochi.Client) *clientIdentity {
	v, ok := h.idents.Load(cl.Net.Conn)
	if !ok {
		return nil
	}
	return v.(*clientIdentity)
}

// ownerOf returns the identity of the owner of a client id's session, or nil.
func (h *authHook) ownerOf(id string) *clientIdentity {
	v, ok := h.owners.Load(id)
	if !ok {
		return nil
	}
	return v.(*clientIdentity)
}

// forget drops a connection's identity once mochi is done with the connection; the listener calls
// it, so nothing is left behind whichever way the connection ended.
func (h *authHook) forget(c net.Conn) { h.idents.Delete(c) }

// OnDisconnect releases the client id of a clean session; a persistent session keeps its owner
// until it expires.
func (h *authHook) OnDisconnect(cl *mochi.Client, _ error, expire bool) {
	if ci := h.identOf(cl); ci != nil && expire {
		h.owners.CompareAndDelete(cl.ID, ci)
	}
}

// OnClientExpired releases the client id of an expired persistent session.
func (h *authHook) OnClientExpired(cl *mochi.Client) { h.owners.Delete(cl.ID) }

// AwayKept is how many messages the broker keeps for a persistent session while its client is
// away (Mosquitto's max_queued_messages default); more are dropped and counted in
// BrokerStats.AwayDropped.
const AwayKept = 1000

// OnACLCheck decides subscriptions (and deliveries) by topic. Publications are decided with their
// body in OnPublish; here only an identity without any access is refused. A delivery to a
// persistent session whose client is away (closed: its connection's identity may not be
// forgotten yet) is decided by the identity of the session's owner, up to AwayKept messages and
// no complete state (isCompleteState).
func (h *authHook) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	var ci *clientIdentity
	if !write && cl.Closed() { // a delivery to a session whose client is away
		if ci = h.ownerOf(cl.ID); ci != nil && (isCompleteState(topic) || cl.State.Inflight.Len() >= AwayKept) {
			h.awayDropped.Add(1)
			return false
		}
	} else {
		ci = h.identOf(cl)
	}
	if ci == nil {
		return false
	}
	if ci.id.Role == RoleInternal {
		return true
	}
	if write {
		if ci.id.Role == RoleNone {
			h.refuse(cl, ci, refusedPublish, topic, Decide(ci.id, Request{Publish: true, Topic: topic}).Reason)
			return false
		}
		return true
	}
	d := Decide(ci.id, Request{Topic: topic})
	if !d.Allow {
		h.refuse(cl, ci, refusedSubscribe, topic, d.Reason)
	}
	return d.Allow
}

// OnPublish drops a publication Decide refuses; mochi still acknowledges it at QoS 1/2, so a
// member's client that published something it may not keeps its connection. A member whose
// credential was revoked (Alive says it is gone) is disconnected.
func (h *authHook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	ci := h.identOf(cl)
	if ci != nil && isStandIn(pk.Payload) { // the process's alone, whoever the client
		h.refuse(cl, ci, refusedPublish, pk.TopicName, standInRefused)
		return pk, packets.CodeSuccessIgnore
	}
	if ci == nil || ci.id.Role == RoleInternal {
		return pk, nil
	}
	d := Decide(ci.id, Request{Publish: true, Topic: pk.TopicName, Body: pk.Payload, Retain: pk.FixedHeader.Retain})
	revoked := false
	if d.Allow && h.alive != nil && !h.alive(ci.id) {
		d, revoked = deny("the credential's member or cluster no longer exists"), true
	}
	if d.Allow {
		return pk, nil
	}
	h.refuse(cl, ci, refusedPublish, pk.TopicName, d.Reason)
	if revoked {
		cl.Stop(packets.ErrNotAuthorized)
	}
	return pk, packets.CodeSuccessIgnore
}

// standInRefused is why a client may not publish a payload that starts as a stand-in does.
const standInRefused = "the payload starts as the broker's stand-in for a complete state"

// What a refusal refused.
const (
	refusedPublish   = "publication"
	refusedSubscribe = "subscription"
	refusedConnect   = "connection"
)

// refuse counts a refused publication or subscription (a refused connection is counted in
// rejected by the caller) and logs the first refusal of each client.
func (h *authHook) refuse(cl *mochi.Client, ci *clientIdentity, what, topic, reason string) {
	switch what {
	case refusedPublish:
		h.publishRefused.Add(1)
	case refusedSubscribe:
		h.subscribeRefused.Add(1)
	}
	if !ci.logged.CompareAndSwap(false, true) {
		return
	}
	h.log.Warn("broker refused a client's request; further refusals of this client are only counted",
		"refused", what, "client", cl.ID, "user", ci.id.Name, "role", ci.id.Role.String(), "topic", topic, "reason", reason, "remote", cl.Net.Remote)
}

// Disconnect ends the connections of every client whose identity match accepts (a terminated
// member's agent, say) and returns how many it ended. A client can reconnect only if its
// credentials still identify it.
func (b *Broker) Disconnect(match func(Identity) bool) int {
	n := 0
	for _, cl := range b.srv.Clients.GetAll() {
		if cl.Closed() {
			continue
		}
		if ci := b.auth.identOf(cl); ci != nil && match(ci.id) {
			_ = b.srv.DisconnectClient(cl, packets.ErrNotAuthorized)
			n++
		}
	}
	return n
}
