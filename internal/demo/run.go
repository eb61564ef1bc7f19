package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/strata-paas/strata/autoscaler"
	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// ErrDone is what Run returns once the demo is over when Options.Exit is set; `strata up
// --demo --demo-exit` stops the platform on it and exits 0.
var ErrDone = errors.New("demo finished")

// Controller is what the demo needs of the cloud controller: the registry, the demo's cluster
// and its members.
type Controller interface {
	Ready() <-chan struct{}
	AddCartridge(ctx context.Context, ct model.Cartridge) error
	UpdateCartridge(ctx context.Context, ct model.Cartridge) error
	AddNetworkPartition(ctx context.Context, np model.NetworkPartition) error
	UpdateNetworkPartition(ctx context.Context, np model.NetworkPartition) error
	Cluster(id string) (model.Cluster, error)
	CreateCluster(ctx context.Context, spec controller.ClusterSpec) error
	RemoveCluster(ctx context.Context, clusterID string) error
	Members(clusterID string) []model.Member
}

// Driver stops a member's processes without the controller (the local driver).
type Driver interface {
	Terminate(ctx context.Context, instanceID string) error
}

// Scaler is what the demo needs of the autoscaler: a monitor for its cluster and the decisions.
type Scaler interface {
	RegisterCluster(spec autoscaler.ClusterSpec) error
	RemoveCluster(clusterID string)
	Decisions(clusterID string, n int) []model.Decision
}

// PolicyStore takes the demo's policies.
type PolicyStore interface {
	Update(f func(*policies.Set) (*policies.Set, error)) (policies.Changes, error)
}

// Options is what Run needs: the --demo flags and the running platform.
type Options struct {
	Dir       string        // holds cartridge.json and policies/
	Waves     []Wave        // the load plan (ParseWaves)
	ProxyPort int           // the load balancer's port for the cartridge; 0: the cartridge's
	Port      int           // the members' port; 0: the cartridge's
	Exit      bool          // return ErrDone once the demo is over instead of waiting for ctx
	Window    time.Duration // the CEP window
	LBHost    string        // the address the load balancer's proxy ports listen on
	// Executable is the strata binary the members run ($STRATA_BIN of the cartridge's command).
	Executable string

	Controller Controller
	Driver     Driver
	Scaler     Scaler
	Policies   PolicyStore
	// Subscribe registers a function that receives every CEP summary.
	Subscribe func(func(model.Summary))

	Out    io.Writer    // the demo's lines
	Logger *slog.Logger // warnings; nil discards
}

// Run runs the demo on the platform of o and prints it to o.Out. It returns ErrDone after the
// demo with o.Exit; otherwise it waits for ctx to end. Either way the demo's members are stopped
// before it returns.
func Run(ctx context.Context, o Options) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	plan, err := loadPlan(o)
	if err != nil {
		return err
	}
	select {
	case <-o.Controller.Ready():
	case <-ctx.Done():
		return nil
	}
	clusterID := model.ClusterID(demoApp, demoAlias, plan.cartridge.Type)
	st := &state{start: time.Now(), clusterID: clusterID}
	pr := newPrinter(o.Out, st, o.Controller, o.Scaler)

	if err := deploy(ctx, o, plan, clusterID); err != nil {
		return err
	}
	defer stop(o, clusterID)
	o.Subscribe(st.summary)

	lbURL := "http://" + net.JoinHostPort(orLoopback(o.LBHost), strconv.Itoa(plan.proxyPort)) + "/"
	pr.printf("strata demo: cartridge %s on the local driver, cluster %s (min %d, max %d)\n", plan.cartridge.Type, clusterID, demoMin, demoMax)
	pr.printf("  policies %s and %s from %s; load through the load balancer at %s\n", plan.autoscale, plan.deployment, filepath.Join(o.Dir, "policies"), lbURL)
	pr.printf("  waves: %s; CEP window %s, health every %s\n", describeWaves(plan.waves), o.Window, SampleInterval(o.Window))

	ld := newLoad(lbURL, plan.waves)
	pctx, stopPrinter := context.WithCancel(ctx)
	printerDone := make(chan struct{})
	go func() { defer close(printerDone); pr.run(pctx, ld) }()
	finish := func() { stopPrinter(); <-printerDone }

	// Phase 1: the first member.
	st.setPhase("starting")
	if err := wait(ctx, 3*time.Minute, func() bool { return countStatus(o.Controller.Members(clusterID), model.MemberActive) > 0 }); err != nil {
		finish()
		return end(ctx, fmt.Errorf("demo: no member became Active: %w", err))
	}
	if err := wait(ctx, 30*time.Second, func() bool { return ld.probe(ctx) == nil }); err != nil {
		finish()
		return end(ctx, fmt.Errorf("demo: the load balancer does not route to the member (%s): %w", lbURL, err))
	}

	// Phase 2: the waves.
	var wg sync.WaitGroup
	lctx, stopLoad := context.WithCancel(ctx)
	ld.start(lctx, &wg)
	for _, w := range plan.waves {
		st.setPhase(w.Name)
		ld.setWorkers(w.Workers)
		select {
		case <-ctx.Done():
		case <-time.After(w.D):
		}
	}
	ld.setWorkers(0)
	stopLoad()
	wg.Wait()

	// Phase 3: idle until the cluster is back at min (or it is clearly not coming back).
	st.setPhase("idle")
	_ = wait(ctx, 2*time.Minute, func() bool {
		return st.scaledOut() && len(o.Controller.Members(clusterID)) <= demoMin
	})
	// One more status line.
	select {
	case <-ctx.Done():
	case <-time.After(1100 * time.Millisecond):
	}
	finish()
	if ctx.Err() != nil {
		return nil
	}
	pr.summary(ld)
	if o.Exit {
		return ErrDone
	}
	pr.printf("strata demo: over; the platform keeps running (Ctrl-C stops it and the demo's members)\n")
	<-ctx.Done()
	return nil
}

// end returns err, or nil when ctx ended (Ctrl-C is not a demo failure).
func end(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func orLoopback(host string) string {
	if host == "" || host == "0.0.0.0" || host == "::" {
		return "127.0.0.1"
	}
	return host
}

// wait polls cond every 250 ms until it holds, ctx ends or within passes.
func wait(ctx context.Context, within time.Duration, cond func() bool) error {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return nil
}

func countStatus(ms []model.Member, s model.MemberStatus) int {
	n := 0
	for i := range ms {
		if ms[i].Status() == s {
			n++
		}
	}
	return n
}
