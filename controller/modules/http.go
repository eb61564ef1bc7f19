package modules

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/strata-paas/strata/controller"
)

// VersionHeader carries a module's version in the answer of GET /{type}.
const VersionHeader = "Strata-Module-Version"

// Handler serves the modules, under a prefix the caller strips:
//
//	GET /{type}          the module as a gzipped tar archive, its version in VersionHeader
//	GET /{type}/version  the version alone, as text
//
// Both need the credential of a member of a cluster of that cartridge type.
func (s *Store) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{type}", func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, false) })
	mux.HandleFunc("GET /{type}/version", func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, true) })
	return mux
}

func (s *Store) serve(w http.ResponseWriter, r *http.Request, versionOnly bool) {
	typ := r.PathValue("type")
	user, password, ok := r.BasicAuth()
	var own string
	if ok {
		own, ok = s.opts.Member(user, password)
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="Strata modules"`)
		http.Error(w, "a member's credential is required", http.StatusUnauthorized)
		return
	}
	if own != typ {
		http.Error(w, "a member may fetch only its own cartridge type's module", http.StatusForbidden)
		return
	}
	m, err := s.Module(r.Context(), typ, versionOnly)
	switch {
	case errors.Is(err, ErrNoModule), errors.Is(err, controller.ErrNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	case err != nil:
		s.log.Warn("module not available", "cartridge_type", typ, "error", err)
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set(VersionHeader, m.Version)
	w.Header().Set("Cache-Control", "no-store")
	if versionOnly {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(m.Version + "\n"))
		return
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Length", strconv.Itoa(len(m.Archive)))
	_, _ = w.Write(m.Archive)
}
