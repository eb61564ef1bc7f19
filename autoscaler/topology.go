package autoscaler

import (
	"slices"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// The last complete topology, as the autoscaler keeps it. Stratos' autoscaler takes the complete
// topology as its initial state and follows the topology events from then on; Strata keeps of the
// last one it took what a monitor registered after it needs (after a restart the manager may
// register its clusters once the topology has gone by, and the tree creates cluster instances as
// their startup order allows): the status of each cluster instance and the members no monitor
// knew. That snapshot may be minutes old when it is read, or taken mid-change (every cartridge
// agent asks for one when it starts, and each answer reaches every subscriber), so the topology
// events after it keep it current (topoEventLocked): a cluster instance Terminated since is
// forgotten with its members, and one created again with the same id (the cluster instances of a
// group instance that terminate-all recreates) starts Created, not with the status of the one
// before it.

// topoCluster is what the autoscaler keeps of a cluster of the last complete topology: the status
// of its cluster instances and, for each member, what learnMembersLocked reads, both as the
// events since changed them (topoEventLocked). Not the decoded topology itself, which holds every
// member's addresses, port map, properties and state stack (issue 17: ~2 KB a member, kept until
// the next one), and which the autoscaler must not change (in process it may be the
// controller's).
type topoCluster struct {
	instances map[string]model.ClusterStatus
	members   []topoMember
}

// topoMember is a member of a topoCluster. The cluster instance and partition ids are shared by
// the cluster's members, one string each.
type topoMember struct {
	id, instanceID, partitionID string
	status                      model.MemberStatus
}

// keepTopology returns what the autoscaler keeps of a cluster of a complete topology.
func keepTopology(cl *model.Cluster) *topoCluster {
	tc := &topoCluster{instances: make(map[string]model.ClusterStatus, len(cl.InstanceIDToInstanceContextMap)),
		members: make([]topoMember, 0, len(cl.MemberMap))}
	for id, ci := range cl.InstanceIDToInstanceContextMap {
		if ci != nil && ci.Status() != "" && ci.Status() != model.ClusterTerminated {
			tc.instances[id] = ci.Status()
		}
	}
	shared := map[string]string{}
	same := func(s string) string {
		if v, ok := shared[s]; ok {
			return v
		}
		shared[s] = s
		return s
	}
	for _, m := range cl.MemberMap {
		if m == nil {
			continue
		}
		tc.members = append(tc.members, topoMember{id: m.MemberID, instanceID: same(m.ClusterInstanceID),
			partitionID: same(m.PartitionID), status: m.Status()})
	}
	return tc
}

// forgetKnownLocked drops the members the autoscaler knows from tc: it never learns them again
// (a member it forgets is terminated, topoGone), and the periodic complete topology of a steady
// platform names only members it knows (issue 17: 64 B a member kept until the next topology).
func (tc *topoCluster) forgetKnownLocked(a *Autoscaler) {
	kept := slices.DeleteFunc(tc.members, func(m topoMember) bool { return a.members[m.id] != nil })
	switch {
	case len(kept) == 0:
		tc.members = nil
	case len(kept) < cap(kept)/2:
		tc.members = slices.Clone(kept) // not the array sized for every member
	default:
		tc.members = kept
	}
}

// completeTopologyLocked adopts clusters and learns members it does not know (after a restart,
// §8.2 StratosServerRestartTestCase). It never forgets members: MemberTerminatedEvent does.
func (a *Autoscaler) completeTopologyLocked(t *model.Topology, now time.Time) bool {
	if t == nil {
		return false
	}
	a.topo = map[string]*topoCluster{}
	clear(a.topoGone)
	woke := false
	for _, s := range t.ServiceMap {
		if s == nil {
			continue
		}
		for _, cl := range s.ClusterIDClusterMap {
			if cl == nil {
				continue
			}
			tc := keepTopology(cl)
			a.topo[cl.ClusterID] = tc
			if a.clusters[cl.ClusterID] == nil {
				woke = a.adoptLocked(cl, now) || woke
			}
			a.learnMembersLocked(cl.ClusterID, tc, now)
			tc.forgetKnownLocked(a)
			// The tree's cluster instances take their status from the topology (a restart
			// rebuilds the tree over running instances).
			for id, ci := range cl.InstanceIDToInstanceContextMap {
				if ci == nil || a.tree.clusters[treeKey{cl.ClusterID, id}] == nil {
					continue
				}
				if in := a.instanceLocked(cl.ClusterID, id); in != nil && in.status == model.ClusterCreated {
					in.status = ci.Status()
				}
				a.clusterStatusLocked(cl.ClusterID, id, ci.Status(), now)
				woke = true
			}
		}
	}
	return woke
}

// learnMembersLocked adds the members of a topology cluster that the autoscaler does not know to
// the lists their status implies (members of instances it has no monitor for are left out).
func (a *Autoscaler) learnMembersLocked(clusterID string, tc *topoCluster, now time.Time) {
	for _, m := range tc.members {
		if a.members[m.id] != nil || a.topoGone[m.id] {
			continue
		}
		l := listPending
		switch m.status {
		case model.MemberActive:
			l = listActive
		case model.MemberInMaintenance:
			l = listTerminationPending
		case model.MemberReadyToShutDown, model.MemberSuspended:
			l = listObsolete
		case model.MemberTerminated:
			continue
		}
		if mm := a.knowMemberLocked(clusterID, m.instanceID, m.partitionID, m.id, l, now); mm != nil && l == listActive {
			mm.hasStats = true
		}
	}
}

// learnFromTopologyLocked learns the members of a cluster instance registered after the last
// complete topology arrived: after a restart the manager may register its deployed clusters only
// once the controller's topology has come and gone, and without its members the min check would
// start duplicates of the ones still running.
func (a *Autoscaler) learnFromTopologyLocked(clusterID string, now time.Time) {
	if tc := a.topo[clusterID]; tc != nil {
		a.learnMembersLocked(clusterID, tc, now)
	}
}

// learnInstanceStatus takes a new cluster instance's status from its cluster in the last
// complete topology, as the events since left it (a restart rebuilds the tree over running
// cluster instances).
func learnInstanceStatus(in *instance, tc *topoCluster) {
	if in.status != model.ClusterCreated {
		return
	}
	if s, ok := tc.instances[in.id]; ok {
		in.status = s
	}
}

// topoEventLocked keeps the last complete topology current with a topology event that follows
// it: a snapshot the autoscaler learns from later must not be older than the events it applied.
func (a *Autoscaler) topoEventLocked(e model.Event) {
	if a.topo == nil {
		return
	}
	switch ev := e.(type) {
	case *model.ClusterRemovedEvent:
		delete(a.topo, ev.ClusterID)
	case *model.ApplicationClustersRemovedEvent:
		for _, d := range ev.ClusterData {
			delete(a.topo, d.ClusterID)
		}
	case *model.ClusterInstanceCreatedEvent:
		if ev.ClusterInstance != nil {
			a.topoStatusLocked(ev.ClusterID, ev.ClusterInstance.InstanceID, model.ClusterCreated)
		}
	case *model.ClusterInstanceActivatedEvent:
		a.topoStatusLocked(ev.ClusterID, ev.InstanceID, model.ClusterActive)
	case *model.ClusterInstanceInactivateEvent:
		a.topoStatusLocked(ev.ClusterID, ev.InstanceID, model.ClusterInactive)
	case *model.ClusterResetEvent:
		a.topoStatusLocked(ev.ClusterID, ev.InstanceID, model.ClusterCreated)
	case *model.ClusterInstanceTerminatingEvent:
		a.topoStatusLocked(ev.ClusterID, ev.InstanceID, model.ClusterTerminating)
	case *model.ClusterInstanceTerminatedEvent:
		a.topoStatusLocked(ev.ClusterID, ev.InstanceID, model.ClusterTerminated)
	}
}

// topoStatusLocked sets a cluster instance's status in the last complete topology; Terminated
// forgets the instance and its members, which a monitor created again with the same instance id
// must not learn.
func (a *Autoscaler) topoStatusLocked(clusterID, instanceID string, s model.ClusterStatus) {
	tc := a.topo[clusterID]
	if tc == nil {
		return
	}
	if s != model.ClusterTerminated {
		tc.instances[instanceID] = s
		return
	}
	delete(tc.instances, instanceID)
	tc.members = slices.DeleteFunc(tc.members, func(m topoMember) bool { return m.instanceID == instanceID })
	if len(tc.members) == 0 {
		tc.members = nil
	}
}
