package databridge

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"

	"github.com/strata-paas/strata/internal/databridge/gen"
	"github.com/strata-paas/strata/internal/testenv"
)

var (
	testRSACertOnce sync.Once
	testRSACert     tls.Certificate
)

func rsaCertForTest(t testing.TB) tls.Certificate {
	testRSACertOnce.Do(func() {
		var err error
		testRSACert, err = LoadOrCreateRSACertificate(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
	})
	return testRSACert
}

// legacyServer starts a server with the ECDSA and the RSA certificate, as `strata up` configures
// the secure port, logging at DEBUG into the returned buffer.
func legacyServer(t *testing.T, legacy bool) (*testServer, *testenv.Buffer) {
	t.Helper()
	var logs testenv.Buffer
	ts := startServer(t, func(o *ServerOptions) {
		o.TLS = ServerTLS(certForTest(t))
		o.TLS.Certificates = append(o.TLS.Certificates, rsaCertForTest(t))
		o.LegacyTLS = legacy
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	return ts, &logs
}

// stratosAgentClient dials the secure port as the Stratos Python agent's Thrift TSSLSocket does:
// TLS 1.0 only (PROTOCOL_TLSv1), the given suite, no certificate verification, the generated
// Thrift client over a buffered transport.
func stratosAgentClient(t *testing.T, addr string, suite uint16) (*gen.ThriftSecureEventTransmissionServiceClient, tls.ConnectionState, error) {
	t.Helper()
	var state tls.ConnectionState
	cfg := &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10, CipherSuites: []uint16{suite},
		InsecureSkipVerify: true, VerifyConnection: func(cs tls.ConnectionState) error { state = cs; return nil }}
	conf := &thrift.TConfiguration{TLSConfig: cfg, ConnectTimeout: 5 * time.Second, SocketTimeout: 10 * time.Second}
	sock := thrift.NewTSSLSocketConf(addr, conf)
	trans := thrift.NewTBufferedTransport(sock, 4096)
	if err := trans.Open(); err != nil {
		return nil, state, err
	}
	t.Cleanup(func() { trans.Close() })
	return gen.NewThriftSecureEventTransmissionServiceClientFactory(trans, thrift.NewTBinaryProtocolFactoryConf(conf)), state, nil
}

// TestLegacyTLSAcceptsStratosAgent: with LegacyTLS a client built like the Stratos Python agent
// (TLS 1.0, AES256-SHA or ECDHE-RSA-AES256-SHA) connects, and its health events reach the handler;
// a start-up WARN names the legacy protocols, and a TLS 1.3 client still connects.
func TestLegacyTLSAcceptsStratosAgent(t *testing.T) {
	ts, logs := legacyServer(t, true)
	ctx := context.Background()
	for i, suite := range []uint16{tls.TLS_RSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA} {
		cl, st, err := stratosAgentClient(t, ts.SecureAddr().String(), suite)
		if err != nil {
			t.Fatalf("%s: handshake: %v", tls.CipherSuiteName(suite), err)
		}
		if st.Version != tls.VersionTLS10 || st.CipherSuite != suite {
			t.Errorf("negotiated %s %s, want TLS 1.0 %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), tls.CipherSuiteName(suite))
		}
		sid, err := cl.Connect(ctx, "admin", "admin")
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.Publish(ctx, healthBundle(sid, sample)); err != nil {
			t.Fatalf("%s: publish: %v", tls.CipherSuiteName(suite), err)
		}
		evs := ts.rec.wait(t, i+1)
		if s, ok := evs[i].HealthSample(); !ok || s != sample {
			t.Errorf("%s: handler got %+v", tls.CipherSuiteName(suite), evs[i])
		}
	}
	modern, _ := genClient(t, ts.SecureAddr().String(), clientTLS(t))
	if _, err := modern.Connect(ctx, "admin", "admin"); err != nil {
		t.Errorf("TLS 1.3 client with legacy TLS on: %v", err)
	}
	testenv.Eventually(t, 5*time.Second, "start-up warning", func() bool {
		return strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "TLS 1.0 and TLS 1.1")
	})
}

// TestLegacyTLSRefusedAndWarned: without LegacyTLS the Stratos agent's TLS 1.0 handshake is
// refused, and logged at WARN once for its host with the protocol offered and the option that
// accepts it.
func TestLegacyTLSRefusedAndWarned(t *testing.T) {
	ts, logs := legacyServer(t, false)
	for range 3 {
		if _, _, err := stratosAgentClient(t, ts.SecureAddr().String(), tls.TLS_RSA_WITH_AES_256_CBC_SHA); err == nil {
			t.Fatal("TLS 1.0 handshake accepted without LegacyTLS")
		}
	}
	testenv.Eventually(t, 5*time.Second, "three connections closed", func() bool {
		st := ts.Stats()
		return st.Connections == 3 && st.OpenConnections == 0
	})
	var warns []string
	for l := range strings.Lines(logs.String()) {
		if strings.Contains(l, "level=WARN") {
			warns = append(warns, l)
		}
	}
	if len(warns) != 1 {
		t.Fatalf("%d WARN lines for three refused handshakes from one host, want 1:\n%s", len(warns), logs.String())
	}
	for _, want := range []string{`offered="TLS 1.0"`, "--thrift-legacy-tls", "remote=127.0.0.1 "} {
		if !strings.Contains(warns[0], want) {
			t.Errorf("warning %q lacks %q", warns[0], want)
		}
	}
}

// TestLegacyTLSWarnedHostsBounded: the set of warned hosts does not grow past maxLegacyWarned.
func TestLegacyTLSWarnedHostsBounded(t *testing.T) {
	ts, _ := legacyServer(t, false)
	for i := range 3 * maxLegacyWarned {
		ts.handshakeFailed(fakeAddr(i), []uint16{tls.VersionTLS10}, nil)
	}
	ts.legacyMu.Lock()
	n := len(ts.legacyWarned)
	ts.legacyMu.Unlock()
	if n == 0 || n > maxLegacyWarned {
		t.Errorf("%d warned hosts remembered, want 1..%d", n, maxLegacyWarned)
	}
}

type fakeAddr int

func (fakeAddr) Network() string  { return "tcp" }
func (a fakeAddr) String() string { return fmt.Sprintf("10.0.%d.%d:7711", int(a)/256, int(a)%256) }

// TestLegacyTLSNeedsRSA: the legacy suites authenticate with RSA, so an ECDSA-only configuration
// is refused at NewServer rather than at every agent's handshake.
func TestLegacyTLSNeedsRSA(t *testing.T) {
	_, err := NewServer(ServerOptions{SecureAddr: "127.0.0.1:0", TLS: ServerTLS(certForTest(t)), LegacyTLS: true,
		Authenticate: StaticCredentials("a", "b"), Handler: newRecorder()})
	if err == nil || !strings.Contains(err.Error(), "RSA certificate") {
		t.Fatalf("NewServer with LegacyTLS and an ECDSA certificate: %v", err)
	}
}
