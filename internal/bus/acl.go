package bus

import (
	"strings"

	"github.com/strata-paas/strata/internal/model"
)

// Role is what a client of the embedded broker may do, decided when it connects.
type Role uint8

// Roles of broker clients.
const (
	// RoleNone may connect but neither publish nor subscribe: an account the operator has not
	// granted bus access to.
	RoleNone Role = iota
	// RoleInternal may do everything: the platform's own components (the internal credential),
	// accounts an operator granted bus access, and anonymous clients where
	// BrokerOptions.AllowAnonymous lets them in.
	RoleInternal
	// RoleMember is one member's agent: it publishes its own instance status and the
	// initializer requests, and subscribes to what an agent reads.
	RoleMember
	// RoleCluster is a per-cluster agent account of older data dirs: like RoleMember, for any
	// member of its cluster.
	RoleCluster
)

// String names the role in logs.
func (r Role) String() string {
	switch r {
	case RoleInternal:
		return "internal"
	case RoleMember:
		return "member"
	case RoleCluster:
		return "cluster"
	}
	return "none"
}

// Identity is who a broker client is, as its credentials say.
type Identity struct {
	Role Role
	// Name is the username the client connected with, for logs ("" for anonymous).
	Name string
	// MemberID is the member of a RoleMember identity; ClusterID the cluster of a RoleMember or
	// RoleCluster identity.
	MemberID, ClusterID string
}

// key tells identities apart for the client-id check: two connections of one identity may take
// over each other's session, others may not.
func (id Identity) key() string {
	return id.Role.String() + "\x00" + id.Name + "\x00" + id.MemberID + "\x00" + id.ClusterID
}

// Request is one thing a client asks the broker to do: publish a message (Publish set, with its
// Body and Retain flag) or subscribe to a filter (Publish unset; Topic is the filter, or the topic
// of a message being delivered).
type Request struct {
	Publish bool
	Topic   string
	Body    []byte
	Retain  bool
}

// Decision is the answer to a Request; Reason says why a request is refused (empty when allowed).
type Decision struct {
	Allow  bool
	Reason string
}

func allow() Decision             { return Decision{Allow: true} }
func deny(reason string) Decision { return Decision{Reason: reason} }

// agentFilters are what an agent subscribes to (docs/stratos-wire.md §1.2 and §7.3: the PCA reads
// topology/#, instance/#, tenant/#, application/signup/#; Strata's agent the same, the LB-style
// extensions domain/mapping/#). An agent's subscription must lie inside one of them.
var agentFilters = []string{"topology/#", "instance/#", "tenant/#", "application/signup/#", "domain/mapping/#"}

// memberStatusTopics are the instance/status events an agent publishes about itself (§1.5.2).
var memberStatusTopics = map[string]bool{
	"instance/status/InstanceStartedEvent":         true,
	"instance/status/InstanceActivatedEvent":       true,
	"instance/status/InstanceMaintenanceModeEvent": true,
	"instance/status/InstanceReadyToShutdownEvent": true,
}

// requestTopics are the initializer requests an agent publishes; they carry no ids (body {}).
var requestTopics = map[string]bool{
	"initializer/CompleteTopologyRequestEvent":           true,
	"initializer/CompleteTenantRequestEvent":             true,
	"initializer/CompleteApplicationSignUpsRequestEvent": true,
	"initializer/CompleteApplicationsRequestEvent":       true,
}

// clusterTopologyRequestTopic is Strata's request for a cluster's part of the topology.
var clusterTopologyRequestTopic = model.TopicOf(model.ClusterTopologyRequestEvent{})

// Decide is the broker's access decision: whether id may do r, and if not, why. It is a pure
// function of its arguments. RoleInternal may do everything and RoleNone nothing. A member
// (RoleMember) may publish the instance/status events of §1.5.2 only when the body, decoded as the
// controller decodes it, names its own memberId and clusterId; a RoleCluster identity only when
// the clusterId is its cluster and the memberId one of that cluster's member ids (§1.7). Both may
// publish the initializer requests, never a retained message, and subscribe only within
// agentFilters. Of Strata's cluster parts of the topology, both may ask for (publish a
// ClusterTopologyRequestEvent naming) and read (subscribe to the topic of) their own cluster's
// only.
func Decide(id Identity, r Request) Decision {
	switch id.Role {
	case RoleInternal:
		return allow()
	case RoleMember, RoleCluster:
	default:
		return deny("the account has no broker access")
	}
	if !r.Publish {
		if strings.HasPrefix(r.Topic, model.ClusterTopologyPrefix) {
			if id.ClusterID == "" || r.Topic != model.ClusterTopologyTopic(id.ClusterID) {
				return deny("agents read only their own cluster's part of the topology")
			}
			return allow()
		}
		for _, f := range agentFilters {
			if covers(f, r.Topic) {
				return allow()
			}
		}
		return deny("agents subscribe only to topology/#, instance/#, tenant/#, application/signup/#, domain/mapping/# and their cluster's part of the topology")
	}
	if r.Retain {
		return deny("agents may not publish retained messages")
	}
	if requestTopics[r.Topic] {
		return allow()
	}
	if r.Topic == clusterTopologyRequestTopic {
		e, err := model.Unmarshal(r.Topic, r.Body)
		if err != nil {
			return deny("the cluster topology request does not decode")
		}
		if e.(*model.ClusterTopologyRequestEvent).ClusterID != id.ClusterID {
			return deny("the request's clusterId is not the credential's cluster")
		}
		return allow()
	}
	if !memberStatusTopics[r.Topic] {
		return deny("agents publish only instance/status events and initializer requests")
	}
	e, err := model.Unmarshal(r.Topic, r.Body)
	if err != nil {
		return deny("the instance status event does not decode")
	}
	memberID, clusterID := statusIDs(e)
	if clusterID != id.ClusterID {
		return deny("the event's clusterId is not the credential's cluster")
	}
	if id.Role == RoleMember {
		if memberID != id.MemberID {
			return deny("the event's memberId is not the credential's member")
		}
		return allow()
	}
	if c, ok := model.MemberClusterID(memberID); !ok || c != id.ClusterID {
		return deny("the event's memberId is not a member of the credential's cluster")
	}
	return allow()
}

// statusIDs returns the member and cluster ids of an instance status event.
func statusIDs(e model.Event) (memberID, clusterID string) {
	switch ev := e.(type) {
	case *model.InstanceStartedEvent:
		return ev.MemberID, ev.ClusterID
	case *model.InstanceActivatedEvent:
		return ev.MemberID, ev.ClusterID
	case *model.InstanceMaintenanceModeEvent:
		return ev.MemberID, ev.ClusterID
	case *model.InstanceReadyToShutdownEvent:
		return ev.MemberID, ev.ClusterID
	}
	return "", ""
}

// covers reports whether every topic that filter matches is also matched by pattern, under the
// MQTT rules ("+" one level, "#" the rest). A topic name is a filter without wildcards, so
// covers(pattern, topic) is also match(pattern, topic) for topics not starting with "$".
func covers(pattern, filter string) bool {
	if strings.HasPrefix(filter, "$") {
		return false // $SYS and shared subscriptions lie outside every agent pattern
	}
	for {
		p, prest, pmore := strings.Cut(pattern, "/")
		if p == "#" {
			return true
		}
		f, frest, fmore := strings.Cut(filter, "/")
		switch {
		case f == "#":
			return false // the filter reaches further than a pattern level that is not "#"
		case p == "+":
		case f != p: // a literal pattern level covers only that literal, not "+"
			return false
		}
		switch {
		case !pmore && !fmore:
			return true
		case !pmore:
			return false
		case !fmore:
			return prest == "#" // "a/#" covers "a"
		}
		pattern, filter = prest, frest
	}
}
