package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/strata-paas/strata/autoscaler"
	"github.com/strata-paas/strata/policies"
)

// scalingConfig is what the autoscaler's flags say.
type scalingConfig struct {
	policiesDir     string
	monitorInterval time.Duration
}

func (c *scalingConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.policiesDir, "policies", "", "directory of policy files (YAML, Stratos JSON, .rego), reloaded on change and on SIGHUP: the source of truth for network partitions and autoscaling, deployment and application policies, which the REST API then only reads (writes answer 409); a reload that would orphan a deployed application is refused (default: policies come only through the API)")
	fs.DurationVar(&c.monitorInterval, "monitor-interval", autoscaler.DefaultMonitorInterval, "the autoscaler's periodic evaluation (it also decides as soon as fresh summaries arrive)")
}

// runPolicy is `strata policy check|test DIR` and `strata policy replay`.
func runPolicy(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "replay" {
		return runReplay(args[1:], stdout, stderr)
	}
	if len(args) < 2 || (args[0] != "check" && args[0] != "test") {
		fmt.Fprintln(stderr, "usage: strata policy check DIR   validate every policy file, printing every problem as file:line:col")
		fmt.Fprintln(stderr, "       strata policy test DIR    run the fixtures (*_test.yaml) and the Rego tests (test_* rules)")
		fmt.Fprintln(stderr, "       strata policy replay ...  run a policy over recorded history (strata policy replay -h)")
		return 2
	}
	ctx := context.Background()
	dir := args[1]
	if args[0] == "check" {
		if err := policies.CheckDir(ctx, dir); err != nil {
			policies.WriteErrors(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: ok\n", dir)
		return 0
	}
	set, err := policies.LoadDir(dir)
	if err != nil {
		policies.WriteErrors(stderr, err)
		return 1
	}
	fixtures, err := policies.LoadFixtures(dir, set)
	if err != nil {
		policies.WriteErrors(stderr, err)
		return 1
	}
	reports, err := autoscaler.RunFixtures(ctx, set, fixtures)
	if err != nil {
		fmt.Fprintf(stderr, "strata policy test: %v\n", err)
		return 1
	}
	failed := autoscaler.WriteReports(stdout, reports)
	results, err := policies.TestRego(ctx, dir)
	if err != nil {
		policies.WriteErrors(stderr, err)
		return 1
	}
	failed += policies.WriteRegoResults(stdout, results)
	fmt.Fprintf(stdout, "%d fixtures, %d rego tests, %d failed\n", len(reports), len(results), failed)
	if failed > 0 {
		return 1
	}
	return 0
}
