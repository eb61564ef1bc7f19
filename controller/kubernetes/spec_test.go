package kubernetes

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/model"
)

func testInstance() controller.Instance {
	clusterID := "sample-app.php1.php.domain"
	memberID := model.NewMemberID(clusterID)
	ct := &model.Cartridge{Type: "php", PortMapping: []model.PortMapping{
		{Name: "http-80", Protocol: "http", Port: 8080, ProxyPort: 8280},
		{Name: "dns", Protocol: "udp", Port: 53, ProxyPort: 0, KubernetesPortType: "ClusterIP"},
	}, IaasProvider: []model.IaasProvider{{Type: Type, ImageID: "strata/php:1", Property: []model.NameValue{
		{Name: PropertyCommand, Value: "exec php-server"},
		{Name: PropertyCPU, Value: "250m"},
		{Name: PropertyMemory, Value: "128Mi"},
		{Name: PropertyNodeSelector, Value: "zone=a"},
	}}}}
	var p model.Payload
	p.Set(model.PayloadApplicationID, "sample-app")
	p.Set(model.PayloadMemberID, memberID)
	p.Set(model.PayloadMBPassword, "secret")
	p.Set("listen.address", "0.0.0.0")
	return controller.Instance{MemberID: memberID, ClusterID: clusterID, ClusterInstanceID: "sample-app-1",
		ServiceName: "php", NetworkPartitionID: "np-k8s", PartitionID: "P1", Cartridge: ct, IaaS: &ct.IaasProvider[0],
		Partition: &model.Partition{ID: "P1", Property: []model.NameValue{
			{Name: PropertyCluster, Value: "k8s-1"},
			{Name: PropertyNodeSelector, Value: "zone=b,disk=ssd"},
			{Name: PropertyTolerations, Value: "dedicated=strata:NoSchedule,gpu:NoExecute"},
		}},
		Payload: p}
}

// The pod carries the member's labels (label-safe) and exact ids, the payload as environment
// variables and as the mounted launch-params Secret, and the cartridge's and partition's
// settings (the partition's node selector replaces the cartridge's).
func TestPodFor(t *testing.T) {
	in := testInstance()
	in.Payload.Set("MY-KEY", "x") // not an environment name (model.IsEnvName): the file carries it
	s := &spec{in: in, namespace: "strata", clusterID: "k8s-1", payload: in.Payload, gracePeriod: 30}
	pod, err := podFor(s)
	if err != nil {
		t.Fatal(err)
	}
	if errs := validation.IsDNS1123Subdomain(pod.Name); len(errs) > 0 {
		t.Errorf("pod name %q: %v", pod.Name, errs)
	}
	for k, v := range pod.Labels {
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			t.Errorf("label %s=%q: %v", k, v, errs)
		}
	}
	want := map[string]string{LabelManagedBy: ManagedBy, LabelApplication: "sample-app", LabelCluster: in.ClusterID,
		LabelClusterInstance: "sample-app-1", LabelPartition: "P1"}
	for k, v := range want {
		if pod.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, pod.Labels[k], v)
		}
	}
	if pod.Annotations[LabelMember] != in.MemberID || pod.Labels[LabelMember] == "" {
		t.Errorf("member annotation %q label %q", pod.Annotations[LabelMember], pod.Labels[LabelMember])
	}
	c := pod.Spec.Containers[0]
	if c.Image != "strata/php:1" || strings.Join(c.Command, " ") != "/bin/sh -c exec php-server" {
		t.Errorf("image %q command %q", c.Image, c.Command)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env[model.PayloadMemberID] != in.MemberID || env[model.PayloadMBPassword] != "secret" || env[model.EnvLaunchParams] != LaunchParamsFile {
		t.Errorf("env %v", env)
	}
	for _, k := range []string{"listen.address", "MY-KEY"} {
		if _, ok := env[k]; ok {
			t.Errorf("the key %q went into the environment", k)
		}
	}
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != LaunchParamsDir ||
		pod.Spec.Volumes[0].Secret == nil || pod.Spec.Volumes[0].Secret.SecretName != pod.Name {
		t.Errorf("launch-params volume %+v mount %+v", pod.Spec.Volumes, c.VolumeMounts)
	}
	if len(c.Ports) != 2 || c.Ports[0].ContainerPort != 8080 || c.Ports[1].Protocol != corev1.ProtocolUDP {
		t.Errorf("ports %+v", c.Ports)
	}
	if q := c.Resources.Limits[corev1.ResourceCPU]; q.Cmp(resource.MustParse("250m")) != 0 {
		t.Errorf("cpu limit %v", q.String())
	}
	if len(pod.Spec.NodeSelector) != 2 || pod.Spec.NodeSelector["zone"] != "b" || pod.Spec.NodeSelector["disk"] != "ssd" {
		t.Errorf("node selector %v", pod.Spec.NodeSelector)
	}
	wantTol := []corev1.Toleration{
		{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "strata", Effect: corev1.TaintEffectNoSchedule},
		{Key: "gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	}
	if len(pod.Spec.Tolerations) != 2 || pod.Spec.Tolerations[0] != wantTol[0] || pod.Spec.Tolerations[1] != wantTol[1] {
		t.Errorf("tolerations %+v", pod.Spec.Tolerations)
	}
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever || *pod.Spec.TerminationGracePeriodSeconds != 30 {
		t.Errorf("restart policy %s grace %d", pod.Spec.RestartPolicy, *pod.Spec.TerminationGracePeriodSeconds)
	}

	sec := secretFor(s)
	lp, err := model.ParsePayload(strings.NewReader(sec.StringData["launch-params"]))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := lp.Get("listen.address"); v != "0.0.0.0" {
		t.Errorf("launch-params %v", lp)
	}
}

// Bad properties are refused before anything is created.
func TestPodForRefusesBadProperties(t *testing.T) {
	for name, props := range map[string][]model.NameValue{
		"cpu":          {{Name: PropertyCPU, Value: "lots"}},
		"selector":     {{Name: PropertyNodeSelector, Value: "zone"}},
		"toleration":   {{Name: PropertyTolerations, Value: "a:Sometimes"}},
		"pull policy":  {{Name: PropertyImagePullPolicy, Value: "Maybe"}},
		"grace period": {{Name: PropertyGracePeriod, Value: "-1"}},
	} {
		in := testInstance()
		in.Partition = &model.Partition{ID: "P1", Property: props}
		if _, err := podFor(&spec{in: in, payload: in.Payload}); err == nil {
			t.Errorf("%s: %v accepted", name, props)
		}
	}
	in := testInstance()
	in.IaaS = &model.IaasProvider{Type: Type}
	if _, err := podFor(&spec{in: in, payload: in.Payload}); err == nil || !strings.Contains(err.Error(), "imageId") {
		t.Errorf("no image: %v", err)
	}
}

// Ids that are too long or hold other characters still make valid names and label values, and
// two ids that differ make different ones.
func TestNamesAreValid(t *testing.T) {
	long := strings.Repeat("Very_Long.Application", 20) + model.NewUUID()
	for _, id := range []string{long, "UPPER.case", "-x-", "a", long + "x"} {
		if errs := validation.IsDNS1123Subdomain(podName(id)); len(errs) > 0 {
			t.Errorf("podName(%q) = %q: %v", id, podName(id), errs)
		}
		if errs := validation.IsDNS1123Label(hostName(id)); len(errs) > 0 {
			t.Errorf("hostName(%q) = %q: %v", id, hostName(id), errs)
		}
		if errs := validation.IsValidLabelValue(labelValue(id)); len(errs) > 0 {
			t.Errorf("labelValue(%q) = %q: %v", id, labelValue(id), errs)
		}
		if errs := validation.IsDNS1035Label(serviceName(id, model.PortMapping{Port: 8080})); len(errs) > 0 {
			t.Errorf("serviceName(%q): %v", id, errs)
		}
	}
	if labelValue(long) == labelValue(long+"x") || podName(long) == podName(long+"x") {
		t.Error("long ids collide")
	}
}

// The pod's phase and container states say when a member is over and why.
func TestEnded(t *testing.T) {
	term := func(code int32, reason string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: "cartridge", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason}}}
	}
	for _, tc := range []struct {
		status corev1.PodStatus
		want   string // "" = not over
	}{
		{corev1.PodStatus{Phase: corev1.PodPending}, ""},
		{corev1.PodStatus{Phase: corev1.PodRunning}, ""},
		{corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{term(3, "Error")}}, "container cartridge: exit code 3 (Error)"},
		{corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{term(0, "Completed")}}, "container cartridge: exit code 0 (Completed)"},
		{corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "The node was low on memory.\nmore"}, "pod evicted: The node was low on memory."},
		{corev1.PodStatus{Phase: corev1.PodFailed, Reason: "DeadlineExceeded"}, "pod failed: DeadlineExceeded"},
	} {
		r, over := ended(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: tc.status})
		if over != (tc.want != "") || r != tc.want {
			t.Errorf("%+v: %q %v, want %q", tc.status, r, over, tc.want)
		}
	}
}

// A port's service is a NodePort unless its mapping or the serviceType property says ClusterIP.
func TestServiceFor(t *testing.T) {
	in := testInstance()
	s := &spec{in: in, namespace: "strata", payload: in.Payload}
	pms := in.Cartridge.PortMapping
	typ, err := s.serviceType(pms[0])
	if err != nil || typ != corev1.ServiceTypeNodePort {
		t.Fatalf("%s %v", typ, err)
	}
	svc := serviceFor(s, pms[0], typ, 30080)
	if svc.Spec.Ports[0].NodePort != 30080 || svc.Spec.Ports[0].TargetPort.IntValue() != 8080 ||
		svc.Spec.Selector[LabelCluster] != labelValue(in.ClusterID) || svc.Spec.Selector[LabelManagedBy] != ManagedBy {
		t.Errorf("service %+v", svc.Spec)
	}
	if typ, err := s.serviceType(pms[1]); err != nil || typ != corev1.ServiceTypeClusterIP {
		t.Errorf("%s %v", typ, err)
	}
	s.in.Partition = &model.Partition{ID: "P1", Property: []model.NameValue{{Name: PropertyServiceType, Value: "clusterip"}}}
	if typ, err := s.serviceType(pms[0]); err != nil || typ != corev1.ServiceTypeClusterIP {
		t.Errorf("%s %v", typ, err)
	}
	s.in.Partition.Property[0].Value = "LoadBalancer"
	if _, err := s.serviceType(pms[0]); err == nil {
		t.Error("LoadBalancer accepted")
	}
}

func TestInstanceID(t *testing.T) {
	c := &conn{id: "k8s-1", namespace: "strata"}
	cl, ns, pod, err := parseInstanceID(instanceID(c, "m-1"))
	if err != nil || cl != "k8s-1" || ns != "strata" || pod != "m-1" {
		t.Errorf("%s %s %s %v", cl, ns, pod, err)
	}
	if _, _, _, err := parseInstanceID("m-1"); err == nil {
		t.Error("a bare id parsed")
	}
}

// The example cluster definition (examples/kubernetes) decodes strictly into what
// /api/kubernetesClusters takes, validates, and says how the driver reaches the cluster.
func TestExampleClusterDefinition(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "kubernetes", "kubernetes-cluster.json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var def model.KubernetesCluster
	if err := dec.Decode(&def); err != nil {
		t.Fatal(err)
	}
	if err := def.Validate(); err != nil {
		t.Fatal(err)
	}
	if v, _ := model.LookupProperty(def.Property, PropertyInCluster); v != "true" {
		t.Errorf("inCluster = %q", v)
	}
	if v, _ := model.LookupProperty(def.Property, PropertyNamespace); v == "" {
		t.Error("no namespace")
	}
}
