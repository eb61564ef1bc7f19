package main

import (
	"context"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
)

// An agent's first call: CompleteTopologyRequestEvent over MQTT is answered with a complete
// topology that the Python agent can read (§1.8: "initialized": true and the maps present).
func TestUpAnswersCompleteTopologyRequest(t *testing.T) {
	t.Parallel()
	a, args := upArgs(t)
	p := startUp(t, []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}, args...)
	p.waitHTTP(t, "http://"+a.api+"/healthz")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	connected := make(chan struct{}, 1)
	c, err := bus.New(bus.Options{URLs: []string{"tcp://" + a.mqtt}, ClientID: "topology-test", OnState: func(s bus.State) {
		if s == bus.Connected {
			select {
			case connected <- struct{}{}:
			default:
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *model.CompleteTopologyEvent, 1)
	if err := c.SubscribeEvents(ctx, "topology/#", func(_ string, e model.Event) {
		if ev, ok := e.(*model.CompleteTopologyEvent); ok {
			select {
			case got <- ev:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Run(ctx) }()
	select {
	case <-connected:
	case <-ctx.Done():
		t.Fatal("not connected to the embedded broker")
	}
	if err := c.PublishEvent(ctx, model.CompleteTopologyRequestEvent{}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-got:
		if ev.Topology == nil || !ev.Topology.Initialized || ev.Topology.ServiceMap == nil {
			t.Fatalf("CompleteTopologyEvent = %+v, want an initialized topology with a service map", ev.Topology)
		}
	case <-ctx.Done():
		t.Fatal("no CompleteTopologyEvent in answer to the request")
	}
	body, err := model.Marshal(model.CompleteTopologyEvent{Topology: &model.Topology{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("empty complete topology on the wire: %s", body)
}
