package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

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
	return status == "Active" && cl > 0 && ac == cl && am > 0 && am == m
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
