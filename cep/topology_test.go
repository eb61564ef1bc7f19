package cep

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
)

// roundTrip encodes an event and decodes it from its topic, as it reaches the engine over the bus.
func roundTrip(t *testing.T, ev model.Event) (string, model.Event) {
	t.Helper()
	body, err := model.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	topic := bus.EventTopic(ev)
	got, err := model.Unmarshal(topic, body)
	if err != nil {
		t.Fatalf("unmarshal %s: %v", topic, err)
	}
	return topic, got
}

func TestHandleTopology(t *testing.T) {
	e := newTestEngine(t, Options{})
	member := func(id string, st model.MemberStatus) *model.Member {
		m := &model.Member{ServiceName: "php", ClusterID: "app.php.domain", MemberID: id, ClusterInstanceID: "ci1",
			NetworkPartitionID: "np1", PartitionID: "p1"}
		m.PushStatus(model.MemberCreated)
		if st != model.MemberCreated {
			m.PushStatus(st)
		}
		return m
	}
	topo := &model.Topology{ServiceMap: map[string]*model.Service{"php": {ServiceName: "php",
		ClusterIDClusterMap: map[string]*model.Cluster{"app.php.domain": {ServiceName: "php", ClusterID: "app.php.domain",
			MemberMap: map[string]*model.Member{
				"m1": member("m1", model.MemberActive),
				"m2": member("m2", model.MemberStarting),
			}}}}}}
	e.HandleTopology(roundTrip(t, model.CompleteTopologyEvent{Topology: topo}))
	if st := e.Stats(); st.WatchedMembers != 1 || st.Members != 1 {
		t.Fatalf("after complete topology: watched %d members %d, want 1 and 1", st.WatchedMembers, st.Members)
	}
	e.HandleTopology(roundTrip(t, model.MemberActivatedEvent{ServiceName: "php", ClusterID: "app.php.domain",
		ClusterInstanceID: "ci1", MemberID: "m2", NetworkPartitionID: "np1", PartitionID: "p1"}))
	if st := e.Stats(); st.WatchedMembers != 2 {
		t.Fatalf("after MemberActivated: watched %d, want 2", st.WatchedMembers)
	}
	// The watched member's fault carries the topology's ids.
	faults, _ := scanUntil(e, t0.UnixMilli()+DefaultStartupGrace.Milliseconds(), t0.UnixMilli()+10*60000, 1000)
	if len(faults) != 2 || faults[0].PartitionID != "p1" || faults[0].ClusterInstanceID != "ci1" {
		t.Fatalf("faults = %+v, want 2 with the topology's ids", faults)
	}
	e.HandleTopology(roundTrip(t, model.MemberTerminatedEvent{ServiceName: "php", ClusterID: "app.php.domain", MemberID: "m1"}))
	if st := e.Stats(); st.WatchedMembers != 1 {
		t.Fatalf("after MemberTerminated: watched %d, want 1", st.WatchedMembers)
	}
	e.HandleTopology(roundTrip(t, model.ClusterRemovedEvent{ServiceName: "php", ClusterID: "app.php.domain"}))
	if st := e.Stats(); st.Members != 0 {
		t.Fatalf("after ClusterRemoved: members %d, want 0", st.Members)
	}
	e.MemberActivated(Member{ClusterID: "a.b.domain", MemberID: "x"})
	e.HandleTopology(roundTrip(t, model.ApplicationClustersRemovedEvent{AppID: "a",
		ClusterData: []model.ClusterDataHolder{{ClusterID: "a.b.domain"}}}))
	if st := e.Stats(); st.Members != 0 {
		t.Fatalf("after ApplicationClustersRemoved: members %d, want 0", st.Members)
	}
}

// javaSplit decodes a health-stat message the way the Java receiver does (§1.4): split on ':' into
// at most 3 pieces, the class from the first, "message" in the second, the third minus its last
// two '}' as the inner JSON.
func javaSplit(t *testing.T, text string) (class string, inner map[string]string) {
	t.Helper()
	ss := strings.SplitN(text, ":", 3)
	if len(ss) != 3 {
		t.Fatalf("%q: %d pieces", text, len(ss))
	}
	if ss[1] != `{"message"` {
		t.Fatalf("%q: second piece %q is not {\"message\"", text, ss[1])
	}
	if !strings.HasPrefix(ss[0], `{"`) || !strings.HasSuffix(ss[0], `"`) {
		t.Fatalf("%q: first piece %q", text, ss[0])
	}
	class = ss[0][2 : len(ss[0])-1]
	if !strings.HasSuffix(ss[2], "}}") {
		t.Fatalf("%q: third piece does not end with }}", text)
	}
	if err := json.Unmarshal([]byte(ss[2][:len(ss[2])-2]), &inner); err != nil {
		t.Fatalf("%q: inner JSON (values must be strings): %v", text, err)
	}
	return class, inner
}

// TestEnvelope: every summary the engine emits reaches the bus in the §1.4 envelope, on
// summarized-health-stats, with the §3.4 keys, readable by the Java receiver's ':' split.
func TestEnvelope(t *testing.T) {
	type msg struct {
		topic string
		body  []byte
	}
	var sent []msg
	pub := BusPublisher(fakeBus(func(_ context.Context, ev model.Event) error {
		b, err := model.Marshal(ev)
		if err != nil {
			return err
		}
		sent = append(sent, msg{bus.EventTopic(ev), b})
		return nil
	}))
	e := newTestEngine(t, Options{})
	e.MemberActivated(m1)
	for i := range 4 {
		e.Ingest(health("app.php.domain1c2d:with-colon", "ci1", "np1", model.MetricLoadAverage, float64(10*i), int64(i)*15000))
		e.Ingest(health("m1", "ci1", "np1", model.MetricMemoryConsumption, 33.5, int64(i)*15000))
		e.Ingest(rif("ci1", "np1", float64(i), int64(i)*15000))
	}
	e.Ingest(health("m1", "ci1", "np1", model.MetricPortsNotOpen, 0, 1))
	out := tick(e, t0.UnixMilli()+60000)
	out = appendSummaries(out, e.faults)
	for _, s := range out {
		if err := pub.Publish(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string][]string{
		"Average":          {"clusterId", "clusterInstanceId", "networkPartitionId", "timestamp", "value"},
		"Gradient":         {"clusterId", "clusterInstanceId", "networkPartitionId", "value"},
		"MemberAverage":    {"clusterId", "clusterInstanceId", "memberId", "networkPartitionId", "timestamp", "value"},
		"MemberGradient":   {"clusterId", "clusterInstanceId", "memberId", "networkPartitionId", "value"},
		"MemberSecond":     {"clusterId", "clusterInstanceId", "memberId", "networkPartitionId", "value"},
		"SecondDerivative": {"clusterId", "clusterInstanceId", "networkPartitionId", "value"},
	}
	kinds := map[model.SummaryKind]bool{}
	for i, m := range sent {
		s := out[i]
		kinds[s.Kind] = true
		if m.topic != model.SummaryTopic {
			t.Errorf("%v on topic %q, want %q", s.Kind, m.topic, model.SummaryTopic)
		}
		class, inner := javaSplit(t, string(m.body))
		if class != model.ClassPrefix+s.Kind.Class() {
			t.Errorf("class %q, want %q", class, model.ClassPrefix+s.Kind.Class())
		}
		if s.Kind == model.MemberFault {
			for _, k := range []string{"clusterId", "clusterInstanceId", "networkPartitionId", "memberId", "partitionId"} {
				if inner[k] == "" {
					t.Errorf("fault without %s: %s", k, m.body)
				}
			}
			continue
		}
		var keys []string
		best := ""
		for prefix, k := range want {
			if strings.HasPrefix(s.Kind.String(), prefix) && len(prefix) > len(best) {
				best, keys = prefix, k
			}
		}
		if got := slices.Sorted(maps.Keys(inner)); !slices.Equal(got, keys) {
			t.Errorf("%v keys %v, want %v", s.Kind, got, keys)
		}
		if v, err := strconv.ParseFloat(inner["value"], 64); err != nil || !near(v, s.Value) {
			t.Errorf("%v value %q, want %v", s.Kind, inner["value"], s.Value)
		}
		if s.MemberID != "" && inner["memberId"] != s.MemberID {
			t.Errorf("%v memberId %q, want %q", s.Kind, inner["memberId"], s.MemberID)
		}
	}
	// Every kind a Stratos CEP produces came out (AverageRequestsServingCapability has no plan).
	for k := model.AverageLoadAverage; k <= model.MemberFault; k++ {
		if !kinds[k] {
			t.Errorf("no %v emitted", k)
		}
	}
}

type fakeBus func(ctx context.Context, e model.Event) error

func (f fakeBus) PublishEvent(ctx context.Context, e model.Event) error { return f(ctx, e) }

var _ eventPublisher = (*bus.Client)(nil)
