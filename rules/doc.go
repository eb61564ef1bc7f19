// Package rules compiles policy rules once and evaluates them many times: expr programs against
// a typed environment of one cluster instance, and prepared OPA Rego queries against a typed
// proposal. Every evaluation returns the value and what is needed to explain it.
//
// # Data flow
//
//	policies (at load)                 autoscaler (every round, per cluster instance)
//	  CompileExpr(src, Bool|Number) ─► *Program ──┐
//	                                              ├─ Evaluator.Env() filled in place ─► Eval ─► Result ─► Result.Trace(env) when recorded
//	  CompileRego(modules, query)   ─► *RegoQuery ┴─ Decide(ctx, Proposal) (cached) ─► RegoResult{Messages}
//
// The autoscaler does the arithmetic (the predictions of docs/stratos-wire.md §4.3 and the required
// counts of §4.4) in Go and puts the results in Env; expr rules compare and combine them in about
// a hundred nanoseconds, allocating only the boxed copy of Env once per instance. Rego is two
// orders of magnitude slower (about 10 µs a query, 30-45 µs when it does arithmetic), so
// governance is asked only when an action is proposed, with the counts precomputed in a
// Proposal, and answers are cached by proposal (the time is cut to the minute, so a steady
// proposal is decided once a minute).
//
// # Expr environment
//
// The names a rule can read are the expr tags of Env: rif, mc and la (each with average,
// gradient, secondDerivative, predicted, threshold, required, fresh, missing), active, pending,
// terminationPending, obsolete, nonTerminated, minMembers, maxMembers, required, scaleUp,
// scaleDown, scaleDownRequests, metricsMissing, time (unix, hour, minute, weekday; UTC),
// clusterId, clusterInstanceId, networkPartitionId, applicationId, tenantId and cartridge.
// The builtin now() is disabled: time comes from the environment so replays are exact.
//
// Comparisons, boolean logic, ternaries and integer arithmetic on small values do not allocate;
// a float result of arithmetic is boxed (one allocation), and so is the argument list of a
// builtin call such as max(required, 2). Hot rules are best written as comparisons.
//
// # Concurrency
//
// Program and RegoQuery are immutable after compilation and safe for concurrent use (RegoQuery's
// decision cache is guarded by its own mutex, the only lock in the package, never held while OPA
// runs). An Evaluator is owned by one goroutine; Program.Eval borrows one from a sync.Pool.
package rules
