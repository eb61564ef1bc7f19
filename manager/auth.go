package manager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
)

type ctxKey int

const userKey ctxKey = iota

// UserFrom returns the authenticated user of a request.
func UserFrom(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey).(User)
	return u, ok
}

// authenticate requires HTTP Basic credentials ("user" or "user@tenant.domain") or a bearer API
// token for every API call. A missing or wrong credential gets 401 with WWW-Authenticate and the
// error body (§6.2). Users of a deactivated tenant are refused too.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var user User
		var ok bool
		if tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); found {
			user, ok = s.tokenUser(strings.TrimSpace(tok))
		} else if name, password, basic := r.BasicAuth(); basic {
			var err error
			user, err = s.opts.Users.Login(sourceHost(r.RemoteAddr), name, password)
			if te := (*ThrottledError)(nil); errors.As(err, &te) {
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(te.RetryAfter.Seconds(), 1)))))
				writeError(w, http.StatusTooManyRequests, "Too many failed logins: retry later")
				return
			}
			ok = err == nil
		} else {
			w.Header().Set("WWW-Authenticate", `Basic realm="Strata"`)
			writeError(w, http.StatusUnauthorized, "The endpoint requires authentication")
			return
		}
		if ok && user.TenantDomain != SuperTenantDomain {
			if _, err := s.tenantID(user.TenantDomain); err != nil {
				ok = false
			}
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="Strata"`)
			writeError(w, http.StatusUnauthorized, "Authentication failed: invalid user name, password or token")
			return
		}
		if user.Role == RoleAgent || user.Role == RoleBus {
			// Agent and bus accounts exist for the broker and the Thrift receiver; whatever
			// the authorisation policy says, they get nothing here.
			writeError(w, http.StatusForbidden, "The user does not have required permissions to perform this operation")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey, user)))
	})
}

// limitBody caps request bodies at MaxBody.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.opts.MaxBody {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", s.opts.MaxBody))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBody)
		next.ServeHTTP(w, r)
	})
}

// allowed asks the authorisation policy whether the request's user may perform action on
// resource.
func (s *Server) allowed(r *http.Request, resource, action string) (bool, error) {
	u, _ := UserFrom(r.Context())
	return s.authz.allow(r.Context(), authzInput{
		User:     authzUser{Name: u.Name, Tenant: u.TenantDomain, Role: u.Role, SuperTenant: u.TenantDomain == SuperTenantDomain},
		Resource: resource, Action: action, Method: r.Method, Path: r.URL.Path,
	})
}

// can asks the authorisation policy whether the request's user may perform action ("view" or
// "manage") on resource; a refusal is 403 as in Stratos.
func (s *Server) can(resource, action string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ok, err := s.allowed(r, resource, action)
			if err != nil {
				s.log.Error("authorization", "err", err)
				writeError(w, http.StatusInternalServerError, "Internal server error")
				return
			}
			if !ok {
				writeError(w, http.StatusForbidden, "The user does not have required permissions to perform this operation")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// readOptionalBody reads a body that may be empty.
func readOptionalBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, fmt.Errorf("request body larger than %d bytes", mbe.Limit)
	}
	return b, err
}
