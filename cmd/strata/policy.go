package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/strata-paas/strata/autoscaler"
	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// scalingConfig is what the autoscaler's flags say.
type scalingConfig struct {
	policiesDir     string
	monitorInterval time.Duration
}

func (c *scalingConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.policiesDir, "policies", "", "directory of policy files (YAML, Stratos JSON, .rego), reloaded on change and on SIGHUP: the source of truth for network partitions and autoscaling, deployment and application policies, which the REST API then only reads (writes answer 409); a reload that would orphan a deployed application is refused (default: policies come only through the API)")
	fs.DurationVar(&c.monitorInterval, "monitor-interval", autoscaler.DefaultMonitorInterval, "the autoscaler's periodic evaluation (it also decides as soon as fresh summaries arrive)")
}

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
	store  *policies.Store
	scaler *autoscaler.Autoscaler
}

func newScaling(ctx context.Context, cfg scalingConfig, c *controller.Controller, client *bus.Client,
	rec interface {
		RecordDecision(model.Decision) bool
	}, log *slog.Logger) (*scaling, error) {
	store, err := policies.NewStore(ctx, policies.StoreOptions{Dir: cfg.policiesDir, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("--policies %s: %w", cfg.policiesDir, err)
	}
	scaler, err := autoscaler.New(autoscaler.Options{
		Policies:           store,
		Starter:            controllerStarter{c},
		Bus:                client,
		Recorder:           rec,
		Logger:             log,
		MonitorInterval:    cfg.monitorInterval,
		InProcessSummaries: true,
	})
	if err != nil {
		return nil, err
	}
	return &scaling{store: store, scaler: scaler}, nil
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

// runPolicy is `strata policy check|test DIR` and `strata policy replay`.
func runPolicy(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "replay" {
		return runReplay(args[1:], stdout, stderr)
	}
	if len(args) < 2 || (args[0] != "check" && args[0] != "test") {
		fmt.Fprintln(stderr, "usage: strata policy check DIR   validate every policy file, printing every problem as file:line:col")
		fmt.Fprintln(stderr, "       strata policy test DIR    run the fixtures (*_test.yaml) and the Rego tests (test_* rules)")
		fmt.Fprintln(stderr, "       strata policy replay ...  run a policy over recorded history (strata policy replay -h)")
		return 2
	}
	ctx := context.Background()
	dir := args[1]
	if args[0] == "check" {
		if err := policies.CheckDir(ctx, dir); err != nil {
			printProblems(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: ok\n", dir)
		return 0
	}
	set, err := policies.LoadDir(dir)
	if err != nil {
		printProblems(stderr, err)
		return 1
	}
	failed := 0
	fixtures, err := policies.LoadFixtures(dir, set)
	if err != nil {
		printProblems(stderr, err)
		return 1
	}
	reports, err := autoscaler.RunFixtures(ctx, set, fixtures)
	if err != nil {
		fmt.Fprintf(stderr, "strata policy test: %v\n", err)
		return 1
	}
	for _, r := range reports {
		fmt.Fprint(stdout, r.String())
		if !r.Passed() {
			failed++
		}
	}
	results, err := policies.TestRego(ctx, dir)
	if err != nil {
		printProblems(stderr, err)
		return 1
	}
	for _, r := range results {
		fmt.Fprintln(stdout, r.String())
		if !r.Pass && !r.Skip {
			failed++
		}
	}
	fmt.Fprintf(stdout, "%d fixtures, %d rego tests, %d failed\n", len(reports), len(results), failed)
	if failed > 0 {
		return 1
	}
	return 0
}

// printProblems prints every joined problem on its own line.
func printProblems(w io.Writer, err error) {
	if ps := policies.Errors(err); len(ps) > 0 {
		for _, p := range ps {
			fmt.Fprintln(w, p)
		}
		return
	}
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			fmt.Fprintln(w, e)
		}
		return
	}
	fmt.Fprintln(w, err)
}
