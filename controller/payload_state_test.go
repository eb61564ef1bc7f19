package controller_test

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/strata-paas/strata/controller"
)

// storedRecord is a member's record in the controller's state, by key.
func storedRecord(t *testing.T, dataDir, memberID string) map[string]json.RawMessage {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(dataDir, controller.DefaultStatePath), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var r map[string]json.RawMessage
	if err := db.View(func(tx *bbolt.Tx) error {
		return json.Unmarshal(tx.Bucket([]byte("members")).Get([]byte(memberID)), &r)
	}); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPayloadNotInState: the controller's state does not keep a member's payload (the driver
// has it): it kept ~2 KB a member in memory only to rewrite it with every change of the member
// (issue 17). A record that holds one, written before, loses it at the member's next change.
func TestPayloadNotInState(t *testing.T) {
	e := newEnv(t)
	c, stop := runController(t, e.opts)
	seed(t, c)
	m := e.startActive(t, c)
	stop()
	if _, ok := e.mock.Payload(m.MemberID); !ok {
		t.Fatal("the driver has no payload")
	}
	r := storedRecord(t, e.opts.DataDir, m.MemberID)
	if p, ok := r["Payload"]; ok {
		t.Errorf("the member's record holds the payload: %.200s", p)
	}
	if r["M"] == nil {
		t.Errorf("the member's record holds no member: %v", r)
	}
}
