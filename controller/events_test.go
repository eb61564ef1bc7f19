package controller_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/model"
)

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	drv := &stuckDriver{}
	e.opts.Drivers["mock"] = drv
	c, _ := runController(t, e.opts)
	ctx := context.Background()
	php := sample[model.Cartridge](t, "cartridges__mock__php.json")

	bad := php
	bad.PortMapping = slices.Clone(php.PortMapping)
	bad.PortMapping[0].Port = 70000
	if err := c.AddCartridge(ctx, bad); !errors.Is(err, model.ErrInvalidCartridge) || !strings.Contains(err.Error(), "70000") {
		t.Errorf("bad port: %v", err)
	}
	if len(c.Cartridges()) != 0 {
		t.Errorf("a bad cartridge was stored")
	}
	np := sample[model.NetworkPartition](t, "network-partitions__mock__network-partition-1.json")
	ec2 := np
	ec2.ID, ec2.Provider = "ec2-np", "ec2"
	if err := c.AddNetworkPartition(ctx, ec2); !errors.Is(err, controller.ErrNoDriver) {
		t.Errorf("network partition of an unconfigured provider: %v", err)
	}
	if err := c.AddCartridge(ctx, php); err != nil {
		t.Fatal(err)
	}
	if err := c.AddNetworkPartition(ctx, np); err != nil {
		t.Fatal(err)
	}

	spec := phpSpec
	spec.ServiceName = "tomcat"
	err := c.CreateCluster(ctx, spec)
	if !errors.Is(err, controller.ErrNotFound) || !strings.Contains(err.Error(), `unknown cartridge "tomcat"`) {
		t.Errorf("unknown cartridge: %v", err)
	}
	if _, err := c.Cluster(clusterID); !errors.Is(err, controller.ErrNotFound) {
		t.Errorf("cluster half-created: %v", err)
	}
	noPorts := php
	noPorts.Type, noPorts.PortMapping = "noports", nil
	if err := c.AddCartridge(ctx, noPorts); err != nil {
		t.Fatal(err)
	}
	spec = phpSpec
	spec.ClusterID, spec.ServiceName = "app1.x.noports.domain", "noports"
	if err := c.CreateCluster(ctx, spec); !errors.Is(err, controller.ErrInvalid) || !errors.Is(err, model.ErrPayload) ||
		!strings.Contains(err.Error(), "missing required key PORTS") {
		t.Errorf("cluster whose payload lacks PORTS: %v", err)
	}
	if err := c.CreateApplicationClusters(ctx, "app1", []controller.ClusterSpec{phpSpec, spec}); err == nil {
		t.Errorf("application clusters with one bad cluster were created")
	}
	if _, err := c.Cluster(clusterID); !errors.Is(err, controller.ErrNotFound) {
		t.Errorf("application clusters half-created: %v", err)
	}
	if err := c.CreateCluster(ctx, phpSpec); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateCluster(ctx, phpSpec); !errors.Is(err, controller.ErrExists) {
		t.Errorf("second create: %v", err)
	}

	for _, tc := range []struct {
		name   string
		change func(*controller.StartRequest)
		is     error
		text   string
	}{
		{name: "unknown cluster", change: func(r *controller.StartRequest) { r.ClusterID = "nope" }, is: controller.ErrNotFound, text: `cluster "nope"`},
		{name: "unknown network partition", change: func(r *controller.StartRequest) { r.NetworkPartitionID = "np-x" },
			is: controller.ErrNotFound, text: `network partition "np-x" does not exist`},
		{name: "unknown partition", change: func(r *controller.StartRequest) { r.PartitionID = "p-x" },
			is: controller.ErrNotFound, text: `partition "p-x" does not exist in network partition network-partition-1`},
		{name: "no cluster instance", change: func(r *controller.StartRequest) { r.ClusterInstanceID = "" },
			is: controller.ErrInvalid, text: "cluster instance id is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startReq
			tc.change(&r)
			_, err := c.StartMember(ctx, r)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("got %v, want %v with %q", err, tc.is, tc.text)
			}
		})
	}

	// A payload missing required keys: a controller with no broker or CEP coordinates.
	ctrlBus, _ := runClient(t, e.url)
	o := e.opts
	o.Bus, o.DataDir, o.MBURLs, o.CEPURLs, o.Issue = ctrlBus, t.TempDir(), nil, nil, nil
	c2, _ := runController(t, o)
	if err := c2.AddCartridge(ctx, php); err != nil {
		t.Fatal(err)
	}
	if err := c2.AddNetworkPartition(ctx, np); err != nil {
		t.Fatal(err)
	}
	if err := c2.CreateCluster(ctx, phpSpec); err != nil {
		t.Fatal(err)
	}
	_, err = c2.StartMember(ctx, startReq)
	if !errors.Is(err, model.ErrPayload) || !strings.Contains(err.Error(), "MB_URLS|MB_IP+MB_PORT") ||
		!strings.Contains(err.Error(), "CEP_URLS|CEP_IP+CEP_PORT") {
		t.Errorf("payload without broker and CEP: %v", err)
	}

	// Nothing was half-created: no member, no instance, no member event.
	if n := len(c.Members("")) + len(c2.Members("")); n != 0 {
		t.Errorf("%d members created by bad requests", n)
	}
	drv.mu.Lock()
	if drv.calls != 0 {
		t.Errorf("the driver was called %d times", drv.calls)
	}
	drv.mu.Unlock()
	// A good request after all the bad ones is the first member event on the bus.
	m, err := c.StartMember(ctx, startReq)
	if err != nil {
		t.Fatal(err)
	}
	evs := e.watch.until(t, "MemberInitialized", func(evs []model.Event) bool {
		return hasClass(evs, m.MemberID, "topology.MemberInitializedEvent")
	})
	for _, ev := range evs {
		if id := memberOf(ev); id != "" && id != m.MemberID {
			t.Errorf("event of another member: %s %s", ev.EventClass(), id)
		}
	}
	if err := c.RemoveCartridge(ctx, "php"); !errors.Is(err, controller.ErrInUse) {
		t.Errorf("remove a cartridge in use: %v", err)
	}
	if err := c.RemoveNetworkPartition(ctx, "network-partition-1"); !errors.Is(err, controller.ErrInUse) {
		t.Errorf("remove a network partition in use: %v", err)
	}
}

func TestInvalidTransitionPublishesNothing(t *testing.T) {
	e, c, m := startStuckMember(t)
	agent, _ := runClient(t, e.url)
	// Activated straight from Initialized is not allowed; Started then is.
	for _, ev := range []model.Event{
		&model.InstanceActivatedEvent{ServiceName: "php", ClusterID: clusterID, MemberID: m.MemberID},
		&model.InstanceStartedEvent{ServiceName: "php", ClusterID: clusterID, MemberID: m.MemberID},
	} {
		if err := agent.PublishEvent(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	evs := e.watch.until(t, "MemberStarted", func(evs []model.Event) bool {
		return hasClass(evs, m.MemberID, "topology.MemberStartedEvent")
	})
	if hasClass(evs, m.MemberID, "topology.MemberActivatedEvent") {
		t.Errorf("an invalid transition was published")
	}
	if s := c.Stats(); s.InvalidTransitions != 1 {
		t.Errorf("stats: %+v", s)
	}
}

// TestRepeatedStatusPublishesOnce: an agent answers every InstanceCleanupMemberEvent the
// autoscaler resends, so InstanceMaintenanceModeEvent can come twice; the topology says
// MemberMaintenanceModeEvent once.
func TestRepeatedStatusPublishesOnce(t *testing.T) {
	e, c, m := startStuckMember(t)
	agent, _ := runClient(t, e.url)
	cl, mid := clusterID, m.MemberID
	for _, ev := range []model.Event{
		&model.InstanceStartedEvent{ServiceName: "php", ClusterID: cl, MemberID: mid},
		&model.InstanceActivatedEvent{ServiceName: "php", ClusterID: cl, MemberID: mid},
		&model.InstanceMaintenanceModeEvent{ServiceName: "php", ClusterID: cl, MemberID: mid},
		&model.InstanceMaintenanceModeEvent{ServiceName: "php", ClusterID: cl, MemberID: mid},
		&model.InstanceReadyToShutdownEvent{ServiceName: "php", ClusterID: cl, MemberID: mid},
	} {
		if err := agent.PublishEvent(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	evs := e.watch.until(t, "MemberReadyToShutdown", func(evs []model.Event) bool {
		return hasClass(evs, mid, "topology.MemberReadyToShutdownEvent")
	})
	n := 0
	for _, class := range ofMember(evs, mid) {
		if class == "topology.MemberMaintenanceModeEvent" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("MemberMaintenanceModeEvent published %d times: %v", n, ofMember(evs, mid))
	}
	if s := c.Stats(); s.InvalidTransitions != 0 {
		t.Errorf("stats: %+v", s)
	}
}

func TestClusterInstanceLifecycle(t *testing.T) {
	e := newEnv(t)
	e.opts.Drivers["mock"] = &stuckDriver{}
	c, _ := runController(t, e.opts)
	seed(t, c)
	as, _ := runClient(t, e.url)
	w := watch(t, as, "topology/#")
	ctx := context.Background()
	for _, ev := range []model.Event{
		&model.ClusterStatusClusterInstanceCreatedEvent{ClusterID: clusterID, InstanceID: "app1-2", ServiceName: "php"},
		&model.ClusterStatusClusterActivatedEvent{ServiceName: "php", ClusterID: clusterID, AppID: "app1", InstanceID: "app1-2"},
		&model.ClusterStatusClusterActivatedEvent{ServiceName: "php", ClusterID: clusterID, AppID: "app1", InstanceID: "app1-2"}, // invalid: Active→Active
		&model.ClusterStatusClusterTerminatingEvent{ServiceName: "php", ClusterID: clusterID, AppID: "app1", InstanceID: "app1-2"},
		&model.ClusterStatusClusterTerminatedEvent{ServiceName: "php", ClusterID: clusterID, AppID: "app1", InstanceID: "app1-2"},
	} {
		if err := as.PublishEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	evs := w.until(t, "ClusterInstanceTerminated", func(evs []model.Event) bool {
		for _, e := range evs {
			if _, ok := e.(*model.ClusterInstanceTerminatedEvent); ok {
				return true
			}
		}
		return false
	})
	var got []string
	for _, e := range evs {
		if strings.Contains(e.EventClass(), "ClusterInstance") {
			got = append(got, e.EventClass())
		}
	}
	want := []string{"topology.ClusterInstanceCreatedEvent", "topology.ClusterInstanceActivatedEvent",
		"topology.ClusterInstanceTerminatingEvent", "topology.ClusterInstanceTerminatedEvent"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("cluster instance events (-want +got):\n%s", d)
	}
	cl, _ := c.Cluster(clusterID)
	if _, ok := cl.InstanceIDToInstanceContextMap["app1-2"]; ok {
		t.Errorf("terminated cluster instance still present")
	}
	if _, err := c.StartMember(ctx, controller.StartRequest{ClusterID: clusterID, ClusterInstanceID: "app1-1",
		NetworkPartitionID: "network-partition-1", PartitionID: "partition-1"}); err != nil {
		t.Fatal(err)
	}
}

func TestCartridgeRegistry(t *testing.T) {
	e := newEnv(t)
	c, stop := runController(t, e.opts)
	ctx := context.Background()
	for _, f := range []string{"cartridges__mock__php.json", "cartridges__mock__mysql.json", "cartridges__mock__tomcat.json"} {
		if err := c.AddCartridge(ctx, sample[model.Cartridge](t, f)); err != nil {
			t.Fatal(err)
		}
	}
	php := sample[model.Cartridge](t, "cartridges__mock__php.json")
	if err := c.AddCartridge(ctx, php); !errors.Is(err, controller.ErrExists) {
		t.Errorf("second add: %v", err)
	}
	evs := e.watch.until(t, "ServiceCreated x3", func(evs []model.Event) bool {
		n := 0
		for _, ev := range evs {
			if _, ok := ev.(*model.ServiceCreatedEvent); ok {
				n++
			}
		}
		return n == 3
	})
	for _, ev := range evs {
		if s, ok := ev.(*model.ServiceCreatedEvent); ok && s.ServiceName == "php" {
			want := model.PortMap{8280: {Protocol: "http", Value: 8080, Proxy: 8280}, 8222: {Protocol: "tcp", Value: 22, Proxy: 8222}}
			if d := cmp.Diff(want, s.PortMap); d != "" || s.ServiceType != model.SingleTenant {
				t.Errorf("ServiceCreated php: %+v\n%s", s, d)
			}
		}
	}
	php.Property = []model.NameValue{{Name: "payload_parameter.LOG_LEVEL", Value: "DEBUG"}, {Name: "category", Value: "web"}}
	php.Version = "8"
	if err := c.UpdateCartridge(ctx, php); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveCartridge(ctx, "mysql"); err != nil {
		t.Fatal(err)
	}
	e.watch.until(t, "ServiceRemoved", func(evs []model.Event) bool {
		for _, ev := range evs {
			if s, ok := ev.(*model.ServiceRemovedEvent); ok && s.ServiceName == "mysql" {
				return true
			}
		}
		return false
	})
	if err := c.RemoveCartridge(ctx, "mysql"); !errors.Is(err, controller.ErrNotFound) {
		t.Errorf("second remove: %v", err)
	}
	stop()

	// The registry survives a restart; the topology's services follow it.
	ctrlBus, _ := runClient(t, e.url)
	o := e.opts
	o.Bus = ctrlBus
	c2, _ := runController(t, o)
	var types []string
	for _, ct := range c2.Cartridges() {
		types = append(types, ct.Type)
	}
	if d := cmp.Diff([]string{"php", "tomcat"}, types); d != "" {
		t.Errorf("cartridges after restart (-want +got):\n%s", d)
	}
	got, err := c2.Cartridge("php")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(php, got); d != "" {
		t.Errorf("updated cartridge after restart (-want +got):\n%s", d)
	}
	s := c2.Topology().ServiceMap["php"]
	if s == nil || s.Properties["category"] != "web" || len(s.Properties) != 1 {
		t.Errorf("php service: %+v", s)
	}
}
