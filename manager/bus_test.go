package manager

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
)

// TestArtifactsOverEmbeddedBroker runs the manager against the embedded MQTT broker: an agent's
// InstanceStartedEvent leads to an ArtifactUpdatedEvent on instance/notifier/.
func TestArtifactsOverEmbeddedBroker(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	client := embeddedBroker(ctx, t, &wg)
	managerBus, agent := client("manager"), client("agent")
	got := make(chan model.ArtifactUpdatedEvent, 4)
	if err := agent.SubscribeEvents(ctx, model.SubscribeInstanceNotifier, func(_ string, e model.Event) {
		switch x := e.(type) {
		case model.ArtifactUpdatedEvent:
			got <- x
		case *model.ArtifactUpdatedEvent:
			got <- *x
		}
	}); err != nil {
		t.Fatal(err)
	}

	e := runOnBus(ctx, t, &wg, managerBus)
	setupTenants(t, e)
	sub := `{"cartridgeType":"php","alias":"blog","autoscalingPolicy":"autoscaling-policy-1","deploymentPolicy":"deployment-policy-1",
		"repoUrl":"https://git.example.com/blog.git","repoUsername":"git","repoPassword":"` + repoSecret + `"}`
	expect(t, "subscribe", e.admin("POST", "/api/subscriptions", []byte(sub)), http.StatusCreated, "")
	cluster := model.ClusterID("blog", "blog", "php")
	// The subscription is made before Run may have subscribed; publish until the manager answers.
	deadline := time.After(20 * time.Second)
	for {
		if err := agent.PublishEvent(ctx, model.InstanceStartedEvent{ServiceName: "php", ClusterID: cluster, MemberID: cluster + "m1"}); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-got:
			if ev.ClusterID != cluster || ev.RepoURL != "https://git.example.com/blog.git" || ev.TenantID != "-1234" {
				t.Fatalf("artifact event %+v", ev)
			}
			var rec applicationRecord
			if err := e.srv.store.get(bucketApplications, "blog", &rec); err != nil {
				t.Fatal(err)
			}
			if pw, err := model.DecryptPassword(rec.Key, ev.RepoPassword); err != nil || pw != repoSecret {
				t.Fatalf("password: %v", err)
			}
			return
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("no ArtifactUpdatedEvent")
		}
	}
}

// embeddedBroker starts the embedded MQTT broker until ctx ends and returns a function that
// connects a client to it.
func embeddedBroker(ctx context.Context, t *testing.T, wg *sync.WaitGroup) func(id string) *bus.Client {
	t.Helper()
	broker, err := bus.NewBroker(bus.BrokerOptions{Listeners: []string{"127.0.0.1:0"}, AllowAnonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); _ = broker.Run(ctx) }()
	return func(id string) *bus.Client {
		connected := make(chan struct{})
		var once sync.Once
		c, err := bus.New(bus.Options{URLs: []string{broker.URL()}, ClientID: id, OnState: func(s bus.State) {
			if s == bus.Connected {
				once.Do(func() { close(connected) })
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.Run(ctx) }()
		select {
		case <-connected:
		case <-time.After(20 * time.Second):
			t.Fatal("not connected")
		}
		return c
	}
}

// TestInitializerRequestsAnsweredAtOnce publishes CompleteTenantRequestEvent and
// CompleteApplicationSignUpsRequestEvent on the embedded broker, as a Stratos agent does when it
// starts, and expects the complete events within a second, not at the next minute's resync.
func TestInitializerRequestsAnsweredAtOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	client := embeddedBroker(ctx, t, &wg)
	managerBus, agent := client("manager"), client("agent")
	tenants := make(chan model.CompleteTenantEvent, 8)
	signUps := make(chan model.CompleteApplicationSignUpsEvent, 8)
	handler := func(_ string, e model.Event) {
		switch x := e.(type) {
		case model.CompleteTenantEvent:
			tenants <- x
		case *model.CompleteTenantEvent:
			tenants <- *x
		case model.CompleteApplicationSignUpsEvent:
			signUps <- x
		case *model.CompleteApplicationSignUpsEvent:
			signUps <- *x
		}
	}
	for _, f := range []string{model.SubscribeTenant, model.SubscribeApplicationSignUp} {
		if err := agent.SubscribeEvents(ctx, f, handler); err != nil {
			t.Fatal(err)
		}
	}

	e := runOnBus(ctx, t, &wg, managerBus)
	// The events published at start follow Run's subscription to initializer/#.
	recv(t, tenants, 20*time.Second)
	recv(t, signUps, 20*time.Second)
	setupTenants(t, e) // a.com and b.com, which the answer must list

	if err := agent.PublishEvent(ctx, model.CompleteTenantRequestEvent{}); err != nil {
		t.Fatal(err)
	}
	if ev := recv(t, tenants, time.Second); len(ev.Tenants) != 3 {
		t.Errorf("CompleteTenantEvent lists %d tenants, want the super tenant, a.com and b.com: %+v", len(ev.Tenants), ev.Tenants)
	}
	if err := agent.PublishEvent(ctx, model.CompleteApplicationSignUpsRequestEvent{}); err != nil {
		t.Fatal(err)
	}
	recv(t, signUps, time.Second)
	// Each request is answered with its own event only.
	select {
	case ev := <-tenants:
		t.Errorf("CompleteApplicationSignUpsRequestEvent also sent %+v", ev)
	default:
	}
}

// recv returns the next value of ch; the test fails if none comes within timeout.
func recv[T any](t *testing.T, ch <-chan T, timeout time.Duration) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		t.Fatalf("no %T within %s", *new(T), timeout)
		panic("unreachable")
	}
}

// runOnBus is a test environment whose Server runs with the bus client b until ctx ends (wg
// waits for it).
func runOnBus(ctx context.Context, t *testing.T, wg *sync.WaitGroup, b *bus.Client) *testEnv {
	t.Helper()
	e := newEnv(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	s, err := New(Options{Listener: ln, Users: e.srv.opts.Users, Logger: slog.New(slog.DiscardHandler), Policies: e.srv.opts.Policies,
		Cartridges: e.plat, Partitions: e.plat, Clusters: e.plat, Scaler: e.plat, Bus: b})
	if err != nil {
		t.Fatal(err)
	}
	e.srv, e.h = s, s.Handler()
	wg.Add(1)
	go func() { defer wg.Done(); _ = s.Run(ctx) }()
	return e
}
