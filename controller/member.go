package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/strata-paas/strata/internal/model"
)

// StartMember starts one member of a cluster in a partition: it records the member and
// publishes MemberCreatedEvent, calls the driver of the network partition's provider, then
// records the instance and its addresses and publishes MemberInitializedEvent. Bad input (an
// unknown cluster, network partition, partition or driver, a payload missing required keys) is
// an error wrapping ErrNotFound, ErrNoDriver or ErrInvalid, and nothing is created. When the
// driver fails, the member is dropped again with MemberTerminatedEvent.
func (c *Controller) StartMember(ctx context.Context, req StartRequest) (model.Member, error) {
	if err := c.waitReady(ctx); err != nil {
		return model.Member{}, err
	}
	if err := ctx.Err(); err != nil {
		return model.Member{}, fmt.Errorf("start member of cluster %s: %w", req.ClusterID, err)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return model.Member{}, ErrClosed
	}
	in, drv, err := c.prepareStartLocked(req)
	if err != nil {
		c.startFailedLocked(req, "", err)
		c.mu.Unlock()
		c.stats.startFailures.Add(1)
		return model.Member{}, fmt.Errorf("start member of cluster %s: %w", req.ClusterID, err)
	}
	id := in.MemberID
	cl := c.clusters[req.ClusterID]
	m := &model.Member{
		ServiceName:         in.ServiceName,
		ClusterID:           req.ClusterID,
		MemberID:            id,
		ClusterInstanceID:   req.ClusterInstanceID,
		NetworkPartitionID:  req.NetworkPartitionID,
		PartitionID:         req.PartitionID,
		InitTime:            model.Long(c.clock.Now().UnixMilli()),
		Properties:          maps.Clone(req.Properties),
		LoadBalancingIPType: model.IPPrivate,
	}
	if strings.EqualFold(in.Cartridge.LoadBalancingIPType, "public") {
		m.LoadBalancingIPType = model.IPPublic
	}
	switch {
	case req.MinCount > 0 && len(req.Properties) == 0:
		m.Properties = cl.minCountProperties(req.MinCount)
	case req.MinCount > 0:
		m.Properties[model.PayloadMinCount] = strconv.Itoa(req.MinCount)
	}
	m.MemberStateManager.Identifier = id
	m.PushStatus(model.MemberCreated)
	if _, isNew := c.ensureInstanceLocked(cl, req.ClusterInstanceID, req.NetworkPartitionID, req.PartitionID); isNew {
		c.putClusterLocked(cl)
	}
	cl.Cluster.MemberMap[id] = m
	cl.indexAddLocked(m)
	mem := &member{m: m, driver: in.NetworkPartition.Provider, starting: true}
	c.members[id] = mem
	created := c.emit(&model.MemberCreatedEvent{ServiceName: m.ServiceName, ClusterID: m.ClusterID,
		ClusterInstanceID: m.ClusterInstanceID, NetworkPartitionID: m.NetworkPartitionID, PartitionID: m.PartitionID,
		MemberID: id, LoadBalancingIPType: m.LoadBalancingIPType, InitTime: m.InitTime, Properties: maps.Clone(m.Properties)},
		c.memberRecord(m, cl.Spec.AppID, "topology.MemberCreatedEvent"), true)
	c.mu.Unlock()
	if req.Recorded != nil {
		req.Recorded()
	}

	fail := func(err error) (model.Member, error) {
		c.stats.startFailures.Add(1)
		c.mu.Lock()
		if c.members[id] == mem {
			c.removeMemberLocked(mem)
		}
		c.startFailedLocked(req, id, err)
		c.mu.Unlock()
		return model.Member{}, fmt.Errorf("start member of cluster %s: %w", req.ClusterID, err)
	}
	if err := c.persist(ctx, id); err != nil {
		return fail(err)
	}
	select {
	case <-created:
	case <-ctx.Done():
		return fail(ctx.Err())
	case <-c.stopped:
		return fail(ErrClosed)
	}

	st, err := drv.Start(ctx, in)

	c.mu.Lock()
	mem.starting = false
	if err != nil {
		c.mu.Unlock()
		return fail(fmt.Errorf("driver %s: %w", mem.driver, err))
	}
	if st.InstanceID == "" {
		st.InstanceID = id
	}
	m.InstanceID = st.InstanceID
	setAddresses(m, st)
	c.addServicesLocked(m.ClusterID, st.Services)
	mem.changed()
	if mem.cancelled || c.members[id] != mem {
		mem.terminating = true
		c.mu.Unlock()
		if err := c.terminate(ctx, mem); err != nil {
			return model.Member{}, fmt.Errorf("start member of cluster %s: terminated while starting: %w", req.ClusterID, err)
		}
		return model.Member{}, fmt.Errorf("start member %s: %w while starting", id, ErrMemberStopped)
	}
	c.stats.starts.Add(1)
	c.initializedLocked(mem)
	out := *cloneMember(m)
	if e := mem.exited; e != nil {
		mem.exited = nil
		c.exitedLocked(mem, *e)
	}
	c.mu.Unlock()
	c.markDirty(id)
	return out, nil
}

func setAddresses(m *model.Member, st Started) {
	m.MemberPrivateIPs = slices.Clone(st.PrivateIPs)
	m.MemberPublicIPs = slices.Clone(st.PublicIPs)
	m.DefaultPrivateIP, m.DefaultPublicIP = "", ""
	if len(st.PrivateIPs) > 0 {
		m.DefaultPrivateIP = st.PrivateIPs[0]
	}
	if len(st.PublicIPs) > 0 {
		m.DefaultPublicIP = st.PublicIPs[0]
	}
}

// initializedLocked moves a started member to Initialized and publishes MemberInitializedEvent.
func (c *Controller) initializedLocked(mem *member) {
	m := mem.m
	from := m.Status()
	if err := m.SetStatus(model.MemberInitialized); err != nil {
		c.stats.invalidTransitions.Add(1)
		return
	}
	if cl := c.clusters[m.ClusterID]; cl != nil {
		cl.indexMoveLocked(m, from)
	}
	mem.changed()
	c.emitLocked(&model.MemberInitializedEvent{ServiceName: m.ServiceName, ClusterID: m.ClusterID,
		ClusterInstanceID: m.ClusterInstanceID, NetworkPartitionID: m.NetworkPartitionID, PartitionID: m.PartitionID,
		MemberID: m.MemberID, InstanceID: m.InstanceID, MemberPublicIPs: slices.Clone(m.MemberPublicIPs),
		DefaultPublicIP: m.DefaultPublicIP, MemberPrivateIPs: slices.Clone(m.MemberPrivateIPs),
		DefaultPrivateIP: m.DefaultPrivateIP, Properties: maps.Clone(m.Properties),
		KubernetesServices: c.kubernetesServicesLocked(m.ClusterID)},
		c.memberRecord(m, c.appIDLocked(m.ClusterID), "topology.MemberInitializedEvent"))
}

// kubernetesServicesLocked returns a copy of the Services that front a cluster on Kubernetes.
func (c *Controller) kubernetesServicesLocked(clusterID string) []model.KubernetesService {
	if cl := c.clusters[clusterID]; cl != nil {
		return slices.Clone(cl.Cluster.KubernetesServices)
	}
	return nil
}

func (c *Controller) appIDLocked(clusterID string) string {
	if cl := c.clusters[clusterID]; cl != nil {
		return cl.Spec.AppID
	}
	return ""
}

// prepareStartLocked checks a start request and builds the driver's Instance with a new member
// id and the payload; it changes nothing.
func (c *Controller) prepareStartLocked(req StartRequest) (Instance, Driver, error) {
	var errs []error
	cl := c.clusters[req.ClusterID]
	if cl == nil {
		return Instance{}, nil, errNotFound("cluster", req.ClusterID)
	}
	if cl.removing {
		return Instance{}, nil, fmt.Errorf("%w: its application is being undeployed", ErrRemoving)
	}
	ct := c.cartridges[cl.Spec.ServiceName]
	if ct == nil {
		return Instance{}, nil, fmt.Errorf("unknown cartridge %q: %w", cl.Spec.ServiceName, ErrNotFound)
	}
	np := c.nps[req.NetworkPartitionID]
	var part *model.Partition
	var drv Driver
	if np == nil {
		errs = append(errs, fmt.Errorf("network partition %q does not exist: %w", req.NetworkPartitionID, ErrNotFound))
	} else {
		if part = np.Partition(req.PartitionID); part == nil {
			errs = append(errs, fmt.Errorf("partition %q does not exist in network partition %s: %w", req.PartitionID, np.ID, ErrNotFound))
		}
		if drv = c.opts.Drivers[np.Provider]; drv == nil {
			errs = append(errs, fmt.Errorf("%w %q", ErrNoDriver, np.Provider))
		}
	}
	if req.ClusterInstanceID == "" {
		errs = append(errs, fmt.Errorf("%w: cluster instance id is required", ErrInvalid))
	} else if strings.ContainsAny(req.ClusterInstanceID, ",=/+#") {
		errs = append(errs, fmt.Errorf("%w: cluster instance id %q holds ',', '=', '/', '+' or '#'", ErrInvalid, req.ClusterInstanceID))
	} else if ci := cl.Cluster.InstanceIDToInstanceContextMap[req.ClusterInstanceID]; ci != nil {
		if s := ci.Status(); s == model.ClusterTerminating || s == model.ClusterTerminated {
			errs = append(errs, fmt.Errorf("%w: cluster instance %s is %s", ErrInvalid, req.ClusterInstanceID, s))
		}
	}
	if req.MinCount < 0 {
		errs = append(errs, fmt.Errorf("%w: min count %d is negative", ErrInvalid, req.MinCount))
	}
	if err := errors.Join(errs...); err != nil {
		return Instance{}, nil, err
	}
	id := model.NewMemberID(req.ClusterID)
	mp := memberParams{memberID: id, clusterInstanceID: req.ClusterInstanceID,
		partitionID: req.PartitionID, minCount: req.MinCount, scalingDecisionID: req.ScalingDecisionID}
	if c.opts.MemberCredentials != nil {
		cr := c.opts.MemberCredentials(id, req.ClusterID)
		mp.credentials = &cr
	}
	p := c.buildPayload(cl, ct, np, mp)
	if err := p.Validate(); err != nil {
		return Instance{}, nil, fmt.Errorf("%w: payload: %w", ErrInvalid, err)
	}
	in := Instance{
		MemberID: id, ClusterID: req.ClusterID, ClusterInstanceID: req.ClusterInstanceID,
		ServiceName: ct.Type, NetworkPartitionID: np.ID, PartitionID: part.ID,
		Cartridge: ct, IaaS: ct.IaasProviderOf(np.Provider), Partition: part, NetworkPartition: np,
		Payload: p,
	}
	if in.IaaS != nil {
		for _, ni := range in.IaaS.NetworkInterfaces {
			if ni.FixedIP != "" {
				in.PrivateIP = ni.FixedIP
				break
			}
		}
	}
	return in, drv, nil
}

// removeMemberLocked drops a member from the topology and publishes MemberTerminatedEvent.
func (c *Controller) removeMemberLocked(mem *member) {
	m := mem.m
	c.stats.terminations.Add(1)
	delete(c.members, m.MemberID)
	c.wakeGoneLocked()
	cl := c.clusters[m.ClusterID]
	appID := ""
	if cl != nil {
		delete(cl.Cluster.MemberMap, m.MemberID)
		cl.indexRemoveLocked(m)
		appID = cl.Spec.AppID
	}
	if m.Status() != model.MemberTerminated {
		m.PushStatus(model.MemberTerminated) // forced: Stratos does not check this transition
	}
	mem.changed()
	c.emitLocked(&model.MemberTerminatedEvent{ServiceName: m.ServiceName, ClusterID: m.ClusterID, MemberID: m.MemberID,
		ClusterInstanceID: m.ClusterInstanceID, NetworkPartitionID: m.NetworkPartitionID, PartitionID: m.PartitionID,
		Properties: maps.Clone(m.Properties)}, c.memberRecord(m, appID, "topology.MemberTerminatedEvent"))
	c.memberLeftLocked(cl, m)
	c.markDirty(m.MemberID)
}

// TerminateMember terminates a member. Forced: the driver terminates the instance at once and
// MemberTerminatedEvent follows before the call returns. Graceful: a member that is not Active
// yet (or already ReadyToShutDown) is terminated at once; an Active one is asked to clean up
// (InstanceCleanupMemberEvent, repeated every CleanupInterval) and the call returns; the member
// is terminated when it reports ReadyToShutDown, or forcibly after GracefulTimeout. A member
// whose driver Start is still running is terminated as soon as Start returns.
func (c *Controller) TerminateMember(ctx context.Context, memberID string, forced bool) error {
	if err := c.waitReady(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	mem, ok := c.members[memberID]
	if !ok {
		c.mu.Unlock()
		return errNotFound("member", memberID)
	}
	switch {
	case mem.terminating:
		c.mu.Unlock()
		return nil
	case mem.starting:
		mem.cancelled = true
		c.mu.Unlock()
		return nil
	}
	if s := mem.m.Status(); !forced && (s == model.MemberActive || s == model.MemberInMaintenance) {
		now := c.clock.Now()
		if mem.grace == nil {
			mem.grace = &grace{deadline: now.Add(c.opts.GracefulTimeout)}
		}
		if s == model.MemberActive {
			mem.grace.nextCleanup = now.Add(c.opts.CleanupInterval)
			c.emitLocked(&model.InstanceCleanupMemberEvent{MemberID: memberID}, nil)
		}
		c.mu.Unlock()
		return c.persist(ctx, memberID)
	}
	mem.terminating = true
	c.mu.Unlock()
	return c.terminate(ctx, mem)
}

// terminate has the driver terminate a member's instance (mem.terminating is set) and drops the
// member with MemberTerminatedEvent.
func (c *Controller) terminate(ctx context.Context, mem *member) error {
	c.mu.Lock()
	instanceID, drvName := mem.m.InstanceID, mem.driver
	c.mu.Unlock()
	var err error
	if instanceID != "" {
		if drv := c.opts.Drivers[drvName]; drv == nil {
			err = fmt.Errorf("%w %q", ErrNoDriver, drvName)
		} else if err = drv.Terminate(ctx, instanceID); errors.Is(err, ErrInstanceNotFound) {
			err = nil
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	mem.terminating = false
	if err != nil {
		return fmt.Errorf("terminate member %s: %w", mem.m.MemberID, err)
	}
	if c.members[mem.m.MemberID] == mem {
		c.removeMemberLocked(mem)
	}
	return nil
}

// TerminateAll terminates every member of a cluster forcibly, Options.TerminateParallelism at a
// time (its own bound, not shared with the termination queue or other TerminateAll calls), and
// returns once they are terminated (the errors of those that failed, joined).
func (c *Controller) TerminateAll(ctx context.Context, clusterID string) error {
	if err := c.waitReady(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	cl, ok := c.clusters[clusterID]
	if !ok {
		c.mu.Unlock()
		return errNotFound("cluster", clusterID)
	}
	ids := slices.Collect(maps.Keys(cl.Cluster.MemberMap))
	c.mu.Unlock()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, c.opts.TerminateParallelism)
	)
	for _, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := c.TerminateMember(ctx, id, true); err != nil && !errors.Is(err, ErrNotFound) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// handleStatus applies an instance or cluster status event.
func (c *Controller) handleStatus(ctx context.Context, e model.Event) {
	switch ev := e.(type) {
	case *model.InstanceStartedEvent:
		c.memberTransition(ctx, ev.MemberID, ev.ClusterID, model.MemberStarting, func(m *model.Member, _ *cluster) model.Event {
			return &model.MemberStartedEvent{ServiceName: m.ServiceName, ClusterID: m.ClusterID, ClusterInstanceID: m.ClusterInstanceID,
				NetworkPartitionID: m.NetworkPartitionID, PartitionID: m.PartitionID, MemberID: m.MemberID,
				Properties: maps.Clone(m.Properties), GroupID: ev.GroupID}
		})
	case *model.InstanceActivatedEvent:
		c.memberTransition(ctx, ev.MemberID, ev.ClusterID, model.MemberActive, func(m *model.Member, cl *cluster) model.Event {
			return &model.MemberActivatedEvent{ServiceName: m.ServiceName, ClusterID: m.ClusterID, ClusterInstanceID: m.ClusterInstanceID,
				MemberID: m.MemberID, NetworkPartitionID: m.NetworkPartitionID, PartitionID: m.PartitionID,
				PortMap: maps.Clone(m.PortMap), MemberPrivateIPs: slices.Clone(m.MemberPrivateIPs), DefaultPrivateIP: m.DefaultPrivateIP,
				GroupID: ev.GroupID, ApplicationID: cl.Spec.AppID, MemberPublicIPs: slices.Clone(m.MemberPublicIPs),
				DefaultPublicIP: m.DefaultPublicIP}
		})
	case *model.InstanceMaintenanceModeEvent:
		c.memberTransition(ctx, ev.MemberID, ev.ClusterID, model.MemberInMaintenance, func(m *model.Member, _ *cluster) model.Event {
			return maintenanceEvent(m, ev.GroupID)
		})
	case *model.InstanceReadyToShutdownEvent:
		c.memberTransition(ctx, ev.MemberID, ev.ClusterID, model.MemberReadyToShutDown, func(m *model.Member, _ *cluster) model.Event {
			return &model.MemberReadyToShutdownEvent{ServiceName: m.ServiceName, ClusterID: m.ClusterID, ClusterInstanceID: m.ClusterInstanceID,
				MemberID: m.MemberID, NetworkPartitionID: m.NetworkPartitionID, PartitionID: m.PartitionID,
				Properties: maps.Clone(m.Properties), GroupID: ev.GroupID}
		})
	default:
		c.handleClusterStatus(e)
	}
}

// memberTransition moves a member to a state and publishes the event build returns; an invalid
// transition is logged and counted, and publishes nothing, as does a member already in that state.
func (c *Controller) memberTransition(ctx context.Context, memberID, clusterID string, to model.MemberStatus, build func(*model.Member, *cluster) model.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	mem := c.members[memberID]
	if mem == nil || (clusterID != "" && clusterID != mem.m.ClusterID) {
		c.stats.unknownMembers.Add(1)
		return
	}
	cl := c.clusters[mem.m.ClusterID]
	if cl == nil { // cannot happen: a cluster is removed only without members
		c.stats.unknownMembers.Add(1)
		return
	}
	m := mem.m
	if m.Status() == to {
		// A repeated status event (the agent answers every InstanceCleanupMemberEvent the
		// autoscaler resends): the member is there already, and the topology has said so.
		return
	}
	from := m.Status()
	if err := m.SetStatus(to); err != nil {
		c.invalidTransition("member", memberID, err)
		return
	}
	cl.indexMoveLocked(m, from)
	mem.changed()
	if to == model.MemberActive {
		if ct := c.cartridges[m.ServiceName]; ct != nil {
			m.PortMap = cl.portMapOf(ct)
		}
		cl.startFailure = nil
	}
	c.answeredLocked(cl, mem, to)
	c.emitLocked(build(m, cl), c.memberRecord(m, cl.Spec.AppID, "topology.Member"+eventName(to)+"Event"))
	c.markDirty(memberID)
	if to == model.MemberReadyToShutDown && mem.grace != nil && !mem.terminating {
		mem.terminating = true
		c.queueTermination(mem)
	}
}

func eventName(s model.MemberStatus) string {
	switch s {
	case model.MemberStarting:
		return "Started"
	case model.MemberActive:
		return "Activated"
	case model.MemberInMaintenance:
		return "MaintenanceMode"
	case model.MemberReadyToShutDown:
		return "ReadyToShutdown"
	}
	return string(s)
}

// instanceExited handles an instance a driver reports as ended on its own.
func (c *Controller) instanceExited(driver string, e Exit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	mem := c.members[e.MemberID]
	if mem == nil && e.InstanceID != "" {
		for _, m := range c.members {
			if m.driver == driver && m.m.InstanceID == e.InstanceID {
				mem = m
				break
			}
		}
	}
	if mem == nil || mem.driver != driver || mem.terminating {
		return
	}
	if mem.starting {
		// The instance ended before the driver's Start returned (a server command that exits at
		// once, on a loaded host): StartMember handles it once the member is Initialized.
		mem.exited = &e
		return
	}
	c.exitedLocked(mem, e)
}

// exitedLocked ends a member whose instance ended on its own.
func (c *Controller) exitedLocked(mem *member, e Exit) {
	if e.InstanceID != "" && mem.m.InstanceID != "" && e.InstanceID != mem.m.InstanceID {
		return
	}
	c.stats.exited.Add(1)
	c.log.Info("instance ended on its own; member terminated", "member_id", mem.m.MemberID, "instance_id", e.InstanceID, "reason", e.Reason)
	c.exitedEarlyLocked(mem.m, e.Reason)
	c.removeMemberLocked(mem)
}

// adopt reconciles the stored members with the drivers' instances after a (re)start.
func (c *Controller) adopt(ctx context.Context) error {
	listed := map[string][]Started{}
	for typ, d := range c.opts.Drivers {
		l, err := d.List(ctx)
		if err != nil {
			// Without the list nothing can be concluded: keep that driver's members as they are.
			c.log.Warn("cannot list a driver's instances; its members are kept unchecked", "driver", typ, "error", err)
			continue
		}
		listed[typ] = l
	}
	type orphan struct {
		driver Driver
		id     string
	}
	var orphans []orphan
	now := c.clock.Now()
	c.mu.Lock()
	for typ, list := range listed {
		byInstance := make(map[string]Started, len(list))
		byMember := make(map[string]Started, len(list))
		for _, st := range list {
			byInstance[st.InstanceID] = st
			if st.MemberID != "" {
				byMember[st.MemberID] = st
			}
		}
		claimed := map[string]bool{}
		for _, mem := range c.members {
			if mem.driver != typ {
				continue
			}
			m := mem.m
			st, ok := byInstance[m.InstanceID]
			if m.InstanceID == "" {
				st, ok = byMember[m.MemberID]
			}
			if !ok {
				c.stats.adoptTerminated.Add(1)
				c.removeMemberLocked(mem)
				continue
			}
			claimed[st.InstanceID] = true
			c.stats.adopted.Add(1)
			if m.Status() == model.MemberCreated {
				m.InstanceID = st.InstanceID
				setAddresses(m, st)
				mem.changed()
				c.initializedLocked(mem)
				c.markDirty(m.MemberID)
			}
			if mem.grace != nil {
				mem.grace.nextCleanup = now
			}
		}
		for _, st := range list {
			if !claimed[st.InstanceID] {
				orphans = append(orphans, orphan{c.opts.Drivers[typ], st.InstanceID})
			}
		}
	}
	for _, mem := range c.members {
		if _, ok := c.opts.Drivers[mem.driver]; !ok {
			c.log.Warn("member of an unconfigured driver kept as it is", "member_id", mem.m.MemberID, "driver", mem.driver)
		}
	}
	c.mu.Unlock()
	for _, o := range orphans {
		if err := o.driver.Terminate(ctx, o.id); err != nil && !errors.Is(err, ErrInstanceNotFound) {
			c.log.Warn("cannot terminate an instance no member owns", "instance_id", o.id, "error", err)
			continue
		}
		c.stats.orphansTerminated.Add(1)
	}
	if a, t, o := c.stats.adopted.Load(), c.stats.adoptTerminated.Load(), c.stats.orphansTerminated.Load(); a+t+o > 0 {
		c.log.Info("adopted the drivers' instances", "adopted", a, "terminated", t, "orphans_terminated", o)
	}
	return nil
}

// maintenanceEvent is the MemberMaintenanceModeEvent that asks m's agent to get ready to shut down.
func maintenanceEvent(m *model.Member, groupID string) *model.MemberMaintenanceModeEvent {
	return &model.MemberMaintenanceModeEvent{ServiceName: m.ServiceName, ClusterID: m.ClusterID, ClusterInstanceID: m.ClusterInstanceID,
		MemberID: m.MemberID, NetworkPartitionID: m.NetworkPartitionID, PartitionID: m.PartitionID,
		Properties: maps.Clone(m.Properties), GroupID: groupID}
}
