package manager

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// apiOp documents one operation of the API for the OpenAPI document. The list is written by
// hand, apart from routes, and a test walks the router to check that both name the same
// operations.
type apiOp struct {
	method, path, summary, tag string
	body                       string // request schema name, "" for none
	ok                         int    // success status
}

var apiOps = []apiOp{
	{"GET", "/init", "Check that the server is reachable and the credentials work", "session", "", 200},
	{"GET", "/session", "Return the caller's session id (Strata has no sessions: the caller's identity)", "session", "", 200},
	{"GET", "/openapi.json", "This document", "session", "", 200},
	{"GET", "/iaasProviders", "List the IaaS providers", "session", "", 200},

	{"POST", "/autoscalingPolicies", "Add an autoscaling policy", "policies", "AutoscalingPolicy", 201},
	{"PUT", "/autoscalingPolicies", "Update an autoscaling policy", "policies", "AutoscalingPolicy", 200},
	{"GET", "/autoscalingPolicies", "List autoscaling policies", "policies", "", 200},
	{"GET", "/autoscalingPolicies/{id}", "Get an autoscaling policy", "policies", "", 200},
	{"DELETE", "/autoscalingPolicies/{id}", "Remove an autoscaling policy (400 when in use)", "policies", "", 200},
	{"POST", "/networkPartitions", "Add a network partition", "policies", "NetworkPartition", 201},
	{"PUT", "/networkPartitions", "Update a network partition", "policies", "NetworkPartition", 200},
	{"GET", "/networkPartitions", "List network partitions", "policies", "", 200},
	{"GET", "/networkPartitions/{id}", "Get a network partition", "policies", "", 200},
	{"DELETE", "/networkPartitions/{id}", "Remove a network partition (400 when in use)", "policies", "", 200},
	{"POST", "/deploymentPolicies", "Add a deployment policy", "policies", "DeploymentPolicy", 201},
	{"PUT", "/deploymentPolicies", "Update a deployment policy", "policies", "DeploymentPolicy", 200},
	{"GET", "/deploymentPolicies", "List deployment policies", "policies", "", 200},
	{"GET", "/deploymentPolicies/{id}", "Get a deployment policy", "policies", "", 200},
	{"DELETE", "/deploymentPolicies/{id}", "Remove a deployment policy (400 when in use)", "policies", "", 200},
	{"POST", "/applicationPolicies", "Add an application policy", "policies", "ApplicationPolicy", 201},
	{"PUT", "/applicationPolicies", "Update an application policy", "policies", "ApplicationPolicy", 200},
	{"GET", "/applicationPolicies", "List application policies", "policies", "", 200},
	{"GET", "/applicationPolicies/{id}", "Get an application policy", "policies", "", 200},
	{"DELETE", "/applicationPolicies/{id}", "Remove an application policy (400 when in use)", "policies", "", 200},

	{"POST", "/cartridges", "Add a cartridge", "cartridges", "Cartridge", 201},
	{"PUT", "/cartridges", "Update a cartridge", "cartridges", "Cartridge", 200},
	{"GET", "/cartridges", "List cartridges (?criteria= filters by type)", "cartridges", "", 200},
	{"GET", "/cartridges/filter/{filter}", "List the cartridges of a category", "cartridges", "", 200},
	{"GET", "/cartridges/{type}", "Get a cartridge", "cartridges", "", 200},
	{"GET", "/cartridges/{type}/filter/{filter}", "Get a cartridge if it is of the category", "cartridges", "", 200},
	{"DELETE", "/cartridges/{type}", "Remove a cartridge (400 when used)", "cartridges", "", 200},
	{"POST", "/cartridgeGroups", "Add a cartridge group", "cartridges", "CartridgeGroup", 201},
	{"PUT", "/cartridgeGroups", "Update a cartridge group", "cartridges", "CartridgeGroup", 200},
	{"GET", "/cartridgeGroups", "List cartridge groups", "cartridges", "", 200},
	{"GET", "/cartridgeGroups/{name}", "Get a cartridge group", "cartridges", "", 200},
	{"DELETE", "/cartridgeGroups/{name}", "Remove a cartridge group (400 when used)", "cartridges", "", 200},

	{"GET", "/policyDirectory", "The policy directory (strata up --policies), the kinds it owns and what its last reload did (404 without one)", "policies", "", 200},
	{"POST", "/policyDirectory/reload", "Reload the policy directory now (409 when refused: it would orphan a deployed application)", "policies", "", 200},

	{"POST", "/applications", "Add an application", "applications", "Application", 201},
	{"PUT", "/applications", "Update an application that is not deployed", "applications", "Application", 201},
	{"GET", "/applications", "List the caller's applications", "applications", "", 200},
	{"GET", "/applications/{appId}", "Get an application with its status", "applications", "", 200},
	{"DELETE", "/applications/{appId}", "Remove an application (409 while deployed)", "applications", "", 200},
	{"POST", "/applications/{appId}/deploy/{applicationPolicyId}", "Deploy an application", "applications", "", 202},
	{"POST", "/applications/{appId}/undeploy", "Undeploy an application (?force=true)", "applications", "", 202},
	{"GET", "/applications/{appId}/runtime", "Runtime view: instances, clusters and members", "applications", "", 200},
	{"GET", "/applications/{appId}/networkPartitions", "Network partitions of a deployed application", "applications", "", 200},
	{"POST", "/applications/{appId}/signup", "Sign the caller's tenant up to a multi-tenant application", "signups", "ApplicationSignUp", 201},
	{"GET", "/applications/{appId}/signup", "Get the caller's tenant's sign-up", "signups", "", 200},
	{"DELETE", "/applications/{appId}/signup", "Remove the caller's tenant's sign-up", "signups", "", 200},
	{"POST", "/applications/{appId}/signup/{tenantDomain}", "Sign a tenant up (super tenant only)", "signups", "ApplicationSignUp", 201},
	{"DELETE", "/applications/{appId}/signup/{tenantDomain}", "Remove a tenant's sign-up (super tenant only)", "signups", "", 200},
	{"POST", "/applications/{appId}/domainMappings", "Add domain mappings", "signups", "DomainMappings", 201},
	{"GET", "/applications/{appId}/domainMappings", "List domain mappings", "signups", "", 200},
	{"DELETE", "/applications/{appId}/domainMappings/{domainName}", "Remove a domain mapping", "signups", "", 200},
	{"GET", "/cluster/{clusterId}", "Get a cluster", "applications", "", 200},

	{"POST", "/subscriptions", "Subscribe to a cartridge (application, cluster and deploy in one call)", "subscriptions", "Subscription", 201},
	{"GET", "/subscriptions", "List the caller's tenant's subscriptions", "subscriptions", "", 200},
	{"GET", "/subscriptions/{alias}", "Get a subscription", "subscriptions", "", 200},
	{"DELETE", "/subscriptions/{alias}", "Unsubscribe", "subscriptions", "", 200},
	{"POST", "/repo/notify", "Git webhook: send ArtifactUpdatedEvent to the sign-ups of the repository", "subscriptions", "RepoNotification", 204},

	{"POST", "/tenants", "Add a tenant and its admin (super tenant only)", "tenants", "Tenant", 201},
	{"PUT", "/tenants", "Update a tenant (super tenant only)", "tenants", "Tenant", 200},
	{"GET", "/tenants", "List tenants (super tenant only)", "tenants", "", 200},
	{"GET", "/tenants/{domain}", "Get a tenant (super tenant only)", "tenants", "", 200},
	{"GET", "/tenants/search/{domain}", "Search tenants by domain (super tenant only)", "tenants", "", 200},
	{"DELETE", "/tenants/{domain}", "Not supported: 406", "tenants", "", 406},
	{"PUT", "/tenants/activate/{domain}", "Activate a tenant (super tenant only)", "tenants", "", 200},
	{"PUT", "/tenants/deactivate/{domain}", "Deactivate a tenant (super tenant only)", "tenants", "", 200},
	{"POST", "/users", "Add a user to the caller's tenant", "users", "User", 201},
	{"PUT", "/users", "Update a user of the caller's tenant", "users", "User", 200},
	{"GET", "/users", "List the users of the caller's tenant", "users", "", 200},
	{"DELETE", "/users/{userName}", "Remove a user of the caller's tenant", "users", "", 200},
	{"POST", "/tokens", "Create an API token for the caller (shown once)", "users", "TokenRequest", 201},
	{"GET", "/tokens", "List the caller's API tokens", "users", "", 200},
	{"DELETE", "/tokens/{id}", "Revoke an API token", "users", "", 200},

	{"GET", "/history/health", "Health samples per cluster/member, bucketed by step", "history", "", 200},
	{"GET", "/history/summaries", "CEP summaries per cluster/member, bucketed by step", "history", "", 200},
	{"GET", "/history/logs", "Log lines (?contains= filters)", "history", "", 200},
	{"GET", "/history/lifecycle", "Lifecycle timeline", "history", "", 200},
	{"GET", "/history/decisions", "Autoscaler decisions with their traces", "history", "", 200},
}

var openAPIDoc = sync.OnceValue(func() []byte {
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
		o := map[string]any{
			"summary": op.summary,
			"tags":    []string{op.tag},
			"responses": map[string]any{
				strconv.Itoa(op.ok): map[string]any{"description": http.StatusText(op.ok)},
				"400":               map[string]any{"$ref": "#/components/responses/Error"},
				"401":               map[string]any{"$ref": "#/components/responses/Error"},
				"403":               map[string]any{"$ref": "#/components/responses/Error"},
				"404":               map[string]any{"$ref": "#/components/responses/Error"},
			},
		}
		if op.method != "GET" {
			o["responses"].(map[string]any)["409"] = map[string]any{"$ref": "#/components/responses/Error"}
		}
		if params != nil {
			o["parameters"] = params
		}
		if op.body != "" {
			o["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{
				"schema": map[string]string{"$ref": "#/components/schemas/" + op.body}}}}
		}
		p[strings.ToLower(op.method)] = o
	}
	obj := func(desc string) map[string]any {
		return map[string]any{"type": "object", "description": desc, "additionalProperties": true}
	}
	doc := map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "Strata manager API", "version": "4.1",
			"description": "The Apache Stratos 4.1 REST API (STRATOS-WIRE.md §6) plus Strata's subscriptions, tokens and history. Numbers and booleans may be sent as strings."},
		"servers":  []any{map[string]string{"url": "/api"}, map[string]string{"url": "/api/v4.1"}},
		"security": []any{map[string][]string{"basic": {}}, map[string][]string{"bearer": {}}},
		"paths":    paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"basic":  map[string]string{"type": "http", "scheme": "basic", "description": "user or user@tenant.domain"},
				"bearer": map[string]string{"type": "http", "scheme": "bearer", "description": "an API token from POST /tokens"},
			},
			"responses": map[string]any{"Error": map[string]any{"description": "error", "content": map[string]any{"application/json": map[string]any{
				"schema": map[string]string{"$ref": "#/components/schemas/Message"}}}}},
			"schemas": map[string]any{
				"Message": map[string]any{"type": "object", "required": []string{"status", "message"}, "properties": map[string]any{
					"status": map[string]any{"type": "string", "enum": []string{"success", "error"}}, "message": map[string]string{"type": "string"}}},
				"AutoscalingPolicy": obj("AutoscalePolicyBean (§5.1)"),
				"NetworkPartition":  obj("NetworkPartitionBean (§5.2)"),
				"DeploymentPolicy":  obj("DeploymentPolicyBean (§5.3)"),
				"ApplicationPolicy": obj("ApplicationPolicyBean (§5.4)"),
				"Cartridge":         obj("CartridgeBean (§5.5)"),
				"CartridgeGroup":    obj("CartridgeGroupBean (§5.6)"),
				"Application":       obj("ApplicationBean (§5.7)"),
				"ApplicationSignUp": obj("ApplicationSignUpBean (§5.8)"),
				"DomainMappings":    obj("{domainMappings:[{cartridgeAlias, domainName, contextPath}]} (§5.8)"),
				"Tenant":            obj("TenantInfoBean (§5.10)"),
				"User":              obj("UserInfoBean (§5.10)"),
				"RepoNotification":  obj(`{"repository":{"url":...}}`),
				"TokenRequest":      map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{"name": map[string]string{"type": "string"}}},
				"Subscription": map[string]any{"type": "object", "additionalProperties": false,
					"required": []string{"cartridgeType", "alias", "autoscalingPolicy", "deploymentPolicy"},
					"properties": map[string]any{
						"cartridgeType": map[string]string{"type": "string"}, "alias": map[string]string{"type": "string"},
						"autoscalingPolicy": map[string]string{"type": "string"}, "deploymentPolicy": map[string]string{"type": "string"},
						"repoUrl": map[string]string{"type": "string"}, "repoUsername": map[string]string{"type": "string"},
						"repoPassword": map[string]string{"type": "string", "format": "password"},
						"privateRepo":  map[string]string{"type": "boolean"}, "commitEnabled": map[string]string{"type": "boolean"},
						"agent": map[string]any{"type": "string", "enum": []string{"stratos", "strata"}},
						"min":   map[string]string{"type": "integer"}, "max": map[string]string{"type": "integer"},
					}},
			},
		},
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	return b
})

func (s *Server) getOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDoc())
}
