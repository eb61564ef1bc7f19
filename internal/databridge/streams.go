package databridge

import (
	"context"
	"fmt"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// The streams Stratos components publish (§2.6). The server defines the health and in-flight
// streams at start, so a publisher that defines them differently is refused and the positions
// below hold for every event of these ids.

var (
	healthStream = &StreamDefinition{
		ID:          model.HealthStreamID,
		Name:        "cartridge_agent_health_stats",
		Version:     "1.0.0",
		NickName:    "agent health stats",
		Description: "agent health stats",
		Payload: []Attribute{
			{"cluster_id", TypeString},
			{"cluster_instance_id", TypeString},
			{"network_partition_id", TypeString},
			{"member_id", TypeString},
			{"partition_id", TypeString},
			{"health_description", TypeString},
			{"value", TypeDouble},
		},
	}
	inFlightStream = &StreamDefinition{
		ID:          model.InFlightStreamID,
		Name:        "in_flight_requests",
		Version:     "1.0.0",
		NickName:    "lb stats",
		Description: "lb stats",
		Payload: []Attribute{
			{"cluster_id", TypeString},
			{"cluster_instance_id", TypeString},
			{"network_partition_id", TypeString},
			{"in_flight_request_count", TypeDouble},
		},
	}
)

func init() {
	healthStream.JSON = healthStream.String()
	inFlightStream.JSON = inFlightStream.String()
}

// HealthStream returns the cartridge_agent_health_stats:1.0.0 definition. The value is shared:
// do not modify it.
func HealthStream() *StreamDefinition { return healthStream }

// InFlightStream returns the in_flight_requests:1.0.0 definition. The value is shared: do not
// modify it.
func InFlightStream() *StreamDefinition { return inFlightStream }

// LogStream returns the definition of an instance log stream (version 1.0.0, all attributes
// STRING as the Python agent declares them), e.g. for LogStreamName's result.
func LogStream(name string) *StreamDefinition {
	d := &StreamDefinition{
		ID:          StreamID(name, "1.0.0"),
		Name:        name,
		Version:     "1.0.0",
		NickName:    "log entries from instance",
		Description: "Apache Stratos Instance Log Publisher",
		Meta:        []Attribute{{"memberId", TypeString}},
	}
	for _, n := range []string{"tenantID", "serverName", "appName", "logTime", "priority", "message", "logger", "ip", "instance", "stacktrace"} {
		d.Payload = append(d.Payload, Attribute{n, TypeString})
	}
	d.JSON = d.String()
	return d
}

// LogStreamName is the Python agent's log stream name, logs.<tenant>.<alias>.<date>, with the
// tenant ids -1234 and -1 sent as "0" and the date as yyyy.mm.dd (§2.6).
func LogStreamName(tenantID, alias string, day time.Time) string {
	if tenantID == "-1234" || tenantID == "-1" {
		tenantID = "0"
	}
	return fmt.Sprintf("logs.%s.%s.%s", tenantID, alias, day.Format("2006.01.02"))
}

// HealthEvent builds a cartridge_agent_health_stats event from a sample.
func HealthEvent(s model.HealthSample) Event {
	var e Event
	e.SetSample(s)
	return e
}

// InFlightEvent builds an in_flight_requests event from a sample (MemberID, PartitionID and Metric
// are not sent).
func InFlightEvent(s model.HealthSample) Event {
	s.Metric = model.MetricRequestsInFlight
	return HealthEvent(s)
}

// SetSample makes e the event of a sample, reusing e's slices so that publishers that keep their
// events allocate nothing per sample: an in_flight_requests event when the metric is
// model.MetricRequestsInFlight, otherwise a cartridge_agent_health_stats event.
func (e *Event) SetSample(s model.HealthSample) {
	e.Timestamp = s.Timestamp
	e.Doubles = append(e.Doubles[:0], s.Value)
	e.Arbitrary = nil
	if s.Metric == model.MetricRequestsInFlight {
		e.Stream = inFlightStream
		e.Strings = append(e.Strings[:0], s.ClusterID, s.ClusterInstanceID, s.NetworkPartitionID)
		return
	}
	e.Stream = healthStream
	e.Strings = append(e.Strings[:0], s.ClusterID, s.ClusterInstanceID, s.NetworkPartitionID, s.MemberID, s.PartitionID, s.Metric)
}

// LogEvent builds a log event of the stream def (made by LogStream) from an entry.
func LogEvent(def *StreamDefinition, e model.LogEntry) Event {
	return Event{
		Stream:    def,
		Timestamp: e.Timestamp,
		Strings: []string{e.MemberID, e.TenantID, e.ServerName, e.AppName, e.LogTime, e.Priority, e.Message,
			e.Logger, e.IP, e.Instance, e.Stacktrace},
	}
}

// HealthSample reads a cartridge_agent_health_stats or in_flight_requests event into a sample
// without allocating (its strings are the event's interned strings). It reports false for events
// of other streams or of another layout.
func (e *Event) HealthSample() (model.HealthSample, bool) {
	if e.Stream == nil || len(e.Doubles) != 1 {
		return model.HealthSample{}, false
	}
	switch {
	case e.Stream.ID == model.HealthStreamID && len(e.Strings) == 6:
		return model.HealthSample{
			ClusterID: e.Strings[0], ClusterInstanceID: e.Strings[1], NetworkPartitionID: e.Strings[2],
			MemberID: e.Strings[3], PartitionID: e.Strings[4], Metric: e.Strings[5],
			Value: e.Doubles[0], Timestamp: e.Timestamp,
		}, true
	case e.Stream.ID == model.InFlightStreamID && len(e.Strings) == 3:
		return model.HealthSample{
			ClusterID: e.Strings[0], ClusterInstanceID: e.Strings[1], NetworkPartitionID: e.Strings[2],
			Metric: model.MetricRequestsInFlight, Value: e.Doubles[0], Timestamp: e.Timestamp,
		}, true
	}
	return model.HealthSample{}, false
}

// LogEntry reads an event of a LogStream-shaped stream into an entry. It reports false when the
// event does not have the 11 strings of that layout.
func (e *Event) LogEntry() (model.LogEntry, bool) {
	if e.Stream == nil || len(e.Strings) != 11 {
		return model.LogEntry{}, false
	}
	s := e.Strings
	return model.LogEntry{
		Stream: e.Stream.Name, MemberID: s[0], TenantID: s[1], ServerName: s[2], AppName: s[3], LogTime: s[4],
		Priority: s[5], Message: s[6], Logger: s[7], IP: s[8], Instance: s[9], Stacktrace: s[10],
		Timestamp: e.Timestamp,
	}, true
}

// SamplePublisher returns a function that publishes samples over c as health and in-flight events
// (see Event.SetSample). It reuses its events, so a call allocates nothing per sample; it must not
// be called concurrently.
func SamplePublisher(c *Client) func(ctx context.Context, samples []model.HealthSample) error {
	var events []Event
	return func(ctx context.Context, samples []model.HealthSample) error {
		if cap(events) < len(samples) {
			events = append(events[:cap(events)], make([]Event, len(samples)-cap(events))...)
		}
		events = events[:len(samples)]
		for i, s := range samples {
			events[i].SetSample(s)
		}
		return c.Publish(ctx, events...)
	}
}
