package autoscaler

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
)

// recStarter records start calls with their time.
type recStarter struct {
	mu     sync.Mutex
	starts []time.Time
	n      int
}

func (r *recStarter) StartMember(_ context.Context, req StartRequest) (model.Member, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts = append(r.starts, time.Now())
	r.n++
	return model.Member{ClusterID: req.ClusterID, MemberID: req.ClusterID + "-m" + string(rune('0'+r.n)),
		ClusterInstanceID: req.ClusterInstanceID, PartitionID: req.PartitionID}, nil
}

func (r *recStarter) TerminateMember(context.Context, string, bool) error { return nil }

func (r *recStarter) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.starts) }

// fakeBus delivers what the test publishes to the autoscaler's subscriptions.
type fakeBus struct {
	mu       sync.Mutex
	handlers map[string]bus.EventHandler
	out      []model.Event
	topology *model.Topology // answers CompleteTopologyRequestEvent when set
}

func (b *fakeBus) PublishEvent(_ context.Context, e model.Event) error {
	b.mu.Lock()
	b.out = append(b.out, e)
	answer := b.topology != nil && b.handlers[model.SubscribeTopology] != nil
	b.mu.Unlock()
	if _, ok := e.(*model.CompleteTopologyRequestEvent); ok && answer {
		// The controller answers with the whole topology.
		b.deliver(model.SubscribeTopology, &model.CompleteTopologyEvent{Topology: b.topology})
	}
	return nil
}

// requests counts the CompleteTopologyRequestEvents published.
func (b *fakeBus) requests() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, e := range b.out {
		if _, ok := e.(*model.CompleteTopologyRequestEvent); ok {
			n++
		}
	}
	return n
}
func (b *fakeBus) Publish(context.Context, string, []byte, byte) error { return nil }
func (b *fakeBus) SubscribeEvents(_ context.Context, filter string, h bus.EventHandler) error {
	b.mu.Lock()
	b.handlers[filter] = h
	b.mu.Unlock()
	return nil
}
func (b *fakeBus) deliver(filter string, e model.Event) {
	b.mu.Lock()
	h := b.handlers[filter]
	b.mu.Unlock()
	h(model.TopicOf(e), e)
}

// TestRunReactsWithinSettle runs the real scheduler under synctest: the cluster comes from a
// ClusterCreatedEvent on the bus (MIN_COUNT/MAX_COUNT), the min check starts its members at
// once, and a fresh family of summaries above threshold is acted on Settle later, not at the
// next 90 s tick.
func TestRunReactsWithinSettle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &recStarter{}
		fb := &fakeBus{handlers: map[string]bus.EventHandler{}, topology: &model.Topology{}}
		a, err := New(Options{Policies: &staticPolicies{buildSet(t, scalingPolicies("round-robin", "enforce", ""))}, Starter: st, Bus: fb})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		defer func() {
			cancel()
			<-done
			for _, d := range a.Decisions("app.php.php.domain", 10) {
				t.Logf("%s %s %+d %s", d.Time.Format("15:04:05.000"), d.Action, d.Delta, d.Reason)
			}
		}()
		synctest.Wait()
		cl := &model.Cluster{ClusterID: "app.php.php.domain", ServiceName: "php", AppID: "app", AutoscalePolicyName: "as",
			DeploymentPolicyName: "dep", Properties: model.Properties{"MIN_COUNT": "2", "MAX_COUNT": "6"}}
		fb.deliver(model.SubscribeTopology, &model.ClusterCreatedEvent{Cluster: cl})
		synctest.Wait()
		if n := st.count(); n != 2 {
			t.Fatalf("%d starts after ClusterCreated, want 2 (min)", n)
		}
		for i := 1; i <= 2; i++ {
			fb.deliver(model.SubscribeTopology, &model.MemberActivatedEvent{ClusterID: cl.ClusterID, ClusterInstanceID: "php-1",
				MemberID: cl.ClusterID + "-m" + string(rune('0'+i))})
		}
		time.Sleep(10 * time.Second)
		t0 := time.Now()
		for k, v := range map[model.SummaryKind]float64{model.AverageRequestsInFlight: 100, model.GradientOfRequestsInFlight: 0, model.SecondDerivativeOfRequestsInFlight: 0} {
			fb.deliver(model.SubscribeHealthStats, &model.Summary{Kind: k, ClusterID: cl.ClusterID, ClusterInstanceID: "php-1", NetworkPartitionID: "np1", Value: v})
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n := st.count(); n != 5 {
			t.Fatalf("%d starts, want 5 (RIF 100 / 20 requires 5)", n)
		}
		st.mu.Lock()
		lag := st.starts[2].Sub(t0)
		st.mu.Unlock()
		if lag != DefaultSettle {
			t.Errorf("started %v after the summaries, want Settle (%v)", lag, DefaultSettle)
		}
		fb.mu.Lock()
		activated := false
		for _, e := range fb.out {
			_, ok := e.(*model.ClusterStatusClusterActivatedEvent)
			activated = activated || ok
		}
		fb.mu.Unlock()
		if !activated {
			t.Error("no ClusterStatusClusterActivatedEvent")
		}
	})
}

// TestRunWaitsForCompleteTopology: after a restart the manager registers its deployed clusters
// at once, before the controller's complete topology has reached the autoscaler. Run decides
// nothing until it has the topology (asking again every TopologyRequestInterval), so the min
// check counts the members that still run instead of starting duplicates of them.
func TestRunWaitsForCompleteTopology(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &recStarter{}
		fb := &fakeBus{handlers: map[string]bus.EventHandler{}} // no answer to the requests
		a, err := New(Options{Policies: &staticPolicies{buildSet(t, scalingPolicies("round-robin", "enforce", ""))}, Starter: st, Bus: fb})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		defer func() { cancel(); <-done }()
		const clusterID = "app.php.php.domain"
		if err := a.RegisterCluster(ClusterSpec{ClusterID: clusterID, InstanceID: "php-1", NetworkPartition: "np1",
			ServiceName: "php", ApplicationID: "app", Min: 2, Max: 6, AutoscalePolicy: "as", DeploymentPolicy: "dep"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(TopologyRequestInterval + time.Second)
		synctest.Wait()
		if n := st.count(); n != 0 {
			t.Fatalf("%d starts before the complete topology arrived, want 0", n)
		}
		if n := fb.requests(); n != 2 {
			t.Errorf("%d CompleteTopologyRequestEvents after %v, want 2 (at start, then again)", n, TopologyRequestInterval+time.Second)
		}

		// The topology shows one of the two members still running: one start, not two.
		m := &model.Member{ServiceName: "php", ClusterID: clusterID, MemberID: "survivor", ClusterInstanceID: "php-1", NetworkPartitionID: "np1", PartitionID: "p1"}
		m.PushStatus(model.MemberActive)
		ci := &model.ClusterInstance{InstanceID: "php-1", NetworkPartitionID: "np1"}
		ci.LifeCycleStateManager.Push(model.ClusterActive)
		cl := &model.Cluster{ClusterID: clusterID, ServiceName: "php", AppID: "app", AutoscalePolicyName: "as", DeploymentPolicyName: "dep",
			MemberMap: map[string]*model.Member{m.MemberID: m}, InstanceIDToInstanceContextMap: map[string]*model.ClusterInstance{"php-1": ci}}
		fb.deliver(model.SubscribeTopology, &model.CompleteTopologyEvent{Topology: &model.Topology{ServiceMap: map[string]*model.Service{
			"php": {ServiceName: "php", ClusterIDClusterMap: map[string]*model.Cluster{clusterID: cl}}}}})
		time.Sleep(time.Second)
		synctest.Wait()
		if n := st.count(); n != 1 {
			t.Errorf("%d starts after the topology showed 1 of min 2 running, want 1", n)
		}
		if n := fb.requests(); n != 2 {
			t.Errorf("%d CompleteTopologyRequestEvents, want no more once the topology arrived", n)
		}
	})
}

// TestRegisterAfterCompleteTopology: a cluster registered after the complete topology went by
// (the manager's resync after a restart) learns its running members from it, except those
// terminated since, or whose cluster instance was terminated since (the instance registered is
// a new one with the same id), so the min check replaces only what is gone.
func TestRegisterAfterCompleteTopology(t *testing.T) {
	for _, tc := range []struct {
		name       string
		terminated []string // MemberTerminatedEvents between the topology and the registration
		instance   bool     // a ClusterInstanceTerminatedEvent of php-1 between them
		wantStarts int
	}{
		{name: "both running", wantStarts: 0},
		{name: "one terminated since", terminated: []string{"b"}, wantStarts: 1},
		{name: "instance terminated since", instance: true, wantStarts: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, buildSet(t, scalingPolicies("round-robin", "enforce", "")), nil)
			const clusterID = "app.php.php.domain"
			mk := func(id string) *model.Member {
				m := &model.Member{ClusterID: clusterID, MemberID: id, ClusterInstanceID: "php-1", NetworkPartitionID: "np1", PartitionID: "p1"}
				m.PushStatus(model.MemberActive)
				return m
			}
			// No MIN_COUNT: the topology alone does not create the monitor.
			cl := &model.Cluster{ClusterID: clusterID, ServiceName: "php", AppID: "app", AutoscalePolicyName: "as", DeploymentPolicyName: "dep",
				MemberMap: map[string]*model.Member{"a": mk("a"), "b": mk("b")}}
			s.a.HandleEvent(&model.CompleteTopologyEvent{Topology: &model.Topology{ServiceMap: map[string]*model.Service{
				"php": {ServiceName: "php", ClusterIDClusterMap: map[string]*model.Cluster{clusterID: cl}}}}})
			for _, id := range tc.terminated {
				s.a.HandleEvent(&model.MemberTerminatedEvent{ServiceName: "php", ClusterID: clusterID, ClusterInstanceID: "php-1", MemberID: id})
			}
			if tc.instance {
				s.a.HandleEvent(&model.ClusterInstanceTerminatedEvent{ServiceName: "php", ClusterID: clusterID, InstanceID: "php-1"})
			}
			register(t, s.a, 2, 6)
			s.advance(epoch.Add(10 * time.Second))
			if len(s.starts) != tc.wantStarts {
				t.Errorf("%d starts, want %d", len(s.starts), tc.wantStarts)
			}
		})
	}
}

// TestNotDefinedRIFSpread checks §4.2: RIF from a load balancer that does not know the instance
// is spread over the network partition's instances by active members.
func TestNotDefinedRIFSpread(t *testing.T) {
	s := newSim(t, buildSet(t, scalingPolicies("round-robin", "enforce", "")), nil)
	a := s.a
	for _, id := range []string{"php-1", "php-2"} {
		if err := a.RegisterCluster(ClusterSpec{ClusterID: "c", InstanceID: id, NetworkPartition: "np1", Min: 0, Max: 6,
			AutoscalePolicy: "as", DeploymentPolicy: "dep"}); err != nil {
			t.Fatal(err)
		}
	}
	a.mu.Lock()
	in1, in2 := a.clusters["c"].instances["php-1"], a.clusters["c"].instances["php-2"]
	a.mu.Unlock()
	a.HandleEvent(&model.MemberActivatedEvent{ClusterID: "c", ClusterInstanceID: "php-1", MemberID: "m1", PartitionID: "p1"})
	a.HandleEvent(&model.MemberActivatedEvent{ClusterID: "c", ClusterInstanceID: "php-2", MemberID: "m2", PartitionID: "p1"})
	a.HandleEvent(&model.MemberActivatedEvent{ClusterID: "c", ClusterInstanceID: "php-2", MemberID: "m3", PartitionID: "p2"})
	a.HandleSummary(model.Summary{Kind: model.AverageRequestsInFlight, ClusterID: "c", ClusterInstanceID: model.NotDefined, NetworkPartitionID: "np1", Value: 90})
	a.mu.Lock()
	defer a.mu.Unlock()
	if in1.fam[familyRIF].avg != 30 || in2.fam[familyRIF].avg != 60 {
		t.Errorf("spread %v and %v, want 30 and 60", in1.fam[familyRIF].avg, in2.fam[familyRIF].avg)
	}
}

// TestRestartFromCompleteTopology: after a restart the monitors are rebuilt from the topology
// (StratosServerRestartTestCase): running members are adopted, nothing extra starts, and a
// killed member is still replaced.
func TestRestartFromCompleteTopology(t *testing.T) {
	s := newSim(t, buildSet(t, scalingPolicies("round-robin", "enforce", "")), nil)
	mk := func(id, part string) *model.Member {
		m := &model.Member{ClusterID: "app.php.php.domain", MemberID: id, ClusterInstanceID: "php-1", NetworkPartitionID: "np1", PartitionID: part}
		m.PushStatus(model.MemberActive)
		return m
	}
	ci := &model.ClusterInstance{InstanceID: "php-1", NetworkPartitionID: "np1"}
	ci.LifeCycleStateManager.Push(model.ClusterActive)
	cl := &model.Cluster{ClusterID: "app.php.php.domain", ServiceName: "php", AutoscalePolicyName: "as", DeploymentPolicyName: "dep",
		Properties:                     model.Properties{"MIN_COUNT": "2", "MAX_COUNT": "6"},
		MemberMap:                      map[string]*model.Member{"a": mk("a", "p1"), "b": mk("b", "p2")},
		InstanceIDToInstanceContextMap: map[string]*model.ClusterInstance{"php-1": ci}}
	s.a.HandleEvent(&model.CompleteTopologyEvent{Topology: &model.Topology{ServiceMap: map[string]*model.Service{
		"php": {ServiceName: "php", ClusterIDClusterMap: map[string]*model.Cluster{cl.ClusterID: cl}}}}})
	s.advance(epoch.Add(time.Minute))
	if len(s.starts) != 0 {
		t.Fatalf("%d starts after adopting 2 running members with min 2", len(s.starts))
	}
	s.a.HandleSummary(model.Summary{Kind: model.MemberFault, ClusterID: cl.ClusterID, ClusterInstanceID: "php-1", MemberID: "a"})
	s.advance(epoch.Add(2 * time.Minute))
	if len(s.starts) != 1 || len(s.terms) == 0 || s.terms[0] != "a" { // repeated until MemberTerminated
		t.Errorf("after the fault: starts %v, terminations %v", len(s.starts), s.terms)
	}
}

// TestHandleSummaryAllocs pins the summary path at 0 allocations.
func TestHandleSummaryAllocs(t *testing.T) {
	s := newSim(t, buildSet(t, scalingPolicies("round-robin", "enforce", "")), nil)
	register(t, s.a, 1, 6)
	s.a.HandleEvent(&model.MemberActivatedEvent{ClusterID: "app.php.php.domain", ClusterInstanceID: "php-1", MemberID: "m", PartitionID: "p1"})
	sums := []model.Summary{
		{Kind: model.AverageLoadAverage, ClusterID: "app.php.php.domain", ClusterInstanceID: "php-1", NetworkPartitionID: "np1", Value: 3},
		{Kind: model.GradientOfLoadAverage, ClusterID: "app.php.php.domain", ClusterInstanceID: "php-1", NetworkPartitionID: "np1", Value: 3},
		{Kind: model.SecondDerivativeOfLoadAverage, ClusterID: "app.php.php.domain", ClusterInstanceID: "php-1", NetworkPartitionID: "np1", Value: 3},
		{Kind: model.MemberAverageLoadAverage, ClusterID: "app.php.php.domain", ClusterInstanceID: "php-1", MemberID: "m", Value: 3},
	}
	allocs := testing.AllocsPerRun(200, func() {
		for _, sm := range sums {
			s.a.HandleSummary(sm)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per summary burst, want 0", allocs)
	}
}

type failingStarter struct {
	recStarter
	fail bool
}

func (f *failingStarter) StartMember(ctx context.Context, req StartRequest) (model.Member, error) {
	if f.fail {
		return model.Member{}, errors.New("iaas down")
	}
	return f.recStarter.StartMember(ctx, req)
}

// TestStartFailureRetried: a failed start leaves no phantom pending member; the next round's min
// check starts again.
func TestStartFailureRetried(t *testing.T) {
	clock := newFakeClock()
	st := &failingStarter{fail: true}
	a, err := New(Options{Policies: &staticPolicies{buildSet(t, scalingPolicies("round-robin", "enforce", ""))}, Starter: st, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	register(t, a, 2, 6)
	a.Evaluate(context.Background())
	if s := a.Stats(); s.StartErrors != 2 || s.Members != 0 {
		t.Fatalf("stats %+v", s)
	}
	st.fail = false
	clock.Set(epoch.Add(DefaultMonitorInterval))
	a.Evaluate(context.Background())
	if n := st.count(); n != 2 {
		t.Fatalf("%d starts after the controller came back, want 2", n)
	}
}

func TestHandleEventByValue(t *testing.T) {
	s := newSim(t, buildSet(t, scalingPolicies("round-robin", "enforce", "")), nil)
	register(t, s.a, 0, 6)
	s.a.HandleEvent(model.MemberActivatedEvent{ClusterID: "app.php.php.domain", ClusterInstanceID: "php-1", MemberID: "m", PartitionID: "p1"})
	if s.a.Stats().Members != 1 {
		t.Error("a MemberActivatedEvent passed by value was ignored")
	}
}

// TestDeploymentPolicyChange: a partition that leaves the deployment policy is drained through
// the graceful protocol and removed; the min check replaces its members in the partitions left.
func TestDeploymentPolicyChange(t *testing.T) {
	src := &staticPolicies{buildSet(t, scalingPolicies("round-robin", "enforce", ""))}
	s := newSim(t, src.set, nil)
	s.a.opts.Policies = src
	register(t, s.a, 2, 6)
	s.advance(epoch.Add(time.Minute))
	if _, by := s.running(); by["p1"] != 1 || by["p2"] != 1 {
		t.Fatalf("running by partition %v", by)
	}
	one := strings.Replace(scalingPolicies("round-robin", "enforce", ""), "      - {id: p2, partitionMax: 3}\n", "", 1)
	src.set = buildSet(t, one)
	s.advance(epoch.Add(6 * time.Minute))
	n, by := s.running()
	if n != 2 || by["p1"] != 2 {
		t.Errorf("after removing p2: %d running, by partition %v", n, by)
	}
	s.a.mu.Lock()
	parts := len(s.a.clusters["app.php.php.domain"].instances["php-1"].parts)
	s.a.mu.Unlock()
	if parts != 1 {
		t.Errorf("%d partition contexts, want 1", parts)
	}
}
