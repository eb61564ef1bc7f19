package autoscaler

import (
	"strings"
	"testing"
)

// hpaPolicies are HPA-style policies: stabilization windows for both directions, with and without
// a tolerance band.
const hpaPolicies = `---
kind: AutoscalingPolicy
id: hpa
loadThresholds:
  requestsInFlight: {threshold: 10}
  memoryConsumption: {threshold: 95}
  loadAverage: {threshold: 400}
behaviour:
  scaleUp: {stabilizationWindow: 60s}
  scaleDown: {stabilizationWindow: 3m}
---
kind: AutoscalingPolicy
id: hpa-tol
loadThresholds:
  requestsInFlight: {threshold: 10}
  memoryConsumption: {threshold: 95}
  loadAverage: {threshold: 400}
behaviour:
  scaleUp: {stabilizationWindow: 60s}
  tolerance: 0.1
`

const hpaFixtures = `name: a scale-down window never scales up
autoscalingPolicy: hpa
deploymentPolicy: dep
cluster: {clusterId: h1, clusterInstanceId: h1-1, networkPartitionId: np1, minMembers: 1, maxMembers: 20}
members: [{partition: p1, active: 3}, {partition: p2, active: 3}]
steps:
  - at: 0s
    summaries: [{kind: AverageRequestsInFlight, value: 60}, {kind: GradientOfRequestsInFlight, value: 0}, {kind: SecondDerivativeOfRequestsInFlight, value: 0}]
    expect: {action: none, required: 6}
  - at: 15s
    summaries: [{kind: AverageRequestsInFlight, value: 90}, {kind: GradientOfRequestsInFlight, value: 0}, {kind: SecondDerivativeOfRequestsInFlight, value: 0}]
    expect: {action: none, reasonContains: stabilization}
  - at: 30s
    summaries: [{kind: AverageRequestsInFlight, value: 20}, {kind: GradientOfRequestsInFlight, value: 0}, {kind: SecondDerivativeOfRequestsInFlight, value: 0}]
    expect: {action: none, delta: 0, reasonContains: stabilization}
---
name: a scale-up window never scales down
autoscalingPolicy: hpa
deploymentPolicy: dep
cluster: {clusterId: h2, clusterInstanceId: h2-1, networkPartitionId: np1, minMembers: 1, maxMembers: 20}
members: [{partition: p1, active: 3}, {partition: p2, active: 3}]
steps:
  - at: 0s
    summaries: [{kind: AverageRequestsInFlight, value: 20}, {kind: GradientOfRequestsInFlight, value: 0}, {kind: SecondDerivativeOfRequestsInFlight, value: 0}]
    expect: {action: none, reasonContains: counted}
  - at: 15s
    summaries: [{kind: AverageRequestsInFlight, value: 90}, {kind: GradientOfRequestsInFlight, value: 0}, {kind: SecondDerivativeOfRequestsInFlight, value: 0}]
    expect: {action: none, reasonContains: stabilization}
  - at: 30s
    summaries: [{kind: AverageRequestsInFlight, value: 90}, {kind: GradientOfRequestsInFlight, value: 0}, {kind: SecondDerivativeOfRequestsInFlight, value: 0}]
    expect: {action: none, reasonContains: stabilization}
  - at: 45s
    summaries: [{kind: AverageRequestsInFlight, value: 90}, {kind: GradientOfRequestsInFlight, value: 0}, {kind: SecondDerivativeOfRequestsInFlight, value: 0}]
    expect: {action: none, reasonContains: stabilization}
---
name: the limit names the stabilization window, not the tolerance
autoscalingPolicy: hpa-tol
deploymentPolicy: dep
cluster: {clusterId: h3, clusterInstanceId: h3-1, networkPartitionId: np1, minMembers: 1, maxMembers: 20}
members: [{partition: p1, active: 1}]
steps:
  - at: 0s
    summaries: [{kind: AverageRequestsInFlight, value: 10}, {kind: GradientOfRequestsInFlight, value: 0}, {kind: SecondDerivativeOfRequestsInFlight, value: 0}]
    expect: {action: none, required: 1, reasonContains: active matches required}
  - at: 15s
    summaries: [{kind: AverageRequestsInFlight, value: 30}, {kind: GradientOfRequestsInFlight, value: 0}, {kind: SecondDerivativeOfRequestsInFlight, value: 0}]
    expect: {action: none, reasonContains: stabilization window}
`

// TestStabilizationDirections: HPA's rule. A scale-down window holds a scale-down back and a
// scale-up window a scale-up; neither turns a change into one of the other direction, and the
// trace (explain) names the constraint that held the change.
func TestStabilizationDirections(t *testing.T) {
	set := buildSet(t, strings.ReplaceAll(scalingPolicies("round-robin", "enforce", hpaPolicies), "partitionMax: 3", "partitionMax: 10"))
	reps := runFixtureText(t, set, "hpa_test.yaml", hpaFixtures)
	limits := func(i int) []string {
		var out []string
		for _, s := range reps[i].Steps {
			tr, err := DecodeTrace(s.Decision)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, tr.Limit)
		}
		return out
	}
	if got, want := limits(0), []string{LimitSteady, LimitStabilization, LimitStabilization}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%s: limits %v, want %v", reps[0].Name, got, want)
	}
	if got, want := limits(2), []string{LimitSteady, LimitStabilization}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%s: limits %v, want %v", reps[2].Name, got, want)
	}
	var text strings.Builder
	if err := RenderTrace(&text, reps[2].Steps[1].Decision); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text.String(), "tolerance") {
		t.Errorf("explain of a scale-up the window held back mentions the tolerance:\n%s", text.String())
	}
}
