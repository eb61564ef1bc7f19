package controller_test

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/bbolt"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/model"
)

// maxStatePerMember bounds the bytes (key and value) of an Active mock member's record in the
// controller's state. The whole member's JSON made ~870 B; every byte of the state ends up in
// the RSS through bbolt's mmap (issue 17).
const maxStatePerMember = 350

// TestMemberStateCompact: a member's record in the state holds neither its id again (the key
// gives it) nor what its cluster gives (service, cluster id, port map), and a restarted
// controller has every member as it was, a record written before (the whole member) too.
func TestMemberStateCompact(t *testing.T) {
	const n = 10
	e := newEnv(t)
	c, stop := runController(t, e.opts)
	seed(t, c)
	var before []model.Member
	for range n {
		m := e.startActive(t, c)
		got, err := c.Member(m.MemberID)
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, got)
	}
	stop()
	db, err := bbolt.Open(filepath.Join(e.opts.DataDir, controller.DefaultStatePath), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	size, sample := 0, ""
	if err := db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("members")).ForEach(func(k, v []byte) error {
			size += len(k) + len(v)
			sample = string(v)
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("the state holds %d B a member", size/n)
	old, err := json.Marshal(map[string]any{"Member": before[0], "Driver": "mock"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("members")).Put([]byte(before[0].MemberID), old)
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if size/n > maxStatePerMember {
		t.Errorf("the state holds %d B a member, want <= %d; a record: %s", size/n, maxStatePerMember, sample)
	}

	c2, _ := runController(t, e.opts)
	for _, want := range before {
		got, err := c2.Member(want.MemberID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("member %s after a restart (-before +after):\n%s", want.MemberID, d)
		}
	}
}
