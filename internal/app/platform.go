package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"

	"go.etcd.io/bbolt"
	"golang.org/x/sync/errgroup"

	"github.com/strata-paas/strata/autoscaler"
	"github.com/strata-paas/strata/cep"
	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/controller/kubernetes"
	"github.com/strata-paas/strata/controller/local"
	"github.com/strata-paas/strata/controller/mock"
	"github.com/strata-paas/strata/controller/modules"
	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/manager"
	"github.com/strata-paas/strata/policies"
)

// platform is the controller with its IaaS drivers.
type platform struct {
	controller *controller.Controller
	mock       *mock.Driver
	local      *local.Driver
	kubernetes *kubernetes.Driver
}

// newPlatform builds the controller on db with the mock, local and kubernetes drivers (the
// latter reads the Kubernetes cluster definitions from kubeClusters). mbURL and cepURL are the
// coordinates members get in their payloads; mock members publish health into engine, in process
// and in batches (100 000 members cost no connection, no encoding and no goroutine each).
// With the embedded broker (nil: an external one), the periodic complete topology goes out only
// when it tells a subscriber something.
func newPlatform(o Options, db *bbolt.DB, client *bus.Client, creds *credentials, kubeClusters kubernetes.Clusters,
	recorder controller.Recorder, mbURL, cepURL, modulesURL string, engine *cep.Engine, embedded *bus.Broker) (*platform, error) {
	var broker controller.Subscribers
	if embedded != nil { // not a nil *bus.Broker in the interface
		broker = embedded
	}
	var p platform
	var err error
	publish := mock.PublishFunc(func(_ context.Context, samples []model.HealthSample) error {
		engine.IngestBatch(samples)
		return nil
	})
	if o.WrapPublish != nil {
		publish = o.WrapPublish(publish)
	}
	patterns := o.MockPatterns
	if o.MockHealthFile != "" {
		if patterns, err = mock.LoadPatterns(o.MockHealthFile); err != nil {
			return nil, fmt.Errorf("--mock-health: %w", err)
		}
	}
	p.mock, err = mock.New(mock.Options{Bus: client.Consumer("mock"), Publish: publish, Interval: o.MockInterval,
		Resolution: o.MockResolution, Patterns: patterns, DB: db, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	p.local, err = local.New(local.Options{DataDir: filepath.Join(o.DataDir, "members"), Executable: o.LocalExecutable, AgentCommand: o.LocalAgent, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	p.kubernetes, err = kubernetes.New(kubernetes.Options{Clusters: kubeClusters, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	var cepURLs []string
	if cepURL != "" {
		cepURLs = []string{cepURL}
	}
	p.controller, err = controller.New(controller.Options{
		Bus:          client.Consumer("controller"),
		DB:           db,
		Drivers:      map[string]controller.Driver{"mock": p.mock, local.Type: p.local, kubernetes.Type: p.kubernetes},
		Recorder:     recorder,
		Logger:       o.Logger,
		SyncInterval: o.SyncInterval,
		// With the embedded broker, a periodic sync that would tell nobody anything is skipped.
		Broker:          broker,
		GracefulTimeout: o.GracefulTimeout,
		CleanupInterval: o.CleanupInterval,
		// As many terminations in flight as starts (startParallelism): each waits on the
		// driver's state write.
		TerminateParallelism: startParallelism,
		MBURLs:               []string{mbURL},
		CEPURLs:              cepURLs,
		// `strata init` in a member fetches the cartridge's module from the REST listener.
		Payload: model.Payload{{Key: model.PayloadModulesURL, Value: modulesURL}},
		// Each member gets its own credential; per-cluster agent accounts of older data dirs
		// (stored with their clusters) keep working for the members started with them.
		MemberCredentials: creds.forMember,
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

// newModules is the module store on the controller's cartridges, for the members of each
// cartridge type with their own credentials. A member the controller no longer has is refused by
// the one member lookup that also gives its cartridge type.
func newModules(c *controller.Controller, creds *credentials, log *slog.Logger) (*modules.Store, error) {
	return modules.New(modules.Options{
		Cartridge: c.Cartridge,
		Member: func(user, password string) (string, bool) {
			memberID, ok := creds.memberID(user, password)
			if !ok {
				return "", false
			}
			m, err := c.Member(memberID)
			return m.ServiceName, err == nil
		},
		Logger: log,
	})
}

// modulesURL is the module store's URL for members on this host: the API's address, with the
// loopback address for a listener on every interface.
func modulesURL(api net.Addr) string {
	host, port, err := net.SplitHostPort(api.String())
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/modules"
}

// internalThrift is a data-bridge client to this process's own TLS receiver, with the internal
// credential, for the publishers that run inside the platform (mock members, the load balancer).
func internalThrift(creds *credentials, addr string, cert tls.Certificate, log *slog.Logger) (*databridge.Client, error) {
	user, password := InternalUser, creds.internalPassword()
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

// AddApplication gives the autoscaler's monitor tree an application (added or updated).
func (m managerScaler) AddApplication(t manager.ApplicationTree) error {
	spec := autoscaler.ApplicationSpec{App: t.App, Clusters: make([]autoscaler.ClusterSpec, len(t.Clusters))}
	for i, c := range t.Clusters {
		spec.Clusters[i] = autoscaler.ClusterSpec(c)
	}
	return m.a.AddApplication(spec)
}

func (m managerScaler) RemoveApplication(appID string) { m.a.RemoveApplication(appID) }

func (m managerScaler) DeployApplication(appID string, networkPartitions []string) error {
	return m.a.DeployApplication(appID, networkPartitions)
}

func (m managerScaler) UndeployApplication(appID string, force bool) int {
	return m.a.UndeployApplication(appID, force)
}

// ApplicationsLoaded lets the autoscaler publish CompleteApplicationsEvent: resync gave it
// every application.
func (m managerScaler) ApplicationsLoaded() { m.a.ApplicationsLoaded() }

// Applications is the monitor tree's view of the applications and their instances (runtime).
func (m managerScaler) Applications() *model.Applications { return m.a.Applications() }

// PoliciesInUse lets the manager refuse a policy reload that would take a running cluster's
// policies away.
func (m managerScaler) PoliciesInUse() []policies.Ref { return m.a.PoliciesInUse() }

// ApplicationPage is the controller's, as the manager's type: the paged runtime view.
func (m managerClusters) ApplicationPage(appID, after string, limit int) manager.ApplicationPage {
	p := m.Controller.ApplicationPage(appID, after, limit)
	out := manager.ApplicationPage{Clusters: p.Clusters, Next: p.Next, Counts: make(map[string]map[string]map[string]int, len(p.Counts))}
	for cl, byInstance := range p.Counts {
		out.Counts[cl] = make(map[string]map[string]int, len(byInstance))
		for in, byState := range byInstance {
			states := make(map[string]int, len(byState))
			for st, n := range byState {
				states[string(st)] = n
			}
			out.Counts[cl][in] = states
		}
	}
	return out
}

// TerminateMember lets the manager's DELETE /applications/{appId}/members/{memberId} terminate
// a member through the autoscaler's cleanup flow.
func (m managerScaler) TerminateMember(clusterID, memberID string) error {
	return m.a.TerminateMember(clusterID, memberID)
}
