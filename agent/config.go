package agent

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
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
	ParamFilePath    string
	LBPrivateIP      string
	LBPublicIP       string

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

// confKeys are the keys agent.conf may hold (§7.1, the PCA's agent.conf, and Strata's additions).
// Each maps to the payload keys consulted when agent.conf does not set it.
var confKeys = map[string][]string{
	"mb.urls":                          {model.PayloadMBURLs},
	"mb.ip":                            {model.PayloadMBIP},
	"mb.port":                          {model.PayloadMBPort},
	"mb.username":                      {model.PayloadMBUsername},
	"mb.password":                      {model.PayloadMBPassword},
	"mb.publisher.timeout":             nil,
	"mb.ca.file":                       nil, // Strata: verify an ssl:// broker against this CA
	"listen.address":                   nil,
	"thrift.receiver.urls":             {model.PayloadCEPURLs},
	"thrift.receiver.ip":               {model.PayloadCEPIP},
	"thrift.receiver.port":             {model.PayloadCEPPort},
	"thrift.receiver.ca.file":          nil, // Strata: verify the CEP against this CA
	"thrift.server.admin.username":     {model.PayloadCEPUsername, model.PayloadCEPAdminUsername},
	"thrift.server.admin.password":     {model.PayloadCEPPassword, model.PayloadCEPAdminPassword},
	"cep.stats.publisher.enabled":      {model.PayloadEnableHealthPublisher},
	"stats.notifier.interval":          nil,
	"lb.private.ip":                    nil,
	"lb.public.ip":                     nil,
	"enable.artifact.update":           nil,
	"auto.commit":                      nil,
	"auto.checkout":                    nil,
	"artifact.update.interval":         nil,
	"artifact.clone.retries":           nil,
	"artifact.clone.interval":          nil,
	"port.check.timeout":               {model.PayloadPortCheckTimeout},
	"port.check.interval":              nil, // Strata: seconds between port checks
	"enable.data.publisher":            nil,
	"monitoring.server.ip":             {model.PayloadMonitoringServerIP},
	"monitoring.server.port":           {model.PayloadMonitoringServerPort},
	"monitoring.server.secure.port":    {model.PayloadMonitoringServerSecurePort},
	"monitoring.server.admin.username": {model.PayloadMonitoringServerAdminUsername},
	"monitoring.server.admin.password": {model.PayloadMonitoringServerAdminPassword},
	"log.file.paths":                   {model.PayloadLogFilePaths},
	"log.poll.interval":                nil, // Strata: seconds between reads of the log files
	"APPLICATION_PATH":                 {model.PayloadApplicationPath},
	"metadata.service.url":             {model.PayloadMetadataServiceURL},
	"super.tenant.repository.path":     nil,
	"tenant.repository.path":           nil,
	"enable.initial.artifact.backup":   nil,
	"extensions.dir":                   nil,
	"param.file.path":                  nil,
	"log.level":                        {model.PayloadLogLevel},
	// PCA plugin selectors: accepted so a PCA agent.conf loads; Strata has one built-in of each.
	"extension.executor":       nil,
	"artifact.checkout.plugin": nil,
	"artifact.commit.plugin":   nil,
	"health.stat.plugin":       nil,
}

// confFile is agent.conf as written: the [agent] section's keys with their lines.
type confFile struct {
	path   string
	values map[string]string
}

// parseConf reads agent.conf strictly: one [agent] section, key = value (or key: value) lines,
// comments starting with # or ;. An unknown key, another section, a repeated key or a line that is
// not key = value is an error naming the file, the line and the key.
func parseConf(path string, r io.Reader) (confFile, error) {
	cf := confFile{path: path, values: map[string]string{}}
	var errs []error
	sc := bufio.NewScanner(r)
	section := ""
	lines := map[string]int{}
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") {
				errs = append(errs, fmt.Errorf("%w: %s:%d: bad section header %q", ErrConfig, path, n, line))
				continue
			}
			section = strings.TrimSpace(line[1 : len(line)-1])
			if section != "agent" {
				errs = append(errs, fmt.Errorf("%w: %s:%d: unknown section [%s] (only [agent])", ErrConfig, path, n, section))
			}
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i < 0 {
			errs = append(errs, fmt.Errorf("%w: %s:%d: %q is not key = value", ErrConfig, path, n, line))
			continue
		}
		key, value := strings.TrimSpace(line[:i]), strings.TrimSpace(line[i+1:])
		switch {
		case section == "":
			errs = append(errs, fmt.Errorf("%w: %s:%d: key %q before the [agent] section", ErrConfig, path, n, key))
			continue
		case section != "agent":
			continue // already reported
		}
		if _, ok := confKeys[key]; !ok {
			errs = append(errs, fmt.Errorf("%w: %s:%d: unknown key %q%s", ErrConfig, path, n, key, suggest(key)))
			continue
		}
		if prev, dup := lines[key]; dup {
			errs = append(errs, fmt.Errorf("%w: %s:%d: key %q repeated (first on line %d)", ErrConfig, path, n, key, prev))
			continue
		}
		lines[key] = n
		cf.values[key] = value
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("read %s: %w", path, err))
	}
	return cf, errors.Join(errs...)
}

// suggest names the known key closest to a misspelt one.
func suggest(key string) string {
	best, bestD := "", 4
	for k := range confKeys {
		if d := editDistance(strings.ToLower(key), strings.ToLower(k)); d < bestD || d == bestD && k < best {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// settings looks a key up in agent.conf first, then in the payload under the same name, then
// under its payload aliases (§7.1). "" and "null" count as absent.
type settings struct {
	conf    confFile
	payload model.Payload
	errs    []error
}

func present(v string) bool { return v != "" && v != "null" }

func (s *settings) get(key string) string {
	if v, ok := s.conf.values[key]; ok && present(v) {
		return v
	}
	if v, ok := s.payload.Get(key); ok && present(v) {
		return v
	}
	for _, alias := range confKeys[key] {
		if v, ok := s.payload.Get(alias); ok && present(v) {
			return v
		}
	}
	return ""
}

// payloadValue reads an upper-case payload key (also accepted in agent.conf only if listed there).
func (s *settings) payloadValue(key string) string {
	if _, known := confKeys[key]; known {
		return s.get(key)
	}
	if v, ok := s.payload.Get(key); ok && present(v) {
		return v
	}
	return ""
}

func (s *settings) bool(key string, def bool) bool {
	v := s.get(key)
	if v == "" {
		return def
	}
	switch strings.ToLower(v) {
	case "true":
		return true
	case "false":
		return false
	}
	s.errs = append(s.errs, fmt.Errorf("%w: %s = %q is not true or false", ErrConfig, key, v))
	return def
}

// duration reads a number of units (seconds, or milliseconds for port.check.timeout).
func (s *settings) duration(key string, unit time.Duration) time.Duration {
	v := s.get(key)
	if v == "" {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		s.errs = append(s.errs, fmt.Errorf("%w: %s = %q is not a positive number", ErrConfig, key, v))
		return 0
	}
	return time.Duration(f * float64(unit))
}

func (s *settings) int(key string) int {
	v := s.get(key)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		s.errs = append(s.errs, fmt.Errorf("%w: %s = %q is not a non-negative integer", ErrConfig, key, v))
	}
	return n
}

func (s *settings) tlsFor(key string) *tls.Config {
	path := s.get(key)
	if path == "" {
		// The Stratos agents do not verify the CEP's certificate, and `strata up` generates a
		// self-signed one; name a CA file to verify.
		return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		s.errs = append(s.errs, fmt.Errorf("%w: %s: %w", ErrConfig, key, err))
		return nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		s.errs = append(s.errs, fmt.Errorf("%w: %s: no certificate in %s", ErrConfig, key, path))
		return nil
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// list splits a list separated by any of the characters in seps, dropping empty entries.
func list(v, seps string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(seps, r) }) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// urlSeparators split mb.urls and thrift.receiver.urls: "," as in agent.conf, and "|" because a
// launch-params value cannot hold ",".
const urlSeparators = ",|"

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
