package manager

import (
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/testenv"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// throttledEnv is a test environment whose logins are limited to 3 failures per source and 5 per
// user, one attempt regained per minute, credentials remembered for 10 minutes, on a fake clock.
func throttledEnv(t *testing.T) (*testEnv, *fakeClock) {
	e := newEnv(t)
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	e.srv.opts.Users.SetLoginLimits(LoginLimits{SourceBurst: 3, UserBurst: 5, Refill: time.Minute,
		CacheTTL: 10 * time.Minute, Now: clock.Now})
	return e, clock
}

func isThrottled(err error) bool {
	var te *ThrottledError
	return errors.As(err, &te)
}

// TestLoginThrottle: failed logins are throttled per source and per user name, with no password
// check once throttled, and regain an attempt per Refill; a remembered credential is accepted
// even while its source and its name are throttled; an expired one is not.
func TestLoginThrottle(t *testing.T) {
	e, clock := throttledEnv(t)
	u := e.srv.opts.Users
	if _, err := u.Login("10.0.0.9", "admin", adminPassword); err != nil {
		t.Fatalf("first valid login: %v", err)
	}
	for i := range 3 {
		if _, err := u.Login("10.0.0.1", "admin", "wrong-"+string(rune('a'+i))); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("failure %d: %v, want ErrBadCredentials", i, err)
		}
	}
	_, err := u.Login("10.0.0.1", "someone-else", "wrong")
	var te *ThrottledError
	if !errors.As(err, &te) || te.RetryAfter <= 0 || te.RetryAfter > time.Minute {
		t.Fatalf("4th failure from one source: %v, want a ThrottledError within a minute", err)
	}
	if _, err := u.Login("10.0.0.1", "admin", adminPassword); err != nil {
		t.Errorf("remembered credential from a throttled source: %v", err)
	}
	// Two more failures from another source exhaust the admin name's 5 attempts.
	for range 2 {
		if _, err := u.Login("10.0.0.2", "admin", "wrong"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("failure from a second source: %v", err)
		}
	}
	if _, err := u.Login("10.0.0.3", "admin", "wrong"); !isThrottled(err) {
		t.Errorf("6th failure on one name, from a fresh source: %v, want throttled", err)
	}
	if _, err := u.Login("10.0.0.3", "admin", adminPassword); err != nil {
		t.Errorf("remembered credential of a throttled name: %v", err)
	}
	clock.Advance(time.Minute)
	if _, err := u.Login("10.0.0.1", "nobody", "wrong"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("after one refill, the source may try once more: %v", err)
	}
	if _, err := u.Login("10.0.0.1", "nobody", "wrong"); !isThrottled(err) {
		t.Errorf("and only once: %v", err)
	}
	clock.Advance(10 * time.Minute)
	// The memo has expired: the valid password is checked again, and that takes an attempt,
	// which the admin name has regained by now; a success gives it back.
	if _, err := u.Login("10.0.0.4", "admin", adminPassword); err != nil {
		t.Errorf("valid login after the memo expired: %v", err)
	}
	st := u.LoginStats()
	if st.Failed != 6 || st.Throttled != 3 || st.Cached != 2 {
		t.Errorf("LoginStats = %+v, want 6 failed, 3 throttled, 2 from the memo", st)
	}
}

// TestLoginMemoForgottenOnPasswordChange: a new password or a deleted user makes the
// remembered credential useless at once.
func TestLoginMemoForgottenOnPasswordChange(t *testing.T) {
	e, _ := throttledEnv(t)
	u := e.srv.opts.Users
	if err := u.Put("alice", SuperTenantDomain, RoleUser, "first-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Login("10.0.0.1", "alice", "first-password"); err != nil {
		t.Fatal(err)
	}
	if err := u.Put("alice", SuperTenantDomain, RoleUser, "second-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Login("10.0.0.1", "alice", "first-password"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("old password after a change: %v, want ErrBadCredentials", err)
	}
	if _, err := u.Login("10.0.0.1", "alice", "second-password"); err != nil {
		t.Fatal(err)
	}
	if err := u.Delete("alice", SuperTenantDomain); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Login("10.0.0.1", "alice", "second-password"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("deleted user's remembered password: %v, want ErrBadCredentials", err)
	}
}

// TestRESTLoginThrottled: on the REST API a throttled login is 429 with Retry-After, and the
// admin whose credential is remembered still gets 200.
func TestRESTLoginThrottled(t *testing.T) {
	e, _ := throttledEnv(t)
	if r := e.admin(http.MethodGet, "/api/session", nil); r.code != http.StatusOK {
		t.Fatalf("admin: %d %s", r.code, r.body)
	}
	var codes []int
	for range 5 {
		codes = append(codes, e.do(http.MethodGet, "/api/session", "admin", "wrong", nil).code)
	}
	want := []int{401, 401, 401, 429, 429}
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("wrong passwords answered %v, want %v", codes, want)
		}
	}
	r := e.do(http.MethodGet, "/api/session", "admin", "wrong", nil)
	if ra := r.hdr.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("429 without a positive Retry-After: %q", ra)
	}
	if r := e.admin(http.MethodGet, "/api/session", nil); r.code != http.StatusOK {
		t.Errorf("admin during the throttle: %d %s", r.code, r.body)
	}
}

// TestRESTConcurrencyBound: beyond MaxConcurrent requests in progress, one more is answered 503
// with Retry-After and counted.
func TestRESTConcurrencyBound(t *testing.T) {
	e := newEnv(t)
	for range cap(e.srv.slots) {
		e.srv.slots <- struct{}{} // requests in progress
	}
	r := e.admin(http.MethodGet, "/api/session", nil)
	if r.code != http.StatusServiceUnavailable || r.hdr.Get("Retry-After") == "" {
		t.Errorf("request beyond the bound: %d (Retry-After %q), want 503 with Retry-After", r.code, r.hdr.Get("Retry-After"))
	}
	<-e.srv.slots
	if r := e.admin(http.MethodGet, "/api/session", nil); r.code != http.StatusOK {
		t.Errorf("request within the bound: %d %s", r.code, r.body)
	}
	if got := testenv.Gather(t, e.srv.Collector())["strata_http_requests_refused_total"]; got != 1 {
		t.Errorf("strata_http_requests_refused_total = %v, want 1", got)
	}
}
