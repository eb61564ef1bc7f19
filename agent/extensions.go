package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/strata-paas/strata/internal/model"
)

// Extension names (docs/stratos-wire.md §7.7): the agent runs <ExtensionsDir>/<name>.sh, or
// <ExtensionsDir>/bash/<name>.sh (the PCA's layout), when the file exists.
const (
	ExtCompleteTopology         = "CompleteTopologyEvent"
	ExtCompleteTenant           = "CompleteTenantEvent"
	ExtMemberInitialized        = "MemberInitializedEvent"
	ExtMemberStarted            = "MemberStartedEvent"
	ExtMemberActivated          = "MemberActivatedEvent"
	ExtMemberTerminated         = "MemberTerminatedEvent"
	ExtMemberSuspended          = "MemberSuspendedEvent"
	ExtInstanceStarted          = "InstanceStartedEvent"
	ExtStartServers             = "StartServers"
	ExtInstanceActivated        = "InstanceActivatedEvent"
	ExtArtifactUpdated          = "ArtifactUpdatedEvent"
	ExtApplicationSignUpRemoved = "ApplicationSignUpRemovedEvent"
	ExtVolumeMount              = "VolumeMount"
	ExtClean                    = "clean"
)

// errExtensionStderr marks an extension that wrote to stderr, which the PCA counts as failure.
var errExtensionStderr = errors.New("agent: extension wrote to stderr")

// extensionPath returns the script of an extension, or "" when there is none.
func (a *Agent) extensionPath(name string) string {
	if a.cfg.ExtensionsDir == "" {
		return ""
	}
	for _, p := range []string{
		filepath.Join(a.cfg.ExtensionsDir, name+".sh"),
		filepath.Join(a.cfg.ExtensionsDir, "bash", name+".sh"),
	} {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// runExtension runs an extension script, when present, with the common values and the given ones
// as STRATOS_<KEY> environment variables, and waits for it (bounded by ExtensionTimeout). A
// non-zero exit or output on stderr is an error; stdout is logged at debug level.
func (a *Agent) runExtension(ctx context.Context, name string, values map[string]string) error {
	path := a.extensionPath(name)
	if path == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.ExtensionTimeout)
	defer cancel()
	shell := "/bin/sh"
	if p, err := exec.LookPath("bash"); err == nil {
		shell = p
	}
	env, dir, err := spillLargeValues(a.extensionEnv(name, values))
	if dir != "" {
		defer os.RemoveAll(dir)
	}
	if err != nil {
		return fmt.Errorf("extension %s: %w", name, err)
	}
	cmd := exec.CommandContext(ctx, shell, path)
	cmd.Dir = a.cfg.ExtensionsDir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The script gets its own process group, so a timeout or shutdown also stops its children.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	err = cmd.Run()
	if cmd.Process != nil {
		a.keepIfRunning(name, cmd.Process.Pid)
	}
	a.log.Debug("extension ran", "extension", name, "duration", time.Since(start), "stdout", tail(stdout.String()))
	switch {
	case err != nil:
		return fmt.Errorf("extension %s: %w (stderr: %s)", name, err, tail(stderr.String()))
	case stderr.Len() > 0:
		return fmt.Errorf("extension %s: %w: %s", name, errExtensionStderr, tail(stderr.String()))
	}
	return nil
}

// extension runs an extension and logs a failure; extensions never stop the lifecycle.
func (a *Agent) extension(ctx context.Context, name string, values map[string]string) {
	if err := a.runExtension(ctx, name, values); err != nil && ctx.Err() == nil {
		a.log.Warn("extension failed", "extension", name, "error", err)
	}
}

func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}

// extensionEnv builds the STRATOS_* variables (§7.7): every payload parameter, the common values
// (EVENT, MB_IP, APPLICATION_PATH, PARAM_FILE_PATH, PERSISTENCE_MAPPINGS, LB_IP, LB_PUBLIC_IP,
// SERVICE_PROPERTY_*, CLUSTER_PROPERTY_*, MEMBER_PROPERTY_*), then the event's own values.
func (a *Agent) extensionEnv(event string, values map[string]string) []string {
	m := make(map[string]string, len(a.cfg.Payload)+len(values)+16)
	for _, p := range a.cfg.Payload {
		m[p.Key] = p.Value
	}
	m["EVENT"] = event
	if len(a.cfg.BrokerURLs) > 0 {
		m["MB_IP"] = brokerHost(a.cfg.BrokerURLs[0])
	}
	m["APPLICATION_PATH"] = a.cfg.ApplicationPath
	m["PARAM_FILE_PATH"] = a.cfg.ParamFilePath
	if v, ok := a.cfg.Payload.Get(model.PayloadPersistenceMapping); ok {
		m["PERSISTENCE_MAPPINGS"] = v
	}
	m["LB_IP"], m["LB_PUBLIC_IP"] = a.cfg.LBPrivateIP, a.cfg.LBPublicIP

	a.mu.Lock()
	svc, cl, mem := a.findSelfLocked()
	if lbPriv, lbPub := a.lbIPsLocked(); lbPriv != "" || lbPub != "" {
		m["LB_IP"], m["LB_PUBLIC_IP"] = lbPriv, lbPub
	}
	if svc != nil {
		for k, v := range svc.Properties {
			m["SERVICE_PROPERTY_"+k] = v
		}
	}
	if cl != nil {
		for k, v := range cl.Properties {
			m["CLUSTER_PROPERTY_"+k] = v
		}
	}
	if mem != nil {
		for k, v := range mem.Properties {
			m["MEMBER_PROPERTY_"+k] = v
		}
	}
	a.mu.Unlock()

	for k, v := range values {
		m[k] = v
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	env := make([]string, 0, len(keys))
	for _, k := range keys {
		env = append(env, "STRATOS_"+envName(k)+"="+m[k])
	}
	return env
}

// maxEnvValue is the longest STRATOS_* variable the agent puts in an extension's environment.
// Linux refuses to start a program with one environment string over 128 KiB (MAX_ARG_STRLEN),
// or with arguments and environment over a quarter of the stack limit together: the
// TOPOLOGY_JSON of a cluster of about 150 members was already too long, and the extension never
// ran.
const maxEnvValue = 32 << 10

// spillLargeValues writes each variable of env longer than maxEnvValue to a file of a new
// directory, dir, and passes STRATOS_<KEY>_FILE naming the file instead of STRATOS_<KEY>. The
// caller removes dir (when not "") once the extension has ended.
func spillLargeValues(env []string) (_ []string, dir string, _ error) {
	for i, kv := range env {
		if len(kv) <= maxEnvValue {
			continue
		}
		if dir == "" {
			d, err := os.MkdirTemp("", "strata-extension-")
			if err != nil {
				return nil, "", fmt.Errorf("agent: a directory for long values: %w", err)
			}
			dir = d
		}
		k, v, _ := strings.Cut(kv, "=")
		path := filepath.Join(dir, k)
		if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
			return nil, dir, fmt.Errorf("agent: write %s: %w", k, err)
		}
		env[i] = k + "_FILE=" + path
	}
	return env, dir, nil
}

// envName keeps letters, digits and '_' and turns anything else into '_'.
func envName(k string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return '_'
	}, k)
}

func brokerHost(u string) string {
	if !strings.Contains(u, "://") {
		u = "tcp://" + u
	}
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Hostname()
}

// eventValues flattens an event's scalar JSON fields into PREFIX_FIELD_NAME values, e.g.
// MemberActivatedEvent.memberId becomes MEMBER_ACTIVATED_MEMBER_ID; lists become comma-separated
// text and objects JSON.
func eventValues(prefix string, e model.Event) map[string]string {
	out := map[string]string{}
	b, err := json.Marshal(e)
	if err != nil {
		return out
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(b, &fields) != nil {
		return out
	}
	for k, raw := range fields {
		name := prefix + "_" + snake(k)
		var s string
		var list []string
		switch {
		case json.Unmarshal(raw, &s) == nil:
			out[name] = s
		case json.Unmarshal(raw, &list) == nil:
			out[name] = strings.Join(list, ",")
		default:
			out[name] = string(raw)
		}
	}
	return out
}

// snake turns a camelCase JSON key into UPPER_SNAKE ("memberPrivateIPs" -> "MEMBER_PRIVATE_IPS").
func snake(k string) string {
	var b strings.Builder
	rs := []rune(k)
	for i, r := range rs {
		if unicode.IsUpper(r) && i > 0 && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1])) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}
