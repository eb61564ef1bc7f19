package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/app"
	"github.com/strata-paas/strata/internal/demo"
)

// upConfig is what `strata up` is told by its flags.
type upConfig struct {
	dataDir, api                string
	mqttListen, broker, lbHost  string
	logFormat, logLevel         string
	clickhouse, authzPolicy     string
	lb, console, anon, lbPodIPs bool
	secretsKey, prevKey         string
	cep                         cepConfig
	controller                  controllerConfig
	scaling                     scalingConfig
	demo                        demoConfig
	limits                      app.Limits
}

func (c *upConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.dataDir, "data-dir", "strata-data", "directory for state, credentials and generated certificates")
	fs.StringVar(&c.api, "api", "127.0.0.1:9763", "REST API listen address")
	fs.StringVar(&c.mqttListen, "mqtt-listen", "127.0.0.1:1883", "embedded MQTT broker listen address (ignored with --broker)")
	fs.BoolVar(&c.anon, "mqtt-allow-anonymous", false, "legacy: let clients without credentials use the embedded broker on a loopback listener, with full access (logged at WARN; local members count as loopback)")
	fs.StringVar(&c.broker, "broker", "", "external MQTT broker URL, e.g. tcp://host:1883 (comma-separated for failover); the embedded broker is not started")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.clickhouse, "clickhouse", "", "ClickHouse for history, e.g. clickhouse://127.0.0.1:9000/strata (default: an embedded, bounded in-process store)")
	fs.StringVar(&c.secretsKey, "secrets-key", os.Getenv("STRATA_SECRETS_KEY_FILE"), "file of the key that wraps the stored repository-password keys (32 bytes, raw or base64, mode 0600); empty: <data-dir>/secrets.key, generated at first start. Back it up apart from the data dir. Env STRATA_SECRETS_KEY_FILE")
	fs.StringVar(&c.prevKey, "secrets-key-previous", "", "rotation: file of the secrets key being replaced; the stored keys it wrapped are wrapped again with --secrets-key at start")
	fs.StringVar(&c.authzPolicy, "authz-policy", "", "Rego module (package strata.authz, rule allow) replacing the REST API's embedded authorisation policy")
	fs.BoolVar(&c.lb, "lb", true, "run the load balancer: every cartridge's proxy port routes to its Active members")
	fs.BoolVar(&c.console, "console", true, "serve the web console at / on the REST API's listener")
	fs.StringVar(&c.lbHost, "lb-host", "127.0.0.1", "address the load balancer's proxy ports listen on (empty: every interface)")
	fs.BoolVar(&c.lbPodIPs, "lb-kubernetes-pod-ips", false, "the load balancer sends Kubernetes members' requests to their pod IPs, not their clusters' Services (when Strata runs inside the pod network)")
	c.cep.flags(fs)
	c.controller.flags(fs)
	c.scaling.flags(fs)
	c.demo.flags(fs)
	c.limits.Flags(fs)
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

// up runs the platform of cfg until ctx ends, and the demo on it with --demo.
// A value on reload (SIGHUP) reloads the policy directory.
func up(ctx context.Context, cfg upConfig, log *slog.Logger, stdout io.Writer, reload <-chan struct{}) error {
	app.SetDefaultGCPercent()
	a, err := app.New(cfg.options(log, stdout, reload))
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.Run(ctx) })
	if cfg.demo.enabled {
		g.Go(func() error {
			select {
			case <-a.Ready():
			case <-ctx.Done():
				return nil
			}
			o, err := cfg.demo.options(a, cfg.cep.window, cfg.lbHost, stdout, log)
			if err != nil {
				return err
			}
			return demo.Run(ctx, o)
		})
	}
	if err := g.Wait(); !errors.Is(err, demo.ErrDone) {
		return err
	}
	return nil
}

// options turns the flags into the platform's options; the environment gives the secrets.
func (c *upConfig) options(log *slog.Logger, stdout io.Writer, reload <-chan struct{}) app.Options {
	return app.Options{
		DataDir:            c.dataDir,
		API:                c.api,
		MQTTListen:         c.mqttListen,
		MQTTAllowAnonymous: c.anon,
		Broker:             c.broker,
		BrokerUsername:     os.Getenv("STRATA_BROKER_USERNAME"),
		BrokerPassword:     os.Getenv("STRATA_BROKER_PASSWORD"),
		AdminPassword:      os.Getenv("STRATA_ADMIN_PASSWORD"),
		ClickHouse:         c.clickhouse,
		AuthzPolicy:        c.authzPolicy,
		SecretsKey:         c.secretsKey,
		PreviousSecrets:    c.prevKey,
		LB:                 c.lb,
		LBHost:             c.lbHost,
		LBKubernetesPodIPs: c.lbPodIPs,
		NoConsole:          !c.console,
		LBStatsInterval:    c.lbStatsInterval(),
		CEP:                c.cep.options(),
		Limits:             c.limits,
		SyncInterval:       c.controller.syncInterval,
		GracefulTimeout:    c.controller.gracefulTimeout,
		MockInterval:       c.controller.mockInterval,
		MockHealthFile:     c.controller.mockHealth,
		LocalAgent:         c.controller.localAgent,
		PoliciesDir:        c.scaling.policiesDir,
		MonitorInterval:    c.scaling.monitorInterval,
		Reload:             reload,
		Version:            versionString(),
		Logger:             log,
		Stdout:             stdout,
	}
}

// controllerConfig is what the controller's flags say.
type controllerConfig struct {
	syncInterval, gracefulTimeout, mockInterval time.Duration
	mockHealth, localAgent                      string
}

func (c *controllerConfig) flags(fs *flag.FlagSet) {
	fs.DurationVar(&c.syncInterval, "topology-sync", controller.DefaultSyncInterval, "how often the complete topology is published (with the embedded broker, only when something changed or someone subscribed since the last one)")
	fs.DurationVar(&c.gracefulTimeout, "graceful-timeout", controller.DefaultGracefulTimeout, "a member not ready to shut down this long after a graceful termination is terminated forcibly")
	fs.DurationVar(&c.mockInterval, "mock-health-interval", 15*time.Second, "how often mock members publish health")
	fs.StringVar(&c.localAgent, "local-agent", "", "the agent command of local members whose cartridge names none (iaasProvider property \"agent\"), run with /bin/sh -c in the member's directory; default: strata agent")
	fs.StringVar(&c.mockHealth, "mock-health", "", "mock members' health patterns: Stratos' mock-iaas.xml or Strata's YAML (default: a steady 20 for memory and load)")
}
