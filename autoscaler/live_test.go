package autoscaler

import (
	"cmp"
	"context"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/strata-paas/strata/history"
	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/clock"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// A live run for the replay tests: the autoscaler's real scheduler (Run) under synctest, in a
// world of fake members and a CEP that hands it summaries, recording to history as strata up does.

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

	np string // the cluster's network partition

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
	return replayCluster, model.InstanceID("web", 1), w.np, w.part[id]
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
	// The demo's shape: the cluster is in the network partition np with deployment policy dep and
	// at most max members (default np1, dep, 6), and the CEP sends the cluster's requests in
	// flight (load, with its gradient) instead of the members' load average.
	np, dep string
	max     int
	rif     bool
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
	o.np, o.dep, o.max = cmp.Or(o.np, "np1"), cmp.Or(o.dep, "dep"), cmp.Or(o.max, 6)
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
		w := &liveWorld{store: mem, raw: raw, np: o.np, part: map[string]string{}, active: map[string]bool{}}
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
			NetworkPartition: o.np, ServiceName: "php", ApplicationID: "app", Min: 1, Max: o.max,
			AutoscalePolicy: o.policy, DeploymentPolicy: o.dep}); err != nil {
			t.Fatal(err)
		}
		inst := model.InstanceID("web", 1)
		prev := 0.0
		for win := 1; win <= o.windows; win++ {
			time.Sleep(time.Until(t0.Add(time.Duration(win)*o.period + 7*time.Millisecond)))
			load := o.load(win)
			if o.rif {
				end := time.Now().UnixMilli()
				for k, v := range []float64{load, (load - prev) / o.period.Seconds(), 0} {
					kind := [3]model.SummaryKind{model.AverageRequestsInFlight, model.GradientOfRequestsInFlight,
						model.SecondDerivativeOfRequestsInFlight}[k]
					ts := int64(0)
					if k == 0 {
						ts = end // the window's end; gradients carry none
					}
					w.summary(model.Summary{Kind: kind, ClusterID: replayCluster, ClusterInstanceID: inst, NetworkPartitionID: o.np,
						Value: v, Timestamp: ts})
				}
				prev = load
			}
			w.mu.Lock()
			var members []string
			parts := map[string]string{}
			for id := range w.active {
				members = append(members, id)
				parts[id] = w.part[id]
			}
			w.mu.Unlock()
			per := load
			if len(members) > 0 {
				per = load / float64(len(members))
			}
			families := [][3][2]model.SummaryKind{{
				{model.AverageLoadAverage, model.MemberAverageLoadAverage},
				{model.GradientOfLoadAverage, model.MemberGradientOfLoadAverage},
				{model.SecondDerivativeOfLoadAverage, model.MemberSecondDerivativeOfLoadAverage},
			}}
			if o.rif {
				// The members report the host's load average and memory, below the thresholds.
				per = 30
				families = append(families, [3][2]model.SummaryKind{
					{model.AverageMemoryConsumption, model.MemberAverageMemoryConsumption},
					{model.GradientOfMemoryConsumption, model.MemberGradientOfMemoryConsumption},
					{model.SecondDerivativeOfMemoryConsumption, model.MemberSecondDerivativeOfMemoryConsumption},
				})
			}
			for _, kinds := range families {
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
						w.summary(model.Summary{Kind: kk[1], ClusterID: replayCluster, ClusterInstanceID: inst, NetworkPartitionID: o.np,
							MemberID: id, PartitionID: parts[id], Value: v, Timestamp: ts})
					}
					w.summary(model.Summary{Kind: kk[0], ClusterID: replayCluster, ClusterInstanceID: inst, NetworkPartitionID: o.np,
						Value: v, Timestamp: ts})
				}
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
