package agent

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"
)

// waitPorts waits until every port accepts a TCP connection on addr (STRATOS-WIRE.md §7.6): each
// round dials the ports not yet seen open (5 s connect timeout), drops those that answer, and
// waits interval before the next round. It returns an error when timeout passes first or ctx ends.
func waitPorts(ctx context.Context, addr string, ports []int, timeout, interval time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pending := append([]int(nil), ports...)
	var d net.Dialer
	for {
		left := pending[:0]
		for _, p := range pending {
			dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
			c, err := d.DialContext(dctx, "tcp", net.JoinHostPort(addr, strconv.Itoa(p)))
			dcancel()
			if err != nil {
				left = append(left, p)
				continue
			}
			c.Close()
		}
		pending = left
		if len(pending) == 0 {
			return nil
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("ports %v on %s not open: %w", pending, addr, ctx.Err())
		case <-t.C:
		}
	}
}
