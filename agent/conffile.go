package agent

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

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
	"server.stop.timeout":              nil, // Strata: seconds the servers extensions started get after SIGTERM
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
