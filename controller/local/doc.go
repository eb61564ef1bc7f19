// Package local is the `local` IaaS driver: every member is a real process group on this host,
// `strata agent` or another agent (the group leader) with the member's payload plus the
// cartridge's server command (the iaasProvider property "command", run with /bin/sh -c). Members
// of one cartridge share the host, so each gets its own loopback address (127.0.0.2, 127.0.0.3,
// ...; all of 127/8 reaches the loopback interface on Linux) as its private IP: every member
// binds the cartridge's ports on its own address.
//
// # Data flow
//
//	Start ──> DataDir/<instance id>/ : launch-params, agent.conf, member.json, app/, agent.log, server.log
//	      ──> agent (Setpgid, leader) ──┐ one process group, marked with STRATA_LOCAL_MEMBER=<member id>
//	      ──> server command (same pgid)┘
//	process exits (waited for) or adopted process gone (polled) ──> Exit queued ──> Watch's report
//	Terminate ──> SIGTERM to the group ──(GracePeriod)──> SIGKILL ──> directory removed
//
// The payload the agent reads is the controller's with three changes, because members share a
// host: APPLICATION_PATH is the member's own app/ directory, listen.address is its loopback
// address, and LOG_FILE_PATHS (when the payload has none) is the server command's output, so the
// agent publishes it as the member's log stream. agent.conf holds what a Stratos-style agent
// reads (mb.*, thrift.*, listen.address, APPLICATION_PATH, log.file.paths, param.file.path; see
// agentconf.go), taken from that payload; Options.AgentConf (e.g. timings) is appended and
// replaces generated keys. The server command runs in app/ with the payload keys (those that
// are variable names, model.Payload.Env), STRATA_MEMBER_IP and STRATA_MEMBER_DIR in its
// environment; the iaasProvider property "extensions" names the directory of the agent's
// extension scripts.
//
// The agent is `strata agent` unless the cartridge's iaasProvider property "agent" (or
// Options.AgentCommand, `strata up --local-agent`) names another command: it runs with
// /bin/sh -c in the member's directory, as the group leader, with the payload keys,
// STRATA_AGENT_CONF and STRATA_LAUNCH_PARAMS in its environment.
//
// Start refuses a server command whose program cannot run (an absolute path that is missing or
// not executable, a name not in PATH): such a member would only exit with status 127. A member
// is over when any of its processes exits on its own (the report carries the last line that
// process wrote to server.log or agent.log, which usually says why: a missing program, or
// `strata init`'s failed module install): the rest of its group is
// stopped, its directory is moved to DataDir/.ended/ for a post-mortem, and Watch reports it.
//
// # Restart and adoption
//
// member.json records the group id and, for each process, its pid and start time (field 22 of
// /proc/<pid>/stat). New reads every member directory: a member whose processes all still run,
// with the same start times and STRATA_LOCAL_MEMBER=<member id> in /proc/<pid>/environ, is
// adopted (List reports it and its address stays taken); any other directory is moved aside.
// Adopted processes are not this process's children, so Watch polls them every PollInterval.
//
// # Files
//
// local.go holds the options, the driver's state, New and List; start.go the process start
// (directory, payload, agent and server command); agentconf.go the agent.conf; supervise.go the exits, Terminate and Watch;
// adopt.go the adoption of a previous driver's members through /proc.
//
// # Concurrency and locks
//
// Start, Terminate and List may run concurrently from any goroutine. Goroutines: one waiter per
// started process (exec.Cmd.Wait), one per member to close its done channel, one per ended
// member to stop its group (Watch waits for those before returning), and the caller's Watch.
// Driver.mu guards the member map, the address set and the exit queue; it is a leaf and is never
// held while starting, signalling or waiting for processes or touching files.
package local
