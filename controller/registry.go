package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/strata-paas/strata/internal/model"
)

// clone deep-copies a definition through JSON, so callers never share the stored value.
func clone[T any](v *T) *T {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("controller: clone: %v", err)) // the model types always marshal
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic(fmt.Sprintf("controller: clone: %v", err))
	}
	return out
}

// AddCartridge validates and stores a cartridge and publishes ServiceCreatedEvent.
func (c *Controller) AddCartridge(ctx context.Context, ct model.Cartridge) error {
	if err := ct.Validate(); err != nil {
		return fmt.Errorf("add cartridge %q: %w", ct.Type, err)
	}
	stored := clone(&ct)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if _, ok := c.cartridges[ct.Type]; ok {
		return fmt.Errorf("add cartridge %q: %w", ct.Type, ErrExists)
	}
	if err := c.put(bucketCartridges, ct.Type, stored); err != nil {
		return err
	}
	c.cartridges[ct.Type] = stored
	s := serviceOf(stored)
	c.emitLocked(&model.ServiceCreatedEvent{ServiceName: s.ServiceName, ServiceType: s.ServiceType,
		PortMap: s.PortMap, Properties: s.Properties}, nil)
	return nil
}

// UpdateCartridge replaces a cartridge definition. Running members keep what they were started
// with; new members and MemberActivatedEvents use the new definition. A cartridge used by a
// cluster may not change its multiTenant flag.
func (c *Controller) UpdateCartridge(ctx context.Context, ct model.Cartridge) error {
	if err := ct.Validate(); err != nil {
		return fmt.Errorf("update cartridge %q: %w", ct.Type, err)
	}
	stored := clone(&ct)
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.cartridges[ct.Type]
	if !ok {
		return fmt.Errorf("update cartridge %q: %w", ct.Type, ErrNotFound)
	}
	if old.MultiTenant != ct.MultiTenant && c.cartridgeUsedLocked(ct.Type) != "" {
		return fmt.Errorf("update cartridge %q: %w: multiTenant cannot change while clusters use it", ct.Type, ErrInUse)
	}
	if err := c.put(bucketCartridges, ct.Type, stored); err != nil {
		return err
	}
	c.cartridges[ct.Type] = stored
	return nil
}

// RemoveCartridge removes a cartridge that no cluster uses and publishes ServiceRemovedEvent.
func (c *Controller) RemoveCartridge(ctx context.Context, typ string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.cartridges[typ]; !ok {
		return fmt.Errorf("remove cartridge %q: %w", typ, ErrNotFound)
	}
	if id := c.cartridgeUsedLocked(typ); id != "" {
		return fmt.Errorf("remove cartridge %q: %w by cluster %s", typ, ErrInUse, id)
	}
	if err := c.del(bucketCartridges, typ); err != nil {
		return err
	}
	delete(c.cartridges, typ)
	c.emitLocked(&model.ServiceRemovedEvent{ServiceName: typ}, nil)
	return nil
}

func (c *Controller) cartridgeUsedLocked(typ string) string {
	for id, cl := range c.clusters {
		if cl.Spec.ServiceName == typ {
			return id
		}
	}
	return ""
}

// Cartridge returns a copy of a cartridge.
func (c *Controller) Cartridge(typ string) (model.Cartridge, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ct, ok := c.cartridges[typ]
	if !ok {
		return model.Cartridge{}, fmt.Errorf("cartridge %q: %w", typ, ErrNotFound)
	}
	return *clone(ct), nil
}

// Cartridges returns copies of every cartridge, sorted by type.
func (c *Controller) Cartridges() []model.Cartridge {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]model.Cartridge, 0, len(c.cartridges))
	for _, ct := range c.cartridges {
		out = append(out, *clone(ct))
	}
	slices.SortFunc(out, func(a, b model.Cartridge) int { return strings.Compare(a.Type, b.Type) })
	return out
}

// AddNetworkPartition validates and stores a network partition. Its provider must name a
// configured driver.
func (c *Controller) AddNetworkPartition(ctx context.Context, np model.NetworkPartition) error {
	if err := c.validateNP(&np); err != nil {
		return fmt.Errorf("add network partition %q: %w", np.ID, err)
	}
	stored := clone(&np)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if _, ok := c.nps[np.ID]; ok {
		return fmt.Errorf("add network partition %q: %w", np.ID, ErrExists)
	}
	if err := c.put(bucketNetworkPartitions, np.ID, stored); err != nil {
		return err
	}
	c.nps[np.ID] = stored
	return nil
}

func (c *Controller) validateNP(np *model.NetworkPartition) error {
	err := np.Validate()
	if _, ok := c.opts.Drivers[np.Provider]; !ok && np.Provider != "" {
		return errors.Join(err, fmt.Errorf("%w %q", ErrNoDriver, np.Provider))
	}
	return err
}

// UpdateNetworkPartition replaces a network partition. Partitions that members run in cannot be
// dropped, and the provider cannot change while members run.
func (c *Controller) UpdateNetworkPartition(ctx context.Context, np model.NetworkPartition) error {
	if err := c.validateNP(&np); err != nil {
		return fmt.Errorf("update network partition %q: %w", np.ID, err)
	}
	stored := clone(&np)
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.nps[np.ID]
	if !ok {
		return fmt.Errorf("update network partition %q: %w", np.ID, ErrNotFound)
	}
	for _, m := range c.members {
		if m.m.NetworkPartitionID != np.ID {
			continue
		}
		if old.Provider != np.Provider {
			return fmt.Errorf("update network partition %q: %w: provider cannot change while member %s runs", np.ID, ErrInUse, m.m.MemberID)
		}
		if np.Partition(m.m.PartitionID) == nil {
			return fmt.Errorf("update network partition %q: %w: partition %s has member %s", np.ID, ErrInUse, m.m.PartitionID, m.m.MemberID)
		}
	}
	if err := c.put(bucketNetworkPartitions, np.ID, stored); err != nil {
		return err
	}
	c.nps[np.ID] = stored
	return nil
}

// RemoveNetworkPartition removes a network partition no member runs in. (Whether a deployment or
// application policy still names it is the autoscaler's and manager's check.)
func (c *Controller) RemoveNetworkPartition(ctx context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.nps[id]; !ok {
		return fmt.Errorf("remove network partition %q: %w", id, ErrNotFound)
	}
	for _, m := range c.members {
		if m.m.NetworkPartitionID == id {
			return fmt.Errorf("remove network partition %q: %w by member %s", id, ErrInUse, m.m.MemberID)
		}
	}
	if err := c.del(bucketNetworkPartitions, id); err != nil {
		return err
	}
	delete(c.nps, id)
	return nil
}

// NetworkPartition returns a copy of a network partition.
func (c *Controller) NetworkPartition(id string) (model.NetworkPartition, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	np, ok := c.nps[id]
	if !ok {
		return model.NetworkPartition{}, fmt.Errorf("network partition %q: %w", id, ErrNotFound)
	}
	return *clone(np), nil
}

// NetworkPartitions returns copies of every network partition, sorted by id.
func (c *Controller) NetworkPartitions() []model.NetworkPartition {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]model.NetworkPartition, 0, len(c.nps))
	for _, np := range c.nps {
		out = append(out, *clone(np))
	}
	slices.SortFunc(out, func(a, b model.NetworkPartition) int { return strings.Compare(a.ID, b.ID) })
	return out
}
