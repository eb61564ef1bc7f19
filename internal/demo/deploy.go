package demo

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/strata-paas/strata/autoscaler"
	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/controller/local"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// deploy registers the cartridge and the network partition, applies the policies, creates the
// cluster (a previous demo's cluster is removed first, so every demo starts from one member) and
// registers it with the autoscaler.
func deploy(ctx context.Context, o Options, plan *plan, clusterID string) error {
	c := o.Controller
	if err := c.AddCartridge(ctx, plan.cartridge); errors.Is(err, controller.ErrExists) {
		err = c.UpdateCartridge(ctx, plan.cartridge)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := c.AddNetworkPartition(ctx, plan.np); errors.Is(err, controller.ErrExists) {
		if err = c.UpdateNetworkPartition(ctx, plan.np); err != nil && !errors.Is(err, controller.ErrInUse) {
			return fmt.Errorf("demo: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if _, err := o.Policies.Update(func(s *policies.Set) (*policies.Set, error) {
		return s.With(ctx, plan.set.All()...)
	}); err != nil {
		return fmt.Errorf("demo: apply %s: %w", filepath.Join(o.Dir, "policies"), err)
	}
	if _, err := c.Cluster(clusterID); err == nil {
		if err := c.RemoveCluster(ctx, clusterID); err != nil {
			return fmt.Errorf("demo: remove the previous demo's cluster: %w", err)
		}
	}
	health := strconv.FormatFloat(SampleInterval(o.Window).Seconds(), 'f', -1, 64)
	err := c.CreateCluster(ctx, controller.ClusterSpec{
		ClusterID: clusterID, ServiceName: plan.cartridge.Type, AppID: demoApp, Alias: demoAlias,
		AutoscalePolicy: plan.autoscale, DeploymentPolicy: plan.deployment,
		Payload: model.Payload{
			{Key: "STRATA_BIN", Value: o.Executable},        // the cartridge's command runs "$STRATA_BIN" demo-server
			{Key: "stats.notifier.interval", Value: health}, // the agents' health interval, in seconds
			{Key: "port.check.interval", Value: "1"},        // activate within a second of the port opening
		},
	})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return o.Scaler.RegisterCluster(autoscaler.ClusterSpec{
		ClusterID: clusterID, InstanceID: demoInstance, NetworkPartition: plan.np.ID,
		ServiceName: plan.cartridge.Type, ApplicationID: demoApp, TenantID: "-1234",
		Min: demoMin, Max: demoMax, AutoscalePolicy: plan.autoscale, DeploymentPolicy: plan.deployment,
	})
}

// stop stops the demo's members. The platform may be stopping (Ctrl-C), so it does not go
// through the controller's API: it forgets the cluster in the autoscaler and has the driver stop
// every member's processes; a later `strata up` reconciles the controller's state.
func stop(o Options, clusterID string) {
	o.Scaler.RemoveCluster(clusterID)
	ctx, cancel := context.WithTimeout(context.Background(), 2*local.DefaultGracePeriod)
	defer cancel()
	var wg sync.WaitGroup
	for _, m := range o.Controller.Members(clusterID) {
		if m.InstanceID == "" {
			continue
		}
		wg.Go(func() {
			if err := o.Driver.Terminate(ctx, m.InstanceID); err != nil && !errors.Is(err, controller.ErrInstanceNotFound) {
				o.Logger.Warn("demo: stop member", "member_id", m.MemberID, "err", err)
			}
		})
	}
	wg.Wait()
}
