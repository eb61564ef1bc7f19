package cep

import (
	"strconv"
	"strings"

	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/model"
)

// Stream names the engine consumes (§2.6).
const (
	healthStream   = "cartridge_agent_health_stats"
	inFlightStream = "in_flight_requests"
	logStreamDot   = "logs."
)

// layoutKind says which plans a stream feeds.
type layoutKind uint8

const (
	layoutIgnore layoutKind = iota // unknown stream, or a definition that lacks an attribute
	layoutHealth
	layoutInFlight
	layoutLog
)

// pos is where an attribute lands in an Event: its typed list and index. ok is false when the
// definition lacks it.
type pos struct {
	typ databridge.AttributeType
	i   int
	ok  bool
}

// layout is a stream definition resolved once: the positions of the attributes the engine reads.
type layout struct {
	kind layoutKind
	// health and in-flight: strings cluster, instance, np, member, partition, description; the
	// value is a double.
	cluster, instance, np, member, partition, desc, value pos
	// logs
	logMember                                       pos
	tenant, server, app, logTime, priority, message pos
	logger, ip, instanceName, stacktrace            pos
}

var _ databridge.Handler = (*Engine)(nil)

// ignored is the layout of events without a definition.
var ignored = &layout{}

// maxLayouts bounds the layout cache: log streams are defined per day, so definitions keep coming.
const maxLayouts = 1024

func resolve(d *databridge.StreamDefinition) *layout {
	at := func(name string) pos {
		t, i, ok := d.Index(name)
		return pos{typ: t, i: i, ok: ok}
	}
	l := &layout{}
	isString := func(ps ...pos) bool {
		for _, p := range ps {
			if !p.ok || p.typ != databridge.TypeString {
				return false
			}
		}
		return true
	}
	isDouble := func(p pos) bool {
		return p.ok && (p.typ == databridge.TypeDouble || p.typ == databridge.TypeFloat)
	}
	switch {
	case d.Name == healthStream:
		l.cluster, l.instance, l.np = at("cluster_id"), at("cluster_instance_id"), at("network_partition_id")
		l.member, l.partition, l.desc = at("member_id"), at("partition_id"), at("health_description")
		l.value = at("value")
		if isString(l.cluster, l.instance, l.np, l.member, l.partition, l.desc) && isDouble(l.value) {
			l.kind = layoutHealth
		}
	case d.Name == inFlightStream:
		l.cluster, l.instance, l.np = at("cluster_id"), at("cluster_instance_id"), at("network_partition_id")
		l.value = at("in_flight_request_count")
		if isString(l.cluster, l.instance, l.np) && isDouble(l.value) {
			l.kind = layoutInFlight
		}
	case strings.HasPrefix(d.Name, logStreamDot):
		l.kind = layoutLog
		l.logMember, l.tenant, l.server, l.app = at("memberId"), at("tenantID"), at("serverName"), at("appName")
		l.logTime, l.priority, l.message, l.logger = at("logTime"), at("priority"), at("message"), at("logger")
		l.ip, l.instanceName, l.stacktrace = at("ip"), at("instance"), at("stacktrace")
	}
	return l
}

// str reads a string attribute; "" when absent or out of range.
func (p pos) str(ev *databridge.Event) string {
	if p.ok && p.typ == databridge.TypeString && p.i < len(ev.Strings) {
		return ev.Strings[p.i]
	}
	return ""
}

// HandleEvents implements databridge.Handler: it feeds the health and in-flight plans and passes
// log lines to history. Attribute positions are resolved once per stream definition; turning an
// event into a sample does not allocate.
func (e *Engine) HandleEvents(events []databridge.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var lastDef *databridge.StreamDefinition
	var l *layout
	for i := range events {
		ev := &events[i]
		if ev.Stream != lastDef || l == nil {
			lastDef = ev.Stream
			l = e.layoutLocked(ev.Stream)
		}
		switch l.kind {
		case layoutHealth:
			if l.desc.i >= len(ev.Strings) || l.cluster.i >= len(ev.Strings) || l.instance.i >= len(ev.Strings) ||
				l.np.i >= len(ev.Strings) || l.member.i >= len(ev.Strings) || l.partition.i >= len(ev.Strings) ||
				l.value.i >= len(ev.Doubles) {
				e.st.unknown++
				continue
			}
			s := model.HealthSample{
				ClusterID:          ev.Strings[l.cluster.i],
				ClusterInstanceID:  ev.Strings[l.instance.i],
				NetworkPartitionID: ev.Strings[l.np.i],
				MemberID:           ev.Strings[l.member.i],
				PartitionID:        ev.Strings[l.partition.i],
				Metric:             ev.Strings[l.desc.i],
				Value:              ev.Doubles[l.value.i],
				Timestamp:          ev.Timestamp,
			}
			e.ingestLocked(&s)
		case layoutInFlight:
			if l.cluster.i >= len(ev.Strings) || l.instance.i >= len(ev.Strings) || l.np.i >= len(ev.Strings) ||
				l.value.i >= len(ev.Doubles) {
				e.st.unknown++
				continue
			}
			s := model.HealthSample{
				ClusterID:          ev.Strings[l.cluster.i],
				ClusterInstanceID:  ev.Strings[l.instance.i],
				NetworkPartitionID: ev.Strings[l.np.i],
				Metric:             model.MetricRequestsInFlight,
				Value:              ev.Doubles[l.value.i],
				Timestamp:          ev.Timestamp,
			}
			e.ingestLocked(&s)
		case layoutLog:
			e.st.logs++
			if e.opt.Recorder == nil {
				continue
			}
			le := model.LogEntry{
				Stream:     ev.Stream.Name,
				MemberID:   l.logMember.str(ev),
				TenantID:   l.tenant.str(ev),
				ServerName: l.server.str(ev),
				AppName:    l.app.str(ev),
				LogTime:    l.logTime.str(ev),
				Priority:   l.priority.str(ev),
				Message:    l.message.str(ev),
				Logger:     l.logger.str(ev),
				IP:         l.ip.str(ev),
				Instance:   l.instanceName.str(ev),
				Stacktrace: l.stacktrace.str(ev),
				Timestamp:  ev.Timestamp,
			}
			// The Java agent declares logTime as LONG (§2.6).
			if p := l.logTime; p.ok && p.typ == databridge.TypeLong && p.i < len(ev.Longs) {
				le.LogTime = strconv.FormatInt(ev.Longs[p.i], 10)
			}
			e.logs.push(le)
		default:
			e.st.unknown++
		}
	}
}

// layoutLocked returns the resolved layout of a definition, resolving it on first use.
func (e *Engine) layoutLocked(d *databridge.StreamDefinition) *layout {
	if d == nil {
		return ignored
	}
	if d == e.lastDef {
		return e.lastLayout
	}
	l, ok := e.layouts[d]
	if !ok {
		l = e.resolveLocked(d)
	}
	e.lastDef, e.lastLayout = d, l
	return l
}

func (e *Engine) resolveLocked(d *databridge.StreamDefinition) *layout {
	l := resolve(d)
	if l.kind == layoutIgnore {
		e.log.Warn("stream definition ignored", "stream", d.ID)
	}
	if len(e.layouts) >= maxLayouts {
		clear(e.layouts)
	}
	e.layouts[d] = l
	return l
}
