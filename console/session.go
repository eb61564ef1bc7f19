package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"time"
)

const (
	sessionCookie = "strata_session"
	loginCookie   = "strata_login" // the login form's CSRF token, before there is a session
	csrfField     = "csrf"
	csrfHeader    = "X-CSRF-Token"
)

// session is one logged-in browser: the API token the console calls the API with, and what the
// API said the user may do.
type session struct {
	id, csrf     string
	user, tenant string
	role         string
	token        string // the bearer token, never sent to the browser
	tokenID      string // for DELETE /api/tokens/{id} at logout
	perms        map[string]bool
	lastUsed     time.Time
}

// can reports whether the API grants the session's user action ("view", "manage") on resource.
func (s *session) can(resource, action string) bool { return s.perms[resource+":"+action] }

// sessions is the table of open sessions, by id.
type sessions struct {
	mu   sync.Mutex
	byID map[string]*session
}

func newSessions() *sessions { return &sessions{byID: map[string]*session{}} }

func (t *sessions) put(s *session) {
	t.mu.Lock()
	t.byID[s.id] = s
	t.mu.Unlock()
}

// get returns the session of id when it was used within idle, and marks it used at now. An idle
// session is removed and returned as expired, for its token to be revoked.
func (t *sessions) get(id string, now time.Time, idle time.Duration) (s *session, expired *session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s = t.byID[id]
	if s == nil {
		return nil, nil
	}
	if now.Sub(s.lastUsed) > idle {
		delete(t.byID, id)
		return nil, s
	}
	s.lastUsed = now
	return s, nil
}

func (t *sessions) remove(id string) {
	t.mu.Lock()
	delete(t.byID, id)
	t.mu.Unlock()
}

// expire removes and returns the sessions unused for longer than idle.
func (t *sessions) expire(now time.Time, idle time.Duration) []*session {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*session
	for id, s := range t.byID {
		if now.Sub(s.lastUsed) > idle {
			out = append(out, s)
			delete(t.byID, id)
		}
	}
	return out
}

// drain removes and returns every session.
func (t *sessions) drain() []*session {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*session, 0, len(t.byID))
	for id, s := range t.byID {
		out = append(out, s)
		delete(t.byID, id)
	}
	return out
}

// randomToken is 32 random bytes, URL-safe.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return base64.RawURLEncoding.EncodeToString(b)
}

type ctxKey struct{}

func sessionFrom(ctx context.Context) *session {
	s, _ := ctx.Value(ctxKey{}).(*session)
	return s
}

// setCookie sets an HttpOnly, SameSite=Strict cookie for the whole console (Secure over TLS);
// maxAge < 0 deletes it.
func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: maxAge})
}

// authenticate finds the request's session; without one, a page request is sent to the login
// page and anything else gets 401.
func (c *Console) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s, expired *session
		if ck, err := r.Cookie(sessionCookie); err == nil {
			s, expired = c.sessions.get(ck.Value, c.opts.Now(), c.opts.SessionIdle)
		}
		if expired != nil {
			c.revoke(r.Context(), expired)
		}
		if s == nil {
			if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/events") {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			c.fail(w, r, http.StatusUnauthorized, "log in first")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, s)))
	})
}

// checkCSRF refuses a request whose CSRF token (form field or header) is not its session's.
func (c *Console) checkCSRF(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessionFrom(r.Context())
		got := r.Header.Get(csrfHeader)
		if got == "" {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			got = r.PostFormValue(csrfField)
		}
		if s == nil || !equal(got, s.csrf) {
			c.fail(w, r, http.StatusForbidden, "the request has no valid CSRF token: reload the page and try again")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func equal(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func (c *Console) getLogin(w http.ResponseWriter, r *http.Request) {
	c.renderLogin(w, r, http.StatusOK, "")
}

// renderLogin shows the login form with a fresh login CSRF token (in a cookie and the form).
func (c *Console) renderLogin(w http.ResponseWriter, r *http.Request, code int, problem string) {
	tok := randomToken()
	setCookie(w, r, loginCookie, tok, 600)
	c.render(w, r, code, "login", map[string]any{"CSRF": tok, "Problem": problem})
}

// postLogin asks the API for a token with the user's credentials; the API decides whether
// they are right.
func (c *Console) postLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	ck, err := r.Cookie(loginCookie)
	if err != nil || !equal(r.PostFormValue(csrfField), ck.Value) {
		c.renderLogin(w, r, http.StatusForbidden, "The login form expired: try again.")
		return
	}
	name, password := strings.TrimSpace(r.PostFormValue("user")), r.PostFormValue("password")
	var created struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	err = c.api(r.Context(), credentials{basicUser: name, basicPassword: password}, http.MethodPost, "/api/tokens",
		map[string]string{"name": "console session"}, &created)
	if err != nil {
		c.log.Info("console login refused", "user", name, "err", err)
		c.renderLogin(w, r, http.StatusUnauthorized, "Wrong user name or password.")
		return
	}
	s := &session{id: randomToken(), csrf: randomToken(), token: created.Token, tokenID: created.ID, lastUsed: c.opts.Now()}
	var who struct {
		User         string   `json:"user"`
		TenantDomain string   `json:"tenantDomain"`
		Role         string   `json:"role"`
		Permissions  []string `json:"permissions"`
	}
	if err := c.api(r.Context(), s.creds(), http.MethodGet, "/api/session", nil, &who); err != nil {
		c.revoke(r.Context(), s)
		c.fail(w, r, http.StatusBadGateway, "the API did not describe the session: "+err.Error())
		return
	}
	s.user, s.tenant, s.role = who.User, who.TenantDomain, who.Role
	s.perms = make(map[string]bool, len(who.Permissions))
	for _, p := range who.Permissions {
		s.perms[p] = true
	}
	c.sessions.put(s)
	setCookie(w, r, loginCookie, "", -1)
	setCookie(w, r, sessionCookie, s.id, 0)
	http.Redirect(w, r, "/apps", http.StatusSeeOther)
}

func (c *Console) postLogout(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r.Context())
	c.sessions.remove(s.id)
	c.revoke(r.Context(), s)
	setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// revoke deletes a session's API token.
func (c *Console) revoke(ctx context.Context, s *session) {
	if err := c.api(ctx, s.creds(), http.MethodDelete, "/api/tokens/"+s.tokenID, nil, nil); err != nil {
		c.log.Warn("console session token not revoked", "user", s.user, "err", err)
	}
}

// User, Tenant, Role and CSRF are for the templates.
func (s *session) User() string   { return s.user }
func (s *session) Tenant() string { return s.tenant }
func (s *session) Role() string   { return s.role }
func (s *session) CSRF() string   { return s.csrf }
