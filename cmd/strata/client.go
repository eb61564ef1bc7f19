package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Client commands: they talk to a running manager's REST API (/api). Credentials come from
// --user and STRATA_PASSWORD (HTTP Basic, "user" or "user@tenant.domain"), or STRATA_TOKEN (an
// API token); the address from --url or STRATA_URL.

// clientConfig holds the flags every client command shares.
type clientConfig struct {
	url, user, output string
	timeout           time.Duration
	poll              time.Duration
	http              *http.Client
}

func (c *clientConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "url", envOr("STRATA_URL", "http://127.0.0.1:9763"), "manager URL (STRATA_URL)")
	fs.StringVar(&c.user, "user", envOr("STRATA_USER", "admin"), "user name, user@tenant.domain for a tenant (STRATA_USER); the password comes from STRATA_PASSWORD, or use STRATA_TOKEN")
	fs.StringVar(&c.output, "output", "table", "output format: table or json")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Minute, "how long deploy and undeploy wait for the platform to converge (0: do not wait)")
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

// kinds maps the CLI's names of definitions to their API collections.
var kinds = map[string]string{
	"autoscaling-policy": "/autoscalingPolicies", "network-partition": "/networkPartitions",
	"deployment-policy": "/deploymentPolicies", "application-policy": "/applicationPolicies",
	"cartridge": "/cartridges", "cartridge-group": "/cartridgeGroups", "application": "/applications",
	"tenant": "/tenants", "user": "/users", "subscription": "/subscriptions",
}

func kindNames() string {
	var n []string
	for k := range kinds {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

func parseClient(name, usage string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (*clientConfig, *flag.FlagSet, bool) {
	var c clientConfig
	fs := flag.NewFlagSet("strata "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: strata %s %s\n", name, usage)
		fs.PrintDefaults()
	}
	c.flags(fs)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, false
	}
	if c.output != "table" && c.output != "json" {
		fmt.Fprintf(stderr, "strata %s: --output %q: want table or json\n", name, c.output)
		return nil, nil, false
	}
	return &c, fs, true
}

func fail(stderr io.Writer, name string, err error) int {
	fmt.Fprintf(stderr, "strata %s: %v\n", name, err)
	return 1
}

func printResult(c *clientConfig, stdout io.Writer, msg string) {
	if c.output == "json" {
		_ = json.NewEncoder(stdout).Encode(map[string]string{"status": "success", "message": msg})
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
		fs.Usage()
		return 2
	}
	path, ok := kinds[fs.Arg(0)]
	if !ok {
		fmt.Fprintf(stderr, "strata deploy: unknown kind %q (want %s)\n", fs.Arg(0), kindNames())
		return 2
	}
	method := http.MethodPost
	if update {
		method = http.MethodPut
	}
	for _, file := range fs.Args()[1:] {
		body, err := os.ReadFile(file)
		if err != nil {
			return fail(stderr, "deploy", err)
		}
		var m struct{ Message string }
		if err := c.call(context.Background(), method, path, body, &m); err != nil {
			return fail(stderr, "deploy", fmt.Errorf("%s: %w", file, err))
		}
		printResult(c, stdout, m.Message)
	}
	return 0
}

// runList is `strata list KIND`: a table of the definitions, applications or subscriptions.
func runList(args []string, stdout, stderr io.Writer) int {
	c, fs, ok := parseClient("list", "[flags] KIND   (KIND: "+kindNames()+")", args, stderr, nil)
	if !ok {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	path, ok := kinds[fs.Arg(0)]
	if !ok {
		fmt.Fprintf(stderr, "strata list: unknown kind %q (want %s)\n", fs.Arg(0), kindNames())
		return 2
	}
	var items []map[string]any
	err := c.call(context.Background(), http.MethodGet, path, nil, &items)
	var ae *apiError
	if errors.As(err, &ae) && ae.code == http.StatusNotFound {
		items, err = nil, nil // Stratos answers 404 for an empty collection
	}
	if err != nil {
		return fail(stderr, "list", err)
	}
	if c.output == "json" {
		if items == nil {
			items = []map[string]any{}
		}
		_ = json.NewEncoder(stdout).Encode(items)
		return 0
	}
	cols := map[string][]string{
		"autoscaling-policy": {"id", "displayName"}, "network-partition": {"id", "provider"},
		"deployment-policy": {"id"}, "application-policy": {"id", "algorithm"},
		"cartridge": {"type", "category", "provider", "multiTenant", "version"}, "cartridge-group": {"name"},
		"application": {"applicationId", "status", "multiTenant"}, "tenant": {"tenantDomain", "tenantId", "admin", "active"},
		"user": {"userName", "role"}, "subscription": {"alias", "cartridgeType", "status", "activeMembers", "clusterId"},
	}[fs.Arg(0)]
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(cols, "\t")))
	for _, it := range items {
		var row []string
		for _, col := range cols {
			row = append(row, cell(it[col]))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	_ = tw.Flush()
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
				NetworkPartitionID string    `json:"networkPartitionId"`
				PartitionID        string    `json:"partitionId"`
				Reason             string    `json:"reason"`
				Time               time.Time `json:"time"`
				Failures           int       `json:"failures"`
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
		fs.Usage()
		return 2
	}
	var raw json.RawMessage
	if err := c.call(context.Background(), http.MethodGet, "/applications/"+url.PathEscape(fs.Arg(0))+"/runtime", nil, &raw); err != nil {
		return fail(stderr, "runtime", err)
	}
	if c.output == "json" {
		_, _ = stdout.Write(append(raw, '\n'))
		return 0
	}
	var rv runtimeView
	if err := json.Unmarshal(raw, &rv); err != nil {
		return fail(stderr, "runtime", err)
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
			return fmt.Sprintf("cannot start a member of cluster %s: %s (%d failed starts, last at %s)",
				where, f.Reason, f.Failures, f.Time.Local().Format(time.TimeOnly))
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
		fs.Usage()
		return 2
	}
	app := fs.Arg(0)
	var m struct{ Message string }
	if err := c.call(context.Background(), http.MethodPost, "/applications/"+url.PathEscape(app)+"/deploy/"+url.PathEscape(fs.Arg(1)), nil, &m); err != nil {
		return fail(stderr, "deploy-app", err)
	}
	printResult(c, stdout, m.Message)
	if err := c.converge(context.Background(), app, stderr, true, deployed); err != nil {
		return fail(stderr, "deploy-app", err)
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
		fs.Usage()
		return 2
	}
	app := fs.Arg(0)
	var m struct{ Message string }
	if err := c.call(context.Background(), http.MethodPost, "/applications/"+url.PathEscape(app)+"/undeploy?force="+fmt.Sprint(force), nil, &m); err != nil {
		return fail(stderr, "undeploy", err)
	}
	printResult(c, stdout, m.Message)
	if err := c.converge(context.Background(), app, stderr, false, func(status string, _ *runtimeView) bool {
		return status == "Created" || status == "Removed"
	}); err != nil {
		return fail(stderr, "undeploy", err)
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
		fs.Usage()
		return 2
	}
	q.RepoPassword = os.Getenv("STRATA_REPO_PASSWORD")
	body, _ := json.Marshal(q)
	var m struct{ Message string }
	if err := c.call(context.Background(), http.MethodPost, "/subscriptions", body, &m); err != nil {
		return fail(stderr, "subscribe", err)
	}
	printResult(c, stdout, m.Message)
	var sub struct {
		ApplicationID string `json:"applicationId"`
	}
	if err := c.call(context.Background(), http.MethodGet, "/subscriptions/"+url.PathEscape(q.Alias), nil, &sub); err != nil {
		return fail(stderr, "subscribe", err)
	}
	if err := c.converge(context.Background(), sub.ApplicationID, stderr, true, deployed); err != nil {
		return fail(stderr, "subscribe", err)
	}
	return 0
}
