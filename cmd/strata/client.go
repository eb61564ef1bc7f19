package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/strata-paas/strata/manager/client"
)

// Client commands: they talk to a running manager's REST API (/api). Credentials come from
// --user and STRATA_PASSWORD (HTTP Basic, "user" or "user@tenant.domain"), or STRATA_TOKEN (an
// API token); the address from --url or STRATA_URL.

// clientConfig holds the flags every client command shares and the client they configure.
type clientConfig struct {
	client.Client
	name    string // the command, for messages
	output  string
	timeout time.Duration
	poll    time.Duration
}

// waiting names the client commands that wait for the platform to converge: only they have
// --timeout.
var waiting = map[string]bool{"deploy-app": true, "undeploy": true, "subscribe": true}

func (c *clientConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "url", envOr("STRATA_URL", "http://127.0.0.1:9763"), "manager URL (STRATA_URL)")
	fs.StringVar(&c.User, "user", envOr("STRATA_USER", "admin"), "user name, user@tenant.domain for a tenant (STRATA_USER); the password comes from STRATA_PASSWORD, or use STRATA_TOKEN")
	fs.StringVar(&c.output, "output", "table", "output format: table, json or yaml")
	if waiting[c.name] {
		fs.DurationVar(&c.timeout, "timeout", 10*time.Minute, "how long to wait for the platform to converge (0: do not wait)")
	}
	c.poll = 2 * time.Second
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// parseFlags parses args with flags anywhere: before, between and after the positional
// arguments (everything after "--" is positional). It leaves the positional arguments in
// fs.Args, as fs.Parse does.
func parseFlags(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

// outputFlag finds --output's value in args before they are parsed, so that a flag error is
// reported in the format asked for.
func outputFlag(args []string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "output" {
			continue
		}
		if hasValue {
			return value
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return "table"
}

// parseClient parses a client command's flags (anywhere in args) and checks --output. ok false:
// the usage or the error has been printed and the command exits 2.
func parseClient(name, usage string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (*clientConfig, *flag.FlagSet, bool) {
	c := &clientConfig{name: name}
	fs := flag.NewFlagSet("strata "+name, flag.ContinueOnError)
	textUsage := func() {
		fmt.Fprintf(stderr, "usage: strata %s %s\n", name, usage)
		fs.PrintDefaults()
	}
	c.flags(fs)
	if extra != nil {
		extra(fs)
	}
	c.output = outputFlag(args)
	structured := c.output == "json" || c.output == "yaml"
	if structured {
		// The flag package would print its error and the usage as text: one error object instead.
		fs.SetOutput(io.Discard)
		fs.Usage = func() {}
	} else {
		fs.SetOutput(stderr)
		fs.Usage = textUsage
	}
	if err := parseFlags(fs, args); err != nil {
		switch {
		case errors.Is(err, flag.ErrHelp) && structured:
			fs.SetOutput(stderr)
			textUsage()
		case structured:
			c.printError(stderr, err, 0)
		}
		return nil, nil, false
	}
	c.Password, c.Token = os.Getenv("STRATA_PASSWORD"), os.Getenv("STRATA_TOKEN")
	fs.SetOutput(stderr)
	fs.Usage = func() {
		if c.output == "table" {
			textUsage()
			return
		}
		c.printError(stderr, fmt.Errorf("usage: strata %s %s", name, usage), 0)
	}
	switch c.output {
	case "table", "json", "yaml":
	default:
		out := c.output
		c.output = "table"
		fmt.Fprintf(stderr, "strata %s: --output %q: want table, json or yaml\n", name, out)
		return nil, nil, false
	}
	return c, fs, true
}

// fail prints err in the output format (an object {"status":"error","message":…} under json and
// yaml, with the HTTP status as "code" for an API error) and returns the exit status, 1. A 401
// says where the admin password is.
func (c *clientConfig) fail(stderr io.Writer, err error) int {
	code := 0
	var ae *client.APIError
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		err = fmt.Errorf("%w (is strata up running there? the address comes from --url or STRATA_URL)", err)
	}
	if errors.As(err, &ae) {
		code = ae.Code
		if ae.Code == http.StatusUnauthorized {
			err = fmt.Errorf("%w (%s)", err, credentialsHint())
		}
	}
	c.printError(stderr, err, code)
	return 1
}

// usage reports a wrong command line in the output format and returns the exit status, 2.
func (c *clientConfig) usage(stderr io.Writer, fs *flag.FlagSet, err error) int {
	if err != nil {
		if c.output == "table" {
			fmt.Fprintf(stderr, "strata %s: %v\n", c.name, err)
		} else {
			c.printError(stderr, err, 0)
		}
		return 2
	}
	fs.Usage()
	return 2
}

func (c *clientConfig) printError(w io.Writer, err error, code int) {
	if c.output == "table" {
		fmt.Fprintf(w, "strata %s: %v\n", c.name, err)
		return
	}
	v := struct {
		Status  string `json:"status"`
		Message string `json:"message"`
		Code    int    `json:"code,omitempty"`
	}{"error", fmt.Sprintf("strata %s: %v", c.name, err), code}
	if e := c.emit(w, v); e != nil {
		fmt.Fprintf(w, "strata %s: %v\n", c.name, err)
	}
}

// credentialsHint says where the credentials come from, for a 401.
func credentialsHint() string {
	h := "the client sends --user (STRATA_USER) with the password in STRATA_PASSWORD, or the token in STRATA_TOKEN"
	if os.Getenv("STRATA_PASSWORD") == "" && os.Getenv("STRATA_TOKEN") == "" {
		h = "STRATA_PASSWORD is not set; " + h
	}
	return h + "; the admin's password is the STRATA_ADMIN_PASSWORD strata up first started with, or the generated one in <data-dir>/admin-password (default strata-data/admin-password)"
}

// emit writes v in the output format; table falls back to JSON for values without a table.
func (c *clientConfig) emit(w io.Writer, v any) error { return client.Encode(w, c.output, v) }

func printResult(c *clientConfig, stdout io.Writer, msg string) {
	if c.output != "table" {
		_ = c.emit(stdout, map[string]string{"status": "success", "message": msg})
		return
	}
	fmt.Fprintln(stdout, msg)
}
