// Package manager is Strata's manager: the REST API (Stratos 4.1 paths under /api and /api/v4.1,
// STRATOS-WIRE.md §6), the credential store that every component authenticates against,
// tenants, users, roles and API tokens, definitions and policies, applications, sign-ups and
// subscriptions, artifact distribution and the dashboard (history) queries.
//
// # Requests
//
//	request ─► Recoverer ─► limitBody (MaxBody, 413) ─► authenticate (Basic "user[@domain]" or
//	          Bearer token, 401 + WWW-Authenticate) ─► can(resource, action): the Rego policy
//	          data.strata.authz.allow (default.rego, or Options.AuthzPolicy), 403 ─► handler
//
// Every route is listed in one place, Server.routes, with the permission it needs; apiOps in
// openapi.go documents the same routes and a test walks the router to keep the two equal.
// Handlers decode the body into a file-shaped struct (beans.go: Stratos' beans, numbers and
// booleans accepted as strings; Strata's own bodies refuse unknown keys), validate it reporting
// every problem at once (errors.Join), check references, and only then call the platform and
// store. Answers are Stratos': 201 + Location + {"status":"success","message":...} for adds,
// 200 for updates and removals, 202 for deploy and undeploy, 404 for empty collections, and
// {"status":"error","message":...} with 400/404/409 for failures. A tenant sees and changes only
// its own applications, sign-ups and subscriptions (handlers filter by the caller's tenant
// whatever the policy allows); the super tenant's admin sees every application.
//
// # State
//
// The manager keeps its state in buckets "manager.*" of the bbolt database cmd opens as
// manager.db (store.go): policies as the Stratos JSON that was posted (also loaded into the
// shared policies.Store the autoscaler reads, restored at New), cartridges, groups,
// applications, sign-ups, subscriptions, tenants and token hashes. Repository passwords are
// stored only encrypted under their application's key (model.EncryptPassword, AES-GCM); API
// answers never carry them, and they are never logged.
//
// # Deploy, undeploy and artifacts
//
// Deploying an application builds one Cluster per cartridge (clusterId per §1.7, payload with
// CARTRIDGE_KEY and REPO_URL) with one ClusterInstance per network partition of the application
// policy, asks the ClusterManager to create them and registers each instance with the Scaler.
// A single-tenant application gets its owner's sign-up from its artifactRepository entries, as
// Stratos does. Undeploy unregisters the instances at once and removes the clusters in a
// background goroutine (Server.bg); the application returns to Created when that finishes.
//
// Subscriptions (subscriptions.go) are the single-call form: a single-tenant cartridge gets its
// own application and cluster; a multi-tenant one shares one application per cartridge type and
// each tenant is a sign-up of it.
//
// Artifact distribution: Run subscribes to instance/status/#; on InstanceStartedEvent, and on
// POST /repo/notify (a git webhook), every deployed sign-up using the cluster or repository gets
// an ArtifactUpdatedEvent whose password is re-encrypted for the cluster's agents: Stratos'
// AES/ECB form by default, AES-GCM when the application property strata.agent is "strata" (or
// the subscription's agent is). Run also publishes CompleteTenantEvent and
// CompleteApplicationSignUpsEvent at start and every minute, and resyncs the platform with the
// stored cartridges, network partitions and deployed cluster instances before serving.
//
// # The policy directory
//
// With a policy directory (Options.Policies has a Dir: strata up --policies), the directory is
// the source of truth for every policy kind (policydir.go). REST writes to them answer 409 naming
// the directory, reads still work; policies posted before the directory took over are not
// loaded (each is logged as policy_superseded) and stay in the database untouched. The
// directory's network partitions reach the controller at start (resync) and on every reload:
// ReloadPolicies, called on SIGHUP, when a file changes and by POST /policyDirectory/reload,
// refuses a set that would orphan a deployed application (a policy or network partition it uses
// gone), then hands the controller the added, changed and removed network partitions (undoing
// them if it refuses one) before the store swaps the set in. GET /policyDirectory shows the last
// reload's result.
//
// # Concurrency and lock order
//
// Server.mu serialises every change to definitions, applications, sign-ups and subscriptions,
// so an in-use check and the change it guards see the same state; reads go to bbolt without it.
// Under Server.mu the manager calls the platform interfaces and policies.Store.Update and
// ReloadCheck (whose own lock comes after Server.mu; the reload's check, admitPolicies, runs
// under both); none of them may call back into the manager. Users has one mutex
// guarding only its memo of verified passwords. The bus handler (artifact distribution) reads
// bbolt and publishes without Server.mu. The undeploy goroutines take Server.mu when they finish;
// Run waits for them after the HTTP server has shut down.
package manager
