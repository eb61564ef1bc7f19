package main

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// stratosAgentTLS is the TLS of the Stratos Python agent's Thrift TSSLSocket: TLS 1.0 only, the
// AES256-SHA suite, and no certificate verification.
func stratosAgentTLS() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10,
		CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_256_CBC_SHA}, InsecureSkipVerify: true}
}

// With --thrift-legacy-tls, `strata up` accepts a publisher with the Stratos Python agent's TLS
// on the secure data-bridge port and its health reaches the CEP (a summary comes out on the bus);
// a WARN at start names the legacy protocols.
func TestUpThriftLegacyTLSAcceptsStratosAgent(t *testing.T) {
	t.Parallel()
	a, args := upArgs(t)
	args = append(args, "--cep-window", "2s", "--thrift-legacy-tls")
	p := startUp(t, []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}, args...)
	p.waitHTTP(t, "http://"+a.api+"/healthz")
	if out := p.out.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "TLS 1.0 and TLS 1.1") {
		t.Errorf("no start-up WARN naming the legacy protocols:\n%s", out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	raw := watchSummaries(ctx, t, a.mqtt, "legacy-tls-test")

	agent, err := databridge.NewClient(databridge.ClientOptions{URLs: []string{"ssl://" + a.thriftTLS},
		TLS: stratosAgentTLS(), Username: "admin", Password: "s3cret-pass"})
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	sample := model.HealthSample{ClusterID: "legacy.php.domain", ClusterInstanceID: "app-1", NetworkPartitionID: "np1",
		MemberID: "m1", PartitionID: "p1", Metric: model.MetricLoadAverage}
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		sample.Value, sample.Timestamp = 7, time.Now().UnixMilli()
		if err := agent.Publish(ctx, databridge.HealthEvent(sample)); err != nil {
			t.Fatalf("publish over TLS 1.0 with --thrift-legacy-tls: %v", err)
		}
		select {
		case body := <-raw:
			if strings.Contains(body, "AverageLoadAverageEvent") && strings.Contains(body, `"clusterId":"legacy.php.domain"`) {
				return
			}
		case <-time.After(500 * time.Millisecond):
		}
	}
	t.Fatal("no AverageLoadAverageEvent for the TLS 1.0 publisher's cluster within 45 s")
}

// Without --thrift-legacy-tls the Stratos agent's TLS 1.0 handshake is refused, and `strata up`
// logs it at WARN, naming the protocol offered and the flag that accepts it.
func TestUpThriftLegacyTLSRefusedByDefault(t *testing.T) {
	t.Parallel()
	a, args := upArgs(t)
	p := startUp(t, []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}, args...)
	p.waitHTTP(t, "http://"+a.api+"/healthz")
	agent, err := databridge.NewClient(databridge.ClientOptions{URLs: []string{"ssl://" + a.thriftTLS},
		TLS: stratosAgentTLS(), Username: "admin", Password: "s3cret-pass", DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := agent.Define(ctx, databridge.HealthStream()); err == nil {
		t.Fatal("a TLS 1.0 publisher was accepted without --thrift-legacy-tls")
	}
	testenv.Eventually(t, 10*time.Second, "WARN naming TLS 1.0 and --thrift-legacy-tls", func() bool {
		for l := range strings.Lines(p.out.String()) {
			if strings.Contains(l, "level=WARN") && strings.Contains(l, `offered="TLS 1.0"`) && strings.Contains(l, "--thrift-legacy-tls") {
				return true
			}
		}
		return false
	})
}
