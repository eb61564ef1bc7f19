package model

// Instance status events (§1.5.2), published by cartridge agents on instance/status/*. The Python
// agent also sends instanceId in some of them; decoding ignores it where Java has no such field.

// InstanceStartedEvent is sent by an agent once it has initialized.
type InstanceStartedEvent struct {
	ApplicationID      string `json:"applicationId,omitempty"`
	ServiceName        string `json:"serviceName"`
	ClusterID          string `json:"clusterId"`
	MemberID           string `json:"memberId"`
	ClusterInstanceID  string `json:"clusterInstanceId,omitempty"`
	NetworkPartitionID string `json:"networkPartitionId,omitempty"`
	PartitionID        string `json:"partitionId,omitempty"`
	GroupID            string `json:"groupId,omitempty"`
}

// InstanceActivatedEvent is sent by an agent once its ports answer (and artifacts are checked out).
type InstanceActivatedEvent struct {
	ServiceName        string `json:"serviceName"`
	ClusterID          string `json:"clusterId"`
	MemberID           string `json:"memberId"`
	InstanceID         string `json:"instanceId,omitempty"`
	ClusterInstanceID  string `json:"clusterInstanceId,omitempty"`
	NetworkPartitionID string `json:"networkPartitionId,omitempty"`
	PartitionID        string `json:"partitionId,omitempty"`
	GroupID            string `json:"groupId,omitempty"`
}

// InstanceMaintenanceModeEvent is sent by an agent when it starts cleaning up.
type InstanceMaintenanceModeEvent struct {
	ServiceName        string `json:"serviceName"`
	ClusterID          string `json:"clusterId"`
	MemberID           string `json:"memberId"`
	ClusterInstanceID  string `json:"clusterInstanceId,omitempty"`
	NetworkPartitionID string `json:"networkPartitionId,omitempty"`
	PartitionID        string `json:"partitionId,omitempty"`
	GroupID            string `json:"groupId,omitempty"`
}

// InstanceReadyToShutdownEvent is sent by an agent when it has cleaned up.
type InstanceReadyToShutdownEvent InstanceMaintenanceModeEvent

// Instance notifier events (§1.5.3), consumed by cartridge agents on instance/notifier/*.

// ArtifactUpdatedEvent tells the agents of a cluster to check out their artifacts. RepoPassword is
// AES-encrypted with the application key and Base64-encoded; TenantID is a string on the wire.
type ArtifactUpdatedEvent struct {
	ClusterID     string `json:"clusterId"`
	Status        string `json:"status,omitempty"`
	RepoUserName  string `json:"repoUserName,omitempty"`
	RepoPassword  string `json:"repoPassword,omitempty"`
	RepoURL       string `json:"repoURL,omitempty"`
	TenantID      String `json:"tenantId,omitempty"`
	CommitEnabled Bool   `json:"commitEnabled"`
}

// InstanceCleanupMemberEvent tells one member's agent to clean up before termination.
type InstanceCleanupMemberEvent struct {
	MemberID string `json:"memberId"`
}

// InstanceCleanupClusterEvent tells the agents of a cluster instance to clean up.
type InstanceCleanupClusterEvent struct {
	ClusterID         string `json:"clusterId"`
	ClusterInstanceID string `json:"clusterInstanceId,omitempty"`
}

// Tenant events (§1.5.4), published by the manager on tenant/*.

// CompleteTenantEvent lists every tenant.
type CompleteTenantEvent struct {
	Tenants []Tenant `json:"tenants"`
}

// MarshalJSON writes tenants as [] when there are none.
func (e CompleteTenantEvent) MarshalJSON() ([]byte, error) {
	type plain CompleteTenantEvent
	p := plain(e)
	p.Tenants = orEmptySlice(p.Tenants)
	return marshalPlain(p)
}

// TenantCreatedEvent announces a tenant.
type TenantCreatedEvent struct {
	Tenant *Tenant `json:"tenant,omitempty"`
}

// TenantUpdatedEvent announces a tenant's new domain.
type TenantUpdatedEvent struct {
	TenantID     Int    `json:"tenantId"`
	TenantDomain string `json:"tenantDomain,omitempty"`
}

// TenantRemovedEvent announces that a tenant is gone.
type TenantRemovedEvent struct {
	TenantID Int `json:"tenantId"`
}

// Application sign-up events (§1.5.4), published by the manager on application/signup/*.

// ApplicationSignUpAddedEvent announces a tenant's sign-up to an application.
type ApplicationSignUpAddedEvent struct {
	ApplicationID string   `json:"applicationId"`
	TenantID      Int      `json:"tenantId"`
	ClusterIDs    []string `json:"clusterIds,omitzero"`
}

// ApplicationSignUpRemovedEvent announces that a sign-up is gone.
type ApplicationSignUpRemovedEvent struct {
	ApplicationID string `json:"applicationId"`
	TenantID      Int    `json:"tenantId"`
}

// CompleteApplicationSignUpsEvent lists every sign-up.
type CompleteApplicationSignUpsEvent struct {
	ApplicationSignUps []ApplicationSignUp `json:"applicationSignUps"`
}

// MarshalJSON writes applicationSignUps as [] when there are none.
func (e CompleteApplicationSignUpsEvent) MarshalJSON() ([]byte, error) {
	type plain CompleteApplicationSignUpsEvent
	p := plain(e)
	p.ApplicationSignUps = orEmptySlice(p.ApplicationSignUps)
	return marshalPlain(p)
}

// Domain mapping events (§1.5.4), published by the manager on domain/mapping/*.

// DomainMappingAddedEvent announces a domain mapping.
type DomainMappingAddedEvent struct {
	ApplicationID string `json:"applicationId"`
	TenantID      Int    `json:"tenantId"`
	ServiceName   string `json:"serviceName"`
	ClusterID     string `json:"clusterId"`
	DomainName    string `json:"domainName"`
	ContextPath   string `json:"contextPath,omitempty"`
}

// DomainMappingRemovedEvent announces that a domain mapping is gone.
type DomainMappingRemovedEvent struct {
	ApplicationID string `json:"applicationId"`
	TenantID      Int    `json:"tenantId"`
	ServiceName   string `json:"serviceName"`
	ClusterID     string `json:"clusterId"`
	DomainName    string `json:"domainName"`
}

// Cluster status events (§1.5.4), published by the autoscaler on cluster/status/*; the cloud
// controller turns them into topology events.

// ClusterStatusClusterInstanceCreatedEvent asks for a new cluster instance.
type ClusterStatusClusterInstanceCreatedEvent struct {
	ClusterID   string `json:"clusterId"`
	InstanceID  string `json:"instanceId"`
	Alias       string `json:"alias,omitempty"`
	ServiceName string `json:"serviceName,omitempty"`
}

// ClusterStatusClusterActivatedEvent reports that a cluster instance reached its minimum.
type ClusterStatusClusterActivatedEvent struct {
	ServiceName string `json:"serviceName"`
	ClusterID   string `json:"clusterId"`
	AppID       string `json:"appId,omitempty"`
	InstanceID  string `json:"instanceId"`
}

// ClusterStatusClusterInactivateEvent reports that a cluster instance fell below its minimum.
type ClusterStatusClusterInactivateEvent ClusterStatusClusterActivatedEvent

// ClusterStatusClusterResetEvent reports that a cluster instance went back to Created.
type ClusterStatusClusterResetEvent ClusterStatusClusterActivatedEvent

// ClusterStatusClusterTerminatingEvent reports that a cluster instance is terminating.
type ClusterStatusClusterTerminatingEvent ClusterStatusClusterActivatedEvent

// ClusterStatusClusterTerminatedEvent reports that a cluster instance terminated.
type ClusterStatusClusterTerminatedEvent ClusterStatusClusterActivatedEvent

// Application events (§1.5.4), published by the autoscaler on application/*.

// ApplicationCreatedEvent announces a deployed application.
type ApplicationCreatedEvent struct {
	Application *Application `json:"application,omitempty"`
}

// ApplicationUpdatedEvent announces a changed application.
type ApplicationUpdatedEvent struct {
	Application *Application `json:"application,omitempty"`
}

// ApplicationDeletedEvent announces that an application and its clusters are gone.
type ApplicationDeletedEvent struct {
	ApplicationID string              `json:"applicationId"`
	ClusterData   []ClusterDataHolder `json:"clusterData,omitzero"`
}

// ApplicationInstanceCreatedEvent announces a new application instance.
type ApplicationInstanceCreatedEvent struct {
	ApplicationID       string               `json:"applicationId"`
	ApplicationInstance *ApplicationInstance `json:"applicationInstance,omitempty"`
}

// ApplicationInstanceActivatedEvent announces that an application instance became Active.
type ApplicationInstanceActivatedEvent struct {
	AppID      string `json:"appId"`
	InstanceID string `json:"instanceId"`
}

// ApplicationInstanceInactivatedEvent announces that an application instance became Inactive.
type ApplicationInstanceInactivatedEvent ApplicationInstanceActivatedEvent

// ApplicationInstanceTerminatingEvent announces that an application instance is Terminating.
type ApplicationInstanceTerminatingEvent ApplicationInstanceActivatedEvent

// ApplicationInstanceTerminatedEvent announces that an application instance is Terminated.
type ApplicationInstanceTerminatedEvent ApplicationInstanceActivatedEvent

// GroupInstanceCreatedEvent announces a new group instance.
type GroupInstanceCreatedEvent struct {
	GroupID       string         `json:"groupId"`
	AppID         string         `json:"appId"`
	GroupInstance *GroupInstance `json:"groupInstance,omitempty"`
}

// GroupInstanceActivatedEvent announces that a group instance became Active.
type GroupInstanceActivatedEvent struct {
	GroupID    string `json:"groupId"`
	AppID      string `json:"appId"`
	InstanceID string `json:"instanceId"`
}

// GroupInstanceInactivatedEvent announces that a group instance became Inactive.
type GroupInstanceInactivatedEvent GroupInstanceActivatedEvent

// GroupInstanceTerminatingEvent announces that a group instance is Terminating.
type GroupInstanceTerminatingEvent GroupInstanceActivatedEvent

// GroupInstanceTerminatedEvent announces that a group instance is Terminated.
type GroupInstanceTerminatedEvent GroupInstanceActivatedEvent

// GroupMaintenanceModeEvent announces that a group instance is in maintenance.
type GroupMaintenanceModeEvent GroupInstanceActivatedEvent

// CompleteApplicationsEvent carries every application (periodically and on request).
type CompleteApplicationsEvent struct {
	Applications *Applications `json:"applications,omitempty"`
}

// Initializer request events (§1.2), published by late joiners on initializer/*; the body is {}.

// CompleteTopologyRequestEvent asks the cloud controller for a CompleteTopologyEvent.
type CompleteTopologyRequestEvent struct{}

// CompleteApplicationsRequestEvent asks the autoscaler for a CompleteApplicationsEvent.
type CompleteApplicationsRequestEvent struct{}

// ClusterTopologyRequestEvent is Strata's own request (no Stratos counterpart): it asks the cloud
// controller for the part of the topology that holds one cluster, answered on
// ClusterTopologyTopic(ClusterID) with a CompleteTopologyEvent body (docs/stratos-wire.md §1.2).
type ClusterTopologyRequestEvent struct {
	ClusterID string `json:"clusterId"`
}

// CompleteTenantRequestEvent asks the manager for a CompleteTenantEvent.
type CompleteTenantRequestEvent struct{}

// CompleteApplicationSignUpsRequestEvent asks the manager for a CompleteApplicationSignUpsEvent.
type CompleteApplicationSignUpsRequestEvent struct{}

// EventClass implements Event.
func (InstanceStartedEvent) EventClass() string { return "instance.status.InstanceStartedEvent" }

// EventClass implements Event.
func (InstanceActivatedEvent) EventClass() string { return "instance.status.InstanceActivatedEvent" }

// EventClass implements Event.
func (InstanceMaintenanceModeEvent) EventClass() string {
	return "instance.status.InstanceMaintenanceModeEvent"
}

// EventClass implements Event.
func (InstanceReadyToShutdownEvent) EventClass() string {
	return "instance.status.InstanceReadyToShutdownEvent"
}

// EventClass implements Event.
func (ArtifactUpdatedEvent) EventClass() string { return "instance.notifier.ArtifactUpdatedEvent" }

// EventClass implements Event.
func (InstanceCleanupMemberEvent) EventClass() string {
	return "instance.notifier.InstanceCleanupMemberEvent"
}

// EventClass implements Event.
func (InstanceCleanupClusterEvent) EventClass() string {
	return "instance.notifier.InstanceCleanupClusterEvent"
}

// EventClass implements Event.
func (CompleteTenantEvent) EventClass() string { return "tenant.CompleteTenantEvent" }

// EventClass implements Event.
func (TenantCreatedEvent) EventClass() string { return "tenant.TenantCreatedEvent" }

// EventClass implements Event.
func (TenantUpdatedEvent) EventClass() string { return "tenant.TenantUpdatedEvent" }

// EventClass implements Event.
func (TenantRemovedEvent) EventClass() string { return "tenant.TenantRemovedEvent" }

// EventClass implements Event.
func (ApplicationSignUpAddedEvent) EventClass() string {
	return "application.signup.ApplicationSignUpAddedEvent"
}

// EventClass implements Event.
func (ApplicationSignUpRemovedEvent) EventClass() string {
	return "application.signup.ApplicationSignUpRemovedEvent"
}

// EventClass implements Event.
func (CompleteApplicationSignUpsEvent) EventClass() string {
	return "application.signup.CompleteApplicationSignUpsEvent"
}

// EventClass implements Event.
func (DomainMappingAddedEvent) EventClass() string { return "domain.mapping.DomainMappingAddedEvent" }

// EventClass implements Event.
func (DomainMappingRemovedEvent) EventClass() string {
	return "domain.mapping.DomainMappingRemovedEvent"
}

// EventClass implements Event.
func (ClusterStatusClusterInstanceCreatedEvent) EventClass() string {
	return "cluster.status.ClusterStatusClusterInstanceCreatedEvent"
}

// EventClass implements Event.
func (ClusterStatusClusterActivatedEvent) EventClass() string {
	return "cluster.status.ClusterStatusClusterActivatedEvent"
}

// EventClass implements Event.
func (ClusterStatusClusterInactivateEvent) EventClass() string {
	return "cluster.status.ClusterStatusClusterInactivateEvent"
}

// EventClass implements Event.
func (ClusterStatusClusterResetEvent) EventClass() string {
	return "cluster.status.ClusterStatusClusterResetEvent"
}

// EventClass implements Event.
func (ClusterStatusClusterTerminatingEvent) EventClass() string {
	return "cluster.status.ClusterStatusClusterTerminatingEvent"
}

// EventClass implements Event.
func (ClusterStatusClusterTerminatedEvent) EventClass() string {
	return "cluster.status.ClusterStatusClusterTerminatedEvent"
}

// EventClass implements Event.
func (ApplicationCreatedEvent) EventClass() string { return "application.ApplicationCreatedEvent" }

// EventClass implements Event.
func (ApplicationUpdatedEvent) EventClass() string { return "application.ApplicationUpdatedEvent" }

// EventClass implements Event.
func (ApplicationDeletedEvent) EventClass() string { return "application.ApplicationDeletedEvent" }

// EventClass implements Event.
func (ApplicationInstanceCreatedEvent) EventClass() string {
	return "application.ApplicationInstanceCreatedEvent"
}

// EventClass implements Event.
func (ApplicationInstanceActivatedEvent) EventClass() string {
	return "application.ApplicationInstanceActivatedEvent"
}

// EventClass implements Event.
func (ApplicationInstanceInactivatedEvent) EventClass() string {
	return "application.ApplicationInstanceInactivatedEvent"
}

// EventClass implements Event.
func (ApplicationInstanceTerminatingEvent) EventClass() string {
	return "application.ApplicationInstanceTerminatingEvent"
}

// EventClass implements Event.
func (ApplicationInstanceTerminatedEvent) EventClass() string {
	return "application.ApplicationInstanceTerminatedEvent"
}

// EventClass implements Event.
func (GroupInstanceCreatedEvent) EventClass() string { return "application.GroupInstanceCreatedEvent" }

// EventClass implements Event.
func (GroupInstanceActivatedEvent) EventClass() string {
	return "application.GroupInstanceActivatedEvent"
}

// EventClass implements Event.
func (GroupInstanceInactivatedEvent) EventClass() string {
	return "application.GroupInstanceInactivatedEvent"
}

// EventClass implements Event.
func (GroupInstanceTerminatingEvent) EventClass() string {
	return "application.GroupInstanceTerminatingEvent"
}

// EventClass implements Event.
func (GroupInstanceTerminatedEvent) EventClass() string {
	return "application.GroupInstanceTerminatedEvent"
}

// EventClass implements Event.
func (GroupMaintenanceModeEvent) EventClass() string { return "application.GroupMaintenanceModeEvent" }

// EventClass implements Event.
func (CompleteApplicationsEvent) EventClass() string { return "application.CompleteApplicationsEvent" }

// EventClass implements Event.
func (ClusterTopologyRequestEvent) EventClass() string {
	return "strata.initializer.ClusterTopologyRequestEvent"
}

func (CompleteTopologyRequestEvent) EventClass() string {
	return "initializer.CompleteTopologyRequestEvent"
}

// EventClass implements Event.
func (CompleteApplicationsRequestEvent) EventClass() string {
	return "initializer.CompleteApplicationsRequestEvent"
}

// EventClass implements Event.
func (CompleteTenantRequestEvent) EventClass() string {
	return "initializer.CompleteTenantRequestEvent"
}

// EventClass implements Event.
func (CompleteApplicationSignUpsRequestEvent) EventClass() string {
	return "initializer.CompleteApplicationSignUpsRequestEvent"
}

func init() {
	register(
		func() Event { return new(InstanceStartedEvent) },
		func() Event { return new(InstanceActivatedEvent) },
		func() Event { return new(InstanceMaintenanceModeEvent) },
		func() Event { return new(InstanceReadyToShutdownEvent) },
		func() Event { return new(ArtifactUpdatedEvent) },
		func() Event { return new(InstanceCleanupMemberEvent) },
		func() Event { return new(InstanceCleanupClusterEvent) },
		func() Event { return new(CompleteTenantEvent) },
		func() Event { return new(TenantCreatedEvent) },
		func() Event { return new(TenantUpdatedEvent) },
		func() Event { return new(TenantRemovedEvent) },
		func() Event { return new(ApplicationSignUpAddedEvent) },
		func() Event { return new(ApplicationSignUpRemovedEvent) },
		func() Event { return new(CompleteApplicationSignUpsEvent) },
		func() Event { return new(DomainMappingAddedEvent) },
		func() Event { return new(DomainMappingRemovedEvent) },
		func() Event { return new(ClusterStatusClusterInstanceCreatedEvent) },
		func() Event { return new(ClusterStatusClusterActivatedEvent) },
		func() Event { return new(ClusterStatusClusterInactivateEvent) },
		func() Event { return new(ClusterStatusClusterResetEvent) },
		func() Event { return new(ClusterStatusClusterTerminatingEvent) },
		func() Event { return new(ClusterStatusClusterTerminatedEvent) },
		func() Event { return new(ApplicationCreatedEvent) },
		func() Event { return new(ApplicationUpdatedEvent) },
		func() Event { return new(ApplicationDeletedEvent) },
		func() Event { return new(ApplicationInstanceCreatedEvent) },
		func() Event { return new(ApplicationInstanceActivatedEvent) },
		func() Event { return new(ApplicationInstanceInactivatedEvent) },
		func() Event { return new(ApplicationInstanceTerminatingEvent) },
		func() Event { return new(ApplicationInstanceTerminatedEvent) },
		func() Event { return new(GroupInstanceCreatedEvent) },
		func() Event { return new(GroupInstanceActivatedEvent) },
		func() Event { return new(GroupInstanceInactivatedEvent) },
		func() Event { return new(GroupInstanceTerminatingEvent) },
		func() Event { return new(GroupInstanceTerminatedEvent) },
		func() Event { return new(GroupMaintenanceModeEvent) },
		func() Event { return new(CompleteApplicationsEvent) },
		func() Event { return new(CompleteTopologyRequestEvent) },
		func() Event { return new(ClusterTopologyRequestEvent) },
		func() Event { return new(CompleteApplicationsRequestEvent) },
		func() Event { return new(CompleteTenantRequestEvent) },
		func() Event { return new(CompleteApplicationSignUpsRequestEvent) },
	)
}
