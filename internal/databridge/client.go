package databridge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Errors a Client returns, one per data-bridge exception (§2.1), wrapped with the call and the
// server's message. Compare with errors.Is.
var (
	ErrAuthentication      = errors.New("databridge: authentication failed")
	ErrSessionExpired      = errors.New("databridge: session expired")
	ErrUndefinedStream     = errors.New("databridge: undefined stream")
	ErrDifferentDefinition = errors.New("databridge: stream already defined differently")
	ErrStreamDefinition    = errors.New("databridge: stream definition error")
	ErrNoStreamDefinition  = errors.New("databridge: no such stream definition")
	ErrApplication         = errors.New("databridge: application exception")
	ErrClosed              = errors.New("databridge: client closed")
)

// ClientOptions configures a Client.
type ClientOptions struct {
	// URLs are the receivers, tried in order and failed over in turn:
	//   ssl://host:7711 (or tls://, or a bare host:port): every call over TLS on the secure service,
	//     as the Python agent does;
	//   tcp://host:7611: the plain service, with the session from the secure service at port+100,
	//     as the Java agent and the load balancer do.
	URLs []string
	// TLS configures the secure connections. Nil verifies the server against the system roots; to
	// talk to a self-signed receiver, give its certificate pool (or, like the Stratos agents,
	// InsecureSkipVerify).
	TLS *tls.Config
	// Username and Password are sent by connect.
	Username, Password string
	// DialTimeout bounds each dial and TLS handshake. Default 5 s.
	DialTimeout time.Duration
	// CallTimeout bounds each call when ctx allows longer. Default 10 s.
	CallTimeout time.Duration
	// Framed uses the framed transport instead of the buffered one.
	Framed bool
	// MaxFrame bounds one reply. Default 16 MiB.
	MaxFrame int
	// Logger receives reconnects and failovers; nil discards them.
	Logger *slog.Logger
}

type endpoint struct {
	url      string
	addr     string // where calls go
	secure   bool
	authAddr string // where connect goes (plain endpoints)
}

func parseEndpoint(u string) (endpoint, error) {
	ep := endpoint{url: u, secure: true}
	rest := u
	switch {
	case strings.HasPrefix(u, "ssl://"), strings.HasPrefix(u, "tls://"):
		rest = u[len("ssl://"):]
	case strings.HasPrefix(u, "tcp://"):
		rest = u[len("tcp://"):]
		ep.secure = false
	case strings.Contains(u, "://"):
		return ep, fmt.Errorf("databridge: receiver url %q: unknown scheme", u)
	}
	host, port, err := net.SplitHostPort(strings.TrimSuffix(rest, "/"))
	if err != nil {
		return ep, fmt.Errorf("databridge: receiver url %q: %w", u, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535-100 {
		return ep, fmt.Errorf("databridge: receiver url %q: bad port", u)
	}
	ep.addr = net.JoinHostPort(host, port)
	ep.authAddr = ep.addr
	if !ep.secure {
		ep.authAddr = net.JoinHostPort(host, strconv.Itoa(p+100))
	}
	return ep, nil
}

// Client publishes events to data-bridge receivers. It keeps one connection and one session,
// reconnects after an error, fails over between URLs, and re-defines its streams on every new
// session. It is safe for concurrent use; calls are serialized.
type Client struct {
	opts      ClientOptions
	log       *slog.Logger
	endpoints []endpoint

	mu     sync.Mutex
	next   int
	conn   *clientConn
	defs   map[string]*StreamDefinition // every stream this client uses, in definition order
	order  []string
	closed bool
}

// NewClient validates the options; it connects lazily, on the first call.
func NewClient(opts ClientOptions) (*Client, error) {
	if len(opts.URLs) == 0 {
		return nil, errors.New("databridge: no receiver URLs")
	}
	c := &Client{opts: opts, defs: make(map[string]*StreamDefinition)}
	var errs []error
	for _, u := range opts.URLs {
		ep, err := parseEndpoint(u)
		errs = append(errs, err)
		c.endpoints = append(c.endpoints, ep)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if c.opts.DialTimeout <= 0 {
		c.opts.DialTimeout = 5 * time.Second
	}
	if c.opts.CallTimeout <= 0 {
		c.opts.CallTimeout = 10 * time.Second
	}
	if c.opts.MaxFrame <= 0 {
		c.opts.MaxFrame = defaultMaxFrame
	}
	if c.opts.TLS == nil {
		c.opts.TLS = &tls.Config{}
	}
	if c.opts.Logger == nil {
		c.opts.Logger = slog.New(slog.DiscardHandler)
	}
	c.log = c.opts.Logger.With("component", "databridge_client")
	return c, nil
}

// Define defines a stream on the receiver (and again on every later session) and returns its id.
func (c *Client) Define(ctx context.Context, def *StreamDefinition) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.defs[def.ID]; !ok {
		c.defs[def.ID] = def
		c.order = append(c.order, def.ID)
	}
	var id string
	err := c.do(ctx, func(cc *clientConn) error {
		var err error
		id, err = cc.define(ctx, def)
		return err
	})
	return id, err
}

// Publish sends the events in one bundle. Each event's Stream is defined first if this session
// has not defined it yet. On ThriftSessionExpiredException the client reconnects, re-defines and
// retries once; on a connection error it fails over to the next URL and retries once, so a bundle
// may arrive twice.
func (c *Client) Publish(ctx context.Context, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	for i := range events {
		d := events[i].Stream
		if d == nil {
			return fmt.Errorf("databridge: publish: event %d has no stream", i)
		}
		n := d.counts()
		e := &events[i]
		if len(e.Strings) != n[TypeString] || len(e.Longs) != n[TypeLong] || len(e.Doubles) != n[TypeDouble] ||
			len(e.Ints) != n[TypeInt] || len(e.Bools) != n[TypeBool] {
			return fmt.Errorf("databridge: publish: event %d does not match the layout of %s", i, d.ID)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range events {
		d := events[i].Stream
		if _, ok := c.defs[d.ID]; !ok {
			c.defs[d.ID] = d
			c.order = append(c.order, d.ID)
		}
	}
	return c.do(ctx, func(cc *clientConn) error {
		for i := range events {
			if d := events[i].Stream; !cc.defined[d.ID] {
				if _, err := cc.define(ctx, d); err != nil {
					return err
				}
			}
		}
		return cc.publish(ctx, events)
	})
}

// Close ends the session (disconnect, on the secure service) and the connection.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.conn == nil {
		return nil
	}
	cc := c.conn
	c.conn = nil
	if cc.ep.secure {
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.DialTimeout)
		defer cancel()
		cc.call(ctx, "disconnect", func(b []byte) []byte { return appendStringField(b, 1, cc.sid) })
	}
	return cc.c.Close()
}

// do runs fn on a connected session, once more after a reconnect when the session expired or the
// connection failed. c.mu is held.
func (c *Client) do(ctx context.Context, fn func(*clientConn) error) error {
	if c.closed {
		return ErrClosed
	}
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		var cc *clientConn
		if cc, err = c.connect(ctx); err != nil {
			return err
		}
		err = fn(cc)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrUndefinedStream) && attempt == 0:
			// The receiver lost its definitions (a restart behind the same session store): the
			// failed publish cleared cc.defined, so the retry defines them again.
			c.log.Info("receiver forgot a stream, defining again", "url", cc.ep.url)
		case errors.Is(err, ErrSessionExpired):
			c.log.Info("session expired, reconnecting", "url", cc.ep.url)
			c.drop()
		case isConnError(err):
			c.log.Warn("receiver failed, failing over", "url", cc.ep.url, "err", err)
			c.drop()
			c.next = (c.next + 1) % len(c.endpoints)
		default:
			return err
		}
		if ctx.Err() != nil {
			return errors.Join(err, ctx.Err())
		}
	}
	return err
}

func isConnError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, ErrProtocol) || errors.Is(err, ErrFrameTooLarge) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, errConn)
}

var errConn = errors.New("databridge: connection lost")

func (c *Client) drop() {
	if c.conn != nil {
		c.conn.c.Close()
		c.conn = nil
	}
}

// connect returns the current connection or makes one, trying each URL once from c.next, and
// defines the client's streams on the new session.
func (c *Client) connect(ctx context.Context) (*clientConn, error) {
	if c.conn != nil {
		return c.conn, nil
	}
	var errs []error
	for i := range c.endpoints {
		idx := (c.next + i) % len(c.endpoints)
		cc, err := c.dial(ctx, c.endpoints[idx])
		if err == nil {
			for _, id := range c.order {
				if _, err = cc.define(ctx, c.defs[id]); err != nil {
					break
				}
			}
		}
		if err != nil {
			if cc != nil {
				cc.c.Close()
			}
			if errors.Is(err, ErrAuthentication) {
				return nil, err
			}
			errs = append(errs, fmt.Errorf("%s: %w", c.endpoints[idx].url, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		c.next = idx
		c.conn = cc
		return cc, nil
	}
	return nil, fmt.Errorf("databridge: no receiver reachable: %w", errors.Join(errs...))
}

func (c *Client) dial(ctx context.Context, ep endpoint) (*clientConn, error) {
	dctx, cancel := context.WithTimeout(ctx, c.opts.DialTimeout)
	defer cancel()
	nd := &net.Dialer{}
	td := &tls.Dialer{NetDialer: nd, Config: c.opts.TLS}
	auth, err := td.DialContext(dctx, "tcp", ep.authAddr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", ep.authAddr, err)
	}
	ac := c.newConn(auth, ep)
	sid, err := ac.connectCall(ctx, c.opts.Username, c.opts.Password)
	if err != nil {
		auth.Close()
		return nil, err
	}
	if ep.secure {
		ac.sid = sid
		return ac, nil
	}
	auth.Close()
	plain, err := nd.DialContext(dctx, "tcp", ep.addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", ep.addr, err)
	}
	pc := c.newConn(plain, ep)
	pc.sid = sid
	return pc, nil
}

func (c *Client) newConn(nc net.Conn, ep endpoint) *clientConn {
	return &clientConn{c: nc, ep: ep, r: newReader(nc, 4<<10), framed: c.opts.Framed, max: c.opts.MaxFrame,
		timeout: c.opts.CallTimeout, defined: make(map[string]bool)}
}

// SessionID returns the current session id, or "" when not connected.
func (c *Client) SessionID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return ""
	}
	return c.conn.sid
}
