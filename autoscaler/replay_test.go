package autoscaler

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/strata-paas/strata/history"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
	"github.com/strata-paas/strata/policies"
)

// replayPolicies are scalingPolicies plus "low", a candidate with a lower load-average threshold.
func replayPolicies(t testing.TB) *policies.Set {
	return buildSet(t, scalingPolicies("round-robin", "enforce", `---
kind: AutoscalingPolicy
id: low
mode: dry-run
loadThresholds:
  requestsInFlight: {threshold: 20}
  memoryConsumption: {threshold: 30}
  loadAverage: {threshold: 10}
`))
}

const replayCluster = "app.web.php.domain"

// brief is what "the same decisions" compares.
type brief struct {
	Time                                   time.Time
	Action                                 string
	Delta, Active, NonTerminated, Required int
	Reason                                 string
}

func briefs(ds []model.Decision) []brief {
	out := make([]brief, len(ds))
	for i, d := range ds {
		out[i] = brief{Time: d.Time.UTC(), Action: d.Action, Delta: d.Delta, Active: d.Active, NonTerminated: d.NonTerminated,
			Required: d.Required, Reason: d.Reason}
	}
	return out
}

// checkReplay replays the enforced policy and the candidate over what src holds.
func checkReplay(t *testing.T, src replaySource, set *policies.Set, live []model.Decision) {
	t.Helper()
	ctx := context.Background()
	h, err := LoadReplayHistory(ctx, src, replayCluster, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Replay(ctx, ReplayOptions{Policies: set, Cluster: ClusterSpec{ClusterID: replayCluster}}, h)
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(briefs(live), briefs(res.Recorded)); diff != "" {
		t.Fatalf("recorded decisions read back differ from the live ones (-live +stored):\n%s", diff)
	}
	if diff := gocmp.Diff(briefs(res.Recorded), briefs(res.Replayed)); diff != "" {
		t.Errorf("replaying the enforced policy gives other decisions (-recorded +replayed):\n%s", diff)
	}
	if res.Differences != 0 || res.Policy != "as" || res.RecordedPolicy != "as" {
		t.Errorf("differences %d, policy %s, recorded %s; want 0, as, as", res.Differences, res.Policy, res.RecordedPolicy)
	}
	if s, d := sumDeltas(res.Recorded); s < 3 || d < 2 {
		t.Errorf("the live run started %d and terminated %d members; the test wants a scale-up and scale-downs", s, d)
	}

	low, err := Replay(ctx, ReplayOptions{Policies: set, Policy: "low", Cluster: ClusterSpec{ClusterID: replayCluster}}, h)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	if err := low.WriteText(&text, false); err != nil {
		t.Fatal(err)
	}
	t.Logf("replay of low:\n%s", text.String())
	if low.Differences == 0 {
		t.Fatalf("the candidate with a lower threshold decided the same:\n%v", briefs(low.Replayed))
	}
	var first *ReplayRow
	for i := range low.Timeline {
		if low.Timeline[i].Differs {
			first = &low.Timeline[i]
			break
		}
	}
	// The first window (load 60 on one member): "as" (threshold 25) wants 3 members, "low" (10) 6.
	if first == nil || first.Recorded == nil || first.Replayed == nil || first.Recorded.Action != ActionScaleUp ||
		first.Replayed.Action != ActionScaleUp || first.Recorded.Delta != 2 || first.Replayed.Delta != 5 {
		t.Errorf("first difference %+v; want scale-up +2 recorded, +5 replayed", first)
	}
	if low.Replayed[0].Policy != "low" || low.Replayed[0].Mode != string(policies.ModeEnforce) {
		t.Errorf("replayed decision of policy %s mode %s; want low, enforce", low.Replayed[0].Policy, low.Replayed[0].Mode)
	}
}

// TestReplaySameDecisions: a live run of the enforced policy recorded in history (Memory), then
// replayed from what history stored, gives the live decisions again: actions, deltas and times.
func TestReplaySameDecisions(t *testing.T) {
	set := replayPolicies(t)
	mem, raw, _ := liveRun(t, set)
	if len(raw.decisions) < 10 {
		t.Fatalf("live run made %d decisions", len(raw.decisions))
	}
	checkReplay(t, mem, set, raw.decisions)
}

// TestReplayClickHouse stores the same live run in ClickHouse (timestamps in milliseconds,
// summaries read back as points) and replays it from there.
func TestReplayClickHouse(t *testing.T) {
	if testing.Short() {
		t.Skip("needs ClickHouse")
	}
	set := replayPolicies(t)
	_, raw, _ := liveRun(t, set)
	addr := testenv.ClickHouse(t)
	db := fmt.Sprintf("strata_replay_%d", rand.Uint64())
	// synctest's clock starts in 2000: keep 30 years.
	ch, err := history.NewClickHouse(t.Context(), history.Options{DSN: "clickhouse://" + addr + "/" + db, DataDir: t.TempDir(),
		Retention: 30 * 365 * 24 * time.Hour, FlushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ch.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		ch.Close()
	})
	for _, s := range raw.summaries {
		ch.RecordSummary(s)
	}
	for _, r := range raw.lifecycle {
		ch.RecordLifecycle(r)
	}
	for _, d := range raw.decisions {
		ch.RecordDecision(d)
	}
	want := uint64(len(raw.summaries) + len(raw.lifecycle) + len(raw.decisions))
	deadline := time.Now().Add(30 * time.Second)
	for st := ch.Stats(); st.Inserted+st.Duplicates < want; st = ch.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("ClickHouse stored %d of %d rows: %+v", st.Inserted, want, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	checkReplay(t, ch, set, raw.decisions)
}

// TestReplayTimeline pins the pairing rules.
func TestReplayTimeline(t *testing.T) {
	at := func(s int) time.Time { return FixtureEpoch.Add(time.Duration(s) * time.Second) }
	d := func(s int, action string, delta int) model.Decision {
		return model.Decision{Time: at(s), Action: action, Delta: delta}
	}
	tests := []struct {
		name     string
		rec, rep []model.Decision
		rows     int
		diffs    int
	}{
		{name: "same", rec: []model.Decision{d(0, "none", 0), d(60, "scale-up", 2)}, rep: []model.Decision{d(0, "none", 0), d(60, "scale-up", 2)}, rows: 2},
		{name: "other delta", rec: []model.Decision{d(60, "scale-up", 2)}, rep: []model.Decision{d(60, "scale-up", 5)}, rows: 1, diffs: 1},
		{name: "unpaired none", rec: []model.Decision{d(0, "none", 0)}, rep: []model.Decision{d(30, "none", 0)}, rows: 2},
		{name: "unpaired action", rec: []model.Decision{d(0, "none", 0)}, rep: []model.Decision{d(30, "scale-down", -1)}, rows: 2, diffs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, diffs := timeline(tt.rec, tt.rep, time.Second)
			if len(rows) != tt.rows || diffs != tt.diffs {
				t.Errorf("rows %d, diffs %d; want %d, %d", len(rows), diffs, tt.rows, tt.diffs)
			}
		})
	}
}

// TestReplayFollowsRecordedVictim: which of several members of near-equal load a scale-down
// terminates turns on summaries arriving milliseconds apart, so the replay terminates the member
// the live autoscaler terminated (its trace names it) when that member is a candidate. Here
// another member of the victim's partition is made the least loaded in the stored summaries: the
// replay still follows the recorded victim, and picks that member when the recorded traces name
// none.
func TestReplayFollowsRecordedVictim(t *testing.T) {
	set := replayPolicies(t)
	mem, _, _ := liveRun(t, set)
	ctx := context.Background()
	h, err := LoadReplayHistory(ctx, mem, replayCluster, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	victimOf := func(d model.Decision) string {
		tr, err := DecodeTrace(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range tr.Steps {
			if s.Check == "scale" && s.Delta < 0 {
				return s.Member
			}
		}
		return ""
	}
	var down model.Decision
	victim := ""
	for _, d := range h.Decisions {
		if d.Delta < 0 {
			if victim = victimOf(d); victim != "" {
				down = d
				break
			}
		}
	}
	if victim == "" {
		t.Fatal("the live run made no scale-down that names its victim")
	}
	partOf := map[string]string{}
	for _, r := range h.Lifecycle {
		if r.MemberID != "" && r.PartitionID != "" && r.Time.Before(down.Time) {
			partOf[r.MemberID] = r.PartitionID
		}
	}
	other := ""
	for _, s := range h.Summaries {
		if s.MemberID != "" && s.MemberID != victim && partOf[s.MemberID] == partOf[victim] && time.UnixMilli(s.Timestamp).Before(down.Time) {
			other = s.MemberID
			break
		}
	}
	if other == "" {
		t.Fatalf("no other member of partition %q reported load before the scale-down", partOf[victim])
	}
	for i := range h.Summaries {
		if h.Summaries[i].MemberID == other {
			h.Summaries[i].Value = 0
		}
	}

	replayedVictim := func(h ReplayHistory) (string, int) {
		t.Helper()
		res, err := Replay(ctx, ReplayOptions{Policies: set, Cluster: ClusterSpec{ClusterID: replayCluster}}, h)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range res.Replayed {
			if d.Delta < 0 && d.Time.Sub(down.Time).Abs() <= DefaultMatchTolerance {
				return victimOf(d), res.Differences
			}
		}
		t.Fatalf("no replayed scale-down at %v:\n%v", down.Time, briefs(res.Replayed))
		return "", 0
	}
	if v, n := replayedVictim(h); v != victim || n != 0 {
		t.Errorf("replayed scale-down terminates %s with %d differences; want the recorded victim %s and none", v, n, victim)
	}

	unnamed := h
	unnamed.Decisions = slices.Clone(h.Decisions)
	for i, d := range unnamed.Decisions {
		var tr map[string]json.RawMessage
		if err := json.Unmarshal(d.Trace, &tr); err != nil {
			t.Fatal(err)
		}
		delete(tr, "steps")
		if unnamed.Decisions[i].Trace, err = json.Marshal(tr); err != nil {
			t.Fatal(err)
		}
	}
	if v, _ := replayedVictim(unnamed); v != other {
		t.Errorf("without recorded victims the replay terminates %s; want %s, the least loaded", v, other)
	}
}

// TestReplayStabilizationWindowExact: the demo's shape (a 10 s scale-down window, a 5 s monitor
// tick, the CEP every 5 s, a load that falls in steps) on a clock that, as on a real machine, reads
// a little late in every round: replaying the unchanged policy gives the live decisions again.
// The live rounds drift later tick by tick; a replay that ran its ticks on the exact period saw
// other samples in the window than the live round did, and ran ticks before the summaries the
// live ticks had used: it fell behind by scale-downs.
func TestReplayStabilizationWindowExact(t *testing.T) {
	set := buildSet(t, scalingPolicies("round-robin", "enforce", `---
kind: AutoscalingPolicy
id: win
loadThresholds:
  requestsInFlight: {threshold: 20}
  memoryConsumption: {threshold: 95}
  loadAverage: {threshold: 10}
behaviour:
  scaleDown: {stabilizationWindow: 10s, maxStep: 1}
`))
	for _, tt := range []struct {
		name    string
		monitor time.Duration
		step    time.Duration
	}{
		{name: "tick 5s, clock 3ms late", monitor: 5 * time.Second, step: 3 * time.Millisecond},
		{name: "tick 5s, clock 7ms late", monitor: 5 * time.Second, step: 7 * time.Millisecond},
		{name: "tick 2s, clock 3ms late", monitor: 2 * time.Second, step: 3 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mem, _, _ := liveRunWith(t, set, liveOptions{policy: "win", monitor: tt.monitor, period: 5 * time.Second,
				windows: 40, clock: lateClock{step: tt.step}, load: func(win int) float64 {
					switch {
					case win <= 8:
						return 40
					case win <= 16:
						return 25
					}
					return 8
				}})
			h, err := LoadReplayHistory(context.Background(), mem, replayCluster, time.Time{}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := Replay(context.Background(), ReplayOptions{Policies: set, Cluster: ClusterSpec{ClusterID: replayCluster},
				MonitorInterval: tt.monitor}, h)
			if err != nil {
				t.Fatal(err)
			}
			if _, d := sumDeltas(res.Recorded); d < 2 {
				t.Errorf("the live run terminated %d members; the test wants scale-downs", d)
			}
			if res.Differences != 0 {
				var text strings.Builder
				res.WriteText(&text, false)
				t.Errorf("replay of the unchanged policy: %d differences\n%s", res.Differences, text.String())
			}
		})
	}
}

// A replayed tick takes the time of the recorded round it replays: within align of its due time
// any round, and up to late after it a recorded tick whose timer fired late (450 ms at a 5 s
// interval on a loaded host made the replay of TestUpDemoHistoryReplay differ in 2 rows).
func TestAlignedRound(t *testing.T) {
	base := time.Date(2026, 12, 6, 6, 34, 12, 513_000_000, time.UTC)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	const align, late = 250 * time.Millisecond, 2500 * time.Millisecond
	for _, tc := range []struct {
		name  string
		live  []liveRound
		want  time.Time
		wantK int
	}{
		{name: "on time", live: []liveRound{{at: at(20), tick: true}}, want: at(20), wantK: 1},
		{name: "late tick", live: []liveRound{{at: at(447), tick: true}}, want: at(447), wantK: 1},
		{name: "late round not a tick", live: []liveRound{{at: at(447)}}, want: at(0), wantK: 0},
		{name: "tick beyond late", live: []liveRound{{at: at(2600), tick: true}}, want: at(0), wantK: 0},
		{name: "passed rounds", live: []liveRound{{at: at(-5000), tick: true}, {at: at(-300)}, {at: at(100), tick: true}}, want: at(100), wantK: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, k := alignedRound(tc.live, at(0), at(-1000), align, late)
			if !got.Equal(tc.want) || k != tc.wantK {
				t.Errorf("alignedRound = %v, %d; want %v, %d", got.Sub(base), k, tc.want.Sub(base), tc.wantK)
			}
		})
	}
}
