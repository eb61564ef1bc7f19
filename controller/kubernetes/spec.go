package kubernetes

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/model"
)

// Labels every pod, secret and service of Strata carries. Their values are label-safe forms of
// the ids (labelValue); the exact ids are in the annotations of the same names.
const (
	LabelManagedBy       = "app.kubernetes.io/managed-by" // always ManagedBy
	LabelApplication     = "strata.io/application"
	LabelCluster         = "strata.io/cluster"
	LabelClusterInstance = "strata.io/cluster-instance"
	LabelMember          = "strata.io/member"
	LabelPartition       = "strata.io/partition"
	ManagedBy            = "strata"
)

// Properties of a cartridge's iaasProvider entry of type kubernetes; a partition property of the
// same name replaces the cartridge's. The image is the entry's imageId.
const (
	PropertyCommand         = "command"         // run with /bin/sh -c instead of the image's entrypoint
	PropertyCPU             = "cpu"             // requested and limited CPU, e.g. "500m"
	PropertyMemory          = "memory"          // requested and limited memory, e.g. "256Mi"
	PropertyNodeSelector    = "nodeSelector"    // "key=value,key2=value2"
	PropertyTolerations     = "tolerations"     // "key=value:Effect,key:Effect,:Effect"
	PropertyImagePullPolicy = "imagePullPolicy" // Always, IfNotPresent or Never
	PropertyServiceType     = "serviceType"     // NodePort (default) or ClusterIP
	PropertyGracePeriod     = "gracePeriod"     // the pod's termination grace period in seconds
)

// PropertyCluster is the partition property that names the Kubernetes cluster definition
// (POST /api/kubernetesClusters) the partition's members run on.
const PropertyCluster = "cluster"

// Where the launch-params file is mounted in the container (model.EnvLaunchParams names it in the
// container's environment; model.EnvMemberIP is the pod's IP, from the downward API).
const (
	LaunchParamsDir  = "/etc/strata"
	LaunchParamsFile = LaunchParamsDir + "/launch-params"
)

// spec is what a pod is built from: the Instance and the settings of its cluster.
type spec struct {
	in          controller.Instance
	namespace   string
	clusterID   string // the Kubernetes cluster definition
	payload     model.Payload
	gracePeriod int64
}

// property returns a kubernetes property: the partition's, else the cartridge's iaasProvider's.
func (s *spec) property(name string) (string, bool) {
	if s.in.Partition != nil {
		if v, ok := model.LookupProperty(s.in.Partition.Property, name); ok {
			return v, true
		}
	}
	if s.in.IaaS != nil {
		return model.LookupProperty(s.in.IaaS.Property, name)
	}
	return "", false
}

// podName is a member's pod name: the member id made a DNS-1123 subdomain.
func podName(memberID string) string {
	return dnsName(memberID, 253)
}

// hostName is a member's pod hostname: a DNS-1123 label (no dots, at most 63 characters), so
// the pod name (a subdomain with dots) is not used for it.
func hostName(memberID string) string {
	return strings.Trim(strings.ReplaceAll(dnsName(memberID, 63), ".", "-"), "-")
}

// dnsName lowercases s and replaces what a DNS-1123 name may not hold by '-'; a name over max
// characters keeps its head and a hash of the whole.
func dnsName(s string, max int) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			b[i] = '-'
		}
	}
	out := strings.Trim(string(b), "-.")
	if len(out) > max {
		out = strings.TrimRight(out[:min(len(out), max-11)], "-.") + "-" + shortHash(s)
	}
	if out == "" {
		out = "m-" + shortHash(s)
	}
	return out
}

// labelValue makes an id a label value (at most 63 letters, digits, '-', '_' or '.', alphanumeric
// at both ends): an id that is one already is kept; any other keeps a head and a hash of the whole.
func labelValue(id string) string {
	ok := len(id) <= 63
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
	}
	if ok && (id == "" || isAlnum(id[0]) && isAlnum(id[len(id)-1])) {
		return id
	}
	b := []byte(id)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '-'
		}
	}
	head := strings.Trim(string(b[:min(len(b), 52)]), "-_.")
	if head == "" {
		return shortHash(id)
	}
	return head + "-" + shortHash(id)
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:5])
}

// memberLabels are the labels of a member's pod and secret.
func memberLabels(in *controller.Instance) map[string]string {
	appID, _ := in.Payload.Get(model.PayloadApplicationID)
	return map[string]string{
		LabelManagedBy:       ManagedBy,
		LabelApplication:     labelValue(appID),
		LabelCluster:         labelValue(in.ClusterID),
		LabelClusterInstance: labelValue(in.ClusterInstanceID),
		LabelMember:          labelValue(in.MemberID),
		LabelPartition:       labelValue(in.PartitionID),
	}
}

// memberAnnotations hold the exact ids the labels shorten.
func memberAnnotations(in *controller.Instance) map[string]string {
	appID, _ := in.Payload.Get(model.PayloadApplicationID)
	return map[string]string{
		LabelApplication:              appID,
		LabelCluster:                  in.ClusterID,
		LabelClusterInstance:          in.ClusterInstanceID,
		LabelMember:                   in.MemberID,
		LabelPartition:                in.PartitionID,
		"strata.io/network-partition": in.NetworkPartitionID,
	}
}

// secretFor is the Secret holding a member's launch-params (the payload holds credentials).
func secretFor(s *spec) *corev1.Secret {
	var b strings.Builder
	s.payload.WriteTo(&b)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: podName(s.in.MemberID), Namespace: s.namespace,
			Labels: memberLabels(&s.in), Annotations: memberAnnotations(&s.in)},
		Type:       corev1.SecretTypeOpaque,
		StringData: map[string]string{"launch-params": b.String()},
	}
}

// podFor builds a member's pod: the cartridge's image and command, the payload as environment
// variables and as the launch-params file (the Secret secretFor builds, mounted at
// LaunchParamsDir), the cartridge's ports, resources, node selector and tolerations. The pod is
// never restarted by the kubelet: a container that ends ends the member, which the autoscaler
// replaces (with its back-off on crash loops).
func podFor(s *spec) (*corev1.Pod, error) {
	in := &s.in
	if in.IaaS == nil || in.IaaS.ImageID == "" {
		return nil, fmt.Errorf("kubernetes: cartridge %s: its iaasProvider of type %s names no imageId", in.ServiceName, Type)
	}
	name := podName(in.MemberID)
	c := corev1.Container{
		Name:         "cartridge",
		Image:        in.IaaS.ImageID,
		Env:          payloadEnv(s.payload),
		VolumeMounts: []corev1.VolumeMount{{Name: "launch-params", MountPath: LaunchParamsDir, ReadOnly: true}},
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: model.EnvLaunchParams, Value: LaunchParamsFile},
		corev1.EnvVar{Name: model.EnvMemberIP, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}})
	if cmd, ok := s.property(PropertyCommand); ok && strings.TrimSpace(cmd) != "" {
		c.Command = []string{"/bin/sh", "-c", cmd}
	}
	if p, ok := s.property(PropertyImagePullPolicy); ok && p != "" {
		switch pp := corev1.PullPolicy(p); pp {
		case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
			c.ImagePullPolicy = pp
		default:
			return nil, fmt.Errorf("kubernetes: property %s: %q is not Always, IfNotPresent or Never", PropertyImagePullPolicy, p)
		}
	}
	if in.Cartridge != nil {
		for _, pm := range in.Cartridge.PortMapping {
			c.Ports = append(c.Ports, corev1.ContainerPort{Name: portName(pm), ContainerPort: int32(pm.Port), Protocol: protocol(pm.Protocol)})
		}
	}
	res := corev1.ResourceList{}
	for _, r := range []struct {
		prop string
		name corev1.ResourceName
	}{{PropertyCPU, corev1.ResourceCPU}, {PropertyMemory, corev1.ResourceMemory}} {
		v, ok := s.property(r.prop)
		if !ok || v == "" {
			continue
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("kubernetes: property %s: %w", r.prop, err)
		}
		res[r.name] = q
	}
	if len(res) > 0 {
		c.Resources = corev1.ResourceRequirements{Requests: res, Limits: res.DeepCopy()}
	}
	var selector map[string]string
	if v, ok := s.property(PropertyNodeSelector); ok && v != "" {
		var err error
		if selector, err = parseNodeSelector(v); err != nil {
			return nil, err
		}
	}
	var tolerations []corev1.Toleration
	if v, ok := s.property(PropertyTolerations); ok && v != "" {
		var err error
		if tolerations, err = parseTolerations(v); err != nil {
			return nil, err
		}
	}
	grace := s.gracePeriod
	if v, ok := s.property(PropertyGracePeriod); ok && v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("kubernetes: property %s: %q is not a number of seconds", PropertyGracePeriod, v)
		}
		grace = n
	}
	no := false
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.namespace,
			Labels: memberLabels(in), Annotations: memberAnnotations(in)},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{c},
			RestartPolicy:                 corev1.RestartPolicyNever,
			NodeSelector:                  selector,
			Tolerations:                   tolerations,
			TerminationGracePeriodSeconds: &grace,
			AutomountServiceAccountToken:  &no,
			Hostname:                      hostName(in.MemberID),
			Volumes: []corev1.Volume{{Name: "launch-params", VolumeSource: corev1.VolumeSource{
				Secret: &corev1.SecretVolumeSource{SecretName: name}}}},
		},
	}, nil
}

// payloadEnv is the payload's environment pairs (model.Payload.Env) as the container's
// variables, with room for the two podFor adds.
func payloadEnv(p model.Payload) []corev1.EnvVar {
	env := p.Env()
	out := make([]corev1.EnvVar, len(env), len(env)+2)
	for i, kv := range env {
		out[i] = corev1.EnvVar{Name: kv.Key, Value: kv.Value}
	}
	return out
}

func protocol(p string) corev1.Protocol {
	if strings.EqualFold(p, "udp") {
		return corev1.ProtocolUDP
	}
	return corev1.ProtocolTCP
}

// portName names a container or service port: "p<port>", as a port mapping's own name may not
// be an IANA service name.
func portName(pm model.PortMapping) string { return "p" + strconv.Itoa(int(pm.Port)) }

// parseNodeSelector reads "key=value,key2=value2".
func parseNodeSelector(v string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("kubernetes: property %s: %q is not key=value", PropertyNodeSelector, kv)
		}
		out[k] = val
	}
	return out, nil
}

// parseTolerations reads "key=value:Effect,key:Effect,:Effect": with a value the toleration is
// Equal, without Exists; an empty key tolerates every taint of the effect.
func parseTolerations(v string) ([]corev1.Toleration, error) {
	var out []corev1.Toleration
	for _, t := range strings.Split(v, ",") {
		t = strings.TrimSpace(t)
		kv, effect, _ := strings.Cut(t, ":")
		tol := corev1.Toleration{Operator: corev1.TolerationOpExists}
		if k, val, ok := strings.Cut(kv, "="); ok {
			tol.Key, tol.Value, tol.Operator = k, val, corev1.TolerationOpEqual
		} else {
			tol.Key = kv
		}
		switch e := corev1.TaintEffect(effect); e {
		case "", corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
			tol.Effect = e
		default:
			return nil, fmt.Errorf("kubernetes: property %s: effect %q is not NoSchedule, PreferNoSchedule or NoExecute", PropertyTolerations, effect)
		}
		if tol.Key == "" && tol.Operator == corev1.TolerationOpEqual {
			return nil, fmt.Errorf("kubernetes: property %s: %q has a value but no key", PropertyTolerations, t)
		}
		out = append(out, tol)
	}
	return out, nil
}

// serviceType is the type of a port's service: the port mapping's kubernetesPortType, else the
// serviceType property, else NodePort.
func (s *spec) serviceType(pm model.PortMapping) (corev1.ServiceType, error) {
	t := pm.KubernetesPortType
	if t == "" {
		t, _ = s.property(PropertyServiceType)
	}
	switch {
	case t == "" || strings.EqualFold(t, string(corev1.ServiceTypeNodePort)):
		return corev1.ServiceTypeNodePort, nil
	case strings.EqualFold(t, string(corev1.ServiceTypeClusterIP)):
		return corev1.ServiceTypeClusterIP, nil
	}
	return "", fmt.Errorf("kubernetes: port %d: service type %q is not NodePort or ClusterIP", pm.Port, t)
}

// serviceFor is the Service of one cluster port: it selects the cluster's pods; nodePort 0 lets
// the API server choose.
func serviceFor(s *spec, pm model.PortMapping, typ corev1.ServiceType, nodePort int32) *corev1.Service {
	labels := map[string]string{LabelManagedBy: ManagedBy, LabelCluster: labelValue(s.in.ClusterID)}
	port := corev1.ServicePort{Name: portName(pm), Protocol: protocol(pm.Protocol), Port: int32(pm.Port),
		TargetPort: intstr.FromInt32(int32(pm.Port))}
	if typ == corev1.ServiceTypeNodePort {
		port.NodePort = nodePort
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: serviceName(s.in.ClusterID, pm), Namespace: s.namespace, Labels: labels,
			Annotations: map[string]string{LabelCluster: s.in.ClusterID}},
		Spec: corev1.ServiceSpec{Type: typ, Selector: labels, Ports: []corev1.ServicePort{port}},
	}
}

// serviceName is a cluster port's Service name (a DNS-1035 label: at most 63 characters,
// starting with a letter).
func serviceName(clusterID string, pm model.PortMapping) string {
	suffix := "-" + strconv.Itoa(int(pm.Port))
	head := dnsName(clusterID, 63-len(suffix)-2)
	head = strings.ReplaceAll(head, ".", "-")
	return "s-" + head + suffix
}
