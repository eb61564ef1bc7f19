package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"
)

// portWaitReport is how often waitPorts says which ports it still waits for.
const portWaitReport = 30 * time.Second

// waitPorts waits until every port accepts a TCP connection on addr (docs/stratos-wire.md §7.6): each
// round dials the ports not yet seen open (5 s connect timeout), drops those that answer, and
// waits interval before the next round. It logs the ports still closed after the first round and
// then every portWaitReport, and returns an error when timeout passes first or ctx ends.
func waitPorts(ctx context.Context, log *slog.Logger, addr string, ports []int, timeout, interval time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pending := append([]int(nil), ports...)
	var d net.Dialer
	var reported time.Time
	for {
		left := pending[:0]
		var lastErr error
		for _, p := range pending {
			dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
			c, err := d.DialContext(dctx, "tcp", net.JoinHostPort(addr, strconv.Itoa(p)))
			dcancel()
			if err != nil {
				left, lastErr = append(left, p), err
				continue
			}
			c.Close()
		}
		pending = left
		if len(pending) == 0 {
			return nil
		}
		if time.Since(reported) >= portWaitReport {
			reported = time.Now()
			log.Info("waiting for ports to open", "address", addr, "ports", pending, "error", lastErr)
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
