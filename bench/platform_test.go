package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/strata-paas/strata/autoscaler"
	"github.com/strata-paas/strata/cep"
	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/controller/mock"
	"github.com/strata-paas/strata/internal/app"
	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
	"github.com/strata-paas/strata/manager"
	"github.com/strata-paas/strata/policies"
)

// Short timings: Stratos' 60 s window, 15 s stats, 90 s tick and 60 s fault timeout scaled down
// so that a scenario takes seconds.
const (
	defaultWindow          = 2 * time.Second
	defaultHealthInterval  = 250 * time.Millisecond
	defaultMonitorInterval = time.Second
	defaultFaultTimeout    = 3 * time.Second
	defaultSettle          = 100 * time.Millisecond

	// poll is how often a condition is checked; startTimeout bounds the platform's start.
	poll         = 50 * time.Millisecond
	startTimeout = 20 * time.Second
)

// options say how a platform is wired; zero values take the short defaults above.
type options struct {
	Window          time.Duration // CEP window
	HealthInterval  time.Duration // mock members' health interval
	MonitorInterval time.Duration // autoscaler monitor tick
	FaultTimeout    time.Duration // CEP silence timeout
	Settle          time.Duration // autoscaler settle after fresh metrics
	// Patterns by cartridge type (mock.Options.Patterns), or a pattern file (--mock-health);
	// neither: the mock's default patterns.
	Patterns   map[string][]mock.Pattern
	HealthFile string
	// Policies are put into the policy store before the autoscaler starts.
	Policies []policies.Policy
	// Threshold: the first memory_consumption sample published above it is timed (reaction).
	Threshold float64
}

// platform is every component of `strata up` that scaling involves, running in this process.
type platform struct {
	t       testing.TB
	opts    options
	ctrl    *controller.Controller
	mock    *mock.Driver
	engine  *cep.Engine
	scaler  *autoscaler.Autoscaler
	store   *policies.Store
	history manager.History
	bus     *bus.Client

	starts     callLog
	firstAbove atomic.Int64 // UnixNano of the first sample published above opts.Threshold
	health     healthLog    // when each member's memory_consumption samples went to the CEP
	events     eventLog     // topology events seen on the bus
	logs       *testenv.Buffer
	stop       func() // stops the platform (also at the end of the test)
}

// startPlatform runs the platform of `strata up` (internal/app) in this process, with short
// timings, until the test ends.
func startPlatform(t testing.TB, o options) *platform {
	t.Helper()
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.Window, defaultWindow)
	def(&o.HealthInterval, defaultHealthInterval)
	def(&o.MonitorInterval, defaultMonitorInterval)
	def(&o.FaultTimeout, defaultFaultTimeout)
	def(&o.Settle, defaultSettle)

	p := &platform{t: t, opts: o, logs: &testenv.Buffer{}}
	log := slog.New(slog.NewTextHandler(p.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := app.New(app.Options{
		DataDir:    t.TempDir(),
		API:        "127.0.0.1:0",
		MQTTListen: "127.0.0.1:0",
		// The members' data bridge: TLS only, as members use it.
		CEP: app.CEPOptions{ThriftTLS: "127.0.0.1:0", Window: o.Window, FaultTimeout: o.FaultTimeout,
			FaultCheckInterval: 100 * time.Millisecond, StartupGrace: -1},
		AdminPassword: "bench-secret",
		// Every member started hashes its agent account's password: at bcrypt's default cost that
		// takes seconds under -race, which is not what the scenarios measure.
		PasswordCost:    bcrypt.MinCost,
		MockInterval:    o.HealthInterval,
		MockResolution:  o.HealthInterval / 5,
		MockPatterns:    o.Patterns,
		MockHealthFile:  o.HealthFile,
		CleanupInterval: 500 * time.Millisecond,
		GracefulTimeout: 30 * time.Second, // longer than any scenario: a member that needs it is a bug
		MonitorInterval: o.MonitorInterval,
		Settle:          o.Settle,
		DecisionHistory: 4096,
		Logger:          log,
		Stdout:          io.Discard,
		WrapPublish:     p.timedPublish,
		WrapStarter:     func(next app.Starter) app.Starter { return &starter{next: next, log: &p.starts} },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var stopOnce sync.Once
	p.stop = func() {
		stopOnce.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("platform: %v", err)
				}
			case <-time.After(startTimeout):
				t.Errorf("platform did not stop within %v", startTimeout)
			}
			if t.Failed() {
				t.Logf("platform log:\n%s", p.logs.String())
			}
		})
	}
	t.Cleanup(p.stop)

	// Ready: the controller has subscribed and adopted, the mock and the autoscaler have
	// subscribed (so no lifecycle event of the first members is missed).
	select {
	case <-a.Ready():
	case err := <-done:
		done <- err
		t.Fatalf("platform: %v", err)
	case <-time.After(startTimeout):
		t.Fatal("the platform did not become ready")
	}
	p.ctrl, p.mock, p.engine, p.scaler, p.store, p.history, p.bus =
		a.Controller(), a.Mock(), a.CEP(), a.Autoscaler(), a.Policies(), a.History(), a.Bus()
	if err := p.bus.SubscribeEvents(ctx, "topology/#", p.events.add); err != nil {
		t.Fatal(err)
	}
	// Policies are in the store before a test creates clusters.
	if len(o.Policies) > 0 {
		if _, err := p.store.Update(func(s *policies.Set) (*policies.Set, error) { return s.With(ctx, o.Policies...) }); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// timedPublish wraps the mock's publisher: it notes when the first memory_consumption sample
// above opts.Threshold goes out (the start of the reaction time).
func (p *platform) timedPublish(next mock.PublishFunc) mock.PublishFunc {
	return func(ctx context.Context, samples []model.HealthSample) error {
		if p.opts.Threshold > 0 && p.firstAbove.Load() == 0 {
			for _, s := range samples {
				if s.Metric == model.MetricMemoryConsumption && s.Value > p.opts.Threshold {
					p.firstAbove.CompareAndSwap(0, time.Now().UnixNano())
					break
				}
			}
		}
		p.health.add(samples)
		return next(ctx, samples)
	}
}

// healthLog records when each member's memory_consumption samples were published.
type healthLog struct {
	mu sync.Mutex
	at map[string][]time.Time
}

func (l *healthLog) add(samples []model.HealthSample) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.at == nil {
		l.at = map[string][]time.Time{}
	}
	for _, s := range samples {
		if s.Metric == model.MetricMemoryConsumption {
			l.at[s.MemberID] = append(l.at[s.MemberID], now)
		}
	}
}

// since returns the times of a member's samples at or after t.
func (l *healthLog) since(member string, t time.Time) []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []time.Time
	for _, at := range l.at[member] {
		if !at.Before(t) {
			out = append(out, at)
		}
	}
	return out
}

// starter wraps the platform's starter (the controller) and logs every call with its time.
type starter struct {
	next app.Starter
	log  *callLog
}

func (s *starter) StartMember(ctx context.Context, r autoscaler.StartRequest) (model.Member, error) {
	at := time.Now()
	// The controller records the member (Recorded) in the order the round decided, then the
	// starts run in parallel and return in any order: Seq is the record order.
	seq := -1
	recorded := r.Recorded
	r.Recorded = func() {
		seq = s.log.ticket()
		if recorded != nil {
			recorded()
		}
	}
	m, err := s.next.StartMember(ctx, r)
	if seq < 0 {
		seq = s.log.ticket()
	}
	s.log.add(call{At: at, Start: true, Req: r, MemberID: m.MemberID, Err: err, Seq: seq})
	return m, err
}

func (s *starter) TerminateMember(ctx context.Context, memberID string, forced bool) error {
	s.log.add(call{At: time.Now(), MemberID: memberID, Forced: forced})
	return s.next.TerminateMember(ctx, memberID, forced)
}

// call is one StartMember or TerminateMember call the autoscaler made.
type call struct {
	At       time.Time
	Start    bool
	Req      autoscaler.StartRequest
	MemberID string // the member started or terminated
	Forced   bool
	Err      error
	Seq      int // a start's place in the order the controller recorded the members
}

type callLog struct {
	mu    sync.Mutex
	calls []call
	seq   int
}

// ticket numbers the members in the order the controller records them.
func (l *callLog) ticket() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	return l.seq
}

func (l *callLog) add(c call) {
	l.mu.Lock()
	l.calls = append(l.calls, c)
	l.mu.Unlock()
}

// startCalls returns the StartMember calls so far.
func (l *callLog) startCalls() []call {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []call
	for _, c := range l.calls {
		if c.Start {
			out = append(out, c)
		}
	}
	return out
}

// eventLog keeps the topology events seen on the bus, with their arrival time.
type eventLog struct {
	mu     sync.Mutex
	events []timedEvent
}

type timedEvent struct {
	At    time.Time
	Event model.Event
}

func (l *eventLog) add(_ string, e model.Event) {
	l.mu.Lock()
	l.events = append(l.events, timedEvent{At: time.Now(), Event: e})
	l.mu.Unlock()
}

func (l *eventLog) snapshot() []timedEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// waitFor polls cond every 50 ms until it holds or the deadline passes.
func (p *platform) waitFor(what string, within time.Duration, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(poll)
	}
}

// cluster returns the cluster's current topology (nil before it exists).
func (p *platform) cluster(id string) *model.Cluster {
	return p.ctrl.Topology().Cluster(id)
}

// members returns the cluster's members in the given states (all when none are given), sorted by
// init time.
func (p *platform) members(clusterID string, states ...model.MemberStatus) []model.Member {
	var out []model.Member
	for _, m := range p.ctrl.Members(clusterID) {
		if len(states) == 0 || slices.Contains(states, m.Status()) {
			out = append(out, m)
		}
	}
	return out
}

// active counts the cluster's Active members.
func (p *platform) active(clusterID string) int {
	return len(p.members(clusterID, model.MemberActive))
}

// instanceStatus returns the status of a cluster instance in the topology ("" when absent).
func (p *platform) instanceStatus(clusterID, instanceID string) model.ClusterStatus {
	c := p.cluster(clusterID)
	if c == nil || c.InstanceIDToInstanceContextMap[instanceID] == nil {
		return ""
	}
	return c.InstanceIDToInstanceContextMap[instanceID].Status()
}

// decisions returns the autoscaler's recorded decisions of a cluster, oldest first.
func (p *platform) decisions(clusterID string) []model.Decision {
	return p.scaler.Decisions(clusterID, 4096)
}

// trace decodes a decision's trace or fails the test.
func (p *platform) trace(d model.Decision) autoscaler.Trace {
	p.t.Helper()
	tr, err := autoscaler.DecodeTrace(d)
	if err != nil {
		p.t.Fatalf("decode trace of %s: %v", d.ID, err)
	}
	return tr
}

// deploy registers the php cartridge and the mock network partitions with the controller (the
// Stratos samples, as the REST API receives them).
func (p *platform) deploy() {
	p.t.Helper()
	ctx := p.t.Context()
	if err := p.ctrl.AddCartridge(ctx, sample[model.Cartridge](p.t, "cartridges__mock__php.json")); err != nil {
		p.t.Fatal(err)
	}
	for _, f := range []string{"network-partitions__mock__network-partition-1.json", "network-partitions__mock__network-partition-2.json"} {
		if err := p.ctrl.AddNetworkPartition(ctx, sample[model.NetworkPartition](p.t, f)); err != nil {
			p.t.Fatal(err)
		}
	}
}

// clusterDef is one cluster of an application on the php cartridge.
type clusterDef struct {
	App, Alias       string
	Min, Max         int
	AutoscalePolicy  string
	DeploymentPolicy string
	NetworkPartition string
	// ViaProperties creates the cluster with MIN_COUNT/MAX_COUNT properties, so the autoscaler
	// adopts it from ClusterCreatedEvent instead of RegisterCluster.
	ViaProperties bool
}

func (d clusterDef) id() string       { return model.ClusterID(d.App, d.Alias, "php") }
func (d clusterDef) instance() string { return model.InstanceID(d.Alias, 1) }

// createCluster creates the cluster in the controller and registers it with the autoscaler.
func (p *platform) createCluster(d clusterDef) {
	p.t.Helper()
	spec := controller.ClusterSpec{ClusterID: d.id(), ServiceName: "php", AppID: d.App, Alias: d.Alias,
		AutoscalePolicy: d.AutoscalePolicy, DeploymentPolicy: d.DeploymentPolicy}
	if d.ViaProperties {
		spec.Properties = []model.NameValue{{Name: "MIN_COUNT", Value: model.String(fmt.Sprint(d.Min))},
			{Name: "MAX_COUNT", Value: model.String(fmt.Sprint(d.Max))}}
	}
	if err := p.ctrl.CreateCluster(p.t.Context(), spec); err != nil {
		p.t.Fatal(err)
	}
	if d.ViaProperties {
		return
	}
	if err := p.scaler.RegisterCluster(autoscaler.ClusterSpec{ClusterID: d.id(), InstanceID: d.instance(),
		NetworkPartition: d.NetworkPartition, ServiceName: "php", ApplicationID: d.App, Min: d.Min, Max: d.Max,
		AutoscalePolicy: d.AutoscalePolicy, DeploymentPolicy: d.DeploymentPolicy}); err != nil {
		p.t.Fatal(err)
	}
}

// samplesDir holds unchanged copies of Apache Stratos samples (see its README.md).
var samplesDir = filepath.Join("testdata", "stratos-samples")

// sample decodes a Stratos sample file into T.
func sample[T any](t testing.TB, name string) T {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samplesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// stratosPolicy decodes a Stratos JSON policy from a sample file.
func stratosPolicy(t testing.TB, kind policies.Kind, name string) policies.Policy {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samplesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return decodePolicy(t, kind, string(b))
}

// decodePolicy decodes a Stratos JSON policy (with Strata's extensions) written in the test.
func decodePolicy(t testing.TB, kind policies.Kind, js string) policies.Policy {
	t.Helper()
	pol, err := policies.DecodeStratosJSON(kind, []byte(js))
	if err != nil {
		t.Fatalf("decode %s: %v\n%s", kind, err, js)
	}
	return pol
}

// networkPartitionPolicies are the two mock network partitions as policies (deployment policies
// refer to them).
func networkPartitionPolicies(t testing.TB) []policies.Policy {
	return []policies.Policy{
		stratosPolicy(t, policies.KindNetworkPartition, "network-partitions__mock__network-partition-1.json"),
		stratosPolicy(t, policies.KindNetworkPartition, "network-partitions__mock__network-partition-2.json"),
	}
}

// describe prints the members of a cluster for failure messages.
func (p *platform) describe(clusterID string) string {
	var sb strings.Builder
	for _, m := range p.ctrl.Members(clusterID) {
		fmt.Fprintf(&sb, "  %s %s %s init %d\n", m.MemberID[len(m.MemberID)-8:], m.PartitionID, m.Status(), m.InitTime)
	}
	return sb.String()
}
