package model

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Payload keys (docs/stratos-wire.md §7.2). The platform puts these in a member's launch parameters;
// the cartridge agent reads them.
const (
	// Cluster level, built by the autoscaler.
	PayloadApplicationID        = "APPLICATION_ID"
	PayloadGroupName            = "GROUP_NAME"
	PayloadServiceName          = "SERVICE_NAME"
	PayloadHostName             = "HOST_NAME"
	PayloadMultitenant          = "MULTITENANT"
	PayloadTenantID             = "TENANT_ID"
	PayloadTenantRange          = "TENANT_RANGE"
	PayloadCartridgeAlias       = "CARTRIDGE_ALIAS"
	PayloadClusterID            = "CLUSTER_ID"
	PayloadCartridgeKey         = "CARTRIDGE_KEY" // the application key; decrypts the repo password
	PayloadDeployment           = "DEPLOYMENT"
	PayloadApplicationPath      = "APPLICATION_PATH"
	PayloadRepoURL              = "REPO_URL"
	PayloadPorts                = "PORTS"         // e.g. "8080|22"
	PayloadPortMappings         = "PORT_MAPPINGS" // "NAME:n|PROTOCOL:p|PORT:x|PROXY_PORT:y|TYPE:t;..."
	PayloadProvider             = "PROVIDER"
	PayloadPuppetIP             = "PUPPET_IP"
	PayloadPuppetHostname       = "PUPPET_HOSTNAME"
	PayloadPuppetDNSAvailable   = "PUPPET_DNS_AVAILABLE"
	PayloadPuppetEnv            = "PUPPET_ENV"
	PayloadDependencyAliases    = "DEPENDENCY_ALIASES"
	PayloadExportingProperties  = "EXPORTING_PROPERTIES"
	PayloadDependencyClusterIDs = "DEPENDENCY_CLUSTER_IDS"
	PayloadExportMetadataKeys   = "EXPORT_METADATA_KEYS"
	PayloadImportMetadataKeys   = "IMPORT_METADATA_KEYS"
	PayloadLVSVirtualIP         = "LVS_VIRTUAL_IP"
	PayloadToken                = "TOKEN" // OAuth token for the metadata service

	// Member level, appended by the cloud controller.
	PayloadMemberID           = "MEMBER_ID"
	PayloadInstanceID         = "INSTANCE_ID"
	PayloadClusterInstanceID  = "CLUSTER_INSTANCE_ID"
	PayloadLBClusterID        = "LB_CLUSTER_ID"
	PayloadNetworkPartitionID = "NETWORK_PARTITION_ID"
	PayloadPartitionID        = "PARTITION_ID"
	PayloadInternal           = "INTERNAL"
	PayloadMinCount           = "MIN_COUNT"
	PayloadScalingDecisionID  = "SCALING_DECISION_ID"
	PayloadPersistenceMapping = "PERSISTENCE_MAPPING"

	// Broker, CEP and agent settings, given as payload parameters.
	PayloadMBIP                          = "MB_IP"
	PayloadMBPort                        = "MB_PORT"
	PayloadMBURLs                        = "MB_URLS"
	PayloadMBUsername                    = "MB_USERNAME"
	PayloadMBPassword                    = "MB_PASSWORD"
	PayloadCEPIP                         = "CEP_IP"
	PayloadCEPPort                       = "CEP_PORT"
	PayloadCEPURLs                       = "CEP_URLS"
	PayloadCEPUsername                   = "CEP_USERNAME"
	PayloadCEPPassword                   = "CEP_PASSWORD"
	PayloadCEPAdminUsername              = "CEP_ADMIN_USERNAME"
	PayloadCEPAdminPassword              = "CEP_ADMIN_PASSWORD"
	PayloadEnableHealthPublisher         = "ENABLE_HEALTH_PUBLISHER"
	PayloadMonitoringServerIP            = "MONITORING_SERVER_IP"
	PayloadMonitoringServerPort          = "MONITORING_SERVER_PORT"
	PayloadMonitoringServerSecurePort    = "MONITORING_SERVER_SECURE_PORT"
	PayloadMonitoringServerAdminUsername = "MONITORING_SERVER_ADMIN_USERNAME"
	PayloadMonitoringServerAdminPassword = "MONITORING_SERVER_ADMIN_PASSWORD"
	PayloadLogLevel                      = "LOG_LEVEL"
	PayloadMetadataServiceURL            = "METADATA_SERVICE_URL"
	PayloadLogFilePaths                  = "LOG_FILE_PATHS"
	PayloadPortCheckTimeout              = "PORT_CHECK_TIMEOUT"
	PayloadClustering                    = "CLUSTERING"
	PayloadPrimary                       = "PRIMARY"
	// PayloadModulesURL is Strata's own: the base URL of the module store that `strata init`
	// fetches the member's module from (…/modules/<SERVICE_NAME>).
	PayloadModulesURL = "STRATA_MODULES_URL"
)

// PayloadParameterPrefix marks a cartridge, subscription, network-partition or Kubernetes-cluster
// property that goes into the payload with the prefix removed.
const PayloadParameterPrefix = "payload_parameter."

// ErrPayload is wrapped by every *PayloadError and by Validate's errors.
var ErrPayload = errors.New("model: bad payload")

// PayloadError reports a launch-params problem: the line (from 1), the key (or the pair's text
// when it has no key) and what is wrong.
type PayloadError struct {
	Line   int
	Key    string
	Reason string
}

// Error names the line and the key.
func (e *PayloadError) Error() string {
	return fmt.Sprintf("model: payload line %d, key %q: %s", e.Line, e.Key, e.Reason)
}

// Unwrap returns ErrPayload.
func (e *PayloadError) Unwrap() error { return ErrPayload }

// Param is one KEY=VALUE pair of a payload.
type Param struct {
	Key   string
	Value string
}

// Payload is a member's launch parameters (§7.1): ordered KEY=VALUE pairs, written as one line
// with "," between pairs. Keys are unique. Values must contain neither "," nor "=" nor a line
// break, because the agent splits on them.
type Payload []Param

// Get returns the value of a key.
func (p Payload) Get(key string) (string, bool) {
	for _, kv := range p {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return "", false
}

// Set replaces the value of a key in place, or appends the pair.
func (p *Payload) Set(key, value string) {
	for i := range *p {
		if (*p)[i].Key == key {
			(*p)[i].Value = value
			return
		}
	}
	*p = append(*p, Param{Key: key, Value: value})
}

// Delete removes a key.
func (p *Payload) Delete(key string) {
	for i := range *p {
		if (*p)[i].Key == key {
			*p = append((*p)[:i], (*p)[i+1:]...)
			return
		}
	}
}

// Map returns the pairs as a map.
func (p Payload) Map() map[string]string {
	m := make(map[string]string, len(p))
	for _, kv := range p {
		m[kv.Key] = kv.Value
	}
	return m
}

// String is the launch-params line, without a line break. It does not check the pairs; WriteTo
// does.
func (p Payload) String() string {
	var b strings.Builder
	for i, kv := range p {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv.Key)
		b.WriteByte('=')
		b.WriteString(kv.Value)
	}
	return b.String()
}

// WriteTo writes the launch-params line followed by a line break. It refuses a payload the agent
// would misread (see Check) and writes nothing then.
func (p Payload) WriteTo(w io.Writer) (int64, error) {
	if err := p.Check(); err != nil {
		return 0, err
	}
	n, err := io.WriteString(w, p.String()+"\n")
	return int64(n), err
}

// Check reports every pair the agent would misread: an empty key, a key or value holding ",",
// "=" or a line break, a key with spaces around it, or a repeated key.
func (p Payload) Check() error {
	var errs []error
	seen := make(map[string]bool, len(p))
	for _, kv := range p {
		if r := checkKey(kv.Key); r != "" {
			errs = append(errs, &PayloadError{Line: 1, Key: kv.Key, Reason: r})
			continue
		}
		if seen[kv.Key] {
			errs = append(errs, &PayloadError{Line: 1, Key: kv.Key, Reason: "repeated key"})
		}
		seen[kv.Key] = true
		if strings.ContainsAny(kv.Value, ",=\r\n") {
			errs = append(errs, &PayloadError{Line: 1, Key: kv.Key, Reason: "value contains ',', '=' or a line break"})
		}
	}
	return errors.Join(errs...)
}

func checkKey(k string) string {
	switch {
	case k == "":
		return "empty key"
	case strings.ContainsAny(k, ",=\r\n"):
		return "key contains ',', '=' or a line break"
	case strings.TrimSpace(k) != k:
		return "key has spaces around it"
	}
	return ""
}

// ParsePayload reads a launch-params file. It is stricter than the Python agent, which silently
// keeps only the text between the first and second "=" of a pair: a pair without "=", a value
// holding "=", an empty or padded key, a repeated key, an empty pair or a second non-empty line is
// an error naming the line and the key (a *PayloadError; several are joined). Trailing line
// breaks and blank lines are accepted.
func ParsePayload(r io.Reader) (Payload, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	var (
		p     Payload
		errs  []error
		line  int
		lines int
	)
	seen := map[string]bool{}
	for sc.Scan() {
		line++
		text := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" {
			continue
		}
		lines++
		if lines > 1 {
			key, _, _ := strings.Cut(text, "=")
			errs = append(errs, &PayloadError{Line: line, Key: key, Reason: "launch-params must be a single line"})
			continue
		}
		for i, pair := range strings.Split(text, ",") {
			key, value, ok := strings.Cut(pair, "=")
			switch {
			case pair == "":
				errs = append(errs, &PayloadError{Line: line, Key: "", Reason: fmt.Sprintf("empty pair %d", i+1)})
				continue
			case !ok:
				errs = append(errs, &PayloadError{Line: line, Key: pair, Reason: "pair has no '='"})
				continue
			}
			if reason := checkKey(key); reason != "" {
				errs = append(errs, &PayloadError{Line: line, Key: key, Reason: reason})
				continue
			}
			if strings.Contains(value, "=") {
				errs = append(errs, &PayloadError{Line: line, Key: key, Reason: "value contains '=' (the agent would cut it)"})
				continue
			}
			if strings.Contains(value, "\r") {
				errs = append(errs, &PayloadError{Line: line, Key: key, Reason: "value contains a carriage return"})
				continue
			}
			if seen[key] {
				errs = append(errs, &PayloadError{Line: line, Key: key, Reason: "repeated key"})
				continue
			}
			seen[key] = true
			p = append(p, Param{Key: key, Value: value})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read payload: %w", err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// present reports whether a key has a value the agent counts as set: not empty and not "null".
func (p Payload) present(key string) bool {
	v, ok := p.Get(key)
	return ok && v != "" && v != "null"
}

// Missing lists the keys the Python agent needs (§7.2 "Required by the PCA") that the payload
// lacks, in a fixed order. An alternative is written "A|B+C" (A, or both B and C). Empty values and
// "null" count as missing, as the agent treats them.
func (p Payload) Missing() []string {
	var out []string
	for _, k := range []string{PayloadApplicationID, PayloadServiceName, PayloadClusterID,
		PayloadPorts, PayloadMultitenant, PayloadTenantID} {
		if !p.present(k) {
			out = append(out, k)
		}
	}
	if p.present(PayloadRepoURL) && !p.present(PayloadCartridgeKey) {
		out = append(out, PayloadCartridgeKey)
	}
	if !p.present(PayloadMBURLs) && !(p.present(PayloadMBIP) && p.present(PayloadMBPort)) {
		out = append(out, PayloadMBURLs+"|"+PayloadMBIP+"+"+PayloadMBPort)
	}
	if !p.present(PayloadCEPURLs) && !(p.present(PayloadCEPIP) && p.present(PayloadCEPPort)) {
		out = append(out, PayloadCEPURLs+"|"+PayloadCEPIP+"+"+PayloadCEPPort)
	}
	if !(p.present(PayloadCEPUsername) && p.present(PayloadCEPPassword)) &&
		!(p.present(PayloadCEPAdminUsername) && p.present(PayloadCEPAdminPassword)) {
		out = append(out, PayloadCEPUsername+"+"+PayloadCEPPassword+"|"+
			PayloadCEPAdminUsername+"+"+PayloadCEPAdminPassword)
	}
	return out
}

// Validate reports the pairs Check rejects and every required key Missing lists, joined; each
// error wraps ErrPayload.
func (p Payload) Validate() error {
	errs := []error{p.Check()}
	for _, k := range p.Missing() {
		errs = append(errs, fmt.Errorf("%w: missing required key %s", ErrPayload, k))
	}
	return errors.Join(errs...)
}
