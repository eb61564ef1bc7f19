// Package app is the whole Strata platform as a package: New(Options) builds nothing yet, Run(ctx)
// binds every address, builds every component, runs them until ctx ends and returns after their
// goroutines have exited. `strata up` turns its flags into Options and handles the signals;
// bench/ and the tests in this package run the same platform in process.
//
// # Wiring
//
//	embedded broker (mochi-mqtt) <──> bus.Client "strata-up" ──topology/#──> cep.Engine, autoscaler, lb
//	databridge.Server (plain, TLS) ──Handler──> cep.Engine ──Subscribe──> autoscaler.HandleSummary
//	autoscaler ──StartMember/TerminateMember──> controller (mock and local drivers)
//	manager (REST API) ──> controller, autoscaler, policies.Store, history
//	mock members and the lb ──databridge.Client "strata-internal" (TLS)──> databridge.Server
//
// Run binds the REST API's address first and checks the broker's and the Thrift receiver's, so a
// port in use fails before anything is created; then it opens <data-dir>/manager.db, the history
// store, the CEP and its receiver, <data-dir>/controller.db and the controller, the policy store
// and the autoscaler, the load balancer and, last, the REST API: /healthz answers once every
// component is built and bound.
//
// # Concurrency
//
// Every component runs under one errgroup; the first one that fails cancels the others. Files and
// connections Run opened close in reverse order after the group has returned. Ready is closed once
// the addresses are known (Addrs), the controller has adopted its state and the autoscaler listens
// to the topology; the accessors (Controller, Autoscaler, ...) are valid from then until Run
// returns.
package app
