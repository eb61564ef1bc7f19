package manager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// The policy directory (strata up --policies) as the source of truth.
//
// While the policy store has a directory, the directory owns every policy kind: network
// partitions, autoscaling, deployment and application policies (and governance, which has no
// REST form). The REST API reads them but refuses writes with 409 naming the directory, so that
// nothing posted can vanish at the next reload. Policies posted through the API before the
// directory took over stay in the data dir untouched but are not loaded: the directory wins, and
// the start logs each one it supersedes (they come back if strata starts without --policies).
// Cartridges, groups and applications are not policies and stay the API's.
//
// Every change of the directory reaches the platform through ReloadPolicies: the network
// partitions go to the controller (PartitionRegistry) before the new set is swapped in, and the
// autoscaler and the API read the swapped set. A reload that would orphan a deployed
// application (remove or change away a policy or network partition it uses) is refused as a
// whole and the running set stays.

// dirOwned answers a REST write to a policy kind while the directory owns it: 409 and true.
func (s *Server) dirOwned(w http.ResponseWriter, kind policies.Kind) bool {
	dir := s.opts.Policies.Dir()
	if dir == "" {
		return false
	}
	writeError(w, http.StatusConflict, fmt.Sprintf("%ss come from the policy directory %s (strata up --policies): change the files there and reload (SIGHUP); the REST API only reads them",
		policyNames[kind][0], dir))
	return true
}

// supersede logs the stored (REST-posted) policies the directory replaces. Called by
// restorePolicies instead of loading them.
func (s *Server) supersede(keys []string) {
	set := s.opts.Policies.Set()
	for _, k := range keys {
		kind, id, _ := strings.Cut(k, "/")
		_, defined := set.Get(policies.Ref{Kind: policies.Kind(kind), ID: id})
		s.log.Warn("policy superseded by the policy directory", "policy", k, "dir", s.opts.Policies.Dir(), "defined_by_dir", defined,
			"note", "a policy posted through the REST API earlier is not loaded while the policy directory is the source of truth")
	}
}

// modelNetworkPartition is a network partition of the policy set in the controller's form.
func modelNetworkPartition(p *policies.NetworkPartition) (model.NetworkPartition, error) {
	var np model.NetworkPartition
	b, err := policies.EncodeStratosJSON(p)
	if err == nil {
		err = json.Unmarshal(b, &np)
	}
	if err != nil {
		return np, fmt.Errorf("network partition %s: %w", p.ID, err)
	}
	return np, nil
}

// putPartition adds a network partition to the controller, or updates the controller's copy.
func (s *Server) putPartition(ctx context.Context, np model.NetworkPartition) error {
	if err := s.opts.Partitions.AddNetworkPartition(ctx, np); err != nil {
		if err2 := s.opts.Partitions.UpdateNetworkPartition(ctx, np); err2 != nil {
			return fmt.Errorf("controller: network partition %s: %w", np.ID, err2)
		}
	}
	return nil
}

// resyncDirPartitions tells the controller every network partition of the directory at start.
func (s *Server) resyncDirPartitions(ctx context.Context) {
	for _, p := range s.opts.Policies.Set().NetworkPartitions() {
		np, err := modelNetworkPartition(p)
		if err == nil {
			err = s.putPartition(ctx, np)
		}
		if err != nil {
			s.log.Error("resync: cannot register the network partition with the cloud controller", "id", p.ID, "dir", s.opts.Policies.Dir(), "err", err)
		}
	}
	if orphans := s.orphans(s.opts.Policies.Set()); len(orphans) > 0 {
		s.log.Error("policy directory lacks what a deployed application uses", "dir", s.opts.Policies.Dir(), "problems", strings.Join(orphans, "; "),
			"note", "deployed applications use policies the directory does not define; add them back or undeploy")
	}
}

// ReloadPolicies reads the policy directory again and applies it as one change: it is refused
// (policies.ErrRefused) if it would orphan a deployed application, the network partitions go to
// the controller, then the new set replaces the running one. On any error the running set stays.
// strata up calls it on SIGHUP and when a file changes; POST /policyDirectory/reload too.
func (s *Server) ReloadPolicies(ctx context.Context) (policies.Changes, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.opts.Policies.ReloadCheck(ctx, s.admitPolicies)
	dir := s.opts.Policies.Dir()
	switch {
	case errors.Is(err, policies.ErrRefused):
		s.log.Error("policy reload refused", "dir", dir, "err", err, "note", "the running policies are unchanged")
	case err != nil:
		s.log.Error("policy reload failed", "dir", dir, "err", err, "note", "the running policies are unchanged")
	default:
		s.log.Info("policies reloaded", "dir", dir, "added", refs(c.Added), "changed", refs(c.Changed), "removed", refs(c.Removed))
	}
	return c, err
}

func refs(rs []policies.Ref) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return strings.Join(out, ",")
}

// admitPolicies is the reload's check (policies.Check): it refuses a set that would orphan a
// deployed application (take away a policy or network partition it uses that old has), then brings the controller's network partitions to next. If the
// controller refuses one, what was already changed there is undone and the reload refused.
// Called with s.mu and the store's lock held.
func (s *Server) admitPolicies(ctx context.Context, old, next *policies.Set, c policies.Changes) error {
	// Only what this reload would orphan refuses it: an application that lost a policy
	// before (a start with a directory that lacks it) does not block every later reload.
	if orphans := without(s.orphans(next), s.orphans(old)); len(orphans) > 0 {
		return errors.New(strings.Join(orphans, "; "))
	}
	if orphans := without(s.scalerOrphans(next), s.scalerOrphans(old)); len(orphans) > 0 {
		return errors.New(strings.Join(orphans, "; "))
	}
	var undo []func()
	fail := func(err error) error {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		return err
	}
	for _, ref := range slices.Concat(c.Added, c.Changed) {
		if ref.Kind != policies.KindNetworkPartition {
			continue
		}
		p, _ := next.NetworkPartition(ref.ID)
		np, err := modelNetworkPartition(p)
		if err == nil {
			err = s.putPartition(ctx, np)
		}
		if err != nil {
			return fail(err)
		}
		if prev, ok := old.NetworkPartition(ref.ID); ok {
			undo = append(undo, func() { s.restorePartition(ctx, prev) })
		} else {
			undo = append(undo, func() { _ = s.opts.Partitions.RemoveNetworkPartition(ctx, ref.ID) })
		}
	}
	for _, ref := range c.Removed {
		if ref.Kind != policies.KindNetworkPartition {
			continue
		}
		if err := s.opts.Partitions.RemoveNetworkPartition(ctx, ref.ID); err != nil {
			return fail(fmt.Errorf("controller: network partition %s: %w", ref.ID, err))
		}
		prev, _ := old.NetworkPartition(ref.ID)
		undo = append(undo, func() { s.restorePartition(ctx, prev) })
	}
	return nil
}

// without returns the elements of a that are not in b.
func without(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// restorePartition puts a network partition of the running set back at the controller after a
// refused reload changed it there.
func (s *Server) restorePartition(ctx context.Context, p *policies.NetworkPartition) {
	np, err := modelNetworkPartition(p)
	if err == nil {
		err = s.putPartition(ctx, np)
	}
	if err != nil {
		s.log.Error("policy reload: cannot undo a network partition change", "network_partition", p.ID, "err", err)
	}
}

// orphans lists what the deployed (or undeploying) applications use that set lacks: their
// autoscaling and deployment policies, the network partitions they were deployed to (in the
// deployment policies too), their application policy.
func (s *Server) orphans(set *policies.Set) []string {
	apps, err := list[applicationRecord](s.store, bucketApplications, "")
	if err != nil {
		return []string{"read applications: " + err.Error()}
	}
	var out []string
	for _, a := range apps {
		if a.Status == statusCreated {
			continue
		}
		id := a.Bean.ApplicationID
		missing := func(format string, args ...any) {
			out = append(out, fmt.Sprintf("application %s (%s) uses ", id, strings.ToLower(a.Status))+fmt.Sprintf(format, args...))
		}
		if a.ApplicationPolicy != "" {
			if _, ok := set.Application(a.ApplicationPolicy); !ok {
				missing("application policy %s, which the directory no longer defines", a.ApplicationPolicy)
			}
		}
		for _, np := range a.NetworkPartitions {
			if _, ok := set.NetworkPartition(np); !ok {
				missing("network partition %s, which the directory no longer defines", np)
			}
		}
		seen := map[string]bool{}
		a.Bean.walkCartridges(func(c *cartridgeRef, groupPolicy string) {
			si := c.SubscribableInfo
			if si.AutoscalingPolicy != "" && !seen["as/"+si.AutoscalingPolicy] {
				seen["as/"+si.AutoscalingPolicy] = true
				if _, ok := set.Autoscaling(si.AutoscalingPolicy); !ok {
					missing("autoscaling policy %s, which the directory no longer defines", si.AutoscalingPolicy)
				}
			}
			dp := si.DeploymentPolicy
			if dp == "" {
				dp = groupPolicy
			}
			if dp == "" || seen["dp/"+dp] {
				return
			}
			seen["dp/"+dp] = true
			d, ok := set.Deployment(dp)
			if !ok {
				missing("deployment policy %s, which the directory no longer defines", dp)
				return
			}
			for _, np := range a.NetworkPartitions {
				if !slices.ContainsFunc(d.NetworkPartitions, func(n policies.DeploymentNetworkPartition) bool { return n.ID == np }) {
					missing("network partition %s of deployment policy %s, which the directory's deployment policy no longer names", np, dp)
				}
			}
		})
	}
	return out
}

// policyUser is the part of the Scaler that can tell which policies its clusters use
// (*autoscaler.Autoscaler through cmd's adapter). Clusters the manager did not deploy use
// policies too: the demo's, and those the autoscaler adopted from ClusterCreatedEvents.
type policyUser interface {
	PoliciesInUse() []policies.Ref
}

// scalerOrphans lists the policies the Scaler's clusters use that set lacks.
func (s *Server) scalerOrphans(set *policies.Set) []string {
	u, ok := s.opts.Scaler.(policyUser)
	if !ok {
		return nil
	}
	var out []string
	for _, ref := range u.PoliciesInUse() {
		if _, ok := set.Get(ref); !ok {
			out = append(out, fmt.Sprintf("a running cluster uses %s, which the directory no longer defines", ref))
		}
	}
	return out
}

// policyDirectoryView is GET /policyDirectory: where the policies come from and what the last
// reload did.
type policyDirectoryView struct {
	Directory  string                 `json:"directory"`
	OwnedKinds []string               `json:"ownedKinds"`
	LastReload *policies.ReloadResult `json:"lastReload,omitempty"`
	Reloads    struct {
		Applied int `json:"applied"`
		Failed  int `json:"failed"`
		Refused int `json:"refused"`
	} `json:"reloads"`
}

func (s *Server) directoryView() policyDirectoryView {
	v := policyDirectoryView{Directory: s.opts.Policies.Dir(),
		OwnedKinds: []string{"networkPartitions", "autoscalingPolicies", "deploymentPolicies", "applicationPolicies", "governance"}}
	if r, ok := s.opts.Policies.LastReload(); ok {
		v.LastReload = &r
	}
	n := s.opts.Policies.Reloads()
	v.Reloads.Applied, v.Reloads.Failed, v.Reloads.Refused = n.Applied, n.Failed, n.Refused
	return v
}

func (s *Server) getPolicyDirectory(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Policies.Dir() == "" {
		writeError(w, http.StatusNotFound, "No policy directory: policies come through the REST API (strata up --policies DIR makes a directory the source of truth)")
		return
	}
	writeJSON(w, http.StatusOK, s.directoryView())
}

// reloadPolicyDirectory is POST /policyDirectory/reload: 200 with the view when the directory's
// set runs, 409 when the reload was refused, 400 when a file has problems.
func (s *Server) reloadPolicyDirectory(w http.ResponseWriter, r *http.Request) {
	if s.opts.Policies.Dir() == "" {
		writeError(w, http.StatusNotFound, "No policy directory: policies come through the REST API (strata up --policies DIR makes a directory the source of truth)")
		return
	}
	_, err := s.ReloadPolicies(r.Context())
	switch {
	case errors.Is(err, policies.ErrRefused):
		writeError(w, http.StatusConflict, "Policy reload refused, the running policies are unchanged: "+errorText(err))
	case err != nil:
		writeError(w, http.StatusBadRequest, "Policy reload failed, the running policies are unchanged: "+errorText(err))
	default:
		writeJSON(w, http.StatusOK, s.directoryView())
	}
}
