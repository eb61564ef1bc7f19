package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/errgroup"

	"github.com/strata-paas/strata/internal/app"
	"github.com/strata-paas/strata/internal/demo"
	"github.com/strata-paas/strata/internal/testenv"
)

// startUp runs `strata up` in this test process: args (beginning with "up") are parsed by the
// flags runUp parses, the secrets come from env as the binary reads them from its environment,
// and the platform is the app.App those options build, logging as runUp logs to the process's
// output. The local driver's members run the strata binary TestMain built. The platform stops at
// the end of the test; signal (SIGTERM, SIGINT, SIGHUP) does what runUp does on a signal.
//
// Tests of what only the binary does (signals reaching the process, exit codes, the demo as users
// start it, the documented commands) use start instead. Like up, startUp runs the demo with
// --demo; the demo's end (--demo-exit) ends the platform, as the binary exits.
func startUp(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	if len(args) == 0 || args[0] != "up" {
		t.Fatalf("startUp %q: the arguments of strata up begin with up", args)
	}
	p := &proc{out: &testenv.Buffer{}, done: make(chan error, 1), reload: make(chan struct{}, 1)}
	var cfg upConfig
	fs := flag.NewFlagSet("strata up", flag.ContinueOnError)
	fs.SetOutput(p.out)
	cfg.flags(fs)
	if err := parseFlags(fs, args[1:]); err != nil || fs.NArg() > 0 {
		t.Fatalf("strata %s: %v %q\n%s", strings.Join(args, " "), err, fs.Args(), p.out.String())
	}
	if cfg.demo.enabled {
		if err := applyDemoTimings(fs); err != nil {
			t.Fatal(err)
		}
	}
	log, err := newLogger(p.out, cfg.logFormat, cfg.logLevel)
	if err != nil {
		t.Fatal(err)
	}
	opts := cfg.options(log, p.out, p.reload)
	getenv := func(key string) string {
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, key+"="); ok {
				return v
			}
		}
		return ""
	}
	opts.AdminPassword = getenv("STRATA_ADMIN_PASSWORD")
	opts.BrokerUsername, opts.BrokerPassword = getenv("STRATA_BROKER_USERNAME"), getenv("STRATA_BROKER_PASSWORD")
	opts.LocalExecutable = strataBin
	// Under -race one bcrypt hash at the default cost takes seconds, and every member started
	// hashes its agent account's password: the tests' passwords are not what they check.
	opts.PasswordCost = bcrypt.MinCost
	a, err := app.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	// As up runs them: the platform, and the demo on it with --demo.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.Run(gctx) })
	if cfg.demo.enabled {
		g.Go(func() error {
			select {
			case <-a.Ready():
			case <-gctx.Done():
				return nil
			}
			o, err := cfg.demo.options(a, cfg.cep.window, cfg.lbHost, p.out, log)
			if err != nil {
				return err
			}
			return demo.Run(gctx, o)
		})
	}
	go func() {
		err := g.Wait()
		if errors.Is(err, demo.ErrDone) {
			err = nil
		}
		if err != nil {
			fmt.Fprintf(p.out, "strata: %v\n", err)
		}
		p.done <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-p.done:
			p.done <- err
		case <-time.After(30 * time.Second):
			t.Errorf("strata up in process did not stop within 30 s of its context ending")
			_, stacks := splitGoroutineDump("SIGQUIT: quit\n" + allStacks())
			t.Logf("the test process's strata goroutines:\n%s", stacks)
		}
		if t.Failed() {
			t.Logf("strata output:\n%s", p.out.String())
		}
	})
	return p
}

// allStacks is every goroutine's stack, as a SIGQUIT prints them.
func allStacks() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

// signal sends sig to strata; in process it does what runUp does on the signal: SIGTERM and
// SIGINT end the platform's context, SIGHUP reloads the policy directory.
func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if p.cmd != nil {
		if err := p.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		return
	}
	switch sig {
	case syscall.SIGTERM, syscall.SIGINT:
		p.stop()
	case syscall.SIGHUP:
		select {
		case p.reload <- struct{}{}:
		default:
		}
	default:
		t.Fatalf("signal %v: strata up does not handle it", sig)
	}
}
