package manager

import (
	"errors"
	"fmt"
	"strings"

	"github.com/strata-paas/strata/internal/model"
)

// File-shaped structs: the Stratos beans (docs/stratos-wire.md §5.6-§5.10) and Strata's own request
// bodies, as clients write them. Numbers and booleans use model's flexible scalars, which accept
// strings. Each has one validate method that reports every problem at once.

// cartridgeGroup is CartridgeGroupBean (§5.6).
type cartridgeGroup struct {
	Name                string           `json:"name"`
	Groups              []cartridgeGroup `json:"groups,omitempty"`
	Cartridges          []string         `json:"cartridges,omitempty"`
	Dependencies        *dependencies    `json:"dependencies,omitempty"`
	GroupScalingEnabled *model.Bool      `json:"groupScalingEnabled,omitempty"` // in some samples; not a bean field
}

type dependencies struct {
	StartupOrders        []aliasList `json:"startupOrders,omitempty"`
	ScalingDependents    []aliasList `json:"scalingDependents,omitempty"`
	TerminationBehaviour string      `json:"terminationBehaviour,omitempty"`
}

type aliasList struct {
	Aliases []string `json:"aliases"`
}

func (g *cartridgeGroup) validate() error {
	var errs []error
	var walk func(g *cartridgeGroup, where string)
	walk = func(g *cartridgeGroup, where string) {
		if !validID(g.Name) {
			errs = append(errs, fmt.Errorf("%sname %q: must be 1-128 letters, digits, '.', '_' or '-'", where, g.Name))
		}
		if len(g.Cartridges) == 0 && len(g.Groups) == 0 {
			errs = append(errs, fmt.Errorf("%s%s: needs cartridges or groups", where, g.Name))
		}
		for i, c := range g.Cartridges {
			if !validID(c) {
				errs = append(errs, fmt.Errorf("%scartridges[%d] %q: not a cartridge type", where, i, c))
			}
		}
		errs = append(errs, g.Dependencies.validate(where)...)
		for i := range g.Groups {
			walk(&g.Groups[i], fmt.Sprintf("%sgroups[%d].", where, i))
		}
	}
	walk(g, "")
	seen := map[string]bool{g.Name: true}
	for _, n := range g.nested() {
		if seen[n.Name] {
			errs = append(errs, fmt.Errorf("group %s is defined more than once in %s", n.Name, g.Name))
		}
		seen[n.Name] = true
	}
	return errors.Join(errs...)
}

func (d *dependencies) validate(where string) []error {
	if d == nil {
		return nil
	}
	var errs []error
	switch d.TerminationBehaviour {
	case "", "terminate-all", "terminate-none", "terminate-dependents":
	default:
		errs = append(errs, fmt.Errorf("%sdependencies.terminationBehaviour %q: want terminate-all, terminate-none or terminate-dependents", where, d.TerminationBehaviour))
	}
	for _, l := range [][]aliasList{d.StartupOrders, d.ScalingDependents} {
		for i, o := range l {
			for j, a := range o.Aliases {
				if !strings.HasPrefix(a, "cartridge.") && !strings.HasPrefix(a, "group.") {
					errs = append(errs, fmt.Errorf("%sdependencies[%d].aliases[%d] %q: must start with \"cartridge.\" or \"group.\"", where, i, j, a))
				}
			}
		}
	}
	return errs
}

// uses reports whether the group or a nested group lists the cartridge type.
func (g *cartridgeGroup) uses(typ string) bool {
	for _, c := range g.Cartridges {
		if c == typ {
			return true
		}
	}
	for i := range g.Groups {
		if g.Groups[i].uses(typ) {
			return true
		}
	}
	return false
}

// nested returns the groups defined inside g at any depth, outermost first.
func (g *cartridgeGroup) nested() []cartridgeGroup {
	var out []cartridgeGroup
	for _, n := range g.Groups {
		out = append(out, n)
		out = append(out, n.nested()...)
	}
	return out
}

// nests reports whether a group of that name is defined inside g at any depth.
func (g *cartridgeGroup) nests(name string) bool {
	for _, n := range g.nested() {
		if n.Name == name {
			return true
		}
	}
	return false
}

// applicationBean is ApplicationBean (§5.7).
type applicationBean struct {
	ApplicationID string            `json:"applicationId"`
	Alias         string            `json:"alias,omitempty"`
	Name          string            `json:"name,omitempty"`
	Description   string            `json:"description,omitempty"`
	MultiTenant   model.Bool        `json:"multiTenant"`
	Property      []model.NameValue `json:"property,omitempty"`
	Components    components        `json:"components"`
	// Response-only fields.
	Status       string      `json:"status,omitempty"`
	SignUpsExist *model.Bool `json:"signUpsExist,omitempty"`
}

type components struct {
	Cartridges   []cartridgeRef `json:"cartridges,omitempty"`
	Groups       []groupRef     `json:"groups,omitempty"`
	Dependencies *dependencies  `json:"dependencies,omitempty"`
}

type cartridgeRef struct {
	Type             string           `json:"type"`
	CartridgeMin     model.Int        `json:"cartridgeMin"`
	CartridgeMax     model.Int        `json:"cartridgeMax"`
	SubscribableInfo subscribableInfo `json:"subscribableInfo"`
	// LvsVirtualIP is where Stratos' samples (application-bursting-test) also write it, beside
	// subscribableInfo; kept as written.
	LvsVirtualIP string `json:"lvsVirtualIP,omitempty"`
}

type subscribableInfo struct {
	Alias              string              `json:"alias"`
	AutoscalingPolicy  string              `json:"autoscalingPolicy,omitempty"`
	DeploymentPolicy   string              `json:"deploymentPolicy,omitempty"`
	MinMembers         *model.Int          `json:"minMembers,omitempty"`
	MaxMembers         *model.Int          `json:"maxMembers,omitempty"`
	DependencyAliases  []string            `json:"dependencyAliases,omitempty"`
	ArtifactRepository *artifactRepository `json:"artifactRepository,omitempty"`
	Property           []model.NameValue   `json:"property,omitempty"`
	Persistence        *model.Persistence  `json:"persistence,omitempty"`
	LvsVirtualIP       string              `json:"lvsVirtualIP,omitempty"`
}

type artifactRepository struct {
	Alias        string     `json:"alias,omitempty"`
	PrivateRepo  model.Bool `json:"privateRepo"`
	RepoURL      string     `json:"repoUrl,omitempty"`
	RepoUsername string     `json:"repoUsername,omitempty"`
	RepoPassword string     `json:"repoPassword,omitempty"`
}

type groupRef struct {
	Name              string         `json:"name"`
	Alias             string         `json:"alias"`
	GroupMinInstances model.Int      `json:"groupMinInstances"`
	GroupMaxInstances model.Int      `json:"groupMaxInstances"`
	GroupScaling      *model.Bool    `json:"groupScalingEnabled,omitempty"`
	DeploymentPolicy  string         `json:"deploymentPolicy,omitempty"`
	Cartridges        []cartridgeRef `json:"cartridges,omitempty"`
	Groups            []groupRef     `json:"groups,omitempty"`
}

// walkCartridges calls f for every cartridge of the application, with the deployment policy of
// the nearest enclosing group that has one.
func (a *applicationBean) walkCartridges(f func(c *cartridgeRef, groupPolicy string)) {
	for i := range a.Components.Cartridges {
		f(&a.Components.Cartridges[i], "")
	}
	var walk func(gs []groupRef, policy string)
	walk = func(gs []groupRef, policy string) {
		for i := range gs {
			p := policy
			if gs[i].DeploymentPolicy != "" {
				p = gs[i].DeploymentPolicy
			}
			for j := range gs[i].Cartridges {
				f(&gs[i].Cartridges[j], p)
			}
			walk(gs[i].Groups, p)
		}
	}
	walk(a.Components.Groups, "")
}

func (a *applicationBean) usesGroup(name string) bool {
	var walk func(gs []groupRef) bool
	walk = func(gs []groupRef) bool {
		for _, g := range gs {
			if g.Name == name || walk(g.Groups) {
				return true
			}
		}
		return false
	}
	return walk(a.Components.Groups)
}

// validate checks the application alone; references are checked by Server.checkApplication.
func (a *applicationBean) validate() error {
	var errs []error
	if !validID(a.ApplicationID) {
		errs = append(errs, fmt.Errorf("applicationId %q: must be 1-128 letters, digits, '.', '_' or '-'", a.ApplicationID))
	}
	if len(a.Components.Cartridges) == 0 && len(a.Components.Groups) == 0 {
		errs = append(errs, errors.New("components: at least one cartridge or group is required"))
	}
	aliases := map[string]bool{}
	a.walkCartridges(func(c *cartridgeRef, _ string) {
		si := c.SubscribableInfo
		where := "cartridge " + c.Type
		if !validID(c.Type) {
			errs = append(errs, fmt.Errorf("%s: type %q is not a cartridge type", where, c.Type))
		}
		if !validID(si.Alias) {
			errs = append(errs, fmt.Errorf("%s: subscribableInfo.alias %q must be 1-128 letters, digits, '.', '_' or '-'", where, si.Alias))
		} else if aliases[si.Alias] {
			errs = append(errs, fmt.Errorf("%s: subscribableInfo.alias %q is used twice", where, si.Alias))
		}
		aliases[si.Alias] = true
		if c.CartridgeMin < 0 || c.CartridgeMax < c.CartridgeMin {
			errs = append(errs, fmt.Errorf("%s: cartridgeMin %d and cartridgeMax %d: want 0 <= min <= max", where, c.CartridgeMin, c.CartridgeMax))
		}
		if si.AutoscalingPolicy == "" {
			errs = append(errs, fmt.Errorf("%s: subscribableInfo.autoscalingPolicy is required", where))
		}
	})
	for i := range a.Components.Groups {
		g := &a.Components.Groups[i]
		if !validID(g.Alias) {
			errs = append(errs, fmt.Errorf("group %s: alias %q must be 1-128 letters, digits, '.', '_' or '-'", g.Name, g.Alias))
		}
	}
	errs = append(errs, a.Components.Dependencies.validate("components.")...)
	return errors.Join(errs...)
}

// signUpBean is ApplicationSignUpBean (§5.8).
type signUpBean struct {
	ArtifactRepositories []artifactRepository `json:"artifactRepositories,omitempty"`
}

// domainMappingsBean is the domain mappings body (§5.8).
type domainMappingsBean struct {
	DomainMappings []domainMappingBean `json:"domainMappings"`
}

type domainMappingBean struct {
	CartridgeAlias string `json:"cartridgeAlias"`
	DomainName     string `json:"domainName"`
	ContextPath    string `json:"contextPath,omitempty"`
}

// tenantBean is TenantInfoBean (§5.10).
type tenantBean struct {
	Admin             string      `json:"admin"`
	FirstName         string      `json:"firstName,omitempty"`
	LastName          string      `json:"lastName,omitempty"`
	AdminPassword     string      `json:"adminPassword,omitempty"`
	TenantDomain      string      `json:"tenantDomain"`
	TenantID          model.Int   `json:"tenantId,omitempty"`
	Email             string      `json:"email,omitempty"`
	Active            *model.Bool `json:"active,omitempty"`
	SuccessKey        string      `json:"successKey,omitempty"`
	CreatedDate       string      `json:"createdDate,omitempty"`
	OriginatedService string      `json:"originatedService,omitempty"`
	UsagePlan         string      `json:"usagePlan,omitempty"`
}

// userBean is UserInfoBean (§5.10).
type userBean struct {
	UserName    string `json:"userName"`
	Credential  string `json:"credential,omitempty"`
	Role        string `json:"role"`
	FirstName   string `json:"firstName,omitempty"`
	LastName    string `json:"lastName,omitempty"`
	Email       string `json:"email,omitempty"`
	ProfileName string `json:"profileName,omitempty"`
}

// subscriptionRequest is Strata's subscription body (POST /api/subscriptions), the single-tenant
// subscription of Stratos 4.0 in one call. Unknown keys are errors.
type subscriptionRequest struct {
	CartridgeType     string     `json:"cartridgeType"`
	Alias             string     `json:"alias"`
	AutoscalingPolicy string     `json:"autoscalingPolicy"`
	DeploymentPolicy  string     `json:"deploymentPolicy"`
	RepoURL           string     `json:"repoUrl,omitempty"`
	RepoUsername      string     `json:"repoUsername,omitempty"`
	RepoPassword      string     `json:"repoPassword,omitempty"`
	PrivateRepo       model.Bool `json:"privateRepo,omitempty"`
	CommitEnabled     model.Bool `json:"commitEnabled,omitempty"`
	// Agent chooses the repository password's encryption in ArtifactUpdatedEvent: "stratos"
	// (AES/ECB, what unmodified Stratos agents read; the default) or "strata" (AES-GCM).
	Agent string    `json:"agent,omitempty"`
	Min   model.Int `json:"min,omitempty"`
	Max   model.Int `json:"max,omitempty"`
}

func (q *subscriptionRequest) validate() error {
	var errs []error
	if !validID(q.CartridgeType) {
		errs = append(errs, fmt.Errorf("cartridgeType %q: must be 1-128 letters, digits, '.', '_' or '-'", q.CartridgeType))
	}
	if !validID(q.Alias) {
		errs = append(errs, fmt.Errorf("alias %q: must be 1-128 letters, digits, '.', '_' or '-'", q.Alias))
	}
	if q.AutoscalingPolicy == "" {
		errs = append(errs, errors.New("autoscalingPolicy is required"))
	}
	if q.DeploymentPolicy == "" {
		errs = append(errs, errors.New("deploymentPolicy is required"))
	}
	if q.RepoURL != "" && !strings.HasPrefix(q.RepoURL, "https://") && !strings.HasPrefix(q.RepoURL, "http://") &&
		!strings.HasPrefix(q.RepoURL, "git@") && !strings.HasPrefix(q.RepoURL, "ssh://") && !strings.HasPrefix(q.RepoURL, "file://") {
		errs = append(errs, fmt.Errorf("repoUrl %q: want an http(s), ssh, git@ or file URL", q.RepoURL))
	}
	switch q.Agent {
	case "", agentStratos, agentStrata:
	default:
		errs = append(errs, fmt.Errorf("agent %q: want stratos or strata", q.Agent))
	}
	if q.Min < 0 || (q.Max != 0 && q.Max < q.Min) {
		errs = append(errs, fmt.Errorf("min %d and max %d: want 0 <= min <= max", q.Min, q.Max))
	}
	return errors.Join(errs...)
}

// Agent kinds, which choose the form of the repository password in ArtifactUpdatedEvent.
const (
	agentStratos = "stratos"
	agentStrata  = "strata"
)
