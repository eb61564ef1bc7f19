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
	clock := newFakeClock()
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

// endingStarter starts members (recStarter) and knows why one ended before it became Active, as
// the controller does.
type endingStarter struct {
	recStarter
	reasons map[string]string // by member
}

func (s *endingStarter) StartFailure(_, memberID string) (string, bool) {
	r, ok := s.reasons[memberID]
	return r, ok
}

// A member that ended before it became Active (its start failed after the controller answered)
// is named, with the reason, in the next decision of its instance, which starts a replacement.
func TestEndedBeforeActiveInDecision(t *testing.T) {
	clock := newFakeClock()
	st := &endingStarter{reasons: map[string]string{}}
	rec := &fakeRecorder{}
	a, err := New(Options{Policies: &staticPolicies{buildSet(t, scalingPolicies("round-robin", "enforce", ""))}, Starter: st,
		Clock: clock, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	register(t, a, 1, 6)
	a.Evaluate(context.Background())
	if st.count() != 1 {
		t.Fatalf("%d starts, want 1", st.count())
	}
	member := "app.php.php.domain-m1"
	st.reasons[member] = "server: exit status 127: sh: 1: exec: ./bin/server: not found"
	a.HandleEvent(&model.MemberTerminatedEvent{ClusterID: "app.php.php.domain", ClusterInstanceID: "php-1", MemberID: member})
	clock.Set(epoch.Add(DefaultSettle))
	a.Evaluate(context.Background())
	ds := rec.all()
	d := ds[len(ds)-1]
	want := "member " + member + " ended before it became active: server: exit status 127"
	if !strings.Contains(d.Reason, want) || st.count() != 2 {
		t.Errorf("decision after the member ended: %q (starts %d), want %q and a replacement", d.Reason, st.count(), want)
	}
	tr, err := DecodeTrace(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Ended) != 1 || tr.Ended[0].Member != member || tr.Ended[0].Partition == "" || !strings.Contains(tr.Ended[0].Error, "exit status 127") {
		t.Errorf("trace ended %+v", tr.Ended)
	}
	var out strings.Builder
	if err := RenderTrace(&out, d); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), want) {
		t.Errorf("explain does not show the member that ended:\n%s", out.String())
	}
	// The next decision does not repeat it.
	clock.Set(epoch.Add(DefaultSettle + DefaultMonitorInterval))
	a.Evaluate(context.Background())
	if last := rec.all()[len(rec.all())-1]; strings.Contains(last.Reason, "ended before") {
		t.Errorf("a later decision repeats the ended member: %q", last.Reason)
	}
}
