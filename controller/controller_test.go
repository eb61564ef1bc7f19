package controller_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/controller/mock"
	"github.com/strata-paas/strata/internal/model"
)

var (
	clusterID = model.ClusterID("app1", "php1", "php")
	phpSpec   = controller.ClusterSpec{ClusterID: clusterID, ServiceName: "php", AppID: "app1", Alias: "php1",
		AutoscalePolicy: "autoscaling-policy-1", DeploymentPolicy: "deployment-policy-1"}
	startReq = controller.StartRequest{ClusterID: clusterID, ClusterInstanceID: "app1-1",
		NetworkPartitionID: "network-partition-1", PartitionID: "partition-1", MinCount: 1}
)

// healthSink records what the mock publishes.
type healthSink struct {
	mu     sync.Mutex
	ticks  [][]model.HealthSample
	signal chan struct{}
}

func newHealthSink() *healthSink { return &healthSink{signal: make(chan struct{}, 1)} }

func (h *healthSink) publish(_ context.Context, s []model.HealthSample) error {
	h.mu.Lock()
	h.ticks = append(h.ticks, slices.Clone(s))
	h.mu.Unlock()
	select {
	case h.signal <- struct{}{}:
	default:
	}
	return nil
}

// next waits for a batch with a sample of the member and returns it.
func (h *healthSink) next(t *testing.T, seen *int, memberID string) []model.HealthSample {
	t.Helper()
	timeout := time.After(wait)
	for {
		h.mu.Lock()
		for *seen < len(h.ticks) {
			b := h.ticks[*seen]
			*seen++
			for _, s := range b {
				if s.MemberID == memberID {
					h.mu.Unlock()
					return b
				}
			}
		}
		h.mu.Unlock()
		select {
		case <-h.signal:
		case <-timeout:
			t.Fatalf("no health sample of %s", memberID)
		}
	}
}

// env is a broker, a running mock driver, a watcher on the bus and the controller options.
type env struct {
	url    string
	clock  *fakeClock
	mock   *mock.Driver
	health *healthSink
	watch  *watcher
	rec    *recorder
	opts   controller.Options
}

func newEnv(t *testing.T) *env {
	t.Helper()
	b := runBroker(t)
	e := &env{url: b.URL(), clock: newFakeClock(), health: newHealthSink(), rec: newRecorder()}
	watchBus, _ := runClient(t, e.url)
	e.watch = watch(t, watchBus, "topology/#", "instance/#")
	mockBus, _ := runClient(t, e.url)
	d, err := mock.New(mock.Options{Bus: mockBus, Publish: e.health.publish, Clock: e.clock, Logger: testLogger(t),
		Patterns: map[string][]mock.Pattern{"php": {
			{Factor: mock.MemoryConsumption, Values: []float64{50, 60}, Duration: time.Minute, Mode: mock.Loop},
			{Factor: mock.LoadAverage, Values: []float64{20}, Duration: time.Minute, Mode: mock.Continue},
		}}})
	if err != nil {
		t.Fatal(err)
	}
	e.mock = d
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	ctrlBus, _ := runClient(t, e.url)
	e.opts = controller.Options{
		Bus:      ctrlBus,
		DataDir:  t.TempDir(),
		Drivers:  map[string]controller.Driver{mock.Type: d},
		Recorder: e.rec,
		Clock:    e.clock,
		MBURLs:   []string{"tcp://127.0.0.1:1883"},
		CEPURLs:  []string{"127.0.0.1:7711"},
		Issue: func(_ context.Context, id string) (controller.Credentials, error) {
			return controller.Credentials{MBUsername: "mb-" + id, MBPassword: "secret", CEPUsername: "cep-" + id, CEPPassword: "secret"}, nil
		},
	}
	return e
}

// seed adds the php cartridge and network-partition-1 from the Stratos samples and the cluster.
func seed(t testing.TB, c *controller.Controller) {
	t.Helper()
	ctx := context.Background()
	if err := c.AddCartridge(ctx, sample[model.Cartridge](t, "cartridges__mock__php.json")); err != nil {
		t.Fatal(err)
	}
	if err := c.AddNetworkPartition(ctx, sample[model.NetworkPartition](t, "network-partitions__mock__network-partition-1.json")); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateCluster(ctx, phpSpec); err != nil {
		t.Fatal(err)
	}
}

// startActive starts a member and waits until it is Active.
func (e *env) startActive(t *testing.T, c *controller.Controller) model.Member {
	t.Helper()
	m, err := c.StartMember(context.Background(), startReq)
	if err != nil {
		t.Fatal(err)
	}
	e.watch.until(t, "MemberActivated", func(evs []model.Event) bool {
		return hasClass(evs, m.MemberID, "topology.MemberActivatedEvent")
	})
	return m
}

func TestMemberLifecycleOnMock(t *testing.T) {
	e := newEnv(t)
	c, _ := runController(t, e.opts)
	seed(t, c)
	m := e.startActive(t, c)

	got := ofMember(e.watch.until(t, "MemberActivated", func(evs []model.Event) bool {
		return hasClass(evs, m.MemberID, "topology.MemberActivatedEvent")
	}), m.MemberID)
	// MQTT orders the messages of one publisher, not those of different publishers: the
	// controller's events and the mock's each come in order, and each Member* event follows
	// (causally) the Instance* event that triggered it.
	want := []string{"topology.MemberCreatedEvent", "topology.MemberInitializedEvent",
		"topology.MemberStartedEvent", "topology.MemberActivatedEvent"}
	if d := cmp.Diff(want, from(got, "topology.")); d != "" {
		t.Fatalf("controller's event sequence (-want +got):\n%s", d)
	}
	want = []string{"instance.status.InstanceStartedEvent", "instance.status.InstanceActivatedEvent"}
	if d := cmp.Diff(want, from(got, "instance.")); d != "" {
		t.Fatalf("mock's event sequence (-want +got):\n%s", d)
	}
	var activated *model.MemberActivatedEvent
	var initialized *model.MemberInitializedEvent
	for _, ev := range e.watch.events {
		switch ev := ev.(type) {
		case *model.MemberActivatedEvent:
			activated = ev
		case *model.MemberInitializedEvent:
			initialized = ev
		}
	}
	wantPorts := model.PortMap{8280: {Protocol: "http", Value: 8080, Proxy: 8280}, 8222: {Protocol: "tcp", Value: 22, Proxy: 8222}}
	if d := cmp.Diff(wantPorts, activated.PortMap); d != "" {
		t.Errorf("MemberActivated portMap (-want +got):\n%s", d)
	}
	if activated.DefaultPrivateIP != "10.0.0.1" || activated.DefaultPublicIP != "20.0.0.1" || activated.ApplicationID != "app1" {
		t.Errorf("MemberActivated addresses: %+v", activated)
	}
	if initialized.InstanceID != m.MemberID || initialized.DefaultPrivateIP != "10.0.0.1" {
		t.Errorf("MemberInitialized: %+v", initialized)
	}
	mem, err := c.Member(m.MemberID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]model.MemberStatus{model.MemberCreated, model.MemberInitialized, model.MemberStarting, model.MemberActive},
		mem.MemberStateManager.StateStack); d != "" {
		t.Errorf("state stack (-want +got):\n%s", d)
	}
	// The Recorder saw every transition (records are handed over by the publisher, just after
	// the events).
	wantRec := []string{"Created", "Initialized", "Starting", "Active"}
	gotRec := e.rec.until(m.MemberID, func(s []string) bool { return slices.Equal(s, wantRec) })
	if d := cmp.Diff(wantRec, gotRec); d != "" {
		t.Errorf("lifecycle records (-want +got):\n%s", d)
	}

	// The payload the mock received (Stratos' mock IaaS GET /instances/{id}).
	p, ok := e.mock.Payload(m.MemberID)
	if !ok {
		t.Fatal("mock has no payload")
	}
	if err := p.Validate(); err != nil {
		t.Errorf("payload: %v", err)
	}
	for k, v := range map[string]string{
		model.PayloadApplicationID: "app1", model.PayloadServiceName: "php", model.PayloadClusterID: clusterID,
		model.PayloadMemberID: m.MemberID, model.PayloadClusterInstanceID: "app1-1", model.PayloadPorts: "8080|22",
		model.PayloadNetworkPartitionID: "network-partition-1", model.PayloadPartitionID: "partition-1",
		model.PayloadMBURLs: "127.0.0.1:1883", model.PayloadCEPURLs: "127.0.0.1:7711", model.PayloadMultitenant: "false",
		model.PayloadMBUsername: "mb-" + clusterID, model.PayloadCEPUsername: "cep-" + clusterID, model.PayloadMinCount: "1",
		model.PayloadHostName: "app1.php1.php.stratos.org", model.PayloadTenantID: "-1234",
		model.PayloadPortMappings: "NAME:http-80|PROTOCOL:http|PORT:8080|PROXY_PORT:8280|TYPE:;NAME:http-22|PROTOCOL:tcp|PORT:22|PROXY_PORT:8222|TYPE:",
	} {
		if got, _ := p.Get(k); got != v {
			t.Errorf("payload %s = %q, want %q", k, got, v)
		}
	}

	// Health: memory_consumption then load_average at once, then every 15 s.
	seen := 0
	b := e.health.next(t, &seen, m.MemberID)
	if len(b) != 2 || b[0].Metric != model.MetricMemoryConsumption || b[0].Value != 50 || b[1].Metric != model.MetricLoadAverage || b[1].Value != 20 {
		t.Errorf("first health batch: %+v", b)
	}
	if b[0].ClusterInstanceID != "app1-1" || b[0].PartitionID != "partition-1" || b[0].NetworkPartitionID != "network-partition-1" {
		t.Errorf("health sample keys: %+v", b[0])
	}
	e.clock.Advance(61 * time.Second) // past the first sample duration: memory moves on to 60
	b = e.health.next(t, &seen, m.MemberID)
	if b[0].Value != 60 {
		t.Errorf("memory after a minute = %v, want 60", b[0].Value)
	}
}

// startStuckMember runs a controller whose driver leaves members to their agent, seeded, with one
// member started: the test plays that member's agent.
func startStuckMember(t *testing.T) (*env, *controller.Controller, model.Member) {
	t.Helper()
	e := newEnv(t)
	e.opts.Drivers["mock"] = &stuckDriver{}
	c, _ := runController(t, e.opts)
	seed(t, c)
	m, err := c.StartMember(context.Background(), startReq)
	if err != nil {
		t.Fatal(err)
	}
	return e, c, m
}

func TestCompleteTopologyRequest(t *testing.T) {
	e, _, m := startStuckMember(t)
	agentBus, _ := runClient(t, e.url)
	raw := make(chan []byte, 16)
	if err := agentBus.Subscribe(context.Background(), "topology/CompleteTopologyEvent", func(_ string, b []byte) { raw <- b }); err != nil {
		t.Fatal(err)
	}
	if err := agentBus.PublishEvent(context.Background(), model.CompleteTopologyRequestEvent{}); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(wait)
	for {
		var body []byte
		select {
		case body = <-raw:
		case <-timeout:
			t.Fatal("no CompleteTopologyEvent with the member")
		}
		// Read it the way the Python agent does: plain maps, no guards.
		var v struct {
			Topology struct {
				Initialized *bool `json:"initialized"`
				ServiceMap  map[string]struct {
					ServiceType         string `json:"serviceType"`
					ClusterIDClusterMap map[string]struct {
						HostNames          []string `json:"hostNames"`
						KubernetesServices []any    `json:"kubernetesServices"`
						MemberMap          map[string]struct {
							PortMap            map[string]any `json:"portMap"`
							MemberStateManager struct {
								StateStack []string `json:"stateStack"`
							} `json:"memberStateManager"`
						} `json:"memberMap"`
					} `json:"clusterIdClusterMap"`
				} `json:"serviceMap"`
			} `json:"topology"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		mm, ok := v.Topology.ServiceMap["php"].ClusterIDClusterMap[clusterID].MemberMap[m.MemberID]
		if !ok {
			continue // an earlier periodic one
		}
		if v.Topology.Initialized == nil || !*v.Topology.Initialized {
			t.Errorf(`topology lacks "initialized": true: %s`, body)
		}
		if d := cmp.Diff([]string{"Created", "Initialized"}, mm.MemberStateManager.StateStack); d != "" {
			t.Errorf("stateStack (-want +got):\n%s", d)
		}
		// And again every SyncInterval.
		e.clock.Advance(controller.DefaultSyncInterval)
		select {
		case <-raw:
		case <-time.After(wait):
			t.Fatal("no CompleteTopologyEvent after SyncInterval")
		}
		for _, key := range []string{`"serviceType":"SingleTenant"`, `"portMap":{`, `"hostNames":["app1.php1.php.stratos.org"]`,
			`"kubernetesServices":[]`, `"isLbCluster":false`, `"appId":"app1"`, `"instanceIdToInstanceContextMap":{"app1-1"`} {
			if !strings.Contains(string(body), key) {
				t.Errorf("topology lacks %s", key)
			}
		}
		return
	}
}

// from keeps the classes that start with one of the prefixes.
func from(classes []string, prefixes ...string) []string {
	var out []string
	for _, c := range classes {
		for _, p := range prefixes {
			if strings.HasPrefix(c, p) {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

func TestDriverReportsDeath(t *testing.T) {
	e := newEnv(t)
	c, _ := runController(t, e.opts)
	seed(t, c)
	m := e.startActive(t, c)
	if err := e.mock.Crash(m.MemberID); err != nil {
		t.Fatal(err)
	}
	e.watch.until(t, "MemberTerminated", func(evs []model.Event) bool {
		return hasClass(evs, m.MemberID, "topology.MemberTerminatedEvent")
	})
	if _, err := c.Member(m.MemberID); !errors.Is(err, controller.ErrNotFound) {
		t.Errorf("member still known: %v", err)
	}
	if c.Stats().Exited != 1 {
		t.Errorf("stats: %+v", c.Stats())
	}
}

func TestKilledMockMemberGoesSilent(t *testing.T) {
	e := newEnv(t)
	c, _ := runController(t, e.opts)
	seed(t, c)
	alive := e.startActive(t, c)
	killed := e.startActive(t, c)
	seen := 0
	e.health.next(t, &seen, killed.MemberID)
	if err := e.mock.Kill(killed.MemberID); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		e.clock.Advance(15 * time.Second)
		b := e.health.next(t, &seen, alive.MemberID)
		for _, s := range b {
			if s.MemberID == killed.MemberID {
				t.Fatalf("killed member still publishes: %+v", s)
			}
		}
	}
	// Kill is silent: the controller still has the member (the CEP's fault detection is what
	// notices), and terminating it later is not an error.
	if _, err := c.Member(killed.MemberID); err != nil {
		t.Fatal(err)
	}
	if err := c.TerminateMember(context.Background(), killed.MemberID, true); err != nil {
		t.Fatal(err)
	}
}

func TestRestartAdoptsMembers(t *testing.T) {
	e := newEnv(t)
	c, stop := runController(t, e.opts)
	seed(t, c)
	kept := e.startActive(t, c)
	gone := e.startActive(t, c)
	before := c.Topology()
	stop()

	// While the controller is down: one instance vanishes, and one appears that no member owns
	// (as if the controller had stopped between the driver's Start and writing the member).
	if err := e.mock.Kill(gone.MemberID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.mock.Start(context.Background(), controller.Instance{MemberID: clusterID + "orphan", ClusterID: clusterID, ServiceName: "php"}); err != nil {
		t.Fatal(err)
	}

	ctrlBus, _ := runClient(t, e.url)
	o := e.opts
	o.Bus = ctrlBus
	c2, _ := runController(t, o)

	e.watch.until(t, "MemberTerminated of the vanished member", func(evs []model.Event) bool {
		return hasClass(evs, gone.MemberID, "topology.MemberTerminatedEvent")
	})
	after := c2.Topology()
	delete(before.ServiceMap["php"].ClusterIDClusterMap[clusterID].MemberMap, gone.MemberID)
	if d := cmp.Diff(before, after); d != "" {
		t.Errorf("topology after restart (-before +after):\n%s", d)
	}
	l, _ := e.mock.List(context.Background())
	if len(l) != 1 || l[0].InstanceID != kept.MemberID {
		t.Errorf("mock instances after adoption: %+v", l)
	}
	if n := len(c2.Members("")); n != 1 {
		t.Errorf("%d members after restart, want 1", n)
	}
	if s := c2.Stats(); s.Adopted != 1 || s.AdoptTerminated != 1 || s.OrphansTerminated != 1 {
		t.Errorf("stats: %+v", s)
	}
	for _, ct := range []string{"php"} {
		if _, err := c2.Cartridge(ct); err != nil {
			t.Error(err)
		}
	}
	if _, err := c2.NetworkPartition("network-partition-1"); err != nil {
		t.Error(err)
	}
	// The adopted member still follows its lifecycle.
	if err := c2.TerminateMember(context.Background(), kept.MemberID, false); err != nil {
		t.Fatal(err)
	}
	e.watch.until(t, "MemberTerminated of the adopted member", func(evs []model.Event) bool {
		return hasClass(evs, kept.MemberID, "topology.MemberReadyToShutdownEvent") &&
			hasClass(evs, kept.MemberID, "topology.MemberTerminatedEvent")
	})
}

// TestMemberCredentialsInPayload: with Options.MemberCredentials each member's payload carries
// its own broker and CEP credentials in place of the cluster's, and a second member gets others.
func TestMemberCredentialsInPayload(t *testing.T) {
	e := newEnv(t)
	e.opts.MemberCredentials = func(memberID, clusterID string) controller.Credentials {
		return controller.Credentials{MBUsername: "member." + memberID, MBPassword: "mb-" + memberID + "@" + clusterID,
			CEPUsername: "member." + memberID, CEPPassword: "cep-" + memberID}
	}
	c, _ := runController(t, e.opts)
	seed(t, c)
	m1 := e.startActive(t, c)
	m2 := e.startActive(t, c)
	for _, m := range []model.Member{m1, m2} {
		p, ok := e.mock.Payload(m.MemberID)
		if !ok {
			t.Fatalf("mock has no payload for %s", m.MemberID)
		}
		for k, v := range map[string]string{
			model.PayloadMBUsername: "member." + m.MemberID, model.PayloadMBPassword: "mb-" + m.MemberID + "@" + m.ClusterID,
			model.PayloadCEPUsername: "member." + m.MemberID, model.PayloadCEPPassword: "cep-" + m.MemberID,
			model.PayloadCEPAdminUsername: "member." + m.MemberID, model.PayloadCEPAdminPassword: "cep-" + m.MemberID,
		} {
			if got, _ := p.Get(k); got != v {
				t.Errorf("member %s: payload %s = %q, want %q", m.MemberID, k, got, v)
			}
		}
	}
}
