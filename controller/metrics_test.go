package controller_test

import (
	"context"
	"testing"

	"github.com/strata-paas/strata/internal/testenv"
)

// TestCollector: members by state, starts, start failures and terminations are on the
// controller's collector as a scrape would see them.
func TestCollector(t *testing.T) {
	e := newEnv(t)
	c, _ := runController(t, e.opts)
	seed(t, c)
	a := e.startActive(t, c)
	e.startActive(t, c)
	bad := startReq
	bad.PartitionID = "no-such-partition"
	if _, err := c.StartMember(context.Background(), bad); err == nil {
		t.Fatal("a start in an unknown partition succeeded")
	}
	if err := c.TerminateMember(context.Background(), a.MemberID, true); err != nil {
		t.Fatal(err)
	}
	got := testenv.Gather(t, c.Collector())
	want := map[string]float64{
		"strata_controller_member_starts_total":          2,
		"strata_controller_member_start_failures_total":  1,
		"strata_controller_member_terminations_total":    1,
		`strata_controller_members{state="Active"}`:      1,
		`strata_controller_members{state="Created"}`:     0,
		`strata_controller_members{state="Terminated"}`:  0,
		`strata_controller_members{state="Suspended"}`:   0,
		`strata_controller_members{state="Initialized"}`: 0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}
