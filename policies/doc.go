// Package policies is the policy file format DevOps write, and the validated, immutable set of
// policies the autoscaler and the manager read.
//
// # Kinds and files
//
// A policy directory holds YAML files (one or more documents each, separated by ---), Stratos
// JSON files and Rego modules:
//
//	kind: AutoscalingPolicy        # Stratos' loadThresholds + expr rules + behaviour + mode
//	kind: DeploymentPolicy         # network partitions, partitions, partitionMax, partitionAlgo
//	kind: ApplicationPolicy        # network partitions and the network-partition algorithm
//	kind: NetworkPartition         # provider, partitions, properties
//	*.rego                         # governance: package strata.governance, entrypoint deny
//	*_test.rego                    # Rego unit tests (TestRego)
//	*_test.yaml                    # fixtures for `strata policy test` (LoadFixtures)
//	*.json under autoscaling-policies/, deployment-policies/, application-policies/,
//	  network-partitions/ (or so named): Stratos JSON, converted
//
// examples/policies in the repository has one of each. The keys are Stratos' JSON keys where
// Stratos has the concept (docs/stratos-wire.md §5.1-§5.4), so a Stratos policy is also a valid YAML
// policy once it has a kind. Properties are a YAML mapping, or Stratos' [{name, value}] list.
//
// Governance modules are Rego v1 in package strata.governance (helpers may live below it). The
// entrypoint is data.strata.governance.deny, a set of messages; the input is a rules.Proposal
// (input.action, input.delta, input.tenant_id, input.partition_id, input.time.hour, ...). A
// non-empty deny set blocks the proposed action and its messages go into the decision's trace.
//
// # Data flow
//
//	files ──► yaml.Node / JSON ─► strict decoder ─► file-shaped structs (file.go)
//	      ──► convert* (convert.go: validate, compile expr) ─► domain structs (policy.go)
//	      ──► build (ids unique, references resolved, Rego compiled) ─► *Set
//	      ──► Store (atomic swap; failed reloads keep the old Set)   ─► autoscaler, manager
//
// Decoding is strict: unknown and duplicate keys, wrong types and bad values are errors, and
// every problem of a load is reported at once, each an *Error with file:line:col (errors.Join;
// Errors flattens them). Expr compile errors are mapped from their position in the expression
// to the file. Stratos JSON (DecodeStratosJSON, for the REST API) is decoded by the same code,
// leniently about numbers and booleans written as strings.
//
// Reload is all-or-nothing: a directory with any problem leaves the running Set unchanged. A
// policy whose content did not change keeps its pointer in the new Set, and Diff reports
// added, changed and removed policies by comparing pointers, so the autoscaler keeps the state of
// unchanged ones. The governance query is recompiled only when a module changed. A Check
// (Store.ReloadCheck) sees the loaded set and what it would change before the swap and may refuse
// it as a whole (ErrRefused): the manager refuses a directory that would orphan a running
// application. Store.LastReload and Store.Reloads tell what the reloads did. Watch polls the
// directory and calls the caller's reload (the manager's, with its check).
//
// # Concurrency
//
// A *Set and everything in it are immutable and shared without locks (the governance query's
// decision cache has its own lock, see package rules). Store.Set is an atomic load. Reload,
// Update and Watch's polling take Store.mu, the package's only lock, for the whole load and swap;
// OnChange and a reload's Check run under it (a caller that holds its own lock when it reloads,
// as the manager does, takes it before Store.mu).
package policies
