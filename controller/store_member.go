package controller

import (
	"maps"

	"github.com/strata-paas/strata/internal/model"
)

// storedMember is a member as the state keeps it (memberRecord.M): model.Member without the
// fields its key and its cluster give. The whole member was ~810 B of JSON, of which its id
// three times (key, instance id, state identifier), the cluster's port map, service and cluster
// ids, and every byte of the state ends up in the RSS through bbolt's mmap (issue 17).
type storedMember struct {
	ServiceName         string                    `json:"s,omitempty"` // when not the cluster's
	ClusterID           string                    `json:"c,omitempty"` // when the member id does not start with it
	ClusterInstanceID   string                    `json:"ci,omitempty"`
	NetworkPartitionID  string                    `json:"np,omitempty"`
	PartitionID         string                    `json:"p,omitempty"`
	InstanceID          *string                   `json:"i,omitempty"` // when not the member id
	InitTime            model.Long                `json:"t"`
	PortMap             model.PortMap             `json:"ports,omitzero"` // when not the cluster's
	ClusterPorts        bool                      `json:"cp,omitempty"`   // the port map is the cluster's
	MemberPublicIPs     []string                  `json:"pub,omitzero"`
	DefaultPublicIP     *string                   `json:"dpub,omitempty"` // when not the first of MemberPublicIPs
	MemberPrivateIPs    []string                  `json:"priv,omitzero"`
	DefaultPrivateIP    *string                   `json:"dpriv,omitempty"` // when not the first of MemberPrivateIPs
	Properties          model.Properties          `json:"props,omitzero"`
	LbClusterID         string                    `json:"lb,omitempty"`
	States              []model.MemberStatus      `json:"st,omitempty"`
	Identifier          *string                   `json:"id,omitempty"` // when not the member id
	LoadBalancingIPType model.LoadBalancingIPType `json:"ip,omitempty"`
}

// packMemberLocked is m as the state keeps it.
func (c *Controller) packMemberLocked(m *model.Member) *storedMember {
	s := &storedMember{ClusterInstanceID: m.ClusterInstanceID, NetworkPartitionID: m.NetworkPartitionID,
		PartitionID: m.PartitionID, InitTime: m.InitTime, PortMap: m.PortMap, MemberPublicIPs: m.MemberPublicIPs,
		MemberPrivateIPs: m.MemberPrivateIPs, Properties: m.Properties, LbClusterID: m.LbClusterID,
		States: m.MemberStateManager.StateStack, LoadBalancingIPType: m.LoadBalancingIPType}
	cl := c.clusters[m.ClusterID]
	if cl == nil || cl.Spec.ServiceName != m.ServiceName {
		s.ServiceName = m.ServiceName
	}
	if id, ok := model.MemberClusterID(m.MemberID); !ok || id != m.ClusterID {
		s.ClusterID = m.ClusterID
	}
	if m.InstanceID != m.MemberID {
		s.InstanceID = &m.InstanceID
	}
	if m.MemberStateManager.Identifier != m.MemberID {
		s.Identifier = &m.MemberStateManager.Identifier
	}
	if ct := c.cartridgeOf(cl); ct != nil && m.PortMap != nil {
		if ports := cl.portMapOf(ct); maps.Equal(ports, m.PortMap) {
			s.PortMap, s.ClusterPorts = nil, true
		}
	}
	s.DefaultPublicIP = unlessFirst(m.DefaultPublicIP, m.MemberPublicIPs)
	s.DefaultPrivateIP = unlessFirst(m.DefaultPrivateIP, m.MemberPrivateIPs)
	return s
}

// cartridgeOf is the cartridge of cl, or nil.
func (c *Controller) cartridgeOf(cl *cluster) *model.Cartridge {
	if cl == nil {
		return nil
	}
	return c.cartridges[cl.Spec.ServiceName]
}

// unlessFirst is ip, or nil when it is the first of ips (or both are empty).
func unlessFirst(ip string, ips []string) *string {
	if (len(ips) == 0 && ip == "") || (len(ips) > 0 && ips[0] == ip) {
		return nil
	}
	return &ip
}

// unpackMember is the member whose id is id and whose record holds s; load calls it once the
// clusters are loaded.
func (c *Controller) unpackMember(id string, s *storedMember) *model.Member {
	m := &model.Member{ServiceName: s.ServiceName, ClusterID: s.ClusterID, MemberID: id, ClusterInstanceID: s.ClusterInstanceID,
		NetworkPartitionID: s.NetworkPartitionID, PartitionID: s.PartitionID, InstanceID: id, InitTime: s.InitTime,
		PortMap: s.PortMap, MemberPublicIPs: s.MemberPublicIPs, MemberPrivateIPs: s.MemberPrivateIPs, Properties: s.Properties,
		LbClusterID: s.LbClusterID, LoadBalancingIPType: s.LoadBalancingIPType,
		MemberStateManager: model.StateManager[model.MemberStatus]{StateStack: s.States, Identifier: id}}
	m.ShareStack()
	if m.ClusterID == "" {
		m.ClusterID, _ = model.MemberClusterID(id)
	}
	cl := c.clusters[m.ClusterID]
	if m.ServiceName == "" && cl != nil {
		m.ServiceName = cl.Spec.ServiceName
	}
	if s.InstanceID != nil {
		m.InstanceID = *s.InstanceID
	}
	if s.Identifier != nil {
		m.MemberStateManager.Identifier = *s.Identifier
	}
	if ct := c.cartridgeOf(cl); s.ClusterPorts && ct != nil {
		m.PortMap = cl.portMapOf(ct)
	}
	m.DefaultPublicIP = orFirst(s.DefaultPublicIP, m.MemberPublicIPs)
	m.DefaultPrivateIP = orFirst(s.DefaultPrivateIP, m.MemberPrivateIPs)
	return m
}

// orFirst is *ip, or the first of ips when ip is nil.
func orFirst(ip *string, ips []string) string {
	switch {
	case ip != nil:
		return *ip
	case len(ips) > 0:
		return ips[0]
	}
	return ""
}
