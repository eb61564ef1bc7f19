package mock

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/strata-paas/strata/internal/model"
)

// The state (Options.DB) keeps each instance's record in bucketInstances. The payloads of a
// cluster's members are the same but for a few pairs (MEMBER_ID, INSTANCE_ID, ...): ~1.2 KB a
// member of which ~1 KB is repeated, and every byte of the state ends up in the RSS through
// bbolt's mmap (issue 17: the controller's file, which the mock shares, was ~4.8 KB a member at
// 100 000). So a record names a base payload, stored once in bucketPayloads under the hash of
// its launch-params line, and holds only the pairs whose values differ from the base's.

// bucketPayloads holds the base payloads records refer to, by id.
const bucketPayloads = "mock_payloads"

// payloadBase is a base payload: the payload of a cluster's member, which the records of the
// cluster's later members with the same keys in the same order refer to.
type payloadBase struct {
	id     string
	line   string
	params model.Payload
}

// newBase makes the base of payload p, which passes Check.
func newBase(p model.Payload) *payloadBase {
	line := p.String()
	sum := sha256.Sum256([]byte(line))
	return &payloadBase{id: hex.EncodeToString(sum[:12]), line: line, params: p}
}

// fits reports whether p has the base's keys in the same order, so that it can be written as
// the values that differ.
func (b *payloadBase) fits(p model.Payload) bool {
	if len(p) != len(b.params) {
		return false
	}
	for i := range p {
		if p[i].Key != b.params[i].Key {
			return false
		}
	}
	return true
}

// delta is the pairs of p whose values differ from the base's; p fits the base.
func (b *payloadBase) delta(p model.Payload) model.Payload {
	var out model.Payload
	for i, kv := range p {
		if kv.Value != b.params[i].Value {
			out = append(out, kv)
		}
	}
	return out
}

// baseFor returns the base payload of a member of cluster started with payload p, making p the
// cluster's base when the cluster has none or p does not fit it; nil when p fails Check (its
// record then keeps the pairs).
func (d *Driver) baseFor(clusterID string, p model.Payload) *payloadBase {
	if len(p) == 0 || p.Check() != nil {
		return nil
	}
	d.basesMu.Lock()
	defer d.basesMu.Unlock()
	b := d.bases[clusterID]
	if b == nil || !b.fits(p) {
		b = newBase(p)
		d.bases[clusterID] = b
	}
	return b
}

// storedRecord is a record as the state keeps it: no field that is empty or that the key (the
// instance id) gives.
type storedRecord struct {
	Started            storedStarted
	ClusterID          string   `json:",omitempty"`
	ClusterInstanceID  string   `json:",omitempty"`
	ServiceName        string   `json:",omitempty"`
	NetworkPartitionID string   `json:",omitempty"`
	PartitionID        string   `json:",omitempty"`
	ApplicationID      string   `json:",omitempty"`
	PayloadLine        string   `json:",omitempty"`
	Base               string   `json:",omitempty"`
	Own                []string `json:",omitempty"`
	StartTime          time.Time
}

// storedStarted is controller.Started as storedRecord keeps it: the ids only when they are not
// the key.
type storedStarted struct {
	InstanceID string                    `json:",omitempty"`
	MemberID   string                    `json:",omitempty"`
	PrivateIPs []string                  `json:",omitempty"`
	PublicIPs  []string                  `json:",omitempty"`
	Services   []model.KubernetesService `json:",omitempty"`
}

// encodeRecord is an instance's record as the state keeps it (storedRecord): the payload as a
// base's id, the keys whose value is the instance id and the launch-params line of the other
// pairs that differ from the base (base nil: the whole line, unless the payload fails Check).
func encodeRecord(r record, base *payloadBase) ([]byte, error) {
	id := r.Started.InstanceID
	s := storedRecord{ClusterID: r.ClusterID, ClusterInstanceID: r.ClusterInstanceID, ServiceName: r.ServiceName,
		NetworkPartitionID: r.NetworkPartitionID, PartitionID: r.PartitionID, ApplicationID: r.ApplicationID, StartTime: r.StartTime,
		Started: storedStarted{MemberID: r.Started.MemberID, PrivateIPs: r.Started.PrivateIPs, PublicIPs: r.Started.PublicIPs, Services: r.Started.Services}}
	if s.Started.MemberID == id {
		s.Started.MemberID = ""
	}
	switch {
	case base != nil:
		var delta model.Payload
		for _, kv := range base.delta(r.Payload) {
			if kv.Value == id {
				s.Own = append(s.Own, kv.Key)
			} else {
				delta = append(delta, kv)
			}
		}
		s.Base, s.PayloadLine = base.id, delta.String()
	case len(r.Payload) > 0 && r.Payload.Check() == nil:
		s.PayloadLine = r.Payload.String()
	case len(r.Payload) > 0:
		b, err := json.Marshal(r) // the pairs, which the line cannot hold
		return b, err
	}
	return json.Marshal(s)
}

// decodeRecord reads the record of instance id encodeRecord wrote (or one with the payload's
// pairs), its payload from the bases in payloads; with payloads nil it leaves the payload out
// and only names its base (Base).
func decodeRecord(id string, v []byte, payloads *bbolt.Bucket) (record, error) {
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return record{}, err
	}
	if r.Started.InstanceID == "" {
		r.Started.InstanceID = id
	}
	if r.Started.MemberID == "" {
		r.Started.MemberID = r.Started.InstanceID
	}
	if payloads == nil {
		r.Payload, r.PayloadLine, r.Own = nil, "", nil
		return r, nil
	}
	line := r.PayloadLine
	if r.Base != "" {
		base := payloads.Get([]byte(r.Base))
		if base == nil {
			return record{}, fmt.Errorf("payload: base %s not in the state", r.Base)
		}
		line = string(base)
	}
	if line != "" {
		p, err := model.ParsePayload(strings.NewReader(line))
		if err != nil {
			return record{}, fmt.Errorf("payload: %w", err)
		}
		r.Payload = p
	}
	if r.Base != "" && r.PayloadLine != "" {
		delta, err := model.ParsePayload(strings.NewReader(r.PayloadLine))
		if err != nil {
			return record{}, fmt.Errorf("payload: %w", err)
		}
		for _, kv := range delta {
			r.Payload.Set(kv.Key, kv.Value)
		}
	}
	for _, k := range r.Own {
		r.Payload.Set(k, r.Started.InstanceID)
	}
	r.PayloadLine, r.Base, r.Own = "", "", nil
	return r, nil
}

// save writes an instance's record, and the base payload it refers to, in one transaction.
func (d *Driver) save(r record) error {
	if d.opts.DB == nil {
		return nil
	}
	base := d.baseFor(r.ClusterID, r.Payload)
	v, err := encodeRecord(r, base)
	if err != nil {
		return fmt.Errorf("mock: encode instance: %w", err)
	}
	if err := d.opts.DB.Batch(func(tx *bbolt.Tx) error {
		if base != nil {
			// Written with every record that refers to it (one page per batch): a base is
			// never referred to before it is in the state, whichever batch commits first.
			if err := tx.Bucket([]byte(bucketPayloads)).Put([]byte(base.id), []byte(base.line)); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte(bucketInstances)).Put([]byte(r.Started.InstanceID), v)
	}); err != nil {
		return fmt.Errorf("mock: save instance: %w", err)
	}
	return nil
}

// dropUnusedBases deletes the base payloads no record refers to (those of members gone), when
// the state is loaded.
func dropUnusedBases(tx *bbolt.Tx, used map[string]bool) error {
	b := tx.Bucket([]byte(bucketPayloads))
	var unused [][]byte
	if err := b.ForEach(func(k, _ []byte) error {
		if !used[string(k)] {
			unused = append(unused, k)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range unused {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// payloadLocked is an instance's payload. With Options.DB the driver keeps it only there: read
// once, at the start of a member that runs for hours (issue 17: ~1 KB a member otherwise).
func (d *Driver) payloadLocked(in *instance) model.Payload {
	if in.payload != nil || d.opts.DB == nil {
		return in.payload
	}
	var r record
	err := d.opts.DB.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket([]byte(bucketInstances)).Get([]byte(in.id))
		if v == nil {
			return nil // killed meanwhile
		}
		var err error
		r, err = decodeRecord(in.id, v, tx.Bucket([]byte(bucketPayloads)))
		return err
	})
	if err != nil {
		d.log.Warn("cannot read an instance's payload from the state", "instance_id", in.id, "error", err)
	}
	return r.Payload
}
