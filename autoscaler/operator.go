package autoscaler

import "fmt"

// TerminateMember terminates one member of a cluster at an operator's request (the REST API's
// DELETE /api/applications/{appId}/members/{memberId}), as a scale-down would: an active member
// goes to termination pending and through the cleanup flow (InstanceCleanupMemberEvent,
// MemberReadyToShutdownEvent, then the controller terminates it), a pending one straight to
// obsolete. The member no longer counts against min, so the next evaluation of its cluster
// instance, due at once, starts a replacement when min requires one. A member already on its way
// out is left as it is.
func (a *Autoscaler) TerminateMember(clusterID, memberID string) error {
	now := a.clock.Now()
	a.mu.Lock()
	m := a.members[memberID]
	if m == nil || m.in.c.id != clusterID {
		a.mu.Unlock()
		return fmt.Errorf("%w: member %s of cluster %s", ErrNotFound, memberID, clusterID)
	}
	if m.list == listActive || m.list == listPending {
		a.terminateMemberLocked(m, now)
		a.log.Info("member terminated at an operator's request", "cluster_id", clusterID, "member_id", memberID)
	}
	a.queue.schedule(m.in, now)
	a.mu.Unlock()
	a.signal()
	return nil
}
