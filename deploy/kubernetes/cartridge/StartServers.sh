#!/bin/bash
# Run by the agent once the member is initialized (the Stratos StartServers extension): starts the
# cartridge's server in the background and returns. The server writes to the agent's standard
# output, so `kubectl logs` shows both. When the server exits, the agent is stopped too: the
# container ends, and Strata replaces the member, as it does for a crashed VM. When the pod is deleted,
# the agent sends SIGTERM to this script's process group (the server and its subshell) and waits for
# the server to stop.
set -u
agent=$PPID
port=${STRATOS_PORTS:-8080}
port=${port%%|*} # the first of the cartridge's ports
(
  /usr/local/bin/strata demo-server --listen "0.0.0.0:$port" --burn 20ms --wait 230ms
  echo "StartServers: the server exited with status $?; stopping the agent"
  kill -TERM "$agent"
) >"/proc/$agent/fd/1" 2>&1 </dev/null &
