package databridge

import (
	"context"
	"errors"

	"github.com/strata-paas/strata/internal/model"
)

// Scope is what an authenticated session may publish. A session with All publishes anything;
// otherwise every event must name MemberID in a member_id (or memberId) attribute when MemberID
// is set, and ClusterID as its cluster_id (or clusterId), or a member of ClusterID when the
// stream has no cluster attribute (see allows). An event that does not is
// dropped, counted in Stats.OutOfScope, and the session is closed after maxScopeOffences
// bundles with such events. A scoped session may not delete stream definitions.
type Scope struct {
	All                 bool
	ClusterID, MemberID string
}

// AuthorizeFunc checks the credentials of a connect call and returns what the session may
// publish; a non-nil error refuses them.
type AuthorizeFunc func(ctx context.Context, user, password string) (Scope, error)

// Unscoped turns an Authenticate func into an AuthorizeFunc whose sessions may publish anything.
func Unscoped(authenticate func(ctx context.Context, user, password string) error) AuthorizeFunc {
	return func(ctx context.Context, user, password string) (Scope, error) {
		if err := authenticate(ctx, user, password); err != nil {
			return Scope{}, err
		}
		return Scope{All: true}, nil
	}
}

// maxScopeOffences is how many bundles with events outside its scope a session may publish
// before it is closed with its connection.
const maxScopeOffences = 3

// errScopeOffences ends a connection whose session published outside its scope too often.
var errScopeOffences = errors.New("databridge: session closed: repeated events outside its scope")

// authorize runs Authorize, or Authenticate with an unrestricted scope.
func (s *Server) authorize(ctx context.Context, user, password string) (Scope, error) {
	if s.opts.Authorize != nil {
		return s.opts.Authorize(ctx, user, password)
	}
	if s.opts.Authenticate == nil {
		return Scope{}, ErrAuthentication
	}
	return Unscoped(s.opts.Authenticate)(ctx, user, password)
}

// allows reports whether an event lies inside the scope. A member's session needs the event's
// member id to be its member, and its cluster id, when the stream has one, its cluster (the log
// streams name only the member). A cluster's session needs its cluster as the event's cluster id,
// or, for a stream without one, a member id of that cluster (§1.7).
func (sc Scope) allows(e *Event) bool {
	if sc.All {
		return true
	}
	member, hasMember := stringAttr(e, "member_id", "memberId")
	cluster, hasCluster := stringAttr(e, "cluster_id", "clusterId")
	if sc.MemberID != "" {
		return hasMember && member == sc.MemberID && (!hasCluster || cluster == sc.ClusterID)
	}
	if sc.ClusterID == "" {
		return false
	}
	if hasCluster && cluster != sc.ClusterID {
		return false
	}
	if hasMember {
		c, ok := model.MemberClusterID(member)
		return ok && c == sc.ClusterID
	}
	return hasCluster
}

// stringAttr returns the first of the named string attributes the event's stream has.
func stringAttr(e *Event, names ...string) (string, bool) {
	for _, n := range names {
		if t, i, ok := e.Stream.Index(n); ok && t == TypeString && i < len(e.Strings) {
			return e.Strings[i], true
		}
	}
	return "", false
}

// enforceScope hands the handler only the events of evs inside the session's scope. When all are,
// it returns evs for the caller to hand over in one call; otherwise it hands the good ones over
// itself, one at a time (the events' slices belong to the decoder, so evs is not compacted),
// counts the rest and returns nil, or errScopeOffences once the session has offended too often.
func (sc *serverConn) enforceScope(evs []Event) ([]Event, error) {
	scope := sc.sess.scope
	bad := 0
	for i := range evs {
		if !scope.allows(&evs[i]) {
			bad++
		}
	}
	if bad == 0 {
		return evs, nil
	}
	s := sc.s
	s.outOfScope.Add(uint64(bad))
	for i := range evs {
		if scope.allows(&evs[i]) {
			s.opts.Handler.HandleEvents(evs[i : i+1])
			s.events.Add(1)
		}
	}
	n := sc.sess.offences.Add(1)
	if n == 1 {
		s.log.Warn("dropped events outside the session's scope; further ones are only counted",
			"user", sc.sess.user, "cluster_id", scope.ClusterID, "member_id", scope.MemberID, "stream", evs[0].Stream.ID,
			"remote", sc.c.RemoteAddr().String(), "dropped", bad)
	}
	if n >= maxScopeOffences {
		s.sessions.remove(sc.sess.id)
		s.scopeClosed.Add(1)
		s.log.Warn("closed a session that published outside its scope repeatedly", "user", sc.sess.user,
			"remote", sc.c.RemoteAddr().String())
		return nil, errScopeOffences
	}
	return nil, nil
}

// mayDelete reports whether the session sid may delete stream definitions: only an unrestricted
// one, since the definitions are shared by every publisher.
func (sc *serverConn) mayDelete(sid string) bool {
	sess := sc.s.sessions.get([]byte(sid))
	return sess != nil && sess.scope.All
}

// EndSessions closes every session whose scope match accepts (a terminated member's, say) and
// returns how many it closed; their next call is answered as for an expired session, and a new
// connect must pass Authorize again.
func (s *Server) EndSessions(match func(Scope) bool) int {
	st := s.sessions
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for id, sess := range st.m {
		if match(sess.scope) {
			sess.closed.Store(true)
			delete(st.m, id)
			n++
		}
	}
	return n
}
