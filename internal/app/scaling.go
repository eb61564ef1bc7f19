package app

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/strata-paas/strata/autoscaler"
	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// startParallelism is how many member starts the autoscaler has in flight at once. The
// controller records each member durably before it calls the driver, and the mock driver records
// its instance too: one at a time, every start waits for two fsyncs (issue 17: 20 000 members
// took 17 minutes to deploy, 93 % of it blocked in those writes). Starts in flight together
// share the controller's next transaction and the driver's batch.
const startParallelism = 256

// controllerStarter adapts the controller to the autoscaler's starter.
type controllerStarter struct{ c *controller.Controller }

func (s controllerStarter) StartMember(ctx context.Context, r autoscaler.StartRequest) (model.Member, error) {
	return s.c.StartMember(ctx, controller.StartRequest{
		ClusterID:          r.ClusterID,
		ClusterInstanceID:  r.ClusterInstanceID,
		NetworkPartitionID: r.NetworkPartitionID,
		PartitionID:        r.PartitionID,
		MinCount:           r.MinCount,
		ScalingDecisionID:  r.ScalingDecisionID,
		Recorded:           r.Recorded,
	})
}

// StartFailure is why the member ended before it became Active, when the controller's last
// start failure of the cluster is that member's.
func (s controllerStarter) StartFailure(clusterID, memberID string) (string, bool) {
	f, ok := s.c.StartFailure(clusterID)
	if !ok || f.MemberID != memberID {
		return "", false
	}
	return strings.TrimPrefix(f.Reason, "member "+memberID+" ended before it became active: "), true
}

func (s controllerStarter) TerminateMember(ctx context.Context, memberID string, forced bool) error {
	return s.c.TerminateMember(ctx, memberID, forced)
}

// scaling is the policy store and the autoscaler.
type scaling struct {
	store      *policies.Store
	scaler     *autoscaler.Autoscaler
	subscribed <-chan struct{} // closed once the autoscaler listens to the topology
}

func newScaling(ctx context.Context, o Options, c *controller.Controller, client *bus.Client,
	rec interface {
		RecordDecision(model.Decision) bool
	}) (*scaling, error) {
	store, err := policies.NewStore(ctx, policies.StoreOptions{Dir: o.PoliciesDir, Logger: o.Logger})
	if err != nil {
		return nil, fmt.Errorf("--policies %s: %w", o.PoliciesDir, err)
	}
	var starter Starter = controllerStarter{c}
	if o.WrapStarter != nil {
		starter = o.WrapStarter(starter)
	}
	b := &subscribedBus{Consumer: client.Consumer("autoscaler"), subscribed: make(chan struct{})}
	scaler, err := autoscaler.New(autoscaler.Options{
		Policies:           store,
		Starter:            starter,
		Bus:                b,
		Recorder:           rec,
		Logger:             o.Logger,
		MonitorInterval:    o.MonitorInterval,
		Settle:             o.Settle,
		DecisionHistory:    o.DecisionHistory,
		InProcessSummaries: true,
		AwaitApplications:  true,
		StartParallelism:   startParallelism,
	})
	if err != nil {
		return nil, err
	}
	return &scaling{store: store, scaler: scaler, subscribed: b.subscribed}, nil
}

// subscribedBus closes subscribed after the first subscription made through it.
type subscribedBus struct {
	*bus.Consumer
	once       sync.Once
	subscribed chan struct{}
}

func (b *subscribedBus) SubscribeEvents(ctx context.Context, filter string, h bus.EventHandler) error {
	err := b.Consumer.SubscribeEvents(ctx, filter, h)
	if err == nil {
		b.once.Do(func() { close(b.subscribed) })
	}
	return err
}

// run runs the autoscaler.
func (s *scaling) run(ctx context.Context, g *errgroup.Group) {
	g.Go(func() error { return s.scaler.Run(ctx) })
}

// policyReloader reloads the policy directory through its checks; *manager.Server is one.
type policyReloader interface {
	ReloadPolicies(ctx context.Context) (policies.Changes, error)
}

// watchPolicies reloads the policy directory through r when a policy file changes and on every
// value on reload (SIGHUP). The manager's ReloadPolicies logs what each reload did or why it was
// refused.
func (s *scaling) watchPolicies(ctx context.Context, g *errgroup.Group, r policyReloader, reload <-chan struct{}) {
	if s.store.Dir() == "" {
		return
	}
	g.Go(func() error { return s.store.Watch(ctx, r.ReloadPolicies) })
	g.Go(func() error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-reload:
				_, _ = r.ReloadPolicies(ctx)
			}
		}
	})
}

// policyMetrics exposes the policy directory's reloads; each scrape reads them afresh.
func policyMetrics(store *policies.Store) []prometheus.Collector {
	reloads := func(result string, v func(policies.ReloadCounts) int) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "strata_policy_reloads_total",
			Help:        "Reloads of the policy directory (the load at start included) by result: applied, failed (a file with problems) or refused (it would orphan a deployed application).",
			ConstLabels: prometheus.Labels{"result": result}},
			func() float64 { return float64(v(store.Reloads())) })
	}
	return []prometheus.Collector{
		reloads("applied", func(c policies.ReloadCounts) int { return c.Applied }),
		reloads("failed", func(c policies.ReloadCounts) int { return c.Failed }),
		reloads("refused", func(c policies.ReloadCounts) int { return c.Refused }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strata_policy_last_reload_applied",
			Help: "1 when the last reload of the policy directory was applied, 0 when it failed or was refused (the set before it still runs; GET /api/policyDirectory says why)."},
			func() float64 {
				if r, _ := store.LastReload(); r.Applied {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strata_policy_last_reload_timestamp_seconds",
			Help: "When the policy directory was last reloaded (Unix time)."},
			func() float64 {
				r, _ := store.LastReload()
				return float64(r.Time.UnixNano()) / 1e9
			}),
	}
}
