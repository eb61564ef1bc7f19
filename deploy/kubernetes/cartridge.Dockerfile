# syntax=docker/dockerfile:1
# A cartridge image for the kubernetes IaaS driver: the Strata agent is the container's main
# process and the cartridge's server is its child. This one carries the demo server
# (strata demo-server, examples/kubernetes); another cartridge copies its server and its
# StartServers.sh instead. Build from the repository root:
#
#	docker build -f deploy/kubernetes/cartridge.Dockerfile -t strata/cartridge-demo:1 .
#
# What the driver gives every member's pod: the launch-params payload as a file at
# /etc/strata/launch-params (a Secret volume) and as environment variables. The agent reads the
# payload, reports the member's lifecycle, and runs /opt/strata/extensions/StartServers.sh once
# the member is initialized, which starts the server. When the server exits, the script stops the
# agent, so the container ends and Strata sees the member end (docs/kubernetes.md explains why the
# agent is the entrypoint rather than a sidecar).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN make release OUT=/out/strata

# Not distroless: extensions are shell scripts (the agent runs them with bash, as the Stratos
# agent does). tini is PID 1: it forwards SIGTERM to the agent, which passes it on to the server
# StartServers.sh started (waiting up to server.stop.timeout for it), and reaps what the extensions leave.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends bash ca-certificates tini \
  && rm -rf /var/lib/apt/lists/* \
  && useradd --uid 65532 --home-dir /opt/strata --no-create-home strata
COPY --from=build /out/strata /usr/local/bin/strata
COPY deploy/kubernetes/cartridge/agent.conf /opt/strata/agent.conf
COPY deploy/kubernetes/cartridge/StartServers.sh /opt/strata/extensions/StartServers.sh
RUN mkdir -p /var/www && chown 65532:65532 /var/www
USER 65532:65532
WORKDIR /var/www
# The demo server's port (the cartridge's portMapping).
EXPOSE 8080
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/strata", "agent", "--conf", "/opt/strata/agent.conf", "--payload", "/etc/strata/launch-params", "--log-format", "json"]
