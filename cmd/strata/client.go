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
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
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

// runDeploy is `strata deploy KIND FILE...`: add (or with --update replace) definitions from
// files, e.g. the Stratos samples as they are.
func runDeploy(args []string, stdout, stderr io.Writer) int {
	var update bool
	c, fs, ok := parseClient("deploy", "[flags] KIND FILE...   (KIND: "+kindNames()+")", args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&update, "update", false, "replace an existing definition (PUT) instead of adding one")
	})
	if !ok {
		return 2
	}
	if fs.NArg() < 2 {
		return c.usage(stderr, fs, nil)
	}
	k, ok := lookupKind(fs.Arg(0))
	if !ok {
		return c.usage(stderr, fs, fmt.Errorf("unknown kind %q (want %s)", fs.Arg(0), kindNames()))
	}
	method := http.MethodPost
	if update {
		method = http.MethodPut
	}
	for _, file := range fs.Args()[1:] {
		body, err := os.ReadFile(file)
		if err != nil {
			return c.fail(stderr, err)
		}
		var m struct{ Message string }
		if err := c.call(context.Background(), method, k.path, body, &m); err != nil {
			return c.fail(stderr, fmt.Errorf("%s: %w", file, err))
		}
		printResult(c, stdout, m.Message)
	}
	return 0
}

// runList is `strata list KIND [NAME...]`: a table of the definitions, applications or
// subscriptions, or of the named ones only; naming one that does not exist exits 1.
func runList(args []string, stdout, stderr io.Writer) int {
	c, fs, ok := parseClient("list", "[flags] KIND [NAME...]   (KIND: "+kindNames()+")", args, stderr, nil)
	if !ok {
		return 2
	}
	if fs.NArg() < 1 {
		return c.usage(stderr, fs, nil)
	}
	k, ok := lookupKind(fs.Arg(0))
	if !ok {
		return c.usage(stderr, fs, fmt.Errorf("unknown kind %q (want %s)", fs.Arg(0), kindNames()))
	}
	var items []map[string]any
	err := c.call(context.Background(), http.MethodGet, k.path, nil, &items)
	var ae *apiError
	if errors.As(err, &ae) && ae.code == http.StatusNotFound {
		items, err = nil, nil // Stratos answers 404 for an empty collection
	}
	if err != nil {
		return c.fail(stderr, err)
	}
	var missing []string
	if names := fs.Args()[1:]; len(names) > 0 {
		var found []map[string]any
		for _, n := range names {
			i := slices.IndexFunc(items, func(it map[string]any) bool { return fmt.Sprint(it[k.id]) == n })
			if i < 0 {
				missing = append(missing, n)
				continue
			}
			found = append(found, items[i])
		}
		items = found
	}
	if items == nil {
		items = []map[string]any{}
	}
	if c.output != "table" {
		if err := c.emit(stdout, items); err != nil {
			return c.fail(stderr, err)
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, strings.ToUpper(strings.Join(k.cols, "\t")))
		for _, it := range items {
			var row []string
			for _, col := range k.cols {
				row = append(row, cell(it[col]))
			}
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
		_ = tw.Flush()
	}
	if len(missing) > 0 {
		return c.fail(stderr, fmt.Errorf("no %s named %s", k.name, strings.Join(missing, ", ")))
	}
	return 0
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case float64:
		return fmt.Sprint(x)
	default:
		return fmt.Sprint(x)
	}
}

// runtimeView is the part of GET /applications/{id}/runtime the CLI shows.
type runtimeView struct {
	ID                   string `json:"id"`
	Status               string `json:"status"`
	ApplicationInstances []struct {
		InstanceID       string `json:"instanceId"`
		Status           string `json:"status"`
		ClusterInstances []struct {
			InstanceID  string `json:"instanceId"`
			Status      string `json:"status"`
			Alias       string `json:"alias"`
			ServiceName string `json:"serviceName"`
			ClusterID   string `json:"clusterId"`
			// StartFailure is why the last start of a member failed (none Active since).
			StartFailure *struct {
				NetworkPartitionID string     `json:"networkPartitionId"`
				PartitionID        string     `json:"partitionId"`
				Reason             string     `json:"reason"`
				Time               time.Time  `json:"time"`
				Failures           int        `json:"failures"`
				QuickFailures      int        `json:"quickFailures"`
				BackoffUntil       *time.Time `json:"backoffUntil"`
				Failing            bool       `json:"failing"`
			} `json:"startFailure"`
			Member []struct {
				MemberID           string `json:"memberId"`
				Status             string `json:"status"`
				NetworkPartitionID string `json:"networkPartitionId"`
				PartitionID        string `json:"partitionId"`
				DefaultPrivateIP   string `json:"defaultPrivateIP"`
			} `json:"member"`
		} `json:"clusterInstances"`
	} `json:"applicationInstances"`
}

// counts returns the active and total members and cluster instances.
func (r *runtimeView) counts() (activeMembers, members, activeClusters, clusters int) {
	for _, ai := range r.ApplicationInstances {
		for _, ci := range ai.ClusterInstances {
			clusters++
			if ci.Status == "Active" {
				activeClusters++
			}
			for _, m := range ci.Member {
				members++
				if m.Status == "Active" {
					activeMembers++
				}
			}
		}
	}
	return
}

// runRuntime is `strata runtime APP`: the application's instances, clusters and members.
func runRuntime(args []string, stdout, stderr io.Writer) int {
	c, fs, ok := parseClient("runtime", "[flags] APPLICATION", args, stderr, nil)
	if !ok {
		return 2
	}
	if fs.NArg() != 1 {
		return c.usage(stderr, fs, nil)
	}
	var raw json.RawMessage
	if err := c.call(context.Background(), http.MethodGet, "/applications/"+url.PathEscape(fs.Arg(0))+"/runtime", nil, &raw); err != nil {
		return c.fail(stderr, err)
	}
	if c.output != "table" {
		if err := c.emit(stdout, raw); err != nil {
			return c.fail(stderr, err)
		}
		return 0
	}
	var rv runtimeView
	if err := json.Unmarshal(raw, &rv); err != nil {
		return c.fail(stderr, err)
	}
	fmt.Fprintf(stdout, "application %s: %s\n", rv.ID, rv.Status)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tALIAS\tCARTRIDGE\tCLUSTER STATUS\tMEMBER\tMEMBER STATUS\tPARTITION\tIP")
	for _, ai := range rv.ApplicationInstances {
		for _, ci := range ai.ClusterInstances {
			if len(ci.Member) == 0 {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t-\t-\t-\t-\n", ci.InstanceID, ci.Alias, ci.ServiceName, ci.Status)
			}
			for _, m := range ci.Member {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s/%s\t%s\n", ci.InstanceID, ci.Alias, ci.ServiceName, ci.Status,
					m.MemberID, m.Status, m.NetworkPartitionID, m.PartitionID, m.DefaultPrivateIP)
			}
		}
	}
	_ = tw.Flush()
	return 0
}

// startFailure describes the first cluster instance whose members cannot be started, or is "".
func (r *runtimeView) startFailure() string {
	for _, ai := range r.ApplicationInstances {
		for _, ci := range ai.ClusterInstances {
			f := ci.StartFailure
			if f == nil {
				continue
			}
			where := ci.ClusterID + " instance " + ci.InstanceID
			if f.PartitionID != "" {
				where += " (partition " + f.NetworkPartitionID + "/" + f.PartitionID + ")"
			}
			why := fmt.Sprintf("cannot start a member of cluster %s: %s (%d failed starts, last at %s)",
				where, f.Reason, f.Failures, f.Time.Local().Format(time.TimeOnly))
			if f.BackoffUntil != nil {
				why += fmt.Sprintf("; crash-loop back-off until %s after %d quick failures", f.BackoffUntil.Local().Format(time.TimeOnly), f.QuickFailures)
				if f.Failing {
					why += ", failing"
				}
			}
			return why
		}
	}
	return ""
}

// converge polls the runtime view until done says so, printing progress to w when it changes.
// With failOnStart it stops at the first start failure the runtime view reports, with its
// reason, instead of waiting out the timeout for members that cannot start.
func (c *clientConfig) converge(ctx context.Context, app string, w io.Writer, failOnStart bool, done func(status string, rv *runtimeView) bool) error {
	if c.timeout <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	last := ""
	start := time.Now()
	for {
		var rv runtimeView
		err := c.call(ctx, http.MethodGet, "/applications/"+url.PathEscape(app)+"/runtime", nil, &rv)
		var ae *apiError
		if errors.As(err, &ae) && ae.code == http.StatusNotFound {
			rv.Status, err = "Removed", nil
		}
		if err != nil {
			return err
		}
		am, m, ac, cl := rv.counts()
		line := fmt.Sprintf("%s: clusters active %d/%d, members active %d/%d", rv.Status, ac, cl, am, m)
		if line != last {
			fmt.Fprintf(w, "[%5.0fs] %s %s\n", time.Since(start).Seconds(), app, line)
			last = line
		}
		if done(rv.Status, &rv) {
			return nil
		}
		if why := rv.startFailure(); failOnStart && why != "" {
			return fmt.Errorf("%s %s; the autoscaler keeps trying: fix the cause, or run strata undeploy %s", app, why, app)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not converge within %s (last: %s)", app, c.timeout, last)
		case <-time.After(c.poll):
		}
	}
}

func deployed(status string, rv *runtimeView) bool {
	am, m, ac, cl := rv.counts()
	return status == "Deployed" && cl > 0 && ac == cl && am > 0 && am == m
}

// runDeployApp is `strata deploy-app APPLICATION APPLICATION-POLICY`: deploy and wait until
// every cluster instance is active.
func runDeployApp(args []string, stdout, stderr io.Writer) int {
	c, fs, ok := parseClient("deploy-app", "[flags] APPLICATION APPLICATION-POLICY", args, stderr, nil)
	if !ok {
		return 2
	}
	if fs.NArg() != 2 {
		return c.usage(stderr, fs, nil)
	}
	app := fs.Arg(0)
	var m struct{ Message string }
	if err := c.call(context.Background(), http.MethodPost, "/applications/"+url.PathEscape(app)+"/deploy/"+url.PathEscape(fs.Arg(1)), nil, &m); err != nil {
		return c.fail(stderr, err)
	}
	printResult(c, stdout, m.Message)
	if err := c.converge(context.Background(), app, stderr, true, deployed); err != nil {
		return c.fail(stderr, err)
	}
	return 0
}

// runUndeploy is `strata undeploy APPLICATION`: undeploy and wait until the application is back
// to Created (its members gone).
func runUndeploy(args []string, stdout, stderr io.Writer) int {
	var force bool
	c, fs, ok := parseClient("undeploy", "[flags] APPLICATION", args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&force, "force", false, "do not wait for the members to terminate gracefully")
	})
	if !ok {
		return 2
	}
	if fs.NArg() != 1 {
		return c.usage(stderr, fs, nil)
	}
	app := fs.Arg(0)
	var m struct{ Message string }
	if err := c.call(context.Background(), http.MethodPost, "/applications/"+url.PathEscape(app)+"/undeploy?force="+fmt.Sprint(force), nil, &m); err != nil {
		return c.fail(stderr, err)
	}
	printResult(c, stdout, m.Message)
	if err := c.converge(context.Background(), app, stderr, false, func(status string, _ *runtimeView) bool {
		return status == "Created" || status == "Removed"
	}); err != nil {
		return c.fail(stderr, err)
	}
	return 0
}

// runSubscribe is `strata subscribe`: subscribe to a cartridge (application, cluster and deploy
// in one call) and wait until its members are active. The repository password comes from
// STRATA_REPO_PASSWORD, never from the command line.
func runSubscribe(args []string, stdout, stderr io.Writer) int {
	var q struct {
		CartridgeType     string `json:"cartridgeType"`
		Alias             string `json:"alias"`
		AutoscalingPolicy string `json:"autoscalingPolicy"`
		DeploymentPolicy  string `json:"deploymentPolicy"`
		RepoURL           string `json:"repoUrl,omitempty"`
		RepoUsername      string `json:"repoUsername,omitempty"`
		RepoPassword      string `json:"repoPassword,omitempty"`
		PrivateRepo       bool   `json:"privateRepo,omitempty"`
		CommitEnabled     bool   `json:"commitEnabled,omitempty"`
		Agent             string `json:"agent,omitempty"`
		Min               int    `json:"min,omitempty"`
		Max               int    `json:"max,omitempty"`
	}
	c, fs, ok := parseClient("subscribe", "[flags] --cartridge TYPE --alias ALIAS --autoscaling-policy ID --deployment-policy ID [--repo-url URL]", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&q.CartridgeType, "cartridge", "", "cartridge type")
		fs.StringVar(&q.Alias, "alias", "", "subscription alias")
		fs.StringVar(&q.AutoscalingPolicy, "autoscaling-policy", "", "autoscaling policy id")
		fs.StringVar(&q.DeploymentPolicy, "deployment-policy", "", "deployment policy id")
		fs.StringVar(&q.RepoURL, "repo-url", "", "artifact repository URL")
		fs.StringVar(&q.RepoUsername, "repo-username", "", "artifact repository user (password: STRATA_REPO_PASSWORD)")
		fs.BoolVar(&q.PrivateRepo, "private-repo", false, "the repository needs credentials")
		fs.BoolVar(&q.CommitEnabled, "commit", false, "let the agent commit changes back")
		fs.StringVar(&q.Agent, "agent", "", "agent kind of the cluster: stratos (default) or strata; chooses the password encryption")
		fs.IntVar(&q.Min, "min", 0, "minimum members (default 1)")
		fs.IntVar(&q.Max, "max", 0, "maximum members (default 5)")
	})
	if !ok {
		return 2
	}
	if fs.NArg() != 0 || q.CartridgeType == "" || q.Alias == "" {
		return c.usage(stderr, fs, nil)
	}
	q.RepoPassword = os.Getenv("STRATA_REPO_PASSWORD")
	body, _ := json.Marshal(q)
	var m struct{ Message string }
	if err := c.call(context.Background(), http.MethodPost, "/subscriptions", body, &m); err != nil {
		return c.fail(stderr, err)
	}
	printResult(c, stdout, m.Message)
	var sub struct {
		ApplicationID string `json:"applicationId"`
	}
	if err := c.call(context.Background(), http.MethodGet, "/subscriptions/"+url.PathEscape(q.Alias), nil, &sub); err != nil {
		return c.fail(stderr, err)
	}
	if err := c.converge(context.Background(), sub.ApplicationID, stderr, true, deployed); err != nil {
		return c.fail(stderr, err)
	}
	return 0
}
