package databridge

import (
	"context"
	"net"
)

// admitConn says whether c may open within MaxConns and MaxConnsPerSource, and counts it under
// its source if so. The caller holds connsMu.
func (s *Server) admitConn(c net.Conn) bool {
	if s.opts.MaxConns > 0 && len(s.conns) >= s.opts.MaxConns {
		s.refused(c, "connections")
		return false
	}
	if s.opts.MaxConnsPerSource > 0 {
		src := hostOf(c.RemoteAddr())
		if s.perSource[src] >= s.opts.MaxConnsPerSource {
			s.refused(c, "connections from its source")
			return false
		}
		s.perSource[src]++
	}
	return true
}

// releaseConn uncounts a closed connection from its source. The caller holds connsMu.
func (s *Server) releaseConn(c net.Conn) {
	if s.opts.MaxConnsPerSource == 0 {
		return
	}
	src := hostOf(c.RemoteAddr())
	if s.perSource[src]--; s.perSource[src] <= 0 {
		delete(s.perSource, src)
	}
}

// refused counts a connection closed at accept and logs the first one of the server.
func (s *Server) refused(c net.Conn, bound string) {
	if s.refusedConns.Add(1) == 1 {
		s.log.Warn("refused a connection over a bound of open connections (further ones are counted in strata_databridge_connections_refused_total)",
			"remote", c.RemoteAddr().String(), "bound", bound, "max_conns", s.opts.MaxConns, "max_conns_per_source", s.opts.MaxConnsPerSource)
	}
}

func hostOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

type sourceKey struct{}

// withSource tells Authenticate where a connect call comes from.
func withSource(ctx context.Context, remote net.Addr) context.Context {
	return context.WithValue(ctx, sourceKey{}, hostOf(remote))
}

// Source is the host address a connect call comes from, in the ctx ServerOptions.Authenticate
// gets (to throttle failed logins by source); "" elsewhere.
func Source(ctx context.Context) string {
	s, _ := ctx.Value(sourceKey{}).(string)
	return s
}
