package model

// Health statistics as they enter the platform (docs/stratos-wire.md §2.6) and as the CEP summarizes
// them (§1.5.5, §3.4). These are plain values: the ingest path fills them without allocating, and
// the CEP hands summaries to in-process consumers without JSON.

// Health metric names carried in the health_description attribute, plus the load balancer's
// in-flight request count.
const (
	MetricMemoryConsumption = "memory_consumption"
	MetricLoadAverage       = "load_average"
	MetricPortsNotOpen      = "ports_not_open"
	MetricRequestsInFlight  = "in_flight_requests"
)

// Stream ids of the data-bridge streams Stratos components publish (§2.6).
const (
	HealthStreamID   = "cartridge_agent_health_stats:1.0.0"
	InFlightStreamID = "in_flight_requests:1.0.0"
)

// NotDefined is the cluster instance id a load balancer sends when it does not know it (§1.7).
const NotDefined = "not-defined"

// HealthSample is one raw health statistic: a cartridge_agent_health_stats event (Metric is the
// health_description) or an in_flight_requests event (Metric is MetricRequestsInFlight and MemberID
// and PartitionID are empty).
type HealthSample struct {
	ClusterID          string
	ClusterInstanceID  string
	NetworkPartitionID string
	MemberID           string
	PartitionID        string
	Metric             string
	Value              float64
	Timestamp          int64 // ms since the epoch, as the publisher sent it
}

// LogEntry is one line from an instance log (the logs.<tenant>.<alias>.<date> stream of §2.6).
type LogEntry struct {
	Stream     string `json:"stream"`   // the stream name
	MemberID   string `json:"memberId"` // meta memberId
	TenantID   string `json:"tenantId"`
	ServerName string `json:"serverName"`
	AppName    string `json:"appName"`
	LogTime    string `json:"logTime"`
	Priority   string `json:"priority"`
	Message    string `json:"message"`
	Logger     string `json:"logger"`
	IP         string `json:"ip"`
	Instance   string `json:"instance"`
	Stacktrace string `json:"stacktrace"`
	Timestamp  int64  `json:"timestamp"` // ms since the epoch, the event's timestamp
}

// SummaryKind names one of the summarized health statistics of §1.5.5.
type SummaryKind uint8

// The summary kinds, one per health.stat event class.
const (
	AverageLoadAverage SummaryKind = iota + 1
	AverageMemoryConsumption
	AverageRequestsInFlight
	GradientOfLoadAverage
	GradientOfMemoryConsumption
	GradientOfRequestsInFlight
	SecondDerivativeOfLoadAverage
	SecondDerivativeOfMemoryConsumption
	SecondDerivativeOfRequestsInFlight
	MemberAverageLoadAverage
	MemberAverageMemoryConsumption
	MemberGradientOfLoadAverage
	MemberGradientOfMemoryConsumption
	MemberSecondDerivativeOfLoadAverage
	MemberSecondDerivativeOfMemoryConsumption
	MemberFault
	AverageRequestsServingCapability
	summaryKinds // one past the last kind
)

var summaryClasses = [...]string{
	AverageLoadAverage:                        "health.stat.AverageLoadAverageEvent",
	AverageMemoryConsumption:                  "health.stat.AverageMemoryConsumptionEvent",
	AverageRequestsInFlight:                   "health.stat.AverageRequestsInFlightEvent",
	GradientOfLoadAverage:                     "health.stat.GradientOfLoadAverageEvent",
	GradientOfMemoryConsumption:               "health.stat.GradientOfMemoryConsumptionEvent",
	GradientOfRequestsInFlight:                "health.stat.GradientOfRequestsInFlightEvent",
	SecondDerivativeOfLoadAverage:             "health.stat.SecondDerivativeOfLoadAverageEvent",
	SecondDerivativeOfMemoryConsumption:       "health.stat.SecondDerivativeOfMemoryConsumptionEvent",
	SecondDerivativeOfRequestsInFlight:        "health.stat.SecondDerivativeOfRequestsInFlightEvent",
	MemberAverageLoadAverage:                  "health.stat.MemberAverageLoadAverageEvent",
	MemberAverageMemoryConsumption:            "health.stat.MemberAverageMemoryConsumptionEvent",
	MemberGradientOfLoadAverage:               "health.stat.MemberGradientOfLoadAverageEvent",
	MemberGradientOfMemoryConsumption:         "health.stat.MemberGradientOfMemoryConsumptionEvent",
	MemberSecondDerivativeOfLoadAverage:       "health.stat.MemberSecondDerivativeOfLoadAverageEvent",
	MemberSecondDerivativeOfMemoryConsumption: "health.stat.MemberSecondDerivativeOfMemoryConsumptionEvent",
	MemberFault:                      "health.stat.MemberFaultEvent",
	AverageRequestsServingCapability: "health.stat.AverageRequestsServingCapabilityEvent",
}

// Class is the event class of the kind, relative to ClassPrefix.
func (k SummaryKind) Class() string {
	if k == 0 || k >= summaryKinds {
		return ""
	}
	return summaryClasses[k]
}

// String is the short class name, e.g. "AverageLoadAverageEvent".
func (k SummaryKind) String() string {
	c := k.Class()
	if c == "" {
		return "UnknownSummary"
	}
	return c[len("health.stat."):]
}

// SummaryKindOf returns the kind for a class name (relative or fully qualified).
func SummaryKindOf(class string) (SummaryKind, bool) {
	if len(class) > len(ClassPrefix) && class[:len(ClassPrefix)] == ClassPrefix {
		class = class[len(ClassPrefix):]
	}
	for k := AverageLoadAverage; k < summaryKinds; k++ {
		if summaryClasses[k] == class {
			return k, true
		}
	}
	return 0, false
}

// MemberLevel reports whether the kind describes one member rather than a cluster instance.
func (k SummaryKind) MemberLevel() bool {
	return k >= MemberAverageLoadAverage && k <= MemberFault
}

// SummaryTopic is the topic the CEP publishes summaries on (§1.4).
const SummaryTopic = "summarized-health-stats"

// Summary is one summarized health statistic (§1.5.5). Which ids are set depends on the kind:
// cluster-level kinds carry ClusterID, ClusterInstanceID and NetworkPartitionID; member-level
// kinds add MemberID; MemberFault adds PartitionID.
type Summary struct {
	Kind               SummaryKind
	ClusterID          string
	ClusterInstanceID  string
	NetworkPartitionID string
	MemberID           string
	PartitionID        string
	Value              float64
	ServedCount        float64 // AverageRequestsInFlight only
	ActiveInstances    float64 // AverageRequestsInFlight only
	Timestamp          int64   // ms since the epoch: the CEP window's end; the wire carries it only for the kinds with a timestamp key, so a decoded derivative has 0
}

// EventClass makes a Summary an Event; it is published in the §1.4 envelope.
func (s Summary) EventClass() string { return s.Kind.Class() }
