package model

import (
	"slices"
	"strings"
)

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

// TopologyTopics are the topics of the topology events Strata knows, the CompleteTopologyEvent's
// excepted, sorted: what a consumer that takes the complete topology only when it asks for one
// subscribes to instead of SubscribeTopology (bus.Consumer.FollowTopology).
func TopologyTopics() []string {
	complete := (&CompleteTopologyEvent{}).EventClass()
	var out []string
	for class := range registry {
		if strings.HasPrefix(class, "topology.") && class != complete {
			out = append(out, Topic(class))
		}
	}
	slices.Sort(out)
	return out
}
