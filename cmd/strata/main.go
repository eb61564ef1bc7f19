// Command strata is the one Strata binary: `strata up` runs the whole platform in one process,
// other subcommands run one component or talk to a running platform.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/strata-paas/strata/agent/bootstrap"
	"github.com/strata-paas/strata/internal/buildinfo"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise it comes from the
// module's build information.
var version = ""

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// command is one subcommand.
type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"up", "run the whole platform in one process (broker, REST API, CEP, controller, LB, autoscaler, history)", runUp},
		{"agent", "run the cartridge agent of one member (--conf agent.conf --payload launch-params)", runAgent},
		{"init", "a member's bootstrapper: install its cartridge's module from the platform, then run the agent (--dir DIR [--configured])", bootstrap.Main},
		{"lb", "run the load balancer: proxy ports follow the topology, in-flight counts go to the CEP", runLB},
		{"cep", "run the CEP alone: Thrift receiver, windows and fault detection, against --broker", runCEP},
		{"demo-server", "the demo cartridge's server: burns CPU on every request (--listen ADDR --burn 20ms)", runDemoServer},
		{"explain", "print a cluster's last autoscaling decisions with their reasons", runExplain},
		{"policy", "check policy files (check DIR), run their fixtures and Rego tests (test DIR), replay one over history (replay)", runPolicy},
		{"version", "print the version: module version, commit and its time (--output json|yaml)", runVersion},
		{"completion", "print a shell completion script: strata completion bash|zsh", runCompletion},
		{"deploy", "add definitions from files: deploy KIND FILE..., e.g. deploy autoscaling-policies p.json (client)", runDeploy},
		{"deploy-app", "deploy an application and show progress until it is active (client)", runDeployApp},
		{"undeploy", "undeploy an application and show progress until it is down (client)", runUndeploy},
		{"subscribe", "subscribe to a cartridge and show progress until it is active (client)", runSubscribe},
		{"list", "list a kind: cartridges, autoscaling-policies, applications, subscriptions, tenants, users... (client)", runList},
		{"runtime", "show an application's instances, clusters and members (client)", runRuntime},
	}
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "strata: unknown command %q (see strata help)\n", args[0])
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: strata <command> [arguments and flags, in any order]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
}

// versionString is the version for logs: the module version and the commit.
func versionString() string { return buildinfo.Current(version).Short() }

// runVersion is `strata version [--output json|yaml]`.
func runVersion(args []string, stdout, stderr io.Writer) int {
	c := &clientConfig{name: "version"}
	fs := flag.NewFlagSet("strata version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.output, "output", "table", "output format: table, json or yaml")
	if err := parseFlags(fs, args); err != nil {
		return 2
	}
	v := buildinfo.Current(version)
	switch c.output {
	case "table":
		fmt.Fprintf(stdout, "strata %s\n", v)
	case "json", "yaml":
		if err := c.emit(stdout, v); err != nil {
			return c.fail(stderr, err)
		}
	default:
		fmt.Fprintf(stderr, "strata version: --output %q: want table, json or yaml\n", c.output)
		return 2
	}
	return 0
}

// newLogger builds the process's slog handler from the --log-format and --log-level flags.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	o := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
