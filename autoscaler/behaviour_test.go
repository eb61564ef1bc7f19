package autoscaler

import (
	"context"
	"slices"
	"strings"
	"testing"
)

const behaviourPolicies = `---
kind: AutoscalingPolicy
id: beh
loadThresholds:
  requestsInFlight: {threshold: 20}
  memoryConsumption: {threshold: 30}
  loadAverage: {threshold: 25}
behaviour:
  scaleUp: {maxStep: 2}
  scaleDown: {stabilizationWindow: 3m}
  tolerance: 0.25
---
kind: AutoscalingPolicy
id: miss
loadThresholds:
  requestsInFlight: {threshold: 20}
  memoryConsumption: {threshold: 30}
  loadAverage: {threshold: 25}
behaviour:
  missingMetrics: {after: 2m, action: scale-out, step: 2}
---
kind: AutoscalingPolicy
id: floor
loadThresholds:
  requestsInFlight: {threshold: 20}
  memoryConsumption: {threshold: 30}
  loadAverage: {threshold: 25}
behaviour:
  missingMetrics: {after: 2m, action: floor, floor: 3}
`

const behaviourFixtures = `name: max step, stabilization window, tolerance
autoscalingPolicy: beh
deploymentPolicy: dep
cluster: {clusterId: c1, clusterInstanceId: c1-1, networkPartitionId: np1, minMembers: 1, maxMembers: 20}
members: [{partition: p1, active: 2}, {partition: p2, active: 2}]
steps:
  - at: 0s
    summaries: [{kind: AverageRequestsInFlight, value: 200}, {kind: GradientOfRequestsInFlight, value: 0}, {kind: SecondDerivativeOfRequestsInFlight, value: 0}]
    expect: {action: scale-up, delta: 2, required: 10}
  - at: 60s
    members: [{partition: p1, active: 5}, {partition: p2, active: 5}]
    summaries: [{kind: AverageRequestsInFlight, value: 100}, {kind: GradientOfRequestsInFlight, value: 0}, {kind: SecondDerivativeOfRequestsInFlight, value: 0}]
    expect: {action: none, reasonContains: stabilization}
  - at: 240s
    summaries: [{kind: AverageRequestsInFlight, value: 100}, {kind: GradientOfRequestsInFlight, value: 0}, {kind: SecondDerivativeOfRequestsInFlight, value: 0}]
    expect: {action: none, required: 5, reasonContains: counted}
  - at: 300s
    summaries: [{kind: AverageRequestsInFlight, value: 180}, {kind: GradientOfRequestsInFlight, value: 0}, {kind: SecondDerivativeOfRequestsInFlight, value: 0}]
    expect: {action: none, reasonContains: tolerance}
---
name: missing metrics, fail-safe scale-out once per outage
autoscalingPolicy: miss
deploymentPolicy: dep
cluster: {clusterId: c2, clusterInstanceId: c2-1, networkPartitionId: np1, minMembers: 1, maxMembers: 6}
members: [{partition: p1, active: 1}, {partition: p2, active: 1}]
steps:
  - at: 60s
    expect: {action: none, reasonContains: no fresh metrics}
  - at: 180s
    expect: {action: missing-metrics, delta: 2}
  - at: 270s
    expect: {action: none, reasonContains: already done}
---
name: missing metrics, floor
autoscalingPolicy: floor
deploymentPolicy: dep
cluster: {clusterId: c3, clusterInstanceId: c3-1, networkPartitionId: np1, minMembers: 1, maxMembers: 6}
members: [{partition: p1, active: 1}]
steps:
  - at: 180s
    expect: {action: missing-metrics, delta: 2}
`

func TestBehaviourFixtures(t *testing.T) {
	set := buildSet(t, strings.ReplaceAll(scalingPolicies("round-robin", "enforce", behaviourPolicies), "partitionMax: 3", "partitionMax: 10"))
	runFixtureText(t, set, "b_test.yaml", behaviourFixtures)
}

const maxCheckFixture = `name: the max check terminates active members above partitionMax
autoscalingPolicy: as
deploymentPolicy: dep
cluster: {clusterId: c4, clusterInstanceId: c4-1, networkPartitionId: np1, minMembers: 1, maxMembers: 6}
members: [{partition: p1, active: 5}, {partition: p2, active: 1}]
steps:
  - at: 0s
    expect: {action: max, delta: -2}
  - at: 90s
    members: [{partition: p1, active: 3, terminationPending: 0}]
    expect: {action: none}
`

func TestMaxCheckFixture(t *testing.T) {
	set := buildSet(t, scalingPolicies("round-robin", "enforce", ""))
	r := runFixtureText(t, set, "m_test.yaml", maxCheckFixture)[0]
	if tr, _ := DecodeTrace(r.Steps[0].Decision); len(tr.Steps) < 4 { // 2 terminations, 2 cleanups
		t.Errorf("steps %+v", tr.Steps)
	}
}

// TestTenantQuotaWithinOneRound: proposals later in a round see the members earlier instances
// of the same tenant were just given.
func TestTenantQuotaWithinOneRound(t *testing.T) {
	rego := `package strata.governance
deny contains "tenant quota" if {
	input.tenant_members + input.delta > 5
}`
	s := newSim(t, buildSet(t, scalingPolicies("round-robin", "enforce", ""), rego), nil)
	for i := range 4 {
		if err := s.a.RegisterCluster(ClusterSpec{ClusterID: "c" + string(rune('0'+i)), InstanceID: "i-1", NetworkPartition: "np1",
			TenantID: "t1", Min: 2, Max: 6, AutoscalePolicy: "as", DeploymentPolicy: "dep"}); err != nil {
			t.Fatal(err)
		}
	}
	s.a.Evaluate(context.Background())
	if len(s.starts) != 4 {
		t.Errorf("%d starts, want 4 (quota 5, two members per cluster)", len(s.starts))
	}
}

const guardFixtures = `name: pending members cover required (the spawn-loop guard)
autoscalingPolicy: as
deploymentPolicy: dep
cluster: {clusterId: c5, clusterInstanceId: c5-1, networkPartitionId: np1, minMembers: 1, maxMembers: 6}
members: [{partition: p1, active: 1, pending: 2}, {partition: p2, active: 1, pending: 1}]
steps:
  - at: 0s
    summaries: [{kind: AverageRequestsInFlight, value: 80}, {kind: GradientOfRequestsInFlight, value: 0}, {kind: SecondDerivativeOfRequestsInFlight, value: 0}]
    expect: {action: none, required: 4, reasonContains: pending members already cover}
---
name: round-robin respects partitionMax and max
autoscalingPolicy: as
deploymentPolicy: dep
cluster: {clusterId: c6, clusterInstanceId: c6-1, networkPartitionId: np1, minMembers: 1, maxMembers: 6}
members: [{partition: p1, active: 3}, {partition: p2, active: 1}]
steps:
  - at: 0s
    summaries: [{kind: AverageRequestsInFlight, value: 160}, {kind: GradientOfRequestsInFlight, value: 0}, {kind: SecondDerivativeOfRequestsInFlight, value: 0}]
    expect: {action: scale-up, required: 8, delta: 2}
  - at: 60s
    summaries: [{kind: AverageRequestsInFlight, value: 160}, {kind: GradientOfRequestsInFlight, value: 0}, {kind: SecondDerivativeOfRequestsInFlight, value: 0}]
    expect: {action: none, reasonContains: already at max}
`

func TestGuardAndPartitionMaxFixtures(t *testing.T) {
	set := buildSet(t, scalingPolicies("round-robin", "enforce", ""))
	reps := runFixtureText(t, set, "g_test.yaml", guardFixtures)
	tr, _ := DecodeTrace(reps[1].Steps[0].Decision)
	var parts []string
	for _, s := range tr.Steps {
		for range s.Delta { // one step per partition, its Delta the starts there
			parts = append(parts, s.Partition)
		}
	}
	if strings.Join(parts, ",") != "p2,p2" {
		t.Errorf("started in %v, want p2,p2 (p1 is at its partitionMax)", parts)
	}
}

const clusterMaxFixture = `name: the max check terminates active members above the cluster's max, from the fullest partition
autoscalingPolicy: as
deploymentPolicy: dep
cluster: {clusterId: c6, clusterInstanceId: c6-1, networkPartitionId: np1, minMembers: 1, maxMembers: 2}
members: [{partition: p1, active: 3}, {partition: p2, active: 1}]
steps:
  - at: 0s
    expect: {action: max, delta: -2}
`

// TestClusterMaxCheck: active members above the cluster instance's max (an update lowered it)
// are terminated, one at a time from the partition with the most active members left.
func TestClusterMaxCheck(t *testing.T) {
	set := buildSet(t, scalingPolicies("round-robin", "enforce", ""))
	r := runFixtureText(t, set, "cm_test.yaml", clusterMaxFixture)[0]
	tr, _ := DecodeTrace(r.Steps[0].Decision)
	var parts []string
	for _, st := range tr.Steps {
		if st.Check == "max" && st.Action == "terminate" {
			parts = append(parts, st.Partition)
		}
	}
	if want := []string{"p1", "p1"}; !slices.Equal(parts, want) {
		t.Errorf("max terminations in partitions %v, want %v (p1 has the most active members)", parts, want)
	}
}
