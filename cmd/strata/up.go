package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"golang.org/x/sync/errgroup"

	"github.com/strata-paas/strata/cep"
	"github.com/strata-paas/strata/history"
	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/demo"
	"github.com/strata-paas/strata/lb"
	"github.com/strata-paas/strata/manager"
)

// upConfig is what `strata up` is told by its flags.
type upConfig struct {
	dataDir     string
	api         string
	mqttListen  string
	broker      string
	logFormat   string
	logLevel    string
	clickhouse  string
	lb          bool
	authzPolicy string
	lbHost      string
	cep         cepConfig
	controller  controllerConfig
	scaling     scalingConfig
	demo        demoConfig
}

func (c *upConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.dataDir, "data-dir", "strata-data", "directory for state, credentials and generated certificates")
	fs.StringVar(&c.api, "api", "127.0.0.1:9763", "REST API listen address")
	fs.StringVar(&c.mqttListen, "mqtt-listen", "127.0.0.1:1883", "embedded MQTT broker listen address (ignored with --broker)")
	fs.StringVar(&c.broker, "broker", "", "external MQTT broker URL, e.g. tcp://host:1883 (comma-separated for failover); the embedded broker is not started")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.clickhouse, "clickhouse", "", "ClickHouse for history, e.g. clickhouse://127.0.0.1:9000/strata (default: an embedded, bounded in-process store)")
	fs.StringVar(&c.authzPolicy, "authz-policy", "", "Rego module (package strata.authz, rule allow) replacing the REST API's embedded authorisation policy")
	fs.BoolVar(&c.lb, "lb", true, "run the load balancer: every cartridge's proxy port routes to its Active members")
	fs.StringVar(&c.lbHost, "lb-host", "127.0.0.1", "address the load balancer's proxy ports listen on (empty: every interface)")
	c.cep.flags(fs)
	c.controller.flags(fs)
	c.scaling.flags(fs)
	c.demo.flags(fs)
}

func runUp(args []string, stdout, stderr io.Writer) int {
	var cfg upConfig
	fs := flag.NewFlagSet("strata up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.flags(fs)
	if err := parseFlags(fs, args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		// Before flags could follow arguments, a stray word silently dropped every flag after it.
		fmt.Fprintf(stderr, "strata up: unexpected argument %q (strata up takes only flags)\n", fs.Arg(0))
		return 2
	}
	if cfg.demo.enabled {
		if err := applyDemoTimings(fs); err != nil {
			fmt.Fprintf(stderr, "strata: %v\n", err)
			return 2
		}
	}
	log, err := newLogger(stderr, cfg.logFormat, cfg.logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "strata: %v\n", err)
		return 2
	}
	ctx, stop := stopOnSignal(log)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	if err := up(ctx, cfg, log, stdout, reload); err != nil {
		fmt.Fprintf(stderr, "strata: %v\n", err)
		return 1
	}
	if sig, ok := context.Cause(ctx).(stopSignal); ok {
		log.Info("strata stopped", "signal", sig.sig.String(), "shutdown", time.Since(sig.at).Round(time.Millisecond).String())
	}
	return 0
}

// stopSignal is the cause of the context stopOnSignal returns.
type stopSignal struct {
	sig os.Signal
	at  time.Time
}

func (s stopSignal) Error() string { return "received " + s.sig.String() }

// stopOnSignal returns a context that ends at the first SIGINT or SIGTERM, with a log line saying
// so. The signal is caught only once: a second Ctrl-C while the platform shuts down ends the
// process at once. (Under `go run`, the terminal sends Ctrl-C to go run and to strata; go run
// ignores it and waits, so this line and the final "strata stopped" are the shutdown's record.)
func stopOnSignal(log *slog.Logger) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigc:
			signal.Stop(sigc)
			log.Info("shutting down; a second signal stops at once", "signal", sig.String())
			cancel(stopSignal{sig: sig, at: time.Now()})
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigc)
		close(done)
		cancel(nil)
	}
}

// resources closes what up opened, in reverse order.
type resources []func()

func (r *resources) add(f func()) { *r = append(*r, f) }
func (r resources) close() {
	for i := len(r) - 1; i >= 0; i-- {
		r[i]()
	}
}

// up starts every component and blocks until ctx ends.
// A value on reload (SIGHUP) reloads the policy directory.
func up(ctx context.Context, cfg upConfig, log *slog.Logger, stdout io.Writer, reload <-chan struct{}) error {
	var res resources
	defer res.close()

	// Bind every address first, so a port in use fails before anything is created.
	apiLn, err := listen("api", cfg.api)
	if err != nil {
		return err
	}
	res.add(func() { _ = apiLn.Close() })
	// The broker and the Thrift receiver bind their own listeners; check them here so the error
	// names the flag.
	checks := [][2]string{{"thrift", cfg.cep.thrift}, {"thrift-tls", cfg.cep.thriftTLS}}
	if cfg.broker == "" {
		checks = append(checks, [2]string{"mqtt-listen", cfg.mqttListen})
	}
	for _, c := range checks {
		if err := checkFree(c[0], c[1]); err != nil {
			return err
		}
	}

	if err := os.MkdirAll(cfg.dataDir, 0o700); err != nil {
		return fmt.Errorf("--data-dir %s: %w", cfg.dataDir, err)
	}
	db, err := bbolt.Open(filepath.Join(cfg.dataDir, "manager.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return fmt.Errorf("--data-dir %s: in use by another strata process", cfg.dataDir)
		}
		return fmt.Errorf("open state: %w", err)
	}
	res.add(func() { _ = db.Close() })
	users, err := manager.NewUsers(db)
	if err != nil {
		return err
	}
	if err := ensureAdmin(users, cfg.dataDir, stdout); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	authenticate := func(user, password string) bool {
		_, ok := users.Authenticate(user, password)
		return ok
	}
	g, ctx := errgroup.WithContext(ctx)
	brokerURLs := splitURLs(cfg.broker)
	if len(brokerURLs) == 0 {
		broker, err := bus.NewBroker(bus.BrokerOptions{Listeners: []string{cfg.mqttListen}, Authenticate: authenticate, Logger: log})
		if err != nil {
			return fmt.Errorf("--mqtt-listen %s: %w", cfg.mqttListen, err)
		}
		brokerURLs = []string{broker.URL()}
		reg.MustRegister(brokerMetrics(broker)...)
		g.Go(func() error { return broker.Run(ctx) })
	}
	client, err := bus.New(bus.Options{URLs: brokerURLs, ClientID: "strata-up", Username: os.Getenv("STRATA_BROKER_USERNAME"), Password: os.Getenv("STRATA_BROKER_PASSWORD"), Logger: log})
	if err != nil {
		return fmt.Errorf("--broker: %w", err)
	}
	g.Go(func() error { return client.Run(ctx) })

	thriftAuth := func(_ context.Context, user, password string) error {
		if !authenticate(user, password) {
			return databridge.ErrAuthentication
		}
		return nil
	}
	store, err := history.Open(ctx, history.Options{DSN: cfg.clickhouse, DataDir: cfg.dataDir, Logger: log})
	if err != nil {
		return fmt.Errorf("--clickhouse: %w", err)
	}
	res.add(func() { _ = store.Close() })
	reg.MustRegister(history.Collector(store))
	g.Go(func() error { return store.Run(ctx) })

	cepStack, err := newCEP(cfg.cep, cfg.dataDir, thriftAuth, cep.BusPublisher(client), cep.HistoryRecorder(store), log)
	if err != nil {
		return err
	}
	reg.MustRegister(cepStack.engine.Collector())
	if err := cepStack.run(ctx, g, client); err != nil {
		return err
	}

	ctrlDB, err := bbolt.Open(filepath.Join(cfg.dataDir, "controller.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("open controller state: %w", err)
	}
	res.add(func() { _ = ctrlDB.Close() })
	var thrift *databridge.Client
	if cfg.cep.thriftTLS != "" {
		if thrift, err = internalThrift(users, cfg.cep.thriftTLS, cepStack.cert, log); err != nil {
			return err
		}
		res.add(func() { _ = thrift.Close() })
	}
	plat, err := newPlatform(cfg.controller, cfg.dataDir, ctrlDB, client, users, store,
		brokerURLs[0], cfg.cep.thriftTLS, thrift, log)
	if err != nil {
		return err
	}
	reg.MustRegister(plat.controller.Collector())
	plat.run(ctx, g)

	sc, err := newScaling(ctx, cfg.scaling, plat.controller, client, store, log)
	if err != nil {
		return err
	}
	reg.MustRegister(sc.scaler.Collector())
	cepStack.engine.Subscribe(sc.scaler.HandleSummary)
	sc.run(ctx, g)
	if cfg.scaling.policiesDir != "" {
		reg.MustRegister(policyMetrics(sc.store)...)
	}

	if cfg.lb {
		opts := lb.Options{Bus: client, Host: cfg.lbHost, StatsInterval: cfg.lbStatsInterval(), Logger: log}
		if thrift != nil {
			opts.CEP = thrift
		}
		balancer, err := lb.New(opts)
		if err != nil {
			return err
		}
		reg.MustRegister(balancer.Collector())
		g.Go(func() error { return balancer.Run(ctx) })
	}
	api, err := manager.New(manager.Options{
		Listener:    apiLn,
		Users:       users,
		Gatherer:    reg,
		Logger:      log,
		Policies:    sc.store,
		Cartridges:  plat.controller,
		Partitions:  plat.controller,
		Clusters:    managerClusters{plat.controller, sc.scaler},
		Scaler:      managerScaler{sc.scaler},
		Bus:         client,
		History:     store,
		AuthzPolicy: cfg.authzPolicy,
		Readiness:   readiness(client, brokerURLs, store, plat.controller),
	})
	if err != nil {
		return err
	}
	reg.MustRegister(api.Collector())
	// The API starts last: /healthz answers once every component is built and bound.
	g.Go(func() error { return api.Run(ctx) })
	// Reloads of the policy directory go through the manager, which refuses one that would
	// orphan a deployed application and hands the controller the network partitions.
	sc.watchPolicies(ctx, g, api, reload)
	log.Info("strata up", "api", apiLn.Addr().String(), "broker", strings.Join(brokerURLs, ","), "data_dir", cfg.dataDir, "version", versionString())
	if cfg.demo.enabled {
		d := demoDeps{controller: plat.controller, driver: plat.local, scaler: sc.scaler, policies: sc.store,
			cep: cepStack.engine, window: cfg.cep.window, lbHost: cfg.lbHost, log: log}
		g.Go(func() error { return cfg.demo.run(ctx, d, stdout) })
	}
	if err := g.Wait(); !errors.Is(err, demo.ErrDone) {
		return err
	}
	return nil
}

// splitURLs splits a comma-separated list, dropping empty entries.
func splitURLs(s string) []string {
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

// ensureAdmin creates the super tenant's admin on first start, with STRATA_ADMIN_PASSWORD or a
// generated password that is written to the data dir (mode 0600) and printed once.
func ensureAdmin(users *manager.Users, dataDir string, stdout io.Writer) error {
	generated, err := users.EnsureAdmin(os.Getenv("STRATA_ADMIN_PASSWORD"))
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

// brokerMetrics exposes the embedded broker's counters; each scrape reads them afresh.
func brokerMetrics(b *bus.Broker) []prometheus.Collector {
	counter := func(name, help string, v func(bus.BrokerStats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(b.Stats())) })
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strata_broker_clients_connected", Help: "MQTT clients connected to the embedded broker."},
			func() float64 { return float64(b.Stats().ClientsConnected) }),
		counter("strata_broker_messages_received_total", "PUBLISH packets the embedded broker received.",
			func(s bus.BrokerStats) int64 { return s.MessagesReceived }),
		counter("strata_broker_messages_sent_total", "PUBLISH packets the embedded broker sent.",
			func(s bus.BrokerStats) int64 { return s.MessagesSent }),
		counter("strata_broker_messages_dropped_total", "Messages dropped because a subscriber's buffer was full.",
			func(s bus.BrokerStats) int64 { return s.MessagesDropped }),
		counter("strata_broker_inflight_dropped_total", "QoS 1/2 messages dropped because a client's in-flight store was full.",
			func(s bus.BrokerStats) int64 { return s.InflightDropped }),
		counter("strata_broker_auth_rejected_total", "Connections refused for missing or wrong credentials.",
			func(s bus.BrokerStats) int64 { return s.AuthRejected }),
	}
}
