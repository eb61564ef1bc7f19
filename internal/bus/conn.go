package bus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/strata-paas/strata/internal/model"
)

// errConnLost ends a session whose connection dropped.
var errConnLost = errors.New("connection lost")

// Run connects, keeps the connection up (reconnecting with back-off, failing over across
// Options.URLs and restoring every subscription) and sends the outbox, until ctx ends. It returns
// nil after ctx ends and its goroutines have exited, or an error at once when called twice.
// Messages still in the outbox when Run returns are reported in one log line and not sent; call
// Flush first to wait for them.
func (c *Client) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("bus: Run called twice")
	}
	stopQueues := c.startQueues()
	defer stopQueues()
	defer func() {
		c.mu.Lock()
		c.closed = true
		left := len(c.queue) - c.head + len(c.urgent)
		c.broadcastLocked()
		c.mu.Unlock()
		if left > 0 {
			c.log.Warn("messages left unsent", "count", left)
		}
	}()

	retryMin, retryMax := orDefault(c.opts.RetryMin, DefaultRetryMin), orDefault(c.opts.RetryMax, DefaultRetryMax)
	delay := retryMin
	failures := 0
	for ctx.Err() == nil {
		connected, err := c.session(ctx)
		if ctx.Err() != nil {
			break
		}
		c.mu.Lock()
		c.lastErr = err
		c.mu.Unlock()
		switch {
		case connected:
			delay, failures = retryMin, 0
			c.log.Warn("connection lost", "error", err)
		case refused(err):
			// Retrying with the same credentials fails the same way until an operator acts:
			// an error, not a retry, once per run of refusals.
			c.connectFailures.Add(1)
			failures++
			if failures == 1 {
				c.log.Error("broker refused the connection: check the client's credentials and the broker's ACL; still retrying",
					"urls", c.urls, "username", c.opts.Username, "error", err)
			} else {
				c.log.Debug("broker refused the connection", "attempt", failures, "error", err)
			}
		default:
			c.connectFailures.Add(1)
			failures++
			if failures == 1 {
				c.log.Warn("cannot connect, retrying", "urls", c.urls, "error", err)
			} else {
				c.log.Debug("cannot connect", "attempt", failures, "error", err)
			}
		}
		// Jitter keeps many clients from reconnecting in step after a broker restart.
		wait := delay/2 + rand.N(delay/2+1)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		delay = min(delay*2, retryMax)
	}
	return nil
}

// refused reports whether a connection attempt failed because the broker refused the client
// (CONNACK not authorised, bad user name or password, identifier rejected).
func refused(err error) bool {
	return errors.Is(err, packets.ErrorRefusedNotAuthorised) ||
		errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) ||
		errors.Is(err, packets.ErrorRefusedIDRejected)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// pahoOptions builds the options of one connection. Paho's own reconnect and persistent session
// are off: Run reconnects, resubscribes and resends from the outbox itself.
func (c *Client) pahoOptions(lost func(error)) *mqtt.ClientOptions {
	o := mqtt.NewClientOptions()
	for _, u := range c.urls {
		o.AddBroker(u)
	}
	o.SetClientID(c.clientID)
	if c.opts.Username != "" {
		o.SetUsername(c.opts.Username)
		o.SetPassword(c.opts.Password)
	}
	if c.opts.TLS != nil {
		o.SetTLSConfig(c.opts.TLS)
	}
	o.SetProtocolVersion(4) // MQTT 3.1.1, as Stratos and Mosquitto speak it
	o.SetCleanSession(true)
	o.SetAutoReconnect(false)
	o.SetConnectRetry(false)
	o.SetKeepAlive(orDefault(c.opts.KeepAlive, DefaultKeepAlive))
	o.SetPingTimeout(orDefault(c.opts.KeepAlive, DefaultKeepAlive) / 2)
	o.SetConnectTimeout(orDefault(c.opts.ConnectTimeout, DefaultConnectTimeout))
	o.SetWriteTimeout(c.writeTimeout)
	o.SetCustomOpenConnectionFn(openConn(c.writeTimeout))
	o.SetOrderMatters(true)
	o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { c.dispatch(m.Topic(), m.Payload(), nil, true) })
	o.SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost(err) })
	return o
}

// session runs one connection: connect, restore subscriptions, report Connected, send the outbox
// until the connection drops or ctx ends. connected reports whether it got as far as Connected.
func (c *Client) session(ctx context.Context) (connected bool, err error) {
	if c.opts.Local != nil {
		return true, c.localSession(ctx)
	}
	lost := make(chan struct{})
	var lostErr error
	var once sync.Once
	pc := mqtt.NewClient(c.pahoOptions(func(err error) {
		once.Do(func() { lostErr = err; close(lost) })
	}))

	tok := pc.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		<-tok.Done() // bounded by ConnectTimeout per URL
		pc.Disconnect(0)
		return false, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer pc.Disconnect(250)

	c.mu.Lock()
	c.conn = pc
	filters := make(map[string]byte, len(c.subList))
	for _, s := range c.subList {
		filters[s.filter] = c.qos
	}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.conn = nil
		c.mu.Unlock()
	}()

	if len(filters) > 0 {
		refused, err := c.subscribe(ctx, pc, filters, lost)
		switch {
		case errors.Is(err, errConnLost):
			return false, fmt.Errorf("resubscribe: %w: %w", err, lostErr)
		case err != nil:
			return false, fmt.Errorf("resubscribe: %w", err)
		}
		for f, code := range refused {
			// Retrying would fail the same way; the rest of the client stays useful.
			c.log.Error("broker refused subscription", "filter", f, "code", fmt.Sprintf("%#x", code))
		}
	}

	c.connects.Add(1)
	c.setState(Connected)
	defer c.setState(Disconnected)
	c.log.Info("connected", "urls", c.urls)

	err = c.send(ctx, func(m outMsg) mqtt.Token { return pc.Publish(m.topic, m.qos, false, m.payload) }, lost)
	if errors.Is(err, errConnLost) {
		err = fmt.Errorf("%w: %w", err, lostErr)
	}
	return true, err
}

// localSession is session on Options.Local: it subscribes there, reports Connected and sends the
// outbox until ctx ends, then ends the subscriptions.
func (c *Client) localSession(ctx context.Context) error {
	c.setLocal(true)
	defer c.setLocal(false)
	c.connects.Add(1)
	c.setState(Connected)
	defer c.setState(Disconnected)
	c.log.Info("connected to the broker in the process")
	return c.send(ctx, func(m outMsg) mqtt.Token {
		return localToken{c.opts.Local.PublishLocal(m.topic, m.payload, m.qos, m.ev)}
	}, nil)
}

// setLocal makes (on) or ends every subscription on Options.Local.
func (c *Client) setLocal(on bool) {
	c.localMu.Lock()
	defer c.localMu.Unlock()
	c.mu.Lock()
	c.local = on
	filters := map[string]bool{}
	for _, s := range c.subList {
		filters[s.filter] = true
	}
	c.mu.Unlock()
	for _, f := range slices.Sorted(maps.Keys(filters)) {
		if err := c.localSubscription(f, on); err != nil {
			c.log.Error("broker refused subscription", "filter", f, "error", err)
		}
	}
}

// localSubscription makes or ends the client's subscription to filter on Options.Local.
func (c *Client) localSubscription(filter string, on bool) error {
	if on {
		return c.opts.Local.SubscribeLocal(c.localID, filter, func(topic string, payload []byte, ev model.Event, fromLocal bool) {
			c.dispatch(topic, payload, ev, !fromLocal)
		})
	}
	return c.opts.Local.UnsubscribeLocal(c.localID, filter)
}

func (c *Client) setState(s State) {
	c.mu.Lock()
	changed := c.state != s
	c.state = s
	c.broadcastLocked()
	c.mu.Unlock()
	if changed && c.opts.OnState != nil {
		c.opts.OnState(s)
	}
}

// send hands the outbox to publish (paho, or Options.Local) in order, urgent messages first (each
// one at the next hand-over), keeping up to sendWindow messages in flight, and removes a message
// from the outbox only once its token reports it sent. It returns when the connection drops (lost
// closes) or a publish fails (the unacknowledged messages stay queued for the next connection) or
// when ctx ends.
func (c *Client) send(ctx context.Context, publish func(outMsg) mqtt.Token, lost <-chan struct{}) error {
	// inflight are the tokens of the messages handed over, in order: urgent[:urgentOut] and
	// queue[head : head+queueOut], each marked with the FIFO it came from.
	type handed struct {
		tok    mqtt.Token
		urgent bool
	}
	inflight := make([]handed, 0, sendWindow)
	urgentOut, queueOut := 0, 0
	for {
		for len(inflight) < sendWindow {
			c.mu.Lock()
			var m outMsg
			urgent := urgentOut < len(c.urgent)
			switch i := c.head + queueOut; {
			case urgent:
				m = c.urgent[urgentOut]
				urgentOut++
			case i < len(c.queue):
				m = c.queue[i]
				queueOut++
				if pos, ok := c.latest[m.key]; ok && pos == c.base+uint64(i) {
					delete(c.latest, m.key) // handed over: a newer one is queued anew
				}
			}
			c.mu.Unlock()
			if m.topic == "" { // nothing waiting (a queued message always has a topic)
				break
			}
			inflight = append(inflight, handed{publish(m), urgent})
		}
		if len(inflight) == 0 {
			select {
			case <-c.ready:
				continue
			case <-lost:
				return errConnLost
			case <-ctx.Done():
				return nil
			}
		}
		h := inflight[0]
		select {
		case <-h.tok.Done():
		case <-lost:
			return errConnLost
		case <-ctx.Done():
			return nil
		}
		if err := h.tok.Error(); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		c.mu.Lock()
		if h.urgent {
			c.urgent[0] = outMsg{}
			c.urgent = c.urgent[1:]
			if len(c.urgent) == 0 {
				c.urgent = nil
			}
			urgentOut--
		} else {
			c.queue[c.head] = outMsg{}
			c.head++
			queueOut--
			if c.head == len(c.queue) {
				c.base += uint64(c.head)
				c.queue, c.head = c.queue[:0], 0
			} else if c.head >= 1024 && c.head*2 >= len(c.queue) {
				n := copy(c.queue, c.queue[c.head:])
				clear(c.queue[n:])
				c.base += uint64(c.head)
				c.queue, c.head = c.queue[:n], 0
			}
		}
		c.dequeued++
		c.broadcastLocked()
		c.mu.Unlock()
		c.sent.Add(1)
		inflight = slices.Delete(inflight, 0, 1)
	}
}

// localToken is the token of a message handed to Options.Local: done when made.
type localToken struct{ err error }

// doneChan is the channel of every localToken's Done.
var doneChan = func() chan struct{} { ch := make(chan struct{}); close(ch); return ch }()

func (t localToken) Wait() bool                     { return true }
func (t localToken) WaitTimeout(time.Duration) bool { return true }
func (t localToken) Done() <-chan struct{}          { return doneChan }
func (t localToken) Error() error                   { return t.err }

// Subscribe adds handler for every message on topics matching filter ("+" and "#" wildcards). The
// subscription is restored on every reconnect. When connected, Subscribe returns once the broker
// has acknowledged it; otherwise at once, and the subscription is made when the client connects.
// Several handlers may share a filter. A message matching several filters reaches each matching
// handler; a broker may also deliver it once per matching filter.
func (c *Client) Subscribe(ctx context.Context, filter string, handler Handler) error {
	return c.subscribeRaw(ctx, filter, handler, c.consumerQueue(defaultConsumer))
}

// subscribeRaw is Subscribe, with handler called from q.
func (c *Client) subscribeRaw(ctx context.Context, filter string, handler Handler, q *queue) error {
	if handler == nil {
		return fmt.Errorf("subscribe %s: nil handler", filter)
	}
	return c.addSubscription(ctx, filter, func(topic string, payload []byte, _ *decoded) { handler(topic, payload) }, false, q)
}

// addSubscription is Subscribe, with handler called from q.
func (c *Client) addSubscription(ctx context.Context, filter string, handler handle, decodes bool, q *queue) error {
	if err := validFilter(filter); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	if c.opts.Local != nil {
		c.localMu.Lock()
		defer c.localMu.Unlock()
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("subscribe %s: %w", filter, ErrClosed)
	}
	c.subList = append(c.subList, subscription{filter: filter, handler: handler, decodes: decodes, q: q})
	c.subs.Store(newSubscriptions(slices.Clone(c.subList)))
	pc, local := c.conn, c.local
	c.mu.Unlock()
	if local {
		if err := c.localSubscription(filter, true); err != nil {
			c.mu.Lock()
			c.dropLocked(filter, nil)
			c.mu.Unlock()
			return fmt.Errorf("subscribe %s: %w: %w", filter, ErrSubscribeRejected, err)
		}
		return nil
	}
	if pc == nil {
		return nil
	}
	refused, err := c.subscribe(ctx, pc, map[string]byte{filter: c.qos}, nil)
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("subscribe %s: %w", filter, ctx.Err())
	case err != nil:
		// The connection dropped; the next one restores the subscription.
		return nil
	case len(refused) > 0:
		c.mu.Lock()
		c.dropLocked(filter, nil)
		c.mu.Unlock()
		return fmt.Errorf("subscribe %s: %w (code %#x)", filter, ErrSubscribeRejected, refused[filter])
	}
	return nil
}

// subscribeAttempts bounds how often subscribe asks again for a filter the broker answered with
// a failure code other than 0x80.
const subscribeAttempts = 5

// subscribe subscribes pc to filters and waits for the SUBACK. It returns the filters the broker
// refused, with their return codes. 0x80 is a refusal. Any other failure code is asked again,
// up to subscribeAttempts times, 50 ms more apart each time: mochi answers 0x91 ("packet
// identifier in use", not an MQTT 3.1.1 code) when the SUBSCRIBE's packet identifier equals that
// of a message it is still delivering to this client, which passes once the client acknowledges
// it. err is errConnLost when lost closes first, ctx's error when ctx ends, or paho's.
func (c *Client) subscribe(ctx context.Context, pc mqtt.Client, filters map[string]byte, lost <-chan struct{}) (refused map[string]byte, err error) {
	for attempt := 1; ; attempt++ {
		st := pc.SubscribeMultiple(filters, nil)
		select {
		case <-st.Done():
		case <-lost:
			return nil, errConnLost
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if err := st.Error(); err != nil {
			return nil, err
		}
		again := map[string]byte{}
		for f, code := range st.(*mqtt.SubscribeToken).Result() {
			switch {
			case code <= 2: // granted qos
			case code == 0x80 || attempt == subscribeAttempts:
				if refused == nil {
					refused = map[string]byte{}
				}
				refused[f] = code
			default:
				again[f] = filters[f]
			}
		}
		if len(again) == 0 {
			return refused, nil
		}
		c.log.Debug("subscription failed, asking again", "filters", slices.Sorted(maps.Keys(again)), "attempt", attempt)
		t := time.NewTimer(time.Duration(attempt) * 50 * time.Millisecond)
		select {
		case <-t.C:
		case <-lost:
			t.Stop()
			return nil, errConnLost
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		filters = again
	}
}

// Unsubscribe removes every handler of filter, whichever consumer it belongs to.
func (c *Client) Unsubscribe(ctx context.Context, filter string) error {
	return c.unsubscribe(ctx, filter, nil)
}

// unsubscribe removes the handlers of filter that run from q (every one when q is nil) and tells
// the broker once no handler of filter is left.
func (c *Client) unsubscribe(ctx context.Context, filter string, q *queue) error {
	if c.opts.Local != nil {
		c.localMu.Lock()
		defer c.localMu.Unlock()
	}
	c.mu.Lock()
	others, pc, local := c.dropLocked(filter, q), c.conn, c.local
	c.mu.Unlock()
	switch {
	case others:
		return nil
	case local:
		if err := c.localSubscription(filter, false); err != nil {
			return fmt.Errorf("unsubscribe %s: %w", filter, err)
		}
		return nil
	case pc == nil:
		return nil
	}
	t := pc.Unsubscribe(filter)
	select {
	case <-t.Done():
	case <-ctx.Done():
		return fmt.Errorf("unsubscribe %s: %w", filter, ctx.Err())
	}
	// An error of t means the connection dropped, which unsubscribes too. A consumer may have
	// subscribed to filter while the UNSUBSCRIBE was on its way, after its own SUBSCRIBE:
	// subscribe again for it.
	c.mu.Lock()
	again, pc := c.hasFilterLocked(filter), c.conn
	c.mu.Unlock()
	if again && pc != nil {
		if _, err := c.subscribe(ctx, pc, map[string]byte{filter: c.qos}, nil); err != nil && ctx.Err() != nil {
			return fmt.Errorf("unsubscribe %s: %w", filter, ctx.Err())
		}
	}
	return nil
}

// dropLocked removes the handlers of filter that run from q (every one when q is nil) and
// reports whether a handler of filter is left. c.mu must be held.
func (c *Client) dropLocked(filter string, q *queue) bool {
	c.subList = slices.DeleteFunc(c.subList, func(s subscription) bool { return s.filter == filter && (q == nil || s.q == q) })
	c.subs.Store(newSubscriptions(slices.Clone(c.subList)))
	return c.hasFilterLocked(filter)
}

// hasFilterLocked reports whether a subscription has filter. c.mu must be held.
func (c *Client) hasFilterLocked(filter string) bool {
	return slices.ContainsFunc(c.subList, func(s subscription) bool { return s.filter == filter })
}

// dispatch queues a message for every matching handler, on the handler's consumer's queue. Paho
// calls it in arrival order, one message at a time; Options.Local in each publisher's goroutine.
// A full queue holds it back until there is room when wait is set, and takes the message anyway
// when not: Options.Local's own publications are handed over by the client's sender, which a
// consumer publishing into its own full queue would otherwise wait for, for ever. ev, when not
// nil, is the message's event as its publisher in the process made it: nobody decodes it.
func (c *Client) dispatch(topic string, payload []byte, ev model.Event, wait bool) {
	c.received.Add(1)
	var shared *decoded
	subs := c.subs.Load()
	for _, i := range subs.index.matching(topic) {
		s := &subs.list[i]
		d := delivery{handler: s.handler, topic: topic, payload: payload}
		if s.decodes {
			if shared == nil {
				shared = newDecoded(ev)
			}
			d.shared = shared
		}
		s.q.push(d, wait, c.stopQueues)
	}
}
