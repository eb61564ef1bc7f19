package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/strata-paas/strata/autoscaler"
	"github.com/strata-paas/strata/history"
	"github.com/strata-paas/strata/manager/client"
	"github.com/strata-paas/strata/policies"
)

const replayUsage = `usage: strata policy replay POLICY --cluster ID --policies DIR (--clickhouse DSN | --api URL) [--from T] [--to T] [flags]

Runs the autoscaling policy POLICY over the cluster's recorded summaries and member lifecycle
and prints what it would have decided beside what the live autoscaler decided. POLICY is the id
of an autoscaling policy in --policies, or a YAML file holding the candidate policy (it joins
the set from --policies, replacing a policy of the same id). T is RFC 3339, "now", or a
duration relative to now such as -1h. The history comes from ClickHouse (--clickhouse) or from
a running strata's /api/history (--api, with --user and STRATA_PASSWORD or --password).
`

// runReplay is `strata policy replay`; args are the arguments after "replay".
func runReplay(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("strata policy replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, replayUsage)
		fs.PrintDefaults()
	}
	var (
		cluster    = fs.String("cluster", "", "cluster id (required)")
		instance   = fs.String("instance", "", "cluster instance id (default: the one the recorded decisions name)")
		from       = fs.String("from", "-1h", "start of the replay: RFC 3339, now, or a duration before now (-1h)")
		to         = fs.String("to", "now", "end of the replay (exclusive), as --from")
		dir        = fs.String("policies", "", "policy directory the cluster's deployment policy (and governance) come from (required)")
		dsn        = fs.String("clickhouse", os.Getenv("STRATA_CLICKHOUSE"), "ClickHouse holding the history, clickhouse://[user[:password]@]host:9000/db (env STRATA_CLICKHOUSE)")
		apiURL     = fs.String("api", "", "a running strata's REST API, e.g. http://127.0.0.1:9763, to read /api/history from")
		user       = fs.String("user", "admin", "--api: user name")
		password   = fs.String("password", os.Getenv("STRATA_PASSWORD"), "--api: password (env STRATA_PASSWORD)")
		output     = fs.String("output", "text", "text or json")
		all        = fs.Bool("all", false, "text: list every evaluation, not only those that acted or differ")
		interval   = fs.Duration("monitor-interval", autoscaler.DefaultMonitorInterval, "the live autoscaler's --monitor-interval")
		claim      = fs.Duration("claim-window", autoscaler.DefaultClaimWindow, "a member created this soon after a replayed start is taken as its answer")
		tolerance  = fs.Duration("match-tolerance", autoscaler.DefaultMatchTolerance, "recorded and replayed decisions this close share a timeline row")
		policyArgs []string
	)
	// POLICY may come before or after the flags.
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		policyArgs, args = args[:1], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	policyArgs = append(policyArgs, fs.Args()...)
	var problems []string
	if len(policyArgs) != 1 {
		problems = append(problems, "want exactly one POLICY")
	}
	if *cluster == "" {
		problems = append(problems, "--cluster is required")
	}
	if *dir == "" {
		problems = append(problems, "--policies is required")
	}
	switch {
	case *dsn == "" && *apiURL == "":
		problems = append(problems, "--clickhouse or --api is required")
	case *dsn != "" && *apiURL != "":
		problems = append(problems, "--clickhouse and --api: give one")
	}
	if *output != "text" && *output != "json" {
		problems = append(problems, fmt.Sprintf("--output %q: want text or json", *output))
	}
	now := time.Now()
	fromT, err := parseReplayTime(*from, now)
	if err != nil {
		problems = append(problems, "--from: "+err.Error())
	}
	toT, err := parseReplayTime(*to, now)
	if err != nil {
		problems = append(problems, "--to: "+err.Error())
	}
	if len(problems) == 0 && !fromT.Before(toT) {
		problems = append(problems, fmt.Sprintf("--from %s is not before --to %s", fromT.Format(time.RFC3339), toT.Format(time.RFC3339)))
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(stderr, "strata policy replay: %s\n", p)
		}
		fs.Usage()
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	set, policyID, err := policies.LoadCandidate(ctx, *dir, policyArgs[0])
	if err != nil {
		policies.WriteErrors(stderr, err)
		return 1
	}
	o := autoscaler.ReplayOptions{Policies: set, Policy: policyID,
		Cluster: autoscaler.ClusterSpec{ClusterID: *cluster, InstanceID: *instance}, From: fromT, To: toT,
		MonitorInterval: *interval, ClaimWindow: *claim, MatchTolerance: *tolerance}
	var res *autoscaler.ReplayResult
	if *apiURL != "" {
		res, err = autoscaler.ReplayFrom(ctx, &client.Client{URL: *apiURL, User: *user, Password: *password}, o)
	} else {
		res, err = replayFromClickHouse(ctx, *dsn, o)
	}
	if err != nil {
		fmt.Fprintf(stderr, "strata policy replay: %v\n", err)
		return 1
	}
	if *output == "json" {
		if err := res.WriteJSON(stdout); err != nil {
			fmt.Fprintf(stderr, "strata policy replay: %v\n", err)
			return 1
		}
		return 0
	}
	if err := res.WriteText(stdout, *all); err != nil {
		fmt.Fprintf(stderr, "strata policy replay: %v\n", err)
		return 1
	}
	return 0
}

// parseReplayTime reads RFC 3339, "now" or a duration relative to now.
func parseReplayTime(s string, now time.Time) (time.Time, error) {
	if s == "" || s == "now" {
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339, now, nor a duration like -1h", s)
	}
	return now.Add(d), nil
}

// replayFromClickHouse reads the cluster's history from ClickHouse and replays it.
func replayFromClickHouse(ctx context.Context, dsn string, o autoscaler.ReplayOptions) (*autoscaler.ReplayResult, error) {
	// The store only reads here; its spool directory stays empty and is removed.
	tmp, err := os.MkdirTemp("", "strata-replay-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	ch, err := history.NewClickHouse(ctx, history.Options{DSN: dsn, DataDir: tmp})
	if err != nil {
		return nil, fmt.Errorf("open history: %w", err)
	}
	defer ch.Close()
	return autoscaler.ReplayFrom(ctx, ch, o)
}
