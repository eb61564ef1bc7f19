package manager

import (
	"context"
	"fmt"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// completeInterval is how often the manager publishes CompleteTenantEvent and
// CompleteApplicationSignUpsEvent, as Stratos' manager does, so that a component that missed an
// event (or connected late) catches up (§1.2).
const completeInterval = time.Minute

// completeKind selects the complete events to publish: a bit set of completeTenants and
// completeSignUps.
type completeKind uint8

const (
	completeTenants completeKind = 1 << iota
	completeSignUps
)

// subscribeRequests answers the initializer requests addressed to the manager at once, as
// Stratos' manager does: CompleteTenantRequestEvent with a CompleteTenantEvent and
// CompleteApplicationSignUpsRequestEvent with a CompleteApplicationSignUpsEvent. Requests that
// arrive while an answer is pending share it.
func (s *Server) subscribeRequests(ctx context.Context) error {
	err := s.opts.Bus.SubscribeEvents(ctx, model.SubscribeInitializer, func(_ string, e model.Event) {
		var k completeKind
		switch e.(type) {
		case model.CompleteTenantRequestEvent, *model.CompleteTenantRequestEvent:
			k = completeTenants
		case model.CompleteApplicationSignUpsRequestEvent, *model.CompleteApplicationSignUpsRequestEvent:
			k = completeSignUps
		default:
			return
		}
		s.requested.Or(uint32(k))
		select {
		case s.requests <- struct{}{}:
		default: // an answer is already pending; it reads s.requested
		}
	})
	if err != nil {
		return fmt.Errorf("manager: subscribe %s: %w", model.SubscribeInitializer, err)
	}
	return nil
}

// publishComplete runs until ctx ends, publishing the complete events at start, every
// completeInterval, and on request (see subscribeRequests).
func (s *Server) publishComplete(ctx context.Context) {
	if s.opts.Bus == nil {
		return
	}
	t := time.NewTicker(completeInterval)
	defer t.Stop()
	kind := completeTenants | completeSignUps
	for {
		for _, e := range s.completeEvents(kind) {
			if err := s.opts.Bus.PublishEvent(ctx, e); err != nil && ctx.Err() == nil {
				s.log.Warn("cannot publish a complete event", "event", e.EventClass(), "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			kind = completeTenants | completeSignUps
		case <-s.requests:
			kind = completeKind(s.requested.Swap(0))
		}
	}
}

// completeEvents builds, as kind selects, CompleteTenantEvent (the super tenant and every active
// tenant) and CompleteApplicationSignUpsEvent (repository passwords encrypted for the clusters'
// agents).
func (s *Server) completeEvents(kind completeKind) []model.Event {
	var out []model.Event
	if kind&completeTenants != 0 {
		out = append(out, s.completeTenants())
	}
	if kind&completeSignUps != 0 {
		out = append(out, s.completeSignUps())
	}
	return out
}

func (s *Server) completeTenants() model.Event {
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
	return tenants
}

func (s *Server) completeSignUps() model.Event {
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
	return signUps
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
