package autoscaler

import (
	"context"

	"github.com/strata-paas/strata/rules"
)

// Governance: the Rego policy's answer to every action a run proposes.

// govern asks the governance policy (Rego) about a proposed action. It is only called
// when an action is proposed, so a steady instance costs no Rego evaluation; answers are cached
// by proposal for a minute (rules.RegoQuery.Decide).
func (r *run) govern(ctx context.Context, act string, delta int, partition string) bool {
	a, in, env, set := r.a, r.in, r.env, r.set
	if set.Governance() == nil {
		return true
	}
	p := rules.Proposal{Action: act, Delta: delta, Policy: r.pol.ID, ClusterID: in.c.id, ClusterInstanceID: in.id,
		NetworkPartitionID: in.np, PartitionID: partition, ApplicationID: in.c.app, TenantID: in.c.tenant,
		Cartridge: in.c.service, Active: env.Active, NonTerminated: env.NonTerminated, Required: env.Required,
		MinMembers: in.min, MaxMembers: in.max, Hour: env.Time.Hour, Minute: env.Time.Minute, Weekday: env.Time.Weekday}
	for _, other := range in.c.instances {
		p.ClusterMembers += other.nonTerminated()
	}
	p.TenantMembers = a.tenantMembersLocked(in.c.tenant)
	res, err := set.Govern(ctx, p)
	gt := GovTrace{Action: p.Action, Partition: partition, Delta: delta, Denied: res.Denied(), Messages: res.Messages, Cached: res.Cached}
	if err != nil {
		gt.Error = err.Error()
		gt.Denied = true // fail closed: an action governance cannot judge is not taken
	}
	r.tr.Governance = append(r.tr.Governance, gt)
	if gt.Denied {
		r.tr.Limit = LimitGovernance
	}
	return !gt.Denied
}

func (a *Autoscaler) tenantMembersLocked(tenant string) int {
	sc := a.scratch
	if sc.tenants == nil {
		sc.tenants = map[string]int{}
		for _, c := range a.clusters {
			for _, in := range c.instances {
				sc.tenants[c.tenant] += in.nonTerminated()
			}
		}
	}
	return sc.tenants[tenant]
}
