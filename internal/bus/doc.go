// Package bus is Strata's message bus: publish/subscribe over MQTT 3.1.1 (Eclipse Paho) with the
// topics and bodies of docs/stratos-wire.md §1, and the embedded broker (mochi-mqtt) that `strata up`
// runs when no external broker is given with --broker.
//
// # Client
//
// New(Options) returns a Client; Run(ctx) connects and keeps it connected until ctx ends.
//
//	Publish ──> outbox (bounded FIFO) ─┐
//	PublishUrgent ──> urgent FIFO ─────┴─> sender (in Run; urgent first) ──> paho ──> broker
//	broker ──> paho receive goroutine ──> dispatch ──> the queue of every matching Handler's Consumer
//	      ──> the consumer's goroutine ──> its Handlers, in arrival order
//
// Consumers. Each in-process component takes its own Consumer of the client (Client.Consumer
// ("controller"), "lb", ...): its subscriptions hand messages to its own bounded FIFO, drained
// by one goroutine, so order holds per component (and so per member) while a slow component
// delays only itself, not the others nor the connection's acknowledgements (issue 17: with one
// shared ordered chain, the load balancer's work held a complete-topology request for 43 s).
// Subscriptions made on the Client itself share the consumer "default". A queue holds up to
// Options.QueueLimit messages (65536); a full one holds the receiving back rather than drop
// (except the client's own messages on a local broker, below).
// Stats.Queues reports each queue's depth, handled count and how often it was full.
//
// Publish appends to the outbox and returns. Run's sender hands up to 128 messages at a time to
// paho and removes a message from the outbox only when paho reports it done: PUBACK for QoS 1
// (PUBCOMP for 2), written to the socket for QoS 0. When the connection drops, whatever is not
// acknowledged stays queued and is sent again, in order, after the next connect: delivery is at
// least once and a subscriber may see duplicates after a reconnect. Flush waits until everything
// queued so far has gone. When the outbox holds
// OutboxLimit messages, Publish waits for room while connected and returns ErrOutboxFull at once
// while disconnected; a message is never dropped without the caller being told.
//
// PublishUrgent queues a message in a second FIFO that the sender empties first: the message goes
// out at the next hand-over, ahead of everything published before it and not yet handed to paho,
// and never ahead of a message published after it. It is for answers that must not wait behind
// other components' traffic (the controller's complete topologies, issue 17); a subscriber may see
// older messages after it. PublishLatest queues a message under a key: while it waits, a newer one
// with the same key replaces it in its place (counted in Stats.Superseded) without waiting for
// room, so a producer of values faster than the broker (the CEP's health summaries, which
// PublishEvent keys by kind and member) holds one message per value, and nothing is lost but
// superseded values.
//
// Local broker. A client given the broker of its own process (Options.Local: `strata up` and its
// embedded broker) opens no connection: Run subscribes on the broker (Broker.SubscribeLocal),
// reports Connected and hands the outbox to the broker directly (Broker.PublishLocal), and the
// broker hands each matching message to dispatch in the publisher's goroutine; Run never
// disconnects. Nothing is encoded, copied into a packet, written, read or acknowledged on the
// way: over a loopback connection, that took a third of the CPU of an undeploy of 100 000
// members (issue 17). The broker keeps the process's subscriptions itself and gives a local
// publication to mochi only when a connected client or a persistent session has a matching
// subscription; BrokerStats.LocalOnly counts the others. dispatch looks each topic up in the
// subscriptions' index, which remembers which filters match it. A
// message the client published itself goes into a full consumer queue anyway rather than wait:
// the sender would wait for a handler that may be waiting for room in the outbox (Stats.Queues
// counts it as full).
//
// Connections. Run makes a new paho connection for every attempt (paho's own auto-reconnect and
// store are off) over a socket it opens itself (netconn.go: paho's proxy settings from the
// environment do not apply), whose writes time out only when the broker takes nothing for 5 s, so
// a 90 MB complete topology on a busy machine does not drop the connection, trying Options.URLs in order, with a jittered back-off doubling from RetryMin to
// RetryMax. Sessions are clean (CleanSession=true) and every subscription is sent again on each
// connect before the client reports Connected and before the outbox is flushed. This is
// deliberate: a broker without persistence (Mosquitto's default, the test brokers) forgets
// sessions when it restarts anyway, and a persistent session would make the broker queue
// unbounded traffic for a component that is gone. The consequence: a message published while a
// subscriber is disconnected (or before it has resubscribed after a broker restart) is not
// delivered to that subscriber. Stratos lives with the same rule and covers it with the periodic
// Complete* events (§1.2); OnState(Connected) is the hook to request them after a reconnect.
//
// Typed events. PublishEvent marshals a model.Event with model.Marshal and publishes it on
// EventTopic(e) at Options.QoS (1 by default: lifecycle events travel at QoS 1). EventTopic is
// model.TopicOf(e) except for health summaries, which go to model.SummaryTopic in the §1.4
// envelope, where the Stratos CEP puts them.
// SubscribeEvents decodes each message with model.Unmarshal(topic, body); a message that does not
// decode is counted in Stats.DecodeErrors and logged once per topic. A message that reaches several
// event subscriptions of a client is decoded once, by the first to handle it, and they share the
// event (handlers must not modify events; Stats.SharedDecodes). An event that a client on the
// broker of its process (Options.Local) publishes as a pointer reaches that process's
// subscriptions as it is, not decoded at all; its publisher must not modify it afterwards.
//
// # Broker
//
// NewBroker binds its listeners at once (port 0 is allowed; Addrs and URL report what was bound),
// and Run serves them until ctx ends. Every client logs in: BrokerOptions.Identify turns its
// credentials into an Identity (internal, member, cluster, or none), and anonymous clients are
// accepted only on loopback listeners with BrokerOptions.AllowAnonymous. Decide (acl.go) is the
// access decision, a pure function of the identity, the topic and the body: the hook in
// aclhook.go asks it for every subscription (and delivery) in OnACLCheck and for every
// publication in OnPublish, where a refusal drops the message but still acknowledges it; a will
// and the client id are checked at CONNECT. Refusals are counted in BrokerStats and logged once
// per client. mochi's per-client write buffer is raised from 8192 to 65536 messages and its QoS 1/2
// inflight quota to 65535: at the defaults mochi dropped 9-15 % of a burst of QoS 0 messages
// (docs/architecture.md). Drops that still happen are counted in BrokerStats and the first is
// logged. The broker serves its sockets through its own listener type: a new connection has 10 s
// to finish its TLS handshake and CONNECT, and shutdown closes every connection, so Run always
// returns.
//
// Packet size. Every connection reads through a limitConn that follows the MQTT framing and ends
// the connection at the fixed header of a packet larger than the client's limit, before mochi
// allocates its body (mochi holds a packet twice in memory before any hook sees it). The limit is
// BrokerOptions.MaxPacketSize (1 MiB) until CONNECT is authenticated, then whatever
// BrokerOptions.PacketLimit gives the username: the platform's own client publishes complete
// topologies of up to 90 MB. Refusals are counted in BrokerStats.PacketsTooLarge.
//
// # Concurrency and lock order
//
// A Client runs these goroutines: the caller's Run goroutine (connect, resubscribe, the sender,
// OnState callbacks), paho's goroutines for the current connection, one of which calls dispatch
// one message at a time in arrival order (on a local broker, each publisher's goroutine calls
// it), and, while Run runs, one goroutine per consumer that calls its handlers. A handler that
// blocks stalls only its consumer (until its queue is full); Run returns once every running
// handler has returned. A handler that publishes should pass a ctx with a deadline.
//
// Client.localMu serialises the subscriptions made and ended on a local broker and is taken
// before Client.mu, which guards the outbox, the subscription list, the consumers, the current
// connection and the state. Client.mu is never held while calling paho, the local broker, a
// Handler or OnState. dispatch reads the subscriptions from an atomic copy and takes only the
// matching queues' locks (queue.mu, a leaf), each for an append. A Broker runs mochi's goroutines
// plus, per listener, an accept loop and one goroutine per connection (mochi's). The broker's
// listener.mu guards its set of connections and is never held while calling into mochi; mochi's
// locks are internal to it.
package bus
