package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// Client commands: they talk to a running manager's REST API (/api). Credentials come from
// --user and STRATA_PASSWORD (HTTP Basic, "user" or "user@tenant.domain"), or STRATA_TOKEN (an
// API token); the address from --url or STRATA_URL.

// clientConfig holds the flags every client command shares.
type clientConfig struct {
	name              string // the command, for messages
	url, user, output string
	timeout           time.Duration
	poll              time.Duration
	http              *http.Client
}

// waiting names the client commands that wait for the platform to converge: only they have
// --timeout.
var waiting = map[string]bool{"deploy-app": true, "undeploy": true, "subscribe": true}

func (c *clientConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "url", envOr("STRATA_URL", "http://127.0.0.1:9763"), "manager URL (STRATA_URL)")
	fs.StringVar(&c.user, "user", envOr("STRATA_USER", "admin"), "user name, user@tenant.domain for a tenant (STRATA_USER); the password comes from STRATA_PASSWORD, or use STRATA_TOKEN")
	fs.StringVar(&c.output, "output", "table", "output format: table, json or yaml")
	if waiting[c.name] {
		fs.DurationVar(&c.timeout, "timeout", 10*time.Minute, "how long to wait for the platform to converge (0: do not wait)")
	}
	c.poll = 2 * time.Second
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// apiError is a non-2xx answer: the status and Stratos' message.
type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.code, http.StatusText(e.code), e.msg)
}

// call sends a request to /api<path> and decodes a JSON answer into out (when not nil).
func (c *clientConfig) call(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.url, "/")+"/api"+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok := os.Getenv("STRATA_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	} else {
		req.SetBasicAuth(c.user, os.Getenv("STRATA_PASSWORD"))
	}
	hc := c.http
	if hc == nil {
		hc = &http.Client{Timeout: time.Minute}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var m struct{ Message string }
		if json.Unmarshal(b, &m) != nil || m.Message == "" {
			m.Message = strings.TrimSpace(string(b))
		}
		return &apiError{code: resp.StatusCode, msg: m.Message}
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("decode answer: %w", err)
		}
	}
	return nil
}

// kind is a kind of definition the client commands deploy and list. Users may name it in the
// singular ("autoscaling-policy"), the plural ("autoscaling-policies") or as Stratos' REST
// collection ("autoscalingPolicies"); case, '-' and '_' do not matter.
type kind struct {
	name, plural string
	path         string   // the API collection; its name is Stratos' REST name
	id           string   // the key that names one item
	cols         []string // the table's columns
}

var kinds = []kind{
	{"autoscaling-policy", "autoscaling-policies", "/autoscalingPolicies", "id", []string{"id", "displayName"}},
	{"network-partition", "network-partitions", "/networkPartitions", "id", []string{"id", "provider"}},
	{"deployment-policy", "deployment-policies", "/deploymentPolicies", "id", []string{"id"}},
	{"application-policy", "application-policies", "/applicationPolicies", "id", []string{"id", "algorithm"}},
	{"cartridge", "cartridges", "/cartridges", "type", []string{"type", "category", "provider", "multiTenant", "version"}},
	{"cartridge-group", "cartridge-groups", "/cartridgeGroups", "name", []string{"name"}},
	{"application", "applications", "/applications", "applicationId", []string{"applicationId", "status", "multiTenant"}},
	{"tenant", "tenants", "/tenants", "tenantDomain", []string{"tenantDomain", "tenantId", "admin", "active"}},
	{"user", "users", "/users", "userName", []string{"userName", "role"}},
	{"subscription", "subscriptions", "/subscriptions", "alias", []string{"alias", "cartridgeType", "status", "activeMembers", "clusterId"}},
}

// restName is Stratos' name of the kind's REST collection, e.g. autoscalingPolicies.
func (k kind) restName() string { return strings.TrimPrefix(k.path, "/") }

// foldKind folds a kind's spelling: lower case, without '-' and '_'.
func foldKind(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' {
			return -1
		}
		return unicode.ToLower(r)
	}, s)
}

// lookupKind finds a kind by any of its names; singular REST names (autoscalingPolicy) fold to
// the singular name.
func lookupKind(s string) (kind, bool) {
	f := foldKind(s)
	for _, k := range kinds {
		if f == foldKind(k.name) || f == foldKind(k.plural) || f == foldKind(k.restName()) {
			return k, true
		}
	}
	return kind{}, false
}

// kindNames lists the kinds for usage and error messages, in the plural.
func kindNames() string {
	var n []string
	for _, k := range kinds {
		n = append(n, k.plural)
	}
	return strings.Join(n, ", ") + " (singular and Stratos' REST names such as autoscalingPolicies work too)"
}

// parseFlags parses args with flags anywhere: before, between and after the positional
// arguments (everything after "--" is positional). It leaves the positional arguments in
// fs.Args, as fs.Parse does.
func parseFlags(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

// outputFlag finds --output's value in args before they are parsed, so that a flag error is
// reported in the format asked for.
func outputFlag(args []string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "output" {
			continue
		}
		if hasValue {
			return value
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return "table"
}

// parseClient parses a client command's flags (anywhere in args) and checks --output. ok false:
// the usage or the error has been printed and the command exits 2.
func parseClient(name, usage string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (*clientConfig, *flag.FlagSet, bool) {
	c := &clientConfig{name: name}
	fs := flag.NewFlagSet("strata "+name, flag.ContinueOnError)
	textUsage := func() {
		fmt.Fprintf(stderr, "usage: strata %s %s\n", name, usage)
		fs.PrintDefaults()
	}
	c.flags(fs)
	if extra != nil {
		extra(fs)
	}
	c.output = outputFlag(args)
	structured := c.output == "json" || c.output == "yaml"
	if structured {
		// The flag package would print its error and the usage as text: one error object instead.
		fs.SetOutput(io.Discard)
		fs.Usage = func() {}
	} else {
		fs.SetOutput(stderr)
		fs.Usage = textUsage
	}
	if err := parseFlags(fs, args); err != nil {
		switch {
		case errors.Is(err, flag.ErrHelp) && structured:
			fs.SetOutput(stderr)
			textUsage()
		case structured:
			c.printError(stderr, err, 0)
		}
		return nil, nil, false
	}
	fs.SetOutput(stderr)
	fs.Usage = func() {
		if c.output == "table" {
			textUsage()
			return
		}
		c.printError(stderr, fmt.Errorf("usage: strata %s %s", name, usage), 0)
	}
	switch c.output {
	case "table", "json", "yaml":
	default:
		out := c.output
		c.output = "table"
		fmt.Fprintf(stderr, "strata %s: --output %q: want table, json or yaml\n", name, out)
		return nil, nil, false
	}
	return c, fs, true
}

// fail prints err in the output format (an object {"status":"error","message":…} under json and
// yaml, with the HTTP status as "code" for an API error) and returns the exit status, 1. A 401
// says where the admin password is.
func (c *clientConfig) fail(stderr io.Writer, err error) int {
	code := 0
	var ae *apiError
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		err = fmt.Errorf("%w (is strata up running there? the address comes from --url or STRATA_URL)", err)
	}
	if errors.As(err, &ae) {
		code = ae.code
		if ae.code == http.StatusUnauthorized {
			err = fmt.Errorf("%w (%s)", err, credentialsHint())
		}
	}
	c.printError(stderr, err, code)
	return 1
}

// usage reports a wrong command line in the output format and returns the exit status, 2.
func (c *clientConfig) usage(stderr io.Writer, fs *flag.FlagSet, err error) int {
	if err != nil {
		if c.output == "table" {
			fmt.Fprintf(stderr, "strata %s: %v\n", c.name, err)
		} else {
			c.printError(stderr, err, 0)
		}
		return 2
	}
	fs.Usage()
	return 2
}

func (c *clientConfig) printError(w io.Writer, err error, code int) {
	if c.output == "table" {
		fmt.Fprintf(w, "strata %s: %v\n", c.name, err)
		return
	}
	v := struct {
		Status  string `json:"status"`
		Message string `json:"message"`
		Code    int    `json:"code,omitempty"`
	}{"error", fmt.Sprintf("strata %s: %v", c.name, err), code}
	if e := c.emit(w, v); e != nil {
		fmt.Fprintf(w, "strata %s: %v\n", c.name, err)
	}
}

// credentialsHint says where the credentials come from, for a 401.
func credentialsHint() string {
	h := "the client sends --user (STRATA_USER) with the password in STRATA_PASSWORD, or the token in STRATA_TOKEN"
	if os.Getenv("STRATA_PASSWORD") == "" && os.Getenv("STRATA_TOKEN") == "" {
		h = "STRATA_PASSWORD is not set; " + h
	}
	return h + "; the admin's password is the STRATA_ADMIN_PASSWORD strata up first started with, or the generated one in <data-dir>/admin-password (default strata-data/admin-password)"
}

// emit writes v in the output format; table falls back to JSON for values without a table.
func (c *clientConfig) emit(w io.Writer, v any) error {
	if c.output != "yaml" {
		return json.NewEncoder(w).Encode(v)
	}
	// Through JSON, so that YAML has the same (camelCase) keys as JSON.
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return err
	}
	out, err := yaml.Marshal(generic)
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}

func printResult(c *clientConfig, stdout io.Writer, msg string) {
	if c.output != "table" {
		_ = c.emit(stdout, map[string]string{"status": "success", "message": msg})
		return
	}
	fmt.Fprintln(stdout, msg)
}
