package lb

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

type cepServer struct {
	mu     sync.Mutex
	events []model.HealthSample
}

func (c *cepServer) HandleEvents(evs []databridge.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range evs {
		if s, ok := evs[i].HealthSample(); ok {
			c.events = append(c.events, s)
		}
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cep"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func runBg(t *testing.T, run func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestFollowsTopologyOverBus runs the load balancer against a real broker and a real data-bridge
// receiver over TLS: it asks for the topology, routes once it comes, drops a terminated member,
// and publishes in_flight_requests.
func TestFollowsTopologyOverBus(t *testing.T) {
	broker, err := bus.NewBroker(bus.BrokerOptions{Listeners: []string{"127.0.0.1:0"}, AllowAnonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	runBg(t, broker.Run)
	sink := &cepServer{}
	srv, err := databridge.NewServer(databridge.ServerOptions{
		SecureAddr: "127.0.0.1:0", TLS: &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}},
		Authenticate: func(context.Context, string, string) error { return nil },
		Handler:      sink, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	runBg(t, srv.Run)
	cep, err := databridge.NewClient(databridge.ClientOptions{URLs: []string{srv.SecureAddr().String()},
		TLS: &tls.Config{InsecureSkipVerify: true}, Username: "admin", Password: "admin", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer cep.Close()

	lbBus, _ := bus.New(bus.Options{URLs: []string{broker.URL()}, RetryMin: 20 * time.Millisecond})
	runBg(t, lbBus.Run)
	ccBus, _ := bus.New(bus.Options{URLs: []string{broker.URL()}, RetryMin: 20 * time.Millisecond})
	runBg(t, ccBus.Run)
	requests := make(chan struct{}, 100)
	if err := ccBus.SubscribeEvents(context.Background(), "initializer/#", func(string, model.Event) { requests <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "controller bus connected", func() bool { return ccBus.State() == bus.Connected })

	backend := newBackend(t, "m1", nil)
	proxy := freePort(t)
	l, err := New(Options{Bus: lbBus, CEP: cep, Host: "127.0.0.1", StatsInterval: 100 * time.Millisecond,
		TopologyRequestInterval: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	runBg(t, l.Run)

	select {
	case <-requests:
	case <-time.After(10 * time.Second):
		t.Fatal("no CompleteTopologyRequestEvent")
	}
	const svc, cl = "php", "app.php.php.domain"
	ccBus.PublishEvent(context.Background(), model.CompleteTopologyEvent{Topology: topology(proxy,
		clusterWith(svc, cl, []string{"app.example.com"}, proxy, memberSpec{"m1", "app-1", backend.port, model.MemberActive}))})

	status := func() int {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/", proxy), nil)
		req.Host = "app.example.com"
		resp, err := client.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitStatus := func(want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for status() != want {
			if time.Now().After(deadline) {
				t.Fatalf("status never %d", want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitStatus(200)

	deadline := time.Now().Add(10 * time.Second)
	for {
		sink.mu.Lock()
		var found bool
		for _, s := range sink.events {
			if s.ClusterID == cl && s.Metric == model.MetricRequestsInFlight && s.ClusterInstanceID == "app-1" && s.NetworkPartitionID == "np1" {
				found = true
			}
		}
		sink.mu.Unlock()
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no in_flight_requests event at the CEP")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ccBus.PublishEvent(context.Background(), model.MemberTerminatedEvent{ServiceName: svc, ClusterID: cl, MemberID: "m1"})
	waitStatus(http.StatusServiceUnavailable)
}
