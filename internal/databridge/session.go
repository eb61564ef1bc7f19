package databridge

import (
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// session is one authenticated session. last (unix ns by the server's clock) is touched by every
// call that names the session; the session expires after ttl without one.
type session struct {
	id       string
	user     string
	scope    Scope
	last     atomic.Int64
	closed   atomic.Bool
	offences atomic.Int32 // bundles with events outside scope
}

// sessionStore holds the sessions; its mutex is a leaf in the lock order.
type sessionStore struct {
	ttl time.Duration
	now func() time.Time

	mu sync.RWMutex
	m  map[string]*session
}

func newSessionStore(ttl time.Duration, now func() time.Time) *sessionStore {
	return &sessionStore{ttl: ttl, now: now, m: make(map[string]*session)}
}

func (st *sessionStore) create(user string, scope Scope) *session {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // a v4 UUID, like WSO2's
	b[8] = b[8]&0x3f | 0x80
	s := &session{id: fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:]), user: user, scope: scope}
	s.last.Store(st.now().UnixNano())
	st.mu.Lock()
	st.m[s.id] = s
	st.mu.Unlock()
	return s
}

// alive reports whether s is open and used within the ttl, and if so touches it.
func (st *sessionStore) alive(s *session) bool {
	if s == nil || s.closed.Load() {
		return false
	}
	now := st.now().UnixNano()
	if now-s.last.Load() > int64(st.ttl) {
		s.closed.Store(true)
		return false
	}
	s.last.Store(now)
	return true
}

// get finds a live session by id without allocating, or returns nil.
func (st *sessionStore) get(id []byte) *session {
	st.mu.RLock()
	s := st.m[string(id)]
	st.mu.RUnlock()
	if !st.alive(s) {
		return nil
	}
	return s
}

func (st *sessionStore) remove(id string) {
	st.mu.Lock()
	if s := st.m[id]; s != nil {
		s.closed.Store(true)
		delete(st.m, id)
	}
	st.mu.Unlock()
}

// sweep forgets expired sessions and returns how many remain.
func (st *sessionStore) sweep() int {
	now := st.now().UnixNano()
	st.mu.Lock()
	defer st.mu.Unlock()
	for id, s := range st.m {
		if s.closed.Load() || now-s.last.Load() > int64(st.ttl) {
			s.closed.Store(true)
			delete(st.m, id)
		}
	}
	return len(st.m)
}
