package bench

import (
	"slices"
	"testing"
	"time"

	"github.com/strata-paas/strata/autoscaler"
)

// TestMockDefaultHealthKeepsMembers: with no health pattern configured (strata up's default
// flags), a 3-member mock cluster keeps the same 3 members for 40 health intervals (10 minutes at
// Stratos' 15 s, here scaled to 250 ms), every member's health reaches the CEP every interval,
// and the CEP raises no fault. Before the default patterns, mock members published nothing and
// were replaced every fault timeout.
func TestMockDefaultHealthKeepsMembers(t *testing.T) {
	t.Parallel()
	p := startPlatform(t, options{Policies: scalingPolicies(t)})
	p.deploy()
	d := clusterDef{App: "mock-default-health", Alias: "php1", Min: 3, Max: 6, AutoscalePolicy: quietPolicyID,
		DeploymentPolicy: scalingDeploymentID, NetworkPartition: "network-partition-2"}
	id := d.id()
	p.createCluster(d)
	p.waitFor("3 Active members", 30*time.Second, func() bool { return p.active(id) == 3 })
	ids := func() []string {
		var out []string
		for _, m := range p.members(id) {
			out = append(out, m.MemberID)
		}
		slices.Sort(out)
		return out
	}
	first := ids()
	from := time.Now()
	const rounds = 40
	p.waitFor("40 health intervals of every member", 60*time.Second, func() bool {
		for _, m := range first {
			if len(p.health.since(m, from)) < rounds {
				return false
			}
		}
		return true
	})
	if got := ids(); !slices.Equal(got, first) {
		t.Errorf("members after %d health intervals %v, want the first %v\n%s", rounds, got, first, p.describe(id))
	}
	if n := p.active(id); n != 3 {
		t.Errorf("%d Active members, want 3", n)
	}
	if f := p.engine.Stats().Faults; f != 0 {
		t.Errorf("the CEP raised %d member faults, want none", f)
	}
	// Every interval: no gap between two samples of a member comes near the fault timeout.
	for _, m := range first {
		at := p.health.since(m, from)
		for i := 1; i < len(at); i++ {
			if gap := at[i].Sub(at[i-1]); gap > defaultFaultTimeout/2 {
				t.Errorf("member %s: %v between two health samples (interval %v)", m, gap, defaultHealthInterval)
			}
		}
	}
	for _, dec := range p.decisions(id) {
		if dec.Action == autoscaler.ActionScaleUp || dec.Action == autoscaler.ActionScaleDown {
			t.Errorf("decision %s: %s; the default health scales nothing", dec.ID, dec.Action)
		}
	}
}
