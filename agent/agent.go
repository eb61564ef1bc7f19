package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/model"
)

// Agent is the cartridge agent of one member. Create it with New and call Run once.
type Agent struct {
	cfg    Config
	log    *slog.Logger
	bus    *bus.Client
	health Publisher
	logs   Publisher
	owned  []*databridge.Client // clients New made, closed when Run returns

	events      chan model.Event                 // from the bus handlers to the dispatcher
	artifactReq chan *model.ArtifactUpdatedEvent // to the artifact loop; capacity 1, newest wins

	wg      sync.WaitGroup // every goroutine Run starts besides the bus
	running atomic.Bool

	mu            sync.Mutex // guards everything below; a leaf: never held while calling out
	topology      *model.Topology
	topologyReady bool
	partMode      bool // asking for the cluster's part of the topology, not the complete one (topology.go)
	partAsked     int  // ClusterTopologyRequestEvents sent
	initialized   bool
	started       bool
	activating    bool
	activated     bool
	cleaning      bool
	tenantsSeen   bool
	left          []int // process groups extensions left running (servers.go)
}

// New checks the configuration and builds the agent's broker and data-bridge clients; nothing
// connects before Run.
func New(cfg Config) (*Agent, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:         cfg,
		log:         cfg.Logger.With("component", "agent", "member_id", cfg.MemberID),
		events:      make(chan model.Event, 1024),
		artifactReq: make(chan *model.ArtifactUpdatedEvent, 1),
	}
	bc, err := bus.New(bus.Options{
		URLs:     cfg.BrokerURLs,
		Username: cfg.BrokerUsername,
		Password: cfg.BrokerPassword,
		TLS:      cfg.BrokerTLS,
		RetryMax: 5 * time.Second,
		Logger:   cfg.Logger.With("component", "agent_bus"),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	a.bus = bc
	a.health = cfg.Health
	if a.health == nil && cfg.HealthEnabled {
		c, err := databridge.NewClient(databridge.ClientOptions{
			URLs: cfg.CEPURLs, TLS: cfg.CEPTLS, Username: cfg.CEPUsername, Password: cfg.CEPPassword,
			Logger: cfg.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("%w: cep: %w", ErrConfig, err)
		}
		a.health, a.owned = c, append(a.owned, c)
	}
	a.logs = cfg.Logs
	if a.logs == nil && cfg.LogPublishing && len(cfg.LogFilePaths) > 0 {
		switch c, err := NewLogClient(cfg); {
		case err != nil:
			return nil, fmt.Errorf("%w: log publisher: %w", ErrConfig, err)
		case c == nil:
			a.log.Warn("log publishing is on but there is no monitoring server or CEP URL; logs are not published")
		default:
			a.logs, a.owned = c, append(a.owned, c)
		}
	}
	return a, nil
}

// Run connects to the broker and runs the member's lifecycle (docs/stratos-wire.md §7.3-§7.6) until
// ctx ends. It then waits for its goroutines, stops what its extensions left running (the
// cartridge's server: SIGTERM, up to ServerStopTimeout, SIGKILL), gives queued lifecycle events a few seconds to reach
// the broker, and returns nil. It returns an error at once when called twice.
func (a *Agent) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("agent: Run called twice")
	}
	busCtx, stopBus := context.WithCancel(context.WithoutCancel(ctx))
	busDone := make(chan error, 1)
	go func() { busDone <- a.bus.Run(busCtx) }()
	defer func() {
		a.wg.Wait()
		a.stopLeftovers()
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
		if err := a.bus.Flush(flushCtx); err != nil {
			a.log.Warn("lifecycle events left unsent", "error", err)
		}
		cancel()
		stopBus()
		<-busDone
		for _, c := range a.owned {
			c.Close()
		}
		a.log.Info("agent stopped")
	}()

	// Steps 1-3: follow the topology and ask for it until it comes (topology.go).
	if err := a.followTopology(ctx); err != nil {
		return err
	}
	a.log.Info("agent started", "cluster_id", a.cfg.ClusterID, "brokers", a.cfg.BrokerURLs)
	a.requestTopology(ctx)
	tick := time.NewTicker(a.cfg.TopologyRequestInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-a.events:
			a.handle(ctx, e)
		case <-tick.C:
			if !a.topologyPending(ctx) {
				tick.Stop()
				continue
			}
			a.requestTopology(ctx)
		}
	}
}

// enqueue is the bus handler: it hands events to the dispatcher without doing any work on the
// bus client's handler goroutine (its consumer queue's).
func (a *Agent) enqueue(ctx context.Context) bus.EventHandler {
	return func(_ string, e model.Event) {
		select {
		case a.events <- e:
		case <-ctx.Done():
		}
	}
}

// spawn runs fn on a goroutine that Run waits for.
func (a *Agent) spawn(fn func()) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		fn()
	}()
}

// handle is the dispatcher: it runs on Run's goroutine, updates the local state and hands slow
// work (extensions, checkout, port checks, cleanup) to other goroutines.
func (a *Agent) handle(ctx context.Context, e model.Event) {
	switch ev := e.(type) {
	case *model.CompleteTopologyEvent:
		a.onCompleteTopology(ctx, ev)
	case *model.MemberInitializedEvent:
		a.onMemberInitialized(ctx, ev)
	case *model.MemberStartedEvent:
		a.onPeer(ctx, ExtMemberStarted, "MEMBER_STARTED", ev, ev.ServiceName, ev.ClusterID, ev.MemberID, model.MemberStarting)
	case *model.MemberActivatedEvent:
		a.onPeer(ctx, ExtMemberActivated, "MEMBER_ACTIVATED", ev, ev.ServiceName, ev.ClusterID, ev.MemberID, model.MemberActive)
	case *model.MemberTerminatedEvent:
		a.onPeer(ctx, ExtMemberTerminated, "MEMBER_TERMINATED", ev, ev.ServiceName, ev.ClusterID, ev.MemberID, model.MemberTerminated)
	case *model.MemberSuspendedEvent:
		a.onPeer(ctx, ExtMemberSuspended, "MEMBER_SUSPENDED", ev, ev.ServiceName, ev.ClusterID, ev.MemberID, model.MemberSuspended)
	case *model.MemberMaintenanceModeEvent:
		a.setStatus(ev.ServiceName, ev.ClusterID, ev.MemberID, model.MemberInMaintenance)
	case *model.MemberReadyToShutdownEvent:
		a.setStatus(ev.ServiceName, ev.ClusterID, ev.MemberID, model.MemberReadyToShutDown)
	case *model.ArtifactUpdatedEvent:
		if ev.ClusterID != a.cfg.ClusterID {
			return
		}
		// The artifact loop takes the newest request; an older one still waiting is replaced.
		select {
		case <-a.artifactReq:
		default:
		}
		a.artifactReq <- ev
	case *model.InstanceCleanupMemberEvent:
		if ev.MemberID == a.cfg.MemberID {
			a.cleanup(ctx)
		}
	case *model.InstanceCleanupClusterEvent:
		if ev.ClusterID == a.cfg.ClusterID && (ev.ClusterInstanceID == "" || ev.ClusterInstanceID == a.cfg.ClusterInstanceID) {
			a.cleanup(ctx)
		}
	case *model.CompleteTenantEvent:
		a.mu.Lock()
		first := !a.tenantsSeen
		a.tenantsSeen = true
		a.mu.Unlock()
		if first {
			b, _ := json.Marshal(ev.Tenants)
			a.spawn(func() { a.extension(ctx, ExtCompleteTenant, map[string]string{"TENANT_LIST_JSON": string(b)}) })
		}
	case *model.ApplicationSignUpRemovedEvent:
		if ev.ApplicationID == a.cfg.ApplicationID {
			tenant := fmt.Sprint(int32(ev.TenantID))
			if a.cfg.Multitenant && tenant != superTenantID {
				// The tenant's own checkout under the multi-tenant repository path goes.
				if dir := a.repoPath(tenant); dir != a.cfg.ApplicationPath {
					if err := os.RemoveAll(dir); err != nil {
						a.log.Warn("cannot remove the tenant's artifacts", "path", dir, "error", err)
					}
				}
			}
			vals := map[string]string{"APPLICATION_ID": ev.ApplicationID, "TENANT_ID": fmt.Sprint(int32(ev.TenantID))}
			a.spawn(func() { a.extension(ctx, ExtApplicationSignUpRemoved, vals) })
		}
	}
}

func (a *Agent) onMemberInitialized(ctx context.Context, ev *model.MemberInitializedEvent) {
	if ev.MemberID != a.cfg.MemberID {
		return
	}
	a.mu.Lock()
	ready := a.topologyReady
	_, _, self := a.findSelfLocked()
	if ready && self != nil {
		self.PushStatus(model.MemberInitialized)
		if len(ev.MemberPrivateIPs) > 0 || ev.DefaultPrivateIP != "" {
			self.MemberPrivateIPs, self.DefaultPrivateIP = ev.MemberPrivateIPs, ev.DefaultPrivateIP
		}
	}
	a.mu.Unlock()
	if !ready || self == nil {
		// §7.3 step 4: before the complete topology the event is ignored; a later
		// CompleteTopologyEvent shows the member as Initialized.
		return
	}
	vals := eventValues("MEMBER_INITIALIZED", ev)
	a.spawn(func() { a.extension(ctx, ExtMemberInitialized, vals) })
	a.initialize(ctx) // §7.3 step 4 (b)
}

// onPeer records a member's new state and, once this agent is initialized, runs the extension of
// the same name so a clustered application can react to its peers (§7.4).
func (a *Agent) onPeer(ctx context.Context, ext, prefix string, ev model.Event, service, cluster, member string, st model.MemberStatus) {
	a.setStatus(service, cluster, member, st)
	a.mu.Lock()
	init := a.initialized
	a.mu.Unlock()
	if !init {
		return
	}
	vals := eventValues(prefix, ev)
	a.spawn(func() { a.extension(ctx, ext, vals) })
}

func (a *Agent) setStatus(service, cluster, member string, st model.MemberStatus) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if m := a.memberLocked(service, cluster, member); m != nil && m.Status() != st {
		m.PushStatus(st)
	}
}

// initialize runs once: steps 5-8 of §7.3 on their own goroutine.
func (a *Agent) initialize(ctx context.Context) {
	a.mu.Lock()
	if a.initialized {
		a.mu.Unlock()
		return
	}
	a.initialized = true
	a.mu.Unlock()
	a.log.Info("member initialized")
	a.spawn(func() { a.artifactLoop(ctx) })
	a.spawn(func() { a.startup(ctx) })
}

func (a *Agent) startup(ctx context.Context) {
	// Step 5.
	for _, f := range []string{"instance/#", "tenant/#", "application/signup/#"} {
		if err := a.bus.SubscribeEvents(ctx, f, a.enqueue(ctx)); err != nil {
			if ctx.Err() == nil {
				a.log.Error("cannot subscribe", "filter", f, "error", err)
			}
			return
		}
	}
	a.publish(ctx, model.CompleteTenantRequestEvent{})
	// Step 6.
	a.extension(ctx, ExtInstanceStarted, nil)
	a.mu.Lock()
	first := !a.started
	a.started = true
	a.mu.Unlock()
	if first {
		a.publish(ctx, model.InstanceStartedEvent{
			ApplicationID: a.cfg.ApplicationID, ServiceName: a.cfg.ServiceName, ClusterID: a.cfg.ClusterID,
			MemberID: a.cfg.MemberID, ClusterInstanceID: a.cfg.ClusterInstanceID,
			NetworkPartitionID: a.cfg.NetworkPartitionID, PartitionID: a.cfg.PartitionID, GroupID: a.cfg.GroupID,
		})
		a.log.Info("instance started published")
	}
	if a.cfg.LogPublishing && a.logs != nil && len(a.cfg.LogFilePaths) > 0 {
		a.spawn(func() { a.logLoop(ctx) })
	}
	// Step 7.
	a.extension(ctx, ExtStartServers, nil)
	// Step 10 (the volume part).
	if v, ok := a.cfg.Payload.Get(model.PayloadPersistenceMapping); ok && present(v) {
		a.extension(ctx, ExtVolumeMount, nil)
	}
	// Step 8 without a repository; with one, the first checkout activates.
	if a.cfg.RepoURL == "" {
		a.activate(ctx)
	}
}

// activate waits for the ports and publishes InstanceActivatedEvent, once (§7.3 step 8, §7.6),
// then starts the health statistics (step 9). It returns at once; the work runs on a goroutine.
func (a *Agent) activate(ctx context.Context) {
	a.mu.Lock()
	if a.activating {
		a.mu.Unlock()
		return
	}
	a.activating = true
	a.mu.Unlock()
	a.spawn(func() {
		addr := a.listenAddress()
		if err := waitPorts(ctx, a.log, addr, a.cfg.Ports, a.cfg.PortCheckTimeout, a.cfg.PortCheckInterval); err != nil {
			if ctx.Err() == nil {
				a.log.Error("ports did not open; the member is not activated", "address", addr, "error", err)
			}
			return
		}
		a.mu.Lock()
		cleaning := a.cleaning
		a.activated = !cleaning
		a.mu.Unlock()
		if cleaning {
			return
		}
		a.publish(ctx, model.InstanceActivatedEvent{
			ServiceName: a.cfg.ServiceName, ClusterID: a.cfg.ClusterID, MemberID: a.cfg.MemberID,
			InstanceID: a.cfg.InstanceID, ClusterInstanceID: a.cfg.ClusterInstanceID,
			NetworkPartitionID: a.cfg.NetworkPartitionID, PartitionID: a.cfg.PartitionID, GroupID: a.cfg.GroupID,
		})
		a.log.Info("instance activated published", "ports", a.cfg.Ports, "address", addr)
		a.extension(ctx, ExtInstanceActivated, nil)
		if a.cfg.HealthEnabled && a.health != nil {
			a.healthLoop(ctx)
		}
	})
}

// listenAddress is where the ports are checked: listen.address, else the member's private IP from
// the topology (the local driver gives every member its own loopback address), else localhost.
func (a *Agent) listenAddress() string {
	if a.cfg.ListenAddress != "" {
		return a.cfg.ListenAddress
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, _, m := a.findSelfLocked(); m != nil {
		if m.DefaultPrivateIP != "" {
			return m.DefaultPrivateIP
		}
		if len(m.MemberPrivateIPs) > 0 {
			return m.MemberPrivateIPs[0]
		}
	}
	return "localhost"
}

// maintenanceFlushTimeout bounds how long cleanup waits for the broker to take the
// InstanceMaintenanceModeEvent before it runs clean.sh.
const maintenanceFlushTimeout = 5 * time.Second

// cleanup is the termination flow of §7.5, once: InstanceMaintenanceModeEvent (taken by the
// broker), clean.sh, InstanceReadyToShutdownEvent. Repeated cleanup events (the autoscaler
// resends them every cycle) are ignored.
func (a *Agent) cleanup(ctx context.Context) {
	a.mu.Lock()
	if a.cleaning {
		a.mu.Unlock()
		return
	}
	a.cleaning = true
	a.mu.Unlock()
	a.log.Info("cleanup requested")
	a.spawn(func() {
		a.publish(ctx, model.InstanceMaintenanceModeEvent{
			ServiceName: a.cfg.ServiceName, ClusterID: a.cfg.ClusterID, MemberID: a.cfg.MemberID,
			ClusterInstanceID: a.cfg.ClusterInstanceID, NetworkPartitionID: a.cfg.NetworkPartitionID,
			PartitionID: a.cfg.PartitionID, GroupID: a.cfg.GroupID,
		})
		// The platform hears of the maintenance (and the load balancer stops routing to the
		// member) before clean.sh starts: the broker has the event, not only the outbox.
		fctx, cancel := context.WithTimeout(ctx, maintenanceFlushTimeout)
		if err := a.bus.Flush(fctx); err != nil && ctx.Err() == nil {
			a.log.Warn("the broker did not acknowledge the maintenance event in time; running clean.sh anyway", "error", err)
		}
		cancel()
		a.extension(ctx, ExtClean, nil)
		a.publish(ctx, model.InstanceReadyToShutdownEvent{
			ServiceName: a.cfg.ServiceName, ClusterID: a.cfg.ClusterID, MemberID: a.cfg.MemberID,
			ClusterInstanceID: a.cfg.ClusterInstanceID, NetworkPartitionID: a.cfg.NetworkPartitionID,
			PartitionID: a.cfg.PartitionID, GroupID: a.cfg.GroupID,
		})
		a.log.Info("ready to shutdown published")
	})
}

func (a *Agent) publish(ctx context.Context, e model.Event) {
	if err := a.bus.PublishEvent(ctx, e); err != nil && ctx.Err() == nil {
		a.log.Error("cannot publish", "event", e.EventClass(), "error", err)
	}
}

// healthLoop publishes memory and load every HealthInterval until ctx ends (§2.6, §7.3 step 9).
func (a *Agent) healthLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.HealthInterval)
	defer t.Stop()
	failing := false
	for {
		err := a.publishHealth(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			a.log.Warn("cannot publish health statistics; retrying every interval", "error", err)
			failing = true
		case err == nil && failing:
			a.log.Info("health statistics published again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *Agent) publishHealth(ctx context.Context) error {
	mem, load, err := a.cfg.ReadHealth()
	if err != nil {
		return fmt.Errorf("read health: %w", err)
	}
	ts := a.cfg.Now().UnixMilli()
	sample := func(metric string, v float64) databridge.Event {
		return databridge.HealthEvent(model.HealthSample{
			ClusterID: a.cfg.ClusterID, ClusterInstanceID: a.cfg.ClusterInstanceID,
			NetworkPartitionID: a.cfg.NetworkPartitionID, MemberID: a.cfg.MemberID, PartitionID: a.cfg.PartitionID,
			Metric: metric, Value: v, Timestamp: ts,
		})
	}
	pctx, cancel := context.WithTimeout(ctx, a.cfg.HealthInterval)
	defer cancel()
	return errors.Join(
		a.health.Publish(pctx, sample(model.MetricMemoryConsumption, mem)),
		a.health.Publish(pctx, sample(model.MetricLoadAverage, load)),
	)
}
