package databridge

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// TestScope: a member's session publishes only its own member's events, a cluster's session only
// its cluster's; events outside are dropped and counted, the session is closed after repeated
// offences, and a scoped session cannot delete the shared stream definitions. A tenant user is
// refused at connect.
func TestScope(t *testing.T) {
	t.Parallel()
	sample := sample
	sample.MemberID = sample.ClusterID + "0b7e1c2d-3a4b-4c5d-8e6f-708192a3b4c5"
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
	otherMember.MemberID = sample.ClusterID + "9a3f6f1e-4c1b-4d8e-9a77-1b2c3d4e5f60"
	otherCluster := sample
	otherCluster.ClusterID, otherCluster.MemberID = "super.cluster", "super.cluster9a3f6f1e-4c1b-4d8e-9a77-1b2c3d4e5f60"

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

// TestScopeAllows: the scope decision on the streams agents and the load balancer publish.
func TestScopeAllows(t *testing.T) {
	const cluster = "app.php.php.domain"
	member := cluster + "0b7e1c2d-3a4b-4c5d-8e6f-708192a3b4c5"
	other := cluster + "9a3f6f1e-4c1b-4d8e-9a77-1b2c3d4e5f60"
	foreign := "x.php.php.domain9a3f6f1e-4c1b-4d8e-9a77-1b2c3d4e5f60"
	health := func(c, m string) Event {
		return HealthEvent(model.HealthSample{ClusterID: c, MemberID: m, Metric: model.MetricLoadAverage})
	}
	logs := LogStream(LogStreamName("-1234", "php", time.Unix(0, 0)))
	logOf := func(m string) Event { return LogEvent(logs, model.LogEntry{MemberID: m, Message: "x"}) }
	inFlight := InFlightEvent(model.HealthSample{ClusterID: cluster})
	memberScope := Scope{ClusterID: cluster, MemberID: member}
	clusterScope := Scope{ClusterID: cluster}
	for _, tt := range []struct {
		name  string
		scope Scope
		event Event
		want  bool
	}{
		{"all: anything", Scope{All: true}, health(foreign, foreign), true},
		{"member: own health", memberScope, health(cluster, member), true},
		{"member: own logs", memberScope, logOf(member), true},
		{"member: another member's health", memberScope, health(cluster, other), false},
		{"member: own id, other cluster", memberScope, health("x.php.php.domain", member), false},
		{"member: another member's logs", memberScope, logOf(other), false},
		{"member: in-flight (no member id)", memberScope, inFlight, false},
		{"cluster: a member's health", clusterScope, health(cluster, other), true},
		{"cluster: in-flight", clusterScope, inFlight, true},
		{"cluster: a member's logs", clusterScope, logOf(other), true},
		{"cluster: another cluster's logs", clusterScope, logOf(foreign), false},
		{"cluster: another cluster's health", clusterScope, health("x.php.php.domain", foreign), false},
		{"cluster: its cluster id with a foreign member", clusterScope, health(cluster, foreign), false},
		{"empty scope", Scope{}, health(cluster, member), false},
	} {
		if got := tt.scope.allows(&tt.event); got != tt.want {
			t.Errorf("%s: allows = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// batchRecorder keeps the member ids of each HandleEvents call.
type batchRecorder struct{ calls [][]string }

func (r *batchRecorder) HandleEvents(evs []Event) {
	var ids []string
	for i := range evs {
		ids = append(ids, evs[i].Strings[3])
	}
	r.calls = append(r.calls, ids)
}

// TestEnforceScopeRuns: a bundle with events outside the scope reaches the handler as the runs of
// good events between them, in order, with the bad ones counted.
func TestEnforceScopeRuns(t *testing.T) {
	const cluster = "app.php.php.domain"
	own := cluster + "0b7e1c2d-3a4b-4c5d-8e6f-708192a3b4c5"
	other := cluster + "9a3f6f1e-4c1b-4d8e-9a77-1b2c3d4e5f60"
	ev := func(m string) Event { return HealthEvent(model.HealthSample{ClusterID: cluster, MemberID: m}) }
	rec := &batchRecorder{}
	c, peer := net.Pipe()
	defer c.Close()
	defer peer.Close()
	s := &Server{opts: ServerOptions{Handler: rec}, log: slog.New(slog.DiscardHandler), sessions: newSessionStore(time.Hour, time.Now)}
	sc := &serverConn{s: s, c: c, sess: &session{scope: Scope{ClusterID: cluster, MemberID: own}}}
	evs := []Event{ev(own), ev(other), ev(own), ev(own), ev(other), ev(other), ev(own)}
	if got, err := sc.enforceScope(evs); got != nil || err != nil {
		t.Fatalf("enforceScope = %v, %v; want nil, nil", got, err)
	}
	want := [][]string{{own}, {own, own}, {own}}
	if diff := cmp.Diff(want, rec.calls); diff != "" {
		t.Errorf("handler calls (-want +got):\n%s", diff)
	}
	if got := s.outOfScope.Load(); got != 3 {
		t.Errorf("outOfScope = %d, want 3", got)
	}
}
