package app

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// TestSlowSubscriberDoesNotStallTheController: a subscriber of the platform's bus client that
// blocks does not keep the controller from answering a CompleteTopologyRequestEvent (issue 17:
// every in-process component shared one ordered handler chain, and a request waited 43.6 s
// behind the load balancer's work).
func TestSlowSubscriberDoesNotStallTheController(t *testing.T) {
	t.Parallel()
	s := start(t, testOptions(t))
	ctx := t.Context()
	release, blocked := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(release) }) // before the platform stops
	const slowTopic = "strata-test/slow"
	if err := s.app.Bus().Subscribe(ctx, slowTopic, func(string, []byte) {
		close(blocked)
		<-release
	}); err != nil {
		t.Fatal(err)
	}

	observer, _ := connectWatcher(t, s, "stall-observer")
	// Only a topology with the php service, added once the subscriber is blocked, is an answer:
	// one published at start may still be on its way.
	answers := make(chan struct{}, 16)
	if err := observer.SubscribeEvents(ctx, model.TopicOf(&model.CompleteTopologyEvent{}), func(_ string, e model.Event) {
		if ev, ok := e.(*model.CompleteTopologyEvent); !ok || ev.Topology == nil || ev.Topology.ServiceMap["php"] == nil {
			return
		}
		select {
		case answers <- struct{}{}:
		default:
		}
	}); err != nil {
		t.Fatal(err)
	}

	if err := s.app.Bus().Publish(ctx, slowTopic, []byte("x"), 1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow subscriber got no message")
	}
	b, err := os.ReadFile(filepath.Join("testdata", "stratos-samples", "cartridges__mock__php.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cartridge model.Cartridge
	if err := json.Unmarshal(b, &cartridge); err != nil {
		t.Fatal(err)
	}
	if err := s.app.Controller().AddCartridge(ctx, cartridge); err != nil {
		t.Fatal(err)
	}
	if err := observer.PublishEvent(ctx, &model.CompleteTopologyRequestEvent{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-answers:
	case <-time.After(20 * time.Second):
		t.Fatal("no CompleteTopologyEvent within 20s of a request while another subscriber of the platform's client was blocked")
	}
	// The blocked consumer's depth is on /metrics.
	_, metrics := call(t, &http.Client{Timeout: 10 * time.Second}, http.MethodGet, "http://"+s.app.Addrs().API.String()+"/metrics", "")
	if want := `strata_bus_consumer_queue_depth{consumer="default"} 1`; !strings.Contains(metrics, want) {
		t.Errorf("/metrics has no %s", want)
	}
}
