package manager

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// ErrBadCredentials is returned by Users.Login for a wrong name or password.
var ErrBadCredentials = errors.New("manager: invalid user name or password")

// ThrottledError is returned by Users.Login when the source or the user name has failed too
// often: the password is not even checked. Retry after RetryAfter.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("manager: too many failed logins, retry in %v", e.RetryAfter.Round(time.Second))
}

// LoginLimits bound the cost of password checks. Their zero fields take the defaults below.
type LoginLimits struct {
	// SourceBurst is how many logins a source address may fail in a row before it is throttled
	// (default 20); UserBurst the same for a user name, whatever the source (default 10).
	SourceBurst, UserBurst int
	// Refill is the time in which a throttled source or user regains one attempt (default 3 s).
	Refill time.Duration
	// CacheTTL is how long a verified credential is remembered (default 5 min); CacheSize how
	// many are remembered at most (default 10 000). A remembered credential skips bcrypt and the
	// throttle, so a valid user is never held up by an attacker's failures.
	CacheTTL  time.Duration
	CacheSize int
	// Hashers is how many bcrypt checks run at once (default half of GOMAXPROCS, at least 1);
	// the rest wait.
	Hashers int
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

func (l LoginLimits) withDefaults() LoginLimits {
	if l.SourceBurst <= 0 {
		l.SourceBurst = 20
	}
	if l.UserBurst <= 0 {
		l.UserBurst = 10
	}
	if l.Refill <= 0 {
		l.Refill = 3 * time.Second
	}
	if l.CacheTTL <= 0 {
		l.CacheTTL = 5 * time.Minute
	}
	if l.CacheSize <= 0 {
		l.CacheSize = 10000
	}
	if l.Hashers <= 0 {
		// Half the CPUs: password checks, however many an attacker causes, leave the rest for
		// serving everyone else.
		l.Hashers = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if l.Now == nil {
		l.Now = time.Now
	}
	return l
}

// LoginStats are the credential store's counters, for metrics.
type LoginStats struct {
	Failed    int64 // logins refused for a wrong name or password
	Throttled int64 // logins refused without a check, the source or user having failed too often
	Cached    int64 // logins accepted from a remembered credential
}

// verified is a remembered credential's user record, until expires.
type verified struct {
	user    User
	expires time.Time
}

// logins is the throttle, the memo of verified credentials and the bound on bcrypt checks.
type logins struct {
	limits  LoginLimits
	hashers chan struct{}

	mu       sync.Mutex // guards the maps below
	sources  *buckets
	users    *buckets
	verified map[string]verified // HMAC(key, qualified name, password) -> the user it proved
	byUser   map[string]string   // qualified user name -> its key in verified (one per user)

	failed, throttled, cached atomic.Int64
}

func newLogins(l LoginLimits) *logins {
	l = l.withDefaults()
	return &logins{
		limits:   l,
		hashers:  make(chan struct{}, l.Hashers),
		sources:  newBuckets(l.SourceBurst, l.Refill, maxThrottled),
		users:    newBuckets(l.UserBurst, l.Refill, maxThrottled),
		verified: map[string]verified{},
		byUser:   map[string]string{},
	}
}

// remembered returns the user a credential's sum proved within CacheTTL. It reads no database
// and decodes nothing: a valid user's login, and an attacker's refusal, cost one HMAC.
func (l *logins) remembered(sum string) (User, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.verified[sum]
	if !ok {
		return User{}, false
	}
	if !l.limits.Now().Before(v.expires) {
		l.drop(key(v.user.Name, v.user.TenantDomain))
		return User{}, false
	}
	l.cached.Add(1)
	return v.user, true
}

// drop forgets user's remembered credential. The caller holds mu.
func (l *logins) drop(user string) {
	if sum, ok := l.byUser[user]; ok {
		delete(l.verified, sum)
		delete(l.byUser, user)
	}
}

// admit takes a token of source (none for "") and of user, or says how long to wait.
func (l *logins) admit(source, user string) error {
	now := l.limits.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if source != "" {
		if wait, ok := l.sources.take(source, now); !ok {
			l.throttled.Add(1)
			return &ThrottledError{RetryAfter: wait}
		}
	}
	if wait, ok := l.users.take(user, now); !ok {
		if source != "" {
			l.sources.give(source)
		}
		l.throttled.Add(1)
		return &ThrottledError{RetryAfter: wait}
	}
	return nil
}

// succeeded gives the tokens back and remembers the credential.
func (l *logins) succeeded(source, user, sum string, rec User) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if source != "" {
		l.sources.give(source)
	}
	l.users.give(user)
	l.drop(user)
	if len(l.verified) >= l.limits.CacheSize {
		now := l.limits.Now()
		for _, v := range l.verified {
			if !now.Before(v.expires) {
				l.drop(key(v.user.Name, v.user.TenantDomain))
			}
		}
		for _, v := range l.verified {
			if len(l.verified) < l.limits.CacheSize {
				break
			}
			l.drop(key(v.user.Name, v.user.TenantDomain))
		}
	}
	l.verified[sum] = verified{user: rec, expires: l.limits.Now().Add(l.limits.CacheTTL)}
	l.byUser[user] = sum
}

// forget drops a user's remembered credential (its password changed, or it was deleted).
func (l *logins) forget(user string) {
	l.mu.Lock()
	l.drop(user)
	l.mu.Unlock()
}

// hash runs f with at most Hashers others at once.
func (l *logins) hash(f func() bool) bool {
	l.hashers <- struct{}{}
	defer func() { <-l.hashers }()
	return f()
}
