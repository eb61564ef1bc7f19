package manager

import (
	"context"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// completeInterval is how often the manager publishes CompleteTenantEvent and
// CompleteApplicationSignUpsEvent, as Stratos' manager does, so that a component that missed an
// event (or connected late) catches up (§1.2).
const completeInterval = time.Minute

// publishComplete runs until ctx ends, publishing the complete events at start and then every
// completeInterval.
func (s *Server) publishComplete(ctx context.Context) {
	if s.opts.Bus == nil {
		return
	}
	t := time.NewTicker(completeInterval)
	defer t.Stop()
	for {
		for _, e := range s.completeEvents() {
			if err := s.opts.Bus.PublishEvent(ctx, e); err != nil && ctx.Err() == nil {
				s.log.Warn("cannot publish the complete topology", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// completeEvents builds CompleteTenantEvent (the super tenant and every active tenant) and
// CompleteApplicationSignUpsEvent (repository passwords encrypted for the clusters' agents).
func (s *Server) completeEvents() []model.Event {
	tenants := model.CompleteTenantEvent{Tenants: []model.Tenant{{TenantID: SuperTenantID, TenantDomain: SuperTenantDomain}}}
	ts, err := list[tenantRecord](s.store, bucketTenants, "")
	if err != nil {
		s.log.Warn("cannot list the tenants for the complete tenant event", "err", err)
	}
	for _, t := range ts {
		if t.Active {
			tenants.Tenants = append(tenants.Tenants, model.Tenant{TenantID: model.Int(t.TenantID), TenantDomain: t.TenantDomain})
		}
	}
	signUps := model.CompleteApplicationSignUpsEvent{ApplicationSignUps: []model.ApplicationSignUp{}}
	sus, err := list[signUpRecord](s.store, bucketSignUps, "")
	if err != nil {
		s.log.Warn("cannot list the application signups for the complete event", "err", err)
	}
	apps := map[string]*applicationRecord{}
	for _, su := range sus {
		a, ok := apps[su.ApplicationID]
		if !ok {
			var rec applicationRecord
			if s.store.get(bucketApplications, su.ApplicationID, &rec) == nil {
				a = &rec
			}
			apps[su.ApplicationID] = a
		}
		if a == nil {
			continue
		}
		out := model.ApplicationSignUp{TenantID: model.Int(su.TenantID), ApplicationID: su.ApplicationID,
			DomainMappings: su.DomainMappings, SignupAddedTimestamp: model.Long(su.Added.UnixMilli())}
		for _, r := range su.Repositories {
			pw, err := s.agentPassword(a, r.RepoPassword)
			if err != nil {
				s.log.Warn("cannot decrypt a repository password for the complete event", "cluster_id", r.ClusterID, "err", err)
				continue
			}
			out.ArtifactRepositories = append(out.ArtifactRepositories, model.ArtifactRepository{CartridgeType: r.CartridgeType,
				Alias: r.Alias, PrivateRepo: model.Bool(r.PrivateRepo), RepoURL: r.RepoURL, RepoUsername: r.RepoUsername, RepoPassword: pw})
			out.ClusterIDs = append(out.ClusterIDs, r.ClusterID)
		}
		signUps.ApplicationSignUps = append(signUps.ApplicationSignUps, out)
	}
	return []model.Event{tenants, signUps}
}

// agentPassword re-encrypts a stored password (AES-GCM under the application key) in the form
// the application's agents read.
func (s *Server) agentPassword(a *applicationRecord, stored string) (string, error) {
	if stored == "" {
		return "", nil
	}
	clear, err := model.DecryptPassword(a.Key, stored)
	if err != nil {
		return "", err
	}
	if a.Agent == agentStrata {
		return model.EncryptPassword(a.Key, clear)
	}
	return model.EncryptPasswordECB(a.Key, clear)
}
