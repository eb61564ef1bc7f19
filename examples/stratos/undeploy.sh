#!/usr/bin/env bash
# undeploy.sh undoes deploy.sh: it undeploys single-cartridge-app, waits until its members are
# gone, and removes the definitions in the reverse order. Same environment as deploy.sh.
set -euo pipefail

export STRATA_URL="${STRATA_URL:-http://127.0.0.1:9763}"
export STRATA_USER="${STRATA_USER:-admin}"
if [ -z "${STRATA_PASSWORD:-}" ] && [ -z "${STRATA_TOKEN:-}" ]; then
  echo "undeploy.sh: set STRATA_PASSWORD (or STRATA_TOKEN) for $STRATA_USER at $STRATA_URL" >&2
  exit 2
fi
read -r -a strata <<<"${STRATA:-strata}"

# curl_config gives curl the credentials on its standard input, not on its command line.
curl_config() {
  local v
  if [ -n "${STRATA_TOKEN:-}" ]; then
    v="Authorization: Bearer $STRATA_TOKEN"; v=${v//\\/\\\\}; printf 'header = "%s"\n' "${v//\"/\\\"}"
  else
    v="$STRATA_USER:$STRATA_PASSWORD"; v=${v//\\/\\\\}; printf 'user = "%s"\n' "${v//\"/\\\"}"
  fi
}

echo "== Undeploying application"
"${strata[@]}" undeploy single-cartridge-app

# The CLI has no command to remove definitions: DELETE them over the REST API.
for path in applications/single-cartridge-app applicationPolicies/application-policy-1 cartridgeGroups/group6 \
  cartridges/mysql cartridges/tomcat cartridges/php \
  deploymentPolicies/deployment-policy-2 deploymentPolicies/deployment-policy-1 \
  networkPartitions/network-partition-2 networkPartitions/network-partition-1 \
  autoscalingPolicies/autoscaling-policy-1; do
  echo "== Removing $path"
  curl_config | curl -sS --fail-with-body -K - -X DELETE "${STRATA_URL%/}/api/$path"
  echo
done
