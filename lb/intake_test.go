package lb

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// startBrokerAt runs an embedded broker on addr ("127.0.0.1:0" for any port) until stop is
// called or the test ends.
func startBrokerAt(t *testing.T, addr string) (b *bus.Broker, stop func()) {
	t.Helper()
	b, err := bus.NewBroker(bus.BrokerOptions{Listeners: []string{addr}, AllowAnonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return b, stop
}

// TestTakesCompleteTopologyOnlyWhenAsking: the out-of-process load balancer (a *bus.Client) reads
// the complete topology it asked for, then leaves its topic, so the controller's syncs and the
// answers to others do not reach it; after a reconnect, when it may have missed events, it asks
// again and routes by the new answer.
func TestTakesCompleteTopologyOnlyWhenAsking(t *testing.T) {
	broker, stopBroker := startBrokerAt(t, "127.0.0.1:0")
	url := broker.URL()
	lbBus, _ := bus.New(bus.Options{URLs: []string{url}, RetryMin: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	runBg(t, lbBus.Run)
	ccBus, _ := bus.New(bus.Options{URLs: []string{url}, RetryMin: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	runBg(t, ccBus.Run)
	requests := make(chan struct{}, 100)
	if err := ccBus.SubscribeEvents(context.Background(), "initializer/#", func(string, model.Event) { requests <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "controller bus connected", func() bool { return ccBus.State() == bus.Connected })

	b1, b2 := newBackend(t, "m1", nil), newBackend(t, "m2", nil)
	proxy := freePort(t)
	l, err := New(Options{Bus: lbBus, Host: "127.0.0.1", TopologyRequestInterval: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	runBg(t, l.Run)
	const svc, cl = "php", "app.php.php.domain"
	answer := func(m memberSpec) {
		t.Helper()
		select {
		case <-requests:
		case <-time.After(10 * time.Second):
			t.Fatal("no CompleteTopologyRequestEvent")
		}
		if err := ccBus.PublishEvent(context.Background(), model.CompleteTopologyEvent{Topology: topology(proxy,
			clusterWith(svc, cl, []string{"app.example.com"}, proxy, m))}); err != nil {
			t.Fatal(err)
		}
	}
	served := func(name string) bool {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/", proxy), nil)
		req.Host = "app.example.com"
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && string(body) == name
	}
	complete := model.TopicOf(model.CompleteTopologyEvent{})

	answer(memberSpec{"m1", "app-1", b1.port, model.MemberActive})
	testenv.Eventually(t, 10*time.Second, "routes to m1", func() bool { return served("m1") })
	testenv.Eventually(t, 10*time.Second, "the load balancer to leave the complete topology", func() bool { return !broker.Subscribed(complete) })

	// A sync (here: without members) reaches nobody; the member events still arrive.
	if err := ccBus.PublishEvent(context.Background(), model.CompleteTopologyEvent{Topology: topology(proxy, clusterWith(svc, cl, []string{"app.example.com"}, proxy))}); err != nil {
		t.Fatal(err)
	}
	if err := ccBus.PublishEvent(context.Background(), model.MemberSuspendedEvent{ServiceName: svc, ClusterID: cl, MemberID: "m1"}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "m1 to leave the routes", func() bool { return !served("m1") })
	if n := testenv.Gather(t, l.Collector())["strata_lb_complete_topologies_total"]; n != 1 {
		t.Errorf("the load balancer read %v complete topologies, want 1 (the one it asked for)", n)
	}

	// The broker restarts: both clients reconnect, the load balancer asks again.
	stopBroker()
	startBrokerAt(t, strings.TrimPrefix(url, "tcp://"))
	for len(requests) > 0 {
		<-requests
	}
	answer(memberSpec{"m2", "app-1", b2.port, model.MemberActive})
	testenv.Eventually(t, 10*time.Second, "routes to m2 after the reconnect", func() bool { return served("m2") })
}
