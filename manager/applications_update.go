package manager

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"

	"github.com/go-chi/chi/v5"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// Changes to a deployed application and to its members (issue 12 item 4, issue 14 item 6).
//
// PUT /api/applications on a deployed application may change each cluster's cartridgeMin and
// cartridgeMax (or subscribableInfo.minMembers and maxMembers) and add cartridges: the
// autoscaler takes the new min and max of every running cluster instance (a higher min starts
// members, a lower max terminates the surplus through the cleanup flow), the controller creates
// the added cartridges' clusters and the autoscaler starts their members; nothing is restarted.
// Anything else that would change a running cluster (its cartridge type, policies, properties,
// repository) or remove one needs an undeploy first and is refused with 409.
//
// DELETE /api/applications/{appId}/members/{memberId} (Strata's) terminates one member of a
// deployed application gracefully: the autoscaler moves it to termination pending, the cleanup
// flow follows, and the min check starts a replacement when min requires one.

// updateDeployed applies the update bean to the deployed application rec. Called with s.mu held.
func (s *Server) updateDeployed(w http.ResponseWriter, r *http.Request, rec *applicationRecord, bean applicationBean) {
	id := bean.ApplicationID
	// The network partitions it was deployed to, as the restart's resync uses them: the
	// application policy may have changed since.
	ap := &policies.Application{NetworkPartitions: rec.NetworkPartitions}
	next := *rec
	next.Bean, next.Agent = bean, agentOf(bean.Property)
	keepPasswords(&next.Bean, &rec.Bean)
	if err := sealRepositories(&next.Bean, next.Key); err != nil {
		writeError(w, http.StatusInternalServerError, "encrypt repository password: "+err.Error())
		return
	}
	old, err := s.buildClusters(rec, ap)
	if err != nil {
		writeError(w, http.StatusConflict, fmt.Sprintf("Application cannot be updated while deployed: [application-id] %s: %s", id, errorText(err)))
		return
	}
	updated, err := s.buildClusters(&next, ap)
	if err != nil {
		writeError(w, http.StatusBadRequest, "Application is not valid: "+errorText(err))
		return
	}
	added, err := liveChange(old, updated)
	if err != nil {
		writeError(w, http.StatusConflict, fmt.Sprintf("Application is deployed: [application-id] %s: only the clusters' cartridgeMin and cartridgeMax can change and cartridges be added while it is deployed; undeploy it for the rest: %s",
			id, errorText(err)))
		return
	}
	if len(added) > 0 {
		if err := s.proxyPortConflict(id, added); err != nil {
			writeError(w, http.StatusConflict, fmt.Sprintf("Application could not be updated: [application-id] %s: %s", id, err.Error()))
			return
		}
		if err := s.opts.Clusters.CreateApplicationClusters(r.Context(), id, added); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Application could not be updated: [application-id] %s: %s", id, err.Error()))
			return
		}
		for _, c := range added {
			next.Clusters = append(next.Clusters, c.ClusterID)
		}
	}
	if _, ok := s.tree(); ok {
		// The tree takes the new min and max of its running cluster instances (and the
		// definition of those still waiting for their startup order).
		if err := s.addToTree(&next); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Application could not be updated: [application-id] %s: %s", id, err.Error()))
			return
		}
		updated = nil
	}
	if err := s.registerInstances(updated); err != nil {
		if err2 := s.registerInstances(old); err2 != nil {
			s.log.Error("cannot restore the clusters' min and max after a failed update", "application_id", id, "err", err2)
		}
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Application could not be updated: [application-id] %s: %s", id, err.Error()))
		return
	}
	if _, ok := s.tree(); ok {
		old = nil
	}
	if err := s.store.put(bucketApplications, id, next); err != nil {
		if err2 := errors.Join(s.registerInstances(old), s.addToTree(rec)); err2 != nil {
			s.log.Error("cannot restore the clusters' min and max after a failed update", "application_id", id, "err", err2)
		}
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.log.Info("deployed application updated", "application_id", id, "clusters", len(updated), "added_clusters", len(added))
	created(w, r, id, "Application updated successfully: [application] "+id)
}

// keepPasswords gives the repositories of next without a password the stored (sealed) one of the
// same alias in old: GET leaves passwords out, so a client that GETs, changes min and PUTs back
// (the console) must not clear them.
func keepPasswords(next, old *applicationBean) {
	sealed := map[string]string{}
	old.walkCartridges(func(c *cartridgeRef, _ string) {
		if r := c.SubscribableInfo.ArtifactRepository; r != nil && r.RepoPassword != "" {
			sealed[c.SubscribableInfo.Alias] = r.RepoPassword
		}
	})
	next.walkCartridges(func(c *cartridgeRef, _ string) {
		if r := c.SubscribableInfo.ArtifactRepository; r != nil && r.RepoPassword == "" {
			r.RepoPassword = sealed[c.SubscribableInfo.Alias]
		}
	})
}

func (s *Server) registerInstances(clusters []Cluster) error {
	var errs []error
	for _, c := range clusters {
		for _, in := range c.Instances {
			if err := s.opts.Scaler.RegisterCluster(in); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// liveChange checks that updated differs from old, the clusters of a deployed application, only
// in the min and max of cluster instances and in added clusters, which it returns; it names every
// other difference.
func liveChange(old, updated []Cluster) ([]Cluster, error) {
	was := map[string]Cluster{}
	aliases := map[string]string{} // alias -> cartridge type
	for _, c := range old {
		was[c.ClusterID] = c
		aliases[c.Alias] = c.ServiceName
	}
	var errs []error
	var added []Cluster
	seen := map[string]bool{}
	for _, c := range updated {
		seen[c.ClusterID] = true
		o, ok := was[c.ClusterID]
		switch {
		case !ok && aliases[c.Alias] != "":
			errs = append(errs, fmt.Errorf("alias %s: the cartridge type changes from %s to %s", c.Alias, aliases[c.Alias], c.ServiceName))
			seen[model.ClusterID(c.AppID, c.Alias, aliases[c.Alias])] = true
		case !ok:
			added = append(added, c)
		case !sameButScale(o, c):
			errs = append(errs, fmt.Errorf("alias %s (%s): more than cartridgeMin and cartridgeMax changes (policies, properties, repository or host names)", c.Alias, c.ServiceName))
		}
	}
	for _, c := range old {
		if !seen[c.ClusterID] {
			errs = append(errs, fmt.Errorf("alias %s (%s): a cluster cannot be removed", c.Alias, c.ServiceName))
		}
	}
	return added, errors.Join(errs...)
}

// sameButScale reports whether two clusters differ at most in their instances' min and max.
func sameButScale(a, b Cluster) bool {
	if len(a.Instances) != len(b.Instances) {
		return false
	}
	b.Instances = append([]ClusterInstance(nil), b.Instances...)
	for i := range b.Instances {
		b.Instances[i].Min, b.Instances[i].Max = a.Instances[i].Min, a.Instances[i].Max
	}
	return reflect.DeepEqual(a, b)
}

// memberTerminator is the autoscaler's termination of one member at an operator's request;
// Options.Scaler has it when it is the autoscaler (strata up).
type memberTerminator interface {
	TerminateMember(clusterID, memberID string) error
}

// terminateMember is DELETE /applications/{appId}/members/{memberId}: 202 once the member is on
// its way out, 404 for a member that is not the application's.
func (s *Server) terminateMember(w http.ResponseWriter, r *http.Request) {
	a, ok := s.loadApplication(w, r)
	if !ok {
		return
	}
	id, memberID := a.Bean.ApplicationID, chi.URLParam(r, "memberId")
	if a.Status != statusDeployed {
		writeError(w, http.StatusConflict, fmt.Sprintf("Application is not deployed: [application-id] %s", id))
		return
	}
	clusterID, found := s.memberCluster(a, memberID)
	t, can := s.opts.Scaler.(memberTerminator)
	if !found || !can {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Member not found: [application-id] %s [member-id] %s", id, memberID))
		return
	}
	if err := t.TerminateMember(clusterID, memberID); err != nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Member not found: [application-id] %s [member-id] %s: %s", id, memberID, err.Error()))
		return
	}
	u, _ := UserFrom(r.Context())
	s.log.Info("member termination requested", "application_id", id, "cluster_id", clusterID, "member_id", memberID, "user", u.Name, "tenant", u.TenantDomain)
	writeSuccess(w, http.StatusAccepted, "Member terminating: [application] "+id+" [member] "+memberID)
}

// memberCluster finds the cluster of the application's member in the topology.
func (s *Server) memberCluster(a *applicationRecord, memberID string) (string, bool) {
	top := s.opts.Clusters.Topology()
	if top == nil {
		return "", false
	}
	find := func(c *model.Cluster) bool {
		if c == nil || c.AppID != a.Bean.ApplicationID {
			return false
		}
		_, ok := c.MemberMap[memberID]
		return ok
	}
	for _, svc := range top.ServiceMap {
		for _, c := range svc.ClusterIDClusterMap {
			if find(c) {
				return c.ClusterID, true
			}
		}
	}
	for _, c := range top.ClusterMap {
		if find(c) {
			return c.ClusterID, true
		}
	}
	return "", false
}
