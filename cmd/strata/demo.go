package main

// `strata up --demo` and `strata demo-server`: the flags. The demo itself (plan, deployment,
// load generator, printer) and the demo cartridge's server are package internal/demo.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/strata-paas/strata/internal/app"
	"github.com/strata-paas/strata/internal/demo"
	"github.com/strata-paas/strata/internal/model"
)

// demoConfig is what the --demo flags say.
type demoConfig struct {
	enabled   bool
	exit      bool
	dir       string
	waves     string // durations of the low, high and low waves
	workers   string // concurrent requests in the low and high waves
	proxyPort int    // 0: the cartridge's
	port      int    // 0: the cartridge's
}

func (c *demoConfig) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.enabled, "demo", false, "deploy the demo cartridge on the local driver, apply examples/demo policies, drive load in waves and show the autoscaler at work (short CEP window, health and monitor intervals)")
	fs.BoolVar(&c.exit, "demo-exit", false, "with --demo: stop the platform once the demo is over (default: keep running until Ctrl-C)")
	fs.StringVar(&c.dir, "demo-dir", filepath.Join("examples", "demo"), "with --demo: the directory holding cartridge.json and policies/")
	fs.StringVar(&c.waves, "demo-waves", "30s,60s,60s", "with --demo: durations of the low, high and low load waves")
	fs.StringVar(&c.workers, "demo-workers", "2,12", "with --demo: concurrent requests in the low and the high waves")
	fs.IntVar(&c.proxyPort, "demo-proxy-port", 0, "with --demo: the load balancer's port for the demo cartridge (0: the cartridge's proxyPort)")
	fs.IntVar(&c.port, "demo-port", 0, "with --demo: the members' port (0: the cartridge's port)")
}

// Timings --demo gives the flags the user did not set: summaries every 10 s instead of every
// minute, a monitor tick every 5 s, silent members faulty after 30 s, and a member asked to clean
// up terminated after 30 s even if its agent never answers (30 min otherwise).
var demoTimings = map[string]string{
	"cep-window":       "10s",
	"fault-timeout":    "30s",
	"fault-grace":      "30s",
	"monitor-interval": "5s",
	"graceful-timeout": "30s",
	"log-level":        "warn", // the demo's own lines are the show; warnings and errors still appear
}

// applyDemoTimings sets demoTimings on the flags of fs that the command line did not set.
func applyDemoTimings(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, v := range demoTimings {
		if set[name] || fs.Lookup(name) == nil {
			continue
		}
		if err := fs.Set(name, v); err != nil {
			return fmt.Errorf("--demo: --%s %s: %w", name, v, err)
		}
	}
	return nil
}

// lbStatsInterval is the load balancer's in-flight publishing interval: with --demo the demo's
// sample interval, otherwise the default.
func (c *upConfig) lbStatsInterval() time.Duration {
	if !c.demo.enabled {
		return 0
	}
	return demo.SampleInterval(c.cep.window)
}

// options are demo.Options of the flags of c, on the running platform a, printing to out.
func (c demoConfig) options(a *app.App, window time.Duration, lbHost string, out io.Writer, log *slog.Logger) (demo.Options, error) {
	waves, err := demo.ParseWaves(c.waves, c.workers)
	if err != nil {
		return demo.Options{}, err
	}
	exe, err := os.Executable()
	if err != nil {
		return demo.Options{}, fmt.Errorf("demo: %w", err)
	}
	return demo.Options{Dir: c.dir, Waves: waves, ProxyPort: c.proxyPort, Port: c.port, Exit: c.exit,
		Window: window, LBHost: lbHost, Executable: exe, Controller: a.Controller(), Driver: a.Local(),
		Scaler: a.Autoscaler(), Policies: a.Policies(), Subscribe: a.CEP().Subscribe, Out: out, Logger: log}, nil
}

// runDemoServer is `strata demo-server`: the demo cartridge's server (demo.Serve).
func runDemoServer(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("strata demo-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve on (the local driver gives each member its own: $STRATA_MEMBER_IP)")
	burn := fs.Duration("burn", 20*time.Millisecond, "CPU time burnt per request")
	wait := fs.Duration("wait", 0, "time waited per request after burning, as for a backend call")
	member := fs.String("member", os.Getenv(model.PayloadMemberID), "the member id shown on the page (default: $MEMBER_ID from the payload)")
	root := fs.String("root", "", "serve the files under this directory instead of the demo page, as a php-style cartridge serves its checked-out artifacts (e.g. \"$APPLICATION_PATH\"); dot files are not served")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *member == "" {
		*member, _ = os.Hostname()
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "strata demo-server: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = demo.Serve(ctx, demo.ServerOptions{Listener: ln, Burn: *burn, Wait: *wait, Member: *member, Root: *root, Out: stdout})
	if err != nil {
		fmt.Fprintf(stderr, "strata demo-server: %v\n", err)
		return 1
	}
	return 0
}
