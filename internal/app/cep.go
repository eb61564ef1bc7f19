package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/strata-paas/strata/cep"
	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/model"
)

// CEPOptions configure the CEP and its Thrift receiver, in `strata up` and in `strata cep`.
type CEPOptions struct {
	Thrift    string // the plain service's address (--thrift); empty: none
	ThriftTLS string // the TLS service's address (--thrift-tls); empty: none
	// TLSCert and TLSKey are the TLS service's PEM files (--tls-cert, --tls-key); empty: a
	// self-signed certificate generated in the data dir.
	TLSCert, TLSKey string
	// LegacyTLS also accepts TLS 1.0/1.1 with CBC-SHA suites (--thrift-legacy-tls).
	LegacyTLS bool
	// Limits bound the receiver's connections and frames; zero fields take their defaults.
	Limits ThriftLimits
	// Window, Sliding, FaultTimeout, StartupGrace and FaultCheckInterval are cep.Options'.
	Window, Sliding, FaultTimeout, StartupGrace, FaultCheckInterval time.Duration
	// Heard is cep.Options.Heard: `strata up` asks its embedded broker whether anyone subscribed
	// to the summaries; not a flag.
	Heard func() bool
}

// CEP is the CEP engine and its Thrift receiver.
type CEP struct {
	Engine *cep.Engine
	server *databridge.Server
	cert   tls.Certificate // the TLS receiver's certificate
}

// NewCEP builds the engine and binds the receiver. authorize checks connect(user, password) and
// says what the session may publish.
func NewCEP(o CEPOptions, dataDir string, authorize databridge.AuthorizeFunc,
	pub cep.Publisher, rec cep.Recorder, log *slog.Logger) (*CEP, error) {
	engine, err := cep.New(cep.Options{
		Window:             o.Window,
		Sliding:            o.Sliding,
		FaultTimeout:       o.FaultTimeout,
		FaultCheckInterval: o.FaultCheckInterval,
		StartupGrace:       o.StartupGrace,
		Heard:              o.Heard,
		Publisher:          pub,
		Recorder:           rec,
		Logger:             log,
	})
	if err != nil {
		return nil, err
	}
	var (
		tlsConf *tls.Config
		cert    tls.Certificate
	)
	if o.ThriftTLS != "" {
		if o.TLSCert != "" {
			cert, err = tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
			if err != nil {
				return nil, fmt.Errorf("--tls-cert %s: %w", o.TLSCert, err)
			}
		} else if cert, err = databridge.LoadOrCreateCertificate(dataDir); err != nil {
			return nil, err
		}
		tlsConf = databridge.ServerTLS(cert)
		if o.LegacyTLS && o.TLSCert == "" {
			// The legacy suites authenticate with RSA; modern clients keep the ECDSA certificate.
			rsaCert, err := databridge.LoadOrCreateRSACertificate(dataDir)
			if err != nil {
				return nil, err
			}
			tlsConf.Certificates = append(tlsConf.Certificates, rsaCert)
		}
	}
	lim := o.Limits.withDefaults()
	server, err := databridge.NewServer(databridge.ServerOptions{
		PlainAddr:         o.Thrift,
		SecureAddr:        o.ThriftTLS,
		TLS:               tlsConf,
		LegacyTLS:         o.LegacyTLS,
		Authorize:         authorize,
		Handler:           engine,
		IdleTimeout:       lim.IdleTimeout,
		MaxConns:          lim.MaxConns,
		MaxFrame:          lim.MaxFrame,
		MaxConnsPerSource: lim.MaxConnsPerSource,
		Logger:            log,
	})
	if err != nil {
		return nil, err
	}
	return &CEP{Engine: engine, server: server, cert: cert}, nil
}

// Start subscribes the engine to the topology on client (the engine's own consumer of the bus),
// taking the complete topology only when it needs one (bus.Consumer.FollowTopology), and runs the
// receiver and the engine in g until ctx ends.
func (c *CEP) Start(ctx context.Context, g *errgroup.Group, client *bus.Consumer) error {
	if err := client.FollowTopology(ctx, model.TopologyTopics(), c.Engine.HandleTopology, 0); err != nil {
		return fmt.Errorf("cep: subscribe to topology: %w", err)
	}
	g.Go(func() error { return c.Engine.Run(ctx) })
	g.Go(func() error { return c.server.Run(ctx) })
	return nil
}
