// Package modules is the platform's module store: what Stratos' Puppet master was to a member at
// boot. Per cartridge type it serves a versioned module, a set of files with an install script
// (install.sh), that `strata init` (package agent/bootstrap) fetches and runs inside the member
// before it hands over to the agent.
//
// A cartridge names its module with cartridge properties: PropertyDir (a directory on the
// platform's host) or PropertyRepo (a git repository, optionally at PropertyRef, a branch, a tag
// or a commit). A directory module's version is a hash of its content (file names, executable
// bits and bytes); a git module's is the commit the ref names.
//
// # Data flow
//
//	GET /modules/{type}/version ──> member credential (Options.Member) ──> its cartridge type must be {type}
//	GET /modules/{type}         ──> the same ──> Options.Cartridge ──> Source ──> load ──> tar.gz
//	                                load: directory: walk + hash; git: ls-remote, clone on a new commit
//
// Served on the REST listener under /modules (manager.Options.Modules), authenticated with the
// member's own credential (HTTP Basic, the MB_USERNAME and MB_PASSWORD of its payload): a member
// fetches only its own cartridge type's module (403 otherwise), an anonymous or wrong credential
// gets 401.
//
// # Concurrency
//
// The handler may serve any number of requests at once. Store.mu guards the cache of git modules
// (one archive per repository, ref and commit); it is a leaf, never held while cloning.
package modules
