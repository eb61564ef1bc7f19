package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/strata-paas/strata/autoscaler"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/manager/client"
)

// runExplain is `strata explain CLUSTER`: the autoscaler's last decisions for a cluster, each
// with its trace (inputs, predictions, every rule's verdict, the limiting constraint). No
// decision (an unknown cluster, or none in the time range) exits 1.
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
		return c.usage(stderr, fs, nil)
	}
	q := url.Values{"cluster": {fs.Arg(0)}, "from": {since}, "limit": {strconv.Itoa(n)}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ds []model.Decision
	if err := c.Call(ctx, "GET", "/history/decisions?"+q.Encode(), nil, &ds); err != nil {
		return c.fail(stderr, err)
	}
	if len(ds) == 0 {
		return c.fail(stderr, c.noDecisions(ctx, fs.Arg(0), since))
	}
	// The API answers newest first; people read a history oldest first.
	slices.Reverse(ds)
	if c.output != "table" {
		if err := c.emit(stdout, ds); err != nil {
			return c.fail(stderr, err)
		}
		return 0
	}
	for i, d := range ds {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if err := autoscaler.RenderTrace(stdout, d); err != nil {
			return c.fail(stderr, err)
		}
	}
	return 0
}

// noDecisions says why there is no decision: the cluster does not exist, or it made none since.
func (c *clientConfig) noDecisions(ctx context.Context, cluster, since string) error {
	err := c.Call(ctx, "GET", "/cluster/"+url.PathEscape(cluster), nil, nil)
	var ae *client.APIError
	if errors.As(err, &ae) && ae.Code == http.StatusNotFound {
		return fmt.Errorf("no cluster %s (strata list subscriptions and strata runtime APPLICATION show the cluster ids)", cluster)
	}
	return fmt.Errorf("no decisions for cluster %s since %s", cluster, since)
}
