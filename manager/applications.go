package manager

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/strata-paas/strata/internal/model"
)

// Application statuses of the REST view (§5.7).
const (
	statusCreated     = "Created"
	statusDeployed    = "Deployed"
	statusUndeploying = "Undeploying"
)

// applicationRecord is an application as the manager keeps it. Repository passwords in Bean are
// encrypted with Key in Strata's AES-GCM form; Key is the application key (CARTRIDGE_KEY), stored
// wrapped by the secrets key (see secrets.go).
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

// checkStartupOrders checks that every alias of the startup orders of the application, and of the
// definition of each cartridge group it uses, names a cartridge or group directly inside that
// component ("cartridge.<alias>" or "group.<alias>"), with Stratos' text (§4.10). A group named in
// replace is checked with that definition instead of the stored one (a group update).
func (s *Server) checkStartupOrders(a *applicationBean, replace map[string]cartridgeGroup) []error {
	var errs []error
	check := func(d *dependencies, cartridges []cartridgeRef, groups []groupRef) {
		if d == nil {
			return
		}
		children := map[string]bool{}
		for _, c := range cartridges {
			children["cartridge."+c.SubscribableInfo.Alias] = true
		}
		for _, g := range groups {
			children["group."+g.Alias] = true
		}
		for _, o := range d.StartupOrders {
			for _, alias := range o.Aliases {
				if !children[alias] {
					errs = append(errs, fmt.Errorf("The startup-order defined in the [application] %s is not correct. [startup-order-alias] %s is not there in the application.", a.ApplicationID, alias))
				}
			}
		}
	}
	check(a.Components.Dependencies, a.Components.Cartridges, a.Components.Groups)
	var walk func(gs []groupRef)
	walk = func(gs []groupRef) {
		for _, g := range gs {
			def, ok := replace[g.Name]
			if !ok && s.store.get(bucketGroups, g.Name, &def) == nil {
				ok = true
			}
			if ok {
				check(def.Dependencies, g.Cartridges, g.Groups)
			}
			walk(g.Groups)
		}
	}
	walk(a.Components.Groups)
	return errs
}

// decodeApplication reads an application from the request and checks it; a wrong startup order
// is answered with Stratos' text alone, for its first wrong alias, as Stratos answers it.
func (s *Server) decodeApplication(w http.ResponseWriter, r *http.Request) (applicationBean, bool) {
	a, ok := decodeBody(w, r, "Application", func(a *applicationBean) error {
		a.Status, a.SignUpsExist = "", nil
		return errors.Join(a.validate(), s.checkApplication(a))
	})
	if !ok {
		return a, false
	}
	if errs := s.checkStartupOrders(&a, nil); len(errs) > 0 {
		writeError(w, http.StatusBadRequest, errs[0].Error())
		return a, false
	}
	return a, true
}

func (s *Server) addApplication(w http.ResponseWriter, r *http.Request) {
	bean, ok := s.decodeApplication(w, r)
	if !ok {
		return
	}
	u, _ := UserFrom(r.Context())
	s.mu.Lock()
	defer s.mu.Unlock()
	var other applicationRecord
	if err := s.store.get(bucketApplications, bean.ApplicationID, &other); err == nil {
		if visible(u, &other) {
			writeError(w, http.StatusConflict, "Application already exists: [application-id] "+bean.ApplicationID)
			return
		}
		// Another tenant's id: refused like any invalid application, so that the answer does not
		// tell that the id exists (issue 15).
		writeError(w, http.StatusBadRequest, "Application is not valid: applicationId "+bean.ApplicationID+" is not available: choose another id")
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
	if err := s.addToTree(&rec); err != nil {
		s.log.Warn("cannot give the application to the autoscaler", "application_id", bean.ApplicationID, "err", err)
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
	if rec.Status == statusDeployed {
		s.updateDeployed(w, r, &rec, bean)
		return
	}
	if rec.Status != statusCreated {
		writeError(w, http.StatusConflict, fmt.Sprintf("Application is %s: wait until it is undeployed before updating: [application-id] %s", strings.ToLower(rec.Status), bean.ApplicationID))
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
	if err := s.addToTree(&rec); err != nil {
		s.log.Warn("cannot give the application to the autoscaler", "application_id", bean.ApplicationID, "err", err)
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
	if t, ok := s.tree(); ok {
		t.RemoveApplication(id)
	}
	// Consumers learned of the application from ApplicationCreatedEvent: tell them it is gone,
	// with the clusters that event named.
	var data []model.ClusterDataHolder
	a.Bean.walkCartridges(func(c *cartridgeRef, _ string) {
		data = append(data, model.ClusterDataHolder{ServiceType: c.Type, ClusterID: model.ClusterID(id, c.SubscribableInfo.Alias, c.Type)})
	})
	s.publish(r.Context(), &model.ApplicationDeletedEvent{ApplicationID: id, ClusterData: data})
	writeSuccess(w, http.StatusOK, "Application deleted successfully: [application] "+id)
}
