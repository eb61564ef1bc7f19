package bootstrap

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/strata-paas/strata/internal/model"
)

// Main is `strata init`: it parses args, runs Run and replaces the process with the agent. It
// returns an exit code only when it does not hand over: 2 for bad arguments, 1 for a failed
// install, whose reason is the last line written to stderr.
func Main(args []string, _ io.Writer, stderr io.Writer) int {
	fs := flag.NewFlagSet("strata init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conf := fs.String("conf", os.Getenv(model.EnvAgentConf), "agent.conf (INI, section [agent]); default $"+model.EnvAgentConf)
	payload := fs.String("payload", envOr(model.EnvLaunchParams, "payload/launch-params"), "launch-params payload file; default $"+model.EnvLaunchParams)
	dir := fs.String("dir", "module", "install directory: VERSION, module/, install.log and the module's agent")
	configured := fs.Bool("configured", false, "fully configured cartridge: install only a version other than the installed one")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "strata init: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	h, err := Run(ctx, Options{Conf: *conf, Payload: *payload, Dir: *dir, Configured: *configured, Executable: exe,
		Output: stderr, Logger: slog.New(slog.NewTextHandler(stderr, nil))})
	stop()
	if err != nil {
		fmt.Fprintf(stderr, "strata init: %v\n", err)
		return 1
	}
	// The agent takes this process over: same pid, same process group, same output.
	err = syscall.Exec(h.Path, h.Args, h.Env)
	fmt.Fprintf(stderr, "strata init: hand over to %s: %v\n", h.Path, err)
	return 1
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
