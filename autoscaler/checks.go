package autoscaler

import (
	"context"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// The checks of a cluster instance: min, max, missing metrics, obsolete members and a
// terminating instance. Min, max, obsolete and terminating are the cluster's, not the policy's:
// they act under a dry-run policy too (run.own); a shadow only records them.

// minCheck is mincheck.drl: start members up to min.
func (r *run) minCheck(ctx context.Context) {
	in := r.in
	if r.nonTerm >= in.min {
		return
	}
	want := in.min - r.nonTerm
	picks := r.pickUp(want)
	started := r.start(ctx, ActionMin, picks)
	r.nonTerm += started
	r.res.action, r.res.delta = ActionMin, r.res.delta+started
	r.res.reason = "min check: fewer non-terminated members than min"
	if len(picks) < want {
		r.tr.Limit = LimitPartitionsFull
	}
}

// maxCheck is maxcheck.drl: per partition, terminate the active members above partitionMax.
func (r *run) maxCheck(ctx context.Context) {
	in, tr := r.in, r.tr
	for i := range in.parts {
		p := &in.parts[i]
		excess := len(p.lists[listActive]) - p.max
		if p.obsolete || excess <= 0 {
			continue
		}
		if !r.govern(ctx, ActionMax, -excess, p.id) {
			continue
		}
		for k := 0; k < excess; k++ {
			l := p.lists[listActive]
			m := l[len(l)-1-k] // the last in iteration order, as Stratos does in practice
			tr.Steps = append(tr.Steps, Step{Check: "max", Action: verb(r.own, "terminate"), Partition: p.id, Member: m.id, Delta: -1})
		}
		if r.own {
			for k := 0; k < excess; k++ {
				l := p.lists[listActive]
				r.a.moveLocked(l[len(l)-1], listTerminationPending, r.now)
			}
		}
		r.loads[i].NonTerminated -= excess
		r.nonTerm -= excess
		r.active -= excess
		r.res.delta -= excess
		if r.res.action == ActionNone {
			r.res.action, r.res.reason = ActionMax, "max check: active members above partitionMax"
		}
	}
	r.clusterMaxCheck(ctx)
}

// clusterMaxCheck terminates the active members above the cluster instance's max, from the
// partitions with the most active members (Strata's: Stratos only checks partitionMax here). A
// running instance gets there when an application update lowers its max; the surplus goes
// through the cleanup flow like the partition max check's.
func (r *run) clusterMaxCheck(ctx context.Context) {
	in, tr := r.in, r.tr
	if r.active <= in.max {
		return
	}
	var taken []int // members picked per partition when not acting (a shadow moves none)
	if !r.own {
		taken = make([]int, len(in.parts))
	}
	left := func(i int) int {
		n := len(in.parts[i].lists[listActive])
		if taken != nil {
			n -= taken[i]
		}
		return n
	}
	for r.active > in.max {
		pi := -1
		for i := range in.parts {
			if n := left(i); n > 0 && (pi < 0 || n > left(pi)) {
				pi = i
			}
		}
		if pi < 0 || !r.govern(ctx, ActionMax, -1, in.parts[pi].id) {
			return
		}
		p := &in.parts[pi]
		victim := p.lists[listActive][left(pi)-1]
		tr.Steps = append(tr.Steps, Step{Check: "max", Action: verb(r.own, "terminate"), Partition: p.id, Member: victim.id, Delta: -1})
		if r.own {
			r.a.moveLocked(victim, listTerminationPending, r.now)
		} else {
			taken[pi]++
		}
		r.loads[pi].NonTerminated--
		r.nonTerm--
		r.active--
		r.res.delta--
		if r.res.action == ActionNone {
			r.res.action, r.res.reason = ActionMax, "max check: active members above the cluster's max"
		}
	}
}

// missing applies the policy's missing-metrics behaviour when every family is missing.
func (r *run) missing(ctx context.Context) {
	in, tr := r.in, r.tr
	mm := r.pol.Behaviour.MissingMetrics
	tr.Limit = LimitMetricsMissing
	switch mm.Action {
	case policies.MissingFloor:
		target := min(max(mm.Floor, in.min), in.max)
		switch {
		case r.nonTerm < target:
			picks := r.pickUp(target - r.nonTerm)
			if n := r.start(ctx, ActionMissingMetrics, picks); n > 0 {
				r.res.action, r.res.delta = ActionMissingMetrics, r.res.delta+n
			}
		case r.active > target && r.nonTerm > in.min:
			if pi := PickScaleDown(in.algo, r.loads); pi >= 0 {
				if m := lowestLoad(&in.parts[pi]); m != nil && r.govern(ctx, ActionMissingMetrics, -1, in.parts[pi].id) {
					tr.Steps = append(tr.Steps, Step{Check: "missing-metrics", Action: verb(r.act, "terminate"), Partition: in.parts[pi].id, Member: m.id, Delta: -1})
					if r.act {
						r.a.terminateMemberLocked(m, r.now)
					}
					r.res.action, r.res.delta = ActionMissingMetrics, r.res.delta-1
				}
			}
		}
		r.res.reason = "metrics missing: scaling to the floor"
	case policies.MissingScaleOut:
		if in.missingEpisode && r.own {
			r.res.reason = "metrics missing: fail-safe scale-out already done for this outage"
			return
		}
		if r.own {
			in.missingEpisode = true
		}
		add := min(mm.Step, in.max-r.nonTerm)
		picks := r.pickUp(add)
		if n := r.start(ctx, ActionMissingMetrics, picks); n > 0 {
			r.res.action, r.res.delta = ActionMissingMetrics, r.res.delta+n
		}
		r.res.reason = "metrics missing: fail-safe scale-out"
	default:
		r.res.reason = "metrics missing: holding the current count"
	}
}

// obsoleteCheck is obsoletecheck.drl and the partition watchers (§4.9): terminate obsolete
// members (again every MonitorInterval until MemberTerminated), send InstanceCleanupMemberEvent
// to termination-pending members (again every MonitorInterval until they answer), and expire
// members that stayed too long in a list. Stratos repeats both at each 90 s monitor tick; here
// a member event makes a round due Settle later, so repeating them every round would ask each
// of the n members of an undeploy again every Settle, n² requests (askDue).
func (r *run) obsoleteCheck() {
	a, in, now, act, tr := r.a, r.in, r.now, r.own, r.tr
	for pi := 0; pi < len(in.parts); pi++ {
		p := &in.parts[pi]
		// Pending members that never activated become obsolete.
		expiry := a.opts.PendingMemberExpiry
		if p.expiries > pendingFailureThreshold {
			expiry *= 2
		}
		for i := 0; i < len(p.lists[listPending]); {
			m := p.lists[listPending][i]
			if now.Sub(m.since) <= expiry && in.status != model.ClusterTerminating {
				i++
				continue
			}
			tr.Steps = append(tr.Steps, Step{Check: "pending-expiry", Action: verb(act, "obsolete"), Partition: p.id, Member: m.id})
			if !act {
				i++
				continue
			}
			p.expiries++
			a.moveLocked(m, listObsolete, now)
		}
		for i := 0; i < len(p.lists[listTerminationPending]); {
			m := p.lists[listTerminationPending][i]
			if now.Sub(m.since) > a.opts.TerminationPendingMemberExpiry {
				tr.Steps = append(tr.Steps, Step{Check: "termination-pending-expiry", Action: verb(act, "obsolete"), Partition: p.id, Member: m.id})
				if act {
					a.moveLocked(m, listObsolete, now)
					continue
				}
			} else if r.askDue(m) {
				tr.Steps = append(tr.Steps, Step{Check: "cleanup", Action: verb(act, "cleanup"), Partition: p.id, Member: m.id})
				if act {
					m.asked = now
					a.work = append(a.work, action{kind: actPublish, event: &model.InstanceCleanupMemberEvent{MemberID: m.id}})
				}
			}
			i++
		}
		for i := 0; i < len(p.lists[listObsolete]); {
			m := p.lists[listObsolete][i]
			forced := now.Sub(m.since) > a.opts.ObsoleteMemberExpiry
			if !forced && !r.askDue(m) {
				i++
				continue
			}
			tr.Steps = append(tr.Steps, Step{Check: "obsolete", Action: verb(act, "terminate"), Partition: p.id, Member: m.id, Forced: forced})
			if act {
				// The controller terminates an obsolete member at once (forced), as Stratos' CC
				// terminateInstance does: the graceful part has happened in termination pending
				// (cleanup, ready to shutdown) or cannot happen (a faulty member's agent is gone,
				// an expired member did not answer). A graceful call would make the controller
				// send cleanup again and keep a dead member Active in the topology until its
				// GracefulTimeout (30 min). Forced in the trace is the 24 h expiry: forgotten.
				m.asked = now
				a.work = append(a.work, action{kind: actTerminate, in: in, memberID: m.id, forced: true})
				if forced {
					before := len(in.parts)
					a.dropMemberLocked(m)
					if len(in.parts) != before {
						pi-- // the obsolete partition was removed
						break
					}
					continue
				}
			}
			i++
		}
	}
}

// askDue reports whether a round asks m to leave again: not yet asked in its list, or asked a
// MonitorInterval ago or more.
func (r *run) askDue(m *member) bool {
	return m.asked.IsZero() || r.now.Sub(m.asked) >= r.a.opts.MonitorInterval
}

// terminating handles a Terminating cluster instance (ClusterMonitor#monitor).
func (r *run) terminating() {
	a, in, now, act, tr := r.a, r.in, r.now, r.own, r.tr
	if in.count(listActive) > 0 && act {
		a.work = append(a.work, action{kind: actPublish, event: &model.InstanceCleanupClusterEvent{ClusterID: in.c.id, ClusterInstanceID: in.id}})
	}
	tr.Limit = ActionTerminating
	if !act {
		return
	}
	if !in.terminatedSent && in.nonTerminated() == 0 && in.count(listTerminationPending) == 0 && in.count(listObsolete) == 0 {
		in.terminatedSent = true
		a.work = append(a.work, action{kind: actPublish, event: &model.ClusterStatusClusterTerminatedEvent{
			ServiceName: in.c.service, ClusterID: in.c.id, AppID: in.c.app, InstanceID: in.id}})
	}
	for i := range in.parts {
		p := &in.parts[i]
		for len(p.lists[listActive]) > 0 {
			a.moveLocked(p.lists[listActive][0], listTerminationPending, now)
		}
		for len(p.lists[listPending]) > 0 {
			a.moveLocked(p.lists[listPending][0], listObsolete, now)
		}
	}
}
