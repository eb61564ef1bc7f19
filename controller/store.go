package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/strata-paas/strata/internal/model"
)

// State in bbolt: one bucket per kind, keyed by id, JSON values. Cartridges, network partitions
// and clusters are written synchronously by the API; members go through the dirty set and the
// flusher, which writes every member changed since the last flush in one transaction. A member's
// payload is not kept: the driver has it (the mock IaaS in its state, local in the member's
// directory, kubernetes in the pod), and the controller kept ~2 KB of it a member in memory
// only to rewrite it into the state with every change of the member (issue 17).

type clusterRecord struct {
	Spec        ClusterSpec
	Cluster     *model.Cluster // without members
	Credentials Credentials
	Removing    bool `json:",omitempty"`
}

// memberRecord is a member as the state keeps it: M, without what its key and its cluster give
// (storedMember). Records written before hold the whole member in Member (and, before issue 17,
// the payload, which load ignores); the member's next flush rewrites them.
type memberRecord struct {
	Member   *model.Member `json:",omitempty"`
	M        *storedMember `json:",omitempty"`
	Driver   string
	Graceful bool      `json:",omitempty"`
	Deadline time.Time `json:",omitzero"`
}

func (c *Controller) load() error {
	err := c.db.Update(func(tx *bbolt.Tx) error {
		for _, b := range []string{bucketCartridges, bucketNetworkPartitions, bucketClusters, bucketMembers} {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("controller: create state buckets: %w", err)
	}
	return c.db.View(func(tx *bbolt.Tx) error {
		if err := tx.Bucket([]byte(bucketCartridges)).ForEach(func(k, v []byte) error {
			var ct model.Cartridge
			if err := json.Unmarshal(v, &ct); err != nil {
				return fmt.Errorf("controller: load cartridge %s: %w", k, err)
			}
			c.cartridges[ct.Type] = &ct
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Bucket([]byte(bucketNetworkPartitions)).ForEach(func(k, v []byte) error {
			var np model.NetworkPartition
			if err := json.Unmarshal(v, &np); err != nil {
				return fmt.Errorf("controller: load network partition %s: %w", k, err)
			}
			c.nps[np.ID] = &np
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Bucket([]byte(bucketClusters)).ForEach(func(k, v []byte) error {
			var r clusterRecord
			if err := json.Unmarshal(v, &r); err != nil || r.Cluster == nil {
				return fmt.Errorf("controller: load cluster %s: %v", k, err)
			}
			r.Cluster.MemberMap = map[string]*model.Member{}
			if len(r.Cluster.KubernetesServices) == 0 {
				r.Cluster.KubernetesServices = nil // written as [], kept as nil
			}
			if r.Cluster.InstanceIDToInstanceContextMap == nil {
				r.Cluster.InstanceIDToInstanceContextMap = map[string]*model.ClusterInstance{}
			}
			c.clusters[r.Spec.ClusterID] = &cluster{Spec: r.Spec, Cluster: r.Cluster, Credentials: r.Credentials, removing: r.Removing}
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket([]byte(bucketMembers)).ForEach(func(k, v []byte) error {
			var r memberRecord
			if err := json.Unmarshal(v, &r); err != nil || (r.Member == nil && r.M == nil) {
				return fmt.Errorf("controller: load member %s: %v", k, err)
			}
			if r.M != nil {
				r.Member = c.unpackMember(string(k), r.M)
			}
			cl := c.clusters[r.Member.ClusterID]
			if cl == nil {
				c.log.Warn("dropping a stored member of an unknown cluster", "member_id", string(k), "cluster_id", r.Member.ClusterID)
				c.markDirty(string(k))
				return nil
			}
			m := &member{m: r.Member, driver: r.Driver}
			if r.Graceful {
				m.grace = &grace{deadline: r.Deadline}
			}
			cl.Cluster.MemberMap[r.Member.MemberID] = r.Member
			cl.indexAddLocked(r.Member)
			c.members[r.Member.MemberID] = m
			return nil
		})
	})
}

// put writes one value synchronously.
func (c *Controller) put(bucket, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("controller: encode %s %s: %w", bucket, key, err)
	}
	if err := c.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucket)).Put([]byte(key), b)
	}); err != nil {
		return fmt.Errorf("controller: write %s %s: %w", bucket, key, err)
	}
	return nil
}

// del deletes one key synchronously.
func (c *Controller) del(bucket, key string) error {
	if err := c.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucket)).Delete([]byte(key))
	}); err != nil {
		return fmt.Errorf("controller: delete %s %s: %w", bucket, key, err)
	}
	return nil
}

func clusterRecordOf(cl *cluster) clusterRecord {
	obj := *cl.Cluster
	obj.MemberMap = nil
	return clusterRecord{Spec: cl.Spec, Cluster: &obj, Credentials: cl.Credentials, Removing: cl.removing}
}

// markDirty schedules members to be written (or deleted, when no longer in c.members) and
// returns the generation a flush must reach to cover them. Any lock may be held.
func (c *Controller) markDirty(ids ...string) uint64 {
	c.topologyChanged() // a change without an event still changes the complete topology
	c.dirtyMu.Lock()
	for _, id := range ids {
		c.dirty[id] = true
	}
	c.dirtyGen++
	gen := c.dirtyGen
	c.dirtyMu.Unlock()
	select {
	case c.dirtySignal <- struct{}{}:
	default:
	}
	return gen
}

// persist marks members dirty and waits until a flush has written them.
func (c *Controller) persist(ctx context.Context, ids ...string) error {
	gen := c.markDirty(ids...)
	for {
		c.dirtyMu.Lock()
		if c.flushedGen >= gen {
			err := c.flushErr
			c.dirtyMu.Unlock()
			return err
		}
		ch := c.flushed
		c.dirtyMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.stopped:
			return ErrClosed
		}
	}
}

// flushLinger is how long the flusher lets changes gather before it writes them. Without it a
// deployment or an undeploy wrote a transaction for every few members (14 on average during an
// undeploy of 20 000 members, 520 transactions and fdatasyncs a second, the flusher busy 6.5 s
// of the 8): each transaction rewrites the pages from the root to every changed member and
// waits for the disk. A member's persist waits this long more.
const flushLinger = 10 * time.Millisecond

func (c *Controller) flusher(ctx context.Context) {
	linger := time.NewTimer(flushLinger)
	defer linger.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.dirtySignal:
		}
		linger.Reset(flushLinger)
		select {
		case <-ctx.Done():
			return // Run flushes what is left
		case <-linger.C:
		}
		c.flush()
	}
}

// flushChunk is how many members flush encodes before it lets others take mu.
const flushChunk = 64

// flush writes every dirty member, in transactions of at most StateTxKeys members.
func (c *Controller) flush() {
	c.dirtyMu.Lock()
	ids, gen := c.dirty, c.dirtyGen
	c.dirty = map[string]bool{} // not the size of the last flush: kept while nothing changes
	c.dirtyMu.Unlock()

	var err, encErr error
	vals := make(map[string][]byte, min(len(ids), StateTxKeys))
	write := func() {
		if len(vals) == 0 || err != nil {
			clear(vals)
			return
		}
		err = c.db.Update(func(tx *bbolt.Tx) error {
			b := tx.Bucket([]byte(bucketMembers))
			for id, v := range vals {
				var err error
				if v == nil {
					err = b.Delete([]byte(id))
				} else {
					err = b.Put([]byte(id), v)
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			c.stats.stateWrites.Add(1)
		}
		clear(vals)
	}
	c.mu.Lock()
	n := 0
	for id := range ids {
		if n++; n%flushChunk == 0 {
			// Let the starts and member events in: a flush during a large deployment encodes
			// thousands of members, and held mu for all of them.
			c.mu.Unlock()
			if len(vals) >= StateTxKeys {
				write()
			}
			c.mu.Lock()
		}
		m, ok := c.members[id]
		if !ok {
			vals[id] = nil
			continue
		}
		rec := memberRecord{M: c.packMemberLocked(m.m), Driver: m.driver}
		if m.grace != nil {
			rec.Graceful, rec.Deadline = true, m.grace.deadline
		}
		b, err := json.Marshal(rec)
		if err != nil {
			encErr = err
			continue
		}
		vals[id] = b
	}
	c.mu.Unlock()
	write()
	if err == nil {
		err = encErr
	}
	c.dirtyMu.Lock()
	if err != nil {
		err = fmt.Errorf("controller: write members: %w", err)
		for id := range ids {
			c.dirty[id] = true // retried by the next flush
		}
	}
	c.flushedGen, c.flushErr = gen, err
	close(c.flushed)
	c.flushed = make(chan struct{})
	c.dirtyMu.Unlock()
	if err != nil {
		c.log.Error("cannot write member state", "error", err)
	}
}
