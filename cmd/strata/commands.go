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

	"github.com/strata-paas/strata/manager/client"
)

// runDeploy is `strata deploy KIND FILE...`: add (or with --update replace) definitions from
// files, e.g. the Stratos samples as they are.
func runDeploy(args []string, stdout, stderr io.Writer) int {
	var update bool
	c, fs, ok := parseClient("deploy", "[flags] KIND FILE...   (KIND: "+client.KindNames()+")", args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&update, "update", false, "replace an existing definition (PUT) instead of adding one")
	})
	if !ok {
		return 2
	}
	if fs.NArg() < 2 {
		return c.usage(stderr, fs, nil)
	}
	k, ok := client.LookupKind(fs.Arg(0))
	if !ok {
		return c.usage(stderr, fs, fmt.Errorf("unknown kind %q (want %s)", fs.Arg(0), client.KindNames()))
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
		if err := c.Call(context.Background(), method, k.Path, body, &m); err != nil {
			return c.fail(stderr, fmt.Errorf("%s: %w", file, err))
		}
		printResult(c, stdout, m.Message)
	}
	return 0
}

// runList is `strata list KIND [NAME...]`: a table of the definitions, applications or
// subscriptions, or of the named ones only; naming one that does not exist exits 1.
func runList(args []string, stdout, stderr io.Writer) int {
	c, fs, ok := parseClient("list", "[flags] KIND [NAME...]   (KIND: "+client.KindNames()+")", args, stderr, nil)
	if !ok {
		return 2
	}
	if fs.NArg() < 1 {
		return c.usage(stderr, fs, nil)
	}
	k, ok := client.LookupKind(fs.Arg(0))
	if !ok {
		return c.usage(stderr, fs, fmt.Errorf("unknown kind %q (want %s)", fs.Arg(0), client.KindNames()))
	}
	var items []map[string]any
	err := c.Call(context.Background(), http.MethodGet, k.Path, nil, &items)
	var ae *client.APIError
	if errors.As(err, &ae) && ae.Code == http.StatusNotFound {
		items, err = nil, nil // Stratos answers 404 for an empty collection
	}
	if err != nil {
		return c.fail(stderr, err)
	}
	var missing []string
	if names := fs.Args()[1:]; len(names) > 0 {
		var found []map[string]any
		for _, n := range names {
			i := slices.IndexFunc(items, func(it map[string]any) bool { return fmt.Sprint(it[k.ID]) == n })
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
		_ = client.WriteTable(stdout, k, items)
	}
	if len(missing) > 0 {
		return c.fail(stderr, fmt.Errorf("no %s named %s", k.Name, strings.Join(missing, ", ")))
	}
	return 0
}

// runRuntime is `strata runtime APP`: the application's cluster instances with their members'
// count per state, or with --members every member (client.Client.RuntimeView).
func runRuntime(args []string, stdout, stderr io.Writer) int {
	var members bool
	c, fs, ok := parseClient("runtime", "[flags] APPLICATION", args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&members, "members", false, "list every member, read page by page (default: the counts per state)")
	})
	if !ok {
		return 2
	}
	if fs.NArg() != 1 {
		return c.usage(stderr, fs, nil)
	}
	raw, err := c.RuntimeView(context.Background(), fs.Arg(0), members, 0)
	if err != nil {
		return c.fail(stderr, err)
	}
	if c.output != "table" {
		if err := c.emit(stdout, raw); err != nil {
			return c.fail(stderr, err)
		}
		return 0
	}
	var rv client.Runtime
	if err := json.Unmarshal(raw, &rv); err != nil {
		return c.fail(stderr, err)
	}
	if members {
		_ = rv.WriteTable(stdout)
	} else {
		_ = rv.WriteCounts(stdout)
	}
	return 0
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
	if err := c.Call(context.Background(), http.MethodPost, "/applications/"+url.PathEscape(app)+"/deploy/"+url.PathEscape(fs.Arg(1)), nil, &m); err != nil {
		return c.fail(stderr, err)
	}
	printResult(c, stdout, m.Message)
	if err := c.converge(app, stderr, true, client.Deployed); err != nil {
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
	if err := c.Call(context.Background(), http.MethodPost, "/applications/"+url.PathEscape(app)+"/undeploy?force="+fmt.Sprint(force), nil, &m); err != nil {
		return c.fail(stderr, err)
	}
	printResult(c, stdout, m.Message)
	if err := c.converge(app, stderr, false, func(status string, _ *client.Runtime) bool {
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
	var q client.Subscription
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
	if err := c.Call(context.Background(), http.MethodPost, "/subscriptions", body, &m); err != nil {
		return c.fail(stderr, err)
	}
	printResult(c, stdout, m.Message)
	var sub struct {
		ApplicationID string `json:"applicationId"`
	}
	if err := c.Call(context.Background(), http.MethodGet, "/subscriptions/"+url.PathEscape(q.Alias), nil, &sub); err != nil {
		return c.fail(stderr, err)
	}
	if err := c.converge(sub.ApplicationID, stderr, true, client.Deployed); err != nil {
		return c.fail(stderr, err)
	}
	return 0
}

// converge waits for the platform to converge as --timeout says (client.Client.Converge).
func (c *clientConfig) converge(app string, progress io.Writer, failOnStart bool, done func(string, *client.Runtime) bool) error {
	return c.Converge(context.Background(), app, client.Converge{Timeout: c.timeout, Poll: c.poll,
		FailOnStart: failOnStart, Done: done, Progress: progress})
}
