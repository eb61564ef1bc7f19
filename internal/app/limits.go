package app

import (
	"flag"
	"math"
	"os"
	"runtime/debug"
	"time"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/manager"
)

// Limits bound what clients of the platform can make it hold or spend: MQTT packets and
// per-client queues, REST requests in progress and password checks (the data bridge's are
// ThriftLimits, in CEPOptions). The zero value of a field takes the default that Flags documents;
// docs/operations.md lists each limit with its flag and metric.
type Limits struct {
	MQTTMaxPacket         int           // --mqtt-max-packet
	MQTTInternalMaxPacket int           // --mqtt-internal-max-packet
	MQTTMaxInflight       int           // --mqtt-max-inflight
	MQTTClientQueue       int           // --mqtt-client-queue
	APIMaxConcurrent      int           // --api-max-concurrent
	LoginSourceBurst      int           // --login-source-burst
	LoginUserBurst        int           // --login-user-burst
	LoginRefill           time.Duration // --login-refill
	LoginCacheTTL         time.Duration // --login-cache-ttl
	PasswordHashers       int           // --password-hashers
}

// Defaults of the limits.
const (
	DefaultMQTTInternalMaxPacket = 256 << 20 // a complete topology of 100 000 members is about 90 MB
	DefaultThriftIdleTimeout     = 5 * time.Minute
	DefaultThriftMaxConns        = 10000
	DefaultThriftMaxConnsPerHost = 1000
	DefaultThriftMaxFrame        = 16 << 20
)

// DefaultGCPercent is the Go collector's GOGC for the platform when the environment sets none:
// the heap may grow by half of what was live at the last collection before the next, not by all
// of it. Nearly all of what the platform holds lives as long as its members do, so collecting
// more often costs little: at 100 000 mock members (the scale harness) the resident set peaked
// at 1.3-1.5 GB instead of 1.8-2.6 GB, with every member Active in about the same time and
// 2.1-2.7 s of CPU a minute once they were (issue 17).
const DefaultGCPercent = 50

// SetDefaultGCPercent sets the collector's GOGC to DefaultGCPercent unless the environment sets
// GOGC (GOGC=100 is Go's default, GOGC=off turns collection off). It changes the whole process,
// so the program that runs the platform calls it (strata up, the scale harness), not Run.
func SetDefaultGCPercent() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(DefaultGCPercent)
	}
}

// Flags registers a flag for every limit on fs.
func (l *Limits) Flags(fs *flag.FlagSet) {
	fs.IntVar(&l.MQTTMaxPacket, "mqtt-max-packet", bus.DefaultMaxPacketSize, "largest MQTT packet (bytes) a client other than the platform's own may send to the embedded broker; a larger one ends its connection")
	fs.IntVar(&l.MQTTInternalMaxPacket, "mqtt-internal-max-packet", DefaultMQTTInternalMaxPacket, "largest MQTT packet (bytes) the platform's own bus client may send (complete topologies)")
	fs.IntVar(&l.MQTTMaxInflight, "mqtt-max-inflight", math.MaxUint16, "QoS 1/2 messages the embedded broker keeps per client awaiting acknowledgement before dropping (1-65535)")
	fs.IntVar(&l.MQTTClientQueue, "mqtt-client-queue", bus.DefaultClientWritesPending, "messages the embedded broker queues per subscriber before dropping QoS 0 ones")
	fs.IntVar(&l.APIMaxConcurrent, "api-max-concurrent", manager.DefaultMaxConcurrent, "authenticated REST requests answered at once; more get 503 with Retry-After")
	fs.IntVar(&l.LoginSourceBurst, "login-source-burst", 20, "failed logins (REST, MQTT, Thrift) one source host may make in a row before it gets 429 or a refusal")
	fs.IntVar(&l.LoginUserBurst, "login-user-burst", 10, "failed logins on one user name, from any source, before it is throttled")
	fs.DurationVar(&l.LoginRefill, "login-refill", 3*time.Second, "a throttled source or user name regains one login attempt per this interval")
	fs.DurationVar(&l.LoginCacheTTL, "login-cache-ttl", 5*time.Minute, "how long a verified credential is remembered (it skips the password hash and the throttle)")
	fs.IntVar(&l.PasswordHashers, "password-hashers", 0, "password hash checks run at once (0: half the CPUs, at least one)")
}

// withDefaults fills the zero fields.
func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.MQTTMaxPacket, bus.DefaultMaxPacketSize)
	def(&l.MQTTInternalMaxPacket, DefaultMQTTInternalMaxPacket)
	return l
}

// ThriftLimits bound the data-bridge receiver's connections and frames (databridge.ServerOptions').
// `strata up` and `strata cep` register the same flags with Flags. The zero value of a field takes
// the default that Flags documents.
type ThriftLimits struct {
	IdleTimeout       time.Duration // --thrift-idle-timeout
	MaxConns          int           // --thrift-max-conns
	MaxConnsPerSource int           // --thrift-max-conns-per-source
	MaxFrame          int           // --thrift-max-frame
}

// Flags registers a flag for every data-bridge limit on fs.
func (l *ThriftLimits) Flags(fs *flag.FlagSet) {
	fs.DurationVar(&l.IdleTimeout, "thrift-idle-timeout", DefaultThriftIdleTimeout, "close a data-bridge connection that sends nothing for this long")
	fs.IntVar(&l.MaxConns, "thrift-max-conns", DefaultThriftMaxConns, "data-bridge connections open at once; more are closed at accept")
	fs.IntVar(&l.MaxConnsPerSource, "thrift-max-conns-per-source", DefaultThriftMaxConnsPerHost, "data-bridge connections open at once from one source host; more are closed at accept")
	fs.IntVar(&l.MaxFrame, "thrift-max-frame", DefaultThriftMaxFrame, "largest data-bridge message (bytes); a larger one closes the connection")
}

// withDefaults fills the zero fields.
func (l ThriftLimits) withDefaults() ThriftLimits {
	if l.IdleTimeout == 0 {
		l.IdleTimeout = DefaultThriftIdleTimeout
	}
	if l.MaxConns == 0 {
		l.MaxConns = DefaultThriftMaxConns
	}
	if l.MaxConnsPerSource == 0 {
		l.MaxConnsPerSource = DefaultThriftMaxConnsPerHost
	}
	if l.MaxFrame == 0 {
		l.MaxFrame = DefaultThriftMaxFrame
	}
	return l
}

// logins are the credential store's limits.
func (l Limits) logins() manager.LoginLimits {
	return manager.LoginLimits{SourceBurst: l.LoginSourceBurst, UserBurst: l.LoginUserBurst, Refill: l.LoginRefill,
		CacheTTL: l.LoginCacheTTL, Hashers: l.PasswordHashers}
}

// brokerOptions are the embedded broker's limits; the platform's own bus client (InternalUser)
// gets the larger packet limit for its topology publications.
func (l Limits) brokerOptions(o bus.BrokerOptions) bus.BrokerOptions {
	o.MaxPacketSize, o.MaxInflight, o.ClientWritesPending = l.MQTTMaxPacket, l.MQTTMaxInflight, l.MQTTClientQueue
	internal := l.MQTTInternalMaxPacket
	o.PacketLimit = func(user string) int {
		if user == InternalUser {
			return internal
		}
		return 0
	}
	return o
}
