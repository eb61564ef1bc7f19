package bus

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// DefaultBrokerAddr is where `strata up` listens when no address is given.
const DefaultBrokerAddr = "127.0.0.1:1883"

// connectDeadline is how long a new connection has to complete its TLS handshake and CONNECT;
// mochi replaces the deadline with the keep-alive once the client is connected.
const connectDeadline = 10 * time.Second

// DefaultClientWritesPending is the default of BrokerOptions.ClientWritesPending.
const DefaultClientWritesPending = 64 * 1024

// BrokerOptions configure an embedded broker.
type BrokerOptions struct {
	// Listeners are the TCP addresses to listen on (host:port; port 0 picks a free port). Empty
	// means DefaultBrokerAddr.
	Listeners []string
	// TLS, when set, makes every listener a TLS listener.
	TLS *tls.Config
	// Identify checks a username and password and says who the client is; what the identity may
	// publish and subscribe to is Decide's answer. source is the client's host, so that failed
	// logins can be throttled by source. A client must present credentials that Identify (or
	// Authenticate) accepts on every listener, unless AllowAnonymous lets it in.
	Identify func(source, user, password string) (Identity, bool)
	// Authenticate, when Identify is nil, checks a username and password; an accepted client
	// may do everything (RoleInternal).
	Authenticate func(user, password string) bool
	// AllowAnonymous lets clients without a username in on loopback listeners, with
	// RoleInternal, for set-ups from before the broker authenticated everyone. Off by default:
	// on a machine that runs members, loopback is not a trust boundary.
	AllowAnonymous bool
	// Alive, when set, is asked before a RoleMember or RoleCluster client publishes: a
	// credential whose member or cluster is gone is refused and its client disconnected.
	Alive func(Identity) bool
	// ClientWritesPending is how many messages the broker buffers per subscriber before it drops
	// QoS 0 messages to that subscriber (mochi's default of 8192 dropped 9-15 % of a burst; see
	// docs/architecture.md). Each connected client costs 8 bytes per slot; 0 means
	// DefaultClientWritesPending.
	ClientWritesPending int
	// MaxPacketSize is the largest MQTT packet (fixed header included) a client may send; a
	// larger one ends its connection at the packet's header, before the broker reads the body.
	// 0 means DefaultMaxPacketSize.
	MaxPacketSize int
	// PacketLimit, when set, gives an authenticated client's limit by its username in place of
	// MaxPacketSize; 0 keeps MaxPacketSize. The platform's own client gets room for its
	// topology publications (a complete topology of 100 000 members is about 90 MB).
	PacketLimit func(user string) int
	// MaxInflight is how many outgoing QoS 1/2 messages the broker stores per client awaiting
	// acknowledgement before it drops more (counted in InflightDropped); 0 means 65535.
	MaxInflight int
	// Logger receives the broker's logs; nil discards them.
	Logger *slog.Logger
}

// BrokerStats are the embedded broker's counters, for metrics.
type BrokerStats struct {
	ClientsConnected int64
	MessagesReceived int64 // PUBLISH packets from clients, and local publications a client subscribed to
	LocalOnly        int64 // local publications (PublishLocal) no client subscribed to: the process's alone
	MessagesSent     int64 // PUBLISH packets sent to clients
	MessagesDropped  int64 // dropped: a subscriber's buffer was full, or a complete state over its packet size
	InflightDropped  int64 // QoS 1/2 messages dropped because a subscriber's inflight quota was full
	AuthRejected     int64 // connections refused for missing or wrong credentials
	PublishRefused   int64 // publications Decide refused (dropped; QoS 1/2 acknowledged)
	SubscribeRefused int64 // subscriptions Decide refused
	PacketsTooLarge  int64 // connections ended for a packet over the client's limit
	AwayDropped      int64 // messages not kept for a persistent session whose client is away (AwayKept)
}

// Broker is an embedded MQTT 3.1.1/5 broker (mochi-mqtt) for `strata up`. NewBroker binds its
// listeners, so Addrs and URL are known before Run.
type Broker struct {
	srv       *mochi.Server
	lns       []net.Listener
	tls       bool
	log       *slog.Logger
	auth      *authHook
	limits    *packetLimits
	subs      *subscriptionHook
	latest    *latestStates // the complete states, written from one copy (complete.go)
	running   atomic.Bool
	closeOnce atomic.Bool
	local     localBroker // SubscribeLocal and PublishLocal (local.go)
}

// NewBroker validates the options and binds every listener. Run serves them; if Run is never
// called, Close releases them.
func NewBroker(o BrokerOptions) (*Broker, error) {
	addrs := o.Listeners
	if len(addrs) == 0 {
		addrs = []string{DefaultBrokerAddr}
	}
	writes := o.ClientWritesPending
	switch {
	case writes == 0:
		writes = DefaultClientWritesPending
	case writes < 0 || writes > math.MaxInt32:
		return nil, fmt.Errorf("broker: client writes pending %d out of range", writes)
	}
	inflight := o.MaxInflight
	switch {
	case inflight == 0:
		inflight = math.MaxUint16
	case inflight < 0 || inflight > math.MaxUint16:
		return nil, fmt.Errorf("broker: max inflight %d out of range 1-%d", inflight, math.MaxUint16)
	}
	limits, err := newPacketLimits(o)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "broker")

	b := &Broker{tls: o.TLS != nil, log: log, limits: limits, subs: &subscriptionHook{granted: map[string]uint64{}}}
	b.auth = newAuthHook(o, limits, log)
	var errs []error
	for i, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			errs = append(errs, fmt.Errorf("listen %s: %w", a, err))
			continue
		}
		loop := ln.Addr().(*net.TCPAddr).IP.IsLoopback()
		if !loop && o.Authenticate == nil && o.Identify == nil {
			ln.Close()
			errs = append(errs, fmt.Errorf("listener %s is not loopback and no Authenticate func is set", a))
			continue
		}
		id := "l" + strconv.Itoa(i)
		b.auth.loopback[id] = loop
		if o.TLS != nil {
			ln = tls.NewListener(ln, o.TLS)
		}
		b.lns = append(b.lns, ln)
	}
	if err := errors.Join(errs...); err != nil {
		for _, ln := range b.lns {
			ln.Close()
		}
		return nil, fmt.Errorf("broker: %w", err)
	}

	caps := mochi.NewDefaultServerCapabilities()
	caps.MaximumClientWritesPending = int32(writes)
	caps.MaximumInflight = uint16(inflight) // QoS 1/2 messages stored per client before dropping
	caps.ReceiveMaximum = math.MaxUint16    // MQTT 5 clients may have this many QoS 1/2 in flight
	caps.MaximumSessionExpiryInterval = 3600
	b.srv = mochi.New(&mochi.Options{
		Capabilities:           caps,
		InlineClient:           true, // PublishLocal
		Logger:                 slog.New(quietHandler{log.Handler()}),
		SysTopicResendInterval: 10,
	})
	if err := b.srv.AddHook(b.auth, nil); err != nil {
		b.Close()
		return nil, fmt.Errorf("broker: add auth hook: %w", err)
	}
	if err := b.srv.AddHook(&packetIDHook{stashed: map[string]packets.Packet{}}, nil); err != nil {
		b.Close()
		return nil, fmt.Errorf("broker: add packet id hook: %w", err)
	}
	b.latest = &latestStates{srv: b.srv}
	if err := b.srv.AddHook(b.subs, nil); err != nil {
		b.Close()
		return nil, fmt.Errorf("broker: add subscription hook: %w", err)
	}
	if err := b.fromClients(); err != nil {
		b.Close()
		return nil, fmt.Errorf("broker: subscribe to the clients' publications: %w", err)
	}
	for i, ln := range b.lns {
		l := &listener{id: "l" + strconv.Itoa(i), ln: ln, srv: b.srv, log: log, limits: limits, states: b.latest,
			conns: map[net.Conn]struct{}{}, ended: b.auth.forget}
		if err := b.srv.AddListener(l); err != nil {
			b.Close()
			return nil, fmt.Errorf("broker: add listener: %w", err)
		}
	}
	return b, nil
}

// Addrs are the bound listener addresses, in the order of BrokerOptions.Listeners.
func (b *Broker) Addrs() []net.Addr {
	out := make([]net.Addr, len(b.lns))
	for i, ln := range b.lns {
		out[i] = ln.Addr()
	}
	return out
}

// URL is the client URL of the first listener: tcp://host:port, or ssl://host:port with TLS.
func (b *Broker) URL() string {
	scheme := "tcp"
	if b.tls {
		scheme = "ssl"
	}
	return scheme + "://" + b.lns[0].Addr().String()
}

// Run serves the listeners until ctx ends, then disconnects every client, closes the listeners
// and returns once the client goroutines have exited.
func (b *Broker) Run(ctx context.Context) error {
	if !b.running.CompareAndSwap(false, true) {
		return errors.New("broker: Run called twice")
	}
	if err := b.srv.Serve(); err != nil {
		b.Close()
		return fmt.Errorf("broker: serve: %w", err)
	}
	b.log.Info("broker listening", "addrs", b.Addrs())
	forget := time.NewTicker(forgetInterval)
	defer forget.Stop()
	for {
		select {
		case <-ctx.Done():
			b.Close()
			return nil
		case <-forget.C:
			b.latest.forgetUnsubscribed()
		}
	}
}

// Close stops the broker; Run calls it when ctx ends. It is needed only when Run is never called.
func (b *Broker) Close() {
	if !b.closeOnce.CompareAndSwap(false, true) {
		return
	}
	if b.running.Load() {
		_ = b.srv.Close() // closes the listeners (listener.Close) and waits for client goroutines
		return
	}
	for _, ln := range b.lns {
		ln.Close()
	}
}

// Subscribed reports whether a message published on topic now would reach anyone: a
// subscription in the process, of a connected client, or of a persistent session that keeps it
// while away. A publisher of many messages that nobody may want (the CEP's health summaries)
// asks it before it encodes and sends them; the broker would drop them unread.
func (b *Broker) Subscribed(topic string) bool {
	return len(b.local.subs.Load().index.matching(topic)) > 0 || b.remoteSubscribed(topic)
}

// Stats returns the broker's counters.
func (b *Broker) Stats() BrokerStats {
	i := b.srv.Info
	return BrokerStats{
		ClientsConnected: atomic.LoadInt64(&i.ClientsConnected),
		MessagesReceived: atomic.LoadInt64(&i.MessagesReceived),
		LocalOnly:        b.local.localOnly.Load(),
		MessagesSent:     atomic.LoadInt64(&i.MessagesSent),
		MessagesDropped:  atomic.LoadInt64(&i.MessagesDropped) + b.latest.dropped.Load(),
		InflightDropped:  atomic.LoadInt64(&i.InflightDropped),
		AuthRejected:     b.auth.rejected.Load(),
		PublishRefused:   b.auth.publishRefused.Load(),
		SubscribeRefused: b.auth.subscribeRefused.Load(),
		PacketsTooLarge:  b.limits.tooBig.Load(),
		AwayDropped:      b.auth.awayDropped.Load(),
	}
}

// authHook authenticates every client (anonymous ones only on loopback listeners, and only with
// BrokerOptions.AllowAnonymous), remembers its Identity and asks Decide about each publication
// and subscription (aclhook.go).
type authHook struct {
	mochi.HookBase
	identify       func(source, user, password string) (Identity, bool)
	allowAnonymous bool
	alive          func(Identity) bool
	loopback       map[string]bool // listener id -> loopback; written before Serve only
	log            *slog.Logger
	idents         sync.Map // net.Conn -> *clientIdentity, from CONNECT until the connection ends
	owners         sync.Map // client id -> *clientIdentity of the session's owner
	rejected       atomic.Int64
	dropLogged     atomic.Bool
	limits         *packetLimits // sets a client's packet limit once it is identified

	publishRefused, subscribeRefused atomic.Int64
	awayDropped                      atomic.Int64
}

func (h *authHook) ID() string { return "strata-auth" }

func (h *authHook) Provides(b byte) bool {
	switch b {
	case mochi.OnConnectAuthenticate, mochi.OnACLCheck, mochi.OnPublish, mochi.OnPublishDropped,
		mochi.OnDisconnect, mochi.OnClientExpired:
		return true
	}
	return false
}

func (h *authHook) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	id, ok := h.authenticate(cl, pk)
	if !ok {
		h.rejected.Add(1)
		return false
	}
	if !h.admit(cl, pk, id) {
		return false
	}
	h.limits.identify(cl, string(pk.Connect.Username))
	return true
}

func (h *authHook) authenticate(cl *mochi.Client, pk packets.Packet) (Identity, bool) {
	if !pk.Connect.UsernameFlag || len(pk.Connect.Username) == 0 {
		return Identity{Role: RoleInternal}, h.allowAnonymous && h.loopback[cl.Net.Listener]
	}
	if h.identify == nil {
		return Identity{}, false
	}
	return h.identify(sourceHost(cl.Net.Remote), string(pk.Connect.Username), string(pk.Connect.Password))
}

// OnPublishDropped logs the first drop; the rest are counted in BrokerStats.MessagesDropped.
func (h *authHook) OnPublishDropped(cl *mochi.Client, pk packets.Packet) {
	if h.dropLogged.CompareAndSwap(false, true) && h.Log != nil {
		h.Log.Warn("subscriber too slow, dropping messages (counted in broker stats)", "client", cl.ID, "topic", pk.TopicName)
	}
}

// packetIDHook keeps mochi from refusing a subscription whose packet identifier equals that of a
// QoS 1/2 message the broker is delivering to the same client. The two directions number their
// packets independently (MQTT 3.1.1 §2.3.1), but mochi looks the SUBSCRIBE's identifier up in the
// client's in-flight store of outgoing messages and, on a match, answers SUBACK 0x91 ("packet
// identifier in use"), which is not even an MQTT 3.1.1 code: a client that just received a QoS 1
// event and subscribes before acknowledging it silently lacks the subscription. The hook moves
// the in-flight message aside for the check and puts it back once the SUBACK is decided. Both
// run on the client's own read goroutine, so its PUBACK for that message cannot come in between.
type packetIDHook struct {
	mochi.HookBase
	mu      sync.Mutex
	stashed map[string]packets.Packet // client id -> the in-flight message moved aside
}

func (h *packetIDHook) ID() string { return "strata-packet-ids" }

func (h *packetIDHook) Provides(b byte) bool {
	return b == mochi.OnSubscribe || b == mochi.OnSubscribed
}

func (h *packetIDHook) OnSubscribe(cl *mochi.Client, pk packets.Packet) packets.Packet {
	// A Pubrec is the client's own QoS 2 publish still open: that identifier is in use indeed.
	out, ok := cl.State.Inflight.Get(pk.PacketID)
	if ok && out.FixedHeader.Type != packets.Pubrec && cl.State.Inflight.Delete(pk.PacketID) {
		h.mu.Lock()
		h.stashed[cl.ID] = out
		h.mu.Unlock()
	}
	return pk
}

func (h *packetIDHook) OnSubscribed(cl *mochi.Client, _ packets.Packet, _ []byte) {
	h.mu.Lock()
	out, ok := h.stashed[cl.ID]
	delete(h.stashed, cl.ID)
	h.mu.Unlock()
	if ok {
		cl.State.Inflight.Set(out)
	}
}

// constantTimeEqual compares secrets without leaking their common prefix length through timing;
// callers building an Authenticate func can use it through CheckPassword.
func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// CheckPassword returns an Authenticate func that accepts exactly one username and password,
// compared in constant time.
func CheckPassword(user, password string) func(string, string) bool {
	return func(u, p string) bool {
		return constantTimeEqual(u, user) && constantTimeEqual(p, password)
	}
}

// quietHandler tames mochi's logging: mochi logs every ended client connection (EOF, a refused
// password, a closed socket) as a warning with an empty message. Those become debug records with
// a message; refusals are counted in BrokerStats.AuthRejected.
type quietHandler struct{ slog.Handler }

func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "" {
		q := slog.NewRecord(r.Time, slog.LevelDebug, "client connection ended", r.PC)
		r.Attrs(func(a slog.Attr) bool { q.AddAttrs(a); return true })
		r = q
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(as)}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{h.Handler.WithGroup(name)}
}

// listener serves one bound net.Listener for mochi, in place of mochi's listeners.Net, for two
// reasons. mochi's Close waits for every connection goroutine but only disconnects clients that
// completed CONNECT, so one silent connection would hold shutdown forever; and mochi's listener
// can hand it a connection while Close already waits (a WaitGroup Add racing its Wait). This one
// gives each connection a deadline for its TLS handshake and CONNECT (mochi replaces it with the
// keep-alive once connected), and its Close ends every connection it handed out and waits for
// them before mochi waits.
type listener struct {
	id  string
	ln  net.Listener
	srv *mochi.Server
	log *slog.Logger
	// ended is called with each connection once mochi is done with it.
	ended  func(net.Conn)
	limits *packetLimits
	states *latestStates

	mu     sync.Mutex // guards conns and closed; wg.Add happens under it while !closed
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup // one per connection handed to mochi
}

func (l *listener) ID() string              { return l.id }
func (l *listener) Address() string         { return l.ln.Addr().String() }
func (l *listener) Protocol() string        { return "tcp" }
func (l *listener) Init(*slog.Logger) error { return nil }

// Serve accepts connections until the listener is closed.
func (l *listener) Serve(establish listeners.EstablishFn) {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait a little rather than spin.
			l.log.Warn("accept", "listener", l.Address(), "error", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		_ = c.SetDeadline(time.Now().Add(connectDeadline))
		c = l.limits.wrap(c, l.states)
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.Close()
			return
		}
		l.conns[c] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go func() {
			defer l.wg.Done()
			err := establish(l.id, c)
			c.Close()
			if l.ended != nil {
				l.ended(c)
			}
			l.mu.Lock()
			delete(l.conns, c)
			l.mu.Unlock()
			l.limits.ended(l.log, c.RemoteAddr().String(), err)
			l.log.Debug("client connection ended", "listener", l.Address(), "error", err)
		}()
	}
}

// Close stops accepting, disconnects the listener's clients, closes whatever connections remain
// (those still before CONNECT) and waits for their goroutines. It does not call mochi's CloseFn:
// that one (Clients.GetByListener) takes the clients' read lock twice, so a client leaving at the
// same moment (Clients.Delete waiting for the write lock) deadlocks the shutdown.
func (l *listener) Close(listeners.CloseFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.mu.Unlock()
	l.ln.Close()
	for _, cl := range l.srv.Clients.GetAll() {
		if cl.Net.Listener == l.id && !cl.Closed() {
			_ = l.srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
		}
	}
	l.mu.Lock()
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}
