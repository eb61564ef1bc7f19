package controller_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/strata-paas/strata/controller"
)

// TestStateCommitsIndependentOfFreedPages: a small commit to the controller's state writes the
// same pages however many pages earlier deletions freed. With bbolt's default freelist each
// commit wrote the whole list of free pages, so the transactions of an undeploy cost more the
// more members it had already deleted (issue 17). The freed pages are still reused after the
// state is opened again.
func TestStateCommitsIndependentOfFreedPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), controller.DefaultStatePath)
	db, err := bbolt.Open(path, 0o600, controller.StateOptions(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { db.Close() }()
	update := func(f func(b *bbolt.Bucket) error) {
		t.Helper()
		if err := db.Update(func(tx *bbolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("members"))
			if err != nil {
				return err
			}
			return f(b)
		}); err != nil {
			t.Fatal(err)
		}
	}
	record := make([]byte, 3000) // one member a page
	put := func(from, to int) {
		update(func(b *bbolt.Bucket) error {
			for i := from; i < to; i++ {
				if err := b.Put(fmt.Appendf(nil, "member-%06d", i), record); err != nil {
					return err
				}
			}
			return nil
		})
	}
	// The bytes of pages one small commit writes after deleting freed members.
	smallCommit := func(freed int) int64 {
		update(func(b *bbolt.Bucket) error {
			for i := range freed {
				if err := b.Delete(fmt.Appendf(nil, "member-%06d", i)); err != nil {
					return err
				}
			}
			return nil
		})
		st := db.Stats()
		before := st.TxStats.GetPageAlloc()
		put(1_000_000, 1_000_001)
		st = db.Stats()
		return st.TxStats.GetPageAlloc() - before
	}
	put(0, 8000)
	few := smallCommit(100)
	many := smallCommit(8000)
	if many > few+few/2 {
		t.Errorf("a one-member commit wrote %d bytes of pages after 8 000 members were deleted, %d after 100: its cost grows with the pages freed", many, few)
	}
	size := func() int64 {
		var n int64
		if err := db.View(func(tx *bbolt.Tx) error { n = tx.Size(); return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	grown := size()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db, err = bbolt.Open(path, 0o600, controller.StateOptions(time.Second)); err != nil {
		t.Fatal(err)
	}
	put(0, 8000)
	if got := size(); got > grown+grown/10 {
		t.Errorf("after a reopen the state grew from %d to %d bytes for as many members as it had: the freed pages were not reused", grown, got)
	}
}
