package history

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

const (
	minBackoff  = 100 * time.Millisecond
	maxBackoff  = 2 * time.Second
	maxAttempts = 3 // for errors the server reports about the data, before dead-lettering
	replayGroup = 256
	replayBytes = 32 << 20
)

// send is the sender goroutine: it replays the spool (oldest first) and inserts queued batches.
func (c *ClickHouse) send(draining <-chan struct{}) {
	var (
		wait      time.Duration
		buf       []byte
		failedPos position
		attempts  int
	)
	retention := time.NewTicker(time.Hour)
	defer retention.Stop()
	timer := time.NewTimer(0)
	<-timer.C
	for {
		select {
		case <-draining:
			c.finish()
			return
		default:
		}
		if wait > 0 {
			timer.Reset(wait)
			select {
			case <-draining:
				timer.Stop()
				c.finish()
				return
			case <-timer.C:
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.o.InsertTimeout)
		did, pos, err := c.step(ctx, &buf)
		cancel()
		if err != nil {
			c.c.failures.Add(1)
			if pos != (position{}) && permanent(err) {
				// Find the batch the server refuses: replay one at a time from now on.
				if !c.single {
					c.single = true
					failedPos, attempts = position{}, 0
				}
				if pos == failedPos {
					attempts++
				} else {
					failedPos, attempts = pos, 1
				}
				if attempts >= maxAttempts {
					c.deadLetter(buf, pos, err)
					attempts, wait = 0, 0
					continue
				}
			}
			c.qmu.Lock()
			if c.healthy {
				c.log.Warn("clickhouse unavailable, spooling", "err", err)
			}
			c.healthy = false
			c.qmu.Unlock()
			wait = min(max(2*wait, minBackoff), maxBackoff)
			continue
		}
		wait = 0
		if did {
			continue
		}
		select {
		case <-draining:
			c.finish()
			return
		case <-c.wake:
		case <-retention.C:
			ctx, cancel := context.WithTimeout(context.Background(), c.o.InsertTimeout)
			if _, err := dropExpired(ctx, c.conn, c.db, c.o.Now(), c.o.Retention); err != nil {
				c.log.Warn("retention", "err", err)
			}
			cancel()
		}
	}
}

// step does one unit of sending work: set up the schema, replay the oldest spooled batch, or
// insert the oldest queued batch. It reports whether there was work and, for a spooled batch, its
// position (its payload is left in *buf).
func (c *ClickHouse) step(ctx context.Context, buf *[]byte) (bool, position, error) {
	if !c.ready.Load() {
		if err := c.setup(ctx); err != nil {
			return true, position{}, err
		}
	}
	if c.spool.Bytes() > 0 {
		limit := replayGroup
		if c.single {
			limit = 1
		}
		payloads, poss, err := c.spool.peekMany(limit, replayBytes)
		if err != nil {
			return true, position{}, err
		}
		if len(poss) > 0 {
			*buf = payloads[0]
			var bs []*batch
			for i, p := range payloads {
				b, err := decodeBatch(p)
				if err != nil {
					if i == 0 {
						c.c.corrupt.Add(1)
						c.log.Error("skipping unreadable spooled batch", "err", err)
						return true, poss[0], c.spool.commit(poss[0])
					}
					poss = poss[:i]
					break
				}
				bs = append(bs, b)
			}
			if err := c.replay(ctx, bs); err != nil {
				return true, poss[0], err
			}
			for _, p := range poss {
				if err := c.spool.commit(p); err != nil {
					return true, p, err
				}
			}
			c.recovered()
			return true, poss[0], nil
		}
	}
	c.single = false // the spool is empty
	c.qmu.Lock()
	if len(c.queue) == 0 {
		c.qmu.Unlock()
		c.recovered()
		return false, position{}, nil
	}
	b := c.queue[0]
	c.qmu.Unlock()
	err := c.insert(ctx, b)
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if err != nil {
		if c.healthy {
			c.log.Warn("clickhouse insert failed, spooling", "err", err)
		}
		c.healthy = false
		c.spillLocked(nil) // b is at the head of what is spilled, unless a spill already took it
		return true, position{}, err
	}
	c.c.inserted.Add(uint64(b.len()))
	c.c.batches.Add(1)
	c.account(b)
	if len(c.queue) > 0 && c.queue[0] == b {
		c.queue = c.queue[1:]
	}
	c.healthy = true
	return true, position{}, nil
}

// recovered marks ClickHouse healthy after a success, logging the change. New batches then go to
// the memory queue again while the sender drains the spool ahead of them.
func (c *ClickHouse) recovered() {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if !c.healthy && c.ready.Load() {
		c.healthy = true
		c.log.Info("clickhouse back, replaying the spool", "spool_bytes", c.spool.Bytes(), "replayed_rows", c.c.replayed.Load())
	}
}

// finish runs when Run ends: queued batches go to ClickHouse while it takes them within
// InsertTimeout, the rest to the spool.
func (c *ClickHouse) finish() {
	deadline := time.Now().Add(c.o.InsertTimeout)
	for {
		c.qmu.Lock()
		if len(c.queue) == 0 {
			c.qmu.Unlock()
			return
		}
		if !c.healthy || !c.ready.Load() || time.Now().After(deadline) {
			c.spillLocked(nil)
			c.qmu.Unlock()
			return
		}
		c.qmu.Unlock()
		var buf []byte
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		_, _, err := c.step(ctx, &buf)
		cancel()
		if err != nil {
			c.c.failures.Add(1)
		}
	}
}

// deadLetter moves a spooled batch the server keeps refusing out of the way, into a file in the
// dead-letter directory, so the batches behind it go on.
func (c *ClickHouse) deadLetter(payload []byte, pos position, cause error) {
	rows := 0
	if b, err := decodeBatch(payload); err == nil {
		rows = b.len()
	}
	name := filepath.Join(c.dead, fmt.Sprintf("%020d-%d.batch", pos.seg, pos.off))
	err := os.MkdirAll(c.dead, 0o755)
	if err == nil {
		err = os.WriteFile(name, payload, 0o644)
	}
	c.c.deadLetter.Add(uint64(rows))
	c.log.Error("clickhouse refuses batch, moved to dead letters", "rows", rows, "file", name, "err", cause, "write_err", err)
	if err := c.spool.commit(pos); err != nil {
		c.log.Error("spool commit", "err", err)
	}
}

// permanent reports whether err is the server refusing the data or statement (which retrying will
// not fix), rather than a connection problem, a timeout or an overload.
func permanent(err error) bool {
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) {
		return false
	}
	switch ex.Code {
	case 159, 160, 164, 202, 203, 209, 210, 241, 242, 252, 319, 425, 999:
		// timeouts, readonly, too many queries/parts, network, memory, unknown status of an
		// insert, system errors, keeper.
		return false
	}
	return true
}
