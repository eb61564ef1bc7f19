package app

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/manager"
)

// brokerMetrics exposes the embedded broker's counters; each scrape reads them afresh.
func brokerMetrics(b *bus.Broker) []prometheus.Collector {
	counter := func(name, help string, v func(bus.BrokerStats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(b.Stats())) })
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strata_broker_clients_connected", Help: "MQTT clients connected to the embedded broker."},
			func() float64 { return float64(b.Stats().ClientsConnected) }),
		counter("strata_broker_messages_received_total", "PUBLISH packets the embedded broker received.",
			func(s bus.BrokerStats) int64 { return s.MessagesReceived }),
		counter("strata_broker_messages_sent_total", "PUBLISH packets the embedded broker sent.",
			func(s bus.BrokerStats) int64 { return s.MessagesSent }),
		counter("strata_broker_messages_dropped_total", "Messages dropped because a subscriber's buffer was full.",
			func(s bus.BrokerStats) int64 { return s.MessagesDropped }),
		counter("strata_broker_inflight_dropped_total", "QoS 1/2 messages dropped because a client's in-flight store was full.",
			func(s bus.BrokerStats) int64 { return s.InflightDropped }),
		counter("strata_broker_auth_rejected_total", "Connections refused for missing or wrong credentials.",
			func(s bus.BrokerStats) int64 { return s.AuthRejected }),
		counter("strata_broker_packets_too_large_total", "Client connections ended for a packet over the client's size limit.",
			func(s bus.BrokerStats) int64 { return s.PacketsTooLarge }),
	}
}

// limitMetrics expose the login throttle's and the data bridge's counters.
func limitMetrics(users *manager.Users, thrift *databridge.Server) []prometheus.Collector {
	counter := func(name, help string, v func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, v)
	}
	return []prometheus.Collector{
		counter("strata_logins_failed_total", "Logins (REST, MQTT, Thrift) refused for a wrong user name or password.",
			func() float64 { return float64(users.LoginStats().Failed) }),
		counter("strata_logins_throttled_total", "Logins refused unchecked because their source or user name failed too often.",
			func() float64 { return float64(users.LoginStats().Throttled) }),
		counter("strata_logins_cached_total", "Logins accepted from a remembered verified credential.",
			func() float64 { return float64(users.LoginStats().Cached) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strata_databridge_connections_open", Help: "Data-bridge connections open."},
			func() float64 { return float64(thrift.Stats().OpenConnections) }),
		counter("strata_databridge_connections_refused_total", "Data-bridge connections closed at accept, over --thrift-max-conns or --thrift-max-conns-per-source.",
			func() float64 { return float64(thrift.Stats().RefusedConnections) }),
		counter("strata_databridge_idle_closed_total", "Data-bridge connections closed after --thrift-idle-timeout without a byte.",
			func() float64 { return float64(thrift.Stats().IdleClosed) }),
		counter("strata_databridge_auth_failures_total", "Data-bridge connect calls refused.",
			func() float64 { return float64(thrift.Stats().AuthFailures) }),
		counter("strata_databridge_bad_frames_total", "Data-bridge connections closed for malformed input or a frame over --thrift-max-frame.",
			func() float64 { return float64(thrift.Stats().BadFrames) }),
	}
}
