package autoscaler

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// HandleEvent takes a topology event (and decoded summaries), from the bus or in process.
func (a *Autoscaler) HandleEvent(e model.Event) {
	switch ev := e.(type) {
	case model.Summary:
		a.HandleSummary(ev)
		return
	case *model.Summary:
		a.HandleSummary(*ev)
		return
	}
	a.stats.events.Add(1)
	e = pointerTo(e)
	now := a.clock.Now()
	// The controller is asked before the lock is taken: a member that ended before it became
	// Active is a failed start, and the next decision says why.
	var ended string
	if t, ok := e.(*model.MemberTerminatedEvent); ok {
		if src, ok := a.opts.Starter.(startFailures); ok {
			ended, _ = src.StartFailure(t.ClusterID, t.MemberID)
		}
	}
	a.mu.Lock()
	if ended != "" {
		a.endedLocked(e.(*model.MemberTerminatedEvent).MemberID, ended)
	}
	woke := a.eventLocked(e, now)
	a.mu.Unlock()
	if woke {
		a.signal()
	}
}

func (a *Autoscaler) eventLocked(e model.Event, now time.Time) bool {
	a.topoEventLocked(e) // first: what the event makes the tree create must not learn the older view
	switch ev := e.(type) {
	case *model.ClusterCreatedEvent:
		return a.adoptLocked(ev.Cluster, now)
	case *model.ApplicationClustersCreatedEvent:
		woke := false
		for _, c := range ev.ClusterList {
			woke = a.adoptLocked(c, now) || woke
		}
		return woke
	case *model.ClusterRemovedEvent:
		a.removeClusterLocked(ev.ClusterID)
	case *model.ApplicationClustersRemovedEvent:
		for _, d := range ev.ClusterData {
			a.removeClusterLocked(d.ClusterID)
		}
	case *model.ClusterInstanceCreatedEvent:
		if ev.ClusterInstance != nil {
			return a.adoptInstanceLocked(ev.ClusterID, ev.ClusterInstance.InstanceID, orKeep(ev.ClusterInstance.NetworkPartitionID, ev.NetworkPartitionID), now)
		}
	case *model.ClusterInstanceActivatedEvent:
		a.setStatusLocked(ev.ClusterID, ev.InstanceID, model.ClusterActive)
		a.clusterStatusLocked(ev.ClusterID, ev.InstanceID, model.ClusterActive, now)
	case *model.ClusterInstanceInactivateEvent:
		a.setStatusLocked(ev.ClusterID, ev.InstanceID, model.ClusterInactive)
		a.clusterStatusLocked(ev.ClusterID, ev.InstanceID, model.ClusterInactive, now)
	case *model.ClusterResetEvent:
		a.setStatusLocked(ev.ClusterID, ev.InstanceID, model.ClusterCreated)
		a.clusterStatusLocked(ev.ClusterID, ev.InstanceID, model.ClusterCreated, now)
	case *model.ClusterInstanceTerminatingEvent:
		a.clusterStatusLocked(ev.ClusterID, ev.InstanceID, model.ClusterTerminating, now)
		if in := a.instanceLocked(ev.ClusterID, ev.InstanceID); in != nil {
			in.status = model.ClusterTerminating
			in.trigger = triggerEvent
			a.queue.schedule(in, now)
			return true
		}
	case *model.ClusterInstanceTerminatedEvent:
		if in := a.instanceLocked(ev.ClusterID, ev.InstanceID); in != nil {
			a.removeInstanceLocked(in)
		}
		a.clusterStatusLocked(ev.ClusterID, ev.InstanceID, model.ClusterTerminated, now)
	case *model.MemberCreatedEvent:
		a.knowMemberLocked(ev.ClusterID, ev.ClusterInstanceID, ev.PartitionID, ev.MemberID, listPending, now)
	case *model.MemberInitializedEvent:
		a.knowMemberLocked(ev.ClusterID, ev.ClusterInstanceID, ev.PartitionID, ev.MemberID, listPending, now)
	case *model.MemberStartedEvent:
		a.knowMemberLocked(ev.ClusterID, ev.ClusterInstanceID, ev.PartitionID, ev.MemberID, listPending, now)
	case *model.MemberActivatedEvent:
		m := a.knowMemberLocked(ev.ClusterID, ev.ClusterInstanceID, ev.PartitionID, ev.MemberID, listActive, now)
		if m != nil && m.list == listPending {
			a.moveLocked(m, listActive, now)
		}
		if m != nil && m.list == listActive && m.in.count(listActive) == 1 {
			m.in.activeSince = now
		}
		if m != nil && m.list == listActive {
			m.hasStats, m.la, m.mc = true, stat3{}, stat3{} // the stats context is recreated
			a.activeCheckLocked(m.in)
		}
	case *model.MemberMaintenanceModeEvent:
		if m := a.members[ev.MemberID]; m != nil && m.list == listActive {
			a.moveLocked(m, listTerminationPending, now)
		}
	case *model.MemberReadyToShutdownEvent:
		if m := a.members[ev.MemberID]; m != nil && (m.list == listTerminationPending || m.list == listActive) {
			a.moveLocked(m, listObsolete, now)
			return a.dueLocked(m.in, now)
		}
	case *model.MemberTerminatedEvent:
		if m := a.members[ev.MemberID]; m != nil {
			in := m.in
			a.memberEndedLocked(m, now)
			a.dropMemberLocked(m)
			return a.dueLocked(in, now)
		}
		if a.topo != nil {
			a.topoGone[ev.MemberID] = true // not to be learnt from the last complete topology
		}
	case *model.CompleteTopologyEvent:
		a.topologyOnce.Do(func() { close(a.topology) })
		return a.completeTopologyLocked(ev.Topology, now)
	}
	return false
}

// endedLocked notes a pending member that ended before it became Active, with the reason, for
// its instance's next decision (Trace.Ended).
func (a *Autoscaler) endedLocked(memberID, reason string) {
	m := a.members[memberID]
	if m == nil || m.list != listPending {
		return
	}
	m.in.ended = append(m.in.ended, StartError{Partition: m.in.parts[m.part].id, Member: memberID, Error: reason, Count: 1})
}

// dueLocked makes an instance due Settle from now, for a member event that needs action (a
// member to terminate, a member to replace).
func (a *Autoscaler) dueLocked(in *instance, now time.Time) bool {
	if in.trigger == "" || in.trigger == triggerTick {
		in.trigger = triggerEvent
	}
	a.queue.schedule(in, now.Add(a.opts.Settle))
	return true
}

func (a *Autoscaler) instanceLocked(clusterID, instanceID string) *instance {
	if c := a.clusters[clusterID]; c != nil {
		return c.instances[instanceID]
	}
	return nil
}

func (a *Autoscaler) setStatusLocked(clusterID, instanceID string, s model.ClusterStatus) {
	if in := a.instanceLocked(clusterID, instanceID); in != nil && in.status != model.ClusterTerminating {
		in.status = s
	}
}

// adoptLocked creates monitors for a cluster from a topology event. Strata takes min and max
// from the cluster properties MIN_COUNT and MAX_COUNT (MAX_COUNT defaults to MIN_COUNT); a
// cluster without MIN_COUNT is left to RegisterCluster. Instances come from the cluster's
// instance map, or one per network partition of the deployment policy when it has none.
func (a *Autoscaler) adoptLocked(cl *model.Cluster, now time.Time) bool {
	if cl == nil || cl.AutoscalePolicyName == "" || cl.DeploymentPolicyName == "" {
		return false
	}
	minS, ok := cl.Properties[minCountProperty]
	if !ok {
		return false
	}
	minN, err := strconv.Atoi(minS)
	if err != nil || minN < 0 {
		a.log.Warn("cluster min count is not a number", "cluster_id", cl.ClusterID, "value", minS)
		return false
	}
	maxN := minN
	if s, ok := cl.Properties[maxCountProperty]; ok {
		if n, err := strconv.Atoi(s); err == nil && n >= minN {
			maxN = n
		}
	}
	spec := ClusterSpec{ClusterID: cl.ClusterID, ServiceName: cl.ServiceName, ApplicationID: cl.AppID,
		Min: minN, Max: maxN, AutoscalePolicy: cl.AutoscalePolicyName, DeploymentPolicy: cl.DeploymentPolicyName}
	if len(cl.InstanceIDToInstanceContextMap) > 0 {
		for id, ci := range cl.InstanceIDToInstanceContextMap {
			if ci == nil || ci.NetworkPartitionID == "" || ci.Status() == model.ClusterTerminated {
				continue
			}
			spec.InstanceID, spec.NetworkPartition = id, ci.NetworkPartitionID
			a.registerLocked(spec, now)
		}
		return true
	}
	dep, ok := a.opts.Policies.Set().Deployment(cl.DeploymentPolicyName)
	if !ok {
		a.log.Warn("deployment policy of cluster not found", "cluster_id", cl.ClusterID, "policy", cl.DeploymentPolicyName)
		return false
	}
	for i, np := range dep.NetworkPartitions {
		spec.InstanceID, spec.NetworkPartition = model.InstanceID(alias(cl.ClusterID), i+1), np.ID
		a.registerLocked(spec, now)
	}
	return true
}

func (a *Autoscaler) adoptInstanceLocked(clusterID, instanceID, np string, now time.Time) bool {
	c := a.clusters[clusterID]
	if c == nil || c.instances[instanceID] != nil || np == "" || len(c.instances) == 0 {
		return false
	}
	var proto *instance
	for _, in := range c.instances {
		proto = in
		break
	}
	a.registerLocked(ClusterSpec{ClusterID: clusterID, InstanceID: instanceID, NetworkPartition: np,
		Min: proto.min, Max: proto.max, AutoscalePolicy: c.autoscalePolicy, DeploymentPolicy: c.deploymentPolicy}, now)
	return true
}

// knowMemberLocked returns the member, adding it to list l when the autoscaler did not know it
// (a member the controller announced before StartMember returned, or one from before a restart).
func (a *Autoscaler) knowMemberLocked(clusterID, instanceID, partitionID, memberID string, l list, now time.Time) *member {
	if m := a.members[memberID]; m != nil {
		return m
	}
	in := a.instanceLocked(clusterID, instanceID)
	if in == nil || memberID == "" {
		return nil
	}
	p := a.partIndexLocked(in, partitionID)
	m := &member{id: memberID, in: in, part: p, list: l, since: now, hasStats: l == listPending || l == listActive}
	a.joinLocked(&in.parts[p], m)
	a.members[memberID] = m
	return m
}

// partIndexLocked finds a partition context by id, building the contexts from the deployment
// policy first if needed. A partition the policy does not list is added as obsolete.
func (a *Autoscaler) partIndexLocked(in *instance, partitionID string) int {
	if in.dep == nil {
		if dep, ok := a.opts.Policies.Set().Deployment(in.c.deploymentPolicy); ok {
			a.syncPartitionsLocked(in, dep)
		}
	}
	for i := range in.parts {
		if in.parts[i].id == partitionID {
			return i
		}
	}
	in.parts = append(in.parts, partition{id: partitionID, obsolete: true})
	return len(in.parts) - 1
}

// syncPartitionsLocked rebuilds the partition contexts when the deployment policy changed:
// partitions keep their members by id; a partition that left the policy becomes obsolete, its
// active members are cleaned up and terminated and its pending ones terminated (the min check
// replaces them elsewhere), and it is removed once empty.
func (a *Autoscaler) syncPartitionsLocked(in *instance, dep *policies.Deployment) {
	if in.dep == dep {
		return
	}
	in.dep = dep
	var np *policies.DeploymentNetworkPartition
	for i := range dep.NetworkPartitions {
		if dep.NetworkPartitions[i].ID == in.np {
			np = &dep.NetworkPartitions[i]
		}
	}
	old := in.parts
	in.parts = nil
	if np != nil {
		in.algo = np.Algorithm
		for _, dp := range np.Partitions {
			p := partition{id: dp.ID, max: dp.Max}
			for i := range old {
				if old[i].id == dp.ID {
					p.lists, p.starting, p.expiries = old[i].lists, old[i].starting, old[i].expiries
					old[i].id = ""
				}
			}
			in.parts = append(in.parts, p)
		}
	}
	now := a.clock.Now()
	for i := range old {
		if old[i].id == "" {
			continue
		}
		p := old[i]
		p.obsolete = true
		in.parts = append(in.parts, p)
		for _, m := range append([]*member(nil), p.lists[listActive]...) {
			a.moveLocked(m, listTerminationPending, now)
		}
		for _, m := range append([]*member(nil), p.lists[listPending]...) {
			a.moveLocked(m, listObsolete, now)
		}
	}
	for i := range in.parts {
		for l := range in.parts[i].lists {
			for _, m := range in.parts[i].lists[l] {
				m.part = i
			}
		}
	}
}

// moveLocked moves a member to another list of its partition (§4.8).
func (a *Autoscaler) moveLocked(m *member, to list, now time.Time) {
	p := &m.in.parts[m.part]
	p.lists[m.list] = removeMember(p.lists[m.list], m)
	m.list, m.since, m.asked = to, now, time.Time{}
	a.joinLocked(p, m)
	if to == listTerminationPending || to == listObsolete {
		m.hasStats = false
	}
}

func (a *Autoscaler) dropMemberLocked(m *member) {
	p := &m.in.parts[m.part]
	p.lists[m.list] = removeMember(p.lists[m.list], m)
	delete(a.members, m.id)
	if p.obsolete && p.nonTerminated() == 0 && len(p.lists[listTerminationPending]) == 0 && len(p.lists[listObsolete]) == 0 {
		in := m.in
		idx := m.part
		in.parts = append(in.parts[:idx], in.parts[idx+1:]...)
		for i := idx; i < len(in.parts); i++ {
			for l := range in.parts[i].lists {
				for _, mm := range in.parts[i].lists[l] {
					mm.part = i
				}
			}
		}
	}
}

// joinLocked appends m to its list (m.list) in p. The lists stay in the order members joined
// them, and so sorted by seq, which removeMember searches.
func (a *Autoscaler) joinLocked(p *partition, m *member) {
	a.joined++
	m.seq = a.joined
	p.lists[m.list] = append(p.lists[m.list], m)
}

// removeMember removes m from s, keeping the order, in O(log n) plus the shorter of the moves
// before and after it: the first member (the oldest, as a terminating instance takes them all
// and activations mostly come in start order) costs nothing to remove. Scanning and shifting
// the whole list made each move O(n), and an undeploy or a deployment of n members O(n²).
func removeMember(s []*member, m *member) []*member {
	i, ok := slices.BinarySearchFunc(s, m.seq, func(x *member, seq uint64) int { return cmp.Compare(x.seq, seq) })
	if !ok || s[i] != m {
		if i = slices.Index(s, m); i < 0 {
			return s
		}
	}
	if i < len(s)/2 {
		copy(s[1:i+1], s[:i])
		s[0] = nil
		return s[1:]
	}
	copy(s[i:], s[i+1:])
	s[len(s)-1] = nil
	return s[:len(s)-1]
}

// faultLocked handles MemberFaultEvent (§4.9): an active member becomes obsolete, so the next
// obsolete check terminates it and the min check replaces it; the instance may become Inactive.
func (a *Autoscaler) faultLocked(m *member, now time.Time) bool {
	if m.list != listActive {
		return false
	}
	a.moveLocked(m, listObsolete, now)
	in := m.in
	if in.status == model.ClusterActive && in.count(listActive) < in.min {
		in.status = model.ClusterInactive
		a.work = append(a.work, action{kind: actPublish, event: &model.ClusterStatusClusterInactivateEvent{
			ServiceName: in.c.service, ClusterID: in.c.id, AppID: in.c.app, InstanceID: in.id}})
	}
	return a.dueLocked(in, now)
}

// activeCheckLocked makes a Created or Inactive instance Active once it has min active members.
func (a *Autoscaler) activeCheckLocked(in *instance) {
	if (in.status == model.ClusterCreated || in.status == model.ClusterInactive) && in.count(listActive) >= in.min {
		in.status = model.ClusterActive
		a.work = append(a.work, action{kind: actPublish, event: &model.ClusterStatusClusterActivatedEvent{
			ServiceName: in.c.service, ClusterID: in.c.id, AppID: in.c.app, InstanceID: in.id}})
		a.signal()
	}
}

// pointerTo turns an event passed by value into the pointer form model.Unmarshal returns, for
// the events the autoscaler handles, so in-process callers may pass either.
func pointerTo(e model.Event) model.Event {
	switch v := e.(type) {
	case model.ClusterCreatedEvent:
		return &v
	case model.ApplicationClustersCreatedEvent:
		return &v
	case model.ClusterRemovedEvent:
		return &v
	case model.ApplicationClustersRemovedEvent:
		return &v
	case model.ClusterInstanceCreatedEvent:
		return &v
	case model.ClusterInstanceActivatedEvent:
		return &v
	case model.ClusterInstanceInactivateEvent:
		return &v
	case model.ClusterResetEvent:
		return &v
	case model.ClusterInstanceTerminatingEvent:
		return &v
	case model.ClusterInstanceTerminatedEvent:
		return &v
	case model.MemberCreatedEvent:
		return &v
	case model.MemberInitializedEvent:
		return &v
	case model.MemberStartedEvent:
		return &v
	case model.MemberActivatedEvent:
		return &v
	case model.MemberMaintenanceModeEvent:
		return &v
	case model.MemberReadyToShutdownEvent:
		return &v
	case model.MemberTerminatedEvent:
		return &v
	case model.CompleteTopologyEvent:
		return &v
	}
	return e
}
