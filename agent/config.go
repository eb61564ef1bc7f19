package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/model"
)

// ErrConfig is wrapped by every error LoadConfig and New report about the configuration.
var ErrConfig = errors.New("agent: bad configuration")

// Defaults of the timings (docs/stratos-wire.md §7.1), used where a Config duration is zero.
const (
	DefaultHealthInterval          = 15 * time.Second
	DefaultArtifactUpdateInterval  = 10 * time.Second
	DefaultCloneInterval           = 10 * time.Second
	DefaultCloneRetries            = 5
	DefaultPortCheckTimeout        = 600 * time.Second
	DefaultPortCheckInterval       = 5 * time.Second
	DefaultTopologyRequestInterval = 5 * time.Second
	DefaultLogPollInterval         = time.Second
	DefaultExtensionTimeout        = 10 * time.Minute
	DefaultServerStopTimeout       = 20 * time.Second
)

// Publisher sends data-bridge events; *databridge.Client implements it. The agent uses one for
// health statistics and one for log lines.
type Publisher interface {
	Publish(ctx context.Context, events ...databridge.Event) error
}

// HealthReader returns the member's memory use and load, both in percent (§2.6).
type HealthReader func() (memoryPercent, loadPercent float64, err error)

// Config is everything the agent runs with: the member's identity from the payload, where the
// broker and the CEP are, the timings and the paths. LoadConfig builds it from agent.conf and
// launch-params; tests and embedders may fill it directly. Zero durations mean the defaults.
type Config struct {
	// Payload is every launch parameter; extensions receive each as STRATOS_<KEY>.
	Payload model.Payload

	// The member's identity (§7.2).
	ApplicationID      string
	ServiceName        string
	ClusterID          string
	ClusterInstanceID  string
	MemberID           string
	InstanceID         string
	NetworkPartitionID string
	PartitionID        string
	GroupID            string
	TenantID           string
	CartridgeAlias     string
	LBClusterID        string
	Multitenant        bool
	// Ports must all accept connections before the member is activated (§7.6).
	Ports []int
	// RepoURL, when set, makes activation wait for the first ArtifactUpdatedEvent.
	RepoURL string
	// CartridgeKey decrypts the repository password (model.DecryptPassword).
	CartridgeKey string

	// The message broker: URLs tried in order (failover).
	BrokerURLs     []string
	BrokerUsername string
	BrokerPassword string
	BrokerTLS      *tls.Config

	// The CEP data-bridge receivers (TLS, secure service), tried in order.
	CEPURLs     []string
	CEPUsername string
	CEPPassword string
	CEPTLS      *tls.Config
	// HealthEnabled turns on health statistics after activation, every HealthInterval.
	HealthEnabled  bool
	HealthInterval time.Duration

	// LogPublishing tails LogFilePaths and publishes each new line to LogURLs (the CEP when
	// empty), polling every LogPollInterval.
	LogPublishing   bool
	LogFilePaths    []string
	LogURLs         []string
	LogUsername     string
	LogPassword     string
	LogPollInterval time.Duration

	// ArtifactUpdate turns on the periodic artifact update every ArtifactUpdateInterval, once the
	// first checkout is done. AutoCheckout pulls on each round; AutoCommit commits and pushes
	// local changes when the ArtifactUpdatedEvent allowed it.
	ArtifactUpdate         bool
	AutoCheckout           bool
	AutoCommit             bool
	ArtifactUpdateInterval time.Duration
	CloneRetries           int
	CloneInterval          time.Duration

	// ListenAddress is where the ports are checked; empty means the member's default private IP
	// from the topology, or localhost.
	ListenAddress     string
	PortCheckTimeout  time.Duration
	PortCheckInterval time.Duration

	// ApplicationPath is where artifacts are checked out (APPLICATION_PATH).
	ApplicationPath     string
	SuperTenantRepoPath string
	TenantRepoPath      string
	// ExtensionsDir holds the <Event>.sh scripts (or bash/<Event>.sh, the PCA layout).
	ExtensionsDir    string
	ExtensionTimeout time.Duration
	// ServerStopTimeout is how long the stopping agent waits for what its extensions left
	// running (the cartridge's server) to end after SIGTERM before it kills them; it should end
	// before the member's termination grace period (Kubernetes: 30 s by default).
	ServerStopTimeout time.Duration
	ParamFilePath     string
	LBPrivateIP       string
	LBPublicIP        string

	// TopologyRequestInterval is how often CompleteTopologyRequestEvent is sent until a
	// CompleteTopologyEvent arrives.
	TopologyRequestInterval time.Duration

	// Logger receives the agent's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock of event timestamps; nil means time.Now.
	Now func() time.Time
	// ReadHealth reads memory and load; nil reads /proc/meminfo and /proc/loadavg.
	ReadHealth HealthReader
	// Health and Logs replace the data-bridge clients built from CEPURLs and LogURLs.
	Health Publisher
	Logs   Publisher
}

// LoadConfig reads agent.conf (INI, section [agent]; the path may be empty for none) and the
// launch-params file, and builds the Config. Every key is looked up in agent.conf first, then in
// the payload; "" and "null" count as absent. An unknown or misspelt key in agent.conf, a bad
// value or a missing required key (§7.2 "Required by the PCA", plus MEMBER_ID) is an error; all
// problems are reported together.
func LoadConfig(agentConfPath, launchParamsPath string) (Config, error) {
	var errs []error
	var cf confFile
	if agentConfPath != "" {
		f, err := os.Open(agentConfPath)
		if err != nil {
			return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		cf, err = parseConf(agentConfPath, f)
		f.Close()
		errs = append(errs, err)
	}
	f, err := os.Open(launchParamsPath)
	if err != nil {
		return Config{}, errors.Join(append(errs, fmt.Errorf("%w: %w", ErrConfig, err))...)
	}
	payload, err := model.ParsePayload(f)
	f.Close()
	if err != nil {
		errs = append(errs, fmt.Errorf("%w: %s: %w", ErrConfig, launchParamsPath, err))
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	c, err := buildConfig(cf, payload)
	if err != nil {
		return Config{}, err
	}
	if c.ExtensionsDir == "" && agentConfPath != "" {
		c.ExtensionsDir = filepath.Join(filepath.Dir(agentConfPath), "extensions")
	}
	if c.ParamFilePath == "" {
		c.ParamFilePath = launchParamsPath
	}
	return c, nil
}

// buildConfig turns the file-shaped settings into a Config and validates it.
func buildConfig(cf confFile, payload model.Payload) (Config, error) {
	s := &settings{conf: cf, payload: payload}
	c := Config{Payload: payload}
	var missing []string
	need := func(key string) string {
		v := s.payloadValue(key)
		if v == "" {
			missing = append(missing, key)
		}
		return v
	}
	c.ApplicationID = need(model.PayloadApplicationID)
	c.ServiceName = need(model.PayloadServiceName)
	c.ClusterID = need(model.PayloadClusterID)
	ports := need(model.PayloadPorts)
	mt := need(model.PayloadMultitenant)
	c.TenantID = need(model.PayloadTenantID)
	c.MemberID = need(model.PayloadMemberID)
	c.RepoURL = s.payloadValue(model.PayloadRepoURL)
	c.CartridgeKey = s.payloadValue(model.PayloadCartridgeKey)
	if c.RepoURL != "" && c.CartridgeKey == "" {
		missing = append(missing, model.PayloadCartridgeKey+" (REPO_URL is set)")
	}
	c.ClusterInstanceID = s.payloadValue(model.PayloadClusterInstanceID)
	c.InstanceID = s.payloadValue(model.PayloadInstanceID)
	c.NetworkPartitionID = s.payloadValue(model.PayloadNetworkPartitionID)
	c.PartitionID = s.payloadValue(model.PayloadPartitionID)
	c.GroupID = s.payloadValue(model.PayloadGroupName)
	c.CartridgeAlias = s.payloadValue(model.PayloadCartridgeAlias)
	c.LBClusterID = s.payloadValue(model.PayloadLBClusterID)
	if mt != "" {
		switch strings.ToLower(mt) {
		case "true":
			c.Multitenant = true
		case "false":
		default:
			s.errs = append(s.errs, fmt.Errorf("%w: MULTITENANT = %q is not true or false", ErrConfig, mt))
		}
	}
	for _, p := range list(ports, "|") {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			s.errs = append(s.errs, fmt.Errorf("%w: PORTS entry %q is not a port", ErrConfig, p))
			continue
		}
		c.Ports = append(c.Ports, n)
	}

	// Broker.
	switch urls := s.get("mb.urls"); {
	case urls != "":
		c.BrokerURLs = list(urls, urlSeparators)
	case s.get("mb.ip") != "" && s.get("mb.port") != "":
		c.BrokerURLs = []string{net.JoinHostPort(s.get("mb.ip"), s.get("mb.port"))}
	default:
		missing = append(missing, "mb.urls (or MB_URLS, or MB_IP and MB_PORT)")
	}
	c.BrokerUsername = s.get("mb.username")
	c.BrokerPassword = s.get("mb.password")
	if s.get("mb.ca.file") != "" {
		c.BrokerTLS = s.tlsFor("mb.ca.file")
	}

	// CEP and health.
	c.HealthEnabled = s.bool("cep.stats.publisher.enabled", true)
	c.HealthInterval = s.duration("stats.notifier.interval", time.Second)
	switch urls := s.get("thrift.receiver.urls"); {
	case urls != "":
		c.CEPURLs = list(urls, urlSeparators)
	case s.get("thrift.receiver.ip") != "" && s.get("thrift.receiver.port") != "":
		c.CEPURLs = []string{net.JoinHostPort(s.get("thrift.receiver.ip"), s.get("thrift.receiver.port"))}
	}
	c.CEPUsername = s.get("thrift.server.admin.username")
	c.CEPPassword = s.get("thrift.server.admin.password")
	c.CEPTLS = s.tlsFor("thrift.receiver.ca.file")
	if c.HealthEnabled {
		if len(c.CEPURLs) == 0 {
			missing = append(missing, "thrift.receiver.urls (or CEP_URLS, or CEP_IP and CEP_PORT)")
		}
		if c.CEPUsername == "" || c.CEPPassword == "" {
			missing = append(missing, "thrift.server.admin.username and .password (or CEP_USERNAME and CEP_PASSWORD)")
		}
	}

	// Logs: on when enable.data.publisher says so, or when it is unset and files are named.
	c.LogFilePaths = list(s.get("log.file.paths"), "|")
	c.LogPublishing = s.bool("enable.data.publisher", len(c.LogFilePaths) > 0)
	c.LogPollInterval = s.duration("log.poll.interval", time.Second)
	if ip := s.get("monitoring.server.ip"); ip != "" {
		port := s.get("monitoring.server.secure.port")
		if port == "" {
			port = s.get("monitoring.server.port")
		}
		if port != "" {
			c.LogURLs = []string{net.JoinHostPort(ip, port)}
		}
		c.LogUsername = s.get("monitoring.server.admin.username")
		c.LogPassword = s.get("monitoring.server.admin.password")
	}

	// Artifacts.
	c.ArtifactUpdate = s.bool("enable.artifact.update", true)
	c.AutoCheckout = s.bool("auto.checkout", true)
	c.AutoCommit = s.bool("auto.commit", false)
	c.ArtifactUpdateInterval = s.duration("artifact.update.interval", time.Second)
	c.CloneRetries = s.int("artifact.clone.retries")
	c.CloneInterval = s.duration("artifact.clone.interval", time.Second)

	// Ports, paths, LB.
	c.ListenAddress = s.get("listen.address")
	c.PortCheckTimeout = s.duration("port.check.timeout", time.Millisecond)
	c.PortCheckInterval = s.duration("port.check.interval", time.Second)
	c.ApplicationPath = s.get("APPLICATION_PATH")
	c.SuperTenantRepoPath = s.get("super.tenant.repository.path")
	c.TenantRepoPath = s.get("tenant.repository.path")
	c.ExtensionsDir = s.get("extensions.dir")
	c.ServerStopTimeout = s.duration("server.stop.timeout", time.Second)
	c.ParamFilePath = s.get("param.file.path")
	c.LBPrivateIP = s.get("lb.private.ip")
	c.LBPublicIP = s.get("lb.public.ip")

	for _, k := range missing {
		s.errs = append(s.errs, fmt.Errorf("%w: missing required key %s", ErrConfig, k))
	}
	if err := errors.Join(s.errs...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// withDefaults fills zero timings and the clock.
func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.HealthInterval, DefaultHealthInterval)
	def(&c.ArtifactUpdateInterval, DefaultArtifactUpdateInterval)
	def(&c.CloneInterval, DefaultCloneInterval)
	def(&c.PortCheckTimeout, DefaultPortCheckTimeout)
	def(&c.PortCheckInterval, DefaultPortCheckInterval)
	def(&c.TopologyRequestInterval, DefaultTopologyRequestInterval)
	def(&c.LogPollInterval, DefaultLogPollInterval)
	def(&c.ExtensionTimeout, DefaultExtensionTimeout)
	def(&c.ServerStopTimeout, DefaultServerStopTimeout)
	if c.CloneRetries <= 0 {
		c.CloneRetries = DefaultCloneRetries
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ReadHealth == nil {
		c.ReadHealth = procHealth("/proc")
	}
	return c
}

// validate checks what New needs, whatever built the Config.
func (c Config) validate() error {
	var errs []error
	for _, f := range []struct{ name, v string }{
		{model.PayloadApplicationID, c.ApplicationID}, {model.PayloadServiceName, c.ServiceName},
		{model.PayloadClusterID, c.ClusterID}, {model.PayloadMemberID, c.MemberID},
	} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("%w: missing %s", ErrConfig, f.name))
		}
	}
	if len(c.BrokerURLs) == 0 {
		errs = append(errs, fmt.Errorf("%w: no broker URL", ErrConfig))
	}
	if c.HealthEnabled && c.Health == nil && len(c.CEPURLs) == 0 {
		errs = append(errs, fmt.Errorf("%w: health publishing on but no CEP URL", ErrConfig))
	}
	if c.RepoURL != "" && c.CartridgeKey == "" {
		errs = append(errs, fmt.Errorf("%w: REPO_URL set without CARTRIDGE_KEY", ErrConfig))
	}
	return errors.Join(errs...)
}
