package local

import (
	"fmt"
	"strings"

	"github.com/strata-paas/strata/internal/model"
)

// confEntry is one key = value line of agent.conf.
type confEntry struct{ key, value string }

// agentConf is a member's agent.conf: the [agent] section a Stratos-style agent reads
// (docs/stratos-wire.md §7.1), so that Strata's agent, the Stratos Python agent or any agent that
// reads the same file finds the broker, the CEP, its credentials and its place on this host
// without reading the payload: mb.urls, mb.username and mb.password (the payload's MB_*, which
// the controller issues), thrift.receiver.urls and thrift.server.admin.username/password (CEP_*),
// cep.stats.publisher.enabled, listen.address (the member's loopback address),
// APPLICATION_PATH (its app/ directory), log.file.paths, param.file.path (its launch-params) and,
// when the cartridge names one, extensions.dir. A value the payload does not have is left out.
// extra (Options.AgentConf) follows, and its keys replace the generated ones.
func agentConf(p model.Payload, ip, appDir, launchParams, extensions, extra string) string {
	get := func(keys ...string) string {
		for _, k := range keys {
			if v, ok := p.Get(k); ok && v != "" && v != "null" {
				return v
			}
		}
		return ""
	}
	mbURLs := get(model.PayloadMBURLs)
	if ip, port := get(model.PayloadMBIP), get(model.PayloadMBPort); mbURLs == "" && ip != "" && port != "" {
		mbURLs = ip + ":" + port
	}
	cepURLs := get(model.PayloadCEPURLs)
	stats := get(model.PayloadEnableHealthPublisher)
	if stats == "" && cepURLs != "" {
		stats = "true"
	}
	entries := []confEntry{
		{"mb.urls", mbURLs},
		{"mb.username", get(model.PayloadMBUsername)},
		{"mb.password", get(model.PayloadMBPassword)},
		{"thrift.receiver.urls", cepURLs},
		{"thrift.server.admin.username", get(model.PayloadCEPUsername, model.PayloadCEPAdminUsername)},
		{"thrift.server.admin.password", get(model.PayloadCEPPassword, model.PayloadCEPAdminPassword)},
		{"cep.stats.publisher.enabled", stats},
		{"listen.address", ip},
		{"APPLICATION_PATH", appDir},
		{"log.file.paths", get(model.PayloadLogFilePaths)},
		{"param.file.path", launchParams},
		{"extensions.dir", extensions},
	}
	replaced := map[string]bool{}
	for line := range strings.Lines(extra) {
		line = strings.TrimSpace(line)
		if i := strings.IndexAny(line, "=:"); i > 0 && line[0] != '#' && line[0] != ';' {
			replaced[strings.TrimSpace(line[:i])] = true
		}
	}
	var b strings.Builder
	b.WriteString("[agent]\n")
	for _, e := range entries {
		// A line break in a value would start another key.
		if e.value == "" || replaced[e.key] || strings.ContainsAny(e.value, "\r\n") {
			continue
		}
		fmt.Fprintf(&b, "%s = %s\n", e.key, e.value)
	}
	if s := strings.TrimSpace(extra); s != "" {
		b.WriteString(s + "\n")
	}
	return b.String()
}
