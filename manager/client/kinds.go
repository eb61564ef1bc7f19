package client

import (
	"strings"
	"unicode"
)

// Kind is a kind of definition the API holds and the client deploys and lists. Users may name
// it in the singular ("autoscaling-policy"), the plural ("autoscaling-policies") or as Stratos'
// REST collection ("autoscalingPolicies"); case, '-' and '_' do not matter.
type Kind struct {
	Name, Plural string
	Path         string   // the API collection; its name is Stratos' REST name
	ID           string   // the key that names one item
	Cols         []string // the table's columns
}

// Kinds are the kinds of definition, in the order usage messages list them.
var Kinds = []Kind{
	{"autoscaling-policy", "autoscaling-policies", "/autoscalingPolicies", "id", []string{"id", "displayName"}},
	{"network-partition", "network-partitions", "/networkPartitions", "id", []string{"id", "provider"}},
	{"deployment-policy", "deployment-policies", "/deploymentPolicies", "id", []string{"id"}},
	{"application-policy", "application-policies", "/applicationPolicies", "id", []string{"id", "algorithm"}},
	{"cartridge", "cartridges", "/cartridges", "type", []string{"type", "category", "provider", "multiTenant", "version"}},
	{"cartridge-group", "cartridge-groups", "/cartridgeGroups", "name", []string{"name"}},
	{"application", "applications", "/applications", "applicationId", []string{"applicationId", "status", "multiTenant"}},
	{"tenant", "tenants", "/tenants", "tenantDomain", []string{"tenantDomain", "tenantId", "admin", "active"}},
	{"user", "users", "/users", "userName", []string{"userName", "role"}},
	{"subscription", "subscriptions", "/subscriptions", "alias", []string{"alias", "cartridgeType", "status", "activeMembers", "clusterId"}},
}

// RESTName is Stratos' name of the kind's REST collection, e.g. autoscalingPolicies.
func (k Kind) RESTName() string { return strings.TrimPrefix(k.Path, "/") }

// foldKind folds a kind's spelling: lower case, without '-' and '_'.
func foldKind(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' {
			return -1
		}
		return unicode.ToLower(r)
	}, s)
}

// LookupKind finds a kind by any of its names; singular REST names (autoscalingPolicy) fold to
// the singular name.
func LookupKind(s string) (Kind, bool) {
	f := foldKind(s)
	for _, k := range Kinds {
		if f == foldKind(k.Name) || f == foldKind(k.Plural) || f == foldKind(k.RESTName()) {
			return k, true
		}
	}
	return Kind{}, false
}

// KindNames lists the kinds for usage and error messages, in the plural.
func KindNames() string {
	var n []string
	for _, k := range Kinds {
		n = append(n, k.Plural)
	}
	return strings.Join(n, ", ") + " (singular and Stratos' REST names such as autoscalingPolicies work too)"
}

// Subscription is the body of POST /subscriptions: subscribe to a cartridge (application,
// cluster and deploy in one call).
type Subscription struct {
	CartridgeType     string `json:"cartridgeType"`
	Alias             string `json:"alias"`
	AutoscalingPolicy string `json:"autoscalingPolicy"`
	DeploymentPolicy  string `json:"deploymentPolicy"`
	RepoURL           string `json:"repoUrl,omitempty"`
	RepoUsername      string `json:"repoUsername,omitempty"`
	RepoPassword      string `json:"repoPassword,omitempty"`
	PrivateRepo       bool   `json:"privateRepo,omitempty"`
	CommitEnabled     bool   `json:"commitEnabled,omitempty"`
	Agent             string `json:"agent,omitempty"`
	Min               int    `json:"min,omitempty"`
	Max               int    `json:"max,omitempty"`
}
