package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sync/errgroup"

	"github.com/strata-paas/strata/agent"
	"github.com/strata-paas/strata/internal/app"
	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/lb"
)

// runAgent is `strata agent`: the cartridge agent of one member.
func runAgent(args []string, _ io.Writer, stderr io.Writer) int {
	fs := flag.NewFlagSet("strata agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conf := fs.String("conf", "", "agent.conf (INI, section [agent]); optional")
	payload := fs.String("payload", "payload/launch-params", "launch-params payload file")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "strata: %v\n", err)
		return 2
	}
	cfg, err := agent.LoadConfig(*conf, *payload)
	if err != nil {
		fmt.Fprintf(stderr, "strata agent: %v\n", err)
		return 2
	}
	cfg.Logger = log
	a, err := agent.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "strata agent: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := a.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "strata agent: %v\n", err)
		return 1
	}
	return 0
}

// runLB is `strata lb`: the load balancer, following the topology on --broker and publishing
// in-flight counts to --cep.
func runLB(args []string, _ io.Writer, stderr io.Writer) int {
	fs := flag.NewFlagSet("strata lb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	broker := fs.String("broker", "tcp://127.0.0.1:1883", "MQTT broker URL (comma-separated for failover); STRATA_BROKER_USERNAME/PASSWORD give credentials")
	host := fs.String("host", "", "address the proxy ports listen on (default: every interface)")
	cepURLs := fs.String("cep", "", "data-bridge receivers for in_flight_requests, e.g. ssl://127.0.0.1:7711 (empty: publish none); STRATA_CEP_USERNAME/PASSWORD give credentials")
	cepCA := fs.String("cep-ca", "", "PEM certificate that the CEP's TLS certificate must chain to (default: not verified, as the Stratos LB)")
	np := fs.String("network-partition", "", "network partition sent for clusters whose members name none")
	podIPs := fs.Bool("kubernetes-pod-ips", false, "send Kubernetes members' requests to their pod IPs, not their clusters' Services (for a load balancer inside the pod network)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "strata: %v\n", err)
		return 2
	}
	err = func() error {
		client, err := bus.New(bus.Options{URLs: app.SplitURLs(*broker), ClientID: "strata-lb-" + fmt.Sprint(os.Getpid()),
			Username: os.Getenv("STRATA_BROKER_USERNAME"), Password: os.Getenv("STRATA_BROKER_PASSWORD"), Logger: log})
		if err != nil {
			return fmt.Errorf("--broker: %w", err)
		}
		opts := lb.Options{Bus: client, Host: *host, NetworkPartitionID: *np, KubernetesPodIPs: *podIPs, Logger: log}
		if urls := app.SplitURLs(*cepURLs); len(urls) > 0 {
			tlsConf, err := databridge.CAFileTLS(*cepCA)
			if err != nil {
				return fmt.Errorf("--cep-ca: %w", err)
			}
			cepClient, err := databridge.NewClient(databridge.ClientOptions{URLs: urls, TLS: tlsConf,
				Username: os.Getenv("STRATA_CEP_USERNAME"), Password: os.Getenv("STRATA_CEP_PASSWORD"), Logger: log})
			if err != nil {
				return fmt.Errorf("--cep: %w", err)
			}
			defer cepClient.Close()
			opts.CEP = cepClient
		}
		balancer, err := lb.New(opts)
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error { return client.Run(ctx) })
		g.Go(func() error { return balancer.Run(ctx) })
		return g.Wait()
	}()
	if err != nil {
		fmt.Fprintf(stderr, "strata lb: %v\n", err)
		return 1
	}
	return 0
}
