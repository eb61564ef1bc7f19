package app

import (
	"context"
	"crypto/tls"
	"log/slog"
	"path/filepath"

	"go.etcd.io/bbolt"
	"golang.org/x/sync/errgroup"

	"github.com/strata-paas/strata/autoscaler"
	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/controller/local"
	"github.com/strata-paas/strata/controller/mock"
	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/manager"
	"github.com/strata-paas/strata/policies"
)

// platform is the controller with its IaaS drivers.
type platform struct {
	controller *controller.Controller
	mock       *mock.Driver
	local      *local.Driver
}

// newPlatform builds the controller on db with the mock and local drivers. mbURL and cepURL are the
// coordinates members get in their payloads; mock members publish health through thrift (nil:
// none).
func newPlatform(o Options, db *bbolt.DB, client *bus.Client, users *manager.Users,
	recorder controller.Recorder, mbURL, cepURL string, thrift *databridge.Client) (*platform, error) {
	var p platform
	var err error
	publish := thriftPublisher(thrift)
	if o.WrapPublish != nil && publish != nil {
		publish = o.WrapPublish(publish)
	}
	p.mock, err = mock.New(mock.Options{Bus: client, Publish: publish, Interval: o.MockInterval,
		Resolution: o.MockResolution, Patterns: o.MockPatterns, DB: db, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	p.local, err = local.New(local.Options{DataDir: filepath.Join(o.DataDir, "members"), Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	issue := func(_ context.Context, clusterID string) (controller.Credentials, error) {
		user, password, err := users.IssueAgent(clusterID)
		if err != nil {
			return controller.Credentials{}, err
		}
		return controller.Credentials{MBUsername: user, MBPassword: password, CEPUsername: user, CEPPassword: password}, nil
	}
	var cepURLs []string
	if cepURL != "" {
		cepURLs = []string{cepURL}
	}
	p.controller, err = controller.New(controller.Options{
		Bus:             client,
		DB:              db,
		Drivers:         map[string]controller.Driver{"mock": p.mock, local.Type: p.local},
		Recorder:        recorder,
		Logger:          o.Logger,
		SyncInterval:    o.SyncInterval,
		GracefulTimeout: o.GracefulTimeout,
		CleanupInterval: o.CleanupInterval,
		MBURLs:          []string{mbURL},
		CEPURLs:         cepURLs,
		Issue:           issue,
	})
	if err != nil {
		return nil, err
	}
	return &p, nil
}

func (p *platform) run(ctx context.Context, g *errgroup.Group) {
	g.Go(func() error { return p.mock.Run(ctx) })
	g.Go(func() error {
		// The controller (and so every API call that starts members) waits until the mock
		// answers lifecycle events.
		select {
		case <-p.mock.Subscribed():
		case <-ctx.Done():
			return nil
		}
		return p.controller.Run(ctx)
	})
}

// thriftPublisher publishes the mock members' samples over one data-bridge client; nil publishes
// nothing.
func thriftPublisher(c *databridge.Client) mock.PublishFunc {
	if c == nil {
		return nil
	}
	return databridge.SamplePublisher(c)
}

// internalThrift is a data-bridge client to this process's own TLS receiver, as an account of its
// own, for the publishers that run inside the platform (mock members, the load balancer).
func internalThrift(users *manager.Users, addr string, cert tls.Certificate, log *slog.Logger) (*databridge.Client, error) {
	user, password, err := users.IssueAgent("strata-internal")
	if err != nil {
		return nil, err
	}
	tlsConf, err := databridge.ClientTLS(cert)
	if err != nil {
		return nil, err
	}
	return databridge.NewClient(databridge.ClientOptions{URLs: []string{"ssl://" + addr}, TLS: tlsConf,
		Username: user, Password: password, Logger: log})
}

// managerClusters adapts the controller to the manager's ClusterManager.
type managerClusters struct {
	*controller.Controller
	scaler *autoscaler.Autoscaler // the crash-loop back-offs; nil: none
}

func (m managerClusters) CreateApplicationClusters(ctx context.Context, appID string, clusters []manager.Cluster) error {
	specs := make([]controller.ClusterSpec, len(clusters))
	for i, c := range clusters {
		specs[i] = controller.ClusterSpec{
			ClusterID:        c.ClusterID,
			ServiceName:      c.ServiceName,
			AppID:            c.AppID,
			Alias:            c.Alias,
			HostNames:        c.HostNames,
			AutoscalePolicy:  c.AutoscalePolicy,
			DeploymentPolicy: c.DeploymentPolicy,
			TenantRange:      c.TenantRange,
			TenantID:         c.TenantID,
			Properties:       c.Properties,
			Payload:          c.Payload,
		}
	}
	return m.Controller.CreateApplicationClusters(ctx, appID, specs)
}

// StartFailure is the controller's, as the manager's type, with the autoscaler's crash-loop
// back-off of the cluster when it has one.
func (m managerClusters) StartFailure(clusterID string) (manager.StartFailure, bool) {
	f, ok := m.Controller.StartFailure(clusterID)
	out := manager.StartFailure{ClusterID: f.ClusterID, ClusterInstanceID: f.ClusterInstanceID,
		NetworkPartitionID: f.NetworkPartitionID, PartitionID: f.PartitionID, MemberID: f.MemberID,
		Reason: f.Reason, Time: f.Time, Failures: f.Failures}
	if m.scaler == nil {
		return out, ok
	}
	cl, looping := m.scaler.CrashLoop(clusterID)
	if !looping {
		return out, ok
	}
	if !ok {
		out = manager.StartFailure{ClusterID: clusterID, ClusterInstanceID: cl.ClusterInstanceID, Time: cl.Until,
			Reason: "members end soon after they start", Failures: cl.Failures}
	}
	until := cl.Until.UTC()
	out.QuickFailures, out.BackoffUntil, out.Failing = cl.Failures, &until, cl.Failing
	return out, true
}

// managerScaler adapts the autoscaler to the manager's Scaler.
type managerScaler struct{ a *autoscaler.Autoscaler }

func (m managerScaler) RegisterCluster(c manager.ClusterInstance) error {
	return m.a.RegisterCluster(autoscaler.ClusterSpec(c))
}

func (m managerScaler) RemoveCluster(clusterID string) { m.a.RemoveCluster(clusterID) }

// PoliciesInUse lets the manager refuse a policy reload that would take a running cluster's
// policies away.
func (m managerScaler) PoliciesInUse() []policies.Ref { return m.a.PoliciesInUse() }

// TerminateMember lets the manager's DELETE /applications/{appId}/members/{memberId} terminate
// a member through the autoscaler's cleanup flow.
func (m managerScaler) TerminateMember(clusterID, memberID string) error {
	return m.a.TerminateMember(clusterID, memberID)
}
