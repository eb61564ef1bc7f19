package manager

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// fakePlatform is a hand-written fake of CartridgeRegistry, PartitionRegistry, ClusterManager
// and Scaler: it records calls, and its topology shows one active member per cluster instance.
type fakePlatform struct {
	mu         sync.Mutex
	cartridges map[string]model.Cartridge
	partitions map[string]model.NetworkPartition
	clusters   map[string][]Cluster // by application
	registered map[string][]ClusterInstance
	removed    []string
	failCreate error
	failures   map[string]StartFailure // by cluster
	failNP     string                  // the network partition whose add and update fail
	inUse      []policies.Ref          // what PoliciesInUse answers
	terminated []string                // "cluster/member" asked by TerminateMember
}

func newFakePlatform() *fakePlatform {
	return &fakePlatform{cartridges: map[string]model.Cartridge{}, partitions: map[string]model.NetworkPartition{},
		clusters: map[string][]Cluster{}, registered: map[string][]ClusterInstance{}}
}

var errFakeExists = errors.New("fake: exists")

func (f *fakePlatform) AddCartridge(_ context.Context, c model.Cartridge) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.cartridges[c.Type]; ok {
		return errFakeExists
	}
	f.cartridges[c.Type] = c
	return nil
}
func (f *fakePlatform) UpdateCartridge(_ context.Context, c model.Cartridge) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cartridges[c.Type] = c
	return nil
}
func (f *fakePlatform) RemoveCartridge(_ context.Context, t string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.cartridges, t)
	return nil
}

var errFakeNP = errors.New("fake: network partition refused")

func (f *fakePlatform) AddNetworkPartition(_ context.Context, np model.NetworkPartition) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if np.ID == f.failNP {
		return errFakeNP
	}
	f.partitions[np.ID] = np
	return nil
}
func (f *fakePlatform) UpdateNetworkPartition(ctx context.Context, np model.NetworkPartition) error {
	return f.AddNetworkPartition(ctx, np)
}
func (f *fakePlatform) RemoveNetworkPartition(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.partitions, id)
	return nil
}
func (f *fakePlatform) CreateApplicationClusters(_ context.Context, appID string, cs []Cluster) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failCreate != nil {
		return f.failCreate
	}
	f.clusters[appID] = cs
	return nil
}
func (f *fakePlatform) RemoveApplicationClusters(_ context.Context, appID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.clusters, appID)
	f.removed = append(f.removed, appID)
	return nil
}
func (f *fakePlatform) RegisterCluster(c ClusterInstance) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.registered[c.ClusterID] = append(f.registered[c.ClusterID], c)
	return nil
}
func (f *fakePlatform) RemoveCluster(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.registered, id)
}

func (f *fakePlatform) StartFailure(clusterID string) (StartFailure, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sf, ok := f.failures[clusterID]
	return sf, ok
}

func (f *fakePlatform) PoliciesInUse() []policies.Ref {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.inUse)
}

func (f *fakePlatform) Topology() *model.Topology {
	f.mu.Lock()
	defer f.mu.Unlock()
	top := &model.Topology{ServiceMap: map[string]*model.Service{}, ClusterMap: map[string]*model.Cluster{}}
	for appID, cs := range f.clusters {
		for _, c := range cs {
			svc := top.ServiceMap[c.ServiceName]
			if svc == nil {
				svc = &model.Service{ServiceName: c.ServiceName, ClusterIDClusterMap: map[string]*model.Cluster{}}
				top.ServiceMap[c.ServiceName] = svc
			}
			mc := &model.Cluster{ServiceName: c.ServiceName, ClusterID: c.ClusterID, AppID: appID, HostNames: c.HostNames,
				MemberMap: map[string]*model.Member{}, InstanceIDToInstanceContextMap: map[string]*model.ClusterInstance{}}
			for _, in := range c.Instances {
				ci := &model.ClusterInstance{InstanceID: in.InstanceID, NetworkPartitionID: in.NetworkPartition}
				ci.LifeCycleStateManager.Push(model.ClusterActive)
				mc.InstanceIDToInstanceContextMap[in.InstanceID] = ci
				m := &model.Member{ServiceName: c.ServiceName, ClusterID: c.ClusterID, MemberID: c.ClusterID + "m1",
					ClusterInstanceID: in.InstanceID, NetworkPartitionID: in.NetworkPartition, PartitionID: "partition-1", DefaultPrivateIP: "10.0.0.1"}
				m.PushStatus(model.MemberActive)
				mc.MemberMap[m.MemberID] = m
			}
			svc.ClusterIDClusterMap[c.ClusterID] = mc
		}
	}
	return top
}

func (f *fakePlatform) appIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id := range f.clusters {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// fakeBus is a hand-written fake of Bus: it records published events and keeps the handlers so
// a test can deliver events.
type fakeBus struct {
	mu        sync.Mutex
	published []model.Event
	handlers  map[string]bus.EventHandler
}

func (b *fakeBus) PublishEvent(_ context.Context, e model.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.published = append(b.published, e)
	return nil
}

func (b *fakeBus) SubscribeEvents(_ context.Context, filter string, h bus.EventHandler) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.handlers == nil {
		b.handlers = map[string]bus.EventHandler{}
	}
	b.handlers[filter] = h
	return nil
}

func (b *fakeBus) deliver(filter, topic string, e model.Event) {
	b.mu.Lock()
	h := b.handlers[filter]
	b.mu.Unlock()
	h(topic, e)
}

func (b *fakeBus) artifactEvents() []model.ArtifactUpdatedEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []model.ArtifactUpdatedEvent
	for _, e := range b.published {
		switch x := e.(type) {
		case model.ArtifactUpdatedEvent:
			out = append(out, x)
		case *model.ArtifactUpdatedEvent:
			out = append(out, *x)
		}
	}
	return out
}

// TerminateMember records the member the API asked to terminate.
func (f *fakePlatform) TerminateMember(clusterID, memberID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.terminated = append(f.terminated, clusterID+"/"+memberID)
	return nil
}
