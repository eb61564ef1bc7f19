package databridge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ServerOptions configures a Server.
type ServerOptions struct {
	// PlainAddr is where the plain service (ThriftEventTransmissionService, no connect/disconnect)
	// listens, e.g. ":7611"; empty for none. Port 0 picks a free port (see PlainAddr()).
	PlainAddr string
	// SecureAddr is where the secure service (ThriftSecureEventTransmissionService) listens over
	// TLS, e.g. ":7711"; empty for none. It needs TLS and Authenticate.
	SecureAddr string
	// TLS is the secure port's configuration, with the operator's certificate or one from
	// LoadOrCreateCertificate.
	TLS *tls.Config
	// LegacyTLS also accepts TLS 1.0 and 1.1 on the secure port, with the CBC-SHA cipher suites
	// (TLS_RSA_WITH_AES_{128,256}_CBC_SHA and the ECDHE ones): the Thrift library bundled with the
	// Stratos Python agent speaks TLS 1.0 only and negotiates AES256-SHA or ECDHE-RSA-AES256-SHA.
	// TLS needs an RSA certificate (see LoadOrCreateRSACertificate) for those suites. Off, a
	// client that offers only TLS 1.0 or 1.1 is refused and logged at WARN once per source host.
	LegacyTLS bool
	// Authenticate checks the credentials of a connect call; a non-nil error refuses them. Its
	// sessions may publish anything.
	Authenticate func(ctx context.Context, user, password string) error
	// Authorize, when set, replaces Authenticate and also says what the session may publish
	// (scope.go).
	Authorize AuthorizeFunc
	// Handler receives the events of every accepted bundle, from many connections at once.
	Handler Handler
	// SessionTTL is how long a session lives without a call naming it. Default 30 minutes.
	SessionTTL time.Duration
	// Streams are defined when the server starts. Nil means HealthStream and InFlightStream, so
	// that publishers cannot define them with another layout.
	Streams []*StreamDefinition
	// MaxFrame bounds one message (a frame, or an unframed message as read). Default 16 MiB.
	MaxFrame int
	// HandshakeTimeout bounds the TLS handshake. Default 10 s.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection that sends nothing for that long; 0 never does.
	IdleTimeout time.Duration
	// MaxConns bounds the connections open at once on both services, MaxConnsPerSource those
	// from one source host; a connection beyond either is closed at once and counted in
	// Stats.RefusedConnections. 0 means no bound.
	MaxConns, MaxConnsPerSource int
	// Logger receives connection-level events (never one line per event); nil discards them.
	Logger *slog.Logger
	// Now is the clock of session expiry. Default time.Now.
	Now func() time.Time
}

// Stats are the server's counters since it started.
type Stats struct {
	Connections     uint64 // connections accepted
	OpenConnections int64  // connections open now
	Bundles         uint64 // publish calls whose events reached the handler
	Events          uint64 // events handed to the handler
	RejectedBundles uint64 // publish calls answered with an exception
	BadFrames       uint64 // connections closed for malformed bytes
	AuthFailures    uint64 // connect calls refused
	OutOfScope      uint64 // events dropped because they lie outside their session's Scope
	ScopeClosed     uint64 // sessions closed for publishing outside their scope repeatedly
	// RefusedConnections are connections closed at accept, beyond MaxConns or MaxConnsPerSource.
	RefusedConnections uint64
	IdleClosed         uint64 // connections closed after IdleTimeout without a byte
	Sessions           int    // live sessions at the last sweep
}

// Server is the data-bridge receiver: the plain and the secure service on their own listeners.
type Server struct {
	opts     ServerOptions
	log      *slog.Logger
	plainLn  net.Listener
	secureLn net.Listener
	sessions *sessionStore

	streamsMu sync.RWMutex
	streams   map[string]*stream
	streamGen atomic.Uint64 // bumped on every change of streams; connections drop their caches

	connsMu   sync.Mutex
	conns     map[net.Conn]struct{}
	perSource map[string]int // open connections by source host, with a MaxConnsPerSource
	closing   bool

	// legacyWarned holds the source hosts whose refused legacy handshake has been logged.
	legacyMu     sync.Mutex
	legacyWarned map[string]struct{}

	connections, bundles, events, rejected, badFrames, authFailures atomic.Uint64
	outOfScope, scopeClosed, refusedConns, idleClosed               atomic.Uint64
	open                                                            atomic.Int64
	liveSessions                                                    atomic.Int64
}

const (
	defaultMaxFrame   = 16 << 20
	defaultSessionTTL = 30 * time.Minute
	readBufferSize    = 16 << 10
)

// NewServer validates the options, defines the initial streams and binds the listeners; Run serves.
func NewServer(opts ServerOptions) (*Server, error) {
	var errs []error
	if opts.PlainAddr == "" && opts.SecureAddr == "" {
		errs = append(errs, errors.New("databridge: neither PlainAddr nor SecureAddr is set"))
	}
	if opts.SecureAddr != "" && opts.TLS == nil {
		errs = append(errs, errors.New("databridge: SecureAddr needs TLS"))
	}
	if opts.SecureAddr != "" && opts.Authenticate == nil && opts.Authorize == nil {
		errs = append(errs, errors.New("databridge: SecureAddr needs Authenticate"))
	}
	if opts.Handler == nil {
		errs = append(errs, errors.New("databridge: no Handler"))
	}
	if opts.SecureAddr != "" && opts.TLS != nil && opts.LegacyTLS && opts.TLS.GetCertificate == nil && !hasRSA(opts.TLS.Certificates) {
		errs = append(errs, errors.New("databridge: LegacyTLS needs an RSA certificate: the legacy suites (AES256-SHA, ECDHE-RSA-AES256-SHA) authenticate the server with RSA"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = defaultSessionTTL
	}
	if opts.MaxFrame <= 0 {
		opts.MaxFrame = defaultMaxFrame
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Streams == nil {
		opts.Streams = []*StreamDefinition{HealthStream(), InFlightStream()}
	}
	if opts.TLS != nil {
		opts.TLS = secureConfig(opts.TLS, opts.LegacyTLS)
	}
	s := &Server{
		opts:      opts,
		log:       opts.Logger.With("component", "databridge"),
		sessions:  newSessionStore(opts.SessionTTL, opts.Now),
		streams:   make(map[string]*stream),
		conns:     make(map[net.Conn]struct{}),
		perSource: make(map[string]int),

		legacyWarned: make(map[string]struct{}),
	}
	for _, d := range opts.Streams {
		s.streams[d.ID] = newStream(d)
	}
	var err error
	if opts.PlainAddr != "" {
		if s.plainLn, err = net.Listen("tcp", opts.PlainAddr); err != nil {
			return nil, fmt.Errorf("databridge: listen plain %s: %w", opts.PlainAddr, err)
		}
	}
	if opts.SecureAddr != "" {
		if s.secureLn, err = net.Listen("tcp", opts.SecureAddr); err != nil {
			if s.plainLn != nil {
				s.plainLn.Close()
			}
			return nil, fmt.Errorf("databridge: listen secure %s: %w", opts.SecureAddr, err)
		}
	}
	return s, nil
}

// PlainAddr is the bound address of the plain service, or nil.
func (s *Server) PlainAddr() net.Addr {
	if s.plainLn == nil {
		return nil
	}
	return s.plainLn.Addr()
}

// SecureAddr is the bound address of the secure service, or nil.
func (s *Server) SecureAddr() net.Addr {
	if s.secureLn == nil {
		return nil
	}
	return s.secureLn.Addr()
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Connections:        s.connections.Load(),
		OpenConnections:    s.open.Load(),
		Bundles:            s.bundles.Load(),
		Events:             s.events.Load(),
		RejectedBundles:    s.rejected.Load(),
		BadFrames:          s.badFrames.Load(),
		AuthFailures:       s.authFailures.Load(),
		OutOfScope:         s.outOfScope.Load(),
		ScopeClosed:        s.scopeClosed.Load(),
		RefusedConnections: s.refusedConns.Load(),
		IdleClosed:         s.idleClosed.Load(),
		Sessions:           int(s.liveSessions.Load()),
	}
}

// Define defines (or confirms) a stream as defineStream does, for in-process producers and tests.
func (s *Server) Define(def *StreamDefinition) error {
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	if old, ok := s.streams[def.ID]; ok {
		if !old.def.SameLayout(def) {
			return fmt.Errorf("%w: %s", ErrDifferentDefinition, def.ID)
		}
		return nil
	}
	s.streams[def.ID] = newStream(def)
	s.streamGen.Add(1)
	return nil
}

// Stream returns the definition of a stream id, or nil.
func (s *Server) Stream(id string) *StreamDefinition {
	if st := s.lookupStream(id); st != nil {
		return st.def
	}
	return nil
}

func (s *Server) lookupStream(id string) *stream {
	s.streamsMu.RLock()
	st := s.streams[id]
	s.streamsMu.RUnlock()
	return st
}

func (s *Server) deleteStream(id string) bool {
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	if _, ok := s.streams[id]; !ok {
		return false
	}
	delete(s.streams, id)
	s.streamGen.Add(1)
	return true
}

// Run serves both listeners until ctx ends, then closes them and every connection and returns
// once all connection goroutines have exited.
func (s *Server) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if s.plainLn != nil {
		wg.Go(func() { s.acceptLoop(ctx, &wg, s.plainLn, false) })
		s.log.Info("serving", "service", "plain", "addr", s.plainLn.Addr().String())
	}
	if s.secureLn != nil {
		wg.Go(func() { s.acceptLoop(ctx, &wg, s.secureLn, true) })
		s.log.Info("serving", "service", "secure", "addr", s.secureLn.Addr().String())
		if s.opts.LegacyTLS {
			s.log.Warn("the secure service accepts the legacy protocols TLS 1.0 and TLS 1.1 with CBC-SHA cipher suites (legacy TLS is on, for the Stratos Python agent)",
				"addr", s.secureLn.Addr().String())
		}
	}
	sweepEvery := min(s.opts.SessionTTL/2, time.Minute)
	if s.opts.IdleTimeout > 0 {
		sweepEvery = min(sweepEvery, max(s.opts.IdleTimeout/4, 10*time.Millisecond))
	}
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-t.C:
			s.liveSessions.Store(int64(s.sessions.sweep()))
		}
	}
	if s.plainLn != nil {
		s.plainLn.Close()
	}
	if s.secureLn != nil {
		s.secureLn.Close()
	}
	s.connsMu.Lock()
	s.closing = true
	for c := range s.conns {
		c.Close()
	}
	s.connsMu.Unlock()
	wg.Wait()
	return nil
}

func (s *Server) acceptLoop(ctx context.Context, wg *sync.WaitGroup, ln net.Listener, secure bool) {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			// Out of file descriptors and the like: back off rather than spin.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return
			}
			continue
		}
		delay = 0
		if ok, closing := s.track(c); !ok {
			c.Close()
			if closing {
				return
			}
			continue
		}
		wg.Go(func() { s.serveConn(ctx, c, secure) })
	}
}

// track registers a new connection; it refuses one beyond the bounds (ok false) or while the
// server closes (closing true).
func (s *Server) track(c net.Conn) (ok, closing bool) {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	if s.closing {
		return false, true
	}
	if !s.admitConn(c) {
		return false, false
	}
	s.conns[c] = struct{}{}
	s.connections.Add(1)
	s.open.Add(1)
	return true, false
}

func (s *Server) untrack(c net.Conn) {
	s.connsMu.Lock()
	delete(s.conns, c)
	s.releaseConn(c)
	s.connsMu.Unlock()
	s.open.Add(-1)
	c.Close()
}

func (s *Server) serveConn(ctx context.Context, c net.Conn, secure bool) {
	defer s.untrack(c)
	var rw net.Conn = c
	if secure {
		hc := &helloConn{Conn: c}
		tc := tls.Server(hc, s.opts.TLS)
		hctx, cancel := context.WithTimeout(ctx, s.opts.HandshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			s.handshakeFailed(c.RemoteAddr(), hc.versions, err)
			return
		}
		rw = tc
	}
	sc := &serverConn{s: s, c: rw, secure: secure, streams: make(map[string]*stream)}
	sc.r = newReader(rw, readBufferSize)
	err := sc.serve(ctx)
	if errors.Is(err, net.ErrClosed) && ctx.Err() != nil {
		err = nil
	}
	s.connEnded(c.RemoteAddr().String(), secure, err)
}

// connEnded accounts for a connection's end: malformed input is logged and counted.
func (s *Server) connEnded(remote string, secure bool, err error) {
	switch {
	case err == nil, errors.Is(err, io.EOF):
	case errors.Is(err, os.ErrDeadlineExceeded) && s.opts.IdleTimeout > 0:
		s.idleClosed.Add(1)
	case errors.Is(err, ErrProtocol), errors.Is(err, ErrFrameTooLarge), errors.Is(err, io.ErrUnexpectedEOF):
		s.badFrames.Add(1)
		s.log.Warn("closing connection on malformed input", "remote", remote, "secure", secure, "err", err)
	default:
		s.log.Debug("connection ended", "remote", remote, "secure", secure, "err", err)
	}
}
