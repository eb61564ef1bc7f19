package manager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/strata-paas/strata/internal/model"
)

// signUpRecord is a tenant's sign-up to an application: its artifact repositories (passwords
// encrypted with the application key, AES-GCM) and domain mappings.
type signUpRecord struct {
	ApplicationID  string                `json:"applicationId"`
	TenantID       int                   `json:"tenantId"`
	TenantDomain   string                `json:"tenantDomain"`
	Repositories   []repoRecord          `json:"repositories,omitempty"`
	DomainMappings []model.DomainMapping `json:"domainMappings,omitempty"`
	Auto           bool                  `json:"auto,omitempty"` // made by deploying a single-tenant application
	Added          time.Time             `json:"added"`
}

type repoRecord struct {
	Alias         string `json:"alias"`
	CartridgeType string `json:"cartridgeType"`
	ClusterID     string `json:"clusterId"`
	PrivateRepo   bool   `json:"privateRepo,omitempty"`
	RepoURL       string `json:"repoUrl"`
	RepoUsername  string `json:"repoUsername,omitempty"`
	RepoPassword  string `json:"repoPassword,omitempty"` // model.EncryptPassword(application key, password)
	CommitEnabled bool   `json:"commitEnabled,omitempty"`
}

func signUpKey(appID string, tenantID int) string { return appID + "/" + strconv.Itoa(tenantID) }

// autoSignUp creates the owning tenant's sign-up of a single-tenant application from its
// artifactRepository entries, as Stratos' autoscaler does on deploy (§1.5.3).
func (s *Server) autoSignUp(ctx context.Context, a *applicationRecord, clusters []Cluster) {
	su := signUpRecord{ApplicationID: a.Bean.ApplicationID, TenantID: a.TenantID, TenantDomain: a.TenantDomain, Auto: true, Added: time.Now().UTC()}
	a.Bean.walkCartridges(func(c *cartridgeRef, _ string) {
		repo := c.SubscribableInfo.ArtifactRepository
		if repo == nil || repo.RepoURL == "" {
			return
		}
		su.Repositories = append(su.Repositories, repoRecord{Alias: c.SubscribableInfo.Alias, CartridgeType: c.Type,
			ClusterID: model.ClusterID(a.Bean.ApplicationID, c.SubscribableInfo.Alias, c.Type), PrivateRepo: bool(repo.PrivateRepo),
			RepoURL: repo.RepoURL, RepoUsername: repo.RepoUsername, RepoPassword: repo.RepoPassword})
	})
	if len(su.Repositories) == 0 {
		return
	}
	if err := s.store.put(bucketSignUps, signUpKey(su.ApplicationID, su.TenantID), su); err != nil {
		s.log.Warn("cannot store the automatic signup", "application_id", su.ApplicationID, "err", err)
		return
	}
	s.publishSignUpAdded(ctx, su)
}

func (s *Server) publishSignUpAdded(ctx context.Context, su signUpRecord) {
	if s.opts.Bus == nil {
		return
	}
	e := model.ApplicationSignUpAddedEvent{ApplicationID: su.ApplicationID, TenantID: model.Int(su.TenantID)}
	for _, r := range su.Repositories {
		e.ClusterIDs = append(e.ClusterIDs, r.ClusterID)
	}
	if err := s.opts.Bus.PublishEvent(ctx, e); err != nil {
		s.log.Warn("cannot publish the application signup", "application_id", su.ApplicationID, "err", err)
	}
}

func (s *Server) removeSignUps(appID string) {
	sus, _ := list[signUpRecord](s.store, bucketSignUps, appID+"/")
	for _, su := range sus {
		_ = s.store.delete(bucketSignUps, signUpKey(appID, su.TenantID))
	}
}

// signUpTenant is the tenant a sign-up call is about: the caller's, or {tenantDomain} when the
// super tenant acts on behalf of another.
func (s *Server) signUpTenant(r *http.Request) (int, string, error) {
	domain := chi.URLParam(r, "tenantDomain")
	if domain == "" {
		u, _ := UserFrom(r.Context())
		domain = u.TenantDomain
	}
	id, err := s.tenantID(domain)
	return id, domain, err
}

func (s *Server) addSignUp(w http.ResponseWriter, r *http.Request) {
	var bean signUpBean
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if err := decodeStrict(body, &bean); err != nil {
		writeError(w, http.StatusBadRequest, "Application signup is not valid: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := chi.URLParam(r, "appId")
	var a applicationRecord
	if err := s.store.get(bucketApplications, id, &a); err != nil {
		writeError(w, http.StatusNotFound, "Application not found: [application-id] "+id)
		return
	}
	if !bool(a.Bean.MultiTenant) {
		writeError(w, http.StatusBadRequest, "Application signups cannot be added to single-tenant applications: [application-id] "+id)
		return
	}
	tenantID, domain, err := s.signUpTenant(r)
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if s.store.has(bucketSignUps, signUpKey(id, tenantID)) {
		writeError(w, http.StatusConflict, fmt.Sprintf("Application signup already exists: [application-id] %s [tenant-domain] %s", id, domain))
		return
	}
	types := map[string]string{}
	a.Bean.walkCartridges(func(c *cartridgeRef, _ string) { types[c.SubscribableInfo.Alias] = c.Type })
	su := signUpRecord{ApplicationID: id, TenantID: tenantID, TenantDomain: domain, Added: time.Now().UTC()}
	var errs []error
	for i, repo := range bean.ArtifactRepositories {
		typ, ok := types[repo.Alias]
		if !ok {
			errs = append(errs, fmt.Errorf("artifactRepositories[%d].alias %q: no cartridge with this alias in the application", i, repo.Alias))
			continue
		}
		if repo.RepoURL == "" {
			errs = append(errs, fmt.Errorf("artifactRepositories[%d].repoUrl is required", i))
		}
		rr := repoRecord{Alias: repo.Alias, CartridgeType: typ, ClusterID: model.ClusterID(id, repo.Alias, typ),
			PrivateRepo: bool(repo.PrivateRepo), RepoURL: repo.RepoURL, RepoUsername: repo.RepoUsername}
		if repo.RepoPassword != "" {
			enc, err := model.EncryptPassword(a.Key, repo.RepoPassword)
			if err != nil {
				errs = append(errs, err)
			}
			rr.RepoPassword = enc
		}
		su.Repositories = append(su.Repositories, rr)
	}
	if err := errors.Join(errs...); err != nil {
		writeError(w, http.StatusBadRequest, "Application signup is not valid: "+errorText(err))
		return
	}
	if err := s.store.put(bucketSignUps, signUpKey(id, tenantID), su); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.publishSignUpAdded(r.Context(), su)
	if a.Status == statusDeployed {
		for _, rr := range su.Repositories {
			s.publishArtifactUpdated(r.Context(), &a, tenantID, rr)
		}
	}
	created(w, r, strconv.Itoa(tenantID), fmt.Sprintf("Successfully added application signup: [application-id] %s [tenant-domain] %s", id, domain))
}

// signUpView is the sign-up as GET returns it: no passwords.
type signUpView struct {
	ApplicationID        string               `json:"applicationId"`
	TenantID             int                  `json:"tenantId"`
	ArtifactRepositories []artifactRepository `json:"artifactRepositories"`
	DomainMappings       []domainMappingBean  `json:"domainMappings,omitempty"`
	ClusterIDs           []string             `json:"clusterIds"`
}

func (su signUpRecord) view() signUpView {
	v := signUpView{ApplicationID: su.ApplicationID, TenantID: su.TenantID, ArtifactRepositories: []artifactRepository{}, ClusterIDs: []string{}}
	for _, r := range su.Repositories {
		v.ArtifactRepositories = append(v.ArtifactRepositories, artifactRepository{Alias: r.Alias, PrivateRepo: model.Bool(r.PrivateRepo), RepoURL: r.RepoURL, RepoUsername: r.RepoUsername})
		v.ClusterIDs = append(v.ClusterIDs, r.ClusterID)
	}
	for _, d := range su.DomainMappings {
		v.DomainMappings = append(v.DomainMappings, domainMappingBean{CartridgeAlias: aliasOfCluster(su, d.ClusterID), DomainName: d.DomainName, ContextPath: d.ContextPath})
	}
	return v
}

func aliasOfCluster(su signUpRecord, clusterID string) string {
	for _, r := range su.Repositories {
		if r.ClusterID == clusterID {
			return r.Alias
		}
	}
	// clusterId = <appId>.<alias>.<type>.domain
	rest := strings.TrimPrefix(clusterID, su.ApplicationID+".")
	alias, _, _ := strings.Cut(rest, ".")
	return alias
}

func (s *Server) getSignUp(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "appId")
	tenantID, _, err := s.signUpTenant(r)
	var su signUpRecord
	if err != nil || s.store.get(bucketSignUps, signUpKey(id, tenantID), &su) != nil {
		writeError(w, http.StatusNotFound, "Application signup not found: [application-id] "+id)
		return
	}
	writeJSON(w, http.StatusOK, su.view())
}

func (s *Server) removeSignUp(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "appId")
	s.mu.Lock()
	defer s.mu.Unlock()
	tenantID, domain, err := s.signUpTenant(r)
	if err != nil || !s.store.has(bucketSignUps, signUpKey(id, tenantID)) {
		writeError(w, http.StatusNotFound, "Application signup not found: [application-id] "+id)
		return
	}
	if err := s.store.delete(bucketSignUps, signUpKey(id, tenantID)); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if s.opts.Bus != nil {
		_ = s.opts.Bus.PublishEvent(r.Context(), model.ApplicationSignUpRemovedEvent{ApplicationID: id, TenantID: model.Int(tenantID)})
	}
	writeSuccess(w, http.StatusOK, fmt.Sprintf("Application signup removed successfully: [application-id] %s [tenant-domain] %s", id, domain))
}

// Domain mappings.

func (s *Server) addDomainMappings(w http.ResponseWriter, r *http.Request) {
	var bean domainMappingsBean
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if err := decodeStrict(body, &bean); err != nil {
		writeError(w, http.StatusBadRequest, "Domain mappings are not valid: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.loadApplication(w, r)
	if !ok {
		return
	}
	id := a.Bean.ApplicationID
	tenantID, _, err := s.signUpTenant(r)
	var su signUpRecord
	if err != nil || s.store.get(bucketSignUps, signUpKey(id, tenantID), &su) != nil {
		writeError(w, http.StatusBadRequest, "Application signup not found: sign up to the application (or deploy it) before adding domain mappings: [application-id] "+id)
		return
	}
	types := map[string]string{}
	a.Bean.walkCartridges(func(c *cartridgeRef, _ string) { types[c.SubscribableInfo.Alias] = c.Type })
	var errs []error
	var added []model.DomainMapping
	for i, d := range bean.DomainMappings {
		typ, ok := types[d.CartridgeAlias]
		if !ok {
			errs = append(errs, fmt.Errorf("domainMappings[%d].cartridgeAlias %q: no cartridge with this alias in the application", i, d.CartridgeAlias))
		}
		if d.DomainName == "" || strings.ContainsAny(d.DomainName, "/ ") {
			errs = append(errs, fmt.Errorf("domainMappings[%d].domainName %q: want a host name", i, d.DomainName))
		}
		for _, x := range su.DomainMappings {
			if x.DomainName == d.DomainName {
				errs = append(errs, fmt.Errorf("domainMappings[%d].domainName %q: already mapped", i, d.DomainName))
			}
		}
		added = append(added, model.DomainMapping{ApplicationID: id, TenantID: model.Int(tenantID), ServiceName: typ,
			ClusterID: model.ClusterID(id, d.CartridgeAlias, typ), DomainName: d.DomainName, ContextPath: d.ContextPath})
	}
	if len(bean.DomainMappings) == 0 {
		errs = append(errs, errors.New("domainMappings: at least one is required"))
	}
	if err := errors.Join(errs...); err != nil {
		writeError(w, http.StatusBadRequest, "Domain mappings are not valid: "+errorText(err))
		return
	}
	su.DomainMappings = append(su.DomainMappings, added...)
	if err := s.store.put(bucketSignUps, signUpKey(id, tenantID), su); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if s.opts.Bus != nil {
		for _, d := range added {
			_ = s.opts.Bus.PublishEvent(r.Context(), model.DomainMappingAddedEvent{ApplicationID: id, TenantID: d.TenantID,
				ServiceName: d.ServiceName, ClusterID: d.ClusterID, DomainName: d.DomainName, ContextPath: d.ContextPath})
		}
	}
	w.Header().Set("Location", r.URL.Path)
	writeSuccess(w, http.StatusCreated, "Domain mappings added successfully: [application-id] "+id)
}

func (s *Server) getDomainMappings(w http.ResponseWriter, r *http.Request) {
	a, ok := s.loadApplication(w, r)
	if !ok {
		return
	}
	tenantID, _, err := s.signUpTenant(r)
	var su signUpRecord
	if err != nil || s.store.get(bucketSignUps, signUpKey(a.Bean.ApplicationID, tenantID), &su) != nil || len(su.DomainMappings) == 0 {
		writeError(w, http.StatusNotFound, "No domain mappings found: [application-id] "+a.Bean.ApplicationID)
		return
	}
	writeJSON(w, http.StatusOK, su.view().DomainMappings)
}

func (s *Server) removeDomainMapping(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.loadApplication(w, r)
	if !ok {
		return
	}
	id, name := a.Bean.ApplicationID, chi.URLParam(r, "domainName")
	tenantID, _, err := s.signUpTenant(r)
	var su signUpRecord
	if err != nil || s.store.get(bucketSignUps, signUpKey(id, tenantID), &su) != nil {
		writeError(w, http.StatusNotFound, "Domain mapping not found: [domain-name] "+name)
		return
	}
	kept := su.DomainMappings[:0]
	var removed *model.DomainMapping
	for _, d := range su.DomainMappings {
		if d.DomainName == name {
			removed = &d
			continue
		}
		kept = append(kept, d)
	}
	if removed == nil {
		writeError(w, http.StatusNotFound, "Domain mapping not found: [domain-name] "+name)
		return
	}
	su.DomainMappings = kept
	if err := s.store.put(bucketSignUps, signUpKey(id, tenantID), su); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if s.opts.Bus != nil {
		_ = s.opts.Bus.PublishEvent(r.Context(), model.DomainMappingRemovedEvent{ApplicationID: id, TenantID: removed.TenantID,
			ServiceName: removed.ServiceName, ClusterID: removed.ClusterID, DomainName: removed.DomainName})
	}
	writeSuccess(w, http.StatusOK, "Domain mapping deleted successfully: [domain-name] "+name)
}

// Artifact distribution (§1.5.3).

// subscribe listens for InstanceStartedEvent: every sign-up of the member's cluster gets an
// ArtifactUpdatedEvent, so the new member checks out its artifacts.
func (s *Server) subscribe(ctx context.Context) error {
	if s.opts.Bus == nil {
		return nil
	}
	err := s.opts.Bus.SubscribeEvents(ctx, model.SubscribeInstanceStatus, func(_ string, e model.Event) {
		var clusterID string
		switch ev := e.(type) {
		case model.InstanceStartedEvent:
			clusterID = ev.ClusterID
		case *model.InstanceStartedEvent:
			clusterID = ev.ClusterID
		default:
			return
		}
		s.distribute(ctx, func(r repoRecord) bool { return r.ClusterID == clusterID }, nil)
	})
	if err != nil {
		return fmt.Errorf("manager: subscribe %s: %w", model.SubscribeInstanceStatus, err)
	}
	return nil
}

// distribute publishes ArtifactUpdatedEvent for every repository of every sign-up that match
// selects, among the sign-ups the tenant filter allows (nil: all). It returns the count.
func (s *Server) distribute(ctx context.Context, match func(repoRecord) bool, tenant func(signUpRecord) bool) int {
	sus, err := list[signUpRecord](s.store, bucketSignUps, "")
	if err != nil {
		s.log.Warn("cannot distribute the artifacts", "err", err)
		return 0
	}
	apps := map[string]*applicationRecord{}
	n := 0
	for _, su := range sus {
		if tenant != nil && !tenant(su) {
			continue
		}
		for _, rr := range su.Repositories {
			if !match(rr) {
				continue
			}
			a, ok := apps[su.ApplicationID]
			if !ok {
				var rec applicationRecord
				if s.store.get(bucketApplications, su.ApplicationID, &rec) == nil {
					a = &rec
				}
				apps[su.ApplicationID] = a
			}
			if a == nil || a.Status != statusDeployed {
				continue
			}
			s.publishArtifactUpdated(ctx, a, su.TenantID, rr)
			n++
		}
	}
	return n
}

// publishArtifactUpdated sends one ArtifactUpdatedEvent. The stored password is decrypted and
// encrypted again in the form the cluster's agents read: Stratos' AES/ECB for unmodified Stratos
// agents, AES-GCM for Strata's agent.
func (s *Server) publishArtifactUpdated(ctx context.Context, a *applicationRecord, tenantID int, rr repoRecord) {
	if s.opts.Bus == nil {
		return
	}
	e := model.ArtifactUpdatedEvent{ClusterID: rr.ClusterID, Status: "updated", RepoUserName: rr.RepoUsername, RepoURL: rr.RepoURL,
		TenantID: model.String(strconv.Itoa(tenantID)), CommitEnabled: model.Bool(rr.CommitEnabled)}
	pw, err := s.agentPassword(a, rr.RepoPassword)
	if err != nil {
		s.log.Warn("cannot decrypt the repository password", "cluster_id", rr.ClusterID, "err", err)
		return
	}
	e.RepoPassword = pw
	if err := s.opts.Bus.PublishEvent(ctx, e); err != nil {
		s.log.Warn("cannot publish the artifact update", "cluster_id", rr.ClusterID, "err", err)
	}
}

// repoNotification is the part of a git host's push webhook that names the repository (GitHub,
// GitLab, Gitea and plain {"repository":{"url":…}}). Other keys are ignored.
type repoNotification struct {
	Repository struct {
		URL      string `json:"url"`
		CloneURL string `json:"clone_url"`
		HTTPURL  string `json:"git_http_url"`
	} `json:"repository"`
}

// repoNotify is the git webhook: {"repository":{"url":...}} (GitHub, GitLab and Gitea send more;
// it is ignored). Every deployed sign-up of the caller's tenant (every tenant's, for the super
// tenant's admin) using that repository gets an ArtifactUpdatedEvent.
func (s *Server) repoNotify(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var hook repoNotification
	if err := json.Unmarshal(body, &hook); err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
		return
	}
	urls := map[string]bool{}
	for _, u := range []string{hook.Repository.URL, hook.Repository.CloneURL, hook.Repository.HTTPURL} {
		if u != "" {
			urls[u] = true
			urls[strings.TrimSuffix(u, ".git")] = true
			urls[strings.TrimSuffix(u, ".git")+".git"] = true
		}
	}
	if len(urls) == 0 {
		writeError(w, http.StatusBadRequest, "repository.url is required")
		return
	}
	u, _ := UserFrom(r.Context())
	all := u.TenantDomain == SuperTenantDomain && u.Role == RoleAdmin
	n := s.distribute(r.Context(), func(rr repoRecord) bool { return urls[rr.RepoURL] },
		func(su signUpRecord) bool { return all || su.TenantDomain == u.TenantDomain })
	s.log.Info("repository notification sent", "clusters", n)
	w.WriteHeader(http.StatusNoContent)
}
