package autoscaler

import (
	"context"
	"strings"
	"testing"

	"github.com/strata-paas/strata/internal/model"
)

// A start the controller refuses is in the decision that took it: its reason says the start
// failed and why, its trace lists the error (Trace.StartErrors), and RenderTrace (`strata
// explain`) prints it, both from the recorder and from Decisions.
func TestStartFailureInDecision(t *testing.T) {
	clock := &fakeClock{now: epoch}
	st := &failingStarter{fail: true}
	rec := &fakeRecorder{}
	a, err := New(Options{Policies: &staticPolicies{buildSet(t, scalingPolicies("round-robin", "enforce", ""))}, Starter: st,
		Clock: clock, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	register(t, a, 2, 6)
	a.Evaluate(context.Background())
	recorded := rec.all()
	if len(recorded) != 1 {
		t.Fatalf("%d decisions recorded, want 1", len(recorded))
	}
	ring := a.Decisions(recorded[0].ClusterID, 8)
	if len(ring) != 1 {
		t.Fatalf("%d decisions kept, want 1", len(ring))
	}
	for name, d := range map[string]struct {
		reason string
		trace  []byte
	}{"recorder": {recorded[0].Reason, recorded[0].Trace}, "Decisions": {ring[0].Reason, ring[0].Trace}} {
		if d.reason == "" || !strings.Contains(d.reason, "start failed: iaas down") {
			t.Errorf("%s: reason %q, want the start failure", name, d.reason)
		}
		tr, err := DecodeTrace(model.Decision{ID: name, Trace: d.trace})
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, d.trace)
		}
		var n int
		for _, se := range tr.StartErrors {
			if se.Error != "iaas down" || se.Partition == "" {
				t.Errorf("%s: start error %+v", name, se)
			}
			n += se.Count
		}
		if n != 2 {
			t.Errorf("%s: trace start errors %+v, want the 2 failed starts", name, tr.StartErrors)
		}
	}
	var out strings.Builder
	if err := RenderTrace(&out, recorded[0]); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "start failed in ") || !strings.Contains(out.String(), ": iaas down") {
		t.Errorf("explain does not show the failed start:\n%s", out.String())
	}

	// A start that succeeds leaves its decision as it was.
	st.fail = false
	clock.Set(epoch.Add(DefaultMonitorInterval))
	a.Evaluate(context.Background())
	last := rec.all()[len(rec.all())-1]
	if strings.Contains(last.Reason, "start failed") || strings.Contains(string(last.Trace), "startErrors") {
		t.Errorf("a successful start's decision mentions a failure: %s %s", last.Reason, last.Trace)
	}
}
