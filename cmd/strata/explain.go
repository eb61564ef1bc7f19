package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/strata-paas/strata/autoscaler"
	"github.com/strata-paas/strata/internal/model"
)

// runExplain is `strata explain CLUSTER`: the autoscaler's last decisions for a cluster, each
// with its trace (inputs, predictions, every rule's verdict, the limiting constraint).
func runExplain(args []string, stdout, stderr io.Writer) int {
	var (
		n     int
		since string
	)
	c, fs, ok := parseClient("explain", "[flags] CLUSTER", args, stderr, func(fs *flag.FlagSet) {
		fs.IntVar(&n, "n", 5, "how many decisions, newest last")
		fs.StringVar(&since, "since", "-1h", "from when: RFC 3339 or a negative duration such as -30m")
	})
	if !ok {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	q := url.Values{"cluster": {fs.Arg(0)}, "from": {since}, "limit": {strconv.Itoa(n)}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ds []model.Decision
	if err := c.call(ctx, "GET", "/history/decisions?"+q.Encode(), nil, &ds); err != nil {
		return fail(stderr, "explain", err)
	}
	// The API answers newest first; people read a history oldest first.
	slices.Reverse(ds)
	if c.output == "json" {
		if err := json.NewEncoder(stdout).Encode(ds); err != nil {
			return fail(stderr, "explain", err)
		}
		return 0
	}
	if len(ds) == 0 {
		fmt.Fprintf(stdout, "no decisions for cluster %s since %s\n", fs.Arg(0), since)
		return 0
	}
	for i, d := range ds {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if err := autoscaler.RenderTrace(stdout, d); err != nil {
			return fail(stderr, "explain", err)
		}
	}
	return 0
}
