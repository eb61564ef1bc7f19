package manager

import (
	"context"
	"net/http"
)

type ctxKey int

const userKey ctxKey = iota

// UserFrom returns the authenticated user of a request.
func UserFrom(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey).(User)
	return u, ok
}

// authenticate requires HTTP Basic credentials ("user" or "user@tenant.domain") for every API
// call. A missing or wrong credential gets 401 with WWW-Authenticate and the error body (§6.2).
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, password, ok := r.BasicAuth()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="Strata"`)
			writeError(w, http.StatusUnauthorized, "The endpoint requires authentication")
			return
		}
		user, ok := s.opts.Users.Authenticate(name, password)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="Strata"`)
			writeError(w, http.StatusUnauthorized, "Authentication failed: invalid user name or password")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey, user)))
	})
}

// limitBody caps request bodies at MaxBody.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.opts.MaxBody {
			writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBody)
		next.ServeHTTP(w, r)
	})
}
