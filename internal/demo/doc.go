// Package demo is `strata up --demo`, the product's first command, as a package: it deploys the
// demo cartridge (examples/demo) on the local driver, applies the demo policies, drives HTTP
// load through the load balancer in waves and prints, every second, the load, the CEP's latest
// summaries, the members by state and every autoscaler decision with its reason. It also holds
// the demo cartridge's server, `strata demo-server`.
//
// cmd/strata turns the --demo flags into Options and calls Run with the running platform's
// controller, local driver, autoscaler, policy store and CEP subscription, each behind a small
// interface declared here.
//
// Data flow of the demo, on top of `strata up`'s:
//
//	Run ──AddCartridge/AddNetworkPartition/CreateCluster──> controller ──local driver──> members
//	    ──PolicyStore.Update(examples/demo/policies)──> policy store ──> autoscaler (RegisterCluster)
//	load workers ──HTTP──> LB proxy port ──> members (demo-server)
//	Options.Subscribe ──> latest summaries ─┐
//	Controller.Members, Scaler.Decisions ───┴─> printer (every second) ──> Options.Out
//
// The files follow the concerns: plan.go reads and checks the demo's files and the wave plan,
// deploy.go creates and stops the demo's cluster, run.go runs the phases, load.go is the load
// generator, print.go the printer and server.go the demo cartridge's server.
//
// Goroutines: Run's (phases), the printer, and one per load worker. state.mu guards what the
// printer reads; the CEP's subscriber only stores the latest summary under it.
package demo
