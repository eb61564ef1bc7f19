package autoscaler

import (
	"math"

	"context"
	"github.com/google/go-cmp/cmp"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// The Stratos integration scenarios of §8.2, in process: the sim plays the controller, the mock
// members and the CEP.

// pattern6060 is the mock pattern of SingleClusterScalingTestCase: MC and LA samples 60, 60, 10
// (sampleDuration 60 s, continue).
func pattern6060(since time.Duration) (float64, float64) {
	if since < 2*time.Minute {
		return 60, 60
	}
	return 10, 10
}

func register(t testing.TB, a *Autoscaler, min, max int) {
	t.Helper()
	if err := a.RegisterCluster(ClusterSpec{ClusterID: "app.php.php.domain", InstanceID: "php-1", NetworkPartition: "np1",
		ServiceName: "php", ApplicationID: "app", TenantID: "t1", Min: min, Max: max, AutoscalePolicy: "as", DeploymentPolicy: "dep"}); err != nil {
		t.Fatal(err)
	}
}

func TestSingleClusterScaling(t *testing.T) {
	rec := &fakeRecorder{}
	s := newSim(t, buildSet(t, scalingPolicies("round-robin", "enforce", "")), rec)
	s.pattern = pattern6060
	register(t, s.a, 2, 6)

	// Up: min 2 first, then above min once the 60s arrive.
	s.advance(epoch.Add(3 * time.Minute))
	peak, parts := s.running()
	if peak <= 2 {
		t.Fatalf("did not scale up above min: %d running", peak)
	}
	for p, n := range parts {
		if n > 3 {
			t.Errorf("partition %s has %d members, partitionMax is 3", p, n)
		}
	}
	// The first scale-up start, against the first health sample above the thresholds.
	var up time.Time
	for _, d := range rec.all() {
		if d.Action == ActionScaleUp && up.IsZero() {
			up = d.Time
		}
	}
	if up.IsZero() {
		t.Fatal("no scale-up decision")
	}
	reaction := up.Sub(s.firstHigh)
	t.Logf("reaction: first health sample above threshold at +%v, scale-up start at +%v: %v (bound: one window + 1s = 61s; Stratos: 15s stats + 60s window + up to 90s tick)",
		s.firstHigh.Sub(epoch), up.Sub(epoch), reaction)
	if reaction > time.Minute+time.Second {
		t.Errorf("reaction %v > one window + 1s", reaction)
	}

	// Down by one: the fourth consecutive scale-down request terminates one member.
	s.advance(epoch.Add(8 * time.Minute))
	n, _ := s.running()
	if n >= peak || n < 2 {
		t.Fatalf("after the load dropped: %d running, peak %d", n, peak)
	}
	var votes, downs int
	for _, d := range rec.all() {
		if d.Action == ActionScaleDown {
			downs++
			if votes < ScaleDownVotes {
				t.Errorf("terminated after %d votes", votes)
			}
		}
		if strings.Contains(string(d.Trace), `"limit":"scale-down-votes"`) {
			votes++
		}
	}
	if downs == 0 {
		t.Fatal("no scale-down decision")
	}

	// Back to min, through the graceful protocol (cleanup, maintenance, ready to shutdown).
	s.advance(epoch.Add(20 * time.Minute))
	if n, _ := s.running(); n != 2 {
		t.Fatalf("did not return to min: %d running", n)
	}
	cleanups := 0
	for _, e := range s.events {
		if _, ok := e.(*model.InstanceCleanupMemberEvent); ok {
			cleanups++
		}
	}
	if cleanups < peak-2 {
		t.Errorf("%d cleanup events for %d terminations", cleanups, peak-2)
	}
	st := s.a.Stats()
	if st.Members != 2 {
		t.Errorf("autoscaler tracks %d members, want 2", st.Members)
	}
	if len(s.a.Decisions("app.php.php.domain", 5)) != 5 {
		t.Error("Decisions did not return 5")
	}
	if got := s.a.PoliciesInUse(); len(got) != 2 {
		t.Errorf("PoliciesInUse = %v", got)
	}
}

func TestPartitionRoundRobin(t *testing.T) {
	s := newSim(t, buildSet(t, strings.ReplaceAll(scalingPolicies("round-robin", "enforce", ""), "partitionMax: 3", "partitionMax: 5")), nil)
	register(t, s.a, 6, 10)
	s.advance(epoch.Add(time.Second))
	if len(s.starts) != 6 {
		t.Fatalf("%d starts, want 6", len(s.starts))
	}
	for i, st := range s.starts {
		want := []string{"p1", "p2"}[i%2]
		if st.req.PartitionID != want {
			t.Errorf("start %d in %s, want %s (members alternate in initTime order)", i, st.req.PartitionID, want)
		}
	}
}

func TestPartitionOneAfterAnother(t *testing.T) {
	s := newSim(t, buildSet(t, scalingPolicies("one-after-another", "enforce", "")), nil)
	register(t, s.a, 5, 6)
	s.advance(epoch.Add(time.Second))
	var got []string
	for _, st := range s.starts {
		got = append(got, st.req.PartitionID)
	}
	if strings.Join(got, ",") != "p1,p1,p1,p2,p2" {
		t.Errorf("starts in %v, want p1 filled to its max, then p2", got)
	}
}

func TestKilledMemberReplaced(t *testing.T) {
	rec := &fakeRecorder{}
	s := newSim(t, buildSet(t, scalingPolicies("round-robin", "enforce", "")), rec)
	s.pattern = func(time.Duration) (float64, float64) { return 20, 20 }
	register(t, s.a, 2, 6)
	s.advance(epoch.Add(2 * time.Minute))
	if n, _ := s.running(); n != 2 {
		t.Fatalf("%d running, want 2", n)
	}
	victim := s.order[0]
	s.kill(victim)
	s.advance(epoch.Add(5 * time.Minute))
	if n, _ := s.running(); n != 2 {
		t.Fatalf("%d running after the kill, want 2", n)
	}
	if len(s.starts) != 3 {
		t.Errorf("%d starts, want 3 (one replacement)", len(s.starts))
	}
	terminated := false
	for _, id := range s.terms {
		terminated = terminated || id == victim
	}
	if !terminated {
		t.Error("the faulty member was not terminated")
	}
	var inactive, activated int
	for _, e := range s.events {
		switch e.(type) {
		case *model.ClusterStatusClusterInactivateEvent:
			inactive++
		case *model.ClusterStatusClusterActivatedEvent:
			activated++
		}
	}
	if inactive != 1 || activated != 2 {
		t.Errorf("status events: %d inactive, %d activated; want 1 and 2", inactive, activated)
	}
	if s.a.Stats().Members != 2 {
		t.Errorf("autoscaler tracks %d members", s.a.Stats().Members)
	}
}

// TestDryRunChangesNothing: a policy in dry-run records what it would have done and does not
// scale; the min and max checks are the cluster's, not the policy's, and act in dry-run too, so
// that a new cluster gets its first members and the dry-run has something to decide about.
func TestDryRunChangesNothing(t *testing.T) {
	rec := &fakeRecorder{}
	s := newSim(t, buildSet(t, scalingPolicies("round-robin", "dry-run", "")), rec)
	s.pattern = pattern6060
	register(t, s.a, 2, 6)
	s.advance(epoch.Add(5 * time.Minute))
	if len(s.starts) != 2 || len(s.terms) != 0 {
		t.Fatalf("dry-run: %d starts, %d terminations; want the min check's 2 starts only", len(s.starts), len(s.terms))
	}
	ds := rec.all()
	if len(ds) == 0 {
		t.Fatal("nothing recorded")
	}
	d := ds[0]
	if d.Mode != "dry-run" || d.Action != ActionMin || d.Delta != 2 || strings.Contains(string(d.Trace), "would-start") || strings.Contains(d.Reason, "nothing done") ||
		!strings.Contains(string(d.Trace), "start") {
		t.Errorf("first decision %+v, want a dry-run min +2 with start steps", d)
	}
	would := false
	for _, d := range ds[1:] {
		if d.Action == ActionScaleUp && strings.Contains(string(d.Trace), "would-start") {
			would = true
		}
	}
	if !would {
		t.Errorf("no dry-run scale-up with would-start steps among %d decisions", len(ds))
	}
}

// TestDryRunMaxCheck: the max check terminates active members above partitionMax in dry-run too.
func TestDryRunMaxCheck(t *testing.T) {
	set := buildSet(t, scalingPolicies("round-robin", "dry-run", ""))
	r := runFixtureText(t, set, "m_test.yaml", maxCheckFixture)[0]
	tr, _ := DecodeTrace(r.Steps[0].Decision)
	terms := 0
	for _, st := range tr.Steps {
		if st.Check == "max" && st.Action == "terminate" {
			terms++
		}
	}
	if terms != 2 {
		t.Errorf("steps %+v; want 2 max terminations", tr.Steps)
	}
}

func TestShadowRecordsDifferences(t *testing.T) {
	rec := &fakeRecorder{}
	extra := `---
kind: AutoscalingPolicy
id: cautious
mode: shadow
shadowOf: as
loadThresholds:
  requestsInFlight: {threshold: 20}
  memoryConsumption: {threshold: 90}
  loadAverage: {threshold: 90}
`
	s := newSim(t, buildSet(t, scalingPolicies("round-robin", "enforce", extra)), rec)
	s.pattern = pattern6060
	register(t, s.a, 2, 6)
	s.advance(epoch.Add(3 * time.Minute))
	var shadow []model.Decision
	for _, d := range rec.all() {
		if d.Mode == "shadow" {
			shadow = append(shadow, d)
		}
	}
	if len(shadow) == 0 {
		t.Fatal("no shadow difference recorded")
	}
	d := shadow[0]
	if d.Policy != "cautious" || !strings.Contains(d.Reason, "differs from as") || d.Action == ActionScaleUp {
		t.Errorf("shadow decision %+v", d)
	}
	tr, err := DecodeTrace(d)
	if err != nil || tr.ShadowOf != "as" {
		t.Errorf("shadow trace: %+v, %v", tr, err)
	}
}

func TestGovernanceDenies(t *testing.T) {
	rec := &fakeRecorder{}
	rego := `package strata.governance
deny contains "no more than 3 members" if {
	input.action == "scale-up"
	input.cluster_members + input.delta > 3
}`
	s := newSim(t, buildSet(t, scalingPolicies("round-robin", "enforce", ""), rego), rec)
	s.pattern = pattern6060
	register(t, s.a, 2, 6)
	s.advance(epoch.Add(3 * time.Minute))
	if n, _ := s.running(); n != 2 {
		t.Fatalf("%d running; governance should have held it at 2", n)
	}
	found := false
	for _, d := range rec.all() {
		if strings.Contains(string(d.Trace), `"limit":"governance"`) && strings.Contains(string(d.Trace), "no more than 3 members") {
			found = true
		}
	}
	if !found {
		t.Error("no decision records the denial")
	}
}

func TestRenderTrace(t *testing.T) {
	rec := &fakeRecorder{}
	s := newSim(t, buildSet(t, scalingPolicies("round-robin", "enforce", "")), rec)
	s.pattern = pattern6060
	register(t, s.a, 2, 6)
	s.advance(epoch.Add(2 * time.Minute))
	var b strings.Builder
	var up model.Decision
	for _, d := range rec.all() {
		if d.Action == ActionScaleUp {
			up = d
			break
		}
	}
	if err := RenderTrace(&b, up); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"scale-up +3", "LA  avg 60", "requires 5", "scaling rule: active below required", "start in p1"} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered trace lacks %q:\n%s", want, out)
		}
	}
	t.Log("\n" + out)
	_ = context.Background
}

// TestTraceJSON checks the hand-written encoder against encoding/json on a full trace.
func TestTraceJSON(t *testing.T) {
	a, err := New(Options{Policies: &staticPolicies{}, Starter: &sim{}})
	if err != nil {
		t.Fatal(err)
	}
	w := [6]float64{1.5, math.NaN(), 3, 4, math.NaN(), 6}
	tr := Trace{Trigger: "tick", Status: "Active", Policy: "p\"q", Mode: "enforce", ShadowOf: "x", Deployment: "d", Algorithm: "round-robin",
		Members:    Counts{Active: 1, Pending: 2, Starting: 3, TerminationPending: 4, Obsolete: 5, NonTerminated: 6, Min: 7, Max: 8},
		Partitions: []PartitionTrace{{ID: "p1", Max: 3, Active: 1, Pending: 1, NonTerminated: 2, Obsolete: true}, {ID: "p2"}},
		Families:   [3]FamilyTrace{{Name: "rif", Average: 1.25, Gradient: -2, SecondDerivative: 1e-9, Predicted: 3, Threshold: 20, Required: 1, Fresh: true}, {Name: "mc", Missing: true, Members: 3}, {Name: "la"}},
		ScalingRun: true, Stratos: Verdict{Required: 3, ScaleUp: true}, Final: Verdict{Required: 2, ScaleDown: true},
		Rules:      []RuleTrace{{Name: "r", Target: "required", Expr: "a\n\tb", Value: 2.5, Changed: true}, {Name: "s", Target: "scaleUp", Expr: "x", IsBool: true, Verdict: true, Error: "e"}},
		Stabilized: 4, ToleranceBand: true, MaxStepCap: 2, BeyondMax: true, ScaleDownRequests: 2,
		Governance: []GovTrace{{Action: "scale-up", Partition: "p1", Delta: 2, Denied: true, Messages: []string{"m1", "ü\x01"}, Cached: true, Error: "x"}},
		Steps:      []Step{{Check: "min", Action: "start", Partition: "p1", Member: "m", Delta: 1, Forced: true}},
		Limit:      "governance", would: &w, Error: "boom"}
	got, err := DecodeTrace(model.Decision{Trace: a.encodeTrace(&tr)})
	if err != nil {
		t.Fatalf("%v\n%s", err, a.scratch.buf)
	}
	want := tr
	want.would = nil
	f := func(v float64) *float64 { return &v }
	want.WouldTrigger = Would{RIFAbove: f(1.5), LAAbove: f(3), RIFAtMost: f(4), LAAtMost: f(6)}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(Trace{})); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

// TestReactionWorstCase: the first sample above threshold arrives just after a CEP window
// closed, so the next window takes a full minute; the start call follows Settle after it.
func TestReactionWorstCase(t *testing.T) {
	s := newSim(t, buildSet(t, scalingPolicies("round-robin", "enforce", "")), nil)
	s.pattern = pattern6060
	s.advance(epoch.Add(30*time.Second + 250*time.Millisecond))
	register(t, s.a, 2, 6) // members start at +30.5 s, are active and sample from +60.5 s
	s.advance(epoch.Add(3 * time.Minute))
	if len(s.starts) < 3 {
		t.Fatalf("%d starts", len(s.starts))
	}
	reaction := s.starts[2].at.Sub(s.firstHigh)
	t.Logf("worst case: first sample above threshold at +%v, start call at +%v: %v", s.firstHigh.Sub(epoch), s.starts[2].at.Sub(epoch), reaction)
	if reaction > time.Minute+time.Second {
		t.Errorf("reaction %v > one window + 1s", reaction)
	}
}
