package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/strata-paas/strata/cep"
	"github.com/strata-paas/strata/internal/app"
	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/databridge"
)

// cepConfig is what the CEP's flags say, shared by `strata up` and `strata cep`.
type cepConfig struct {
	thrift, thriftTLS string
	tlsCert, tlsKey   string
	legacyTLS         bool
	limits            app.ThriftLimits
	window            time.Duration
	sliding           time.Duration
	faultTimeout      time.Duration
	startupGrace      time.Duration
}

func (c *cepConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.thrift, "thrift", "127.0.0.1:7611", "data-bridge Thrift receiver, plain service (empty for none)")
	fs.StringVar(&c.thriftTLS, "thrift-tls", "127.0.0.1:7711", "data-bridge Thrift receiver, secure service over TLS (empty for none)")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "PEM certificate for the TLS receiver (default: self-signed, generated in the data dir)")
	fs.StringVar(&c.tlsKey, "tls-key", "", "PEM key for --tls-cert")
	fs.BoolVar(&c.legacyTLS, "thrift-legacy-tls", false, "also accept TLS 1.0/1.1 with CBC-SHA suites on --thrift-tls, as the Stratos Python agent needs (an RSA --tls-cert, or one generated in the data dir)")
	fs.DurationVar(&c.window, "cep-window", cep.DefaultWindow, "length of the CEP's summary windows")
	fs.DurationVar(&c.sliding, "cep-sliding", 0, "emit sliding-window summaries this often (0: tumbling windows)")
	fs.DurationVar(&c.faultTimeout, "fault-timeout", cep.DefaultFaultTimeout, "a member silent this long is reported faulty")
	fs.DurationVar(&c.startupGrace, "fault-grace", cep.DefaultStartupGrace, "no silence faults this long after start (negative: none)")
	c.limits.Flags(fs)
}

// options are the CEP's options of the flags.
func (c *cepConfig) options() app.CEPOptions {
	return app.CEPOptions{Thrift: c.thrift, ThriftTLS: c.thriftTLS, TLSCert: c.tlsCert, TLSKey: c.tlsKey,
		LegacyTLS: c.legacyTLS, Limits: c.limits, Window: c.window, Sliding: c.sliding,
		FaultTimeout: c.faultTimeout, StartupGrace: c.startupGrace}
}

// runCEP is `strata cep`: the CEP alone, against an external broker.
func runCEP(args []string, _ io.Writer, stderr io.Writer) int {
	var (
		cfg                 cepConfig
		broker, dataDir     string
		logFormat, logLevel string
	)
	fs := flag.NewFlagSet("strata cep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.flags(fs)
	fs.StringVar(&broker, "broker", "tcp://127.0.0.1:1883", "MQTT broker URL (comma-separated for failover); STRATA_BROKER_USERNAME/PASSWORD give credentials")
	fs.StringVar(&dataDir, "data-dir", "strata-data", "directory for the generated TLS certificate")
	fs.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, err := newLogger(stderr, logFormat, logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "strata: %v\n", err)
		return 2
	}
	user, password := os.Getenv("STRATA_CEP_USERNAME"), os.Getenv("STRATA_CEP_PASSWORD")
	if cfg.thriftTLS != "" && (user == "" || password == "") {
		fmt.Fprintln(stderr, "strata: the TLS receiver needs STRATA_CEP_USERNAME and STRATA_CEP_PASSWORD (the credentials agents connect with)")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = func() error {
		for _, c := range [][2]string{{"thrift", cfg.thrift}, {"thrift-tls", cfg.thriftTLS}} {
			if err := app.CheckFree(c[0], c[1]); err != nil {
				return err
			}
		}
		client, err := bus.New(bus.Options{URLs: app.SplitURLs(broker), ClientID: "strata-cep",
			Username: os.Getenv("STRATA_BROKER_USERNAME"), Password: os.Getenv("STRATA_BROKER_PASSWORD"), Logger: log})
		if err != nil {
			return fmt.Errorf("--broker: %w", err)
		}
		stack, err := app.NewCEP(cfg.options(), dataDir, databridge.Unscoped(databridge.StaticCredentials(user, password)), cep.BusPublisher(client), nil, log)
		if err != nil {
			return err
		}
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error { return client.Run(ctx) })
		if err := stack.Start(ctx, g, client.Consumer("cep")); err != nil {
			return err
		}
		log.Info("strata cep", "broker", broker, "thrift", cfg.thrift, "thrift_tls", cfg.thriftTLS)
		return g.Wait()
	}()
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "strata: %v\n", err)
		return 1
	}
	return 0
}
