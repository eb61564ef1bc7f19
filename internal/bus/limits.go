package bus

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync/atomic"

	mochi "github.com/mochi-mqtt/server/v2"
)

// DefaultMaxPacketSize is the default of BrokerOptions.MaxPacketSize: ample for every event a
// member or an operator's tool sends, small enough that a flood of them costs little.
const DefaultMaxPacketSize = 1 << 20

// errPacketTooLarge ends a connection whose client announced a packet over its limit.
var errPacketTooLarge = errors.New("bus: packet larger than the client's limit")

// limitConn is a broker-side connection that refuses, at its fixed header, a packet larger than
// the client's limit, before mochi allocates a buffer for the body (mochi reads a whole packet
// into memory, twice over, before any hook sees it). It follows the MQTT framing of the bytes it
// passes on: a packet is its type byte, a variable-length remaining length and that many bytes.
// What mochi writes to it goes out with the latest complete state in place of each stand-in
// (Write, complete.go). Only mochi's read goroutine reads; the limit is raised by the auth hook on that same goroutine
// once the client's identity is known, so the atomic is only for the race detector's peace.
type limitConn struct {
	net.Conn
	limit   atomic.Int64 // largest packet accepted, fixed header included
	tooBig  func()       // counts a refusal
	pending error        // returned by the next Read: the bytes before the refused packet went out first

	// What Write needs (complete.go): the broker's states, and, set by identify before anything
	// but a CONNACK is written, the client's version and limit.
	states  *latestStates
	version atomic.Uint32 // the client's MQTT version
	sendMax atomic.Uint32 // the client's maximum packet size (MQTT 5); 0: none

	state  int8  // 0: at a packet's first byte; 1: in its remaining length; 2: in its body
	length int64 // remaining length decoded so far
	shift  uint  // of the next length digit
	hdr    int64 // bytes of fixed header so far
	body   int64 // body bytes still to pass
}

func newLimitConn(c net.Conn, limit int64, tooBig func(), states *latestStates) *limitConn {
	lc := &limitConn{Conn: c, tooBig: tooBig, states: states}
	lc.limit.Store(limit)
	return lc
}

// Read reads from the connection and checks every packet header in what it read.
func (c *limitConn) Read(p []byte) (int, error) {
	if c.pending != nil {
		return 0, c.pending
	}
	n, err := c.Conn.Read(p)
	if ok := c.scan(p[:n]); ok < n {
		if ok == 0 {
			return 0, c.pending
		}
		return ok, nil
	}
	return n, err
}

// scan follows the framing over b and returns how many bytes of it may pass: all of them, or
// those before a packet over the limit (then c.pending is set).
func (c *limitConn) scan(b []byte) int {
	for i := 0; i < len(b); {
		switch c.state {
		case 0:
			c.state, c.length, c.shift, c.hdr = 1, 0, 0, 1
			i++
		case 1:
			d := b[i]
			i++
			c.hdr++
			c.length |= int64(d&0x7f) << c.shift
			c.shift += 7
			if d&0x80 != 0 {
				if c.shift >= 28 {
					return c.refuse(i, fmt.Errorf("%w: malformed remaining length", errPacketTooLarge))
				}
				continue
			}
			if size, limit := c.hdr+c.length, c.limit.Load(); size > limit {
				return c.refuse(i, fmt.Errorf("%w: %d bytes, limit %d", errPacketTooLarge, size, limit))
			}
			c.state, c.body = 2, c.length
			if c.body == 0 {
				c.state = 0
			}
		case 2:
			k := min(int64(len(b)-i), c.body)
			i += int(k)
			c.body -= k
			if c.body == 0 {
				c.state = 0
			}
		}
	}
	return len(b)
}

// refuse keeps the bytes before the packet that ends at header byte i and sets the error.
func (c *limitConn) refuse(i int, err error) int {
	c.pending = err
	if c.tooBig != nil {
		c.tooBig()
	}
	start := i - int(c.hdr)
	return max(start, 0)
}

// packetLimits are the broker's per-client packet-size limits.
type packetLimits struct {
	def     int64                 // every client's, and every connection's before CONNECT
	forUser func(user string) int // a larger (or smaller) limit by username; 0: def
	tooBig  atomic.Int64          // packets refused
	logged  atomic.Bool           // the first refusal is logged
}

func newPacketLimits(o BrokerOptions) (*packetLimits, error) {
	switch {
	case o.MaxPacketSize == 0:
		o.MaxPacketSize = DefaultMaxPacketSize
	case o.MaxPacketSize < 0 || o.MaxPacketSize > math.MaxInt32:
		return nil, fmt.Errorf("max packet size %d out of range", o.MaxPacketSize)
	}
	return &packetLimits{def: int64(o.MaxPacketSize), forUser: o.PacketLimit}, nil
}

// wrap puts a new connection under the default limit, writing the states' stand-ins as the
// states; a nil l (a bare listener) leaves it be.
func (l *packetLimits) wrap(c net.Conn, states *latestStates) net.Conn {
	if l == nil {
		return c
	}
	return newLimitConn(c, l.def, func() { l.tooBig.Add(1) }, states)
}

// identify sets an authenticated client's limit by its username, and tells its connection the
// client's MQTT version and maximum packet size.
func (l *packetLimits) identify(cl *mochi.Client, user string) {
	lc, ok := cl.Net.Conn.(*limitConn)
	if !ok || l == nil {
		return
	}
	lc.version.Store(uint32(cl.Properties.ProtocolVersion))
	lc.sendMax.Store(cl.Properties.Props.MaximumPacketSize)
	if l.forUser == nil {
		return
	}
	if n := l.forUser(user); n > 0 {
		lc.limit.Store(int64(n))
	}
}

// ended logs the first connection closed for a packet over its limit; the rest are counted.
func (l *packetLimits) ended(log *slog.Logger, remote string, err error) {
	if l != nil && errors.Is(err, errPacketTooLarge) && l.logged.CompareAndSwap(false, true) {
		log.Warn("closed a client connection for a packet over its limit (further ones are counted in strata_broker_packets_too_large_total)",
			"remote", remote, "error", err)
	}
}

// sourceHost is the host of a client's remote address.
func sourceHost(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}
