package policies

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/strata-paas/strata/rules"
)

// Set is an immutable, validated set of policies: every id unique within its kind, every
// reference resolved, every expr and Rego module compiled. Readers share a *Set without locks;
// changes build a new Set (With, Without, a reload) and swap it in a Store.
type Set struct {
	autoscaling       map[string]*Autoscaling
	deployment        map[string]*Deployment
	application       map[string]*Application
	networkPartitions map[string]*NetworkPartition
	governance        map[string]*Governance
	gov               *rules.RegoQuery // nil without governance modules
}

// Empty is the set with no policies.
func Empty() *Set {
	return &Set{
		autoscaling:       map[string]*Autoscaling{},
		deployment:        map[string]*Deployment{},
		application:       map[string]*Application{},
		networkPartitions: map[string]*NetworkPartition{},
		governance:        map[string]*Governance{},
	}
}

// Autoscaling returns the autoscaling policy with the id.
func (s *Set) Autoscaling(id string) (*Autoscaling, bool) { p, ok := s.autoscaling[id]; return p, ok }

// Deployment returns the deployment policy with the id.
func (s *Set) Deployment(id string) (*Deployment, bool) { p, ok := s.deployment[id]; return p, ok }

// Application returns the application policy with the id.
func (s *Set) Application(id string) (*Application, bool) { p, ok := s.application[id]; return p, ok }

// NetworkPartition returns the network partition with the id.
func (s *Set) NetworkPartition(id string) (*NetworkPartition, bool) {
	p, ok := s.networkPartitions[id]
	return p, ok
}

func sorted[P Policy](m map[string]P) []P {
	out := slices.Collect(maps.Values(m))
	slices.SortFunc(out, func(a, b P) int { return cmp.Compare(a.Ref().ID, b.Ref().ID) })
	return out
}

// AutoscalingPolicies lists the autoscaling policies by id.
func (s *Set) AutoscalingPolicies() []*Autoscaling { return sorted(s.autoscaling) }

// DeploymentPolicies lists the deployment policies by id.
func (s *Set) DeploymentPolicies() []*Deployment { return sorted(s.deployment) }

// ApplicationPolicies lists the application policies by id.
func (s *Set) ApplicationPolicies() []*Application { return sorted(s.application) }

// NetworkPartitions lists the network partitions by id.
func (s *Set) NetworkPartitions() []*NetworkPartition { return sorted(s.networkPartitions) }

// GovernanceModules lists the governance modules by id.
func (s *Set) GovernanceModules() []*Governance { return sorted(s.governance) }

// Shadows lists the shadow policies that run beside the enforced policy id.
func (s *Set) Shadows(id string) []*Autoscaling {
	var out []*Autoscaling
	for _, a := range s.AutoscalingPolicies() {
		if a.Mode == ModeShadow && a.ShadowOf == id {
			out = append(out, a)
		}
	}
	return out
}

// Governance is the compiled governance query (GovernanceQuery over every module), or nil when
// the set has no governance modules.
func (s *Set) Governance() *rules.RegoQuery { return s.gov }

// Govern asks the governance policy about a proposed action. Without governance modules every
// action is allowed. Answers are cached by proposal for the life of the Set.
func (s *Set) Govern(ctx context.Context, p rules.Proposal) (rules.RegoResult, error) {
	if s.gov == nil {
		return rules.RegoResult{Query: GovernanceQuery}, nil
	}
	return s.gov.Decide(ctx, p)
}

// Get returns the policy a ref names.
func (s *Set) Get(ref Ref) (Policy, bool) {
	var p Policy
	var ok bool
	switch ref.Kind {
	case KindAutoscaling:
		p, ok = lookup(s.autoscaling, ref.ID)
	case KindDeployment:
		p, ok = lookup(s.deployment, ref.ID)
	case KindApplication:
		p, ok = lookup(s.application, ref.ID)
	case KindNetworkPartition:
		p, ok = lookup(s.networkPartitions, ref.ID)
	case KindGovernance:
		p, ok = lookup(s.governance, ref.ID)
	}
	return p, ok
}

func lookup[P Policy](m map[string]P, id string) (Policy, bool) {
	p, ok := m[id]
	if !ok {
		return nil, false
	}
	return p, true
}

// All lists every policy, by kind then id.
func (s *Set) All() []Policy {
	var out []Policy
	for _, p := range s.NetworkPartitions() {
		out = append(out, p)
	}
	for _, p := range s.AutoscalingPolicies() {
		out = append(out, p)
	}
	for _, p := range s.DeploymentPolicies() {
		out = append(out, p)
	}
	for _, p := range s.ApplicationPolicies() {
		out = append(out, p)
	}
	for _, p := range s.GovernanceModules() {
		out = append(out, p)
	}
	return out
}

// Referrers lists the policies of the set that refer to ref: deployment and application
// policies naming a network partition, shadow policies naming the policy they shadow. The
// manager adds its own users (applications naming autoscaling and deployment policies) before
// it removes a policy.
func (s *Set) Referrers(ref Ref) []Ref {
	var out []Ref
	switch ref.Kind {
	case KindNetworkPartition:
		for _, d := range s.DeploymentPolicies() {
			if slices.ContainsFunc(d.NetworkPartitions, func(n DeploymentNetworkPartition) bool { return n.ID == ref.ID }) {
				out = append(out, d.Ref())
			}
		}
		for _, a := range s.ApplicationPolicies() {
			if slices.Contains(a.NetworkPartitions, ref.ID) {
				out = append(out, a.Ref())
			}
		}
	case KindAutoscaling:
		for _, a := range s.Shadows(ref.ID) {
			out = append(out, a.Ref())
		}
	}
	return out
}

// With returns a new set with the policies added, replacing those with the same ref, validated
// as a whole. Unchanged policies keep their pointers. s is not modified.
func (s *Set) With(ctx context.Context, ps ...Policy) (*Set, error) {
	next := map[Ref]Policy{}
	for _, p := range s.All() {
		next[p.Ref()] = p
	}
	var pr problems
	seen := map[Ref]Policy{}
	for _, p := range ps {
		if first, dup := seen[p.Ref()]; dup {
			pr.addIs(p.At(), ErrDuplicate, "duplicate %s id %q (first at %s)", kindName(p.Ref().Kind), p.Ref().ID, first.At())
			continue
		}
		seen[p.Ref()] = p
		next[p.Ref()] = p
	}
	if err := pr.err(); err != nil {
		return nil, err
	}
	return build(ctx, slices.Collect(maps.Values(next)), s)
}

// Without returns a new set without the policies. It fails with ErrNotFound for a policy that is
// not there and ErrInUse for one that a remaining policy refers to.
func (s *Set) Without(ctx context.Context, refs ...Ref) (*Set, error) {
	drop := map[Ref]bool{}
	var errs []error
	for _, r := range refs {
		if _, ok := s.Get(r); !ok {
			errs = append(errs, fmt.Errorf("%w: %s", ErrNotFound, r))
		}
		drop[r] = true
	}
	for _, r := range refs {
		for _, by := range s.Referrers(r) {
			if !drop[by] {
				errs = append(errs, fmt.Errorf("%w: %s is used by %s", ErrInUse, r, by))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var keep []Policy
	for _, p := range s.All() {
		if !drop[p.Ref()] {
			keep = append(keep, p)
		}
	}
	return build(ctx, keep, s)
}

func kindName(k Kind) string {
	switch k {
	case KindAutoscaling:
		return "autoscaling policy"
	case KindDeployment:
		return "deployment policy"
	case KindApplication:
		return "application policy"
	case KindNetworkPartition:
		return "network partition"
	case KindGovernance:
		return "governance module"
	}
	return string(k)
}

// build assembles and validates a set. Policies equal in content to one in prev are replaced
// by prev's pointer, so that the autoscaler keeps their state; the governance query is reused
// when no module changed.
func build(ctx context.Context, ps []Policy, prev *Set) (*Set, error) {
	s := Empty()
	var pr problems
	firsts := map[Ref]Policy{}
	slices.SortStableFunc(ps, func(a, b Policy) int { return comparePos(a.At(), b.At()) })
	for _, p := range ps {
		ref := p.Ref()
		if ref.ID == "" {
			continue // reported by the conversion
		}
		if first, dup := firsts[ref]; dup {
			pr.addIs(p.At(), ErrDuplicate, "duplicate %s id %q (first defined at %s)", kindName(ref.Kind), ref.ID, first.At())
			continue
		}
		firsts[ref] = p
		if prev != nil {
			if old, ok := prev.Get(ref); ok && old.fingerprint() == p.fingerprint() {
				p = old
			}
		}
		switch v := p.(type) {
		case *Autoscaling:
			s.autoscaling[v.ID] = v
		case *Deployment:
			s.deployment[v.ID] = v
		case *Application:
			s.application[v.ID] = v
		case *NetworkPartition:
			s.networkPartitions[v.ID] = v
		case *Governance:
			s.governance[v.ID] = v
		}
	}
	// References. The positions are those of the referring policy (its own value positions are
	// kept by the file-shaped structs only, so crossref re-reads them through refPos).
	for _, a := range s.autoscaling {
		if a.Mode != ModeShadow {
			continue
		}
		switch t, ok := s.autoscaling[a.ShadowOf]; {
		case !ok:
			pr.addIs(refPos(a, "shadowOf", 0, 0), ErrNotFound, "autoscaling policy %s shadows %q, which does not exist", a.ID, a.ShadowOf)
		case t.Mode == ModeShadow:
			pr.add(refPos(a, "shadowOf", 0, 0), "autoscaling policy %s shadows %s, which is itself a shadow", a.ID, a.ShadowOf)
		}
	}
	for _, d := range s.deployment {
		for i, dn := range d.NetworkPartitions {
			np, ok := s.networkPartitions[dn.ID]
			if !ok {
				pr.addIs(refPos(d, "np", i, 0), ErrNotFound, "deployment policy %s: network partition %q does not exist", d.ID, dn.ID)
				continue
			}
			for j, dp := range dn.Partitions {
				if _, ok := np.Partition(dp.ID); !ok {
					pr.addIs(refPos(d, "partition", i, j), ErrNotFound, "deployment policy %s: network partition %s has no partition %q", d.ID, dn.ID, dp.ID)
				}
			}
		}
	}
	for _, a := range s.application {
		for i, id := range a.NetworkPartitions {
			if _, ok := s.networkPartitions[id]; !ok {
				pr.addIs(refPos(a, "np", i, 0), ErrNotFound, "application policy %s: network partition %q does not exist", a.ID, id)
			}
		}
		for _, g := range a.Groups {
			for _, id := range g {
				if !slices.Contains(a.NetworkPartitions, id) {
					pr.addIs(a.Source, ErrNotFound, "application policy %s: networkPartitionGroups names %q, which is not in networkPartitions", a.ID, id)
				}
			}
		}
	}
	if len(s.governance) > 0 {
		s.gov = compileGovernance(ctx, s.governance, prev, &pr)
	}
	if err := pr.err(); err != nil {
		return nil, err
	}
	return s, nil
}

func comparePos(a, b Pos) int {
	return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
}

// refPos finds where a reference was written. Policies decoded from files carry the positions
// of their references; others fall back to the policy's position.
func refPos(p Policy, what string, i, j int) Pos {
	if rp, ok := p.(interface {
		refPos(string, int, int) (Pos, bool)
	}); ok {
		if pos, ok := rp.refPos(what, i, j); ok && pos.Line > 0 {
			return pos
		}
	}
	return p.At()
}

func compileGovernance(ctx context.Context, mods map[string]*Governance, prev *Set, pr *problems) *rules.RegoQuery {
	if prev != nil && prev.gov != nil && len(prev.governance) == len(mods) {
		same := true
		for id, g := range mods {
			if old, ok := prev.governance[id]; !ok || old != g {
				same = false
				break
			}
		}
		if same {
			return prev.gov
		}
	}
	src := make(map[string]string, len(mods))
	for _, g := range mods {
		name := g.Source.File
		if name == "" {
			name = g.ID
		}
		src[name] = g.Module
	}
	q, err := rules.CompileRego(ctx, src, GovernanceQuery)
	if err != nil {
		for _, e := range flatten(err) {
			var re *rules.RegoError
			if errors.As(e, &re) {
				pr.add(Pos{File: re.File, Line: re.Line, Col: re.Column}, "rego: %s", re.Msg)
			} else {
				pr.add(Pos{}, "rego: %v", e)
			}
		}
		return nil
	}
	hasDeny := false
	for name, m := range q.Modules() {
		pkg := m.Package.Path.String()
		if pkg != "data.strata.governance" && !strings.HasPrefix(pkg, "data.strata.governance.") {
			loc := m.Package.Location
			pr.add(Pos{File: name, Line: loc.Row, Col: loc.Col}, "governance modules belong to package strata.governance (or below it), not %s", strings.TrimPrefix(pkg, "data."))
			continue
		}
		if pkg == "data.strata.governance" {
			for _, r := range m.Rules {
				if r.Head.Name.String() == "deny" || r.Head.Ref().String() == "deny" {
					hasDeny = true
				}
			}
		}
	}
	if !hasDeny {
		first := sorted(mods)[0]
		pr.add(first.Source, "governance: no module defines the entrypoint deny in package strata.governance")
	}
	return q
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
