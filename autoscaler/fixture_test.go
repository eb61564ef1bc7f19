package autoscaler

import (
	"context"
	"testing"

	"github.com/strata-paas/strata/policies"
)

// TestExampleFixtures runs the fixtures of examples/policies against its policies, as `strata
// policy test examples/policies` does.
func TestExampleFixtures(t *testing.T) {
	set, err := policies.LoadDir("../examples/policies")
	if err != nil {
		t.Skipf("examples/policies does not load (being edited?): %v", err)
	}
	fxs, err := policies.LoadFixtures("../examples/policies", set)
	if err != nil {
		t.Fatal(err)
	}
	if len(fxs) == 0 {
		t.Fatal("no fixtures")
	}
	checkFixtures(t, set, fxs)
}

const counterFixture = `name: the scale-down counter
autoscalingPolicy: as
deploymentPolicy: dep
cluster: {clusterId: c1, clusterInstanceId: c1-1, networkPartitionId: np1, minMembers: 1, maxMembers: 6}
members:
  - {partition: p1, active: 2}
  - {partition: p2, active: 2}
steps:
  - at: 0s
    summaries: &low
      - {kind: AverageRequestsInFlight, value: 10}
      - {kind: GradientOfRequestsInFlight, value: 0}
      - {kind: SecondDerivativeOfRequestsInFlight, value: 0}
    expect: {action: none, required: 1, reasonContains: counted}
  - at: 60s
    summaries: *low
    expect: {action: none, reasonContains: counted}
  - at: 120s
    expect: {action: none, reasonContains: no fresh metrics}
  - at: 180s
    summaries: *low
    expect: {action: none, reasonContains: counted}
  - at: 240s
    summaries: *low
    expect: {action: scale-down, delta: -1}
  - at: 300s
    summaries: *low
    expect: {action: scale-down, delta: -1}
  - at: 360s
    summaries:
      - {kind: AverageRequestsInFlight, value: 100}
      - {kind: GradientOfRequestsInFlight, value: 0}
      - {kind: SecondDerivativeOfRequestsInFlight, value: 0}
    expect: {action: scale-up}
  - at: 420s
    summaries: *low
    expect: {action: none, reasonContains: counted}
`

const memoryFixture = `name: memory below threshold asks for min - 1
autoscalingPolicy: as
deploymentPolicy: dep
cluster: {clusterId: c1, clusterInstanceId: c1-1, networkPartitionId: np1, minMembers: 2, maxMembers: 6}
members:
  - {partition: p1, active: 1}
  - {partition: p2, active: 1}
steps:
  - at: 0s
    summaries:
      - {kind: AverageMemoryConsumption, value: 10}
      - {kind: GradientOfMemoryConsumption, value: 0}
      - {kind: SecondDerivativeOfMemoryConsumption, value: 0}
      - {kind: MemberAverageMemoryConsumption, member: m1, partition: p1, value: 10}
      - {kind: MemberAverageMemoryConsumption, member: m2, partition: p2, value: 10}
    expect: {action: none, required: 1, reasonContains: already at min}
  - at: 60s
    summaries:
      - {kind: AverageMemoryConsumption, value: 65}
      - {kind: GradientOfMemoryConsumption, value: 0}
      - {kind: SecondDerivativeOfMemoryConsumption, value: 0}
      - {kind: MemberAverageMemoryConsumption, member: m1, value: 60}
      - {kind: MemberAverageMemoryConsumption, member: m2, value: 70}
    expect: {action: scale-up, required: 4, delta: 2} # mean 65: ceil(2 + 35 / (70 / 4)) = 4
`

// TestFixtureCounterAndMemory pins the scale-down counter (the fourth consecutive request acts,
// the counter is not reset by a termination, a scale-up resets it) and the memory family's
// min − 1 and per-member mean, through RunFixture.
func TestFixtureCounterAndMemory(t *testing.T) {
	set := buildSet(t, scalingPolicies("round-robin", "enforce", ""))
	for _, src := range []string{counterFixture, memoryFixture} {
		fxs, err := policies.DecodeFixtures("f_test.yaml", []byte(src), set)
		if err != nil {
			t.Fatal(err)
		}
		r, err := RunFixture(context.Background(), set, fxs[0])
		if err != nil {
			t.Fatal(err)
		}
		if !r.Passed() {
			t.Error(r.String())
		}
	}
}

// runFixtureText decodes the fixtures of text (as the file name) against set and runs them with
// checkFixtures.
func runFixtureText(t *testing.T, set *policies.Set, name, text string) []Report {
	t.Helper()
	fxs, err := policies.DecodeFixtures(name, []byte(text), set)
	if err != nil {
		t.Fatal(err)
	}
	return checkFixtures(t, set, fxs)
}

// checkFixtures runs the fixtures and fails the test for each that did not pass.
func checkFixtures(t *testing.T, set *policies.Set, fxs []policies.Fixture) []Report {
	t.Helper()
	reps, err := RunFixtures(context.Background(), set, fxs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reps {
		if !r.Passed() {
			t.Error(r.String())
		}
	}
	return reps
}
