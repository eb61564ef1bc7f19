package model

// Application structures as CompleteApplicationsEvent, ApplicationCreatedEvent and
// ApplicationUpdatedEvent carry them (MSG/domain/application/). Gson writes a subclass's fields
// before its superclass's, so the ParentComponent fields come last.

// Applications is the autoscaler's view of every deployed application.
type Applications struct {
	ApplicationMap map[string]*Application `json:"applicationMap"`
	Initialized    Bool                    `json:"initialized"`
}

// ParentComponent holds what applications and groups share: their child groups and clusters,
// their instances and their dependency order.
type ParentComponent[S State[S]] struct {
	AliasToGroupMap                  map[string]*Group            `json:"aliasToGroupMap,omitzero"`
	AliasToClusterDataMap            map[string]ClusterDataHolder `json:"aliasToClusterDataMap,omitzero"`
	TypeToClusterDataMap             map[string]ClusterDataHolder `json:"typeToClusterDataMap,omitzero"`
	AliasToDeploymentPolicyIDMap     map[string]string            `json:"aliasToDeploymentPolicyIdMap,omitzero"`
	InstanceIDToInstanceContextMap   map[string]*Instance[S]      `json:"instanceIdToInstanceContextMap,omitzero"`
	DependencyOrder                  *DependencyOrder             `json:"dependencyOrder,omitempty"`
	IsGroupScalingEnabled            Bool                         `json:"isGroupScalingEnabled"`
	IsGroupInstanceMonitoringEnabled Bool                         `json:"isGroupInstanceMonitoringEnabled"`
	DeploymentPolicy                 string                       `json:"deploymentPolicy,omitempty"`
	InstanceIDSequence               Int                          `json:"instanceIdSequence"`
}

// Application is a deployed application: its identity, tenant and key, then its components.
type Application struct {
	ID                  string `json:"id"`
	Name                string `json:"name,omitempty"`
	Description         string `json:"description,omitempty"`
	Key                 string `json:"key,omitempty"` // the CARTRIDGE_KEY that decrypts repo passwords
	TenantID            Int    `json:"tenantId"`
	TenantDomain        string `json:"tenantDomain,omitempty"`
	TenantAdminUserName string `json:"tenantAdminUserName,omitempty"`
	ApplicationPolicyID string `json:"applicationPolicyId,omitempty"`
	ParentComponent[ApplicationStatus]
}

// Group is a cartridge group inside an application or another group.
type Group struct {
	Name              string `json:"name,omitempty"`
	Alias             string `json:"alias"`
	GroupMinInstances Int    `json:"groupMinInstances"`
	GroupMaxInstances Int    `json:"groupMaxInstances"`
	AutoscalingPolicy string `json:"autoscalingPolicy,omitempty"`
	ApplicationID     string `json:"applicationId,omitempty"`
	ParentComponent[GroupStatus]
}

// DependencyOrder is the startup order, scaling dependents and termination behaviour of the
// children of an application or group.
type DependencyOrder struct {
	StartupOrders        []StartupOrder         `json:"startupOrders,omitzero"`
	ScalingDependents    []ScalingDependentList `json:"scalingDependents,omitzero"`
	TerminationBehaviour string                 `json:"terminationBehaviour,omitempty"`
}

// StartupOrder lists children ("cartridge.alias" or "group.alias") that start in this order.
type StartupOrder struct {
	StartupOrderComponentList []string `json:"startupOrderComponentList"`
}

// ScalingDependentList lists children that scale together.
type ScalingDependentList struct {
	ScalingDependentListComponents []string `json:"scalingDependentListComponents"`
}

// Tenant is a tenant as the tenant events carry it. TenantDomain is always written: the Python
// agent reads it without a guard.
type Tenant struct {
	TenantID     Int    `json:"tenantId"`
	TenantDomain string `json:"tenantDomain"`
}

// ApplicationSignUp is a tenant's sign-up to an application.
type ApplicationSignUp struct {
	TenantID             Int                  `json:"tenantId"`
	ApplicationID        string               `json:"applicationId"`
	ArtifactRepositories []ArtifactRepository `json:"artifactRepositories,omitzero"`
	DomainMappings       []DomainMapping      `json:"domainMappings,omitzero"`
	ClusterIDs           []string             `json:"clusterIds,omitzero"`
	SignupAddedTimestamp Long                 `json:"signupAddedTimestamp"`
}

// ArtifactRepository is the git repository of one cartridge of a sign-up. RepoPassword is
// encrypted with the application key (§1.5.3).
type ArtifactRepository struct {
	CartridgeType string `json:"cartridgeType,omitempty"`
	Alias         string `json:"alias,omitempty"`
	PrivateRepo   Bool   `json:"privateRepo"`
	RepoURL       string `json:"repoUrl,omitempty"`
	RepoUsername  string `json:"repoUsername,omitempty"`
	RepoPassword  string `json:"repoPassword,omitempty"`
}

// DomainMapping maps a domain name to a cluster of a sign-up.
type DomainMapping struct {
	ApplicationID string `json:"applicationId,omitempty"`
	TenantID      Int    `json:"tenantId"`
	ServiceName   string `json:"serviceName,omitempty"`
	ClusterID     string `json:"clusterId,omitempty"`
	DomainName    string `json:"domainName"`
	ContextPath   string `json:"contextPath,omitempty"`
}
