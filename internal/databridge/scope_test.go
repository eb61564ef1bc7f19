package databridge

import (
	"context"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// TestScope: a member's session publishes only its own member's events, a cluster's session only
// its cluster's; events outside are dropped and counted, the session is closed after repeated
// offences, and a scoped session cannot delete the shared stream definitions. A tenant user is
// refused at connect.
func TestScope(t *testing.T) {
	t.Parallel()
	authorize := func(_ context.Context, user, password string) (Scope, error) {
		if password != "pw" {
			return Scope{}, ErrAuthentication
		}
		switch user {
		case "member":
			return Scope{ClusterID: sample.ClusterID, MemberID: sample.MemberID}, nil
		case "cluster":
			return Scope{ClusterID: sample.ClusterID}, nil
		case "admin":
			return Scope{All: true}, nil
		}
		return Scope{}, ErrAuthentication // a tenant's user
	}
	ts := startServer(t, func(o *ServerOptions) { o.Authenticate, o.Authorize = nil, authorize })
	ctx := context.Background()
	otherMember := sample
	otherMember.MemberID = "m-2"
	otherCluster := sample
	otherCluster.ClusterID, otherCluster.MemberID = "super.cluster", "m-9"

	cl, _ := genClient(t, ts.SecureAddr().String(), clientTLS(t))
	if _, err := cl.Connect(ctx, "t1user@t1.com", "pw"); err == nil {
		t.Error("a tenant user connected")
	}
	sid, err := cl.Connect(ctx, "member", "pw")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := cl.DeleteStreamById(ctx, sid, model.HealthStreamID); err != nil || ok {
		t.Errorf("a member's session deleted the health stream: %v %v", ok, err)
	}
	if err := cl.Publish(ctx, healthBundle(sid, sample, otherMember, otherCluster)); err != nil {
		t.Fatal(err)
	}
	if evs := ts.rec.wait(t, 1); len(evs) != 1 || evs[0].Strings[3] != sample.MemberID {
		t.Fatalf("handled %+v, want only the member's own sample", evs)
	}
	if st := ts.Stats(); st.OutOfScope != 2 || st.ScopeClosed != 0 {
		t.Errorf("stats %+v, want 2 events out of scope", st)
	}
	// Two more offending bundles close the session and the connection.
	for range 2 {
		if err := cl.Publish(ctx, healthBundle(sid, otherCluster)); err != nil {
			break
		}
	}
	testenv.Eventually(t, 10*time.Second, "the offending session closed", func() bool { return ts.Stats().ScopeClosed == 1 })
	cl2, _ := genClient(t, ts.PlainAddr().String(), nil)
	if err := cl2.Publish(ctx, healthBundle(sid, sample)); err == nil {
		t.Error("the closed session still publishes on the plain port")
	}

	cl3, _ := genClient(t, ts.SecureAddr().String(), clientTLS(t))
	sid3, err := cl3.Connect(ctx, "cluster", "pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := cl3.Publish(ctx, healthBundle(sid3, otherMember, otherCluster)); err != nil {
		t.Fatal(err)
	}
	if evs := ts.rec.wait(t, 2); evs[1].Strings[3] != otherMember.MemberID {
		t.Errorf("a cluster session's event of its cluster not handled: %+v", evs[1])
	}
	if st := ts.Stats(); st.OutOfScope != 5 {
		t.Errorf("OutOfScope = %d, want 5", st.OutOfScope)
	}
}
