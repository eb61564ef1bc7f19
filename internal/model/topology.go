package model

import (
	"encoding/json"
	"slices"
	"strings"
)

// Domain objects of the topology (docs/stratos-wire.md §1.6), as CompleteTopologyEvent and the other
// topology events carry them. Field order is the Java declaration order, so encoding/json writes
// the keys Gson writes. The keys the Python agent reads without a guard (§1.8) are always written,
// as {} or [] when empty; MarshalJSON methods fill nil maps and slices for that.

// ServiceType says whether a service's clusters serve one tenant or many.
type ServiceType string

// The service types.
const (
	SingleTenant ServiceType = "SingleTenant"
	MultiTenant  ServiceType = "MultiTenant"
)

// LoadBalancingIPType says which member IP a load balancer should use.
type LoadBalancingIPType string

// The load-balancing IP types.
const (
	IPPrivate LoadBalancingIPType = "Private"
	IPPublic  LoadBalancingIPType = "Public"
)

// Port is one port mapping of a member or service: Value is the member port, Proxy the port the
// load balancer listens on. Port maps are keyed by Proxy. Protocol is always written: the Python
// agent reads it without a guard.
type Port struct {
	Protocol string `json:"protocol"`
	Value    Int    `json:"value"`
	Proxy    Int    `json:"proxy"`
}

// PortMap is a Java Map<Integer,Port> keyed by the proxy port; JSON keys are decimal strings.
type PortMap map[int]Port

// Topology is the whole topology: services by name. ClusterMap is normally empty (clusters live in
// their service). It always marshals "initialized": true, which the Python agent requires (§1.8);
// Initialized records what a decoded message said.
type Topology struct {
	ClusterMap  map[string]*Cluster `json:"clusterMap"`
	ServiceMap  map[string]*Service `json:"serviceMap"`
	Initialized bool                `json:"initialized"`
}

// MarshalJSON writes the maps (as {} when empty) and "initialized": true.
func (t Topology) MarshalJSON() ([]byte, error) {
	type plain Topology
	p := plain(t)
	p.ClusterMap = orEmptyMap(p.ClusterMap)
	p.ServiceMap = orEmptyMap(p.ServiceMap)
	p.Initialized = true
	return json.Marshal(p)
}

// Service is a deployed cartridge type and its clusters.
type Service struct {
	ServiceName         string              `json:"serviceName"`
	ServiceType         ServiceType         `json:"serviceType"`
	ClusterIDClusterMap map[string]*Cluster `json:"clusterIdClusterMap"`
	PortMap             PortMap             `json:"portMap"`
	Properties          Properties          `json:"properties,omitzero"`
}

// MarshalJSON writes the keys §1.8 requires even when empty.
func (s Service) MarshalJSON() ([]byte, error) {
	type plain Service
	p := plain(s)
	p.ClusterIDClusterMap = orEmptyMap(p.ClusterIDClusterMap)
	p.PortMap = orEmptyMap(p.PortMap)
	return json.Marshal(p)
}

// Cluster is one cluster of a service, with its members and cluster instances.
type Cluster struct {
	ServiceName                    string                      `json:"serviceName"`
	ClusterID                      string                      `json:"clusterId"`
	AutoscalePolicyName            string                      `json:"autoscalePolicyName"`
	DeploymentPolicyName           string                      `json:"deploymentPolicyName,omitempty"`
	HostNames                      []string                    `json:"hostNames"`
	TenantRange                    string                      `json:"tenantRange,omitempty"`
	IsLbCluster                    Bool                        `json:"isLbCluster"`
	IsKubernetesCluster            Bool                        `json:"isKubernetesCluster"`
	MemberMap                      map[string]*Member          `json:"memberMap"`
	AppID                          string                      `json:"appId"`
	ParentID                       string                      `json:"parentId,omitempty"`
	LoadBalanceAlgorithmName       string                      `json:"loadBalanceAlgorithmName,omitempty"`
	Properties                     Properties                  `json:"properties,omitzero"`
	InstanceIDToInstanceContextMap map[string]*ClusterInstance `json:"instanceIdToInstanceContextMap,omitzero"`
	AccessURLs                     map[string][]string         `json:"accessUrls,omitzero"`
	KubernetesServices             []KubernetesService         `json:"kubernetesServices"`
	LoadBalancerIPs                []string                    `json:"loadBalancerIps,omitzero"`
}

// MarshalJSON writes the keys §1.8 requires even when empty.
func (c Cluster) MarshalJSON() ([]byte, error) {
	type plain Cluster
	p := plain(c)
	p.HostNames = orEmptySlice(p.HostNames)
	p.MemberMap = orEmptyMap(p.MemberMap)
	p.KubernetesServices = orEmptySlice(p.KubernetesServices)
	return json.Marshal(p)
}

// Member is one instance of a cluster. Its status is the last element of
// MemberStateManager.StateStack (see Status).
type Member struct {
	ServiceName         string                     `json:"serviceName"`
	ClusterID           string                     `json:"clusterId"`
	MemberID            string                     `json:"memberId,omitempty"`
	ClusterInstanceID   string                     `json:"clusterInstanceId,omitempty"`
	NetworkPartitionID  string                     `json:"networkPartitionId,omitempty"`
	PartitionID         string                     `json:"partitionId,omitempty"`
	InstanceID          string                     `json:"instanceId,omitempty"`
	InitTime            Long                       `json:"initTime"`
	PortMap             PortMap                    `json:"portMap"`
	MemberPublicIPs     []string                   `json:"memberPublicIPs,omitzero"`
	DefaultPublicIP     string                     `json:"defaultPublicIP,omitempty"`
	MemberPrivateIPs    []string                   `json:"memberPrivateIPs,omitzero"`
	DefaultPrivateIP    string                     `json:"defaultPrivateIP,omitempty"`
	Properties          Properties                 `json:"properties,omitzero"`
	LbClusterID         string                     `json:"lbClusterId,omitempty"`
	MemberStateManager  StateManager[MemberStatus] `json:"memberStateManager"`
	LoadBalancingIPType LoadBalancingIPType        `json:"loadBalancingIPType,omitempty"`
}

// MarshalJSON writes the keys §1.8 requires even when empty.
func (m Member) MarshalJSON() ([]byte, error) {
	type plain Member
	p := plain(m)
	p.PortMap = orEmptyMap(p.PortMap)
	p.MemberStateManager.StateStack = orEmptySlice(p.MemberStateManager.StateStack)
	return json.Marshal(p)
}

// Status is the member's current state: the last element of its state stack.
func (m *Member) Status() MemberStatus { return m.MemberStateManager.Status() }

// PushStatus appends a state to the stack without checking the transition.
func (m *Member) PushStatus(s MemberStatus) {
	m.MemberStateManager.Push(s)
	m.ShareStack()
}

// SetStatus moves the member to the state, or returns a *TransitionError naming both states.
func (m *Member) SetStatus(to MemberStatus) error {
	if err := m.MemberStateManager.Change(to); err != nil {
		return err
	}
	m.ShareStack()
	return nil
}

// usualStack is the state stack of a member that went the usual way, from Created to Active.
// Members whose stack is a prefix of it share its array instead of each holding its own (issue
// 17: 64 B a member and an allocation at each of the four states, at 100 000 members).
var usualStack = [...]MemberStatus{MemberCreated, MemberInitialized, MemberStarting, MemberActive}

// ShareStack points m's state stack at usualStack when it is a prefix of it. The shared slice's
// capacity is its length, so the next push copies it: no member ever writes into usualStack.
// PushStatus and SetStatus call it; a caller that sets the stack itself (a member loaded from a
// store) calls it too.
func (m *Member) ShareStack() {
	st := m.MemberStateManager.StateStack
	if n := len(st); n > 0 && n <= len(usualStack) && slices.Equal(st, usualStack[:n]) {
		m.MemberStateManager.StateStack = usualStack[:n:n]
	}
}

// Instance is the common shape of cluster, group and application instances (Stratos' Instance
// class): its lifecycle is the stack in LifeCycleStateManager.
type Instance[S State[S]] struct {
	Alias                 string          `json:"alias,omitempty"`
	InstanceID            string          `json:"instanceId"`
	InstanceProperties    Properties      `json:"instanceProperties,omitzero"`
	LifeCycleStateManager StateManager[S] `json:"lifeCycleStateManager"`
	ParentID              string          `json:"parentId,omitempty"`
	NetworkPartitionID    string          `json:"networkPartitionId,omitempty"`
	PartitionID           string          `json:"partitionId,omitempty"`
}

// Status is the instance's current state: the last element of its state stack.
func (i *Instance[S]) Status() S { return i.LifeCycleStateManager.Status() }

// SetStatus moves the instance to the state, or returns a *TransitionError naming both states.
func (i *Instance[S]) SetStatus(to S) error { return i.LifeCycleStateManager.Change(to) }

// ClusterInstance is a cluster's presence in one network partition for one parent instance.
type ClusterInstance = Instance[ClusterStatus]

// GroupInstance is one instance of a group.
type GroupInstance = Instance[GroupStatus]

// ApplicationInstance is one instance of an application.
type ApplicationInstance = Instance[ApplicationStatus]

// KubernetesService is a Kubernetes service that fronts a Kubernetes cluster's members.
type KubernetesService struct {
	ID                  string   `json:"id"`
	PublicIPs           []string `json:"publicIPs,omitzero"`
	PortalIP            string   `json:"portalIP,omitempty"`
	Protocol            string   `json:"protocol,omitempty"`
	Port                Int      `json:"port"`
	ContainerPort       Int      `json:"containerPort"`
	ServiceType         string   `json:"serviceType,omitempty"`
	PortName            string   `json:"portName,omitempty"`
	KubernetesClusterID string   `json:"kubernetesClusterId,omitempty"`
}

// KubernetesInstanceID is the IaaS instance id the kubernetes driver gives a member's pod:
// "<kubernetes cluster>/<namespace>/<pod>". The load balancer reads the Kubernetes cluster from it.
func KubernetesInstanceID(cluster, namespace, pod string) string {
	return cluster + "/" + namespace + "/" + pod
}

// ParseKubernetesInstanceID splits an id of KubernetesInstanceID; ok is false for any other id.
func ParseKubernetesInstanceID(id string) (cluster, namespace, pod string, ok bool) {
	cluster, rest, ok1 := strings.Cut(id, "/")
	namespace, pod, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 || cluster == "" || namespace == "" || pod == "" || strings.Contains(pod, "/") {
		return "", "", "", false
	}
	return cluster, namespace, pod, true
}

// ClusterDataHolder names a cluster of an application (ApplicationClustersRemovedEvent,
// ApplicationDeletedEvent and the application structure).
type ClusterDataHolder struct {
	ServiceType  string `json:"serviceType"`
	ClusterID    string `json:"clusterId"`
	MinInstances Int    `json:"minInstances"`
	MaxInstances Int    `json:"maxInstances"`
}

func orEmptyMap[M ~map[K]V, K comparable, V any](m M) M {
	if m == nil {
		return M{}
	}
	return m
}

func orEmptySlice[S ~[]E, E any](s S) S {
	if s == nil {
		return S{}
	}
	return s
}

// Service returns the named service, or nil.
func (t *Topology) Service(name string) *Service {
	if t == nil {
		return nil
	}
	return t.ServiceMap[name]
}

// Cluster returns the cluster with the id from any service (or from ClusterMap), or nil.
func (t *Topology) Cluster(clusterID string) *Cluster {
	if t == nil {
		return nil
	}
	if c := t.ClusterMap[clusterID]; c != nil {
		return c
	}
	for _, s := range t.ServiceMap {
		if s == nil {
			continue
		}
		if c := s.ClusterIDClusterMap[clusterID]; c != nil {
			return c
		}
	}
	return nil
}

// Member returns the member of the cluster, or nil.
func (t *Topology) Member(clusterID, memberID string) *Member {
	if c := t.Cluster(clusterID); c != nil {
		return c.MemberMap[memberID]
	}
	return nil
}

// FindMember returns the member with the id from any cluster, or nil. It tries the cluster the id
// was made from first (see MemberClusterID).
func (t *Topology) FindMember(memberID string) *Member {
	if cid, ok := MemberClusterID(memberID); ok {
		if m := t.Member(cid, memberID); m != nil {
			return m
		}
	}
	if t == nil {
		return nil
	}
	for _, s := range t.ServiceMap {
		if s == nil {
			continue
		}
		for _, c := range s.ClusterIDClusterMap {
			if c == nil {
				continue
			}
			if m := c.MemberMap[memberID]; m != nil {
				return m
			}
		}
	}
	return nil
}
