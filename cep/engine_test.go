package cep

import (
	"cmp"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/strata-paas/strata/internal/clock"
	"github.com/strata-paas/strata/internal/model"
)

// fakeClock is the tests' manual clock: its time moves and its tickers fire only when a test
// advances it.
type fakeClock = clock.Manual

func newFakeClock() *fakeClock { return clock.NewManual(t0) }

var t0 = time.UnixMilli(1_700_000_000_000)

func newTestEngine(t testing.TB, opt Options) *Engine {
	t.Helper()
	if opt.Clock == nil {
		opt.Clock = newFakeClock()
	}
	e, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// tick ends the window at now and returns what it emitted.
func tick(e *Engine, now int64) []model.Summary {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tickLocked(now)
	return takeOut(e)
}

// scan runs one fault scan at now and returns the faults.
func scan(e *Engine, now int64) []model.Summary {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.scanLocked(now)
	return takeOut(e)
}

func takeOut(e *Engine) []model.Summary {
	out := appendSummaries(nil, e.out)
	clear(e.out)
	e.out = e.out[:0]
	slices.SortFunc(out, func(a, b model.Summary) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), strings.Compare(a.MemberID, b.MemberID),
			strings.Compare(a.ClusterID, b.ClusterID), strings.Compare(a.ClusterInstanceID, b.ClusterInstanceID),
			strings.Compare(a.NetworkPartitionID, b.NetworkPartitionID))
	})
	return out
}

func health(member, ci, np, metric string, v float64, ts int64) model.HealthSample {
	return model.HealthSample{ClusterID: "app.php.domain", ClusterInstanceID: ci, NetworkPartitionID: np,
		MemberID: member, PartitionID: "p1", Metric: metric, Value: v, Timestamp: ts}
}

func rif(ci, np string, v float64, ts int64) model.HealthSample {
	return model.HealthSample{ClusterID: "app.php.domain", ClusterInstanceID: ci, NetworkPartitionID: np,
		Metric: model.MetricRequestsInFlight, Value: v, Timestamp: ts}
}

var approx = cmpopts.EquateApprox(0, 1e-9)

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		opt     Options
		wantErr bool
	}{
		{name: "defaults", opt: Options{}},
		{name: "sliding divides window", opt: Options{Window: time.Minute, Sliding: 15 * time.Second}},
		{name: "sliding does not divide", opt: Options{Window: time.Minute, Sliding: 7 * time.Second}, wantErr: true},
		{name: "negative timeout", opt: Options{FaultTimeout: -time.Second}, wantErr: true},
		{name: "tiny window bound", opt: Options{MaxWindowEvents: 2}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opt)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New: %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidOptions) {
				t.Errorf("error %v does not wrap ErrInvalidOptions", err)
			}
		})
	}
}

// TestPartitioning checks the keys of §3.2: member-level per member_id, cluster-level per
// key(ci), in-flight average per key(ci) and in-flight derivatives per key(np).
func TestPartitioning(t *testing.T) {
	e := newTestEngine(t, Options{})
	la, mc := model.MetricLoadAverage, model.MetricMemoryConsumption
	for _, s := range []model.HealthSample{
		health("m1", "ci1", "np1", la, 10, 0),
		health("m2", "ci1", "np1", la, 30, 15000),
		health("m1", "ci1", "np1", la, 20, 30000),
		health("m3", "ci2", "np1", mc, 50, 1000),
		rif("ci1", "np1", 4, 0),
		rif("not-defined", "np1", 8, 20000),
		rif("ci1", "np1", 6, 40000),
		rif("ci1", "np2", 100, 5000),
		{ClusterID: "app.php.domain", MemberID: "m1", Metric: "cpu_steal", Value: 1},
	} {
		e.Ingest(s)
	}
	now := t0.UnixMilli() + 60000
	got := tick(e, now)
	const c = "app.php.domain"
	want := []model.Summary{
		// key(ci1), load average over m1 and m2; gradient from the first (m1) to the last (m1)
		{Kind: model.AverageLoadAverage, ClusterID: c, ClusterInstanceID: "ci1", NetworkPartitionID: "np1", Value: 20, Timestamp: now},
		{Kind: model.AverageMemoryConsumption, ClusterID: c, ClusterInstanceID: "ci2", NetworkPartitionID: "np1", Value: 50, Timestamp: now},
		// in-flight average per key(ci): ci1/np1 and ci1/np2 are one key(ci) (np from the first event)
		{Kind: model.AverageRequestsInFlight, ClusterID: c, ClusterInstanceID: "ci1", NetworkPartitionID: "np1", Value: 110.0 / 3, Timestamp: now},
		{Kind: model.AverageRequestsInFlight, ClusterID: c, ClusterInstanceID: "not-defined", NetworkPartitionID: "np1", Value: 8, Timestamp: now},
		{Kind: model.GradientOfLoadAverage, ClusterID: c, ClusterInstanceID: "ci1", NetworkPartitionID: "np1", Value: 10.0 / 30, Timestamp: now},
		{Kind: model.GradientOfMemoryConsumption, ClusterID: c, ClusterInstanceID: "ci2", NetworkPartitionID: "np1", Value: 0, Timestamp: now},
		// in-flight gradient per key(np): np1 spans ci1 and not-defined, carries the first event's instance
		{Kind: model.GradientOfRequestsInFlight, ClusterID: c, ClusterInstanceID: "ci1", NetworkPartitionID: "np1", Value: 2.0 / 40, Timestamp: now},
		{Kind: model.GradientOfRequestsInFlight, ClusterID: c, ClusterInstanceID: "ci1", NetworkPartitionID: "np2", Value: 0, Timestamp: now},
		// key(ci1) load average has 3 events: g1 = 0 @0, g2 = grad(m2@15000=30, m1@30000=20) = -10/15 @22500
		{Kind: model.SecondDerivativeOfLoadAverage, ClusterID: c, ClusterInstanceID: "ci1", NetworkPartitionID: "np1", Value: (-10.0 / 15) * 1000 / 22500, Timestamp: now},
		// key(np1) in flight: 4@0, 8@20000, 6@40000: g1 = 0 @0, g2 = -2/20 @30000
		{Kind: model.SecondDerivativeOfRequestsInFlight, ClusterID: c, ClusterInstanceID: "ci1", NetworkPartitionID: "np1", Value: (-2.0 / 20) * 1000 / 30000, Timestamp: now},
		{Kind: model.MemberAverageLoadAverage, MemberID: "m1", ClusterID: c, ClusterInstanceID: "ci1", NetworkPartitionID: "np1", Value: 15, Timestamp: now},
		{Kind: model.MemberAverageLoadAverage, MemberID: "m2", ClusterID: c, ClusterInstanceID: "ci1", NetworkPartitionID: "np1", Value: 30, Timestamp: now},
		{Kind: model.MemberAverageMemoryConsumption, MemberID: "m3", ClusterID: c, ClusterInstanceID: "ci2", NetworkPartitionID: "np1", Value: 50, Timestamp: now},
		{Kind: model.MemberGradientOfLoadAverage, MemberID: "m1", ClusterID: c, ClusterInstanceID: "ci1", NetworkPartitionID: "np1", Value: 10.0 / 30, Timestamp: now},
		{Kind: model.MemberGradientOfLoadAverage, MemberID: "m2", ClusterID: c, ClusterInstanceID: "ci1", NetworkPartitionID: "np1", Value: 0, Timestamp: now},
		{Kind: model.MemberGradientOfMemoryConsumption, MemberID: "m3", ClusterID: c, ClusterInstanceID: "ci2", NetworkPartitionID: "np1", Value: 0, Timestamp: now},
	}
	if diff := gocmp.Diff(want, got, approx); diff != "" {
		t.Errorf("summaries (-want +got):\n%s", diff)
	}
	if st := e.Stats(); st.Unknown != 1 || st.Ingested != 8 {
		t.Errorf("stats: ingested %d unknown %d, want 8 and 1", st.Ingested, st.Unknown)
	}
	// The next window is empty: no output, and idle keys are released.
	if got := tick(e, now+60000); len(got) != 0 {
		t.Errorf("empty window emitted %v", got)
	}
	if st := e.Stats(); st.Members != 0 || st.ClusterKeys != 0 || st.PartitionKeys != 0 {
		t.Errorf("state not released after an idle window: %+v", st)
	}
}

// TestMemberSecondDerivative: a member with 4 events in a window gets all three member summaries.
func TestMemberSecondDerivative(t *testing.T) {
	e := newTestEngine(t, Options{})
	for i, v := range []float64{10, 20, 40, 80} {
		e.Ingest(health("m1", "ci1", "np1", model.MetricMemoryConsumption, v, int64(i)*15000))
	}
	got := tick(e, 1)
	var sd []model.Summary
	for _, s := range got {
		if s.Kind == model.MemberSecondDerivativeOfMemoryConsumption || s.Kind == model.SecondDerivativeOfMemoryConsumption {
			sd = append(sd, s)
		}
	}
	if len(sd) != 2 || !near(sd[0].Value, 2.0/30) || !near(sd[1].Value, 2.0/30) {
		t.Errorf("second derivatives = %+v, want two of %v", sd, 2.0/30)
	}
}

// TestTopologyReleasesState: terminated members and removed clusters lose their state at once.
func TestTopologyReleasesState(t *testing.T) {
	e := newTestEngine(t, Options{})
	e.SeedTopology([]Member{
		{ClusterID: "app.php.domain", ClusterInstanceID: "ci1", NetworkPartitionID: "np1", PartitionID: "p1", MemberID: "m1", Active: true},
		{ClusterID: "app.php.domain", ClusterInstanceID: "ci1", NetworkPartitionID: "np1", PartitionID: "p1", MemberID: "m2", Active: true},
		{ClusterID: "other.domain", ClusterInstanceID: "o1", NetworkPartitionID: "np1", PartitionID: "p1", MemberID: "o1", Active: true},
	})
	e.Ingest(health("m1", "ci1", "np1", model.MetricLoadAverage, 1, 0))
	e.Ingest(rif("ci1", "np1", 1, 0))
	if st := e.Stats(); st.Members != 3 || st.WatchedMembers != 3 || st.ClusterKeys != 1 || st.PartitionKeys != 1 {
		t.Fatalf("stats after seeding: %+v", st)
	}
	// Tracked members keep their state through idle windows (they are watched for silence).
	tick(e, 1)
	tick(e, 2)
	if st := e.Stats(); st.Members != 3 || st.ClusterKeys != 0 {
		t.Fatalf("after idle windows: %+v, want 3 members and no cluster key", st)
	}
	// m1 still caches its released key(ci): a new event must reach a live one.
	e.Ingest(health("m1", "ci1", "np1", model.MetricLoadAverage, 7, 0))
	if got := tick(e, 3); !slices.ContainsFunc(got, func(s model.Summary) bool {
		return s.Kind == model.AverageLoadAverage && s.Value == 7
	}) {
		t.Fatalf("event after key(ci) release lost: %+v", got)
	}
	e.MemberTerminated("m2")
	if st := e.Stats(); st.Members != 2 {
		t.Errorf("members after termination = %d, want 2", st.Members)
	}
	e.Ingest(health("m1", "ci1", "np1", model.MetricLoadAverage, 1, 0))
	e.Ingest(rif("ci1", "np1", 1, 0))
	e.ClusterRemoved("app.php.domain")
	if st := e.Stats(); st.Members != 1 || st.ClusterKeys != 0 || st.PartitionKeys != 0 {
		t.Errorf("after cluster removal: %+v", st)
	}
	// A complete topology without o1 releases it.
	e.SeedTopology(nil)
	if st := e.Stats(); st.Members != 0 {
		t.Errorf("members after an empty complete topology = %d", st.Members)
	}
}

func TestSlidingEngine(t *testing.T) {
	e := newTestEngine(t, Options{Window: time.Minute, Sliding: 20 * time.Second})
	e.Ingest(health("m1", "ci1", "np1", model.MetricLoadAverage, 10, 0))
	avg := func(out []model.Summary) (float64, bool) {
		for _, s := range out {
			if s.Kind == model.MemberAverageLoadAverage {
				return s.Value, true
			}
		}
		return 0, false
	}
	steps := []struct {
		ingest  []float64
		want    float64
		wantOut bool
	}{
		{want: 10, wantOut: true},                        // slide 0: {10}
		{ingest: []float64{20}, want: 15, wantOut: true}, // {10, 20}
		{ingest: []float64{30}, want: 20, wantOut: true}, // {10, 20, 30}
		{want: 25, wantOut: true},                        // 10 left: {20, 30}
		{want: 30, wantOut: true},                        // {30}
		{wantOut: false},                                 // empty
	}
	for i, st := range steps {
		for _, v := range st.ingest {
			e.Ingest(health("m1", "ci1", "np1", model.MetricLoadAverage, v, int64(i)*20000))
		}
		v, ok := avg(tick(e, int64(i)))
		if ok != st.wantOut || (ok && !near(v, st.want)) {
			t.Fatalf("slide %d: average %v (emitted %v), want %v (emitted %v)", i, v, ok, st.want, st.wantOut)
		}
	}
}
