package model

import (
	"errors"
	"fmt"
)

// ErrInvalidKubernetesCluster is wrapped by every problem KubernetesCluster.Validate reports.
var ErrInvalidKubernetesCluster = errors.New("model: invalid kubernetes cluster")

// KubernetesCluster is a Kubernetes cluster that members of `kubernetes` network partitions run
// on (docs/stratos-wire.md §5.9, KubernetesClusterBean). A partition names it with its
// "cluster" property. Besides Stratos' fields, Strata reads how to reach the API server from
// Property: "kubeconfig" (a path), "context", "inCluster" and "namespace" (see the
// controller/kubernetes package); entries named payload_parameter.X go into its members' payloads
// as X.
type KubernetesCluster struct {
	ClusterID        string           `json:"clusterId"`
	Description      string           `json:"description,omitempty"`
	KubernetesMaster KubernetesHost   `json:"kubernetesMaster"`
	KubernetesHosts  []KubernetesHost `json:"kubernetesHosts,omitempty"`
	PortRange        *PortRange       `json:"portRange,omitempty"`
	Property         []NameValue      `json:"property,omitempty"`
}

// KubernetesHost is a Kubernetes cluster's master or one of its hosts (KubernetesHostBean).
type KubernetesHost struct {
	HostID           string      `json:"hostId"`
	Hostname         string      `json:"hostname,omitempty"`
	PrivateIPAddress string      `json:"privateIPAddress,omitempty"`
	PublicIPAddress  string      `json:"publicIPAddress,omitempty"`
	Property         []NameValue `json:"property,omitempty"`
}

// PortRange is the range the NodePorts of a Kubernetes cluster's services are taken from.
type PortRange struct {
	Upper Int `json:"upper"`
	Lower Int `json:"lower"`
}

// Host returns the host (the master included) with the id, or nil.
func (k *KubernetesCluster) Host(id string) *KubernetesHost {
	if k.KubernetesMaster.HostID == id {
		return &k.KubernetesMaster
	}
	for i := range k.KubernetesHosts {
		if k.KubernetesHosts[i].HostID == id {
			return &k.KubernetesHosts[i]
		}
	}
	return nil
}

// Validate reports every problem of the definition, joined; each wraps
// ErrInvalidKubernetesCluster.
func (k *KubernetesCluster) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidKubernetesCluster}, args...)...))
	}
	if !ValidName(k.ClusterID) {
		bad("clusterId %q must be 1-128 letters, digits, '.', '_' or '-'", k.ClusterID)
	}
	seen := map[string]string{}
	check := func(where string, h *KubernetesHost) {
		if !ValidName(h.HostID) {
			bad("%s: hostId %q must be 1-128 letters, digits, '.', '_' or '-'", where, h.HostID)
		} else if prev, dup := seen[h.HostID]; dup {
			bad("%s: hostId %q already used by %s", where, h.HostID, prev)
		} else {
			seen[h.HostID] = where
		}
		errs = append(errs, validateProperties(ErrInvalidKubernetesCluster, where+".property", h.Property)...)
	}
	check("kubernetesMaster", &k.KubernetesMaster)
	for i := range k.KubernetesHosts {
		check(fmt.Sprintf("kubernetesHosts[%d]", i), &k.KubernetesHosts[i])
	}
	if r := k.PortRange; r != nil && (r.Lower < 1 || r.Upper > 65535 || r.Upper < r.Lower) {
		bad("portRange %d-%d must be a range of ports (1-65535, lower <= upper)", r.Lower, r.Upper)
	}
	errs = append(errs, validateProperties(ErrInvalidKubernetesCluster, "property", k.Property)...)
	return errors.Join(errs...)
}
