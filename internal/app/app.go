package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"golang.org/x/sync/errgroup"

	"github.com/strata-paas/strata/autoscaler"
	"github.com/strata-paas/strata/cep"
	"github.com/strata-paas/strata/console"
	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/controller/local"
	"github.com/strata-paas/strata/controller/mock"
	"github.com/strata-paas/strata/history"
	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/lb"
	"github.com/strata-paas/strata/manager"
	"github.com/strata-paas/strata/policies"
)

// Options configure the platform. The zero value of a field takes the component's default; the
// error messages name the `strata up` flag that sets a field.
type Options struct {
	// DataDir holds state, credentials and generated certificates (--data-dir). Required.
	DataDir string
	// API is the REST API's listen address (--api); "127.0.0.1:0" picks a free port.
	API string
	// APITLS, when set, makes the API's listener speak TLS: the REST API, the metadata service
	// and the mock IaaS API are then served over HTTPS only.
	APITLS *tls.Config
	// MQTTListen is the embedded broker's listen address (--mqtt-listen), ignored when Broker is
	// set.
	MQTTListen string
	// MQTTAllowAnonymous lets clients without credentials use the embedded broker on a loopback
	// listener, with full access (--mqtt-allow-anonymous), for set-ups from before the broker
	// authenticated everyone. Off, every client needs a credential: the platform's own
	// (<DataDir>/bus.key), a member's, or an account with the manager's bus role.
	MQTTAllowAnonymous bool
	// Broker is an external MQTT broker's URL, comma-separated for failover (--broker); empty:
	// the embedded broker runs.
	Broker string
	// BrokerUsername and BrokerPassword are the platform's credentials on an external broker
	// (STRATA_BROKER_USERNAME, STRATA_BROKER_PASSWORD); empty: the internal credential
	// (InternalUser and the password derived from <DataDir>/bus.key). With the embedded broker
	// the platform always uses the internal credential.
	BrokerUsername, BrokerPassword string
	// AdminPassword is the super tenant admin's password on first start (STRATA_ADMIN_PASSWORD);
	// empty: one is generated, written to <DataDir>/admin-password and printed to Stdout.
	AdminPassword string
	// ClickHouse is the history store's DSN (--clickhouse); empty: the embedded, bounded store.
	ClickHouse string
	// AuthzPolicy is a Rego module replacing the REST API's authorisation policy (--authz-policy).
	AuthzPolicy string
	// SecretsKey is the file of the key that wraps the keys of repository passwords stored in
	// manager.db (--secrets-key, STRATA_SECRETS_KEY_FILE); it must exist. Empty:
	// <DataDir>/secrets.key, generated at first start.
	SecretsKey string
	// PreviousSecrets is the file of the secrets key being rotated out (--secrets-key-previous):
	// what it wrapped is wrapped again with SecretsKey at start. Empty: no rotation.
	PreviousSecrets string
	// LB runs the load balancer (--lb) with its proxy ports on LBHost (--lb-host), publishing
	// in-flight counts every LBStatsInterval (0: lb's default).
	LB              bool
	LBHost          string
	LBStatsInterval time.Duration
	// LBKubernetesPodIPs sends the load balancer's requests for members on Kubernetes to their
	// pod IPs instead of their clusters' Services (--lb-kubernetes-pod-ips; lb.Options).
	LBKubernetesPodIPs bool
	// NoConsole leaves the web console out (--console=false): "/" answers 404 like any path
	// outside the API.
	NoConsole bool
	// CEP configures the CEP and its Thrift receiver.
	CEP CEPOptions
	// Limits bound packets, connections, requests and password checks (limits.go).
	Limits Limits
	// SyncInterval (--topology-sync) and GracefulTimeout (--graceful-timeout) configure the
	// controller; CleanupInterval its clean-up of ended members (0: the controller's default).
	SyncInterval, GracefulTimeout, CleanupInterval time.Duration
	// MockInterval is how often mock members publish health (--mock-health-interval; 0: 15 s);
	// MockResolution and MockPatterns are mock.Options' (bench scales them down).
	MockInterval   time.Duration
	MockResolution time.Duration
	MockPatterns   map[string][]mock.Pattern
	// MockHealthFile is a health pattern file, Stratos' mock-iaas.xml or Strata's YAML
	// (--mock-health, see mock.LoadPatterns); it replaces MockPatterns. Cartridge types it does
	// not name publish mock.DefaultPatterns.
	MockHealthFile string
	// LocalAgent is the agent command of local members whose cartridge names none
	// (--local-agent, local.Options.AgentCommand); empty: `strata agent`.
	LocalAgent string
	// PoliciesDir is the policy directory (--policies); empty: policies come through the API.
	PoliciesDir string
	// MonitorInterval (--monitor-interval), Settle and DecisionHistory configure the autoscaler
	// (0: its defaults).
	MonitorInterval time.Duration
	Settle          time.Duration
	DecisionHistory int
	// Reload reloads the policy directory on every value (SIGHUP); nil: only on file changes.
	Reload <-chan struct{}
	// PasswordCost is the bcrypt cost of the passwords the platform stores (the admin's, the
	// members' agent accounts); 0: bcrypt's default. Tests lower it: under -race one hash at the
	// default cost takes seconds, and every member started hashes a new account's password.
	PasswordCost int
	// LocalExecutable is the strata binary the local driver runs members' agents from; empty:
	// this process's executable (tests in process name a strata binary they built).
	LocalExecutable string
	// Version is logged in the "strata up" line.
	Version string
	// Logger receives every component's logs; nil discards them.
	Logger *slog.Logger
	// Stdout receives the generated admin password; nil: os.Stdout.
	Stdout io.Writer

	// WrapPublish, when set, wraps the mock members' health publisher (bench times the samples).
	WrapPublish func(mock.PublishFunc) mock.PublishFunc
	// WrapStarter, when set, wraps what the autoscaler starts and terminates members with (bench
	// records the calls).
	WrapStarter func(Starter) Starter
}

// Starter is what the autoscaler starts and terminates members with: the controller, adapted.
type Starter interface {
	StartMember(ctx context.Context, req autoscaler.StartRequest) (model.Member, error)
	TerminateMember(ctx context.Context, memberID string, forced bool) error
}

// Addrs are the addresses the platform listens on; nil or empty for what does not run.
type Addrs struct {
	API       net.Addr
	MQTT      net.Addr // the embedded broker's listener (nil with Options.Broker)
	Brokers   []string // the bus URLs the platform and its members connect to
	Thrift    net.Addr // the data bridge's plain service
	ThriftTLS net.Addr // the data bridge's TLS service
	LBHost    string   // the host the load balancer's proxy ports listen on (the cartridges' proxyPort)
}

// App is the platform. Run it once.
type App struct {
	opts  Options
	ready chan struct{}

	// Set before ready is closed.
	addrs      Addrs
	controller *controller.Controller
	mock       *mock.Driver
	local      *local.Driver
	scaler     *autoscaler.Autoscaler
	policies   *policies.Store
	engine     *cep.Engine
	history    historyStore
	bus        *bus.Client
	broker     *bus.Broker // nil with an external broker
	creds      *credentials
}

// New checks o and returns the platform, not yet started.
func New(o Options) (*App, error) {
	if o.DataDir == "" {
		return nil, errors.New("app: options: DataDir is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.MockInterval == 0 {
		o.MockInterval = 15 * time.Second
	}
	o.Limits = o.Limits.withDefaults()
	return &App{opts: o, ready: make(chan struct{})}, nil
}

// Ready is closed once the platform listens (Addrs), the controller has adopted its state and the
// autoscaler listens to the topology. It is never closed when Run fails before.
func (a *App) Ready() <-chan struct{} { return a.ready }

// Addrs returns the addresses the platform listens on; call it after Ready is closed.
func (a *App) Addrs() Addrs { return a.addrs }

// Controller returns the cloud controller; call it after Ready is closed.
func (a *App) Controller() *controller.Controller { return a.controller }

// Mock returns the mock IaaS driver; call it after Ready is closed.
func (a *App) Mock() *mock.Driver { return a.mock }

// Local returns the local IaaS driver (members are processes); call it after Ready is closed.
func (a *App) Local() *local.Driver { return a.local }

// Autoscaler returns the autoscaler; call it after Ready is closed.
func (a *App) Autoscaler() *autoscaler.Autoscaler { return a.scaler }

// Policies returns the policy store; call it after Ready is closed.
func (a *App) Policies() *policies.Store { return a.policies }

// CEP returns the CEP engine; call it after Ready is closed.
func (a *App) CEP() *cep.Engine { return a.engine }

// History returns the history store's queries; call it after Ready is closed.
func (a *App) History() manager.History { return a.history }

// BusCredential is the platform's own bus and data-bridge credential (InternalUser and its
// password from <data-dir>/bus.key), for tools and tests that watch everything; valid once
// Ready is closed.
func (a *App) BusCredential() (user, password string) {
	return InternalUser, a.creds.internalPassword()
}

// Bus returns the platform's bus client; call it after Ready is closed.
func (a *App) Bus() *bus.Client { return a.bus }

// Broker returns the embedded broker, nil with --broker; call it after Ready is closed.
func (a *App) Broker() *bus.Broker { return a.broker }

// resources closes what Run opened, in reverse order.
type resources []func()

func (r *resources) add(f func()) { *r = append(*r, f) }

// close has a pointer receiver so that `defer res.close()` closes what was added after the defer
// statement (a value receiver would be evaluated there, empty, and close nothing).
func (r *resources) close() {
	for i := len(*r) - 1; i >= 0; i-- {
		(*r)[i]()
	}
}

// Run starts every component and blocks until ctx ends or one of them fails; it returns after
// every goroutine it started has exited and every file it opened is closed. A value on
// Options.Reload reloads the policy directory.
func (a *App) Run(ctx context.Context) error {
	cfg, log := a.opts, a.opts.Logger
	var res resources
	defer res.close()
	stopped := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Bind every address first, so a port in use fails before anything is created.
	apiLn, err := listen("api", cfg.API)
	if err != nil {
		return err
	}
	res.add(func() { _ = apiLn.Close() })
	if cfg.APITLS != nil {
		apiLn = tls.NewListener(apiLn, cfg.APITLS)
	}
	// The broker and the Thrift receiver bind their own listeners; check them here so the error
	// names the flag.
	checks := [][2]string{{"thrift", cfg.CEP.Thrift}, {"thrift-tls", cfg.CEP.ThriftTLS}}
	if cfg.Broker == "" {
		checks = append(checks, [2]string{"mqtt-listen", cfg.MQTTListen})
	}
	for _, c := range checks {
		if err := CheckFree(c[0], c[1]); err != nil {
			return err
		}
	}

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("--data-dir %s: %w", cfg.DataDir, err)
	}
	db, err := bbolt.Open(filepath.Join(cfg.DataDir, "manager.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return fmt.Errorf("--data-dir %s: in use by another strata process", cfg.DataDir)
		}
		return fmt.Errorf("open state: %w", err)
	}
	res.add(func() { _ = db.Close() })
	users, err := manager.NewUsers(db)
	if err != nil {
		return err
	}
	users.SetCost(cfg.PasswordCost)
	users.SetLoginLimits(cfg.Limits.logins())
	if err := ensureAdmin(users, cfg.DataDir, cfg.AdminPassword, cfg.Stdout); err != nil {
		return err
	}

	creds, err := loadCredentials(cfg.DataDir, users)
	if err != nil {
		return err
	}
	a.creds = creds

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	g, ctx := errgroup.WithContext(ctx)
	// On an early return, every component stops before the files close (deferred calls run in
	// reverse order).
	defer func() {
		cancel()
		_ = g.Wait()
	}()
	brokerURLs := SplitURLs(cfg.Broker)
	busUser, busPassword := InternalUser, creds.internalPassword()
	if len(brokerURLs) > 0 && cfg.BrokerUsername != "" {
		busUser, busPassword = cfg.BrokerUsername, cfg.BrokerPassword
	}
	var embedded *bus.Broker
	if len(brokerURLs) == 0 {
		if cfg.MQTTAllowAnonymous {
			log.Warn("the embedded broker lets anonymous clients on loopback do everything (--mqtt-allow-anonymous); code running in a local member counts as loopback")
		}
		broker, err := bus.NewBroker(cfg.Limits.brokerOptions(bus.BrokerOptions{Listeners: []string{cfg.MQTTListen}, Identify: creds.identify,
			Alive: creds.alive, AllowAnonymous: cfg.MQTTAllowAnonymous, Logger: log}))
		if err != nil {
			return fmt.Errorf("--mqtt-listen %s: %w", cfg.MQTTListen, err)
		}
		embedded, brokerURLs = broker, []string{broker.URL()}
		a.broker = broker
		if addrs := broker.Addrs(); len(addrs) > 0 {
			a.addrs.MQTT = addrs[0]
		}
		reg.MustRegister(brokerMetrics(broker)...)
		g.Go(func() error { return broker.Run(ctx) })
	}
	a.addrs.Brokers = brokerURLs
	opts := bus.Options{URLs: brokerURLs, ClientID: "strata-up", Username: busUser, Password: busPassword, Logger: log}
	if embedded != nil {
		opts.Local = embedded
	}
	client, err := bus.New(opts)
	if err != nil {
		return fmt.Errorf("--broker: %w", err)
	}
	a.bus = client
	reg.MustRegister(busMetrics{client})
	g.Go(func() error { return client.Run(ctx) })
	store, err := openHistory(ctx, history.Options{DSN: cfg.ClickHouse, DataDir: cfg.DataDir, Logger: log})
	if err != nil {
		return fmt.Errorf("--clickhouse: %w", err)
	}
	a.history = store
	res.add(func() { _ = store.Close() })
	reg.MustRegister(history.Collector(store))
	g.Go(func() error { return store.Run(ctx) })

	if embedded != nil {
		// Summaries nobody subscribed to are not sent to the broker that would drop them.
		cfg.CEP.Heard = func() bool { return embedded.Subscribed(model.SummaryTopic) }
	}
	cepStack, err := NewCEP(cfg.CEP, cfg.DataDir, creds.authorize, cep.BusPublisher(client), cep.HistoryRecorder(store), log)
	if err != nil {
		return err
	}
	a.engine = cepStack.Engine
	reg.MustRegister(cepStack.Engine.Collector())
	reg.MustRegister(loginMetrics(users)...)
	reg.MustRegister(dataBridgeMetrics(cepStack.server)...)
	if err := cepStack.Start(ctx, g, client.Consumer("cep")); err != nil {
		return err
	}
	a.addrs.Thrift, a.addrs.ThriftTLS = cepStack.server.PlainAddr(), cepStack.server.SecureAddr()
	if err := revokeOnTermination(ctx, client.Consumer("credentials"), embedded, cepStack.server); err != nil {
		return err
	}

	ctrlDB, err := bbolt.Open(filepath.Join(cfg.DataDir, controller.DefaultStatePath), 0o600, controller.StateOptions(time.Second))
	if err != nil {
		return fmt.Errorf("open controller state: %w", err)
	}
	res.add(func() { _ = ctrlDB.Close() })
	var (
		thrift *databridge.Client
		cepURL string // what members' payloads name; the bound address only for port 0
	)
	if cfg.CEP.ThriftTLS != "" {
		cepURL = boundAddr(cfg.CEP.ThriftTLS, a.addrs.ThriftTLS)
		if thrift, err = internalThrift(creds, cepURL, cepStack.cert, log); err != nil {
			return err
		}
		res.add(func() { _ = thrift.Close() })
	}
	kubeClusters, err := manager.NewKubernetesClusters(db)
	if err != nil {
		return err
	}
	plat, err := newPlatform(cfg, ctrlDB, client, creds, kubeClusters, store, brokerURLs[0], cepURL, modulesURL(apiLn.Addr()), cepStack.Engine, embedded)
	if err != nil {
		return err
	}
	creds.setMembers(plat.controller.MemberCluster)
	a.controller, a.mock, a.local = plat.controller, plat.mock, plat.local
	reg.MustRegister(plat.controller.Collector())
	plat.run(ctx, g)

	moduleStore, err := newModules(plat.controller, creds, log)
	if err != nil {
		return err
	}

	sc, err := newScaling(ctx, cfg, plat.controller, client, store)
	if err != nil {
		return err
	}
	a.scaler, a.policies = sc.scaler, sc.store
	reg.MustRegister(sc.scaler.Collector())
	cepStack.Engine.Subscribe(sc.scaler.HandleSummary)
	sc.run(ctx, g)
	if cfg.PoliciesDir != "" {
		reg.MustRegister(policyMetrics(sc.store)...)
	}

	if cfg.LB {
		opts := lb.Options{Bus: client.Consumer("lb"), Host: cfg.LBHost, StatsInterval: cfg.LBStatsInterval,
			KubernetesPodIPs: cfg.LBKubernetesPodIPs, Logger: log}
		if thrift != nil {
			opts.CEP = thrift
		}
		balancer, err := lb.New(opts)
		if err != nil {
			return err
		}
		a.addrs.LBHost = cfg.LBHost
		reg.MustRegister(balancer.Collector())
		g.Go(func() error { return balancer.Run(ctx) })
	}
	keyPath, create := cfg.SecretsKey, false
	if keyPath == "" {
		keyPath, create = filepath.Join(cfg.DataDir, "secrets.key"), true
	}
	secretsKey, err := manager.LoadSecretsKey(keyPath, create)
	if err != nil {
		return fmt.Errorf("--secrets-key: %w", err)
	}
	var previousKey []byte
	if cfg.PreviousSecrets != "" {
		if previousKey, err = manager.LoadSecretsKey(cfg.PreviousSecrets, false); err != nil {
			return fmt.Errorf("--secrets-key-previous: %w", err)
		}
	}
	// The console calls the API in process; api is set below, before anything is served.
	var api *manager.Server
	var webConsole http.Handler
	if !cfg.NoConsole {
		consoleBus := client.Consumer("console")
		con, err := console.New(console.Options{
			API: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { api.Handler().ServeHTTP(w, r) }),
			Subscribe: func(ctx context.Context, filter string, h func(string, []byte)) error {
				return consoleBus.Subscribe(ctx, filter, h)
			},
			Logger: log,
		})
		if err != nil {
			return err
		}
		webConsole = con
		g.Go(func() error { return con.Run(ctx) })
	}
	api, err = manager.New(manager.Options{
		Listener:           apiLn,
		Users:              users,
		MaxConcurrent:      cfg.Limits.APIMaxConcurrent,
		Gatherer:           reg,
		Logger:             log,
		Policies:           sc.store,
		Cartridges:         plat.controller,
		Partitions:         plat.controller,
		Clusters:           managerClusters{plat.controller, sc.scaler},
		Scaler:             managerScaler{sc.scaler},
		Bus:                client.Consumer("manager"),
		History:            store,
		AuthzPolicy:        cfg.AuthzPolicy,
		SecretsKey:         secretsKey,
		PreviousSecretsKey: previousKey,
		Readiness:          readiness(client, brokerURLs, store, plat.controller),
		Console:            webConsole,
		MockIaaS:           plat.mock.Handler(),
		Modules:            moduleStore.Handler(),
	})
	if err != nil {
		return err
	}
	a.addrs.API = apiLn.Addr()
	reg.MustRegister(api.Collector())
	// The API starts last: /healthz answers once every component is built and bound.
	g.Go(func() error { return api.Run(ctx) })
	// Reloads of the policy directory go through the manager, which refuses one that would
	// orphan a deployed application and hands the controller the network partitions.
	sc.watchPolicies(ctx, g, api, cfg.Reload)
	log.Info("strata up", "api", apiLn.Addr().String(), "broker", strings.Join(brokerURLs, ","), "data_dir", cfg.DataDir, "version", cfg.Version)
	g.Go(func() error {
		for _, c := range []<-chan struct{}{plat.controller.Ready(), sc.subscribed} {
			select {
			case <-c:
			case <-ctx.Done():
				return nil
			}
		}
		close(a.ready)
		return nil
	})
	err = g.Wait()
	if stopped.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, bus.ErrClosed)) {
		// Stopped while a component was still starting (e.g. subscribing, when the bus client
		// had already closed): not a failure.
		return nil
	}
	return err
}

// boundAddr is flagAddr, or the address bound for it when it asked for port 0.
func boundAddr(flagAddr string, bound net.Addr) string {
	if _, port, err := net.SplitHostPort(flagAddr); err == nil && port == "0" && bound != nil {
		return bound.String()
	}
	return flagAddr
}

// SplitURLs splits a comma-separated list, dropping empty entries.
func SplitURLs(s string) []string {
	var out []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// listen binds a flag's address; the error names the flag and the address on one line.
func listen(flagName, addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		var se *os.SyscallError
		if errors.As(err, &se) {
			err = se.Err
		}
		return nil, fmt.Errorf("--%s %s: %w", flagName, addr, err)
	}
	return l, nil
}

// CheckFree fails, naming the flag, when addr cannot be bound. Components that bind their own
// listeners are checked first so a port in use gives a one-line error about the flag.
func CheckFree(flagName, addr string) error {
	if addr == "" {
		return nil
	}
	ln, err := listen(flagName, addr)
	if err != nil {
		return err
	}
	return ln.Close()
}

// ensureAdmin creates the super tenant's admin on first start, with password or a generated one
// that is written to the data dir (mode 0600) and printed once.
func ensureAdmin(users *manager.Users, dataDir, password string, stdout io.Writer) error {
	generated, err := users.EnsureAdmin(password)
	if err != nil {
		return fmt.Errorf("admin account: %w", err)
	}
	if generated == "" {
		return nil
	}
	path := filepath.Join(dataDir, "admin-password")
	if err := os.WriteFile(path, []byte(generated+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fmt.Fprintf(stdout, "generated password for admin: %s (also in %s)\n", generated, path)
	return nil
}
