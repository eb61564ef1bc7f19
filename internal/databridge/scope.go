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
	return sc.allowsAt(e, scopeAttrsOf(e.Stream))
}

// allowsAt is allows with the stream's id attributes already found.
func (sc Scope) allowsAt(e *Event, at scopeAttrs) bool {
	if sc.All {
		return true
	}
	member, hasMember := at.get(e, at.member)
	cluster, hasCluster := at.get(e, at.cluster)
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

// scopeAttrs are the positions in a stream's events' Strings of its member and cluster id
// attributes, -1 where it has none; found by name once per stream, not once per event.
type scopeAttrs struct {
	stream          *StreamDefinition
	member, cluster int
}

func scopeAttrsOf(d *StreamDefinition) scopeAttrs {
	return scopeAttrs{stream: d, member: stringIndex(d, "member_id", "memberId"), cluster: stringIndex(d, "cluster_id", "clusterId")}
}

// get returns the event's string at position i, if the stream has it.
func (scopeAttrs) get(e *Event, i int) (string, bool) {
	if i < 0 || i >= len(e.Strings) {
		return "", false
	}
	return e.Strings[i], true
}

// stringIndex returns the position of the first of the named string attributes d has, or -1.
func stringIndex(d *StreamDefinition, names ...string) int {
	for _, n := range names {
		if t, i, ok := d.Index(n); ok && t == TypeString {
			return i
		}
	}
	return -1
}

// inScope is allowsAt for a run of events, finding the id attributes again only when the stream
// changes (a bundle's events are mostly of one stream).
func (sc Scope) inScope(e *Event, at *scopeAttrs) bool {
	if at.stream != e.Stream {
		*at = scopeAttrsOf(e.Stream)
	}
	return sc.allowsAt(e, *at)
}

// enforceScope hands the handler only the events of evs inside the session's scope. When all are,
// it returns evs for the caller to hand over in one call; otherwise it counts the rest (before
// handing anything over, so a handler that sees the events sees them counted) and hands over
// itself the runs of good events between the bad ones (the events' slices belong to the decoder,
// so evs is not compacted), and returns nil, or errScopeOffences once the session has offended
// too often.
func (sc *serverConn) enforceScope(evs []Event) ([]Event, error) {
	scope := sc.sess.scope
	var at scopeAttrs
	firstBad, bad := -1, 0
	for i := range evs {
		if !scope.inScope(&evs[i], &at) {
			if bad == 0 {
				firstBad = i
			}
			bad++
		}
	}
	if bad == 0 {
		return evs, nil
	}
	s := sc.s
	s.outOfScope.Add(uint64(bad))
	start := 0
	for i := firstBad; i < len(evs); i++ {
		if !scope.inScope(&evs[i], &at) {
			s.handleRun(evs[start:i])
			start = i + 1
		}
	}
	s.handleRun(evs[start:])
	n := sc.sess.offences.Add(1)
	if n == 1 {
		s.log.Warn("dropped events outside the session's scope; further ones are only counted",
			"user", sc.sess.user, "cluster_id", scope.ClusterID, "member_id", scope.MemberID, "stream", evs[firstBad].Stream.ID,
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

// handleRun hands a run of accepted events to the handler and counts them.
func (s *Server) handleRun(evs []Event) {
	if len(evs) > 0 {
		s.opts.Handler.HandleEvents(evs)
		s.events.Add(uint64(len(evs)))
	}
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
