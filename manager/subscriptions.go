package manager

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// Subscriptions are Stratos 4.0's cartridge subscriptions in one call (POST /api/subscriptions):
//
//   - single-tenant cartridge: an application of one cartridge is created for the subscription
//     (id = alias in the super tenant, alias-<tenantId> elsewhere), its artifact repository kept
//     with the password encrypted under the application key (the subscription key), and it is
//     deployed at once: one cluster per subscription;
//   - multi-tenant cartridge: one shared application and cluster per cartridge type ("shared-"
//     + type, owned by the super tenant), deployed by the first subscription; each tenant's
//     subscription is a sign-up of that application, so ArtifactUpdatedEvent carries the
//     tenant's id and the agent checks out into the tenant's own path (tenant.repository.path).

// subscriptionRecord is a subscription as the manager keeps it, under "<tenantDomain>/<alias>".
type subscriptionRecord struct {
	Alias             string    `json:"alias"`
	CartridgeType     string    `json:"cartridgeType"`
	TenantID          int       `json:"tenantId"`
	TenantDomain      string    `json:"tenantDomain"`
	ApplicationID     string    `json:"applicationId"`
	ClusterID         string    `json:"clusterId"`
	MultiTenant       bool      `json:"multiTenant"`
	AutoscalingPolicy string    `json:"autoscalingPolicy"`
	DeploymentPolicy  string    `json:"deploymentPolicy"`
	RepoURL           string    `json:"repoUrl,omitempty"`
	SubscriptionKey   string    `json:"subscriptionKey"`
	Owner             string    `json:"owner"`
	Created           time.Time `json:"created"`
}

// subscriptionView is what GET returns: the record, the application status and member counts.
type subscriptionView struct {
	subscriptionRecord
	Status        string `json:"status"`
	ActiveMembers int    `json:"activeMembers"`
	Members       int    `json:"members"`
}

func subscriptionKey(domain, alias string) string { return domain + "/" + alias }

func (s *Server) addSubscription(w http.ResponseWriter, r *http.Request) {
	var q subscriptionRequest
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if err := decodeStrict(body, &q); err != nil {
		writeError(w, http.StatusBadRequest, "Subscription is not valid: "+err.Error())
		return
	}
	if err := q.validate(); err != nil {
		writeError(w, http.StatusBadRequest, "Subscription is not valid: "+errorText(err))
		return
	}
	u, _ := UserFrom(r.Context())
	s.mu.Lock()
	defer s.mu.Unlock()
	tenantID, err := s.tenantID(u.TenantDomain)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if s.store.has(bucketSubscriptions, subscriptionKey(u.TenantDomain, q.Alias)) {
		writeError(w, http.StatusConflict, "Subscription already exists: [alias] "+q.Alias)
		return
	}
	var ct model.Cartridge
	var errs []string
	if err := s.store.get(bucketCartridges, q.CartridgeType, &ct); err != nil {
		errs = append(errs, "cartridgeType "+q.CartridgeType+": no such cartridge")
	}
	set := s.opts.Policies.Set()
	if _, ok := set.Autoscaling(q.AutoscalingPolicy); !ok {
		errs = append(errs, "autoscalingPolicy "+q.AutoscalingPolicy+": no such policy")
	}
	dp, ok := set.Deployment(q.DeploymentPolicy)
	if !ok {
		errs = append(errs, "deploymentPolicy "+q.DeploymentPolicy+": no such policy")
	}
	if len(errs) > 0 {
		writeError(w, http.StatusBadRequest, "Subscription is not valid: "+joinMsgs(errs))
		return
	}
	ap := &policies.Application{}
	for _, np := range dp.NetworkPartitions {
		ap.NetworkPartitions = append(ap.NetworkPartitions, np.ID)
	}
	lo, hi := int(q.Min), int(q.Max)
	if lo == 0 {
		lo = 1
	}
	if hi == 0 {
		hi = max(lo, 5)
	}
	agent := q.Agent
	if agent == "" {
		agent = agentStratos
	}
	sub := subscriptionRecord{Alias: q.Alias, CartridgeType: q.CartridgeType, TenantID: tenantID, TenantDomain: u.TenantDomain,
		MultiTenant: bool(ct.MultiTenant), AutoscalingPolicy: q.AutoscalingPolicy, DeploymentPolicy: q.DeploymentPolicy,
		RepoURL: q.RepoURL, Owner: u.Name, Created: time.Now().UTC()}
	repo := &artifactRepository{PrivateRepo: q.PrivateRepo, RepoURL: q.RepoURL, RepoUsername: q.RepoUsername, RepoPassword: q.RepoPassword}
	if q.RepoURL == "" {
		repo = nil
	}
	ref := func(alias string) cartridgeRef {
		return cartridgeRef{Type: q.CartridgeType, CartridgeMin: model.Int(lo), CartridgeMax: model.Int(hi),
			SubscribableInfo: subscribableInfo{Alias: alias, AutoscalingPolicy: q.AutoscalingPolicy, DeploymentPolicy: q.DeploymentPolicy, ArtifactRepository: repo}}
	}
	var a applicationRecord
	if !sub.MultiTenant {
		sub.ApplicationID = q.Alias
		if tenantID != SuperTenantID {
			sub.ApplicationID = q.Alias + "-" + strconv.Itoa(tenantID)
		}
		if s.store.has(bucketApplications, sub.ApplicationID) {
			writeError(w, http.StatusConflict, "Application already exists: [application-id] "+sub.ApplicationID)
			return
		}
		a = applicationRecord{Bean: applicationBean{ApplicationID: sub.ApplicationID, Alias: q.Alias, Name: q.Alias,
			Components: components{Cartridges: []cartridgeRef{ref(q.Alias)}}},
			Status: statusCreated, Key: newKey(), TenantID: tenantID, TenantDomain: u.TenantDomain, Owner: u.Name, Agent: agent, Subscription: true}
		sub.SubscriptionKey = a.Key
		sub.ClusterID = model.ClusterID(sub.ApplicationID, q.Alias, q.CartridgeType)
		if err := sealRepositories(&a.Bean, a.Key); err != nil {
			writeError(w, http.StatusInternalServerError, "encrypt repository password: "+err.Error())
			return
		}
		if code, err := s.deploy(r.Context(), &a, ap, ""); err != nil {
			writeError(w, code, err.Error())
			return
		}
	} else {
		sub.ApplicationID = "shared-" + q.CartridgeType
		sub.ClusterID = model.ClusterID(sub.ApplicationID, q.CartridgeType, q.CartridgeType)
		sub.SubscriptionKey = newKey()
		if err := s.store.get(bucketApplications, sub.ApplicationID, &a); err != nil {
			shared := ref(q.CartridgeType)
			shared.SubscribableInfo.ArtifactRepository = nil
			a = applicationRecord{Bean: applicationBean{ApplicationID: sub.ApplicationID, Alias: q.CartridgeType, Name: q.CartridgeType, MultiTenant: true,
				Components: components{Cartridges: []cartridgeRef{shared}}},
				Status: statusCreated, Key: newKey(), TenantID: SuperTenantID, TenantDomain: SuperTenantDomain, Owner: AdminUser, Agent: agent, Subscription: true}
		}
		if a.Status == statusCreated {
			if code, err := s.deploy(r.Context(), &a, ap, ""); err != nil {
				writeError(w, code, err.Error())
				return
			}
		}
		if s.store.has(bucketSignUps, signUpKey(a.Bean.ApplicationID, tenantID)) {
			writeError(w, http.StatusConflict, fmt.Sprintf("Tenant %s is already subscribed to the multi-tenant cartridge %s", u.TenantDomain, q.CartridgeType))
			return
		}
		su := signUpRecord{ApplicationID: a.Bean.ApplicationID, TenantID: tenantID, TenantDomain: u.TenantDomain, Added: time.Now().UTC()}
		if repo != nil {
			rr := repoRecord{Alias: q.CartridgeType, CartridgeType: q.CartridgeType, ClusterID: sub.ClusterID, PrivateRepo: bool(q.PrivateRepo),
				RepoURL: q.RepoURL, RepoUsername: q.RepoUsername, CommitEnabled: bool(q.CommitEnabled)}
			if q.RepoPassword != "" {
				enc, err := model.EncryptPassword(a.Key, q.RepoPassword)
				if err != nil {
					writeError(w, http.StatusInternalServerError, "encrypt repository password: "+err.Error())
					return
				}
				rr.RepoPassword = enc
			}
			su.Repositories = []repoRecord{rr}
		}
		if err := s.store.put(bucketSignUps, signUpKey(a.Bean.ApplicationID, tenantID), su); err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		s.publishSignUpAdded(r.Context(), su)
		for _, rr := range su.Repositories {
			s.publishArtifactUpdated(r.Context(), &a, tenantID, rr)
		}
	}
	if err := s.store.put(bucketSubscriptions, subscriptionKey(u.TenantDomain, q.Alias), sub); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.log.Info("subscribed", "tenant", u.TenantDomain, "alias", q.Alias, "cartridge", q.CartridgeType, "multi_tenant", sub.MultiTenant)
	created(w, r, q.Alias, fmt.Sprintf("Successfully subscribed to cartridge: [cartridge-type] %s [alias] %s [subscription-key] %s", q.CartridgeType, q.Alias, sub.SubscriptionKey))
}

func joinMsgs(m []string) string {
	out := ""
	for i, s := range m {
		if i > 0 {
			out += "; "
		}
		out += s
	}
	return out
}

func (s *Server) subscriptionView(sub subscriptionRecord) subscriptionView {
	v := subscriptionView{subscriptionRecord: sub, Status: statusCreated}
	var a applicationRecord
	if s.store.get(bucketApplications, sub.ApplicationID, &a) == nil {
		v.Status = a.Status
	}
	if top := s.opts.Clusters.Topology(); top != nil {
		if c := top.Cluster(sub.ClusterID); c != nil {
			for _, m := range c.MemberMap {
				v.Members++
				if m.Status() == model.MemberActive {
					v.ActiveMembers++
				}
			}
		}
	}
	return v
}

// listSubscriptions lists the caller's tenant's subscriptions: a tenant sees only its own.
func (s *Server) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	u, _ := UserFrom(r.Context())
	subs, err := list[subscriptionRecord](s.store, bucketSubscriptions, u.TenantDomain+"/")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := []subscriptionView{}
	for _, sub := range subs {
		out = append(out, s.subscriptionView(sub))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getSubscription(w http.ResponseWriter, r *http.Request) {
	u, _ := UserFrom(r.Context())
	alias := chi.URLParam(r, "alias")
	var sub subscriptionRecord
	if err := s.store.get(bucketSubscriptions, subscriptionKey(u.TenantDomain, alias), &sub); err != nil {
		writeError(w, http.StatusNotFound, "Subscription not found: [alias] "+alias)
		return
	}
	writeJSON(w, http.StatusOK, s.subscriptionView(sub))
}

// unsubscribe removes a subscription of the caller's tenant: a single-tenant subscription's
// application is undeployed and then removed; a multi-tenant one loses the tenant's sign-up, and
// the shared application is undeployed with its last sign-up.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) {
	u, _ := UserFrom(r.Context())
	alias := chi.URLParam(r, "alias")
	s.mu.Lock()
	defer s.mu.Unlock()
	var sub subscriptionRecord
	if err := s.store.get(bucketSubscriptions, subscriptionKey(u.TenantDomain, alias), &sub); err != nil {
		writeError(w, http.StatusNotFound, "Subscription not found: [alias] "+alias)
		return
	}
	var a applicationRecord
	if err := s.store.get(bucketApplications, sub.ApplicationID, &a); err == nil {
		if sub.MultiTenant {
			_ = s.store.delete(bucketSignUps, signUpKey(sub.ApplicationID, sub.TenantID))
			if rest, _ := list[signUpRecord](s.store, bucketSignUps, sub.ApplicationID+"/"); len(rest) == 0 {
				a.RemoveWhenUndeployed = true
				s.unsubscribeApp(r.Context(), &a)
			}
		} else {
			a.RemoveWhenUndeployed = true
			s.unsubscribeApp(r.Context(), &a)
		}
	}
	if err := s.store.delete(bucketSubscriptions, subscriptionKey(u.TenantDomain, alias)); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeSuccess(w, http.StatusOK, "Successfully unsubscribed: [alias] "+alias)
}

func (s *Server) unsubscribeApp(ctx context.Context, a *applicationRecord) {
	if a.Status == statusCreated {
		_ = s.store.delete(bucketApplications, a.Bean.ApplicationID)
		s.removeSignUps(a.Bean.ApplicationID)
		return
	}
	if err := s.undeploy(ctx, a, false); err != nil {
		s.log.Warn("unsubscribe", "application_id", a.Bean.ApplicationID, "err", err)
	}
}
