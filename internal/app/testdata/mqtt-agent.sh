#!/bin/sh
# A third-party cartridge agent in a few lines of shell: it knows nothing of Strata, only what a
# Stratos agent reads (agent.conf and launch-params, docs/stratos-wire.md §7) and speaks the §7
# lifecycle over MQTT with mosquitto_sub and mosquitto_pub (and jq for the complete topology).
#
#   agent.conf     mb.urls, mb.username, mb.password, thrift.receiver.urls,
#                  thrift.server.admin.username/password, listen.address, APPLICATION_PATH,
#                  log.file.paths, param.file.path (the launch-params file)
#   launch-params  KEY=VALUE,KEY=VALUE,... (MEMBER_ID, CLUSTER_ID, CLUSTER_INSTANCE_ID, ...)
#
# Started (MemberInitializedEvent, or Initialized in the complete topology) -> InstanceStartedEvent;
# MemberStartedEvent -> InstanceActivatedEvent; InstanceCleanupMemberEvent or
# InstanceCleanupClusterEvent -> InstanceMaintenanceModeEvent, then InstanceReadyToShutdownEvent.
# Every step is logged to stdout.
set -eu
conf=${STRATA_AGENT_CONF:-agent.conf}
get() { sed -n "s/^$1[[:space:]]*[=:][[:space:]]*//p" "$conf" | tail -n 1; }
for k in mb.urls mb.username mb.password thrift.receiver.urls thrift.server.admin.username \
	thrift.server.admin.password listen.address APPLICATION_PATH log.file.paths param.file.path; do
	if [ -z "$(get "$k")" ]; then
		echo "agent.conf $conf has no $k" >&2
		exit 2
	fi
done
params=$(get param.file.path)
param() { tr ',' '\n' < "$params" | sed -n "s/^$1=//p" | head -n 1; }
member=$(param MEMBER_ID)
cluster=$(param CLUSTER_ID)
instance=$(param CLUSTER_INSTANCE_ID)
url=$(get mb.urls | cut -d, -f1)
url=${url#*://}
host=${url%:*}
port=${url##*:}
set -- -h "$host" -p "$port" -u "$(get mb.username)" -P "$(get mb.password)"
echo "member $member of $cluster ($instance), broker $host:$port, application path $(get APPLICATION_PATH)"

ids="\"serviceName\":\"$(param SERVICE_NAME)\",\"clusterId\":\"$cluster\",\"memberId\":\"$member\",\"clusterInstanceId\":\"$instance\",\"networkPartitionId\":\"$(param NETWORK_PARTITION_ID)\",\"partitionId\":\"$(param PARTITION_ID)\""
publish_event() { topic=$1; body=$2; shift 2; mosquitto_pub "$@" -q 1 -t "$topic" -m "$body" && echo "published $topic"; }

fifo=$(mktemp -u)
mkfifo "$fifo"
probe="agents/$member/ready"
mosquitto_sub "$@" -q 1 -v -t 'topology/#' -t 'instance/notifier/#' -t "$probe" > "$fifo" &
subscriber=$!
# Until the probe comes back, the subscription may not be in place: publish it every second.
( while :; do mosquitto_pub "$@" -t "$probe" -m '{}' 2>/dev/null; sleep 1; done ) &
prober=$!
trap 'kill $subscriber $prober 2>/dev/null; rm -f "$fifo"' EXIT
trap 'exit 0' TERM INT
started=false activated=false cleaned=false
while read -r topic body; do
	case $topic in
	"$probe")
		if [ -n "$prober" ]; then
			kill "$prober"
			prober=
			echo "subscribed"
			# A MemberInitializedEvent may have gone out before: the complete topology says.
			publish_event initializer/CompleteTopologyRequestEvent '{}' "$@"
		fi
		;;
	topology/CompleteTopologyEvent)
		state=$(printf '%s' "$body" | jq -r --arg m "$member" \
			'[.. | objects | select(.memberId? == $m) | .memberStateManager.stateStack[-1]] | first // ""')
		if [ "$state" = Initialized ] && ! $started; then
			started=true
			publish_event instance/status/InstanceStartedEvent "{\"applicationId\":\"$(param APPLICATION_ID)\",$ids}" "$@"
		fi
		;;
	topology/MemberInitializedEvent)
		case $body in *"\"memberId\":\"$member\""*)
			if ! $started; then
				started=true
				publish_event instance/status/InstanceStartedEvent "{\"applicationId\":\"$(param APPLICATION_ID)\",$ids}" "$@"
			fi
		esac
		;;
	topology/MemberStartedEvent)
		case $body in *"\"memberId\":\"$member\""*)
			if ! $activated; then
				activated=true
				publish_event instance/status/InstanceActivatedEvent "{\"instanceId\":\"$member\",$ids}" "$@"
			fi
		esac
		;;
	instance/notifier/InstanceCleanupMemberEvent | instance/notifier/InstanceCleanupClusterEvent)
		mine=false
		case $body in *"\"memberId\":\"$member\""*) mine=true ;; esac
		case $body in *"\"clusterId\":\"$cluster\""*"\"clusterInstanceId\":\"$instance\""* | *"\"clusterInstanceId\":\"$instance\""*"\"clusterId\":\"$cluster\""*)
			[ "$topic" = instance/notifier/InstanceCleanupClusterEvent ] && mine=true ;;
		esac
		if $mine && ! $cleaned; then
			cleaned=true
			echo "cleanup: $topic"
			publish_event instance/status/InstanceMaintenanceModeEvent "{$ids}" "$@"
			publish_event instance/status/InstanceReadyToShutdownEvent "{$ids}" "$@"
		fi
		;;
	esac
done < "$fifo"
