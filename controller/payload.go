package controller

import (
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/strata-paas/strata/internal/model"
)

// memberParams are the member-level payload values (§7.2, "appended by CC").
type memberParams struct {
	memberID, clusterInstanceID, partitionID string
	minCount                                 int
	scalingDecisionID                        string
	credentials                              *Credentials // the member's own; nil: the cluster's
}

// buildPayload assembles a member's launch parameters (docs/stratos-wire.md §7.2). Later entries
// replace earlier ones with the same key:
//  1. Options.Payload, then the platform's coordinates (MB_*, CEP_*) and the member's
//     credentials (Options.MemberCredentials) or else the cluster's;
//  2. the cluster level that Stratos' autoscaler builds: APPLICATION_ID, SERVICE_NAME,
//     HOST_NAME, MULTITENANT, TENANT_ID, TENANT_RANGE, CARTRIDGE_ALIAS, CLUSTER_ID, DEPLOYMENT,
//     APPLICATION_PATH, PORTS, PORT_MAPPINGS, PROVIDER;
//  3. the cartridge's payload_parameter.X properties, then the cluster's, then ClusterSpec.Payload;
//  4. the member level: MEMBER_ID, INSTANCE_ID (the member id: the IaaS id is not known before
//     the start, and the mock uses the member id), CLUSTER_INSTANCE_ID, LB_CLUSTER_ID,
//     NETWORK_PARTITION_ID, PARTITION_ID, INTERNAL, MIN_COUNT, SCALING_DECISION_ID;
//  5. the network partition's payload_parameter.X properties (replacing, as Stratos does), and
//     PERSISTENCE_MAPPING when the cartridge has volumes.
//
// np is nil when CreateCluster checks the cluster-level part.
func (c *Controller) buildPayload(cl *cluster, ct *model.Cartridge, np *model.NetworkPartition, mp memberParams) model.Payload {
	p := make(model.Payload, 0, 48)
	for _, kv := range c.opts.Payload {
		p.Set(kv.Key, kv.Value)
	}
	if len(c.opts.MBURLs) > 0 {
		u := strings.TrimPrefix(strings.TrimPrefix(c.opts.MBURLs[0], "tcp://"), "mqtt://")
		p.Set(model.PayloadMBURLs, u)
		if h, port, err := net.SplitHostPort(u); err == nil {
			p.Set(model.PayloadMBIP, h)
			p.Set(model.PayloadMBPort, port)
		}
	}
	if len(c.opts.CEPURLs) > 0 {
		u := strings.TrimPrefix(strings.TrimPrefix(c.opts.CEPURLs[0], "ssl://"), "tls://")
		p.Set(model.PayloadCEPURLs, u)
		if h, port, err := net.SplitHostPort(u); err == nil {
			p.Set(model.PayloadCEPIP, h)
			p.Set(model.PayloadCEPPort, port)
		}
	}
	cr := cl.Credentials
	if mp.credentials != nil {
		cr = *mp.credentials
	}
	setIf(&p, model.PayloadMBUsername, cr.MBUsername)
	setIf(&p, model.PayloadMBPassword, cr.MBPassword)
	setIf(&p, model.PayloadCEPUsername, cr.CEPUsername)
	setIf(&p, model.PayloadCEPPassword, cr.CEPPassword)
	setIf(&p, model.PayloadCEPAdminUsername, cr.CEPUsername)
	setIf(&p, model.PayloadCEPAdminPassword, cr.CEPPassword)

	s := &cl.Spec
	p.Set(model.PayloadApplicationID, s.AppID)
	p.Set(model.PayloadServiceName, ct.Type)
	if len(cl.Cluster.HostNames) > 0 {
		p.Set(model.PayloadHostName, cl.Cluster.HostNames[0])
	}
	p.Set(model.PayloadMultitenant, strconv.FormatBool(bool(ct.MultiTenant)))
	p.Set(model.PayloadTenantID, s.TenantID)
	p.Set(model.PayloadTenantRange, cl.Cluster.TenantRange)
	setIf(&p, model.PayloadCartridgeAlias, s.Alias)
	p.Set(model.PayloadClusterID, s.ClusterID)
	p.Set(model.PayloadDeployment, "default")
	if ct.Deployment != nil {
		setIf(&p, model.PayloadApplicationPath, ct.Deployment.BaseDir)
	}
	ports := make([]string, 0, len(ct.PortMapping))
	mappings := make([]string, 0, len(ct.PortMapping))
	for _, pm := range ct.PortMapping {
		port := strconv.Itoa(int(pm.Port))
		ports = append(ports, port)
		mappings = append(mappings, "NAME:"+pm.Name+"|PROTOCOL:"+pm.Protocol+"|PORT:"+port+
			"|PROXY_PORT:"+strconv.Itoa(int(pm.ProxyPort))+"|TYPE:"+pm.KubernetesPortType)
	}
	if len(ports) > 0 {
		p.Set(model.PayloadPorts, strings.Join(ports, "|"))
		p.Set(model.PayloadPortMappings, strings.Join(mappings, ";"))
	}
	setIf(&p, model.PayloadProvider, ct.Provider)

	for _, kv := range model.PayloadParameters(ct.Property) {
		p.Set(kv.Key, kv.Value)
	}
	for _, kv := range model.PayloadParameters(s.Properties) {
		p.Set(kv.Key, kv.Value)
	}
	for _, kv := range s.Payload {
		p.Set(kv.Key, kv.Value)
	}

	p.Set(model.PayloadMemberID, mp.memberID)
	p.Set(model.PayloadInstanceID, mp.memberID)
	p.Set(model.PayloadClusterInstanceID, mp.clusterInstanceID)
	setIf(&p, model.PayloadLBClusterID, s.LBClusterID)
	if np != nil {
		p.Set(model.PayloadNetworkPartitionID, np.ID)
	}
	p.Set(model.PayloadPartitionID, mp.partitionID)
	p.Set(model.PayloadInternal, "false")
	p.Set(model.PayloadMinCount, strconv.Itoa(mp.minCount))
	setIf(&p, model.PayloadScalingDecisionID, mp.scalingDecisionID)
	if np != nil {
		for _, kv := range model.PayloadParameters(np.Properties) {
			p.Set(kv.Key, kv.Value)
		}
	}
	if ct.Persistence != nil && bool(ct.Persistence.Required) && len(ct.Persistence.Volume) > 0 {
		var m []string
		for _, v := range ct.Persistence.Volume {
			m = append(m, v.Device, v.MappingPath)
		}
		p.Set(model.PayloadPersistenceMapping, strings.Join(m, "|"))
	}
	return slices.Clip(p)
}

func setIf(p *model.Payload, key, value string) {
	if value != "" {
		p.Set(key, value)
	}
}

// clusterLevelMissing filters Payload.Missing for CreateCluster: the broker and CEP keys may
// still come from a network partition's payload parameters, so they are checked per member.
func clusterLevelMissing(p model.Payload) []string {
	var out []string
	for _, k := range p.Missing() {
		if strings.HasPrefix(k, "MB_") || strings.HasPrefix(k, "CEP_") {
			continue
		}
		out = append(out, k)
	}
	return out
}
