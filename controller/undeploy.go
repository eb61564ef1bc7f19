package controller

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/strata-paas/strata/internal/model"
)

// RemoveApplicationClusters removes every cluster of an application (an undeploy) and publishes
// one ApplicationClustersRemovedEvent. It follows Stratos' undeploy: from the first moment no
// member starts in the clusters (ErrRemoving, kept across restarts); each cluster instance goes
// Terminating (ClusterInstanceTerminatingEvent) and, when it has Active members, is asked to
// clean up with one InstanceCleanupClusterEvent (repeated every CleanupInterval); a member is
// terminated once ready to shut down, forcibly after GracefulTimeout, and at once when it is not
// Active yet; an instance whose last member is gone is Terminated
// (ClusterInstanceTerminatedEvent). The terminations go through a pool of TerminateParallelism
// workers. The call returns when ApplicationClustersRemovedEvent is on the bus, when a termination fails, when ctx ends
// or when Run returns (ErrClosed); calling it again resumes the removal.
func (c *Controller) RemoveApplicationClusters(ctx context.Context, appID string) error {
	if err := c.waitReady(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	ids, graceful, err := c.beginRemovalLocked(appID)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if len(graceful) > 0 {
		if err := c.persist(ctx, graceful...); err != nil {
			return fmt.Errorf("remove clusters of application %s: %w", appID, err)
		}
	}
	if err := c.awaitRemoved(ctx, ids); err != nil {
		return fmt.Errorf("remove clusters of application %s: %w", appID, err)
	}
	c.mu.Lock()
	var removed []*cluster
	for _, id := range ids {
		cl := c.clusters[id]
		if cl == nil {
			continue
		}
		if n := len(cl.Cluster.MemberMap); n > 0 {
			c.mu.Unlock()
			return fmt.Errorf("remove clusters of application %s: %w: cluster %s got %d members meanwhile", appID, ErrInUse, id, n)
		}
		removed = append(removed, cl)
	}
	if err := c.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketClusters))
		for _, cl := range removed {
			if err := b.Delete([]byte(cl.Spec.ClusterID)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		c.mu.Unlock()
		return fmt.Errorf("remove clusters of application %s: write state: %w", appID, err)
	}
	var data []model.ClusterDataHolder
	for _, cl := range removed {
		delete(c.clusters, cl.Spec.ClusterID)
		data = append(data, model.ClusterDataHolder{ServiceType: cl.Spec.ServiceName, ClusterID: cl.Spec.ClusterID})
		c.emitLocked(nil, c.clusterRecord(cl, "", "topology.ApplicationClustersRemovedEvent", "Removed"))
	}
	published := c.emit(&model.ApplicationClustersRemovedEvent{ClusterData: data, AppID: appID}, nil, true)
	c.mu.Unlock()
	// Return once the event is on the bus, so that what the caller publishes next (the
	// manager's application events) follows it.
	select {
	case <-published:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("remove clusters of application %s: publish: %w", appID, ctx.Err())
	case <-c.stopped:
		return fmt.Errorf("remove clusters of application %s: publish: %w", appID, ErrClosed)
	}
}

// beginRemovalLocked marks the application's clusters as removing, moves their instances to
// Terminating and queues or asks for the terminations. It returns the cluster ids and the
// members whose graceful termination must be written.
func (c *Controller) beginRemovalLocked(appID string) (ids, graceful []string, err error) {
	for id, cl := range c.clusters {
		if cl.Spec.AppID == appID {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, nil, fmt.Errorf("clusters of application %q: %w", appID, ErrNotFound)
	}
	slices.Sort(ids)
	now := c.clock.Now()
	var cut []*member
	for _, id := range ids {
		cl := c.clusters[id]
		cl.removing, cl.removeErr = true, nil
		cl.remaining, cl.answered = map[string]int{}, map[string]time.Time{}
		cleanup := map[string]bool{} // the instances with Active members
		for mid, m := range cl.Cluster.MemberMap {
			cl.remaining[m.ClusterInstanceID]++
			mem := c.members[mid]
			switch {
			case mem == nil || mem.terminating:
			case mem.starting:
				mem.cancelled = true // StartMember terminates it once the driver answers
			case m.Status() == model.MemberActive || m.Status() == model.MemberInMaintenance:
				if mem.grace == nil {
					mem.grace = &grace{deadline: now.Add(c.opts.GracefulTimeout)}
				}
				mem.grace.nextCleanup = now.Add(c.opts.CleanupInterval)
				graceful = append(graceful, mid)
				if m.Status() == model.MemberActive {
					cleanup[m.ClusterInstanceID] = true
				}
			default: // not Active yet, or ready to shut down: nothing to clean up
				mem.terminating = true
				cut = append(cut, mem)
			}
		}
		for _, iid := range slices.Sorted(maps.Keys(cl.Cluster.InstanceIDToInstanceContextMap)) {
			c.instanceTerminatingLocked(cl, iid)
			if cleanup[iid] {
				c.emitLocked(&model.InstanceCleanupClusterEvent{ClusterID: id, ClusterInstanceID: iid}, nil)
			}
			if cl.remaining[iid] == 0 {
				c.instanceTerminatedLocked(cl, iid)
			}
		}
		c.putClusterLocked(cl)
	}
	c.queueTermination(cut...)
	return ids, graceful, nil
}

// instanceTerminatingLocked moves a cluster instance of a removing cluster to Terminating and
// publishes ClusterInstanceTerminatingEvent (once).
func (c *Controller) instanceTerminatingLocked(cl *cluster, instanceID string) {
	ci := cl.Cluster.InstanceIDToInstanceContextMap[instanceID]
	if ci == nil || ci.Status() == model.ClusterTerminating || ci.Status() == model.ClusterTerminated {
		return
	}
	if err := ci.SetStatus(model.ClusterTerminating); err != nil {
		ci.LifeCycleStateManager.Push(model.ClusterTerminating) // an undeploy ends every state
	}
	e := model.ClusterInstanceTerminatingEvent{ServiceName: cl.Spec.ServiceName, ClusterID: cl.Spec.ClusterID, AppID: cl.Spec.AppID, InstanceID: instanceID}
	c.emitLocked(&e, c.clusterRecord(cl, instanceID, "topology.ClusterInstanceTerminatingEvent", string(model.ClusterTerminating)))
}

// instanceTerminatedLocked ends a Terminating cluster instance that has no member left: it is
// Terminated (ClusterInstanceTerminatedEvent) and leaves the cluster.
func (c *Controller) instanceTerminatedLocked(cl *cluster, instanceID string) {
	ci := cl.Cluster.InstanceIDToInstanceContextMap[instanceID]
	if ci == nil || ci.Status() != model.ClusterTerminating {
		return
	}
	if err := ci.SetStatus(model.ClusterTerminated); err != nil {
		c.invalidTransition("cluster_instance", cl.Spec.ClusterID+"/"+instanceID, err)
		return
	}
	rec := c.clusterRecord(cl, instanceID, "topology.ClusterInstanceTerminatedEvent", string(model.ClusterTerminated))
	delete(cl.Cluster.InstanceIDToInstanceContextMap, instanceID)
	c.putClusterLocked(cl)
	e := model.ClusterInstanceTerminatedEvent{ServiceName: cl.Spec.ServiceName, ClusterID: cl.Spec.ClusterID, AppID: cl.Spec.AppID, InstanceID: instanceID}
	c.emitLocked(&e, rec)
}

// memberLeftLocked counts a member of a removing cluster out of its instance, and ends the
// instance after its last member.
func (c *Controller) memberLeftLocked(cl *cluster, m *model.Member) {
	if cl == nil || cl.remaining == nil || cl.remaining[m.ClusterInstanceID] == 0 {
		return
	}
	cl.remaining[m.ClusterInstanceID]--
	if cl.remaining[m.ClusterInstanceID] == 0 {
		c.instanceTerminatedLocked(cl, m.ClusterInstanceID)
	}
}

// awaitRemoved waits until the clusters have no member left.
func (c *Controller) awaitRemoved(ctx context.Context, ids []string) error {
	for {
		c.mu.Lock()
		left := 0
		var failed error
		for _, id := range ids {
			if cl := c.clusters[id]; cl != nil {
				left += len(cl.Cluster.MemberMap)
				if cl.removeErr != nil {
					failed = cl.removeErr
				}
			}
		}
		gone := c.gone
		c.mu.Unlock()
		switch {
		case left == 0:
			return nil
		case failed != nil:
			return failed
		}
		select {
		case <-gone:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d members to terminate: %w", left, ctx.Err())
		case <-c.stopped:
			return fmt.Errorf("waiting for %d members to terminate: %w", left, ErrClosed)
		}
	}
}

// wakeGoneLocked wakes every waiter on gone (awaitRemoved): a member left the
// topology or a removal failed. mu is held.
func (c *Controller) wakeGoneLocked() {
	close(c.gone)
	c.gone = make(chan struct{})
}

// queueTermination hands members (mem.terminating set) to the terminators. Any lock may be
// held; termMu is taken after mu.
func (c *Controller) queueTermination(mems ...*member) {
	if len(mems) == 0 {
		return
	}
	c.termMu.Lock()
	c.termQueue = append(c.termQueue, mems...)
	c.termMu.Unlock()
	select {
	case c.termSignal <- struct{}{}:
	default:
	}
}

// terminator is one of Run's TerminateParallelism workers: it terminates the queued members one
// at a time until ctx ends, so that an undeploy of many members keeps a bounded number of driver
// calls in flight.
func (c *Controller) terminator(ctx context.Context) {
	for {
		c.termMu.Lock()
		var mem *member
		if len(c.termQueue) > 0 {
			mem = c.termQueue[0]
			c.termQueue[0] = nil
			c.termQueue = c.termQueue[1:]
			if len(c.termQueue) == 0 {
				c.termQueue = nil
			}
		}
		more := len(c.termQueue) > 0
		c.termMu.Unlock()
		if mem == nil {
			select {
			case <-ctx.Done():
				return
			case <-c.termSignal:
			}
			continue
		}
		if more { // wake another worker for the rest
			select {
			case c.termSignal <- struct{}{}:
			default:
			}
		}
		if ctx.Err() != nil {
			return
		}
		if err := c.terminate(ctx, mem); err != nil && ctx.Err() == nil {
			c.terminationFailed(mem, err)
		}
	}
}

// terminationFailed logs a failed termination (the first ones and then every power of two) and
// fails the removal of the member's cluster.
func (c *Controller) terminationFailed(mem *member, err error) {
	n := c.stats.terminationErrors.Add(1)
	if n <= 16 || n&(n-1) == 0 {
		c.log.Warn("cannot terminate a member", "member_id", mem.m.MemberID, "count", n, "error", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl := c.clusters[mem.m.ClusterID]; cl != nil && cl.removing {
		cl.removeErr = err
		c.wakeGoneLocked() // RemoveApplicationClusters returns the error
	}
}

// checkGraceful repeats cleanup requests and forces the graceful terminations that timed out.
// The members of a cluster being removed are asked again with one InstanceCleanupClusterEvent
// per cluster instance, as Stratos' cluster monitor does, not one event per member.
func (c *Controller) checkGraceful() {
	type instanceKey struct{ cluster, instance string }
	now := c.clock.Now()
	var expired []*member
	instances := map[instanceKey]bool{}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, mem := range c.members {
		g := mem.grace
		if g == nil || mem.terminating {
			continue
		}
		if !now.Before(g.deadline) {
			mem.terminating = true
			expired = append(expired, mem)
			continue
		}
		st := mem.m.Status()
		if (st != model.MemberActive && st != model.MemberInMaintenance) || now.Before(g.nextCleanup) {
			continue
		}
		g.nextCleanup = now.Add(c.opts.CleanupInterval)
		cl := c.clusters[mem.m.ClusterID]
		removing := cl != nil && cl.removing
		switch {
		case removing && c.answeringLocked(cl, mem, now):
			// Its instance's members are answering: not asked again yet.
		case st == model.MemberInMaintenance:
			// The agent answers MemberMaintenanceModeEvent with InstanceReadyToShutdownEvent; the
			// event is sent again in case it was lost (a restart with it still in the outbox).
			c.emitLocked(maintenanceEvent(mem.m, ""), nil)
		case removing:
			instances[instanceKey{mem.m.ClusterID, mem.m.ClusterInstanceID}] = true
		default:
			c.emitLocked(&model.InstanceCleanupMemberEvent{MemberID: mem.m.MemberID}, nil)
		}
	}
	keys := slices.SortedFunc(maps.Keys(instances), func(a, b instanceKey) int {
		return cmp.Or(strings.Compare(a.cluster, b.cluster), strings.Compare(a.instance, b.instance))
	})
	for _, k := range keys {
		c.emitLocked(&model.InstanceCleanupClusterEvent{ClusterID: k.cluster, ClusterInstanceID: k.instance}, nil)
	}
	if len(expired) > 0 {
		c.log.Info("graceful terminations timed out; terminating", "members", len(expired), "first_member_id", expired[0].m.MemberID)
		c.queueTermination(expired...)
	}
}

// answeredLocked notes a member's answer to a graceful termination's clean-up request (to is
// the state it moves to): checkGraceful asks it again (MemberMaintenanceModeEvent goes out now)
// an interval from now, not an interval from the request, and asks no member of a removing
// instance again while its members answer (answeringLocked).
func (c *Controller) answeredLocked(cl *cluster, mem *member, to model.MemberStatus) {
	if mem.grace == nil || (to != model.MemberInMaintenance && to != model.MemberReadyToShutDown) {
		return
	}
	now := c.clock.Now()
	mem.grace.nextCleanup = now.Add(c.opts.CleanupInterval)
	if cl.answered != nil {
		cl.answered[mem.m.ClusterInstanceID] = now
	}
}

// answeringLocked reports whether a member of a removing cluster instance answered the clean-up
// (went InMaintenance or ReadyToShutDown) less than CleanupInterval ago, and if so moves mem's
// next request to an interval after that answer. While an instance's members answer, none of
// them is asked again: at 100 000 members the answers waited in the queues for longer than an
// interval, and asking again made every member answer twice (issue 17). A member whose request
// was lost is asked again an interval after the instance's last answer.
func (c *Controller) answeringLocked(cl *cluster, mem *member, now time.Time) bool {
	last, ok := cl.answered[mem.m.ClusterInstanceID]
	if !ok || !now.Before(last.Add(c.opts.CleanupInterval)) {
		return false
	}
	mem.grace.nextCleanup = last.Add(c.opts.CleanupInterval) // only members under a graceful termination are asked
	return true
}
