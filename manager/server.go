package manager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configure the REST server.
type Options struct {
	Listener net.Listener        // where to serve; the caller binds it so it can name the flag on error
	Users    *Users              // the credential store
	Gatherer prometheus.Gatherer // what /metrics exposes
	Logger   *slog.Logger
	MaxBody  int64 // request body limit in bytes; 0 means 1 MiB
}

// Server is the manager's REST server: the Stratos 4.1 API under /api and /api/v4.1, /healthz and
// /metrics.
type Server struct {
	opts   Options
	log    *slog.Logger
	server *http.Server
}

// New builds the server; Run serves it.
func New(opts Options) (*Server, error) {
	if opts.Listener == nil || opts.Users == nil {
		return nil, errors.New("manager: Listener and Users are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Gatherer == nil {
		opts.Gatherer = prometheus.DefaultGatherer
	}
	if opts.MaxBody == 0 {
		opts.MaxBody = 1 << 20
	}
	s := &Server{opts: opts, log: opts.Logger.With("component", "manager")}
	s.server = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Run serves until ctx ends, then shuts down within 5 s.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.server.Serve(s.opts.Listener) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", s.opts.Listener.Addr(), err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.server.Shutdown(shutdown); err != nil {
		_ = s.server.Close()
	}
	<-errc
	return nil
}

// routes lists every route of the server.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	r.Handle("/metrics", promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{}))
	api := func(r chi.Router) {
		r.Use(s.limitBody, s.authenticate)
		r.Get("/init", s.getInit)
	}
	r.Route("/api", api)
	r.Route("/api/v4.1", api)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such resource: "+r.URL.Path)
	})
	return r
}

func (s *Server) getInit(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, message{Status: "success", Message: "Successfully authenticated"})
}

// message is the {"status":…, "message":…} body of Stratos' responses (§6.1).
type message struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, message{Status: "error", Message: msg})
}
