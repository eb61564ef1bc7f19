package model

// Realistic sample events, one per registered class, used by the golden tests and as fuzz seeds.

const (
	sApp      = "app1"
	sService  = "php"
	sCluster  = "app1.php1.php.domain"
	sMember   = "app1.php1.php.domain4f1b2c3d-8e9f-4a0b-9c1d-2e3f4a5b6c7d"
	sCInst    = "app1-1"
	sNP       = "network-partition-1"
	sPartID   = "partition-1"
	sGroup    = "group1"
	sIaaSID   = "RegionOne/5f2c1a9e-2d4b-4c1e-8f3a-7b6c5d4e3f2a"
	sInitTime = 1422016262372
)

func sampleMember() *Member {
	m := &Member{
		ServiceName:        sService,
		ClusterID:          sCluster,
		MemberID:           sMember,
		ClusterInstanceID:  sCInst,
		NetworkPartitionID: sNP,
		PartitionID:        sPartID,
		InstanceID:         sIaaSID,
		InitTime:           sInitTime,
		PortMap: PortMap{
			80:  {Protocol: "http", Value: 8080, Proxy: 80},
			443: {Protocol: "https", Value: 8443, Proxy: 443},
		},
		MemberPublicIPs:     []string{"203.0.113.10"},
		DefaultPublicIP:     "203.0.113.10",
		MemberPrivateIPs:    []string{"10.0.0.12"},
		DefaultPrivateIP:    "10.0.0.12",
		Properties:          Properties{"MIN_COUNT": "1", "PRIMARY": "false"},
		LoadBalancingIPType: IPPrivate,
	}
	m.MemberStateManager.Identifier = sMember
	for _, s := range []MemberStatus{MemberCreated, MemberInitialized, MemberStarting, MemberActive} {
		m.PushStatus(s)
	}
	return m
}

func sampleClusterInstance() *ClusterInstance {
	ci := &ClusterInstance{
		Alias:              "php1",
		InstanceID:         sCInst,
		InstanceProperties: Properties{},
		ParentID:           sCInst,
		NetworkPartitionID: sNP,
		PartitionID:        sPartID,
	}
	ci.LifeCycleStateManager.Identifier = sCluster + "_" + sCInst
	ci.LifeCycleStateManager.Push(ClusterCreated)
	ci.LifeCycleStateManager.Push(ClusterActive)
	return ci
}

func sampleCluster() *Cluster {
	return &Cluster{
		ServiceName:                    sService,
		ClusterID:                      sCluster,
		AutoscalePolicyName:            "autoscaling-policy-1",
		DeploymentPolicyName:           "deployment-policy-1",
		HostNames:                      []string{"app1.php1.php.stratos.org"},
		TenantRange:                    "*",
		MemberMap:                      map[string]*Member{sMember: sampleMember()},
		AppID:                          sApp,
		ParentID:                       sApp,
		LoadBalanceAlgorithmName:       "round-robin",
		Properties:                     Properties{"payload_parameter.LOG_LEVEL": "INFO"},
		InstanceIDToInstanceContextMap: map[string]*ClusterInstance{sCInst: sampleClusterInstance()},
		AccessURLs:                     map[string][]string{sCInst: {"http://app1.php1.php.stratos.org:80"}},
		KubernetesServices:             []KubernetesService{},
		LoadBalancerIPs:                []string{},
	}
}

func sampleTopology() *Topology {
	return &Topology{
		ClusterMap: map[string]*Cluster{},
		ServiceMap: map[string]*Service{sService: {
			ServiceName:         sService,
			ServiceType:         SingleTenant,
			ClusterIDClusterMap: map[string]*Cluster{sCluster: sampleCluster()},
			PortMap:             PortMap{80: {Protocol: "http", Value: 8080, Proxy: 80}},
			Properties:          Properties{"category": "framework"},
		}},
		Initialized: true,
	}
}

func sampleApplication() *Application {
	ai := &ApplicationInstance{Alias: sApp, InstanceID: sCInst, NetworkPartitionID: sNP}
	ai.LifeCycleStateManager.Identifier = sApp + "_" + sCInst
	ai.LifeCycleStateManager.Push(ApplicationCreated)
	ai.LifeCycleStateManager.Push(ApplicationActive)
	gi := &GroupInstance{Alias: sGroup, InstanceID: sGroup + "-1", ParentID: sCInst, NetworkPartitionID: sNP, PartitionID: sPartID}
	gi.LifeCycleStateManager.Push(GroupCreated)
	return &Application{
		ID:                  sApp,
		Name:                "my php app",
		Key:                 "aB3dE5gH7jK9mN1p",
		TenantID:            -1234,
		TenantDomain:        "carbon.super",
		TenantAdminUserName: "admin",
		ApplicationPolicyID: "application-policy-1",
		ParentComponent: ParentComponent[ApplicationStatus]{
			AliasToGroupMap: map[string]*Group{sGroup: {
				Name:              "esb-php-group",
				Alias:             sGroup,
				GroupMinInstances: 1,
				GroupMaxInstances: 2,
				ApplicationID:     sApp,
				ParentComponent: ParentComponent[GroupStatus]{
					AliasToClusterDataMap: map[string]ClusterDataHolder{"esb1": {ServiceType: "esb",
						ClusterID: "app1.esb1.esb.domain", MinInstances: 1, MaxInstances: 3}},
					InstanceIDToInstanceContextMap: map[string]*GroupInstance{gi.InstanceID: gi},
					DependencyOrder:                &DependencyOrder{TerminationBehaviour: "terminate-none"},
					InstanceIDSequence:             1,
				},
			}},
			AliasToClusterDataMap: map[string]ClusterDataHolder{"php1": {ServiceType: sService,
				ClusterID: sCluster, MinInstances: 1, MaxInstances: 5}},
			TypeToClusterDataMap: map[string]ClusterDataHolder{sService: {ServiceType: sService,
				ClusterID: sCluster, MinInstances: 1, MaxInstances: 5}},
			AliasToDeploymentPolicyIDMap:   map[string]string{"php1": "deployment-policy-1"},
			InstanceIDToInstanceContextMap: map[string]*ApplicationInstance{sCInst: ai},
			DependencyOrder: &DependencyOrder{
				StartupOrders:        []StartupOrder{{StartupOrderComponentList: []string{"group.group1", "cartridge.php1"}}},
				ScalingDependents:    []ScalingDependentList{{ScalingDependentListComponents: []string{"cartridge.php1"}}},
				TerminationBehaviour: "terminate-all",
			},
			InstanceIDSequence: 1,
		},
	}
}

func sampleSignUp() ApplicationSignUp {
	return ApplicationSignUp{
		TenantID:      -1234,
		ApplicationID: sApp,
		ArtifactRepositories: []ArtifactRepository{{CartridgeType: sService, Alias: "php1", PrivateRepo: true,
			RepoURL: "https://github.com/imesh/stratos-php-applications.git", RepoUsername: "user",
			RepoPassword: "dmVyeSBzZWNyZXQ="}},
		DomainMappings: []DomainMapping{{ApplicationID: sApp, TenantID: -1234, ServiceName: sService,
			ClusterID: sCluster, DomainName: "www.example.com", ContextPath: "/app"}},
		ClusterIDs:           []string{sCluster},
		SignupAddedTimestamp: sInitTime,
	}
}

// sampleEvents returns one realistic event per registered class, summaries excluded.
func sampleEvents() []Event {
	clusterData := []ClusterDataHolder{{ServiceType: sService, ClusterID: sCluster, MinInstances: 1, MaxInstances: 5}}
	return []Event{
		// topology
		&ServiceCreatedEvent{ServiceName: sService, ServiceType: SingleTenant,
			PortMap: PortMap{80: {Protocol: "http", Value: 8080, Proxy: 80}}, Properties: Properties{"category": "framework"}},
		&ServiceRemovedEvent{ServiceName: sService},
		&ClusterCreatedEvent{Cluster: sampleCluster()},
		&ApplicationClustersCreatedEvent{ClusterList: []*Cluster{sampleCluster()}, AppID: sApp},
		&ApplicationClustersRemovedEvent{ClusterData: clusterData, AppID: sApp},
		&ClusterRemovedEvent{ServiceName: sService, ClusterID: sCluster, DeploymentPolicy: "deployment-policy-1"},
		&ClusterResetEvent{ServiceName: sService, ClusterID: sCluster, AppID: sApp, InstanceID: sCInst},
		&ClusterInstanceInactivateEvent{ServiceName: sService, ClusterID: sCluster, AppID: sApp, InstanceID: sCInst},
		&ClusterInstanceTerminatingEvent{ServiceName: sService, ClusterID: sCluster, AppID: sApp, InstanceID: sCInst},
		&ClusterInstanceTerminatedEvent{ServiceName: sService, ClusterID: sCluster, AppID: sApp, InstanceID: sCInst},
		&ClusterInstanceCreatedEvent{ServiceName: sService, ClusterID: sCluster, PartitionID: sPartID,
			NetworkPartitionID: sNP, ClusterInstance: sampleClusterInstance()},
		&ClusterInstanceActivatedEvent{ServiceName: sService, ClusterID: sCluster, AppID: sApp, InstanceID: sCInst,
			AccessURLs: []string{"http://app1.php1.php.stratos.org:80"}, LoadBalancerIPs: []string{"203.0.113.5"}},
		&MemberCreatedEvent{ServiceName: sService, ClusterID: sCluster, ClusterInstanceID: sCInst,
			NetworkPartitionID: sNP, PartitionID: sPartID, MemberID: sMember, LoadBalancingIPType: IPPrivate,
			InitTime: sInitTime, Properties: Properties{"MIN_COUNT": "1"}},
		&MemberInitializedEvent{ServiceName: sService, ClusterID: sCluster, ClusterInstanceID: sCInst,
			NetworkPartitionID: sNP, PartitionID: sPartID, MemberID: sMember, InstanceID: sIaaSID,
			MemberPublicIPs: []string{"203.0.113.10"}, DefaultPublicIP: "203.0.113.10",
			MemberPrivateIPs: []string{"10.0.0.12"}, DefaultPrivateIP: "10.0.0.12", Properties: Properties{"MIN_COUNT": "1"}},
		&MemberStartedEvent{ServiceName: sService, ClusterID: sCluster, ClusterInstanceID: sCInst,
			NetworkPartitionID: sNP, PartitionID: sPartID, MemberID: sMember, Status: MemberStarting, GroupID: sGroup},
		&MemberActivatedEvent{ServiceName: sService, ClusterID: sCluster, ClusterInstanceID: sCInst, MemberID: sMember,
			NetworkPartitionID: sNP, PartitionID: sPartID, PortMap: PortMap{80: {Protocol: "http", Value: 8080, Proxy: 80}},
			MemberPrivateIPs: []string{"10.0.0.12"}, DefaultPrivateIP: "10.0.0.12", ApplicationID: sApp,
			MemberPublicIPs: []string{"203.0.113.10"}, DefaultPublicIP: "203.0.113.10"},
		&MemberMaintenanceModeEvent{ServiceName: sService, ClusterID: sCluster, ClusterInstanceID: sCInst,
			MemberID: sMember, NetworkPartitionID: sNP, PartitionID: sPartID, Status: MemberInMaintenance},
		&MemberReadyToShutdownEvent{ServiceName: sService, ClusterID: sCluster, ClusterInstanceID: sCInst,
			MemberID: sMember, NetworkPartitionID: sNP, PartitionID: sPartID, Status: MemberReadyToShutDown},
		&MemberSuspendedEvent{ServiceName: sService, ClusterID: sCluster, NetworkPartitionID: sNP,
			PartitionID: sPartID, MemberID: sMember},
		&MemberTerminatedEvent{ServiceName: sService, ClusterID: sCluster, MemberID: sMember,
			ClusterInstanceID: sCInst, NetworkPartitionID: sNP, PartitionID: sPartID, Properties: Properties{"MIN_COUNT": "1"}},
		&CompleteTopologyEvent{Topology: sampleTopology()},

		// instance status
		&InstanceStartedEvent{ApplicationID: sApp, ServiceName: sService, ClusterID: sCluster, MemberID: sMember,
			ClusterInstanceID: sCInst, NetworkPartitionID: sNP, PartitionID: sPartID},
		&InstanceActivatedEvent{ServiceName: sService, ClusterID: sCluster, MemberID: sMember, InstanceID: sIaaSID,
			ClusterInstanceID: sCInst, NetworkPartitionID: sNP, PartitionID: sPartID},
		&InstanceMaintenanceModeEvent{ServiceName: sService, ClusterID: sCluster, MemberID: sMember,
			ClusterInstanceID: sCInst, NetworkPartitionID: sNP, PartitionID: sPartID},
		&InstanceReadyToShutdownEvent{ServiceName: sService, ClusterID: sCluster, MemberID: sMember,
			ClusterInstanceID: sCInst, NetworkPartitionID: sNP, PartitionID: sPartID},

		// instance notifier
		&ArtifactUpdatedEvent{ClusterID: sCluster, Status: "active", RepoUserName: "user",
			RepoPassword: "dmVyeSBzZWNyZXQ=", RepoURL: "https://github.com/imesh/stratos-php-applications.git",
			TenantID: "-1234", CommitEnabled: false},
		&InstanceCleanupMemberEvent{MemberID: sMember},
		&InstanceCleanupClusterEvent{ClusterID: sCluster, ClusterInstanceID: sCInst},

		// tenant
		&CompleteTenantEvent{Tenants: []Tenant{{TenantID: -1234, TenantDomain: "carbon.super"}, {TenantID: 1, TenantDomain: "example.com"}}},
		&TenantCreatedEvent{Tenant: &Tenant{TenantID: 2, TenantDomain: "acme.org"}},
		&TenantUpdatedEvent{TenantID: 2, TenantDomain: "acme.com"},
		&TenantRemovedEvent{TenantID: 2},

		// application sign-up
		&ApplicationSignUpAddedEvent{ApplicationID: sApp, TenantID: -1234, ClusterIDs: []string{sCluster}},
		&ApplicationSignUpRemovedEvent{ApplicationID: sApp, TenantID: -1234},
		&CompleteApplicationSignUpsEvent{ApplicationSignUps: []ApplicationSignUp{sampleSignUp()}},

		// domain mapping
		&DomainMappingAddedEvent{ApplicationID: sApp, TenantID: -1234, ServiceName: sService, ClusterID: sCluster,
			DomainName: "www.example.com", ContextPath: "/app"},
		&DomainMappingRemovedEvent{ApplicationID: sApp, TenantID: -1234, ServiceName: sService, ClusterID: sCluster,
			DomainName: "www.example.com"},

		// cluster status
		&ClusterStatusClusterInstanceCreatedEvent{ClusterID: sCluster, InstanceID: sCInst, Alias: "php1", ServiceName: sService},
		&ClusterStatusClusterActivatedEvent{ServiceName: sService, ClusterID: sCluster, AppID: sApp, InstanceID: sCInst},
		&ClusterStatusClusterInactivateEvent{ServiceName: sService, ClusterID: sCluster, AppID: sApp, InstanceID: sCInst},
		&ClusterStatusClusterResetEvent{ServiceName: sService, ClusterID: sCluster, AppID: sApp, InstanceID: sCInst},
		&ClusterStatusClusterTerminatingEvent{ServiceName: sService, ClusterID: sCluster, AppID: sApp, InstanceID: sCInst},
		&ClusterStatusClusterTerminatedEvent{ServiceName: sService, ClusterID: sCluster, AppID: sApp, InstanceID: sCInst},

		// application
		&ApplicationCreatedEvent{Application: sampleApplication()},
		&ApplicationUpdatedEvent{Application: sampleApplication()},
		&ApplicationDeletedEvent{ApplicationID: sApp, ClusterData: clusterData},
		&ApplicationInstanceCreatedEvent{ApplicationID: sApp,
			ApplicationInstance: sampleApplication().InstanceIDToInstanceContextMap[sCInst]},
		&ApplicationInstanceActivatedEvent{AppID: sApp, InstanceID: sCInst},
		&ApplicationInstanceInactivatedEvent{AppID: sApp, InstanceID: sCInst},
		&ApplicationInstanceTerminatingEvent{AppID: sApp, InstanceID: sCInst},
		&ApplicationInstanceTerminatedEvent{AppID: sApp, InstanceID: sCInst},
		&GroupInstanceCreatedEvent{GroupID: sGroup, AppID: sApp,
			GroupInstance: sampleApplication().AliasToGroupMap[sGroup].InstanceIDToInstanceContextMap[sGroup+"-1"]},
		&GroupInstanceActivatedEvent{GroupID: sGroup, AppID: sApp, InstanceID: sGroup + "-1"},
		&GroupInstanceInactivatedEvent{GroupID: sGroup, AppID: sApp, InstanceID: sGroup + "-1"},
		&GroupInstanceTerminatingEvent{GroupID: sGroup, AppID: sApp, InstanceID: sGroup + "-1"},
		&GroupInstanceTerminatedEvent{GroupID: sGroup, AppID: sApp, InstanceID: sGroup + "-1"},
		&GroupMaintenanceModeEvent{GroupID: sGroup, AppID: sApp, InstanceID: sGroup + "-1"},
		&CompleteApplicationsEvent{Applications: &Applications{
			ApplicationMap: map[string]*Application{sApp: sampleApplication()}, Initialized: true}},

		// initializer
		&CompleteTopologyRequestEvent{},
		&ClusterTopologyRequestEvent{ClusterID: "app1.php1.php.domain"},
		&CompleteApplicationsRequestEvent{},
		&CompleteTenantRequestEvent{},
		&CompleteApplicationSignUpsRequestEvent{},
	}
}

// sampleSummaries returns one summary per kind.
func sampleSummaries() []*Summary {
	var out []*Summary
	for k := AverageLoadAverage; k < summaryKinds; k++ {
		s := &Summary{Kind: k, ClusterID: sCluster, ClusterInstanceID: sCInst, NetworkPartitionID: sNP}
		switch {
		case k == MemberFault:
			s.MemberID, s.PartitionID = sMember, sPartID
		case k.MemberLevel():
			s.MemberID, s.Value = sMember, 42.5
		default:
			s.Value = 35.25
		}
		if len(summaryKeysByKind[k]) > 0 && summaryKeysByKind[k][len(summaryKeysByKind[k])-1] == keyTimestamp {
			s.Timestamp = sInitTime
		}
		out = append(out, s)
	}
	return out
}
