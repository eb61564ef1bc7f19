package databridge

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/testenv"
)

// closedByServer says whether the server ends c (EOF or reset) within d.
func closedByServer(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// TestConnectionBounds: connections beyond MaxConnsPerSource from one host, or beyond MaxConns
// in total, are closed at once and counted; closing one makes room again. (Issue 15: 19,995
// idle sockets were accepted until "too many open files".)
func TestConnectionBounds(t *testing.T) {
	for _, tt := range []struct {
		name                string
		maxConns, perSource int
		sources             []string // the local address of each connection, in order
		refused             int      // the index of the one refused
	}{
		{name: "per source", perSource: 2, sources: []string{"127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.1"}, refused: 3},
		{name: "in total", maxConns: 3, sources: []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}, refused: 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, func(o *ServerOptions) { o.MaxConns, o.MaxConnsPerSource = tt.maxConns, tt.perSource })
			var conns []net.Conn
			for i, src := range tt.sources {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
				c, err := d.Dial("tcp", s.PlainAddr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				conns = append(conns, c)
				if i == tt.refused {
					if !closedByServer(c, 5*time.Second) {
						t.Fatalf("connection %d from %s beyond the bound was kept open", i, src)
					}
				}
			}
			if closedByServer(conns[0], 100*time.Millisecond) {
				t.Error("a connection within the bound was closed")
			}
			if got := s.Stats().RefusedConnections; got != 1 {
				t.Errorf("RefusedConnections = %d, want 1", got)
			}
			conns[0].Close()
			testenv.Eventually(t, 5*time.Second, "the closed connection is released", func() bool {
				return s.Stats().OpenConnections < int64(tt.refused)
			})
			c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(tt.sources[0])}}).Dial("tcp", s.PlainAddr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if closedByServer(c, 100*time.Millisecond) {
				t.Error("a connection after one closed was refused")
			}
		})
	}
}

// TestConnectSource: Authenticate learns the source host of a connect call, to throttle by.
func TestConnectSource(t *testing.T) {
	got := make(chan string, 1)
	s := startServer(t, func(o *ServerOptions) {
		o.Authenticate = func(ctx context.Context, _, _ string) error {
			got <- Source(ctx)
			return ErrAuthentication
		}
	})
	client, tr := genClient(t, s.SecureAddr().String(), clientTLS(t))
	defer tr.Close()
	_, _ = client.Connect(context.Background(), "u", "p")
	select {
	case src := <-got:
		if src != "127.0.0.1" {
			t.Errorf("Source = %q, want 127.0.0.1", src)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Authenticate was not called")
	}
}
