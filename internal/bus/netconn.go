package bus

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"net/url"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// progressChunk is how much of a write progressConn hands the socket under one deadline.
const progressChunk = 256 << 10

// readBuffer is the size of progressConn's read buffer.
const readBuffer = 32 << 10

// progressConn turns paho's write deadline into a progress deadline. Paho sets the deadline to
// now + writeTimeout before it writes each packet, so a packet that takes longer than that to go
// out as a whole fails and the connection is dropped, however steadily it was going: a complete
// topology of 100 000 members (90 MB) needs 18 MB/s to fit in 5 s, which a busy machine does not
// always give, and the connection then drops and sends it again, for ever. progressConn writes in
// chunks and moves the deadline before each, so a write fails only when the peer took nothing
// for the timeout.
//
// Reads go through a buffer: paho reads a packet's fixed header a byte at a time, which on a
// bare socket is three read calls for every message (an undeploy of 100 000 members spent 7 s of
// CPU there, issue 17). Only paho's receiving goroutine reads.
type progressConn struct {
	net.Conn
	r       *bufio.Reader
	timeout time.Duration
	armed   atomic.Bool // paho asked for a write deadline
}

// newProgressConn wraps conn.
func newProgressConn(conn net.Conn, timeout time.Duration) *progressConn {
	return &progressConn{Conn: conn, r: bufio.NewReaderSize(conn, readBuffer), timeout: timeout}
}

// Read reads from the buffer.
func (c *progressConn) Read(b []byte) (int, error) {
	return c.r.Read(b)
}

// SetWriteDeadline records whether paho wants a deadline; Write sets its own.
func (c *progressConn) SetWriteDeadline(t time.Time) error {
	c.armed.Store(!t.IsZero())
	if t.IsZero() {
		return c.Conn.SetWriteDeadline(t)
	}
	return nil
}

// Write writes b in chunks of progressChunk, each with a deadline of the timeout from its start.
func (c *progressConn) Write(b []byte) (int, error) {
	if !c.armed.Load() {
		return c.Conn.Write(b)
	}
	n := 0
	for n < len(b) {
		if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
			return n, err
		}
		k, err := c.Conn.Write(b[n:min(len(b), n+progressChunk)])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// openConn opens a connection as paho does (tcp, ssl/tls/mqtts/tcps, ws, wss) and wraps it in a
// progressConn with the given write timeout.
func openConn(timeout time.Duration) mqtt.OpenConnectionFunc {
	return func(u *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
		d := &net.Dialer{Timeout: o.ConnectTimeout}
		var conn net.Conn
		var err error
		switch u.Scheme {
		case "tcp", "mqtt":
			conn, err = d.Dial("tcp", u.Host)
		case "ssl", "tls", "mqtts", "mqtt+ssl", "tcps":
			conn, err = tls.DialWithDialer(d, "tcp", u.Host, o.TLSConfig)
		case "ws", "wss":
			ws := *u
			ws.User = nil
			var tlsc *tls.Config
			if u.Scheme == "wss" {
				tlsc = o.TLSConfig
			}
			conn, err = mqtt.NewWebsocket(ws.String(), tlsc, o.ConnectTimeout, o.HTTPHeaders, o.WebsocketOptions)
		default:
			err = errors.New("unknown protocol " + u.Scheme)
		}
		if err != nil {
			return nil, err
		}
		return newProgressConn(conn, timeout), nil
	}
}
