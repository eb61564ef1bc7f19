package manager

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strata-paas/strata/history"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// apiOp documents one operation of the API for the OpenAPI document. The list is written by
// hand, apart from routes, and a test walks the router to check that both name the same
// operations. Bodies are named schemas (see bodyTypes); "[]Name" is an array of Name.
type apiOp struct {
	method, path, summary, tag string
	body                       string // request schema, "" for none
	ok                         int    // success status
	resp                       string // response schema, "" for no body
}

var apiOps = []apiOp{
	{"GET", "/init", "Check that the server is reachable and the credentials work", "session", "", 200, "Message"},
	{"GET", "/session", "Return the caller's session id (Strata has no sessions: the caller's identity)", "session", "", 200, "Session"},
	{"GET", "/openapi.json", "This document", "session", "", 200, "OpenAPIDocument"},
	{"GET", "/iaasProviders", "List the IaaS providers", "session", "", 200, "IaasProviders"},

	{"POST", "/autoscalingPolicies", "Add an autoscaling policy", "policies", "AutoscalingPolicy", 201, "Message"},
	{"PUT", "/autoscalingPolicies", "Update an autoscaling policy", "policies", "AutoscalingPolicy", 200, "Message"},
	{"GET", "/autoscalingPolicies", "List autoscaling policies", "policies", "", 200, "[]AutoscalingPolicy"},
	{"GET", "/autoscalingPolicies/{id}", "Get an autoscaling policy", "policies", "", 200, "AutoscalingPolicy"},
	{"DELETE", "/autoscalingPolicies/{id}", "Remove an autoscaling policy (400 when in use)", "policies", "", 200, "Message"},
	{"POST", "/networkPartitions", "Add a network partition", "policies", "NetworkPartition", 201, "Message"},
	{"PUT", "/networkPartitions", "Update a network partition", "policies", "NetworkPartition", 200, "Message"},
	{"GET", "/networkPartitions", "List network partitions", "policies", "", 200, "[]NetworkPartition"},
	{"GET", "/networkPartitions/{id}", "Get a network partition", "policies", "", 200, "NetworkPartition"},
	{"DELETE", "/networkPartitions/{id}", "Remove a network partition (400 when in use)", "policies", "", 200, "Message"},
	{"POST", "/kubernetesClusters", "Add a Kubernetes cluster (409 when it exists)", "policies", "KubernetesCluster", 201, "Message"},
	{"PUT", "/kubernetesClusters", "Update a Kubernetes cluster", "policies", "KubernetesCluster", 200, "Message"},
	{"PUT", "/kubernetesClusters/host", "Update a host of the Kubernetes cluster that has it", "policies", "KubernetesHost", 200, "Message"},
	{"GET", "/kubernetesClusters", "List Kubernetes clusters", "policies", "", 200, "[]KubernetesCluster"},
	{"GET", "/kubernetesClusters/{id}", "Get a Kubernetes cluster", "policies", "", 200, "KubernetesCluster"},
	{"GET", "/kubernetesClusters/{id}/hosts", "List a Kubernetes cluster's hosts", "policies", "", 200, "[]KubernetesHost"},
	{"GET", "/kubernetesClusters/{id}/master", "Get a Kubernetes cluster's master", "policies", "", 200, "KubernetesHost"},
	{"POST", "/kubernetesClusters/{id}/minion", "Add a host to a Kubernetes cluster", "policies", "KubernetesHost", 201, "Message"},
	{"PUT", "/kubernetesClusters/{id}/master", "Update a Kubernetes cluster's master", "policies", "KubernetesHost", 200, "Message"},
	{"DELETE", "/kubernetesClusters/{id}", "Remove a Kubernetes cluster (409 while a partition names it)", "policies", "", 200, "Message"},
	{"DELETE", "/kubernetesClusters/{id}/hosts/{hostId}", "Remove a host of a Kubernetes cluster", "policies", "", 200, "Message"},
	{"POST", "/deploymentPolicies", "Add a deployment policy", "policies", "DeploymentPolicy", 201, "Message"},
	{"PUT", "/deploymentPolicies", "Update a deployment policy", "policies", "DeploymentPolicy", 200, "Message"},
	{"GET", "/deploymentPolicies", "List deployment policies", "policies", "", 200, "[]DeploymentPolicy"},
	{"GET", "/deploymentPolicies/{id}", "Get a deployment policy", "policies", "", 200, "DeploymentPolicy"},
	{"DELETE", "/deploymentPolicies/{id}", "Remove a deployment policy (400 when in use)", "policies", "", 200, "Message"},
	{"POST", "/applicationPolicies", "Add an application policy", "policies", "ApplicationPolicy", 201, "Message"},
	{"PUT", "/applicationPolicies", "Update an application policy", "policies", "ApplicationPolicy", 200, "Message"},
	{"GET", "/applicationPolicies", "List application policies", "policies", "", 200, "[]ApplicationPolicy"},
	{"GET", "/applicationPolicies/{id}", "Get an application policy", "policies", "", 200, "ApplicationPolicy"},
	{"DELETE", "/applicationPolicies/{id}", "Remove an application policy (400 when in use)", "policies", "", 200, "Message"},

	{"POST", "/cartridges", "Add a cartridge", "cartridges", "Cartridge", 201, "Message"},
	{"PUT", "/cartridges", "Update a cartridge", "cartridges", "Cartridge", 200, "Message"},
	{"GET", "/cartridges", "List cartridges (?criteria= filters by type)", "cartridges", "", 200, "[]Cartridge"},
	{"GET", "/cartridges/filter/{filter}", "List the cartridges of a category", "cartridges", "", 200, "[]Cartridge"},
	{"GET", "/cartridges/{type}", "Get a cartridge", "cartridges", "", 200, "Cartridge"},
	{"GET", "/cartridges/{type}/filter/{filter}", "Get a cartridge if it is of the category", "cartridges", "", 200, "Cartridge"},
	{"DELETE", "/cartridges/{type}", "Remove a cartridge (400 when used)", "cartridges", "", 200, "Message"},
	{"POST", "/cartridgeGroups", "Add a cartridge group", "cartridges", "CartridgeGroup", 201, "Message"},
	{"PUT", "/cartridgeGroups", "Update a cartridge group", "cartridges", "CartridgeGroup", 200, "Message"},
	{"GET", "/cartridgeGroups", "List cartridge groups", "cartridges", "", 200, "[]CartridgeGroup"},
	{"GET", "/cartridgeGroups/{name}", "Get a cartridge group", "cartridges", "", 200, "CartridgeGroup"},
	{"DELETE", "/cartridgeGroups/{name}", "Remove a cartridge group (400 when used)", "cartridges", "", 200, "Message"},

	{"GET", "/policyDirectory", "The policy directory (strata up --policies), the kinds it owns and what its last reload did (404 without one)", "policies", "", 200, "PolicyDirectory"},
	{"POST", "/policyDirectory/reload", "Reload the policy directory now (409 when refused: it would orphan a deployed application)", "policies", "", 200, "PolicyDirectory"},

	{"POST", "/applications", "Add an application", "applications", "Application", 201, "Message"},
	{"PUT", "/applications", "Update an application; while deployed, the clusters' cartridgeMin and cartridgeMax may change and cartridges be added (409 for anything else) and the running clusters follow", "applications", "Application", 201, "Message"},
	{"GET", "/applications", "List the caller's applications", "applications", "", 200, "[]Application"},
	{"GET", "/applications/{appId}", "Get an application with its status", "applications", "", 200, "Application"},
	{"DELETE", "/applications/{appId}", "Remove an application (409 while deployed)", "applications", "", 200, "Message"},
	{"POST", "/applications/{appId}/deploy/{applicationPolicyId}", "Deploy an application", "applications", "", 202, "Message"},
	{"POST", "/applications/{appId}/undeploy", "Undeploy an application (?force=true)", "applications", "", 202, "Message"},
	{"DELETE", "/applications/{appId}/members/{memberId}", "Terminate one member of a deployed application gracefully (Strata): the cleanup flow follows and the autoscaler replaces it if min requires", "applications", "", 202, "Message"},
	{"GET", "/applications/{appId}/runtime", "Runtime view: instances, clusters and members (?limit=&after= for a page of members, next in the answer)", "applications", "", 200, "ApplicationRuntime"},
	{"GET", "/applications/{appId}/networkPartitions", "Network partitions of a deployed application", "applications", "", 200, "ApplicationNetworkPartitions"},
	{"POST", "/applications/{appId}/signup", "Sign the caller's tenant up to a multi-tenant application", "signups", "ApplicationSignUp", 201, "Message"},
	{"GET", "/applications/{appId}/signup", "Get the caller's tenant's sign-up", "signups", "", 200, "ApplicationSignUpView"},
	{"DELETE", "/applications/{appId}/signup", "Remove the caller's tenant's sign-up", "signups", "", 200, "Message"},
	{"POST", "/applications/{appId}/signup/{tenantDomain}", "Sign a tenant up (super tenant only)", "signups", "ApplicationSignUp", 201, "Message"},
	{"DELETE", "/applications/{appId}/signup/{tenantDomain}", "Remove a tenant's sign-up (super tenant only)", "signups", "", 200, "Message"},
	{"POST", "/applications/{appId}/domainMappings", "Add domain mappings", "signups", "DomainMappings", 201, "Message"},
	{"GET", "/applications/{appId}/domainMappings", "List domain mappings", "signups", "", 200, "[]DomainMapping"},
	{"DELETE", "/applications/{appId}/domainMappings/{domainName}", "Remove a domain mapping", "signups", "", 200, "Message"},
	{"GET", "/cluster/{clusterId}", "Get a cluster", "applications", "", 200, "ClusterInstance"},

	{"POST", "/subscriptions", "Subscribe to a cartridge (application, cluster and deploy in one call)", "subscriptions", "Subscription", 201, "Message"},
	{"GET", "/subscriptions", "List the caller's tenant's subscriptions", "subscriptions", "", 200, "[]SubscriptionView"},
	{"GET", "/subscriptions/{alias}", "Get a subscription", "subscriptions", "", 200, "SubscriptionView"},
	{"DELETE", "/subscriptions/{alias}", "Unsubscribe", "subscriptions", "", 200, "Message"},
	{"POST", "/repo/notify", "Git webhook: send ArtifactUpdatedEvent to the sign-ups of the repository", "subscriptions", "RepoNotification", 204, ""},

	{"POST", "/tenants", "Add a tenant and its admin (super tenant only)", "tenants", "Tenant", 201, "Message"},
	{"PUT", "/tenants", "Update a tenant (super tenant only)", "tenants", "Tenant", 200, "Message"},
	{"GET", "/tenants", "List tenants (super tenant only)", "tenants", "", 200, "[]Tenant"},
	{"GET", "/tenants/{domain}", "Get a tenant (super tenant only)", "tenants", "", 200, "Tenant"},
	{"GET", "/tenants/search/{domain}", "Search tenants by domain (super tenant only)", "tenants", "", 200, "[]Tenant"},
	{"DELETE", "/tenants/{domain}", "Not supported: 406", "tenants", "", 406, "Message"},
	{"PUT", "/tenants/activate/{domain}", "Activate a tenant (super tenant only)", "tenants", "", 200, "Message"},
	{"PUT", "/tenants/deactivate/{domain}", "Deactivate a tenant (super tenant only)", "tenants", "", 200, "Message"},
	{"POST", "/users", "Add a user to the caller's tenant", "users", "User", 201, "Message"},
	{"PUT", "/users", "Update a user of the caller's tenant", "users", "User", 200, "Message"},
	{"GET", "/users", "List the users of the caller's tenant", "users", "", 200, "[]User"},
	{"DELETE", "/users/{userName}", "Remove a user of the caller's tenant", "users", "", 200, "Message"},
	{"POST", "/tokens", "Create an API token for the caller (shown once)", "users", "TokenRequest", 201, "TokenCreated"},
	{"GET", "/tokens", "List the caller's API tokens", "users", "", 200, "[]Token"},
	{"DELETE", "/tokens/{id}", "Revoke an API token", "users", "", 200, "Message"},

	{"GET", "/history/health", "Health samples per cluster/member, bucketed by step", "history", "", 200, "[]HistoryPoint"},
	{"GET", "/history/summaries", "CEP summaries per cluster/member, bucketed by step", "history", "", 200, "[]HistoryPoint"},
	{"GET", "/history/logs", "Log lines (?contains= filters)", "history", "", 200, "[]LogEntry"},
	{"GET", "/history/lifecycle", "Lifecycle timeline", "history", "", 200, "[]LifecycleRecord"},
	{"GET", "/history/decisions", "Autoscaler decisions with their traces", "history", "", 200, "[]Decision"},
}

// bodyTypes are the Go types of the request and response bodies: the schemas of the document
// are generated from them by reflection (schemaGen), so they follow the decoders. The policy
// kinds are the structs the policy package's Stratos JSON decoder fills.
var bodyTypes = map[string]any{
	"Message":                      message{},
	"AutoscalingPolicy":            policies.StratosJSONShape(policies.KindAutoscaling),
	"NetworkPartition":             policies.StratosJSONShape(policies.KindNetworkPartition),
	"DeploymentPolicy":             policies.StratosJSONShape(policies.KindDeployment),
	"ApplicationPolicy":            policies.StratosJSONShape(policies.KindApplication),
	"Cartridge":                    model.Cartridge{},
	"KubernetesCluster":            model.KubernetesCluster{},
	"KubernetesHost":               model.KubernetesHost{},
	"CartridgeGroup":               cartridgeGroup{},
	"Application":                  applicationBean{},
	"ApplicationRuntime":           applicationInfoBean{},
	"ClusterInstance":              clusterInstance{},
	"ApplicationNetworkPartitions": applicationNetworkPartitions{},
	"ApplicationSignUp":            signUpBean{},
	"ApplicationSignUpView":        signUpView{},
	"DomainMappings":               domainMappingsBean{},
	"DomainMapping":                domainMappingBean{},
	"Subscription":                 subscriptionRequest{},
	"SubscriptionView":             subscriptionView{},
	"RepoNotification":             repoNotification{},
	"Tenant":                       tenantBean{},
	"User":                         userBean{},
	"TokenRequest":                 tokenRequest{},
	"TokenCreated":                 tokenCreated{},
	"Token":                        tokenRecord{},
	"Session":                      session{},
	"IaasProviders":                iaasProviders{},
	"HistoryPoint":                 history.Point{},
	"LogEntry":                     model.LogEntry{},
	"LifecycleRecord":              model.LifecycleRecord{},
	"Decision":                     model.Decision{},
	"PolicyDirectory":              policyDirectoryView{},
}

// schemaGen turns Go types into OpenAPI 3.0 schemas the way encoding/json (or, for the policy
// shapes, the policy decoder) reads them: json keys (yaml keys where a field has no json tag),
// embedded structs flattened, unknown keys refused (additionalProperties: false, as the
// decoders are strict). A type with a JSONSchema() map[string]any method describes itself; one
// with a JSONShape() any method (a custom decoder) is described by the struct it decodes from.
// Named structs become components, referenced with $ref.
type schemaGen struct {
	schemas map[string]any
	names   map[reflect.Type]string
	taken   map[string]reflect.Type
	// lenient: numbers and booleans may also be strings (Stratos JSON policies).
	lenient bool
	// open: other keys are ignored, not refused (a webhook's body).
	open bool
}

type (
	selfDescribing interface{ JSONSchema() map[string]any }
	shaped         interface{ JSONShape() any }
)

var (
	selfDescribingType = reflect.TypeFor[selfDescribing]()
	shapedType         = reflect.TypeFor[shaped]()
	timeType           = reflect.TypeFor[time.Time]()
	durationType       = reflect.TypeFor[time.Duration]()
	rawMessageType     = reflect.TypeFor[json.RawMessage]()
)

// define makes name the component of v's type and returns its $ref.
func (g *schemaGen) define(name string, v any) map[string]any {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	g.names[t] = name
	g.taken[name] = t
	g.schemas[name] = g.structSchema(t)
	return ref(name)
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	if t.Kind() == reflect.Pointer {
		return g.schema(t.Elem())
	}
	if t.Implements(selfDescribingType) {
		return reflect.Zero(t).Interface().(selfDescribing).JSONSchema()
	}
	if reflect.PointerTo(t).Implements(selfDescribingType) {
		return reflect.New(t).Interface().(selfDescribing).JSONSchema()
	}
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case durationType:
		return map[string]any{"type": "string", "description": "a duration such as 90s or 5m"}
	case rawMessageType:
		return map[string]any{"description": "any JSON value"}
	}
	scalar := func(typ, format string) map[string]any {
		s := map[string]any{"type": typ}
		if format != "" {
			s["format"] = format
		}
		if g.lenient {
			return map[string]any{"oneOf": []any{s, map[string]any{"type": "string", "description": "the " + typ + " as text"}}}
		}
		return s
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return scalar("boolean", "")
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16:
		return scalar("integer", "int32")
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return scalar("integer", "int64")
	case reflect.Float32, reflect.Float64:
		return scalar("number", "double")
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Interface:
		return map[string]any{"description": "any JSON value"}
	case reflect.Struct:
		if t.Name() == "" {
			return g.structSchema(t)
		}
		name, ok := g.names[t]
		if !ok {
			name = strings.ToUpper(t.Name()[:1]) + t.Name()[1:]
			if rest, ok := strings.CutPrefix(t.Name(), "file"); ok && strings.HasSuffix(t.PkgPath(), "/policies") {
				name = "Policy" + rest // the policy package's file-shaped structs: filePartition is PolicyPartition
			}
			if other, clash := g.taken[name]; clash && other != t {
				name = strings.ToUpper(t.PkgPath()[strings.LastIndex(t.PkgPath(), "/")+1:][:1]) +
					t.PkgPath()[strings.LastIndex(t.PkgPath(), "/")+2:] + name
			}
			g.names[t], g.taken[name] = name, t
			g.schemas[name] = nil // placeholder: a recursive type refers to itself
			g.schemas[name] = g.structSchema(t)
		}
		return ref(name)
	}
	panic(fmt.Sprintf("manager: no OpenAPI schema for %s", t))
}

// structSchema is the object schema of a struct's fields.
func (g *schemaGen) structSchema(t reflect.Type) map[string]any {
	if t.Implements(shapedType) {
		t = reflect.TypeOf(reflect.Zero(t).Interface().(shaped).JSONShape())
	}
	props := map[string]any{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag, hasJSON := f.Tag.Lookup("json")
			if !hasJSON {
				tag = f.Tag.Get("yaml")
			}
			name, _, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			props[name] = g.schema(f.Type)
		}
	}
	walk(t)
	return map[string]any{"type": "object", "additionalProperties": g.open, "properties": props}
}

// openAPIDocument builds the document: every operation of apiOps, every schema from bodyTypes.
func openAPIDocument() map[string]any {
	g := &schemaGen{schemas: map[string]any{}, names: map[reflect.Type]string{}, taken: map[string]reflect.Type{}}
	for name, v := range bodyTypes {
		t := reflect.TypeOf(v)
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		g.names[t], g.taken[name] = name, t
	}
	for name, v := range bodyTypes {
		g.lenient = strings.HasSuffix(name, "Policy") || name == "NetworkPartition"
		g.open = name == "RepoNotification"
		g.define(name, v)
	}
	g.lenient, g.open = false, false
	g.schemas["OpenAPIDocument"] = map[string]any{"type": "object", "description": "this document", "additionalProperties": true}
	schemaOf := func(name string) map[string]any {
		if elem, ok := strings.CutPrefix(name, "[]"); ok {
			return map[string]any{"type": "array", "items": ref(elem)}
		}
		return ref(name)
	}
	paths := map[string]map[string]any{}
	for _, op := range apiOps {
		p := paths[op.path]
		if p == nil {
			p = map[string]any{}
			paths[op.path] = p
		}
		var params []any
		for _, seg := range strings.Split(op.path, "/") {
			if strings.HasPrefix(seg, "{") {
				params = append(params, map[string]any{"name": strings.Trim(seg, "{}"), "in": "path", "required": true, "schema": map[string]string{"type": "string"}})
			}
		}
		ok := map[string]any{"description": http.StatusText(op.ok)}
		if op.resp != "" {
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": schemaOf(op.resp)}}
		}
		responses := map[string]any{strconv.Itoa(op.ok): ok}
		for _, code := range []string{"400", "401", "403", "404"} {
			responses[code] = map[string]any{"$ref": "#/components/responses/Error"}
		}
		if op.method != "GET" {
			responses["409"] = map[string]any{"$ref": "#/components/responses/Error"}
		}
		o := map[string]any{
			"operationId": operationID(op),
			"summary":     op.summary,
			"tags":        []string{op.tag},
			"responses":   responses,
		}
		if op.path == "/openapi.json" {
			o["security"] = []any{} // readable without credentials
			delete(responses, "401")
			delete(responses, "403")
		}
		if params != nil {
			o["parameters"] = params
		}
		if op.body != "" {
			o["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{
				"schema": schemaOf(op.body)}}}
		}
		p[strings.ToLower(op.method)] = o
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "Strata manager API", "version": "4.1",
			"description": "The Apache Stratos 4.1 REST API (docs/stratos-wire.md §6) plus Strata's subscriptions, tokens and history. Numbers and booleans may be sent as strings. Every route is also served under /api/v4.1."},
		"servers":  []any{map[string]string{"url": "/api"}, map[string]string{"url": "/api/v4.1"}},
		"security": []any{map[string][]string{"basic": {}}, map[string][]string{"bearer": {}}},
		"paths":    paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"basic":  map[string]string{"type": "http", "scheme": "basic", "description": "user or user@tenant.domain"},
				"bearer": map[string]string{"type": "http", "scheme": "bearer", "description": "an API token from POST /tokens"},
			},
			"responses": map[string]any{"Error": map[string]any{"description": "error", "content": map[string]any{"application/json": map[string]any{
				"schema": ref("Message")}}}},
			"schemas": g.schemas,
		},
	}
}

// operationID names an operation: the method and the path's words, e.g. getApplicationsAppIdRuntime.
func operationID(op apiOp) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(op.method))
	for _, seg := range strings.Split(op.path, "/") {
		seg = strings.Trim(seg, "{}")
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, ".", ""), "-", "")
		if seg != "" {
			b.WriteString(strings.ToUpper(seg[:1]) + seg[1:])
		}
	}
	return b.String()
}

// Bodies that are not beans of their own elsewhere.
type (
	session struct {
		SessionID    string   `json:"sessionId"`
		User         string   `json:"user"`
		TenantDomain string   `json:"tenantDomain"`
		Role         string   `json:"role"`
		Permissions  []string `json:"permissions"` // "resource:action" the authorisation policy allows
	}
	iaasProviders struct {
		IaasProviders []string `json:"iaasProviders"`
	}
	applicationNetworkPartitions struct {
		NetworkPartitionIDs []string `json:"networkPartitionIds"`
	}
	tokenCreated struct {
		Status  string `json:"status"`
		Message string `json:"message"`
		ID      string `json:"id"`
		Token   string `json:"token"`
	}
)

var openAPIDoc = sync.OnceValue(func() []byte {
	b, err := json.MarshalIndent(openAPIDocument(), "", "  ")
	if err != nil {
		panic(err) // maps of strings, slices and bools always marshal
	}
	return b
})

func (s *Server) getOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDoc())
}
