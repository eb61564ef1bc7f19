// Command strata is the one Strata binary: `strata up` runs the whole platform in one process,
// other subcommands run one component or talk to a running platform.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
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
		{"lb", "run the load balancer: proxy ports follow the topology, in-flight counts go to the CEP", runLB},
		{"cep", "run the CEP alone: Thrift receiver, windows and fault detection, against --broker", runCEP},
		{"demo-server", "the demo cartridge's server: burns CPU on every request (--listen ADDR --burn 20ms)", runDemoServer},
		{"explain", "print a cluster's last autoscaling decisions with their reasons", runExplain},
		{"policy", "check policy files (check DIR), run their fixtures and Rego tests (test DIR), replay one over history (replay)", runPolicy},
		{"version", "print the version", runVersion},
		{"deploy", "add definitions from files: cartridges, policies, groups, applications (client)", runDeploy},
		{"deploy-app", "deploy an application and show progress until it is active (client)", runDeployApp},
		{"undeploy", "undeploy an application and show progress until it is down (client)", runUndeploy},
		{"subscribe", "subscribe to a cartridge and show progress until it is active (client)", runSubscribe},
		{"list", "list cartridges, policies, applications, subscriptions, tenants or users (client)", runList},
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
	fmt.Fprintln(w, "usage: strata <command> [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", ""
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
		if rev != "" {
			return bi.Main.Version + " " + rev + dirty
		}
		return bi.Main.Version
	}
	return "unknown"
}

func runVersion(_ []string, stdout, _ io.Writer) int {
	fmt.Fprintf(stdout, "strata %s\n", versionString())
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
