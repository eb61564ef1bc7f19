package controller_test

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/strata-paas/strata/controller"
)

// storedMember is what the state holds of a member: its record's keys and its payload line.
type storedMember struct {
	record  map[string]json.RawMessage
	payload string // member_payloads
}

func readStored(t *testing.T, dataDir, memberID string) storedMember {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(dataDir, controller.DefaultStatePath), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var s storedMember
	if err := db.View(func(tx *bbolt.Tx) error {
		if err := json.Unmarshal(tx.Bucket([]byte("members")).Get([]byte(memberID)), &s.record); err != nil {
			return err
		}
		if b := tx.Bucket([]byte("member_payloads")); b != nil {
			s.payload = string(b.Get([]byte(memberID)))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPayloadStoredOnce: a member's payload is written once, as its launch-params line, into its
// own bucket; the member's record, rewritten at every change, does not carry it (issue 17: the
// controller kept ~2 KB of payload per member in memory only to rewrite it with every change). A
// record written before keeps its payload across a restart: the next flush moves it.
func TestPayloadStoredOnce(t *testing.T) {
	e := newEnv(t)
	c, stop := runController(t, e.opts)
	seed(t, c)
	m := e.startActive(t, c)
	stop()

	want, ok := e.mock.Payload(m.MemberID)
	if !ok {
		t.Fatal("the mock has no payload")
	}
	s := readStored(t, e.opts.DataDir, m.MemberID)
	if _, ok := s.record["Payload"]; ok {
		t.Errorf("the member's record holds the payload: %s", s.record["Payload"])
	}
	if s.payload != want.String() {
		t.Errorf("member_payloads = %q, want the launch-params line %q", s.payload, want.String())
	}

	// A record as the controller wrote it before: the payload in the record, no payload bucket.
	db, err := bbolt.Open(filepath.Join(e.opts.DataDir, controller.DefaultStatePath), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		p, err := json.Marshal(want)
		if err != nil {
			return err
		}
		s.record["Payload"] = p
		v, err := json.Marshal(s.record)
		if err != nil {
			return err
		}
		if err := tx.Bucket([]byte("members")).Put([]byte(m.MemberID), v); err != nil {
			return err
		}
		return tx.DeleteBucket([]byte("member_payloads"))
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctrlBus, _ := runClient(t, e.url)
	o := e.opts
	o.Bus = ctrlBus
	_, stop2 := runController(t, o)
	stop2()
	s = readStored(t, e.opts.DataDir, m.MemberID)
	if _, ok := s.record["Payload"]; ok {
		t.Errorf("after a restart the member's record still holds the payload: %s", s.record["Payload"])
	}
	if s.payload != want.String() {
		t.Errorf("after a restart member_payloads = %q, want %q", s.payload, want.String())
	}
}
