package model

// Topology events (docs/stratos-wire.md §1.5.1), published by the cloud controller on topology/*.

// ServiceCreatedEvent announces a new service (a deployed cartridge type).
type ServiceCreatedEvent struct {
	ServiceName string      `json:"serviceName"`
	ServiceType ServiceType `json:"serviceType,omitempty"`
	PortMap     PortMap     `json:"portMap,omitzero"`
	Properties  Properties  `json:"properties,omitzero"`
}

// ServiceRemovedEvent announces that a service is gone.
type ServiceRemovedEvent struct {
	ServiceName string `json:"serviceName"`
}

// ClusterCreatedEvent announces a new cluster.
type ClusterCreatedEvent struct {
	Cluster *Cluster `json:"cluster,omitempty"`
}

// ApplicationClustersCreatedEvent announces the clusters of a newly deployed application.
type ApplicationClustersCreatedEvent struct {
	ClusterList []*Cluster `json:"clusterList,omitzero"`
	AppID       string     `json:"appId"`
}

// ApplicationClustersRemovedEvent announces that an application's clusters are gone.
type ApplicationClustersRemovedEvent struct {
	ClusterData []ClusterDataHolder `json:"clusterData,omitzero"`
	AppID       string              `json:"appId"`
}

// ClusterRemovedEvent announces that a cluster is gone.
type ClusterRemovedEvent struct {
	ServiceName      string `json:"serviceName"`
	ClusterID        string `json:"clusterId"`
	DeploymentPolicy string `json:"deploymentPolicy,omitempty"`
	IsLbCluster      Bool   `json:"isLbCluster"`
}

// ClusterResetEvent announces that a cluster instance went back to Created.
type ClusterResetEvent struct {
	ServiceName string `json:"serviceName"`
	ClusterID   string `json:"clusterId"`
	AppID       string `json:"appId,omitempty"`
	InstanceID  string `json:"instanceId"`
}

// ClusterInstanceInactivateEvent announces that a cluster instance became Inactive.
type ClusterInstanceInactivateEvent ClusterResetEvent

// ClusterInstanceTerminatingEvent announces that a cluster instance is Terminating.
type ClusterInstanceTerminatingEvent ClusterResetEvent

// ClusterInstanceTerminatedEvent announces that a cluster instance is Terminated.
type ClusterInstanceTerminatedEvent ClusterResetEvent

// ClusterInstanceCreatedEvent announces a new cluster instance.
type ClusterInstanceCreatedEvent struct {
	ServiceName        string           `json:"serviceName"`
	ClusterID          string           `json:"clusterId"`
	PartitionID        string           `json:"partitionId,omitempty"`
	NetworkPartitionID string           `json:"networkPartitionId,omitempty"`
	ClusterInstance    *ClusterInstance `json:"clusterInstance,omitempty"`
}

// ClusterInstanceActivatedEvent announces that a cluster instance became Active.
type ClusterInstanceActivatedEvent struct {
	ServiceName     string   `json:"serviceName"`
	ClusterID       string   `json:"clusterId"`
	AppID           string   `json:"appId,omitempty"`
	InstanceID      string   `json:"instanceId"`
	AccessURLs      []string `json:"accessUrls,omitzero"`
	LoadBalancerIPs []string `json:"loadBalancerIps,omitzero"`
}

// MemberCreatedEvent announces a member context, before the IaaS starts it. Properties is always
// written (as {} when empty): the Python agent reads it without a guard.
type MemberCreatedEvent struct {
	ServiceName         string              `json:"serviceName"`
	ClusterID           string              `json:"clusterId"`
	ClusterInstanceID   string              `json:"clusterInstanceId,omitempty"`
	NetworkPartitionID  string              `json:"networkPartitionId,omitempty"`
	PartitionID         string              `json:"partitionId,omitempty"`
	MemberID            string              `json:"memberId"`
	LoadBalancingIPType LoadBalancingIPType `json:"loadBalancingIPType,omitempty"`
	InitTime            Long                `json:"initTime"`
	Properties          Properties          `json:"properties"`
}

// MarshalJSON writes properties as {} when there are none.
func (e MemberCreatedEvent) MarshalJSON() ([]byte, error) {
	type plain MemberCreatedEvent
	p := plain(e)
	p.Properties = orEmptyMap(p.Properties)
	return marshalPlain(p)
}

// MemberInitializedEvent announces a member the IaaS started and gave addresses. Properties is
// always written (as {} when empty): the Python agent reads it without a guard.
type MemberInitializedEvent struct {
	ServiceName        string     `json:"serviceName"`
	ClusterID          string     `json:"clusterId"`
	ClusterInstanceID  string     `json:"clusterInstanceId,omitempty"`
	NetworkPartitionID string     `json:"networkPartitionId,omitempty"`
	PartitionID        string     `json:"partitionId,omitempty"`
	MemberID           string     `json:"memberId"`
	InstanceID         string     `json:"instanceId,omitempty"` // the IaaS instance id
	MemberPublicIPs    []string   `json:"memberPublicIPs,omitzero"`
	DefaultPublicIP    string     `json:"defaultPublicIP,omitempty"`
	MemberPrivateIPs   []string   `json:"memberPrivateIPs,omitzero"`
	DefaultPrivateIP   string     `json:"defaultPrivateIP,omitempty"`
	Properties         Properties `json:"properties"`
	// KubernetesServices are the Services that front the member's cluster on Kubernetes, as
	// its cluster's kubernetesServices list them once the member's start recorded them (a
	// Strata extension: Stratos set them on its own topology at this point), so that the load
	// balancer routes the member through them from its activation on. Absent for other IaaSes.
	KubernetesServices []KubernetesService `json:"kubernetesServices,omitzero"`
}

// MarshalJSON writes properties as {} when there are none.
func (e MemberInitializedEvent) MarshalJSON() ([]byte, error) {
	type plain MemberInitializedEvent
	p := plain(e)
	p.Properties = orEmptyMap(p.Properties)
	return marshalPlain(p)
}

// MemberStartedEvent announces a member whose agent sent InstanceStartedEvent.
type MemberStartedEvent struct {
	ServiceName        string       `json:"serviceName"`
	ClusterID          string       `json:"clusterId"`
	ClusterInstanceID  string       `json:"clusterInstanceId,omitempty"`
	NetworkPartitionID string       `json:"networkPartitionId,omitempty"`
	PartitionID        string       `json:"partitionId,omitempty"`
	MemberID           string       `json:"memberId"`
	Status             MemberStatus `json:"status,omitempty"`
	Properties         Properties   `json:"properties,omitzero"`
	GroupID            string       `json:"groupId,omitempty"`
}

// MemberActivatedEvent announces a member whose agent sent InstanceActivatedEvent, with its ports
// and addresses. PortMap is always written (the Python agent iterates it).
type MemberActivatedEvent struct {
	ServiceName        string   `json:"serviceName"`
	ClusterID          string   `json:"clusterId"`
	ClusterInstanceID  string   `json:"clusterInstanceId,omitempty"`
	MemberID           string   `json:"memberId"`
	NetworkPartitionID string   `json:"networkPartitionId,omitempty"`
	PartitionID        string   `json:"partitionId,omitempty"`
	PortMap            PortMap  `json:"portMap"`
	MemberPrivateIPs   []string `json:"memberPrivateIPs,omitzero"`
	DefaultPrivateIP   string   `json:"defaultPrivateIP,omitempty"`
	GroupID            string   `json:"groupId,omitempty"`
	ApplicationID      string   `json:"applicationId,omitempty"`
	MemberPublicIPs    []string `json:"memberPublicIPs,omitzero"`
	DefaultPublicIP    string   `json:"defaultPublicIP,omitempty"`
}

// MarshalJSON writes portMap as {} when it is empty.
func (e MemberActivatedEvent) MarshalJSON() ([]byte, error) {
	type plain MemberActivatedEvent
	p := plain(e)
	p.PortMap = orEmptyMap(p.PortMap)
	return marshalPlain(p)
}

// MemberMaintenanceModeEvent announces a member whose agent sent InstanceMaintenanceModeEvent.
type MemberMaintenanceModeEvent struct {
	ServiceName        string       `json:"serviceName"`
	ClusterID          string       `json:"clusterId"`
	ClusterInstanceID  string       `json:"clusterInstanceId,omitempty"`
	MemberID           string       `json:"memberId"`
	NetworkPartitionID string       `json:"networkPartitionId,omitempty"`
	PartitionID        string       `json:"partitionId,omitempty"`
	Status             MemberStatus `json:"status,omitempty"`
	Properties         Properties   `json:"properties,omitzero"`
	GroupID            string       `json:"groupId,omitempty"`
}

// MemberReadyToShutdownEvent announces a member whose agent sent InstanceReadyToShutdownEvent.
type MemberReadyToShutdownEvent MemberMaintenanceModeEvent

// MemberSuspendedEvent announces a suspended member.
type MemberSuspendedEvent struct {
	ServiceName        string `json:"serviceName"`
	ClusterID          string `json:"clusterId"`
	NetworkPartitionID string `json:"networkPartitionId,omitempty"`
	PartitionID        string `json:"partitionId,omitempty"`
	MemberID           string `json:"memberId"`
	GroupID            string `json:"groupId,omitempty"`
}

// MemberTerminatedEvent announces a member the IaaS terminated.
type MemberTerminatedEvent struct {
	ServiceName        string     `json:"serviceName"`
	ClusterID          string     `json:"clusterId"`
	MemberID           string     `json:"memberId"`
	ClusterInstanceID  string     `json:"clusterInstanceId,omitempty"`
	NetworkPartitionID string     `json:"networkPartitionId,omitempty"`
	PartitionID        string     `json:"partitionId,omitempty"`
	GroupID            string     `json:"groupId,omitempty"`
	Properties         Properties `json:"properties,omitzero"`
}

// CompleteTopologyEvent carries the whole topology (periodically and on request).
type CompleteTopologyEvent struct {
	Topology *Topology `json:"topology,omitempty"`
}

// EventClass implements Event.
func (ServiceCreatedEvent) EventClass() string { return "topology.ServiceCreatedEvent" }

// EventClass implements Event.
func (ServiceRemovedEvent) EventClass() string { return "topology.ServiceRemovedEvent" }

// EventClass implements Event.
func (ClusterCreatedEvent) EventClass() string { return "topology.ClusterCreatedEvent" }

// EventClass implements Event.
func (ApplicationClustersCreatedEvent) EventClass() string {
	return "topology.ApplicationClustersCreatedEvent"
}

// EventClass implements Event.
func (ApplicationClustersRemovedEvent) EventClass() string {
	return "topology.ApplicationClustersRemovedEvent"
}

// EventClass implements Event.
func (ClusterRemovedEvent) EventClass() string { return "topology.ClusterRemovedEvent" }

// EventClass implements Event.
func (ClusterResetEvent) EventClass() string { return "topology.ClusterResetEvent" }

// EventClass implements Event.
func (ClusterInstanceInactivateEvent) EventClass() string {
	return "topology.ClusterInstanceInactivateEvent"
}

// EventClass implements Event.
func (ClusterInstanceTerminatingEvent) EventClass() string {
	return "topology.ClusterInstanceTerminatingEvent"
}

// EventClass implements Event.
func (ClusterInstanceTerminatedEvent) EventClass() string {
	return "topology.ClusterInstanceTerminatedEvent"
}

// EventClass implements Event.
func (ClusterInstanceCreatedEvent) EventClass() string { return "topology.ClusterInstanceCreatedEvent" }

// EventClass implements Event.
func (ClusterInstanceActivatedEvent) EventClass() string {
	return "topology.ClusterInstanceActivatedEvent"
}

// EventClass implements Event.
func (MemberCreatedEvent) EventClass() string { return "topology.MemberCreatedEvent" }

// EventClass implements Event.
func (MemberInitializedEvent) EventClass() string { return "topology.MemberInitializedEvent" }

// EventClass implements Event.
func (MemberStartedEvent) EventClass() string { return "topology.MemberStartedEvent" }

// EventClass implements Event.
func (MemberActivatedEvent) EventClass() string { return "topology.MemberActivatedEvent" }

// EventClass implements Event.
func (MemberMaintenanceModeEvent) EventClass() string { return "topology.MemberMaintenanceModeEvent" }

// EventClass implements Event.
func (MemberReadyToShutdownEvent) EventClass() string { return "topology.MemberReadyToShutdownEvent" }

// EventClass implements Event.
func (MemberSuspendedEvent) EventClass() string { return "topology.MemberSuspendedEvent" }

// EventClass implements Event.
func (MemberTerminatedEvent) EventClass() string { return "topology.MemberTerminatedEvent" }

// EventClass implements Event.
func (CompleteTopologyEvent) EventClass() string { return "topology.CompleteTopologyEvent" }

func init() {
	register(
		func() Event { return new(ServiceCreatedEvent) },
		func() Event { return new(ServiceRemovedEvent) },
		func() Event { return new(ClusterCreatedEvent) },
		func() Event { return new(ApplicationClustersCreatedEvent) },
		func() Event { return new(ApplicationClustersRemovedEvent) },
		func() Event { return new(ClusterRemovedEvent) },
		func() Event { return new(ClusterResetEvent) },
		func() Event { return new(ClusterInstanceInactivateEvent) },
		func() Event { return new(ClusterInstanceTerminatingEvent) },
		func() Event { return new(ClusterInstanceTerminatedEvent) },
		func() Event { return new(ClusterInstanceCreatedEvent) },
		func() Event { return new(ClusterInstanceActivatedEvent) },
		func() Event { return new(MemberCreatedEvent) },
		func() Event { return new(MemberInitializedEvent) },
		func() Event { return new(MemberStartedEvent) },
		func() Event { return new(MemberActivatedEvent) },
		func() Event { return new(MemberMaintenanceModeEvent) },
		func() Event { return new(MemberReadyToShutdownEvent) },
		func() Event { return new(MemberSuspendedEvent) },
		func() Event { return new(MemberTerminatedEvent) },
		func() Event { return new(CompleteTopologyEvent) },
	)
}
