package controller

import (
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// TestFlushGathersChanges: members that change one after another, a little apart, are written
// in a transaction per flushLinger, not one each. Written as they came, an undeploy of 20 000
// members took 4 162 transactions, 14 members each on average, and kept the flusher busy 6.5 s
// of the 8 (issue 17).
func TestFlushGathersChanges(t *testing.T) {
	const n = 400
	c, _ := controllerWithMembers(t, n)
	ctx := t.Context()
	go c.flusher(ctx)
	start := time.Now()
	var last string
	for id := range c.members {
		c.markDirty(id)
		last = id
		time.Sleep(100 * time.Microsecond)
	}
	if err := c.persist(ctx, last); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	writes := c.stats.stateWrites.Load()
	if max := uint64(elapsed/flushLinger) + 2; writes > max {
		t.Errorf("%d members changed over %v were written in %d transactions, want at most %d (one per %v)",
			n, elapsed.Round(time.Millisecond), writes, max, flushLinger)
	}
	// Every member was written.
	var stored int
	if err := c.db.View(func(tx *bbolt.Tx) error {
		stored = tx.Bucket([]byte(bucketMembers)).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if stored != n {
		t.Errorf("%d members in the state after the flushes, want %d", stored, n)
	}
}
