package bus

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/strata-paas/strata/internal/model"
)

// Errors returned by the client. Compare with errors.Is.
var (
	// ErrOutboxFull is returned by Publish when the outbox holds Options.OutboxLimit messages and
	// the client is not connected (or ctx ended while waiting for room). The message was not queued.
	ErrOutboxFull = errors.New("bus: outbox full")
	// ErrClosed is returned by Publish and Subscribe after Run has returned.
	ErrClosed = errors.New("bus: client closed")
	// ErrInvalidTopic is returned for an empty or malformed topic or topic filter.
	ErrInvalidTopic = errors.New("bus: invalid topic")
	// ErrSubscribeRejected is returned by Subscribe when the broker refuses the subscription.
	ErrSubscribeRejected = errors.New("bus: subscription rejected by the broker")
)

// Defaults for the zero values of Options.
const (
	DefaultQoS            = 1
	DefaultOutboxLimit    = 10000
	DefaultKeepAlive      = 30 * time.Second
	DefaultConnectTimeout = 5 * time.Second
	DefaultRetryMin       = 250 * time.Millisecond
	DefaultRetryMax       = 10 * time.Second
)

// sendWindow is how many messages the sender hands to paho before it waits for the oldest to
// complete (PUBACK at QoS 1, written at QoS 0).
const sendWindow = 128

// writeTimeout bounds how long paho's Publish waits to hand a packet to its writer and how long a
// write may go without progress (progressConn); it also bounds how long Run waits for a sender
// caught in Publish when the connection drops.
const writeTimeout = 5 * time.Second

// State is the connection state of a Client.
type State int32

// The states of a Client. Connected means connected with every subscription acknowledged.
const (
	Disconnected State = iota
	Connected
)

func (s State) String() string {
	if s == Connected {
		return "connected"
	}
	return "disconnected"
}

// Options configure a Client.
type Options struct {
	// URLs of the broker, tried in order on every (re)connect: tcp://host:port, ssl://host:port
	// (also tls:// and mqtts://), ws:// or wss://. A bare host:port means tcp://host:port.
	URLs []string
	// ClientID is the MQTT client id; empty means a random 23-character id, as Stratos uses.
	// It must be unique on the broker: two connections with one id take each other over in a
	// loop.
	ClientID string
	// Username and Password are sent when Username is not empty.
	Username string
	Password string
	// TLS configures ssl:// and wss:// connections; nil uses the system roots.
	TLS *tls.Config
	// QoS is the qos of PublishEvent and of every subscription (the most a subscriber receives);
	// 0 means DefaultQoS (1). Publish takes its qos per message.
	QoS byte
	// OutboxLimit bounds the number of messages waiting to be sent; 0 means DefaultOutboxLimit.
	OutboxLimit int
	// QueueLimit bounds the messages waiting in each consumer's queue; 0 means
	// DefaultQueueLimit. A full queue holds the connection's receiving back until it has room.
	QueueLimit int
	// KeepAlive, ConnectTimeout, RetryMin and RetryMax tune the connection; zero means the default.
	// The delay between failed connection attempts doubles from RetryMin up to RetryMax.
	KeepAlive      time.Duration
	ConnectTimeout time.Duration
	RetryMin       time.Duration
	RetryMax       time.Duration
	// OnState, when set, is called on every change of state from Run's goroutine, in order. Run
	// does not continue until it returns: Connected is reported after the subscriptions are
	// restored and before queued messages are sent, so a caller can publish something first (a
	// Complete*RequestEvent after a reconnect) or hold the flush back.
	OnState func(State)
	// Local, when set, is the broker of URLs running in this process: the client publishes and
	// subscribes through it directly and opens no connection (see LocalBroker).
	Local LocalBroker
	// Logger receives the client's logs; nil discards them.
	Logger *slog.Logger
}

// LocalBroker is a broker in the client's process; *Broker is one. A client given one
// (Options.Local) publishes and subscribes through it and opens no connection (the package
// doc's Local broker).
type LocalBroker interface {
	// PublishLocal publishes payload on topic to every subscriber, as a client's publication;
	// ev, when not nil, is the event payload encodes, handed to the SubscribeLocal deliveries.
	PublishLocal(topic string, payload []byte, qos byte, ev model.Event) error
	// SubscribeLocal hands deliver the messages on the topics matching filter, once a message
	// however many of id's filters it matches.
	SubscribeLocal(id int, filter string, deliver LocalDeliver) error
	// UnsubscribeLocal ends id's subscription to filter.
	UnsubscribeLocal(id int, filter string) error
}

// localIDs numbers the clients' subscriptions on a LocalBroker.
var localIDs atomic.Int64

// Handler receives a message. It runs on its consumer's goroutine (see Consumer), one message at
// a time in arrival order; while it runs, the consumer's later messages wait, and other
// consumers' do not. It must not modify payload, which other consumers' handlers may be reading.
type Handler func(topic string, payload []byte)

// handle is a subscription's handler as the queues call it: with the message's shared event when
// the subscription decodes (subscribeEvents), nil for a Handler's.
type handle func(topic string, payload []byte, shared *decoded)

type subscription struct {
	filter  string
	handler handle
	decodes bool   // an event subscription: dispatch gives its deliveries a shared *decoded
	q       *queue // the consumer's queue the handler runs from
}

// subscriptions are a client's subscriptions as of one change, with which of them match each
// topic: dispatch looks a topic up instead of matching it against every filter (the platform's
// client has 88 subscriptions).
type subscriptions struct {
	list  []subscription
	index *topicIndex // over the filters of list
}

func newSubscriptions(list []subscription) *subscriptions {
	return &subscriptions{list: list, index: indexOf(list, func(s *subscription) string { return s.filter })}
}

type outMsg struct {
	topic   string
	payload []byte
	qos     byte
	key     string      // PublishLatest's key; empty for the others
	ev      model.Event // PublishEvent's event, with Options.Local (localEvent)
}

// Stats are the client's counters, for metrics. State and Outbox are gauges; the rest only grow.
type Stats struct {
	State        State
	Outbox       int    // messages waiting to be sent or acknowledged
	Queued       uint64 // messages accepted by Publish
	Sent         uint64 // messages the broker took (PUBACK at QoS 1, written at QoS 0)
	Rejected     uint64 // Publish calls that failed with ErrOutboxFull
	Superseded   uint64 // PublishLatest messages replaced by a newer one before they were sent
	Received     uint64 // messages received from the broker
	DecodeErrors uint64 // events that model.Unmarshal could not decode
	// SharedDecodes counts the events an event subscription took without decoding them: from
	// another's decoding of the same message, or the publisher's own event (decoded).
	SharedDecodes uint64
	// Queues are the consumers' queues by name (Consumer; "default" for subscriptions made on the
	// Client itself).
	Queues          map[string]QueueStats
	Connects        uint64 // successful connections
	ConnectFailures uint64 // failed connection attempts
	// LastError is why the last connection attempt failed or the last connection ended; empty
	// while connected and before the first attempt.
	LastError string
}

// Client publishes and subscribes over MQTT. Create it with New, then call Run. Publish and
// Subscribe may be called before Run starts (they take effect once connected) and from any
// goroutine.
type Client struct {
	opts     Options
	urls     []string
	clientID string
	qos      byte
	limit    int
	log      *slog.Logger

	writeTimeout time.Duration // writeTimeout; tests shorten it

	running atomic.Bool
	ready   chan struct{}                 // capacity 1: a message was queued
	subs    atomic.Pointer[subscriptions] // a copy of subList for dispatch
	// topologyAsked is when a follower (FollowTopology) last asked for the complete topology,
	// in ns since the epoch.
	topologyAsked atomic.Int64

	mu                 sync.Mutex // guards everything below
	queue              []outMsg   // the outbox; queue[head:] are waiting, oldest first
	head               int
	urgent             []outMsg          // PublishUrgent's messages, sent before queue[head:], oldest first
	base               uint64            // the position of queue[0] among every message ever queued there
	latest             map[string]uint64 // PublishLatest key -> position of its message, until handed to paho
	enqueued, dequeued uint64            // messages ever added to and removed from the outbox
	conn               mqtt.Client       // the current connection once its subscriptions are being restored; nil otherwise
	local              bool              // subscriptions are made on Options.Local (localSession runs)
	state              State             // as reported to OnState
	changed            chan struct{}     // closed and cleared when the outbox shrinks or the state changes
	closed             bool
	subList            []subscription // the subscriptions; subs holds a copy for dispatch
	lastErr            error          // why the last attempt failed or connection ended; nil while connected

	queued, sent, rejected, received, decodeErrors atomic.Uint64
	superseded                                     atomic.Uint64
	sharedDecodes                                  atomic.Uint64
	connects, connectFailures                      atomic.Uint64

	decodeLogged sync.Map // topic -> struct{}: decode errors already logged
	decodeTopics atomic.Int32

	localID int        // the client's subscription identifier on Options.Local
	localMu sync.Mutex // serialises the subscriptions made and ended on Options.Local; taken before mu

	queueLimit    int
	queues        map[string]*queue // guarded by mu
	queuesRunning bool              // guarded by mu: Run has started the queues' goroutines
	stopQueues    chan struct{}     // closed when Run returns
	queueWG       sync.WaitGroup
}

// New checks the options and returns a client that is not connected yet.
func New(o Options) (*Client, error) {
	var errs []error
	if len(o.URLs) == 0 {
		errs = append(errs, errors.New("no broker URL"))
	}
	urls := make([]string, 0, len(o.URLs))
	for _, raw := range o.URLs {
		u, err := brokerURL(raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		urls = append(urls, u)
	}
	if o.QoS > 2 {
		errs = append(errs, fmt.Errorf("qos %d is not 0, 1 or 2", o.QoS))
	}
	if o.OutboxLimit < 0 {
		errs = append(errs, fmt.Errorf("negative outbox limit %d", o.OutboxLimit))
	}
	if o.QueueLimit < 0 {
		errs = append(errs, fmt.Errorf("negative queue limit %d", o.QueueLimit))
	}
	if len(o.ClientID) > 65535 {
		errs = append(errs, errors.New("client id too long"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("bus options: %w", err)
	}
	c := &Client{
		opts:     o,
		urls:     urls,
		clientID: o.ClientID,
		qos:      o.QoS,
		limit:    o.OutboxLimit,

		writeTimeout: writeTimeout,
		ready:        make(chan struct{}, 1),
		log:          o.Logger,

		queueLimit: o.QueueLimit,
		queues:     map[string]*queue{},
		stopQueues: make(chan struct{}),
	}
	if c.queueLimit == 0 {
		c.queueLimit = DefaultQueueLimit
	}
	if c.clientID == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		c.clientID = hex.EncodeToString(b[:])[:23]
	}
	if o.QoS == 0 {
		c.qos = DefaultQoS
	}
	if c.limit == 0 {
		c.limit = DefaultOutboxLimit
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "bus", "client_id", c.clientID)
	c.subs.Store(newSubscriptions(nil))
	if o.Local != nil {
		c.localID = int(localIDs.Add(1))
	}
	return c, nil
}

// brokerURL normalises a broker URL and checks its scheme.
func brokerURL(raw string) (string, error) {
	if !strings.Contains(raw, "://") {
		raw = "tcp://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("broker url %q: %w", raw, err)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "tcps", "ws", "wss":
	default:
		return "", fmt.Errorf("broker url %q: unsupported scheme %q", raw, u.Scheme)
	}
	if u.Host == "" || u.Port() == "" {
		return "", fmt.Errorf("broker url %q: want scheme://host:port", raw)
	}
	if u.Scheme == "mqtt" {
		u.Scheme = "tcp"
	}
	return u.String(), nil
}

// ClientID is the MQTT client id in use.
func (c *Client) ClientID() string { return c.clientID }

// State is the current connection state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Stats returns the counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	st, n, lastErr := c.state, len(c.queue)-c.head+len(c.urgent), c.lastErr
	c.mu.Unlock()
	var last string
	if lastErr != nil && st != Connected {
		last = lastErr.Error()
	}
	return Stats{
		LastError:       last,
		State:           st,
		Outbox:          n,
		Queued:          c.queued.Load(),
		Sent:            c.sent.Load(),
		Rejected:        c.rejected.Load(),
		Superseded:      c.superseded.Load(),
		Received:        c.received.Load(),
		DecodeErrors:    c.decodeErrors.Load(),
		SharedDecodes:   c.sharedDecodes.Load(),
		Queues:          c.queueStats(),
		Connects:        c.connects.Load(),
		ConnectFailures: c.connectFailures.Load(),
	}
}

// waitChanLocked returns a channel closed at the next broadcast. c.mu must be held.
func (c *Client) waitChanLocked() <-chan struct{} {
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	return c.changed
}

// broadcastLocked wakes everything waiting on waitChanLocked. c.mu must be held.
func (c *Client) broadcastLocked() {
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

// Publish queues payload for topic at qos (0, 1 or 2) and returns once it is queued; the message
// is sent in order with everything queued before it, as soon as the client is connected. The
// caller must not modify payload afterwards.
//
// When the outbox is full, Publish waits for room while the client is connected (the outbox is
// draining), until ctx ends; while disconnected it returns ErrOutboxFull at once. Either way a
// message that was not queued yields an error wrapping ErrOutboxFull: nothing is dropped silently.
//
// Delivery is at least once for qos 1 and 2: a message stays queued until the broker acknowledges
// it and is sent again after a reconnect if the acknowledgement was lost, so a subscriber may see
// a duplicate. Qos 0 messages are queued the same way and are gone once written to the socket.
func (c *Client) Publish(ctx context.Context, topic string, payload []byte, qos byte) error {
	return c.publish(ctx, outMsg{topic: topic, payload: payload, qos: qos}, false)
}

// PublishUrgent is Publish for a message that must not wait behind the outbox, such as the answer
// to a request: it is queued ahead of every message not yet handed to the connection (behind
// earlier urgent ones and the up to 128 messages already handed over), so it overtakes messages
// published before it but never one published after it. The urgent messages have their own
// OutboxLimit. The controller publishes complete topologies this way (issue 17: an answer waited
// 2-5 s behind ~9 500 queued lifecycle and health messages of other components); a subscriber may
// then see, after a complete topology, older events that the topology already contains.
func (c *Client) PublishUrgent(ctx context.Context, topic string, payload []byte, qos byte) error {
	return c.publish(ctx, outMsg{topic: topic, payload: payload, qos: qos}, true)
}

// PublishLatest is Publish for a message that a newer one with the same key supersedes: while a
// message published with key waits in the outbox (not yet handed to the connection), the next
// one with key takes its place and its position, and PublishLatest returns at once, full outbox
// or not. A key names one value (a health summary's kind and member, say) and always one topic.
// Superseded messages are counted in Stats.Superseded; they are not lost but replaced by a newer
// state of the same thing. So a publisher whose values come faster than the broker takes them
// holds the outbox to one message per key and the subscribers get the newest values.
func (c *Client) PublishLatest(ctx context.Context, key, topic string, payload []byte, qos byte) error {
	if key == "" {
		return fmt.Errorf("publish %s: empty key", topic)
	}
	return c.publish(ctx, outMsg{topic: topic, payload: payload, qos: qos, key: key}, false)
}

func (c *Client) publish(ctx context.Context, m outMsg, urgent bool) error {
	topic, qos := m.topic, m.qos
	if err := validTopic(topic); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if qos > 2 {
		return fmt.Errorf("publish %s: qos %d is not 0, 1 or 2", topic, qos)
	}
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return fmt.Errorf("publish %s: %w", topic, ErrClosed)
		}
		if pos, ok := c.latest[m.key]; ok && m.key != "" {
			c.queue[pos-c.base] = m
			c.mu.Unlock()
			c.superseded.Add(1)
			return nil
		}
		waiting := len(c.queue) - c.head
		if urgent {
			waiting = len(c.urgent)
		}
		if waiting < c.limit {
			switch {
			case urgent:
				c.urgent = append(c.urgent, m)
			case m.key != "":
				if c.latest == nil {
					c.latest = map[string]uint64{}
				}
				c.latest[m.key] = c.base + uint64(len(c.queue))
				fallthrough
			default:
				c.queue = append(c.queue, m)
			}
			c.enqueued++
			c.mu.Unlock()
			c.queued.Add(1)
			select {
			case c.ready <- struct{}{}:
			default:
			}
			return nil
		}
		if c.state != Connected {
			c.mu.Unlock()
			c.rejected.Add(1)
			return fmt.Errorf("publish %s: %w (%d messages waiting, not connected)", topic, ErrOutboxFull, c.limit)
		}
		wait := c.waitChanLocked()
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			c.rejected.Add(1)
			return fmt.Errorf("publish %s: %w: %w", topic, ErrOutboxFull, ctx.Err())
		}
	}
}

// Flush waits until every message queued before the call has been sent (acknowledged at qos 1
// and 2), or until ctx ends. A command that publishes and exits calls Flush before it cancels Run.
func (c *Client) Flush(ctx context.Context) error {
	c.mu.Lock()
	target := c.enqueued
	for c.dequeued < target {
		if c.closed {
			c.mu.Unlock()
			return fmt.Errorf("flush: %w", ErrClosed)
		}
		wait := c.waitChanLocked()
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return fmt.Errorf("flush: %w", ctx.Err())
		}
		c.mu.Lock()
	}
	c.mu.Unlock()
	return nil
}
