package autoscaler

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/strata-paas/strata/history"
	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/clock"
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

// liveRecord is what a live run stored, kept raw as well (with the timestamps history gave them),
// so that it can be written to another store.
type liveRecord struct {
	mu        sync.Mutex
	summaries []model.Summary
	lifecycle []model.LifecycleRecord
	decisions []model.Decision
}

// liveWorld is the live run's surroundings: a controller that creates and activates members
// (MemberCreated 2 s after the start, MemberActivated 20 s after), agents that answer the cleanup
// (ReadyToShutdown 3 s later) and a controller that confirms terminations (1 s later). Every
// lifecycle event goes to the autoscaler and to history, as in `strata up`.
type liveWorld struct {
	a     *Autoscaler
	store *history.Memory
	raw   *liveRecord

	mu     sync.Mutex
	n      int
	part   map[string]string
	active map[string]bool
}

func (w *liveWorld) emit(e model.Event) {
	w.a.HandleEvent(e)
	if r, ok := model.LifecycleOf(e, time.Now()); ok {
		w.store.RecordLifecycle(r)
		w.raw.mu.Lock()
		w.raw.lifecycle = append(w.raw.lifecycle, r)
		w.raw.mu.Unlock()
	}
}

func (w *liveWorld) later(d time.Duration, e model.Event) {
	go func() {
		time.Sleep(d)
		w.emit(e)
	}()
}

func (w *liveWorld) memberEvent(id string) (cluster, instance, np, part string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return replayCluster, model.InstanceID("web", 1), "np1", w.part[id]
}

func (w *liveWorld) StartMember(_ context.Context, req StartRequest) (model.Member, error) {
	w.mu.Lock()
	w.n++
	id := "m-" + strconv.Itoa(w.n)
	w.part[id] = req.PartitionID
	w.mu.Unlock()
	base := model.MemberCreatedEvent{ServiceName: "php", ClusterID: req.ClusterID, ClusterInstanceID: req.ClusterInstanceID,
		NetworkPartitionID: req.NetworkPartitionID, PartitionID: req.PartitionID, MemberID: id}
	w.later(2*time.Second, &base)
	go func() {
		time.Sleep(20 * time.Second)
		w.mu.Lock()
		w.active[id] = true
		w.mu.Unlock()
		w.emit(&model.MemberActivatedEvent{ServiceName: "php", ClusterID: req.ClusterID, ClusterInstanceID: req.ClusterInstanceID,
			NetworkPartitionID: req.NetworkPartitionID, PartitionID: req.PartitionID, MemberID: id, ApplicationID: "app"})
	}()
	return model.Member{ClusterID: req.ClusterID, ClusterInstanceID: req.ClusterInstanceID,
		NetworkPartitionID: req.NetworkPartitionID, PartitionID: req.PartitionID, MemberID: id}, nil
}

func (w *liveWorld) TerminateMember(_ context.Context, id string, _ bool) error {
	c, in, np, p := w.memberEvent(id)
	w.later(time.Second, &model.MemberTerminatedEvent{ServiceName: "php", ClusterID: c, ClusterInstanceID: in,
		NetworkPartitionID: np, PartitionID: p, MemberID: id})
	return nil
}

func (w *liveWorld) PublishEvent(_ context.Context, e model.Event) error {
	if _, ok := e.(*model.CompleteTopologyRequestEvent); ok {
		w.a.HandleEvent(&model.CompleteTopologyEvent{Topology: &model.Topology{}}) // nothing runs yet
	}
	if ev, ok := e.(*model.InstanceCleanupMemberEvent); ok {
		w.mu.Lock()
		delete(w.active, ev.MemberID)
		w.mu.Unlock()
		c, in, np, p := w.memberEvent(ev.MemberID)
		w.later(3*time.Second, &model.MemberReadyToShutdownEvent{ServiceName: "php", ClusterID: c, ClusterInstanceID: in,
			NetworkPartitionID: np, PartitionID: p, MemberID: ev.MemberID})
	}
	return nil
}

func (w *liveWorld) Publish(context.Context, string, []byte, byte) error { return nil }

func (w *liveWorld) SubscribeEvents(context.Context, string, bus.EventHandler) error { return nil }

func (w *liveWorld) RecordDecision(d model.Decision) bool {
	w.raw.mu.Lock()
	w.raw.decisions = append(w.raw.decisions, d)
	w.raw.mu.Unlock()
	return w.store.RecordDecision(d)
}

// summary hands one CEP summary to the autoscaler and to history, as the CEP does; history
// stamps a summary without a timestamp (gradients, second derivatives) on receipt.
func (w *liveWorld) summary(s model.Summary) {
	w.a.HandleSummary(s)
	w.store.RecordSummary(s)
	if s.Timestamp == 0 {
		s.Timestamp = time.Now().UnixMilli()
	}
	w.raw.mu.Lock()
	w.raw.summaries = append(w.raw.summaries, s)
	w.raw.mu.Unlock()
}

// liveRun runs the enforced policy "as" under synctest on the real scheduler (Run) for 12 CEP
// windows of a load that steps up (3 windows) and down: the min check, a scale-up, scale-down
// votes and two scale-downs with the cleanup protocol. The decisions, summaries and lifecycle
// records go to a Memory store; it returns them with the store.
func liveRun(t *testing.T, set *policies.Set) (*history.Memory, *liveRecord, time.Time) {
	return liveRunWith(t, set, liveOptions{})
}

// liveOptions vary liveRun: the policy (default "as"), the monitor interval (default 90 s), the
// CEP period (default a minute), the number of CEP windows (default 12), the load of a window
// (default 60 for three windows, then 15) and the autoscaler's clock (default the real one).
type liveOptions struct {
	policy  string
	monitor time.Duration
	period  time.Duration
	windows int
	load    func(win int) float64
	clock   clock.Clock
}

// lateClock reads the time rounded up to the next multiple of step: a round reads its time a
// little after the timer that woke it fired, as on a real machine, where synctest's time stands
// still while the round runs.
type lateClock struct {
	clock.System
	step time.Duration
}

func (c lateClock) Now() time.Time { return time.Now().Truncate(c.step).Add(c.step) }

func liveRunWith(t *testing.T, set *policies.Set, o liveOptions) (*history.Memory, *liveRecord, time.Time) {
	o.policy = cmp.Or(o.policy, "as")
	o.period = cmp.Or(o.period, time.Minute)
	o.windows = cmp.Or(o.windows, 12)
	if o.load == nil {
		o.load = func(win int) float64 {
			if win > 3 {
				return 15
			}
			return 60
		}
	}
	var mem *history.Memory
	raw := &liveRecord{}
	var t0 time.Time
	synctest.Test(t, func(t *testing.T) {
		t0 = time.Now()
		mem = history.NewMemory(history.Options{})
		w := &liveWorld{store: mem, raw: raw, part: map[string]string{}, active: map[string]bool{}}
		a, err := New(Options{Policies: &staticPolicies{set}, Starter: w, Bus: w, Recorder: w, InProcessSummaries: true,
			MonitorInterval: o.monitor, Clock: o.clock})
		if err != nil {
			t.Fatal(err)
		}
		w.a = a
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		if err := a.RegisterCluster(ClusterSpec{ClusterID: replayCluster, InstanceID: model.InstanceID("web", 1),
			NetworkPartition: "np1", ServiceName: "php", ApplicationID: "app", Min: 1, Max: 6,
			AutoscalePolicy: o.policy, DeploymentPolicy: "dep"}); err != nil {
			t.Fatal(err)
		}
		inst := model.InstanceID("web", 1)
		for win := 1; win <= o.windows; win++ {
			time.Sleep(time.Until(t0.Add(time.Duration(win)*o.period + 7*time.Millisecond)))
			load := o.load(win)
			w.mu.Lock()
			var members []string
			for id := range w.active {
				members = append(members, id)
			}
			w.mu.Unlock()
			per := load
			if len(members) > 0 {
				per = load / float64(len(members))
			}
			kinds := [3][2]model.SummaryKind{
				{model.AverageLoadAverage, model.MemberAverageLoadAverage},
				{model.GradientOfLoadAverage, model.MemberGradientOfLoadAverage},
				{model.SecondDerivativeOfLoadAverage, model.MemberSecondDerivativeOfLoadAverage},
			}
			for k, kk := range kinds {
				if k > 0 {
					time.Sleep(time.Millisecond)
				}
				ts := int64(0)
				v := per
				if k == 0 {
					ts = time.Now().UnixMilli() // the window's end; gradients carry none
				} else {
					v = 0
				}
				for _, id := range members {
					w.summary(model.Summary{Kind: kk[1], ClusterID: replayCluster, ClusterInstanceID: inst, NetworkPartitionID: "np1",
						MemberID: id, PartitionID: w.part[id], Value: v, Timestamp: ts})
				}
				w.summary(model.Summary{Kind: kk[0], ClusterID: replayCluster, ClusterInstanceID: inst, NetworkPartitionID: "np1",
					Value: v, Timestamp: ts})
			}
		}
		time.Sleep(time.Until(t0.Add(time.Duration(o.windows)*o.period + 30*time.Second)))
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		synctest.Wait()
	})
	return mem, raw, t0
}

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
