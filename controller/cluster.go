package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.etcd.io/bbolt"

	"github.com/strata-paas/strata/internal/model"
)

func errNotFound(what, id string) error { return fmt.Errorf("%s %q: %w", what, id, ErrNotFound) }

// CreateCluster creates one cluster and publishes ClusterCreatedEvent.
func (c *Controller) CreateCluster(ctx context.Context, spec ClusterSpec) error {
	return c.createClusters(ctx, "", []ClusterSpec{spec})
}

// CreateApplicationClusters creates the clusters of an application, all or none, and publishes
// one ApplicationClustersCreatedEvent.
func (c *Controller) CreateApplicationClusters(ctx context.Context, appID string, specs []ClusterSpec) error {
	if appID == "" {
		return fmt.Errorf("create application clusters: %w: application id is required", ErrInvalid)
	}
	for i := range specs {
		if specs[i].AppID == "" {
			specs[i].AppID = appID
		}
		if specs[i].AppID != appID {
			return fmt.Errorf("create application clusters of %s: %w: cluster %s belongs to %s", appID, ErrInvalid, specs[i].ClusterID, specs[i].AppID)
		}
	}
	return c.createClusters(ctx, appID, specs)
}

func (c *Controller) createClusters(ctx context.Context, appID string, specs []ClusterSpec) error {
	if len(specs) == 0 {
		return fmt.Errorf("create clusters: %w: no cluster", ErrInvalid)
	}
	// Check everything first, under the lock, so nothing is half-created; credentials are
	// issued outside the lock and the checks repeated.
	built := make([]*cluster, len(specs))
	c.mu.Lock()
	err := c.checkSpecsLocked(specs, built)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	for _, cl := range built {
		if c.opts.Issue != nil {
			cr, err := c.opts.Issue(ctx, cl.Spec.ClusterID)
			if err != nil {
				return fmt.Errorf("create cluster %s: issue credentials: %w", cl.Spec.ClusterID, err)
			}
			cl.Credentials = cr
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	creds := make([]Credentials, len(built))
	for i, cl := range built {
		creds[i] = cl.Credentials
	}
	if err := c.checkSpecsLocked(specs, built); err != nil {
		return err
	}
	for i, cl := range built {
		cl.Credentials = creds[i]
	}
	recs := make(map[string]clusterRecord, len(built))
	for _, cl := range built {
		recs[cl.Spec.ClusterID] = clusterRecordOf(cl)
	}
	if err := c.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketClusters))
		for id, r := range recs {
			v, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(id), v); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("create clusters: write state: %w", err)
	}
	list := make([]*model.Cluster, 0, len(built))
	for _, cl := range built {
		c.clusters[cl.Spec.ClusterID] = cl
		list = append(list, cloneCluster(cl.Cluster, false))
	}
	if appID == "" {
		c.emitLocked(&model.ClusterCreatedEvent{Cluster: list[0]}, c.clusterRecord(built[0], "", "topology.ClusterCreatedEvent", "Created"))
	} else {
		c.emitLocked(&model.ApplicationClustersCreatedEvent{ClusterList: list, AppID: appID}, nil)
		for _, cl := range built {
			c.emitLocked(nil, c.clusterRecord(cl, "", "topology.ApplicationClustersCreatedEvent", "Created"))
		}
	}
	return nil
}

// checkSpecsLocked validates specs and fills built with the clusters they describe.
func (c *Controller) checkSpecsLocked(specs []ClusterSpec, built []*cluster) error {
	var errs []error
	seen := map[string]bool{}
	for i, s := range specs {
		cl, err := c.checkSpecLocked(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[s.ClusterID] {
			errs = append(errs, fmt.Errorf("create cluster %s: %w: given twice", s.ClusterID, ErrInvalid))
		}
		seen[s.ClusterID] = true
		if built[i] != nil {
			cl.Credentials = built[i].Credentials
		}
		built[i] = cl
	}
	return errors.Join(errs...)
}

func (c *Controller) checkSpecLocked(s ClusterSpec) (*cluster, error) {
	fail := func(err error) (*cluster, error) { return nil, fmt.Errorf("create cluster %s: %w", s.ClusterID, err) }
	if s.ClusterID == "" || strings.ContainsAny(s.ClusterID, " ,=/+#\t\r\n") {
		return fail(fmt.Errorf("%w: cluster id %q is empty or holds a space, ',', '=', '/', '+' or '#'", ErrInvalid, s.ClusterID))
	}
	if _, ok := c.clusters[s.ClusterID]; ok {
		return fail(ErrExists)
	}
	ct, ok := c.cartridges[s.ServiceName]
	if !ok {
		return fail(fmt.Errorf("unknown cartridge %q: %w", s.ServiceName, ErrNotFound))
	}
	if s.AppID == "" {
		return fail(fmt.Errorf("%w: application id is required", ErrInvalid))
	}
	if s.TenantRange == "" {
		s.TenantRange = "*"
	}
	if s.TenantID == "" {
		s.TenantID = "-1234"
	}
	hosts := s.HostNames
	if len(hosts) == 0 && ct.Host != "" {
		hosts = []string{model.HostName(s.AppID, s.Alias, ct.Host, bool(ct.MultiTenant))}
	}
	props := model.Properties{}
	for _, p := range s.Properties {
		props[p.Name] = string(p.Value)
	}
	if len(props) == 0 {
		props = nil
	}
	cl := &cluster{Spec: s, Cluster: &model.Cluster{
		ServiceName:                    s.ServiceName,
		ClusterID:                      s.ClusterID,
		AutoscalePolicyName:            s.AutoscalePolicy,
		DeploymentPolicyName:           s.DeploymentPolicy,
		HostNames:                      hosts,
		TenantRange:                    s.TenantRange,
		IsLbCluster:                    model.Bool(s.IsLbCluster),
		MemberMap:                      map[string]*model.Member{},
		AppID:                          s.AppID,
		ParentID:                       s.ParentID,
		Properties:                     props,
		InstanceIDToInstanceContextMap: map[string]*model.ClusterInstance{},
	}}
	p := c.buildPayload(cl, ct, nil, memberParams{memberID: "m", clusterInstanceID: "i", partitionID: "p"})
	var errs []error
	if err := p.Check(); err != nil {
		errs = append(errs, err)
	}
	for _, k := range clusterLevelMissing(p) {
		errs = append(errs, fmt.Errorf("%w: missing required key %s", model.ErrPayload, k))
	}
	if err := errors.Join(errs...); err != nil {
		return fail(fmt.Errorf("%w: payload: %w", ErrInvalid, err))
	}
	return cl, nil
}

// RemoveCluster terminates the cluster's remaining members forcibly, removes it and publishes
// ClusterRemovedEvent.
func (c *Controller) RemoveCluster(ctx context.Context, clusterID string) error {
	if err := c.waitReady(ctx); err != nil {
		return err
	}
	if err := c.TerminateAll(ctx, clusterID); err != nil {
		return fmt.Errorf("remove cluster %s: %w", clusterID, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.clusters[clusterID]
	if !ok {
		return errNotFound("cluster", clusterID)
	}
	if n := len(cl.Cluster.MemberMap); n > 0 {
		return fmt.Errorf("remove cluster %s: %w: %d members were started meanwhile", clusterID, ErrInUse, n)
	}
	if err := c.del(bucketClusters, clusterID); err != nil {
		return err
	}
	delete(c.clusters, clusterID)
	c.emitLocked(&model.ClusterRemovedEvent{ServiceName: cl.Spec.ServiceName, ClusterID: clusterID,
		DeploymentPolicy: cl.Spec.DeploymentPolicy, IsLbCluster: model.Bool(cl.Spec.IsLbCluster)},
		c.clusterRecord(cl, "", "topology.ClusterRemovedEvent", "Removed"))
	return nil
}

func (c *Controller) clusterRecord(cl *cluster, instanceID, class, status string) *model.LifecycleRecord {
	entity := "cluster"
	if instanceID != "" {
		entity = "cluster_instance"
	}
	r := &model.LifecycleRecord{Time: c.clock.Now(), Entity: entity, Event: class, ServiceName: cl.Spec.ServiceName,
		ApplicationID: cl.Spec.AppID, ClusterID: cl.Spec.ClusterID, ClusterInstanceID: instanceID, Status: status}
	if ci := cl.Cluster.InstanceIDToInstanceContextMap[instanceID]; ci != nil {
		r.NetworkPartitionID, r.PartitionID = ci.NetworkPartitionID, ci.PartitionID
	}
	return r
}

// ensureInstanceLocked returns the cluster instance, creating it (ClusterInstanceCreatedEvent)
// when it does not exist.
func (c *Controller) ensureInstanceLocked(cl *cluster, instanceID, npID, partitionID string) (*model.ClusterInstance, bool) {
	if ci := cl.Cluster.InstanceIDToInstanceContextMap[instanceID]; ci != nil {
		return ci, false
	}
	ci := &model.ClusterInstance{Alias: cl.Spec.Alias, InstanceID: instanceID, NetworkPartitionID: npID, PartitionID: partitionID}
	ci.LifeCycleStateManager.Identifier = cl.Spec.ClusterID + "_" + instanceID
	ci.LifeCycleStateManager.Push(model.ClusterCreated)
	cl.Cluster.InstanceIDToInstanceContextMap[instanceID] = ci
	c.emitLocked(&model.ClusterInstanceCreatedEvent{ServiceName: cl.Spec.ServiceName, ClusterID: cl.Spec.ClusterID,
		PartitionID: partitionID, NetworkPartitionID: npID, ClusterInstance: cloneClusterInstance(ci)},
		c.clusterRecord(cl, instanceID, "topology.ClusterInstanceCreatedEvent", string(model.ClusterCreated)))
	return ci, true
}

// handleClusterStatus turns a cluster/status event into the cluster instance transition and its
// topology event.
func (c *Controller) handleClusterStatus(e model.Event) {
	var (
		clusterID, instanceID string
		to                    model.ClusterStatus
		class                 string
		out                   func(cl *cluster) model.Event
	)
	base := func(cl *cluster, id string) model.ClusterResetEvent {
		return model.ClusterResetEvent{ServiceName: cl.Spec.ServiceName, ClusterID: cl.Spec.ClusterID, AppID: cl.Spec.AppID, InstanceID: id}
	}
	switch ev := e.(type) {
	case *model.ClusterStatusClusterInstanceCreatedEvent:
		c.mu.Lock()
		defer c.mu.Unlock()
		cl := c.clusters[ev.ClusterID]
		if cl == nil {
			c.stats.unknownMembers.Add(1)
			return
		}
		c.ensureInstanceLocked(cl, ev.InstanceID, "", "")
		c.putClusterLocked(cl)
		return
	case *model.ClusterStatusClusterActivatedEvent:
		clusterID, instanceID, to = ev.ClusterID, ev.InstanceID, model.ClusterActive
		class = "topology.ClusterInstanceActivatedEvent"
		out = func(cl *cluster) model.Event {
			return &model.ClusterInstanceActivatedEvent{ServiceName: cl.Spec.ServiceName, ClusterID: cl.Spec.ClusterID,
				AppID: cl.Spec.AppID, InstanceID: ev.InstanceID}
		}
	case *model.ClusterStatusClusterInactivateEvent:
		clusterID, instanceID, to = ev.ClusterID, ev.InstanceID, model.ClusterInactive
		class = "topology.ClusterInstanceInactivateEvent"
		out = func(cl *cluster) model.Event {
			e := model.ClusterInstanceInactivateEvent(base(cl, ev.InstanceID))
			return &e
		}
	case *model.ClusterStatusClusterResetEvent:
		clusterID, instanceID, to = ev.ClusterID, ev.InstanceID, model.ClusterCreated
		class = "topology.ClusterResetEvent"
		out = func(cl *cluster) model.Event { e := base(cl, ev.InstanceID); return &e }
	case *model.ClusterStatusClusterTerminatingEvent:
		clusterID, instanceID, to = ev.ClusterID, ev.InstanceID, model.ClusterTerminating
		class = "topology.ClusterInstanceTerminatingEvent"
		out = func(cl *cluster) model.Event {
			e := model.ClusterInstanceTerminatingEvent(base(cl, ev.InstanceID))
			return &e
		}
	case *model.ClusterStatusClusterTerminatedEvent:
		clusterID, instanceID, to = ev.ClusterID, ev.InstanceID, model.ClusterTerminated
		class = "topology.ClusterInstanceTerminatedEvent"
		out = func(cl *cluster) model.Event {
			e := model.ClusterInstanceTerminatedEvent(base(cl, ev.InstanceID))
			return &e
		}
	default:
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cl := c.clusters[clusterID]
	if cl == nil {
		c.stats.unknownMembers.Add(1)
		return
	}
	ci := cl.Cluster.InstanceIDToInstanceContextMap[instanceID]
	if ci == nil {
		c.stats.unknownMembers.Add(1)
		return
	}
	if err := ci.SetStatus(to); err != nil {
		c.invalidTransition("cluster_instance", clusterID+"/"+instanceID, err)
		return
	}
	rec := c.clusterRecord(cl, instanceID, class, string(to))
	if to == model.ClusterTerminated {
		delete(cl.Cluster.InstanceIDToInstanceContextMap, instanceID)
	}
	c.putClusterLocked(cl)
	c.emitLocked(out(cl), rec)
}

// addServicesLocked records the services a driver reported for a cluster: a new one (by id and
// Kubernetes cluster) is added, one that was recreated with other values replaces the old; the
// cluster is marked a Kubernetes cluster.
func (c *Controller) addServicesLocked(clusterID string, services []model.KubernetesService) {
	cl := c.clusters[clusterID]
	if cl == nil || len(services) == 0 {
		return
	}
	changed := false
	for _, s := range services {
		i := slices.IndexFunc(cl.Cluster.KubernetesServices, func(o model.KubernetesService) bool {
			return o.ID == s.ID && o.KubernetesClusterID == s.KubernetesClusterID
		})
		switch {
		case i < 0:
			cl.Cluster.KubernetesServices = append(cl.Cluster.KubernetesServices, s)
			changed = true
		case !reflect.DeepEqual(cl.Cluster.KubernetesServices[i], s):
			cl.Cluster.KubernetesServices[i] = s
			changed = true
		}
	}
	if changed {
		cl.Cluster.IsKubernetesCluster = true
		c.putClusterLocked(cl)
	}
}

// putClusterLocked writes a cluster's record; cluster changes are rare.
func (c *Controller) putClusterLocked(cl *cluster) {
	if err := c.put(bucketClusters, cl.Spec.ClusterID, clusterRecordOf(cl)); err != nil {
		c.log.Error("cannot write cluster state", "cluster_id", cl.Spec.ClusterID, "error", err)
	}
}

// invalidTransition counts a refused transition and logs the first ones and then every
// power of two, so a misbehaving agent cannot flood the log.
func (c *Controller) invalidTransition(entity, id string, err error) {
	n := c.stats.invalidTransitions.Add(1)
	if n <= 16 || n&(n-1) == 0 {
		c.log.Warn("invalid transition; no event published", "entity", entity, "id", id, "count", n, "error", err)
	}
}
