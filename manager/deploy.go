package manager

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// buildClusters turns a deployed application into the clusters the controller creates and the
// cluster instances the autoscaler monitors: one instance per network partition of the
// application policy.
func (s *Server) buildClusters(a *applicationRecord, ap *policies.Application) ([]Cluster, error) {
	var out []Cluster
	var errs []error
	appID := a.Bean.ApplicationID
	a.Bean.walkCartridges(func(c *cartridgeRef, groupPolicy string) {
		var ct model.Cartridge
		if err := s.store.get(bucketCartridges, c.Type, &ct); err != nil {
			errs = append(errs, fmt.Errorf("cartridge %s: %w", c.Type, err))
			return
		}
		si := c.SubscribableInfo
		dp := si.DeploymentPolicy
		if dp == "" {
			dp = groupPolicy
		}
		multi := bool(ct.MultiTenant)
		cl := Cluster{
			ClusterID:        model.ClusterID(appID, si.Alias, c.Type),
			ServiceName:      c.Type,
			AppID:            appID,
			Alias:            si.Alias,
			HostNames:        []string{model.HostName(appID, si.Alias, ct.Host, multi)},
			AutoscalePolicy:  si.AutoscalingPolicy,
			DeploymentPolicy: dp,
			TenantRange:      strconv.Itoa(a.TenantID),
			TenantID:         strconv.Itoa(a.TenantID),
			Properties:       slices.Clone(si.Property),
		}
		if multi {
			cl.TenantRange = "*"
		}
		cl.Payload.Set("CARTRIDGE_KEY", a.Key)
		cl.Payload.Set("MULTITENANT", strconv.FormatBool(multi))
		if repo := si.ArtifactRepository; repo != nil && repo.RepoURL != "" {
			cl.Payload.Set("REPO_URL", repo.RepoURL)
		}
		if len(si.DependencyAliases) > 0 {
			cl.Payload.Set("DEPENDENCY_ALIASES", strings.Join(si.DependencyAliases, ","))
		}
		min, max := int(c.CartridgeMin), int(c.CartridgeMax)
		if si.MinMembers != nil {
			min = int(*si.MinMembers)
		}
		if si.MaxMembers != nil {
			max = int(*si.MaxMembers)
		}
		for i, np := range ap.NetworkPartitions {
			cl.Instances = append(cl.Instances, ClusterInstance{
				ClusterID: cl.ClusterID, InstanceID: model.InstanceID(appID, i+1), NetworkPartition: np,
				ServiceName: c.Type, ApplicationID: appID, TenantID: cl.TenantID, Min: min, Max: max,
				AutoscalePolicy: cl.AutoscalePolicy, DeploymentPolicy: dp,
			})
		}
		out = append(out, cl)
	})
	return out, errors.Join(errs...)
}

func (s *Server) deployApplication(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.loadApplication(w, r)
	if !ok {
		return
	}
	policyID := chi.URLParam(r, "applicationPolicyId")
	ap, found := s.opts.Policies.Set().Application(policyID)
	if !found {
		writeError(w, http.StatusBadRequest, "Application policy not found: [application-policy-id] "+policyID)
		return
	}
	code, err := s.deploy(r.Context(), a, ap, policyID)
	if err != nil {
		writeError(w, code, err.Error())
		return
	}
	writeSuccess(w, http.StatusAccepted, "Application deployed successfully: [application] "+a.Bean.ApplicationID)
}

// deploy creates the application's clusters and registers their instances with the autoscaler.
// Called with s.mu held; returns an HTTP status with the error.
func (s *Server) deploy(ctx context.Context, a *applicationRecord, ap *policies.Application, policyID string) (int, error) {
	id := a.Bean.ApplicationID
	if a.Status != statusCreated {
		return http.StatusConflict, fmt.Errorf("Application is already %s: [application-id] %s", strings.ToLower(a.Status), id)
	}
	if err := s.checkApplication(&a.Bean); err != nil {
		return http.StatusBadRequest, fmt.Errorf("Application is not valid: %s", errorText(err))
	}
	clusters, err := s.buildClusters(a, ap)
	if err != nil {
		return http.StatusBadRequest, fmt.Errorf("Application is not valid: %s", errorText(err))
	}
	if err := s.proxyPortConflict(id, clusters); err != nil {
		return http.StatusConflict, fmt.Errorf("Application could not be deployed: [application-id] %s: %s", id, err.Error())
	}
	if err := s.opts.Clusters.CreateApplicationClusters(ctx, id, clusters); err != nil {
		return http.StatusBadRequest, fmt.Errorf("Application could not be deployed: [application-id] %s: %s", id, err.Error())
	}
	a.Clusters = a.Clusters[:0]
	for _, c := range clusters {
		a.Clusters = append(a.Clusters, c.ClusterID)
	}
	if err := s.startInstances(a, clusters, policyID, ap.NetworkPartitions); err != nil {
		s.rollback(ctx, id, a.Clusters)
		return http.StatusBadRequest, fmt.Errorf("Application could not be deployed: [application-id] %s: %s", id, err.Error())
	}
	a.Status, a.ApplicationPolicy, a.NetworkPartitions = statusDeployed, policyID, ap.NetworkPartitions
	if err := s.store.put(bucketApplications, id, a); err != nil {
		s.rollback(ctx, id, a.Clusters)
		return http.StatusInternalServerError, err
	}
	if !bool(a.Bean.MultiTenant) {
		s.autoSignUp(ctx, a, clusters)
	}
	s.log.Info("application deployed", "application_id", id, "application_policy", policyID, "clusters", len(clusters))
	return 0, nil
}

// startInstances has the autoscaler monitor the application's instances: through its monitor
// tree, which creates the group and cluster instances in startup order, or (a Scaler without
// one) by registering every cluster instance at once.
func (s *Server) startInstances(a *applicationRecord, clusters []Cluster, policyID string, nps []string) error {
	if t, ok := s.tree(); ok {
		rec := *a
		rec.ApplicationPolicy = policyID
		if err := s.addToTree(&rec); err != nil {
			return err
		}
		return t.DeployApplication(a.Bean.ApplicationID, nps)
	}
	for _, c := range clusters {
		for _, in := range c.Instances {
			if err := s.opts.Scaler.RegisterCluster(in); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) rollback(ctx context.Context, appID string, clusters []string) {
	if t, ok := s.tree(); ok {
		t.UndeployApplication(appID, true)
	}
	for _, c := range clusters {
		s.opts.Scaler.RemoveCluster(c)
	}
	if err := s.opts.Clusters.RemoveApplicationClusters(ctx, appID); err != nil {
		s.log.Warn("cannot roll back a failed deployment", "application_id", appID, "err", err)
	}
}

func (s *Server) undeployApplication(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.loadApplication(w, r)
	if !ok {
		return
	}
	force := r.URL.Query().Get("force") == "true"
	if err := s.undeploy(r.Context(), a, force); err != nil {
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	writeSuccess(w, http.StatusAccepted, "Application undeployed successfully: [application] "+a.Bean.ApplicationID)
}

// undeploy stops the autoscaling of the application's clusters, removes its automatic sign-up
// (ApplicationSignUpRemovedEvent, first, as Stratos does), announces its application instances
// Terminating and removes the clusters in the background (removeInBackground); the application
// returns to Created when the controller is done (at once with force). Called with s.mu held.
func (s *Server) undeploy(ctx context.Context, a *applicationRecord, force bool) error {
	id := a.Bean.ApplicationID
	if a.Status == statusCreated || (a.Status == statusUndeploying && !force) {
		return fmt.Errorf("Application is not deployed: [application-id] %s", id)
	}
	for _, c := range a.Clusters {
		s.opts.Scaler.RemoveCluster(c)
	}
	a.Status = statusUndeploying
	if force {
		a.Status = statusCreated
	}
	if err := s.store.put(bucketApplications, id, a); err != nil {
		return err
	}
	s.removeAutoSignUp(ctx, a)
	for _, iid := range applicationInstances(a) {
		s.publish(ctx, &model.ApplicationInstanceTerminatingEvent{AppID: id, InstanceID: iid})
	}
	if t, ok := s.tree(); ok {
		t.UndeployApplication(id, false) // its group instances Terminating, top-down; removeInBackground ends it
	}
	s.removeInBackground(*a)
	return nil
}

// applicationInstances are the ids of a deployed application's instances: one per network
// partition of its application policy, as buildClusters names them.
func applicationInstances(a *applicationRecord) []string {
	out := make([]string, len(a.NetworkPartitions))
	for i := range a.NetworkPartitions {
		out[i] = model.InstanceID(a.Bean.ApplicationID, i+1)
	}
	return out
}

// removeAutoSignUp removes the sign-up a single-tenant application got when it was deployed and
// publishes ApplicationSignUpRemovedEvent, so that the agents run their removal extension.
func (s *Server) removeAutoSignUp(ctx context.Context, a *applicationRecord) {
	if bool(a.Bean.MultiTenant) {
		return
	}
	key := signUpKey(a.Bean.ApplicationID, a.TenantID)
	if !s.store.has(bucketSignUps, key) {
		return
	}
	if err := s.store.delete(bucketSignUps, key); err != nil {
		s.log.Warn("cannot remove the automatic signup", "application_id", a.Bean.ApplicationID, "err", err)
		return
	}
	s.publish(ctx, &model.ApplicationSignUpRemovedEvent{ApplicationID: a.Bean.ApplicationID, TenantID: model.Int(a.TenantID)})
}

// publish publishes an event when the server has a bus; a failure is logged.
func (s *Server) publish(ctx context.Context, e model.Event) {
	if s.opts.Bus == nil {
		return
	}
	if err := s.opts.Bus.PublishEvent(ctx, e); err != nil {
		s.log.Warn("cannot publish an event", "event", e.EventClass(), "err", err)
	}
}

// removeInBackground has the controller remove the clusters of an application being undeployed
// (a, as stored when the undeploy began) and, once they are gone, publishes
// ApplicationInstanceTerminatedEvent for each application instance and ApplicationDeletedEvent
// (Stratos' end of an undeploy) and returns the application to Created (or removes it). Run's
// end stops the removal: the application stays Undeploying and resync resumes it at the next
// start.
func (s *Server) removeInBackground(a applicationRecord) {
	id := a.Bean.ApplicationID
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-s.stopping:
				cancel()
			case <-ctx.Done():
			}
		}()
		err := s.opts.Clusters.RemoveApplicationClusters(ctx, id)
		if err != nil {
			select {
			case <-s.stopping:
				s.log.Info("undeploy interrupted by the shutdown; it resumes at the next start", "application_id", id)
				return
			default:
			}
			s.log.Warn("undeploy", "application_id", id, "err", err)
		} else {
			// The tree makes what is left of the instances Terminated, bottom-up, and publishes
			// ApplicationInstanceTerminatedEvent; without it (or without the application's
			// instances in it: an undeploy resumed after a restart) the manager does.
			s.mu.Lock()
			var cur applicationRecord
			redeployed := s.store.get(bucketApplications, id, &cur) == nil && cur.Status == statusDeployed
			s.mu.Unlock()
			t, ok := s.tree()
			if !ok || redeployed || t.UndeployApplication(id, true) == 0 {
				for _, iid := range applicationInstances(&a) {
					s.publish(ctx, &model.ApplicationInstanceTerminatedEvent{AppID: id, InstanceID: iid})
				}
			}
			data := make([]model.ClusterDataHolder, 0, len(a.Clusters))
			for _, c := range a.Clusters {
				data = append(data, model.ClusterDataHolder{ServiceType: serviceOf(c), ClusterID: c})
			}
			s.publish(ctx, &model.ApplicationDeletedEvent{ApplicationID: id, ClusterData: data})
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		var cur applicationRecord
		if s.store.get(bucketApplications, id, &cur) != nil || (err != nil && cur.Status == statusUndeploying) {
			return
		}
		if cur.Status == statusDeployed {
			return // deployed again after a forced undeploy: leave the new deployment alone
		}
		if cur.RemoveWhenUndeployed {
			_ = s.store.delete(bucketApplications, id)
			s.removeSignUps(id)
			s.log.Info("application removed", "application_id", id)
			return
		}
		cur.Status, cur.Clusters, cur.ApplicationPolicy, cur.NetworkPartitions = statusCreated, nil, "", nil
		if err := s.store.put(bucketApplications, id, cur); err != nil {
			s.log.Warn("undeploy", "application_id", id, "err", err)
		}
		s.log.Info("application undeployed", "application_id", id)
	}()
}

// serviceOf is the cartridge type in a cluster id (<app>.<alias>.<cartridge>.domain).
func serviceOf(clusterID string) string {
	parts := strings.Split(clusterID, ".")
	if len(parts) >= 4 {
		return parts[len(parts)-2]
	}
	return ""
}

// proxyPortConflict refuses clusters whose host routing would collide on the load balancer with
// a cluster of another application. The load balancer finds a request's cluster by its proxy
// port and then its host name (lb's table: port -> host -> cluster); two clusters with the same
// host name on one proxy port leave only one of them in the table, and which one can change on
// every topology change: the other's requests go to the wrong application. Clusters of other
// applications on the same port with other host names are fine (as in Stratos, where every
// sample uses 8280): each gets the requests for its own host names.
func (s *Server) proxyPortConflict(appID string, clusters []Cluster) error {
	top := s.opts.Clusters.Topology()
	if top == nil {
		return nil
	}
	ports := map[string][]int{} // proxy ports by cartridge type
	proxyPorts := func(cartridge string) []int {
		if p, ok := ports[cartridge]; ok {
			return p
		}
		var ct model.Cartridge
		var out []int
		if s.store.get(bucketCartridges, cartridge, &ct) == nil {
			for _, pm := range ct.PortMapping {
				if pm.ProxyPort > 0 {
					out = append(out, int(pm.ProxyPort))
				}
			}
		}
		ports[cartridge] = out
		return out
	}
	type route struct {
		port int
		host string
	}
	taken := map[route]*model.Cluster{}
	var others []*model.Cluster
	for _, svc := range top.ServiceMap {
		for _, c := range svc.ClusterIDClusterMap {
			others = append(others, c)
		}
	}
	for _, c := range top.ClusterMap {
		others = append(others, c)
	}
	// The same order every time, so the error names the same cluster.
	sort.Slice(others, func(i, j int) bool { return others[i].ClusterID < others[j].ClusterID })
	for _, c := range others {
		if c.AppID == appID {
			continue
		}
		for _, p := range proxyPorts(c.ServiceName) {
			for _, h := range c.HostNames {
				k := route{p, strings.ToLower(h)}
				if taken[k] == nil {
					taken[k] = c
				}
			}
		}
	}
	var errs []error
	for _, c := range clusters {
		for _, p := range proxyPorts(c.ServiceName) {
			for _, h := range c.HostNames {
				if o := taken[route{p, strings.ToLower(h)}]; o != nil {
					errs = append(errs, fmt.Errorf("proxy port %d with host name %s of cluster %s is already routed to cluster %s of application %s",
						p, h, c.ClusterID, o.ClusterID, o.AppID))
				}
			}
		}
	}
	return errors.Join(errs...)
}
