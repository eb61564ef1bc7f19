# Strata's default authorisation policy. The manager asks data.strata.authz.allow for every API
# request, with
#   input.user      {name, tenant, role, super_tenant}  role: admin | tenant-admin | user
#   input.resource  the resource the route names (cartridges, subscriptions, tenants, ...)
#   input.action    "view" or "manage"
#   input.method, input.path
# Replace it with --authz-policy FILE (same package and rule). Handlers still keep each tenant
# to its own applications, sign-ups and subscriptions whatever the policy says.
package strata.authz

default allow := false

# The super tenant's admin (the cartridge deployer) may do everything.
allow if {
	input.user.role == "admin"
	input.user.super_tenant
}

# Everyone authenticated may check the server and read the API description.
allow if input.resource == "session"

# Definitions and policies are the platform's: tenants may read them.
platform := {"cartridges", "cartridgeGroups", "autoscalingPolicies", "deploymentPolicies",
	"applicationPolicies", "networkPartitions", "policyDirectory"}

allow if {
	platform[input.resource]
	input.action == "view"
}

# Tenant admins (subscribers) manage their tenant's subscriptions, applications, sign-ups,
# users, tokens and repository notifications, and read its history.
tenant_owned := {"subscriptions", "applications", "signups", "users", "tokens", "repo", "history"}

allow if {
	input.user.role == "tenant-admin"
	tenant_owned[input.resource]
}

# Tenant users read their tenant's subscriptions and applications and manage their own tokens.
allow if {
	input.user.role == "user"
	{"subscriptions", "applications", "signups", "history"}[input.resource]
	input.action == "view"
}

allow if {
	input.user.role == "user"
	input.resource == "tokens"
}
