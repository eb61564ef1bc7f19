package manager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.etcd.io/bbolt"

	"github.com/strata-paas/strata/policies"
)

// Options configure the REST server. Listener and Users are required; the rest have defaults
// that let the API run alone (no bus, no controller: definitions are stored, deploys are
// recorded but start nothing).
type Options struct {
	Listener net.Listener        // where to serve; the caller binds it so it can name the flag on error
	Users    *Users              // the credential store
	Gatherer prometheus.Gatherer // what /metrics exposes
	Logger   *slog.Logger        // the server's logs; nil discards them
	MaxBody  int64               // request body limit in bytes; 0 means 1 MiB
	// MaxConcurrent bounds the authenticated API requests answered at once; one more is answered
	// 503 with Retry-After and counted. 0 means DefaultMaxConcurrent.
	MaxConcurrent int

	// DB keeps definitions, applications, subscriptions, tenants and tokens (buckets named
	// "manager.*"). Nil: the database of Users.
	DB *bbolt.DB
	// Policies is the policy store the autoscaler reads; the API adds and removes Stratos JSON
	// policies through Update. Nil: a private, empty store.
	Policies *policies.Store
	// Cartridges, Partitions and Clusters are the controller's side; Scaler the autoscaler's.
	// Nil ones are replaced by no-ops.
	Cartridges CartridgeRegistry
	Partitions PartitionRegistry
	Clusters   ClusterManager
	Scaler     Scaler
	// Bus publishes artifact, tenant, sign-up and domain-mapping events and delivers
	// InstanceStartedEvent; nil: nothing is published.
	Bus Bus
	// History answers /api/history/...; nil: those endpoints answer 503.
	History History
	// Readiness reports what GET /readyz checks: each entry is "ok" or the reason the platform
	// is not ready. Nil: /readyz answers ready.
	Readiness func() map[string]string
	// AuthzPolicy is the path of a Rego module replacing the embedded authorisation policy
	// (package strata.authz, rule allow). Empty: the embedded default.rego.
	AuthzPolicy string
	// SecretsKey (SecretsKeySize bytes, see LoadSecretsKey) wraps the application and
	// subscription keys stored in DB, which encrypt repository passwords: kept apart from the
	// database, it makes a copy of the database alone reveal no secret. Records written without
	// it are wrapped at New. Nil: keys are stored plain (a warning is logged).
	SecretsKey []byte
	// PreviousSecretsKey, during a rotation, is the secrets key being replaced: records it
	// wrapped are wrapped again with SecretsKey at New. Nil: no rotation.
	PreviousSecretsKey []byte
	// IaasProviders lists the IaaS types /iaasProviders reports; nil: mock, local and kubernetes.
	IaasProviders []string
	// Console serves every path outside /api, /healthz, /readyz and /metrics (the web console,
	// which calls this API on its users' behalf); nil: those paths answer 404.
	Console http.Handler
	// MockIaaS serves Stratos' mock IaaS API under /mock-iaas/api (the prefix stripped),
	// authenticated like /api; the authorisation resource is "mockIaas" (GET views, other
	// methods manage), which the default policy leaves to the super tenant's admin. Nil: not
	// served.
	MockIaaS http.Handler
	// Modules serves the module store under /modules (the prefix stripped) to members, which
	// authenticate with their own credential there (controller/modules); nil: not served.
	Modules http.Handler
}

// Server is the manager's REST server: the Stratos 4.1 API under /api and /api/v4.1, /healthz,
// /readyz and /metrics.
type Server struct {
	opts   Options
	log    *slog.Logger
	server *http.Server
	store  *store
	authz  *authorizer
	// metrics counts and times the requests of every route.
	metrics *httpMetrics

	// mu serialises changes to definitions and applications, so that in-use checks and the
	// change they guard see the same state. Reads go to bbolt without it.
	mu sync.Mutex
	// bg tracks undeploys and artifact notifications running after their 202.
	bg sync.WaitGroup
	// stopping is closed when Run's context ends: the undeploys in the background stop (they
	// resume at the next start), so that shutdown does not wait for members to terminate.
	stopping     chan struct{}
	stoppingOnce sync.Once
	// requests wakes publishComplete for the initializer requests whose completeKind bits
	// subscribeRequests has set in requested.
	requests  chan struct{}
	requested atomic.Uint32
	// slots holds one token per authenticated request being answered (Options.MaxConcurrent).
	slots chan struct{}
}

// New builds the server; Run serves it.
func New(opts Options) (*Server, error) {
	if opts.Listener == nil || opts.Users == nil {
		return nil, errors.New("manager: Listener and Users are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Gatherer == nil {
		opts.Gatherer = prometheus.DefaultGatherer
	}
	if opts.MaxBody == 0 {
		opts.MaxBody = 1 << 20
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	if opts.DB == nil {
		opts.DB = opts.Users.db
	}
	if opts.Cartridges == nil {
		opts.Cartridges = nopPlatform{}
	}
	if opts.Partitions == nil {
		opts.Partitions = nopPlatform{}
	}
	if opts.Clusters == nil {
		opts.Clusters = nopPlatform{}
	}
	if opts.Scaler == nil {
		opts.Scaler = nopPlatform{}
	}
	if opts.IaasProviders == nil {
		opts.IaasProviders = []string{"mock", "local", "kubernetes"}
	}
	s := &Server{opts: opts, log: opts.Logger.With("component", "manager"), metrics: newHTTPMetrics(), requests: make(chan struct{}, 1),
		stopping: make(chan struct{}), slots: make(chan struct{}, opts.MaxConcurrent)}
	if opts.Policies == nil {
		ps, err := policies.NewStore(context.Background(), policies.StoreOptions{Logger: opts.Logger})
		if err != nil {
			return nil, fmt.Errorf("manager: policy store: %w", err)
		}
		s.opts.Policies = ps
	}
	sl, err := newSealer(opts.SecretsKey, opts.PreviousSecretsKey)
	if err != nil {
		return nil, err
	}
	if sl == nil {
		s.log.Warn("no secrets key: application keys are stored in the database beside the repository passwords they encrypt")
	}
	st, err := openStore(opts.DB, sl)
	if err != nil {
		return nil, err
	}
	s.store = st
	if n, err := st.migrateSecrets(); err != nil {
		return nil, fmt.Errorf("manager: wrap stored keys with the secrets key: %w", err)
	} else if n > 0 {
		s.log.Info("stored keys wrapped with the secrets key", "records", n)
	}
	if err := s.restorePolicies(); err != nil {
		return nil, err
	}
	az, err := newAuthorizer(context.Background(), opts.AuthzPolicy)
	if err != nil {
		return nil, err
	}
	s.authz = az
	s.server = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Handler is the server's HTTP handler (every route), for tests and for embedding.
func (s *Server) Handler() http.Handler { return s.server.Handler }

// Run subscribes to the instance status events (artifact distribution), resumes the undeploys
// a previous run left unfinished, serves until ctx ends, then shuts down within 5 s, stops the
// undeploys under way and waits for background work.
func (s *Server) Run(ctx context.Context) error {
	s.resync(ctx)
	if err := s.subscribe(ctx); err != nil {
		return err
	}
	if s.opts.Bus != nil {
		if err := s.subscribeRequests(ctx); err != nil {
			return err
		}
	}
	s.bg.Add(1)
	go func() { defer s.bg.Done(); s.publishComplete(ctx) }()
	errc := make(chan error, 1)
	go func() { errc <- s.server.Serve(s.opts.Listener) }()
	defer s.stoppingOnce.Do(func() { close(s.stopping) })
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", s.opts.Listener.Addr(), err)
	case <-ctx.Done():
	}
	s.stoppingOnce.Do(func() { close(s.stopping) })
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.server.Shutdown(shutdown); err != nil {
		_ = s.server.Close()
	}
	<-errc
	s.bg.Wait()
	return nil
}

// routes lists every route of the server. Each API route names the permission it needs
// (s.can(resource, action)); the authorisation policy decides.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.metrics.middleware, middleware.Recoverer)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	r.Get("/readyz", s.getReady)
	r.Handle("/metrics", promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{}))
	api := func(r chi.Router) {
		r.Use(s.limitBody, s.authenticate, s.limitConcurrency)
		v, m := "view", "manage"
		r.With(s.can("session", v)).Get("/init", s.getInit)
		r.With(s.can("session", v)).Get("/session", s.getSession)
		r.With(s.can("session", v)).Get("/iaasProviders", s.getIaasProviders)

		r.With(s.can("autoscalingPolicies", m)).Post("/autoscalingPolicies", s.putPolicy(policies.KindAutoscaling, false))
		r.With(s.can("autoscalingPolicies", m)).Put("/autoscalingPolicies", s.putPolicy(policies.KindAutoscaling, true))
		r.With(s.can("autoscalingPolicies", v)).Get("/autoscalingPolicies", s.listPolicies(policies.KindAutoscaling))
		r.With(s.can("autoscalingPolicies", v)).Get("/autoscalingPolicies/{id}", s.getPolicy(policies.KindAutoscaling))
		r.With(s.can("autoscalingPolicies", m)).Delete("/autoscalingPolicies/{id}", s.removePolicy(policies.KindAutoscaling))

		r.With(s.can("networkPartitions", m)).Post("/networkPartitions", s.putPolicy(policies.KindNetworkPartition, false))
		r.With(s.can("networkPartitions", m)).Put("/networkPartitions", s.putPolicy(policies.KindNetworkPartition, true))
		r.With(s.can("networkPartitions", v)).Get("/networkPartitions", s.listPolicies(policies.KindNetworkPartition))
		r.With(s.can("networkPartitions", v)).Get("/networkPartitions/{id}", s.getPolicy(policies.KindNetworkPartition))
		r.With(s.can("networkPartitions", m)).Delete("/networkPartitions/{id}", s.removePolicy(policies.KindNetworkPartition))

		r.With(s.can("kubernetesClusters", m)).Post("/kubernetesClusters", s.addKubernetesCluster)
		r.With(s.can("kubernetesClusters", m)).Put("/kubernetesClusters", s.updateKubernetesCluster)
		r.With(s.can("kubernetesClusters", m)).Put("/kubernetesClusters/host", s.updateKubernetesHost)
		r.With(s.can("kubernetesClusters", v)).Get("/kubernetesClusters", s.listKubernetesClusters)
		r.With(s.can("kubernetesClusters", v)).Get("/kubernetesClusters/{id}", s.getKubernetesClusterHandler)
		r.With(s.can("kubernetesClusters", v)).Get("/kubernetesClusters/{id}/hosts", s.getKubernetesHosts)
		r.With(s.can("kubernetesClusters", v)).Get("/kubernetesClusters/{id}/master", s.getKubernetesMaster)
		r.With(s.can("kubernetesClusters", m)).Post("/kubernetesClusters/{id}/minion", s.addKubernetesHost)
		r.With(s.can("kubernetesClusters", m)).Put("/kubernetesClusters/{id}/master", s.updateKubernetesMaster)
		r.With(s.can("kubernetesClusters", m)).Delete("/kubernetesClusters/{id}", s.removeKubernetesCluster)
		r.With(s.can("kubernetesClusters", m)).Delete("/kubernetesClusters/{id}/hosts/{hostId}", s.removeKubernetesHost)

		r.With(s.can("deploymentPolicies", m)).Post("/deploymentPolicies", s.putPolicy(policies.KindDeployment, false))
		r.With(s.can("deploymentPolicies", m)).Put("/deploymentPolicies", s.putPolicy(policies.KindDeployment, true))
		r.With(s.can("deploymentPolicies", v)).Get("/deploymentPolicies", s.listPolicies(policies.KindDeployment))
		r.With(s.can("deploymentPolicies", v)).Get("/deploymentPolicies/{id}", s.getPolicy(policies.KindDeployment))
		r.With(s.can("deploymentPolicies", m)).Delete("/deploymentPolicies/{id}", s.removePolicy(policies.KindDeployment))

		r.With(s.can("applicationPolicies", m)).Post("/applicationPolicies", s.putPolicy(policies.KindApplication, false))
		r.With(s.can("applicationPolicies", m)).Put("/applicationPolicies", s.putPolicy(policies.KindApplication, true))
		r.With(s.can("applicationPolicies", v)).Get("/applicationPolicies", s.listPolicies(policies.KindApplication))
		r.With(s.can("applicationPolicies", v)).Get("/applicationPolicies/{id}", s.getPolicy(policies.KindApplication))
		r.With(s.can("applicationPolicies", m)).Delete("/applicationPolicies/{id}", s.removePolicy(policies.KindApplication))

		r.With(s.can("policyDirectory", v)).Get("/policyDirectory", s.getPolicyDirectory)
		r.With(s.can("policyDirectory", m)).Post("/policyDirectory/reload", s.reloadPolicyDirectory)

		r.With(s.can("cartridges", m)).Post("/cartridges", s.addCartridge)
		r.With(s.can("cartridges", m)).Put("/cartridges", s.updateCartridge)
		r.With(s.can("cartridges", v)).Get("/cartridges", s.listCartridges)
		r.With(s.can("cartridges", v)).Get("/cartridges/filter/{filter}", s.filterCartridges)
		r.With(s.can("cartridges", v)).Get("/cartridges/{type}", s.getCartridge)
		r.With(s.can("cartridges", v)).Get("/cartridges/{type}/filter/{filter}", s.getCartridgeFiltered)
		r.With(s.can("cartridges", m)).Delete("/cartridges/{type}", s.removeCartridge)

		r.With(s.can("cartridgeGroups", m)).Post("/cartridgeGroups", s.addGroup)
		r.With(s.can("cartridgeGroups", m)).Put("/cartridgeGroups", s.updateGroup)
		r.With(s.can("cartridgeGroups", v)).Get("/cartridgeGroups", s.listGroups)
		r.With(s.can("cartridgeGroups", v)).Get("/cartridgeGroups/{name}", s.getGroup)
		r.With(s.can("cartridgeGroups", m)).Delete("/cartridgeGroups/{name}", s.removeGroup)

		r.With(s.can("applications", m)).Post("/applications", s.addApplication)
		r.With(s.can("applications", m)).Put("/applications", s.updateApplication)
		r.With(s.can("applications", v)).Get("/applications", s.listApplications)
		r.With(s.can("applications", v)).Get("/applications/{appId}", s.getApplication)
		r.With(s.can("applications", m)).Delete("/applications/{appId}", s.removeApplication)
		r.With(s.can("applications", m)).Post("/applications/{appId}/deploy/{applicationPolicyId}", s.deployApplication)
		r.With(s.can("applications", m)).Post("/applications/{appId}/undeploy", s.undeployApplication)
		r.With(s.can("applications", v)).Get("/applications/{appId}/runtime", s.getRuntime)
		r.With(s.can("applications", m)).Delete("/applications/{appId}/members/{memberId}", s.terminateMember)
		r.With(s.can("applications", v)).Get("/applications/{appId}/networkPartitions", s.getApplicationNetworkPartitions)
		r.With(s.can("signups", m)).Post("/applications/{appId}/signup", s.addSignUp)
		r.With(s.can("signups", v)).Get("/applications/{appId}/signup", s.getSignUp)
		r.With(s.can("signups", m)).Delete("/applications/{appId}/signup", s.removeSignUp)
		r.With(s.can("tenants", m)).Post("/applications/{appId}/signup/{tenantDomain}", s.addSignUp)
		r.With(s.can("tenants", m)).Delete("/applications/{appId}/signup/{tenantDomain}", s.removeSignUp)
		r.With(s.can("signups", m)).Post("/applications/{appId}/domainMappings", s.addDomainMappings)
		r.With(s.can("signups", v)).Get("/applications/{appId}/domainMappings", s.getDomainMappings)
		r.With(s.can("signups", m)).Delete("/applications/{appId}/domainMappings/{domainName}", s.removeDomainMapping)
		r.With(s.can("applications", v)).Get("/cluster/{clusterId}", s.getCluster)

		r.With(s.can("subscriptions", m)).Post("/subscriptions", s.addSubscription)
		r.With(s.can("subscriptions", v)).Get("/subscriptions", s.listSubscriptions)
		r.With(s.can("subscriptions", v)).Get("/subscriptions/{alias}", s.getSubscription)
		r.With(s.can("subscriptions", m)).Delete("/subscriptions/{alias}", s.unsubscribe)

		r.With(s.can("repo", m)).Post("/repo/notify", s.repoNotify)

		r.With(s.can("tenants", m)).Post("/tenants", s.addTenant)
		r.With(s.can("tenants", m)).Put("/tenants", s.updateTenant)
		r.With(s.can("tenants", v)).Get("/tenants", s.listTenants)
		r.With(s.can("tenants", v)).Get("/tenants/{domain}", s.getTenant)
		r.With(s.can("tenants", v)).Get("/tenants/search/{domain}", s.searchTenants)
		r.With(s.can("tenants", m)).Delete("/tenants/{domain}", s.removeTenant)
		r.With(s.can("tenants", m)).Put("/tenants/activate/{domain}", s.activateTenant(true))
		r.With(s.can("tenants", m)).Put("/tenants/deactivate/{domain}", s.activateTenant(false))

		r.With(s.can("users", m)).Post("/users", s.addUser)
		r.With(s.can("users", m)).Put("/users", s.updateUser)
		r.With(s.can("users", v)).Get("/users", s.listUsers)
		r.With(s.can("users", m)).Delete("/users/{userName}", s.removeUser)

		r.With(s.can("tokens", m)).Post("/tokens", s.addToken)
		r.With(s.can("tokens", v)).Get("/tokens", s.listTokens)
		r.With(s.can("tokens", m)).Delete("/tokens/{id}", s.removeToken)

		r.With(s.can("history", v)).Get("/history/health", s.historyHealth)
		r.With(s.can("history", v)).Get("/history/summaries", s.historySummaries)
		r.With(s.can("history", v)).Get("/history/logs", s.historyLogs)
		r.With(s.can("history", v)).Get("/history/lifecycle", s.historyLifecycle)
		r.With(s.can("history", v)).Get("/history/decisions", s.historyDecisions)
	}
	// The API's description is public: clients and tools read it before they have credentials.
	r.Get("/api/openapi.json", s.getOpenAPI)
	r.Get("/api/v4.1/openapi.json", s.getOpenAPI)
	r.Route("/api", api)
	r.Route("/api/v4.1", api)
	r.Route("/metadata/api", s.metadataRoutes)
	if s.opts.MockIaaS != nil {
		h := http.StripPrefix("/mock-iaas/api", s.opts.MockIaaS)
		r.Route("/mock-iaas/api", func(r chi.Router) {
			r.Use(s.limitBody, s.authenticate)
			r.With(s.can("mockIaas", "view")).Get("/*", h.ServeHTTP)
			r.With(s.can("mockIaas", "manage")).Post("/*", h.ServeHTTP)
			r.With(s.can("mockIaas", "manage")).Delete("/*", h.ServeHTTP)
		})
	}
	if s.opts.Modules != nil {
		r.With(s.limitBody, s.limitConcurrency).Handle("/modules/*", http.StripPrefix("/modules", s.opts.Modules))
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.Console != nil && r.URL.Path != "/api" && !strings.HasPrefix(r.URL.Path, "/api/") {
			// The console routes on its own: it must not see this router's routing context.
			s.opts.Console.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), chi.RouteCtxKey, nil)))
			return
		}
		writeError(w, http.StatusNotFound, "no such resource: "+r.URL.Path)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path)
	})
	return r
}

func (s *Server) getInit(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, message{Status: "success", Message: "Successfully authenticated"})
}

// getSession answers Stratos' session call; Strata has no sessions, Basic or a bearer token
// goes with every request, so the "session id" is the caller's identity. Strata adds the
// caller's name, tenant and role, and the permissions ("resource:action") the authorisation
// policy grants it, so a client such as the console offers only what the API would allow.
func (s *Server) getSession(w http.ResponseWriter, r *http.Request) {
	u, _ := UserFrom(r.Context())
	out := session{SessionID: key(u.Name, u.TenantDomain), User: u.Name, TenantDomain: u.TenantDomain, Role: u.Role, Permissions: []string{}}
	for _, res := range resources {
		for _, action := range []string{"view", "manage"} {
			ok, err := s.allowed(r, res, action)
			if err != nil {
				s.log.Error("authorization", "err", err)
				writeError(w, http.StatusInternalServerError, "Internal server error")
				return
			}
			if ok {
				out.Permissions = append(out.Permissions, res+":"+action)
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// resources are the resources the routes name in s.can, for the permissions of GET /session.
var resources = []string{"session", "autoscalingPolicies", "networkPartitions", "kubernetesClusters", "deploymentPolicies",
	"applicationPolicies", "policyDirectory", "cartridges", "cartridgeGroups", "applications", "signups",
	"subscriptions", "repo", "tenants", "users", "tokens", "history"}

func (s *Server) getIaasProviders(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, iaasProviders{IaasProviders: s.opts.IaasProviders})
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

func writeSuccess(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, message{Status: "success", Message: msg})
}

// created answers 201 with Location: <request URL>/<id> (§6.1).
func created(w http.ResponseWriter, r *http.Request, id, msg string) {
	loc := r.URL.Path
	if len(loc) > 0 && loc[len(loc)-1] != '/' {
		loc += "/"
	}
	w.Header().Set("Location", loc+id)
	writeSuccess(w, http.StatusCreated, msg)
}
