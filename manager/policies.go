package manager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// policyNames are the words Stratos' messages use for each policy kind.
var policyNames = map[policies.Kind][2]string{
	policies.KindAutoscaling:      {"Autoscaling policy", "autoscaling-policy"},
	policies.KindNetworkPartition: {"Network partition", "network-partition"},
	policies.KindDeployment:       {"Deployment policy", "deployment-policy-id"},
	policies.KindApplication:      {"Application policy", "application-policy"},
}

func policyKey(kind policies.Kind, id string) string { return string(kind) + "/" + id }

// restorePolicies loads the policies the API stored into the policy store, all at once. With a
// policy directory it loads none of them: the directory wins, and each one it supersedes is
// logged.
func (s *Server) restorePolicies() error {
	keys, values, err := s.store.rawList(bucketPolicies)
	if err != nil || len(keys) == 0 {
		return err
	}
	if s.opts.Policies.Dir() != "" {
		s.supersede(keys)
		return nil
	}
	var ps []policies.Policy
	var errs []error
	for i, k := range keys {
		kind, _, _ := strings.Cut(k, "/")
		p, err := policies.DecodeStratosJSON(policies.Kind(kind), values[i])
		if err != nil {
			errs = append(errs, fmt.Errorf("stored policy %s: %w", k, err))
			continue
		}
		ps = append(ps, p)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("manager: restore policies: %w", err)
	}
	_, err = s.opts.Policies.Update(func(set *policies.Set) (*policies.Set, error) {
		return set.With(context.Background(), ps...)
	})
	if err != nil {
		return fmt.Errorf("manager: restore policies: %w", err)
	}
	return nil
}

// decodePolicy decodes a Stratos JSON policy and, for a network partition, the controller's form.
func decodePolicy(kind policies.Kind, body []byte) (policies.Policy, *model.NetworkPartition, error) {
	p, err := policies.DecodeStratosJSON(kind, body)
	if err != nil {
		var head struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(body, &head) == nil && head.ID != "" && !validID(head.ID) {
			err = errors.Join(fmt.Errorf("id %q: must be 1-128 letters, digits, '.', '_' or '-'", head.ID), err)
		}
		return nil, nil, err
	}
	if !validID(p.Ref().ID) {
		return nil, nil, fmt.Errorf("id %q: must be 1-128 letters, digits, '.', '_' or '-'", p.Ref().ID)
	}
	if kind != policies.KindNetworkPartition {
		return p, nil, nil
	}
	var np model.NetworkPartition
	if err := json.Unmarshal(body, &np); err != nil {
		return nil, nil, fmt.Errorf("network partition: %w", err)
	}
	if err := np.Validate(); err != nil {
		return nil, nil, err
	}
	return p, &np, nil
}

// putPolicy is POST (update false: the policy must be new) and PUT (update: it must exist) of a
// policy kind.
func (s *Server) putPolicy(kind policies.Kind, update bool) http.HandlerFunc {
	names := policyNames[kind]
	return func(w http.ResponseWriter, r *http.Request) {
		if s.dirOwned(w, kind) {
			return
		}
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		p, np, err := decodePolicy(kind, body)
		if err != nil {
			writeError(w, http.StatusBadRequest, names[0]+" is not valid: "+errorText(err))
			return
		}
		id := p.Ref().ID
		s.mu.Lock()
		defer s.mu.Unlock()
		switch _, exists := s.opts.Policies.Set().Get(p.Ref()); {
		case exists && !update:
			writeError(w, http.StatusConflict, fmt.Sprintf("%s already exists: [%s] %s", names[0], names[1], id))
			return
		case !exists && update:
			writeError(w, http.StatusNotFound, fmt.Sprintf("%s not found: [%s] %s", names[0], names[1], id))
			return
		}
		if code, err := s.applyPolicy(r.Context(), p, np, body, update); err != nil {
			writeError(w, code, names[0]+" is not valid: "+errorText(err))
			return
		}
		if update {
			s.log.Info("policy updated", "kind", kind, "id", id)
			writeSuccess(w, http.StatusOK, fmt.Sprintf("%s updated successfully: [%s] %s", names[0], names[1], id))
			return
		}
		s.log.Info("policy added", "kind", kind, "id", id)
		tag := names[1]
		if kind == policies.KindAutoscaling {
			tag = "autoscale-policy" // Stratos' add message says so; its delete message does not
		}
		created(w, r, id, fmt.Sprintf("%s added successfully: [%s] %s", names[0], tag, id))
	}
}

// applyPolicy checks p against the current set, tells the controller about a network partition,
// then swaps the set and stores the body. Called with s.mu held.
func (s *Server) applyPolicy(ctx context.Context, p policies.Policy, np *model.NetworkPartition, body []byte, update bool) (int, error) {
	base := s.opts.Policies.Set()
	checked, err := base.With(ctx, p)
	if err != nil {
		return http.StatusBadRequest, err
	}
	if np != nil {
		if update {
			err = s.opts.Partitions.UpdateNetworkPartition(ctx, *np)
		} else {
			err = s.opts.Partitions.AddNetworkPartition(ctx, *np)
		}
		if err != nil {
			return http.StatusBadRequest, fmt.Errorf("controller: %w", err)
		}
	}
	// The checked set is swapped in unless a reload of the policy directory came in between.
	if _, err := s.opts.Policies.Update(func(set *policies.Set) (*policies.Set, error) {
		if set == base {
			return checked, nil
		}
		return set.With(ctx, p)
	}); err != nil {
		return http.StatusBadRequest, err
	}
	if err := s.store.putRaw(bucketPolicies, policyKey(p.Ref().Kind, p.Ref().ID), body); err != nil {
		return http.StatusInternalServerError, err
	}
	return 0, nil
}

func (s *Server) listPolicies(kind policies.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		var out []json.RawMessage
		for _, p := range s.opts.Policies.Set().All() {
			if p.Ref().Kind != kind {
				continue
			}
			b, err := policies.EncodeStratosJSON(p)
			if err != nil {
				writeError(w, http.StatusInternalServerError, err.Error())
				return
			}
			out = append(out, b)
		}
		if len(out) == 0 {
			writeError(w, http.StatusNotFound, fmt.Sprintf("No %ss found", strings.ToLower(policyNames[kind][0])))
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func (s *Server) getPolicy(kind policies.Kind) http.HandlerFunc {
	names := policyNames[kind]
	return func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		p, ok := s.opts.Policies.Set().Get(policies.Ref{Kind: kind, ID: id})
		if !ok {
			writeError(w, http.StatusNotFound, fmt.Sprintf("%s not found: [%s] %s", names[0], names[1], id))
			return
		}
		b, err := policies.EncodeStratosJSON(p)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, json.RawMessage(b))
	}
}

func (s *Server) removePolicy(kind policies.Kind) http.HandlerFunc {
	names := policyNames[kind]
	return func(w http.ResponseWriter, r *http.Request) {
		if s.dirOwned(w, kind) {
			return
		}
		id := chi.URLParam(r, "id")
		ref := policies.Ref{Kind: kind, ID: id}
		s.mu.Lock()
		defer s.mu.Unlock()
		set := s.opts.Policies.Set()
		if _, ok := set.Get(ref); !ok {
			writeError(w, http.StatusNotFound, fmt.Sprintf("%s not found: [%s] %s", names[0], names[1], id))
			return
		}
		users := s.policyUsers(ref)
		for _, x := range set.Referrers(ref) {
			users = append(users, x.String())
		}
		if len(users) > 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("%s is in use: [%s] %s is used by %s", names[0], names[1], id, strings.Join(users, ", ")))
			return
		}
		if _, err := s.opts.Policies.Update(func(set *policies.Set) (*policies.Set, error) { return set.Without(r.Context(), ref) }); err != nil {
			code := http.StatusBadRequest
			if errors.Is(err, policies.ErrNotFound) {
				code = http.StatusNotFound
			}
			writeError(w, code, fmt.Sprintf("%s could not be removed: %s", names[0], errorText(err)))
			return
		}
		if kind == policies.KindNetworkPartition {
			if err := s.opts.Partitions.RemoveNetworkPartition(r.Context(), id); err != nil {
				s.log.Warn("cannot remove the network partition from the cloud controller", "id", id, "err", err)
			}
		}
		if err := s.store.delete(bucketPolicies, policyKey(kind, id)); err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeSuccess(w, http.StatusOK, fmt.Sprintf("%s deleted successfully: [%s] %s", names[0], names[1], id))
	}
}

// policyUsers names the applications that use a policy: their definitions for autoscaling and
// deployment policies, their deployment for application policies and network partitions.
func (s *Server) policyUsers(ref policies.Ref) []string {
	apps, _ := list[applicationRecord](s.store, bucketApplications, "")
	var users []string
	for _, a := range apps {
		used := false
		switch ref.Kind {
		case policies.KindAutoscaling, policies.KindDeployment:
			a.Bean.walkCartridges(func(c *cartridgeRef, groupPolicy string) {
				si := c.SubscribableInfo
				if ref.Kind == policies.KindAutoscaling && si.AutoscalingPolicy == ref.ID {
					used = true
				}
				if ref.Kind == policies.KindDeployment && (si.DeploymentPolicy == ref.ID || si.DeploymentPolicy == "" && groupPolicy == ref.ID) {
					used = true
				}
			})
		case policies.KindApplication:
			used = a.Status != statusCreated && a.ApplicationPolicy == ref.ID
		case policies.KindNetworkPartition:
			if a.Status != statusCreated {
				if ap, ok := s.opts.Policies.Set().Application(a.ApplicationPolicy); ok {
					used = slices.Contains(ap.NetworkPartitions, ref.ID)
				}
			}
		}
		if used {
			users = append(users, "application "+a.Bean.ApplicationID)
		}
	}
	return users
}
