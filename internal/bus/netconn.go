package bus

import (
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

// progressConn turns paho's write deadline into a progress deadline. Paho sets the deadline to
// now + writeTimeout before it writes each packet, so a packet that takes longer than that to go
// out as a whole fails and the connection is dropped, however steadily it was going: a complete
// topology of 100 000 members (90 MB) needs 18 MB/s to fit in 5 s, which a busy machine does not
// always give, and the connection then drops and sends it again, for ever. progressConn writes in
// chunks and moves the deadline before each, so a write fails only when the peer took nothing
// for the timeout.
type progressConn struct {
	net.Conn
	timeout time.Duration
	armed   atomic.Bool // paho asked for a write deadline
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
		return &progressConn{Conn: conn, timeout: timeout}, nil
	}
}
