package manager

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// Application statuses of the REST view (§5.7).
const (
	statusCreated     = "Created"
	statusDeployed    = "Deployed"
	statusUndeploying = "Undeploying"
)

// applicationRecord is an application as the manager keeps it. Repository passwords in Bean are
// encrypted with Key in Strata's AES-GCM form; Key is the application key (CARTRIDGE_KEY).
type applicationRecord struct {
	Bean              applicationBean `json:"bean"`
	Status            string          `json:"status"`
	ApplicationPolicy string          `json:"applicationPolicy,omitempty"`
	Key               string          `json:"key"`
	TenantID          int             `json:"tenantId"`
	TenantDomain      string          `json:"tenantDomain"`
	Owner             string          `json:"owner"`
	Agent             string          `json:"agent,omitempty"` // agentStratos or agentStrata
	Clusters          []string        `json:"clusters,omitempty"`
	NetworkPartitions []string        `json:"networkPartitions,omitempty"` // where it was deployed
	Subscription      bool            `json:"subscription,omitempty"`      // made by POST /subscriptions
	// RemoveWhenUndeployed: the subscription is gone; remove the application once undeployed.
	RemoveWhenUndeployed bool `json:"removeWhenUndeployed,omitempty"`
}

// newKey generates an application key: 16 random alphanumeric characters (§1.5.3).
func newKey() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// sealRepositories encrypts the clear repository passwords of the bean under key.
func sealRepositories(a *applicationBean, key string) error {
	var errs []error
	a.walkCartridges(func(c *cartridgeRef, _ string) {
		if r := c.SubscribableInfo.ArtifactRepository; r != nil && r.RepoPassword != "" && !strings.HasPrefix(r.RepoPassword, model.PasswordGCMPrefix) {
			enc, err := model.EncryptPassword(key, r.RepoPassword)
			if err != nil {
				errs = append(errs, err)
			}
			r.RepoPassword = enc
		}
	})
	return errors.Join(errs...)
}

// view is the bean as GET returns it: with its status and without repository passwords.
func (a applicationRecord) view() applicationBean {
	b := a.Bean
	b.Components = cloneComponents(b.Components)
	b.walkCartridges(func(c *cartridgeRef, _ string) {
		if r := c.SubscribableInfo.ArtifactRepository; r != nil {
			cp := *r
			cp.RepoPassword = ""
			c.SubscribableInfo.ArtifactRepository = &cp
		}
	})
	b.Status = a.Status
	return b
}

func cloneComponents(c components) components {
	c.Cartridges = slices.Clone(c.Cartridges)
	gs := slices.Clone(c.Groups)
	for i := range gs {
		inner := cloneComponents(components{Cartridges: gs[i].Cartridges, Groups: gs[i].Groups})
		gs[i].Cartridges, gs[i].Groups = inner.Cartridges, inner.Groups
	}
	c.Groups = gs
	return c
}

// visible reports whether the user may see the application: the super tenant's admins see every
// application, everyone else those of their tenant.
func visible(u User, a *applicationRecord) bool {
	return (u.TenantDomain == SuperTenantDomain && u.Role == RoleAdmin) || u.TenantDomain == a.TenantDomain
}

// loadApplication fetches an application the caller may see, answering 404 otherwise.
func (s *Server) loadApplication(w http.ResponseWriter, r *http.Request) (*applicationRecord, bool) {
	id := chi.URLParam(r, "appId")
	var a applicationRecord
	u, _ := UserFrom(r.Context())
	if err := s.store.get(bucketApplications, id, &a); err != nil || !visible(u, &a) {
		writeError(w, http.StatusNotFound, "Application not found: [application-id] "+id)
		return nil, false
	}
	return &a, true
}

// checkApplication checks the application's references: cartridges, groups and policies must
// exist. Every problem is reported.
func (s *Server) checkApplication(a *applicationBean) error {
	var errs []error
	set := s.opts.Policies.Set()
	a.walkCartridges(func(c *cartridgeRef, groupPolicy string) {
		si := c.SubscribableInfo
		if !s.store.has(bucketCartridges, c.Type) {
			errs = append(errs, fmt.Errorf("cartridge %s (alias %s): no such cartridge", c.Type, si.Alias))
		}
		if si.AutoscalingPolicy != "" {
			if _, ok := set.Autoscaling(si.AutoscalingPolicy); !ok {
				errs = append(errs, fmt.Errorf("cartridge %s (alias %s): autoscalingPolicy %s: no such policy", c.Type, si.Alias, si.AutoscalingPolicy))
			}
		}
		dp := si.DeploymentPolicy
		if dp == "" {
			dp = groupPolicy
		}
		if dp == "" {
			errs = append(errs, fmt.Errorf("cartridge %s (alias %s): subscribableInfo.deploymentPolicy is required (here or on its group)", c.Type, si.Alias))
		} else if _, ok := set.Deployment(dp); !ok {
			errs = append(errs, fmt.Errorf("cartridge %s (alias %s): deploymentPolicy %s: no such policy", c.Type, si.Alias, dp))
		}
	})
	var walk func(gs []groupRef)
	walk = func(gs []groupRef) {
		for _, g := range gs {
			if !s.store.has(bucketGroups, g.Name) {
				errs = append(errs, fmt.Errorf("group %s (alias %s): no such cartridge group", g.Name, g.Alias))
			}
			walk(g.Groups)
		}
	}
	walk(a.Components.Groups)
	return errors.Join(errs...)
}

func (s *Server) decodeApplication(w http.ResponseWriter, r *http.Request) (applicationBean, bool) {
	return decodeBody(w, r, "Application", func(a *applicationBean) error {
		a.Status, a.SignUpsExist = "", nil
		return errors.Join(a.validate(), s.checkApplication(a))
	})
}

func (s *Server) addApplication(w http.ResponseWriter, r *http.Request) {
	bean, ok := s.decodeApplication(w, r)
	if !ok {
		return
	}
	u, _ := UserFrom(r.Context())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.store.has(bucketApplications, bean.ApplicationID) {
		writeError(w, http.StatusConflict, "Application already exists: [application-id] "+bean.ApplicationID)
		return
	}
	tenantID, err := s.tenantID(u.TenantDomain)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	rec := applicationRecord{Bean: bean, Status: statusCreated, Key: newKey(), TenantID: tenantID,
		TenantDomain: u.TenantDomain, Owner: u.Name, Agent: agentOf(bean.Property)}
	if err := sealRepositories(&rec.Bean, rec.Key); err != nil {
		writeError(w, http.StatusInternalServerError, "encrypt repository password: "+err.Error())
		return
	}
	if err := s.store.put(bucketApplications, bean.ApplicationID, rec); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.log.Info("application added", "application_id", bean.ApplicationID, "tenant", u.TenantDomain)
	created(w, r, bean.ApplicationID, "Application added successfully: [application] "+bean.ApplicationID)
}

// agentOf reads the application property strata.agent ("stratos" or "strata"): the form of the
// repository password in ArtifactUpdatedEvent for the application's clusters.
func agentOf(props []model.NameValue) string {
	if v, ok := model.LookupProperty(props, "strata.agent"); ok && v == agentStrata {
		return agentStrata
	}
	return agentStratos
}

func (s *Server) updateApplication(w http.ResponseWriter, r *http.Request) {
	bean, ok := s.decodeApplication(w, r)
	if !ok {
		return
	}
	u, _ := UserFrom(r.Context())
	s.mu.Lock()
	defer s.mu.Unlock()
	var rec applicationRecord
	if err := s.store.get(bucketApplications, bean.ApplicationID, &rec); err != nil || !visible(u, &rec) {
		writeError(w, http.StatusNotFound, "Application not found: [application-id] "+bean.ApplicationID)
		return
	}
	if rec.Status != statusCreated {
		writeError(w, http.StatusConflict, fmt.Sprintf("Application is %s: undeploy it before updating: [application-id] %s", strings.ToLower(rec.Status), bean.ApplicationID))
		return
	}
	rec.Bean, rec.Agent = bean, agentOf(bean.Property)
	if err := sealRepositories(&rec.Bean, rec.Key); err != nil {
		writeError(w, http.StatusInternalServerError, "encrypt repository password: "+err.Error())
		return
	}
	if err := s.store.put(bucketApplications, bean.ApplicationID, rec); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	created(w, r, bean.ApplicationID, "Application updated successfully: [application] "+bean.ApplicationID)
}

func (s *Server) listApplications(w http.ResponseWriter, r *http.Request) {
	u, _ := UserFrom(r.Context())
	apps, err := list[applicationRecord](s.store, bucketApplications, "")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := []applicationBean{}
	for i := range apps {
		if visible(u, &apps[i]) {
			out = append(out, apps[i].view())
		}
	}
	if len(out) == 0 {
		writeError(w, http.StatusNotFound, "No applications found")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getApplication(w http.ResponseWriter, r *http.Request) {
	a, ok := s.loadApplication(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, a.view())
}

func (s *Server) removeApplication(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.loadApplication(w, r)
	if !ok {
		return
	}
	id := a.Bean.ApplicationID
	if a.Status != statusCreated {
		writeError(w, http.StatusConflict, fmt.Sprintf("Application is %s: undeploy it before removing: [application-id] %s", strings.ToLower(a.Status), id))
		return
	}
	if err := s.store.delete(bucketApplications, id); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.removeSignUps(id)
	writeSuccess(w, http.StatusOK, "Application deleted successfully: [application] "+id)
}

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
		for _, in := range c.Instances {
			if err := s.opts.Scaler.RegisterCluster(in); err != nil {
				s.rollback(ctx, id, a.Clusters)
				return http.StatusBadRequest, fmt.Errorf("Application could not be deployed: [application-id] %s: %s", id, err.Error())
			}
		}
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

func (s *Server) rollback(ctx context.Context, appID string, clusters []string) {
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
	if err := s.undeploy(a, force); err != nil {
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	writeSuccess(w, http.StatusAccepted, "Application undeployed successfully: [application] "+a.Bean.ApplicationID)
}

// undeploy stops the autoscaling of the application's clusters and removes them in the
// background; the application returns to Created when the controller is done (at once with
// force). Called with s.mu held.
func (s *Server) undeploy(a *applicationRecord, force bool) error {
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
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		err := s.opts.Clusters.RemoveApplicationClusters(ctx, id)
		if err != nil {
			s.log.Warn("undeploy", "application_id", id, "err", err)
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
		if !bool(cur.Bean.MultiTenant) {
			_ = s.store.delete(bucketSignUps, signUpKey(id, cur.TenantID))
		}
		s.log.Info("application undeployed", "application_id", id)
	}()
	return nil
}

func (s *Server) getApplicationNetworkPartitions(w http.ResponseWriter, r *http.Request) {
	a, ok := s.loadApplication(w, r)
	if !ok {
		return
	}
	ids := []string{}
	if ap, ok := s.opts.Policies.Set().Application(a.ApplicationPolicy); ok {
		ids = ap.NetworkPartitions
	}
	writeJSON(w, http.StatusOK, applicationNetworkPartitions{NetworkPartitionIDs: ids})
}

// Runtime view (§5.11).

type applicationInfoBean struct {
	ID                   string                `json:"id"`
	Name                 string                `json:"name,omitempty"`
	Status               string                `json:"status"`
	Description          string                `json:"description,omitempty"`
	TenantDomain         string                `json:"tenantDomain"`
	TenantAdminUsername  string                `json:"tenantAdminUsername,omitempty"`
	ApplicationInstances []applicationInstance `json:"applicationInstances"`
}

type applicationInstance struct {
	Status           string            `json:"status"`
	InstanceID       string            `json:"instanceId"`
	ApplicationID    string            `json:"applicationId"`
	GroupInstances   []any             `json:"groupInstances"`
	ClusterInstances []clusterInstance `json:"clusterInstances"`
}

type clusterInstance struct {
	Status           string       `json:"status"`
	InstanceID       string       `json:"instanceId"`
	ParentInstanceID string       `json:"parentInstanceId,omitempty"`
	Alias            string       `json:"alias,omitempty"`
	ServiceName      string       `json:"serviceName"`
	ClusterID        string       `json:"clusterId"`
	Member           []memberBean `json:"member"`
	TenantRange      string       `json:"tenantRange,omitempty"`
	HostNames        []string     `json:"hostNames"`
	AccessURLs       []string     `json:"accessUrls"`
	LoadBalancerIPs  []string     `json:"loadBalancerIps"`
	// StartFailure is why the last start of a member of the instance failed, while none
	// became Active since (Strata's addition to Stratos' bean).
	StartFailure *StartFailure `json:"startFailure,omitempty"`
}

type memberBean struct {
	ServiceName        string       `json:"serviceName"`
	ClusterID          string       `json:"clusterId"`
	ClusterInstanceID  string       `json:"clusterInstanceId,omitempty"`
	NetworkPartitionID string       `json:"networkPartitionId,omitempty"`
	PartitionID        string       `json:"partitionId,omitempty"`
	MemberID           string       `json:"memberId"`
	InstanceID         string       `json:"instanceId,omitempty"`
	Status             string       `json:"status"`
	DefaultPrivateIP   string       `json:"defaultPrivateIP,omitempty"`
	MemberPrivateIPs   []string     `json:"memberPrivateIPs,omitempty"`
	LbClusterID        string       `json:"lbClusterId,omitempty"`
	DefaultPublicIP    string       `json:"defaultPublicIP,omitempty"`
	MemberPublicIPs    []string     `json:"memberPublicIPs,omitempty"`
	Ports              []model.Port `json:"ports,omitempty"`
}

// runtime builds the runtime view of an application from the topology.
func (s *Server) runtime(a *applicationRecord) applicationInfoBean {
	info := applicationInfoBean{ID: a.Bean.ApplicationID, Name: a.Bean.Name, Status: a.Status,
		Description: a.Bean.Description, TenantDomain: a.TenantDomain, TenantAdminUsername: a.Owner,
		ApplicationInstances: []applicationInstance{}}
	top := s.opts.Clusters.Topology()
	if top == nil {
		return info
	}
	instances := map[string]*applicationInstance{}
	var clusters []*model.Cluster
	for _, svc := range top.ServiceMap {
		for _, c := range svc.ClusterIDClusterMap {
			if c.AppID == a.Bean.ApplicationID {
				clusters = append(clusters, c)
			}
		}
	}
	for _, c := range top.ClusterMap {
		if c.AppID == a.Bean.ApplicationID && !slices.Contains(clusters, c) {
			clusters = append(clusters, c)
		}
	}
	sort.Slice(clusters, func(i, j int) bool { return clusters[i].ClusterID < clusters[j].ClusterID })
	alias := map[string]string{}
	a.Bean.walkCartridges(func(c *cartridgeRef, _ string) {
		alias[model.ClusterID(a.Bean.ApplicationID, c.SubscribableInfo.Alias, c.Type)] = c.SubscribableInfo.Alias
	})
	for _, c := range clusters {
		ids := map[string]bool{}
		for id := range c.InstanceIDToInstanceContextMap {
			ids[id] = true
		}
		// A start refused before its cluster instance was created still shows, on the instance
		// the autoscaler asked for.
		failure, failed := s.opts.Clusters.StartFailure(c.ClusterID)
		if failed && failure.ClusterInstanceID != "" {
			ids[failure.ClusterInstanceID] = true
		}
		for _, m := range c.MemberMap {
			if m.ClusterInstanceID != "" {
				ids[m.ClusterInstanceID] = true
			}
		}
		sorted := make([]string, 0, len(ids))
		for id := range ids {
			sorted = append(sorted, id)
		}
		sort.Strings(sorted)
		for _, iid := range sorted {
			ci := clusterInstance{InstanceID: iid, ParentInstanceID: iid, Alias: alias[c.ClusterID], ServiceName: c.ServiceName,
				ClusterID: c.ClusterID, Member: []memberBean{}, TenantRange: c.TenantRange,
				HostNames: nonNil(c.HostNames), AccessURLs: []string{}, LoadBalancerIPs: nonNil(c.LoadBalancerIPs), Status: string(model.ClusterCreated)}
			if inst := c.InstanceIDToInstanceContextMap[iid]; inst != nil {
				ci.Status = string(inst.Status())
				if inst.ParentID != "" {
					ci.ParentInstanceID = inst.ParentID
				}
			}
			for _, u := range c.AccessURLs {
				ci.AccessURLs = append(ci.AccessURLs, u...)
			}
			if failed && (failure.ClusterInstanceID == "" || failure.ClusterInstanceID == iid) {
				ci.StartFailure = &failure
			}
			for _, m := range c.MemberMap {
				if m.ClusterInstanceID != iid {
					continue
				}
				mb := memberBean{ServiceName: m.ServiceName, ClusterID: m.ClusterID, ClusterInstanceID: m.ClusterInstanceID,
					NetworkPartitionID: m.NetworkPartitionID, PartitionID: m.PartitionID, MemberID: m.MemberID,
					InstanceID: m.InstanceID, Status: string(m.Status()), DefaultPrivateIP: m.DefaultPrivateIP,
					MemberPrivateIPs: m.MemberPrivateIPs, LbClusterID: m.LbClusterID, DefaultPublicIP: m.DefaultPublicIP,
					MemberPublicIPs: m.MemberPublicIPs}
				for _, p := range m.PortMap {
					mb.Ports = append(mb.Ports, p)
				}
				sort.Slice(mb.Ports, func(i, j int) bool { return mb.Ports[i].Proxy < mb.Ports[j].Proxy })
				ci.Member = append(ci.Member, mb)
			}
			sort.Slice(ci.Member, func(i, j int) bool { return ci.Member[i].MemberID < ci.Member[j].MemberID })
			ai := instances[ci.ParentInstanceID]
			if ai == nil {
				ai = &applicationInstance{InstanceID: ci.ParentInstanceID, ApplicationID: a.Bean.ApplicationID, Status: string(model.ApplicationActive),
					GroupInstances: []any{}}
				instances[ci.ParentInstanceID] = ai
			}
			if ci.Status != string(model.ClusterActive) {
				ai.Status = string(model.ApplicationInactive)
			}
			ai.ClusterInstances = append(ai.ClusterInstances, ci)
		}
	}
	keys := make([]string, 0, len(instances))
	for k := range instances {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		info.ApplicationInstances = append(info.ApplicationInstances, *instances[k])
	}
	return info
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *Server) getRuntime(w http.ResponseWriter, r *http.Request) {
	a, ok := s.loadApplication(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.runtime(a))
}

func (s *Server) getCluster(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "clusterId")
	u, _ := UserFrom(r.Context())
	top := s.opts.Clusters.Topology()
	var c *model.Cluster
	if top != nil {
		c = top.Cluster(id)
	}
	if c == nil {
		writeError(w, http.StatusNotFound, "Cluster not found: [cluster-id] "+id)
		return
	}
	var a applicationRecord
	if err := s.store.get(bucketApplications, c.AppID, &a); err != nil || !visible(u, &a) {
		writeError(w, http.StatusNotFound, "Cluster not found: [cluster-id] "+id)
		return
	}
	for _, ai := range s.runtime(&a).ApplicationInstances {
		for _, ci := range ai.ClusterInstances {
			if ci.ClusterID == id {
				writeJSON(w, http.StatusOK, ci)
				return
			}
		}
	}
	writeJSON(w, http.StatusOK, clusterInstance{ClusterID: id, ServiceName: c.ServiceName, Member: []memberBean{}, HostNames: nonNil(c.HostNames), AccessURLs: []string{}, LoadBalancerIPs: []string{}})
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
