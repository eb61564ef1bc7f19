package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Cartridge definitions (docs/stratos-wire.md §5.5) as DevOps write them and the REST API carries them.
// The JSON tags are the Stratos keys, so the Stratos sample files decode with encoding/json as they
// are; numbers and booleans may be written as strings ("port": "8080", "multiTenant": "false").

// ErrInvalidCartridge is wrapped by every problem Cartridge.Validate reports.
var ErrInvalidCartridge = errors.New("model: invalid cartridge")

// NameValue is one {"name": ..., "value": ...} entry of a Stratos property list (cartridge,
// IaaS provider, network partition and partition properties). A value written as a number or a
// bool is kept as written.
type NameValue struct {
	Name  string `json:"name"`
	Value String `json:"value"`
}

// LookupProperty returns the value of the first entry named name.
func LookupProperty(props []NameValue, name string) (string, bool) {
	for _, p := range props {
		if p.Name == name {
			return string(p.Value), true
		}
	}
	return "", false
}

// PayloadParameters returns the entries named PayloadParameterPrefix+X as payload pairs X=value,
// in order (§5.2, §5.5, §7.2).
func PayloadParameters(props []NameValue) Payload {
	var p Payload
	for _, nv := range props {
		if k, ok := strings.CutPrefix(nv.Name, PayloadParameterPrefix); ok && k != "" {
			p.Set(k, string(nv.Value))
		}
	}
	return p
}

// Cartridge is a deployable runtime (CartridgeBean): its type becomes the topology service name.
type Cartridge struct {
	Type                string         `json:"type"`
	Provider            string         `json:"provider,omitempty"`
	Category            string         `json:"category,omitempty"`
	Host                string         `json:"host,omitempty"`
	DisplayName         string         `json:"displayName,omitempty"`
	Description         string         `json:"description,omitempty"`
	Version             String         `json:"version,omitempty"`
	MultiTenant         Bool           `json:"multiTenant"`
	LoadBalancingIPType string         `json:"loadBalancingIPType,omitempty"` // "private" (default) or "public"
	PortMapping         []PortMapping  `json:"portMapping,omitempty"`
	Deployment          *Deployment    `json:"deployment,omitempty"`
	IaasProvider        []IaasProvider `json:"iaasProvider,omitempty"`
	Persistence         *Persistence   `json:"persistence,omitempty"`
	MetadataKeys        []string       `json:"metadataKeys,omitempty"`
	Property            []NameValue    `json:"property,omitempty"`
}

// PortMapping is one member port (PortMappingBean). Port is the member's port, ProxyPort the
// load balancer's; the topology keys port maps by ProxyPort.
type PortMapping struct {
	Name               string `json:"name,omitempty"`
	Protocol           string `json:"protocol"`
	Port               Int    `json:"port"`
	ProxyPort          Int    `json:"proxyPort"`
	KubernetesPortType string `json:"kubernetesPortType,omitempty"`
}

// Deployment says where the cartridge's application lives; BaseDir becomes APPLICATION_PATH.
type Deployment struct {
	BaseDir string   `json:"baseDir,omitempty"`
	Dir     []string `json:"dir,omitempty"`
}

// IaasProvider holds a cartridge's launch settings for one IaaS type (IaasProviderBean).
type IaasProvider struct {
	Type              string             `json:"type"`
	Name              string             `json:"name,omitempty"`
	ClassName         string             `json:"className,omitempty"`
	ImageID           string             `json:"imageId,omitempty"`
	Provider          string             `json:"provider,omitempty"`
	Identity          string             `json:"identity,omitempty"`
	Credential        string             `json:"credential,omitempty"`
	Property          []NameValue        `json:"property,omitempty"`
	NetworkInterfaces []NetworkInterface `json:"networkInterfaces,omitempty"`
}

// NetworkInterface is one network a member is attached to (NetworkInterfaceBean).
type NetworkInterface struct {
	NetworkUUID      string            `json:"networkUuid,omitempty"`
	FixedIP          string            `json:"fixedIp,omitempty"`
	PortUUID         string            `json:"portUuid,omitempty"`
	FloatingNetworks []FloatingNetwork `json:"floatingNetworks,omitempty"`
}

// FloatingNetwork is a floating-IP network of a network interface.
type FloatingNetwork struct {
	Name        string `json:"name,omitempty"`
	NetworkUUID string `json:"networkUuid,omitempty"`
	FloatingIP  string `json:"floatingIP,omitempty"`
}

// Persistence lists a cartridge's volumes (PersistenceBean). Decoding accepts the REST key
// "required" and the console's "isRequired"; encoding writes "required".
type Persistence struct {
	Required Bool     `json:"required"`
	Volume   []Volume `json:"volume,omitempty"`
}

// persistenceJSON is what Persistence decodes from.
type persistenceJSON struct {
	Required   *Bool    `json:"required"`
	IsRequired *Bool    `json:"isRequired"`
	Volume     []Volume `json:"volume"`
}

// JSONShape is the struct Persistence is decoded from, for the REST API's OpenAPI schema.
func (Persistence) JSONShape() any { return persistenceJSON{} }

// UnmarshalJSON accepts "required" or "isRequired" (docs/stratos-wire.md §5.5).
func (p *Persistence) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "null" {
		return nil
	}
	var f persistenceJSON
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("model: persistence: %w", err)
	}
	*p = Persistence{Volume: f.Volume}
	switch {
	case f.Required != nil:
		p.Required = *f.Required
	case f.IsRequired != nil:
		p.Required = *f.IsRequired
	}
	return nil
}

// Volume is one persistent volume (VolumeBean). Size is in GB.
type Volume struct {
	ID                  string `json:"id,omitempty"`
	Size                Int    `json:"size,omitempty"`
	Device              string `json:"device,omitempty"`
	RemoveOnTermination Bool   `json:"removeOnTermination"`
	MappingPath         string `json:"mappingPath,omitempty"`
	SnapshotID          string `json:"snapshotId,omitempty"`
	VolumeID            string `json:"volumeId,omitempty"`
}

// IaasProviderOf returns the cartridge's settings for an IaaS type, or nil.
func (c *Cartridge) IaasProviderOf(typ string) *IaasProvider {
	for i := range c.IaasProvider {
		if c.IaasProvider[i].Type == typ {
			return &c.IaasProvider[i]
		}
	}
	return nil
}

// PortMap is the cartridge's port mappings as a topology port map keyed by proxy port
// (Port{protocol, value = port, proxy = proxyPort}), as the cloud controller puts it into
// MemberActivatedEvent and the service.
func (c *Cartridge) PortMap() PortMap {
	m := make(PortMap, len(c.PortMapping))
	for _, pm := range c.PortMapping {
		m[int(pm.ProxyPort)] = Port{Protocol: pm.Protocol, Value: pm.Port, Proxy: pm.ProxyPort}
	}
	return m
}

// ValidName reports whether s can serve as a cartridge type, network partition or partition id:
// non-empty, at most 128 bytes of letters, digits, '.', '_' and '-'. Ids travel in MQTT topics,
// cluster ids and payload values, where other characters break something.
func ValidName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Validate reports every problem of the definition, joined; each wraps ErrInvalidCartridge.
func (c *Cartridge) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidCartridge}, args...)...))
	}
	if !ValidName(c.Type) {
		bad("type %q must be 1-128 letters, digits, '.', '_' or '-'", c.Type)
	}
	switch strings.ToLower(c.LoadBalancingIPType) {
	case "", "private", "public":
	default:
		bad("loadBalancingIPType %q must be private or public", c.LoadBalancingIPType)
	}
	proxies := map[Int]int{}
	for i, pm := range c.PortMapping {
		if pm.Protocol == "" {
			bad("portMapping[%d]: protocol is required", i)
		}
		if pm.Port < 1 || pm.Port > 65535 {
			bad("portMapping[%d]: port %d out of range 1-65535", i, pm.Port)
		}
		if pm.ProxyPort < 0 || pm.ProxyPort > 65535 {
			bad("portMapping[%d]: proxyPort %d out of range 0-65535", i, pm.ProxyPort)
		}
		if j, dup := proxies[pm.ProxyPort]; dup && pm.ProxyPort != 0 {
			bad("portMapping[%d]: proxyPort %d already used by portMapping[%d]", i, pm.ProxyPort, j)
		} else {
			proxies[pm.ProxyPort] = i
		}
		if strings.ContainsAny(pm.Name+pm.Protocol+pm.KubernetesPortType, ",=|;:") {
			bad("portMapping[%d]: name, protocol and kubernetesPortType must not contain , = | ; or :", i)
		}
	}
	if len(c.IaasProvider) == 0 {
		bad("at least one iaasProvider is required")
	}
	types := map[string]int{}
	for i, p := range c.IaasProvider {
		if p.Type == "" {
			bad("iaasProvider[%d]: type is required", i)
		} else if j, dup := types[p.Type]; dup {
			bad("iaasProvider[%d]: type %q already given by iaasProvider[%d]", i, p.Type, j)
		} else {
			types[p.Type] = i
		}
		errs = append(errs, validateProperties(ErrInvalidCartridge, fmt.Sprintf("iaasProvider[%d].property", i), p.Property)...)
	}
	if p := c.Persistence; p != nil && bool(p.Required) {
		if len(p.Volume) == 0 {
			bad("persistence: required but no volume given")
		}
		for i, v := range p.Volume {
			if v.Size < 0 {
				bad("persistence.volume[%d]: size %d is negative", i, v.Size)
			}
			if v.Size == 0 && v.SnapshotID == "" && v.VolumeID == "" {
				bad("persistence.volume[%d]: needs a size, a snapshotId or a volumeId", i)
			}
			if v.Device == "" {
				bad("persistence.volume[%d]: device is required", i)
			}
		}
	}
	for i, k := range c.MetadataKeys {
		if k == "" {
			bad("metadataKeys[%d] is empty", i)
		}
	}
	errs = append(errs, validateProperties(ErrInvalidCartridge, "property", c.Property)...)
	return errors.Join(errs...)
}

// validateProperties checks names and, for payload parameters, that the value survives the
// launch-params format (§7.1).
func validateProperties(sentinel error, where string, props []NameValue) []error {
	var errs []error
	for i, p := range props {
		if p.Name == "" {
			errs = append(errs, fmt.Errorf("%w: %s[%d]: name is required", sentinel, where, i))
			continue
		}
		if k, ok := strings.CutPrefix(p.Name, PayloadParameterPrefix); ok {
			if r := checkKey(k); r != "" {
				errs = append(errs, fmt.Errorf("%w: %s[%d] %q: payload key: %s", sentinel, where, i, p.Name, r))
			}
			if strings.ContainsAny(string(p.Value), ",=\r\n") {
				errs = append(errs, fmt.Errorf("%w: %s[%d] %q: a payload value must not contain ',', '=' or a line break", sentinel, where, i, p.Name))
			}
		}
	}
	return errs
}
