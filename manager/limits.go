package manager

import (
	"net"
	"net/http"
)

// DefaultMaxConcurrent is the default of Options.MaxConcurrent.
const DefaultMaxConcurrent = 256

// limitConcurrency answers 503 with Retry-After when Options.MaxConcurrent authenticated requests
// are being answered already; it runs after authenticate, so the password checks an attacker
// causes (throttled and bounded by Users) never take a valid user's slot.
func (s *Server) limitConcurrency(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.slots <- struct{}{}:
		default:
			s.metrics.refused.Inc()
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "Too many requests in progress: retry later")
			return
		}
		defer func() { <-s.slots }()
		next.ServeHTTP(w, r)
	})
}

// sourceHost is the host of a remote address, what logins are throttled by.
func sourceHost(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}
