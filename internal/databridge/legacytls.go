package databridge

import (
	"crypto"
	"crypto/rsa"
	"crypto/tls"
	"net"
	"slices"
	"strings"
)

// legacySuites are the TLS 1.0 and 1.1 suites with RSA key exchange that LegacyTLS adds to the
// ECDHE ones: the Stratos Python agent's Thrift TSSLSocket negotiates AES256-SHA.
var legacySuites = []uint16{tls.TLS_RSA_WITH_AES_256_CBC_SHA, tls.TLS_RSA_WITH_AES_128_CBC_SHA}

// maxLegacyWarned bounds the source hosts remembered for the refused-legacy-handshake warning;
// past it the set starts over, so a host may be warned about again.
const maxLegacyWarned = 1024

// secureConfig returns a copy of c for the secure port. It records the versions each client
// offers (see helloConn) and, when legacy is set, accepts TLS 1.0 and 1.1 with the CBC-SHA suites.
//
// The suites are listed explicitly, so the GODEBUG settings tlsrsakex and tls10server, which only
// change Go's defaults, play no part.
func secureConfig(c *tls.Config, legacy bool) *tls.Config {
	c = c.Clone()
	if legacy {
		c.MinVersion = tls.VersionTLS10
		if c.CipherSuites == nil {
			for _, cs := range tls.CipherSuites() {
				if strings.HasPrefix(cs.Name, "TLS_ECDHE_") { // TLS 1.3 suites are not configurable
					c.CipherSuites = append(c.CipherSuites, cs.ID)
				}
			}
			c.CipherSuites = append(c.CipherSuites, legacySuites...)
		}
	}
	next := c.GetConfigForClient
	c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if hc, ok := hello.Conn.(*helloConn); ok {
			hc.versions = slices.Clone(hello.SupportedVersions)
		}
		if next != nil {
			return next(hello)
		}
		return nil, nil
	}
	return c
}

// hasRSA reports whether one of certs has an RSA key.
func hasRSA(certs []tls.Certificate) bool {
	for _, c := range certs {
		if k, ok := c.PrivateKey.(crypto.Signer); ok {
			if _, ok := k.Public().(*rsa.PublicKey); ok {
				return true
			}
		}
	}
	return false
}

// helloConn is a secure connection before its handshake: versions are those its ClientHello
// offered, recorded by the config's GetConfigForClient in the handshaking goroutine.
type helloConn struct {
	net.Conn
	versions []uint16
}

// handshakeFailed logs a failed handshake: at WARN, once per source host, when the client offered
// only TLS versions older than 1.2 and LegacyTLS is off (the Stratos Python agent speaks TLS 1.0);
// at DEBUG otherwise.
func (s *Server) handshakeFailed(remote net.Addr, offered []uint16, err error) {
	if s.opts.LegacyTLS || len(offered) == 0 || slices.Max(offered) >= tls.VersionTLS12 {
		s.log.Debug("tls handshake failed", "remote", remote.String(), "err", err)
		return
	}
	host := remote.String()
	if h, _, splitErr := net.SplitHostPort(host); splitErr == nil {
		host = h
	}
	s.legacyMu.Lock()
	_, seen := s.legacyWarned[host]
	if !seen {
		if len(s.legacyWarned) >= maxLegacyWarned {
			clear(s.legacyWarned)
		}
		s.legacyWarned[host] = struct{}{}
	}
	s.legacyMu.Unlock()
	if seen {
		s.log.Debug("tls handshake failed", "remote", remote.String(), "err", err)
		return
	}
	names := make([]string, len(offered))
	for i, v := range offered {
		names[i] = tls.VersionName(v)
	}
	s.log.Warn("refused a legacy TLS client on the secure service; legacy TLS (strata --thrift-legacy-tls, databridge.ServerOptions.LegacyTLS) accepts it, as the Stratos Python agent needs",
		"remote", host, "offered", strings.Join(names, ", "), "err", err)
}
