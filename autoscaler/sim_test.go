package autoscaler

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/clock"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// The hand-written fakes of the autoscaler's consumer-side interfaces, and a simulated world: a
// cloud controller with mock members (§8.1) and a CEP that summarizes their health every minute.

var epoch = time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC) // a Monday noon

// fakeClock is the tests' manual clock: it moves when a test sets or advances it.
type fakeClock = clock.Manual

func newFakeClock() *fakeClock { return clock.NewManual(epoch) }

type staticPolicies struct{ set *policies.Set }

func (s *staticPolicies) Set() *policies.Set { return s.set }

type fakeRecorder struct {
	mu sync.Mutex
	ds []model.Decision
}

func (r *fakeRecorder) RecordDecision(d model.Decision) bool {
	r.mu.Lock()
	r.ds = append(r.ds, d)
	r.mu.Unlock()
	return true
}

func (r *fakeRecorder) all() []model.Decision {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]model.Decision(nil), r.ds...)
}

// buildSet decodes YAML policy documents (and Rego modules) into a Set.
func buildSet(t testing.TB, yamlDocs string, rego ...string) *policies.Set {
	t.Helper()
	ps, err := policies.DecodeYAML("test.yaml", []byte(yamlDocs))
	if err != nil {
		t.Fatalf("decode policies: %v", err)
	}
	for i, r := range rego {
		ps = append(ps, policies.NewGovernance(fmt.Sprintf("gov%d.rego", i), fmt.Sprintf("gov%d.rego", i), r))
	}
	set, err := policies.Empty().With(context.Background(), ps...)
	if err != nil {
		t.Fatalf("build set: %v", err)
	}
	return set
}

// scalingPolicies are the resources of SingleClusterScalingTestCase: thresholds RIF 20 / MC 30 /
// LA 25, two partitions of max 3, round-robin (or the algorithm given).
func scalingPolicies(algo string, mode string, extra string) string {
	return fmt.Sprintf(`kind: NetworkPartition
id: np1
provider: mock
partitions:
  - id: p1
  - id: p2
---
kind: DeploymentPolicy
id: dep
networkPartitions:
  - id: np1
    partitionAlgo: %s
    partitions:
      - {id: p1, partitionMax: 3}
      - {id: p2, partitionMax: 3}
---
kind: AutoscalingPolicy
id: as
mode: %s
loadThresholds:
  requestsInFlight: {threshold: 20}
  memoryConsumption: {threshold: 30}
  loadAverage: {threshold: 25}
%s`, algo, mode, extra)
}

// simMember is a mock instance (§8.1).
type simMember struct {
	id, cluster, instance, np, partition string
	started, activeAt                    time.Time
	active, killed, gone                 bool
	samples                              []sampleAt
}

type sampleAt struct {
	at     time.Time
	la, mc float64
}

type startCall struct {
	at  time.Time
	req StartRequest
}

// sim plays the cloud controller, the mock members and the CEP. The autoscaler calls it (the
// starter and the bus) from Evaluate; the test's loop advances time and delivers what is due.
type sim struct {
	t       testing.TB
	clock   *fakeClock
	a       *Autoscaler
	mu      sync.Mutex
	members map[string]*simMember
	order   []string
	n       int
	pattern func(since time.Duration) (la, mc float64) // by time since the first start, shared
	first   time.Time
	starts  []startCall
	terms   []string
	events  []model.Event // published by the autoscaler
	later   []timed       // events the world will send to the autoscaler
	lastWin time.Time
	// firstHigh is the time of the first health sample above the thresholds.
	firstHigh time.Time
}

type timed struct {
	at time.Time
	e  model.Event
}

const activation = 30 * time.Second

func (s *sim) StartMember(_ context.Context, req StartRequest) (model.Member, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.n++
	id := fmt.Sprintf("%s-m%02d", req.ClusterID, s.n)
	m := &simMember{id: id, cluster: req.ClusterID, instance: req.ClusterInstanceID, np: req.NetworkPartitionID,
		partition: req.PartitionID, started: now}
	s.members[id] = m
	s.order = append(s.order, id)
	s.starts = append(s.starts, startCall{at: now, req: req})
	if s.first.IsZero() {
		s.first = now
	}
	s.later = append(s.later, timed{now.Add(activation), &model.MemberActivatedEvent{ClusterID: req.ClusterID,
		ClusterInstanceID: req.ClusterInstanceID, MemberID: id, NetworkPartitionID: req.NetworkPartitionID, PartitionID: req.PartitionID}})
	mm := model.Member{ClusterID: req.ClusterID, MemberID: id, ClusterInstanceID: req.ClusterInstanceID,
		NetworkPartitionID: req.NetworkPartitionID, PartitionID: req.PartitionID}
	mm.PushStatus(model.MemberCreated)
	return mm, nil
}

func (s *sim) TerminateMember(_ context.Context, memberID string, forced bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.members[memberID]
	if m == nil {
		s.terms = append(s.terms, memberID) // a member from before the sim (a restart)
		return nil
	}
	if m.gone {
		return nil
	}
	m.gone = true
	s.terms = append(s.terms, memberID)
	s.later = append(s.later, timed{s.clock.Now().Add(2 * time.Second), &model.MemberTerminatedEvent{ClusterID: m.cluster,
		MemberID: m.id, ClusterInstanceID: m.instance, NetworkPartitionID: m.np, PartitionID: m.partition}})
	return nil
}

func (s *sim) PublishEvent(_ context.Context, e model.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
	if c, ok := e.(*model.InstanceCleanupMemberEvent); ok {
		if m := s.members[c.MemberID]; m != nil && !m.gone && !m.killed {
			now := s.clock.Now()
			base := model.MemberMaintenanceModeEvent{ClusterID: m.cluster, ClusterInstanceID: m.instance, MemberID: m.id,
				NetworkPartitionID: m.np, PartitionID: m.partition}
			rts := model.MemberReadyToShutdownEvent(base)
			s.later = append(s.later, timed{now.Add(time.Second), &base}, timed{now.Add(3 * time.Second), &rts})
			m.active = false
		}
	}
	return nil
}

func (s *sim) Publish(context.Context, string, []byte, byte) error { return nil }
func (s *sim) SubscribeEvents(context.Context, string, bus.EventHandler) error {
	return nil
}

// newSim builds an autoscaler on the simulated world.
func newSim(t testing.TB, set *policies.Set, rec *fakeRecorder) *sim {
	s := &sim{t: t, clock: newFakeClock(), members: map[string]*simMember{}, lastWin: epoch}
	opts := Options{Policies: &staticPolicies{set}, Starter: s, Bus: s, Clock: s.clock}
	if rec != nil {
		opts.Recorder = rec
	}
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.a = a
	return s
}

// advance runs the world to `until` in steps of 250 ms: due events go to the autoscaler, mock
// members sample every 15 s, the CEP summarizes every minute, and the autoscaler evaluates.
func (s *sim) advance(until time.Time) {
	const step = 250 * time.Millisecond
	for now := s.clock.Now(); !now.After(until); now = now.Add(step) {
		s.clock.Set(now)
		s.deliver(now)
		s.sample(now)
		if !now.Before(s.lastWin.Add(time.Minute)) {
			s.lastWin = now
			s.summarize(now)
		}
		s.a.Evaluate(context.Background())
	}
}

func (s *sim) deliver(now time.Time) {
	s.mu.Lock()
	var due []model.Event
	keep := s.later[:0]
	for _, e := range s.later {
		if !e.at.After(now) {
			due = append(due, e.e)
		} else {
			keep = append(keep, e)
		}
	}
	s.later = keep
	for _, e := range due {
		if ev, ok := e.(*model.MemberActivatedEvent); ok {
			if m := s.members[ev.MemberID]; m != nil && !m.gone && !m.killed {
				m.active, m.activeAt = true, now
			}
		}
	}
	s.mu.Unlock()
	for _, e := range due {
		s.a.HandleEvent(e)
	}
}

func (s *sim) sample(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pattern == nil || s.first.IsZero() {
		return
	}
	for _, id := range s.order {
		m := s.members[id]
		if !m.active || m.gone || m.killed {
			continue
		}
		if n := len(m.samples); n > 0 && now.Sub(m.samples[n-1].at) < 15*time.Second {
			continue
		}
		la, mc := s.pattern(now.Sub(s.first))
		m.samples = append(m.samples, sampleAt{at: now, la: la, mc: mc})
		if s.firstHigh.IsZero() && (la > 25 || mc > 30) {
			s.firstHigh = now
		}
	}
}

// summarize is the CEP's one-minute window (§3.3): per member and per cluster instance, the
// average, gradient (first and last event, per second, 1 s floor) and second derivative.
func (s *sim) summarize(now time.Time) {
	s.mu.Lock()
	type key struct{ c, i, np string }
	cl := map[key][]sampleAt{}
	var out []model.Summary
	for _, id := range s.order {
		m := s.members[id]
		var win []sampleAt
		for _, x := range m.samples {
			if now.Sub(x.at) < time.Minute && !x.at.After(now) {
				win = append(win, x)
			}
		}
		if len(win) == 0 {
			continue
		}
		k := key{m.cluster, m.instance, m.np}
		cl[k] = append(cl[k], win...)
		la, mc := stats(win)
		base := model.Summary{ClusterID: m.cluster, ClusterInstanceID: m.instance, NetworkPartitionID: m.np, MemberID: m.id}
		for _, v := range []struct {
			k model.SummaryKind
			v float64
		}{{model.MemberAverageLoadAverage, la[0]}, {model.MemberGradientOfLoadAverage, la[1]},
			{model.MemberSecondDerivativeOfLoadAverage, la[2]}, {model.MemberAverageMemoryConsumption, mc[0]},
			{model.MemberGradientOfMemoryConsumption, mc[1]}} {
			sm := base
			sm.Kind, sm.Value = v.k, v.v
			out = append(out, sm)
		}
	}
	for k, win := range cl {
		sort.Slice(win, func(i, j int) bool { return win[i].at.Before(win[j].at) })
		la, mc := stats(win)
		base := model.Summary{ClusterID: k.c, ClusterInstanceID: k.i, NetworkPartitionID: k.np}
		for _, v := range []struct {
			k model.SummaryKind
			v float64
		}{{model.AverageLoadAverage, la[0]}, {model.GradientOfLoadAverage, la[1]}, {model.SecondDerivativeOfLoadAverage, la[2]},
			{model.AverageMemoryConsumption, mc[0]}, {model.GradientOfMemoryConsumption, mc[1]},
			{model.SecondDerivativeOfMemoryConsumption, mc[2]}} {
			sm := base
			sm.Kind, sm.Value = v.k, v.v
			out = append(out, sm)
		}
	}
	s.mu.Unlock()
	for _, sm := range out {
		s.a.HandleSummary(sm)
	}
}

func stats(win []sampleAt) (la, mc [3]float64) {
	for _, x := range win {
		la[0] += x.la
		mc[0] += x.mc
	}
	la[0] /= float64(len(win))
	mc[0] /= float64(len(win))
	grad := func(v1, v2 float64, t1, t2 time.Time) float64 {
		gap := max(t2.Sub(t1).Milliseconds(), 1000)
		return (v2 - v1) * 1000 / float64(gap)
	}
	f, l := win[0], win[len(win)-1]
	la[1] = grad(f.la, l.la, f.at, l.at)
	mc[1] = grad(f.mc, l.mc, f.at, l.at)
	return la, mc
}

// kill terminates a member behind the autoscaler's back (the mock IaaS DELETE): it goes
// silent, and the CEP reports it faulty a minute later (§3.5).
func (s *sim) kill(id string) {
	s.mu.Lock()
	m := s.members[id]
	m.killed, m.active = true, false
	s.later = append(s.later, timed{s.clock.Now().Add(75 * time.Second), model.Summary{Kind: model.MemberFault,
		ClusterID: m.cluster, ClusterInstanceID: m.instance, NetworkPartitionID: m.np, MemberID: m.id, PartitionID: m.partition}})
	s.mu.Unlock()
}

// activeMembers counts the members the world considers running.
func (s *sim) running() (n int, byPartition map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	byPartition = map[string]int{}
	for _, m := range s.members {
		if !m.gone && !m.killed {
			n++
			byPartition[m.partition]++
		}
	}
	return n, byPartition
}
