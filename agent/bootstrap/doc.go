// Package bootstrap is `strata init`: the bootstrapper a member's init script runs before the
// cartridge agent, the part Stratos' Puppet agent played. It reads the member's payload as the
// agent does (agent.conf and launch-params, agent.LoadConfig), fetches the module of the
// member's cartridge type (SERVICE_NAME) from the platform's module store
// (STRATA_MODULES_URL, package controller/modules) with the member's own credential, installs
// it, and hands over to the agent (the process is replaced: the agent keeps its pid).
//
// # Generic and fully configured cartridges
//
// A generic cartridge boots a plain image: `strata init` installs the module, whose install
// script installs the server and may install the agent (an executable file named agent in the
// install directory; without one the hand-over is to `strata agent`). A fully configured
// cartridge (--configured) boots an image that has the module installed already: the install
// directory's VERSION names the version it has, and `strata init` asks the store for the
// current version only, installs that one when it differs, and hands over. For a fully
// configured member a store that cannot be reached is a warning (it hands over to what is
// installed); for a generic one it is a failure.
//
// # Data flow
//
//	Run: LoadConfig ──> GET <store>/<type>/version (configured) or GET <store>/<type>
//	     same version as VERSION ──> hand over
//	     else: bus: ClusterTopologyRequestEvent (after two unanswered: CompleteTopologyRequestEvent)
//	           until the member is Initialized
//	           ──> InstanceStartedEvent (the member is Starting while it installs)
//	           ──> unpack into <dir>/module ──> /bin/sh install.sh (payload + STRATA_* in its env;
//	               output to <dir>/install.log and the member's output)
//	           ──> its lines published to the member's log stream (the history's logs)
//	           ──> exit 0: VERSION written, hand over; else an error naming the script's last line
//
// A failed install ends `strata init` with that error as its last output line: on the local
// driver it becomes the member's start failure (the runtime view's startFailure reason).
//
// # Concurrency
//
// Run is sequential; the bus client runs on its own goroutine only while Run waits for the
// member to be Initialized and publishes InstanceStartedEvent.
package bootstrap
