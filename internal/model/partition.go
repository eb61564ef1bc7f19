package model

import (
	"errors"
	"fmt"
)

// ErrInvalidNetworkPartition is wrapped by every problem NetworkPartition.Validate reports.
var ErrInvalidNetworkPartition = errors.New("model: invalid network partition")

// NetworkPartition is a network partition and its partitions (docs/stratos-wire.md §5.2,
// NetworkPartitionBean). Provider is the IaaS type that starts its members ("mock", "local",
// "openstack", ...). Properties named payload_parameter.X go into every member's payload as X.
type NetworkPartition struct {
	ID         string      `json:"id"`
	Provider   string      `json:"provider"`
	Partitions []Partition `json:"partitions,omitempty"`
	Properties []NameValue `json:"properties,omitempty"`
}

// Partition is one partition of a network partition (PartitionBean), e.g. a zone.
type Partition struct {
	ID          string      `json:"id"`
	Description string      `json:"description,omitempty"`
	Property    []NameValue `json:"property,omitempty"`
}

// Partition returns the partition with the id, or nil.
func (np *NetworkPartition) Partition(id string) *Partition {
	for i := range np.Partitions {
		if np.Partitions[i].ID == id {
			return &np.Partitions[i]
		}
	}
	return nil
}

// Validate reports every problem of the definition, joined; each wraps
// ErrInvalidNetworkPartition.
func (np *NetworkPartition) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidNetworkPartition}, args...)...))
	}
	if !ValidName(np.ID) {
		bad("id %q must be 1-128 letters, digits, '.', '_' or '-'", np.ID)
	}
	if np.Provider == "" {
		bad("provider is required")
	}
	if len(np.Partitions) == 0 {
		bad("at least one partition is required")
	}
	seen := map[string]int{}
	for i, p := range np.Partitions {
		if !ValidName(p.ID) {
			bad("partitions[%d]: id %q must be 1-128 letters, digits, '.', '_' or '-'", i, p.ID)
		} else if j, dup := seen[p.ID]; dup {
			bad("partitions[%d]: id %q already used by partitions[%d]", i, p.ID, j)
		} else {
			seen[p.ID] = i
		}
		errs = append(errs, validateProperties(ErrInvalidNetworkPartition, fmt.Sprintf("partitions[%d].property", i), p.Property)...)
	}
	errs = append(errs, validateProperties(ErrInvalidNetworkPartition, "properties", np.Properties)...)
	return errors.Join(errs...)
}
