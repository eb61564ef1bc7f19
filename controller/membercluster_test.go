package controller_test

import (
	"context"
	"testing"

	"github.com/strata-paas/strata/controller"
)

// TestMemberCluster: the broker's per-publish check of a member credential finds the member's
// cluster without copying the member (0 allocations), and finds no member the controller lacks.
func TestMemberCluster(t *testing.T) {
	_, c, m := startStuckMember(t)
	if got, ok := c.MemberCluster(m.MemberID); !ok || got != m.ClusterID {
		t.Errorf("MemberCluster(%s) = %q, %v; want %q, true", m.MemberID, got, ok, m.ClusterID)
	}
	if got, ok := c.MemberCluster("no-such-member"); ok || got != "" {
		t.Errorf("MemberCluster(no-such-member) = %q, %v; want \"\", false", got, ok)
	}
	if n := testing.AllocsPerRun(100, func() { c.MemberCluster(m.MemberID) }); n != 0 {
		t.Errorf("MemberCluster allocates %v times per call, want 0", n)
	}
}

// BenchmarkMemberLookup compares the broker's member check through Member (a deep copy of the
// member, as it was) with MemberCluster.
func BenchmarkMemberLookup(b *testing.B) {
	broker := runBroker(b)
	ctrlBus, _ := runClient(b, broker.URL())
	c, _ := runController(b, controller.Options{Bus: ctrlBus, DataDir: b.TempDir(),
		Drivers: map[string]controller.Driver{"mock": &stuckDriver{}},
		MBURLs:  []string{"tcp://127.0.0.1:1883"}, CEPURLs: []string{"127.0.0.1:7711"},
		Issue: func(context.Context, string) (controller.Credentials, error) {
			return controller.Credentials{MBUsername: "u", MBPassword: "p", CEPUsername: "u", CEPPassword: "p"}, nil
		}})
	ctx := context.Background()
	seed(b, c)
	m, err := c.StartMember(ctx, startReq)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Member", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if mem, err := c.Member(m.MemberID); err != nil || mem.ClusterID != m.ClusterID {
				b.Fatal(err)
			}
		}
	})
	b.Run("MemberCluster", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if id, ok := c.MemberCluster(m.MemberID); !ok || id != m.ClusterID {
				b.Fatal("member not found")
			}
		}
	})
}
