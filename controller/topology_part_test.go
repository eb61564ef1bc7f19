package controller

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/strata-paas/strata/internal/clock"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// topicBus records the encoded messages the controller publishes, by topic, urgent or not.
type topicBus struct {
	countingBus
	mu  sync.Mutex
	got map[string][][]byte
}

func (b *topicBus) Publish(_ context.Context, topic string, payload []byte, _ byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.got == nil {
		b.got = map[string][][]byte{}
	}
	b.got[topic] = append(b.got[topic], payload)
	return nil
}

func (b *topicBus) PublishUrgent(ctx context.Context, topic string, payload []byte, qos byte) error {
	return b.Publish(ctx, topic, payload, qos)
}

func (b *topicBus) messages(topic string) [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.got[topic]
}

// addCluster adds a cluster of n Active members of service php to c.
func addCluster(c *Controller, id string, n int) {
	cl := &model.Cluster{ServiceName: "php", ClusterID: id, MemberMap: map[string]*model.Member{},
		InstanceIDToInstanceContextMap: map[string]*model.ClusterInstance{}}
	for i := range n {
		m := &model.Member{ServiceName: "php", ClusterID: id, MemberID: fmt.Sprintf("%s-m-%06d", id, i), DefaultPrivateIP: "10.0.0.2"}
		m.PushStatus(model.MemberActive)
		cl.MemberMap[m.MemberID] = m
		c.members[m.MemberID] = &member{m: m}
	}
	c.clusters[id] = &cluster{Spec: ClusterSpec{ClusterID: id, ServiceName: "php"}, Cluster: cl}
}

// TestClusterTopologyPart: a ClusterTopologyRequestEvent is answered on the cluster's own topic
// with a CompleteTopologyEvent that holds that cluster as the complete topology has it, and no
// other; a cluster the controller does not have gets a topology without services. Requests
// within the throttle are answered once when it ends.
func TestClusterTopologyPart(t *testing.T) {
	b := &topicBus{}
	clk := clock.NewManual(time.Unix(1_700_000_000, 0))
	c, err := New(Options{Bus: b, DataDir: t.TempDir(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.cartridges["php"] = &model.Cartridge{Type: "php"}
	addCluster(c, "big", 1000)
	addCluster(c, "small", 3)

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { c.publisher(ctx) })
	wg.Go(func() { c.answerParts(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	ask := func(id string) { c.requestClusterTopology("", &model.ClusterTopologyRequestEvent{ClusterID: id}) }
	decode := func(body []byte) *model.Topology {
		t.Helper()
		e, err := model.Unmarshal(model.TopicOf(&model.CompleteTopologyEvent{}), body)
		if err != nil {
			t.Fatal(err)
		}
		return e.(*model.CompleteTopologyEvent).Topology
	}

	ask("small")
	topic := model.ClusterTopologyTopic("small")
	testenv.Eventually(t, 10*time.Second, "the part of cluster small", func() bool { return len(b.messages(topic)) == 1 })
	part := decode(b.messages(topic)[0])
	whole := c.Topology()
	want := &model.Topology{ServiceMap: map[string]*model.Service{"php": whole.ServiceMap["php"]}, ClusterMap: whole.ClusterMap, Initialized: true}
	delete(want.ServiceMap["php"].ClusterIDClusterMap, "big")
	if diff := cmp.Diff(want, part, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("the part of cluster small differs from the complete topology's (-want +got):\n%s", diff)
	}
	if n := len(b.messages(model.TopicOf(&model.CompleteTopologyEvent{}))); n != 0 {
		t.Errorf("%d complete topologies published, want none", n)
	}

	ask("nosuch")
	testenv.Eventually(t, 10*time.Second, "the part of an unknown cluster", func() bool {
		return len(b.messages(model.ClusterTopologyTopic("nosuch"))) == 1
	})
	if got := decode(b.messages(model.ClusterTopologyTopic("nosuch"))[0]); len(got.ServiceMap) != 0 {
		t.Errorf("the part of an unknown cluster has services %v, want none", got.ServiceMap)
	}

	// Within the throttle two more requests wait; they are answered by one part when it ends.
	ask("small")
	ask("small")
	clk.Advance(c.opts.TopologyThrottle)
	testenv.Eventually(t, 10*time.Second, "the throttled answer", func() bool { return len(b.messages(topic)) == 2 })
	if n := c.parts.answered.Load(); n != 3 {
		t.Errorf("%d parts answered, want 3", n)
	}
}
