#!/usr/bin/env bash
# deploy.sh adds the Apache Stratos sample definitions in this directory to a running Strata, as
# they are, in the order of Stratos' own deploy scripts, then deploys single-cartridge-app and waits
# until it is Active, and adds its domain mappings.
#
#   STRATA_URL       the REST API (default http://127.0.0.1:9763, what `strata up` listens on)
#   STRATA_USER      the user (default admin)
#   STRATA_PASSWORD  its password (`strata up` prints the admin's on first start and keeps it in
#                    DATA_DIR/admin-password), or STRATA_TOKEN, an API token
#   STRATA           the strata command (default: strata on PATH, e.g. STRATA="go run ./cmd/strata")
#
# The cartridges are for the mock IaaS, which `strata up` runs by default. On a platform that
# already has these definitions the first `strata deploy` fails with 409; undeploy.sh removes them.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
export STRATA_URL="${STRATA_URL:-http://127.0.0.1:9763}"
export STRATA_USER="${STRATA_USER:-admin}"
if [ -z "${STRATA_PASSWORD:-}" ] && [ -z "${STRATA_TOKEN:-}" ]; then
  echo "deploy.sh: set STRATA_PASSWORD (or STRATA_TOKEN) for $STRATA_USER at $STRATA_URL" >&2
  exit 2
fi
read -r -a strata <<<"${STRATA:-strata}"

step() { echo "== $*"; }

# curl_config gives curl the credentials on its standard input, not on its command line.
curl_config() {
  local v
  if [ -n "${STRATA_TOKEN:-}" ]; then
    v="Authorization: Bearer $STRATA_TOKEN"; v=${v//\\/\\\\}; printf 'header = "%s"\n' "${v//\"/\\\"}"
  else
    v="$STRATA_USER:$STRATA_PASSWORD"; v=${v//\\/\\\\}; printf 'user = "%s"\n' "${v//\"/\\\"}"
  fi
}

step "Adding autoscaling policy"
"${strata[@]}" deploy autoscaling-policy "$here/autoscaling-policies__autoscaling-policy-1.json"

step "Adding network partitions"
"${strata[@]}" deploy network-partition \
  "$here/network-partitions__mock__network-partition-1.json" \
  "$here/network-partitions__mock__network-partition-2.json"

step "Adding deployment policies"
"${strata[@]}" deploy deployment-policy \
  "$here/deployment-policies__deployment-policy-1.json" \
  "$here/deployment-policies__deployment-policy-2.json"

step "Adding cartridges"
"${strata[@]}" deploy cartridge \
  "$here/cartridges__mock__php.json" \
  "$here/cartridges__mock__tomcat.json" \
  "$here/cartridges__mock__mysql.json"

step "Adding cartridge group"
"${strata[@]}" deploy cartridge-group "$here/cartridge-groups__group6c.json"

step "Adding application policy"
"${strata[@]}" deploy application-policy "$here/application-policies__application-policy-1.json"

step "Adding application"
"${strata[@]}" deploy application "$here/applications__simple__single-cartridge-app__artifacts__application.json"

step "Deploying application"
"${strata[@]}" deploy-app single-cartridge-app application-policy-1

# The CLI has no command for domain mappings: post them to the REST API as Stratos' scripts do.
step "Adding domain mappings"
curl_config | curl -sS --fail-with-body -K - -H 'Content-Type: application/json' \
  --data-binary "@$here/applications__simple__single-cartridge-app__artifacts__domain-mappings.json" \
  "${STRATA_URL%/}/api/applications/single-cartridge-app/domainMappings"
echo
