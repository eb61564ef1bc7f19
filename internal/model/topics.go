package model

// MQTT subscription filters of the Stratos receivers (docs/stratos-wire.md §1.2). Under MQTT "#"
// also matches the parent topic itself, so SubscribeHealthStats receives SummaryTopic.
const (
	SubscribeTopology          = "topology/#"
	SubscribeInitializer       = "initializer/#"
	SubscribeHealthStats       = "summarized-health-stats/#"
	SubscribeInstanceStatus    = "instance/status/#"
	SubscribeInstanceNotifier  = "instance/notifier/#"
	SubscribeInstance          = "instance/#" // what the Python agent subscribes to
	SubscribeApplication       = "application/#"
	SubscribeApplicationSignUp = "application/signup/#"
	SubscribeClusterStatus     = "cluster/status/#"
	SubscribeTenant            = "tenant/#"
	SubscribeDomainMapping     = "domain/mapping/#"
	// SubscribeStrataInitializer receives Strata's own requests (ClusterTopologyRequestEvent).
	SubscribeStrataInitializer = "strata/initializer/#"
)

// ClusterTopologyPrefix is the topic level under which the cloud controller answers a
// ClusterTopologyRequestEvent, one topic per cluster: Strata's own, outside topology/#, so that
// receivers of the Stratos topology do not get every cluster's part.
const ClusterTopologyPrefix = "strata/topology/cluster/"

// ClusterTopologyTopic is the topic of a cluster's part of the topology.
func ClusterTopologyTopic(clusterID string) string { return ClusterTopologyPrefix + clusterID }
