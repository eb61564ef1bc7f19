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
	broker, err := bus.NewBroker(bus.BrokerOptions{Listeners: []string{"127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); _ = broker.Run(ctx) }()
	client := func(id string) *bus.Client {
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
		t.Cleanup(func() {})
		select {
		case <-connected:
		case <-time.After(20 * time.Second):
			t.Fatal("not connected")
		}
		return c
	}
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

	e := newEnv(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	s, err := New(Options{Listener: ln, Users: e.srv.opts.Users, Logger: slog.New(slog.DiscardHandler), Policies: e.srv.opts.Policies,
		Cartridges: e.plat, Partitions: e.plat, Clusters: e.plat, Scaler: e.plat, Bus: managerBus})
	if err != nil {
		t.Fatal(err)
	}
	e.srv, e.h = s, s.Handler()
	wg.Add(1)
	go func() { defer wg.Done(); _ = s.Run(ctx) }()
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
			if err := s.store.get(bucketApplications, "blog", &rec); err != nil {
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
