package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// equateEmpty treats nil and empty maps and slices alike: Marshal writes some nil ones as {} or [].
var equateEmpty = cmpopts.EquateEmpty()

func eventGolden(class string) string { return filepath.Join("testdata", "events", class+".json") }

// checkGolden compares got with the golden file, or rewrites the file under -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-golden +got):\n%s", path, diff)
	}
}

func TestEventGolden(t *testing.T) {
	samples := sampleEvents()
	var covered []string
	for _, e := range samples {
		class := e.EventClass()
		covered = append(covered, class)
		t.Run(class, func(t *testing.T) {
			b, err := Marshal(e)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, b); err != nil {
				t.Fatalf("Marshal wrote invalid JSON: %v", err)
			}
			if !bytes.Equal(compact.Bytes(), b) {
				t.Errorf("Marshal output is not compact")
			}
			// The golden file is the same JSON, indented so that a diff can be read.
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, b, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			checkGolden(t, eventGolden(class), pretty.Bytes())

			golden, err := os.ReadFile(eventGolden(class))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Unmarshal(TopicOf(e), golden)
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if diff := cmp.Diff(e, got, equateEmpty); diff != "" {
				t.Errorf("decode(golden) differs (-want +got):\n%s", diff)
			}
			// The compact wire form decodes the same way.
			got, err = Unmarshal(TopicOf(e), b)
			if err != nil {
				t.Fatalf("Unmarshal compact: %v", err)
			}
			if diff := cmp.Diff(e, got, equateEmpty); diff != "" {
				t.Errorf("decode(compact) differs (-want +got):\n%s", diff)
			}
		})
	}
	for _, s := range sampleSummaries() {
		covered = append(covered, s.EventClass())
	}
	all := Classes()
	slices.Sort(all)
	slices.Sort(covered)
	if diff := cmp.Diff(all, covered); diff != "" {
		t.Errorf("samples do not cover exactly the registered classes (-registered +sampled):\n%s", diff)
	}
}

func TestNewReturnsPointers(t *testing.T) {
	for _, class := range Classes() {
		e, ok := New(class)
		if !ok {
			t.Fatalf("New(%q) failed", class)
		}
		if got := e.EventClass(); got != class && !strings.HasPrefix(class, "health.stat.") {
			t.Errorf("New(%q).EventClass() = %q", class, got)
		}
		if _, err := json.Marshal(e); err != nil {
			t.Errorf("zero %s does not marshal: %v", class, err)
		}
		if e2, ok := New(ClassPrefix + class); !ok || e2.EventClass() != e.EventClass() {
			t.Errorf("New with the full class name of %s failed", class)
		}
		if got := fmt.Sprintf("%T", e); !strings.HasPrefix(got, "*model.") {
			t.Errorf("New(%q) returned %s, want a pointer", class, got)
		}
	}
}

func TestTopologyAlwaysWritesPCAKeys(t *testing.T) {
	b, err := Marshal(&CompleteTopologyEvent{Topology: &Topology{ServiceMap: map[string]*Service{
		"php": {ServiceName: "php", ClusterIDClusterMap: map[string]*Cluster{
			"c1": {ServiceName: "php", ClusterID: "c1", MemberMap: map[string]*Member{
				"m1": {ServiceName: "php", ClusterID: "c1", MemberID: "m1"}}}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	top := doc["topology"].(map[string]any)
	if top["initialized"] != true {
		t.Errorf("topology initialized = %v, want true", top["initialized"])
	}
	svc := top["serviceMap"].(map[string]any)["php"].(map[string]any)
	requireKeys(t, "service", svc, "serviceType", "portMap", "clusterIdClusterMap")
	cl := svc["clusterIdClusterMap"].(map[string]any)["c1"].(map[string]any)
	requireKeys(t, "cluster", cl, "serviceName", "autoscalePolicyName", "hostNames", "isLbCluster",
		"isKubernetesCluster", "memberMap", "appId", "kubernetesServices")
	m := cl["memberMap"].(map[string]any)["m1"].(map[string]any)
	requireKeys(t, "member", m, "serviceName", "clusterId", "portMap", "memberStateManager")
	if _, ok := m["memberStateManager"].(map[string]any)["stateStack"].([]any); !ok {
		t.Errorf("member stateStack is not an array: %s", b)
	}

	b, err = Marshal(MemberActivatedEvent{MemberID: "m1"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"portMap":{}`)) {
		t.Errorf("MemberActivatedEvent without ports: %s, want portMap {}", b)
	}

	// Other keys the Python agent reads without a guard (PCA/modules/event/*/events.py).
	for _, tt := range []struct {
		e    Event
		want string
	}{
		{e: MemberCreatedEvent{MemberID: "m1"}, want: `"properties":{}`},
		{e: MemberInitializedEvent{MemberID: "m1"}, want: `"properties":{}`},
		{e: MemberActivatedEvent{PortMap: PortMap{80: {Value: 8080, Proxy: 80}}}, want: `"protocol":""`},
		{e: CompleteTenantEvent{Tenants: []Tenant{{TenantID: 1}}}, want: `"tenantDomain":""`},
		{e: CompleteTenantEvent{}, want: `"tenants":[]`},
	} {
		b, err := Marshal(tt.e)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(tt.want)) {
			t.Errorf("%s: %s lacks %s", tt.e.EventClass(), b, tt.want)
		}
	}
}

func requireKeys(t *testing.T, what string, obj map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		v, ok := obj[k]
		if !ok || v == nil {
			t.Errorf("%s lacks key %q (or it is null)", what, k)
		}
	}
}

func TestUnmarshalUnknownTopic(t *testing.T) {
	for _, topic := range []string{"topology/NoSuchEvent", "", "foo", "instance/status"} {
		_, err := Unmarshal(topic, []byte(`{}`))
		if !errors.Is(err, ErrUnknownEvent) {
			t.Errorf("Unmarshal(%q) error = %v, want ErrUnknownEvent", topic, err)
		}
	}
	_, err := Unmarshal(SummaryTopic, []byte(`{"org.apache.stratos.messaging.event.health.stat.Nope":{"message":{}}}`))
	if !errors.Is(err, ErrUnknownEvent) {
		t.Errorf("unknown summary class: error = %v, want ErrUnknownEvent", err)
	}
}

func TestUnmarshalBadBodies(t *testing.T) {
	tests := []struct {
		name  string
		topic string
		body  string
	}{
		{name: "not json", topic: "topology/MemberActivatedEvent", body: `{"memberId":`},
		{name: "array", topic: "topology/MemberActivatedEvent", body: `[]`},
		{name: "bad number", topic: "topology/MemberCreatedEvent", body: `{"initTime":"soon"}`},
		{name: "bad bool", topic: "topology/ClusterRemovedEvent", body: `{"isLbCluster":"maybe"}`},
		{name: "object for int", topic: "tenant/TenantRemovedEvent", body: `{"tenantId":{}}`},
		{name: "envelope with two classes", topic: SummaryTopic, body: `{"a":{},"b":{}}`},
		{name: "envelope without message", topic: SummaryTopic,
			body: `{"org.apache.stratos.messaging.event.health.stat.AverageLoadAverageEvent":{"msg":{}}}`},
		{name: "bad value", topic: SummaryTopic,
			body: `{"org.apache.stratos.messaging.event.health.stat.AverageLoadAverageEvent":{"message":{"value":"x"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if e, err := Unmarshal(tt.topic, []byte(tt.body)); err == nil {
				t.Errorf("Unmarshal(%q, %q) = %#v, want an error", tt.topic, tt.body, e)
			}
		})
	}
}

func TestUnmarshalInitializerBodies(t *testing.T) {
	for _, body := range []string{`{}`, ``, " \n", `{"extra":1}`, `null`} {
		e, err := Unmarshal("initializer/CompleteTopologyRequestEvent", []byte(body))
		if err != nil {
			t.Errorf("body %q: %v", body, err)
			continue
		}
		if _, ok := e.(*CompleteTopologyRequestEvent); !ok {
			t.Errorf("body %q: got %T", body, e)
		}
	}
	b, err := Marshal(CompleteTopologyRequestEvent{})
	if err != nil || string(b) != `{}` {
		t.Errorf("Marshal(CompleteTopologyRequestEvent) = %s, %v; want {}", b, err)
	}
}

// The Python agent publishes json.dumps(obj.__dict__, sort_keys=True, indent=4): pretty-printed,
// keys sorted, None as null, and instanceId even where Java has no such field (§1.5.2).
func TestUnmarshalPythonAgentStyle(t *testing.T) {
	tests := []struct {
		name  string
		topic string
		body  string
		want  Event
	}{
		{
			name:  "InstanceStartedEvent",
			topic: "instance/status/InstanceStartedEvent",
			body: `{
    "applicationId": "app1",
    "clusterId": "app1.php1.php.domain",
    "clusterInstanceId": "app1-1",
    "groupId": null,
    "instanceId": null,
    "memberId": "m1",
    "networkPartitionId": "network-partition-1",
    "partitionId": "partition-1",
    "serviceName": "php"
}`,
			want: &InstanceStartedEvent{ApplicationID: sApp, ServiceName: sService, ClusterID: sCluster,
				MemberID: "m1", ClusterInstanceID: sCInst, NetworkPartitionID: sNP, PartitionID: sPartID},
		},
		{
			name:  "InstanceActivatedEvent",
			topic: "instance/status/InstanceActivatedEvent",
			body: `{
    "clusterId": "app1.php1.php.domain",
    "clusterInstanceId": "app1-1",
    "groupId": null,
    "instanceId": "i-123",
    "memberId": "m1",
    "networkPartitionId": "network-partition-1",
    "partitionId": "partition-1",
    "serviceName": "php"
}`,
			want: &InstanceActivatedEvent{ServiceName: sService, ClusterID: sCluster, MemberID: "m1",
				InstanceID: "i-123", ClusterInstanceID: sCInst, NetworkPartitionID: sNP, PartitionID: sPartID},
		},
		{
			name:  "InstanceMaintenanceModeEvent",
			topic: "instance/status/InstanceMaintenanceModeEvent",
			body: `{
    "clusterId": "app1.php1.php.domain",
    "clusterInstanceId": "app1-1",
    "groupId": null,
    "instanceId": null,
    "memberId": "m1",
    "networkPartitionId": null,
    "partitionId": "partition-1",
    "serviceName": "php"
}`,
			want: &InstanceMaintenanceModeEvent{ServiceName: sService, ClusterID: sCluster, MemberID: "m1",
				ClusterInstanceID: sCInst, PartitionID: sPartID},
		},
		{
			name:  "InstanceReadyToShutdownEvent",
			topic: "instance/status/InstanceReadyToShutdownEvent",
			body: `{
    "clusterId": "app1.php1.php.domain",
    "clusterInstanceId": "app1-1",
    "groupId": "group1",
    "instanceId": "i-123",
    "memberId": "m1",
    "networkPartitionId": "network-partition-1",
    "partitionId": "partition-1",
    "serviceName": "php"
}`,
			want: &InstanceReadyToShutdownEvent{ServiceName: sService, ClusterID: sCluster, MemberID: "m1",
				ClusterInstanceID: sCInst, NetworkPartitionID: sNP, PartitionID: sPartID, GroupID: sGroup},
		},
		{
			name:  "numbers and booleans as strings",
			topic: "topology/MemberCreatedEvent",
			body: `{
    "clusterId": "c1",
    "initTime": "1422016262372",
    "loadBalancingIPType": "Public",
    "memberId": "m1",
    "properties": {"MIN_COUNT": 1, "PRIMARY": false, "X": null},
    "serviceName": "php"
}`,
			want: &MemberCreatedEvent{ServiceName: "php", ClusterID: "c1", MemberID: "m1",
				LoadBalancingIPType: IPPublic, InitTime: sInitTime,
				Properties: Properties{"MIN_COUNT": "1", "PRIMARY": "false"}},
		},
		{
			name:  "artifact updated with numeric tenant and string bool",
			topic: "instance/notifier/ArtifactUpdatedEvent",
			body:  `{"clusterId":"c1","commitEnabled":"true","repoURL":"https://example.com/r.git","tenantId":-1234}`,
			want: &ArtifactUpdatedEvent{ClusterID: "c1", CommitEnabled: true,
				RepoURL: "https://example.com/r.git", TenantID: "-1234"},
		},
		{
			name:  "ports and ints as strings",
			topic: "topology/MemberActivatedEvent",
			body:  `{"memberId":"m1","portMap":{"80":{"protocol":"http","value":"8080","proxy":"80"}},"groupId":null}`,
			want: &MemberActivatedEvent{MemberID: "m1",
				PortMap: PortMap{80: {Protocol: "http", Value: 8080, Proxy: 80}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Unmarshal(tt.topic, []byte(tt.body))
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, equateEmpty); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestTopicHelpers(t *testing.T) {
	tests := []struct {
		topic   string
		summary bool
	}{
		{topic: "summarized-health-stats", summary: true},
		{topic: "summarized-health-stats/#", summary: true},
		{topic: "summarized-health-stats.>", summary: true},
		{topic: "summarized-health-statsX", summary: false},
		{topic: "topology/MemberActivatedEvent", summary: false},
	}
	for _, tt := range tests {
		if got := IsSummaryTopic(tt.topic); got != tt.summary {
			t.Errorf("IsSummaryTopic(%q) = %v, want %v", tt.topic, got, tt.summary)
		}
	}
	if got := TopicOf(&MemberActivatedEvent{}); got != "topology/MemberActivatedEvent" {
		t.Errorf("TopicOf = %q", got)
	}
	if got := TopicOf(ClusterStatusClusterActivatedEvent{}); got != "cluster/status/ClusterStatusClusterActivatedEvent" {
		t.Errorf("TopicOf = %q", got)
	}
	// AMQP-style topics (dots) decode too.
	if _, err := Unmarshal("topology.MemberSuspendedEvent", []byte(`{"memberId":"m"}`)); err != nil {
		t.Errorf("AMQP topic: %v", err)
	}
}

func TestSubscriptionsMatchClasses(t *testing.T) {
	subs := []string{SubscribeTopology, SubscribeInitializer, SubscribeInstanceStatus,
		SubscribeInstanceNotifier, SubscribeApplication, SubscribeClusterStatus, SubscribeTenant,
		SubscribeDomainMapping, SubscribeStrataInitializer}
	for _, class := range Classes() {
		if strings.HasPrefix(class, "health.stat.") {
			continue // published on SummaryTopic, inside the envelope
		}
		topic := Topic(class)
		matched := false
		for _, s := range subs {
			if strings.HasPrefix(topic, strings.TrimSuffix(s, "#")) {
				matched = true
			}
		}
		if !matched {
			t.Errorf("no subscription filter matches %s", topic)
		}
	}
}
