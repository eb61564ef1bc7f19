package app

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/manager"
)

// brokerMetrics exposes the embedded broker's counters; each scrape reads them afresh.
func brokerMetrics(b *bus.Broker) []prometheus.Collector {
	counter := counterOf[bus.BrokerStats, int64](b.Stats)
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strata_broker_clients_connected", Help: "MQTT clients connected to the embedded broker."},
			func() float64 { return float64(b.Stats().ClientsConnected) }),
		counter("strata_broker_messages_received_total", "PUBLISH packets the embedded broker received from clients, and the platform's own publications some client subscribed to.",
			func(s bus.BrokerStats) int64 { return s.MessagesReceived }),
		counter("strata_broker_messages_local_total", "The platform's own publications no MQTT client subscribed to, handed to its components without the broker.",
			func(s bus.BrokerStats) int64 { return s.LocalOnly }),
		counter("strata_broker_messages_sent_total", "PUBLISH packets the embedded broker sent.",
			func(s bus.BrokerStats) int64 { return s.MessagesSent }),
		counter("strata_broker_messages_dropped_total",
			"Messages dropped because a subscriber's buffer was full, or a complete state exceeded its maximum packet size.",
			func(s bus.BrokerStats) int64 { return s.MessagesDropped }),
		counter("strata_broker_inflight_dropped_total", "QoS 1/2 messages dropped because a client's in-flight store was full.",
			func(s bus.BrokerStats) int64 { return s.InflightDropped }),
		counter("strata_broker_auth_rejected_total", "Connections refused for missing or wrong credentials.",
			func(s bus.BrokerStats) int64 { return s.AuthRejected }),
		counter("strata_broker_publish_refused_total", "Publications the broker's ACL refused (dropped).",
			func(s bus.BrokerStats) int64 { return s.PublishRefused }),
		counter("strata_broker_subscribe_refused_total", "Subscriptions the broker's ACL refused.",
			func(s bus.BrokerStats) int64 { return s.SubscribeRefused }),
		counter("strata_broker_away_dropped_total",
			"Messages not kept for a persistent session whose client is away: complete states (Complete* events, clusters' parts), and any over 1 000 kept.",
			func(s bus.BrokerStats) int64 { return s.AwayDropped }),
		counter("strata_broker_packets_too_large_total", "Client connections ended for a packet over the client's size limit.",
			func(s bus.BrokerStats) int64 { return s.PacketsTooLarge }),
	}
}

// dataBridgeMetrics exposes the Thrift receiver's scope counters.
func dataBridgeMetrics(s *databridge.Server) []prometheus.Collector {
	counter := counterOf[databridge.Stats, uint64](s.Stats)
	return []prometheus.Collector{
		counter("strata_databridge_auth_failures_total", "Data-bridge connect calls refused.",
			func(s databridge.Stats) uint64 { return s.AuthFailures }),
		counter("strata_databridge_out_of_scope_events_total", "Data-bridge events dropped because they lie outside their session's scope.",
			func(s databridge.Stats) uint64 { return s.OutOfScope }),
		counter("strata_databridge_scope_closed_sessions_total", "Data-bridge sessions closed for publishing outside their scope repeatedly.",
			func(s databridge.Stats) uint64 { return s.ScopeClosed }),
		counter("strata_databridge_connections_refused_total", "Data-bridge connections closed at accept, over --thrift-max-conns or --thrift-max-conns-per-source.",
			func(s databridge.Stats) uint64 { return s.RefusedConnections }),
		counter("strata_databridge_idle_closed_total", "Data-bridge connections closed after --thrift-idle-timeout without a byte.",
			func(s databridge.Stats) uint64 { return s.IdleClosed }),
		counter("strata_databridge_bad_frames_total", "Data-bridge connections closed for malformed input or a frame over --thrift-max-frame.",
			func(s databridge.Stats) uint64 { return s.BadFrames }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strata_databridge_connections_open", Help: "Data-bridge connections open."},
			func() float64 { return float64(s.Stats().OpenConnections) }),
	}
}

// busMetrics exposes the platform's bus client: its outbox and each consumer's queue.
type busMetrics struct{ c *bus.Client }

var (
	busOutboxDesc   = prometheus.NewDesc("strata_bus_outbox_messages", "Messages the platform's bus client has not sent yet.", nil, nil)
	busRejectedDesc = prometheus.NewDesc("strata_bus_publish_rejected_total",
		"Publications the platform's bus client refused because its outbox was full (lost unless the publisher retries).", nil, nil)
	busSupersededDesc = prometheus.NewDesc("strata_bus_superseded_total",
		"Messages (health summaries) replaced in the platform's bus client's outbox by a newer value of the same key before they were sent.", nil, nil)
	busDepthDesc = prometheus.NewDesc("strata_bus_consumer_queue_depth",
		"Messages waiting in an in-process consumer's queue of the platform's bus client.", []string{"consumer"}, nil)
	busFullDesc = prometheus.NewDesc("strata_bus_consumer_queue_full_total",
		"Messages that found a consumer's queue full: a publisher waited for room, or one of the platform's own went over the limit.", []string{"consumer"}, nil)
	busHandledDesc = prometheus.NewDesc("strata_bus_consumer_messages_total",
		"Messages an in-process consumer of the platform's bus client has handled.", []string{"consumer"}, nil)
)

func (m busMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- busOutboxDesc
	ch <- busRejectedDesc
	ch <- busSupersededDesc
	ch <- busDepthDesc
	ch <- busFullDesc
	ch <- busHandledDesc
}

func (m busMetrics) Collect(ch chan<- prometheus.Metric) {
	st := m.c.Stats()
	ch <- prometheus.MustNewConstMetric(busOutboxDesc, prometheus.GaugeValue, float64(st.Outbox))
	ch <- prometheus.MustNewConstMetric(busRejectedDesc, prometheus.CounterValue, float64(st.Rejected))
	ch <- prometheus.MustNewConstMetric(busSupersededDesc, prometheus.CounterValue, float64(st.Superseded))
	for name, q := range st.Queues {
		ch <- prometheus.MustNewConstMetric(busDepthDesc, prometheus.GaugeValue, float64(q.Depth), name)
		ch <- prometheus.MustNewConstMetric(busFullDesc, prometheus.CounterValue, float64(q.Full), name)
		ch <- prometheus.MustNewConstMetric(busHandledDesc, prometheus.CounterValue, float64(q.Handled), name)
	}
}

// loginMetrics expose the login throttle's counters (REST, MQTT and Thrift logins together).
func loginMetrics(users *manager.Users) []prometheus.Collector {
	counter := counterOf[manager.LoginStats, int64](users.LoginStats)
	return []prometheus.Collector{
		counter("strata_logins_failed_total", "Logins (REST, MQTT, Thrift) refused for a wrong user name or password.",
			func(s manager.LoginStats) int64 { return s.Failed }),
		counter("strata_logins_throttled_total", "Logins refused unchecked because their source or user name failed too often.",
			func(s manager.LoginStats) int64 { return s.Throttled }),
		counter("strata_logins_cached_total", "Logins accepted from a remembered verified credential.",
			func(s manager.LoginStats) int64 { return s.Cached }),
	}
}

// counterOf returns a constructor of counters that read one field of stats at each scrape.
func counterOf[S any, N int64 | uint64](stats func() S) func(name, help string, field func(S) N) prometheus.Collector {
	return func(name, help string, field func(S) N) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(field(stats())) })
	}
}
