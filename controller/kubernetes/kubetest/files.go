package kubetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Variables the test node adds to every container's environment (under the pod's own): EnvRoot
// names the container's rootfs directory, where its mountPaths are; EnvPodIP the pod's address,
// which a test image's command listens on (no network namespace: 0.0.0.0 would be shared).
const (
	EnvRoot  = "KUBETEST_ROOT"
	EnvPodIP = "KUBETEST_POD_IP"
)

// prepare materializes the pod's volumes under dir/volumes and each container's mounts as
// symbolic links under dir/rootfs/<container>. A ConfigMap or Secret that is missing and not
// optional is an error (the caller retries).
func (p *pod) prepare(ctx context.Context) error {
	in := p.snapshot()
	vols := filepath.Join(p.dir, "volumes")
	if err := mkdir(vols); err != nil {
		return err
	}
	for _, v := range in.Spec.Volumes {
		if err := p.volume(ctx, in, v, filepath.Join(vols, v.Name)); err != nil {
			return fmt.Errorf("volume %s: %w", v.Name, err)
		}
	}
	for _, c := range in.Spec.Containers {
		root := filepath.Join(p.dir, "rootfs", c.Name)
		if err := mkdir(root); err != nil {
			return err
		}
		for _, m := range c.VolumeMounts {
			target := p.volumePath(in, m.Name)
			if target == "" {
				return fmt.Errorf("container %s mounts %s: no such volume", c.Name, m.Name)
			}
			if m.SubPath != "" {
				target = filepath.Join(target, m.SubPath)
				if err := mkdir(target); err != nil {
					return err
				}
			}
			link := filepath.Join(root, m.MountPath)
			if err := mkdir(filepath.Dir(link)); err != nil {
				return err
			}
			_ = os.Remove(link)
			if err := os.Symlink(target, link); err != nil {
				return fmt.Errorf("mount %s: %w", m.MountPath, err)
			}
		}
	}
	return nil
}

// volumePath is where the named volume is on the host: its directory, or a hostPath's path.
func (p *pod) volumePath(in *corev1.Pod, name string) string {
	for _, v := range in.Spec.Volumes {
		if v.Name == name {
			if v.HostPath != nil {
				return v.HostPath.Path
			}
			return filepath.Join(p.dir, "volumes", name)
		}
	}
	return ""
}

// volume writes one volume's files into dir.
func (p *pod) volume(ctx context.Context, in *corev1.Pod, v corev1.Volume, dir string) error {
	switch {
	case v.HostPath != nil:
		return nil
	case v.EmptyDir != nil:
		return mkdir(dir)
	case v.ConfigMap != nil:
		return p.configMapFiles(ctx, dir, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.DefaultMode, v.ConfigMap.Optional)
	case v.Secret != nil:
		return p.secretFiles(ctx, dir, v.Secret.SecretName, v.Secret.Items, v.Secret.DefaultMode, v.Secret.Optional)
	case v.DownwardAPI != nil:
		return p.downwardFiles(in, dir, v.DownwardAPI.Items, v.DownwardAPI.DefaultMode)
	case v.Projected != nil:
		if err := mkdir(dir); err != nil {
			return err
		}
		for _, s := range v.Projected.Sources {
			var err error
			switch {
			case s.ConfigMap != nil:
				err = p.configMapFiles(ctx, dir, s.ConfigMap.Name, s.ConfigMap.Items, v.Projected.DefaultMode, s.ConfigMap.Optional)
			case s.Secret != nil:
				err = p.secretFiles(ctx, dir, s.Secret.Name, s.Secret.Items, v.Projected.DefaultMode, s.Secret.Optional)
			case s.DownwardAPI != nil:
				err = p.downwardFiles(in, dir, s.DownwardAPI.Items, v.Projected.DefaultMode)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("volume type not supported by the test node")
}

func (p *pod) configMapFiles(ctx context.Context, dir, name string, items []corev1.KeyToPath, mode *int32, optional *bool) error {
	cm, err := p.n.client.CoreV1().ConfigMaps(p.ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return mkdir(dir)
	}
	if err != nil {
		return fmt.Errorf("configmap %s: %w", name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return writeKeys(dir, data, items, mode, 0o644)
}

func (p *pod) secretFiles(ctx context.Context, dir, name string, items []corev1.KeyToPath, mode *int32, optional *bool) error {
	s, err := p.n.client.CoreV1().Secrets(p.ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return mkdir(dir)
	}
	if err != nil {
		return fmt.Errorf("secret %s: %w", name, err)
	}
	return writeKeys(dir, s.Data, items, mode, 0o644)
}

// writeKeys writes each key (or each item's key at its path) as a file.
func writeKeys(dir string, data map[string][]byte, items []corev1.KeyToPath, mode *int32, def os.FileMode) error {
	if err := mkdir(dir); err != nil {
		return err
	}
	perm := def
	if mode != nil {
		perm = os.FileMode(*mode)
	}
	if len(items) == 0 {
		for k := range data {
			items = append(items, corev1.KeyToPath{Key: k, Path: k})
		}
	}
	for _, it := range items {
		b, ok := data[it.Key]
		if !ok {
			return fmt.Errorf("no key %q", it.Key)
		}
		m := perm
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		if err := writeFile(filepath.Join(dir, it.Path), b, m); err != nil {
			return err
		}
	}
	return nil
}

func (p *pod) downwardFiles(in *corev1.Pod, dir string, items []corev1.DownwardAPIVolumeFile, mode *int32) error {
	if err := mkdir(dir); err != nil {
		return err
	}
	for _, it := range items {
		var v string
		if it.FieldRef != nil {
			var err error
			if v, err = p.field(in, it.FieldRef.FieldPath); err != nil {
				return err
			}
		}
		m := os.FileMode(0o644)
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		} else if mode != nil {
			m = os.FileMode(*mode)
		}
		if err := writeFile(filepath.Join(dir, it.Path), []byte(v), m); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, b []byte, mode os.FileMode) error {
	if err := mkdir(filepath.Dir(path)); err != nil {
		return err
	}
	if err := os.WriteFile(path, b, mode.Perm()); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// field resolves a downward-API field path of the pod, as env fieldRef and downwardAPI volumes
// name them. A whole map (metadata.labels) is written as sorted key="value" lines.
func (p *pod) field(in *corev1.Pod, path string) (string, error) {
	mapField := func(m map[string]string) string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "%s=%s\n", k, strconv.Quote(m[k]))
		}
		return b.String()
	}
	switch path {
	case "metadata.name":
		return in.Name, nil
	case "metadata.namespace":
		return in.Namespace, nil
	case "metadata.uid":
		return string(in.UID), nil
	case "metadata.labels":
		return mapField(in.Labels), nil
	case "metadata.annotations":
		return mapField(in.Annotations), nil
	case "spec.nodeName":
		return p.n.Name, nil
	case "spec.serviceAccountName":
		return in.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return p.ip, nil
	case "status.hostIP", "status.hostIPs":
		return p.n.IP, nil
	}
	for prefix, m := range map[string]map[string]string{"metadata.labels['": in.Labels, "metadata.annotations['": in.Annotations} {
		if strings.HasPrefix(path, prefix) && strings.HasSuffix(path, "']") {
			return m[strings.TrimSuffix(strings.TrimPrefix(path, prefix), "']")], nil
		}
	}
	return "", fmt.Errorf("field %s not supported by the test node", path)
}

// command resolves the container's process: its argv (the container's command and args, or the
// image's entrypoint and cmd), environment and working directory, with $(VAR) references
// expanded and mountPaths rewritten to the container's rootfs. On failure it returns the
// waiting reason the kubelet would show.
func (p *pod) command(c *corev1.Container) (argv, env []string, dir, reason string, err error) {
	ctx := p.n.ctx
	in := p.snapshot()
	img, known := p.n.opts.Images[c.Image]
	root := filepath.Join(p.dir, "rootfs", c.Name)

	// The environment, in the container runtime's order: base, image, envFrom, env.
	vars := map[string]string{}
	var order []string
	put := func(k, v string) {
		if _, seen := vars[k]; !seen {
			order = append(order, k)
		}
		vars[k] = v
	}
	put("PATH", os.Getenv("PATH"))
	put("HOME", root)
	put("HOSTNAME", in.Name)
	put(EnvRoot, root)
	put(EnvPodIP, p.ip)
	if u, err := urlHostPort(p.n.c.URL); err == nil {
		put("KUBERNETES_SERVICE_HOST", u[0])
		put("KUBERNETES_SERVICE_PORT", u[1])
	}
	for _, kv := range append(append([]string(nil), p.n.opts.Env...), img.Env...) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			put(k, v)
		}
	}
	for _, from := range c.EnvFrom {
		data, err := p.envSource(ctx, from)
		if err != nil {
			return nil, nil, "", "CreateContainerConfigError", err
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			put(from.Prefix+k, data[k])
		}
	}
	for _, e := range c.Env {
		v, err := p.envValue(ctx, in, e, vars)
		if err != nil {
			return nil, nil, "", "CreateContainerConfigError", err
		}
		put(e.Name, v)
	}

	switch {
	case len(c.Command) > 0:
		argv = append(append(argv, c.Command...), c.Args...)
	case !known:
		return nil, nil, "", "ErrImagePull", fmt.Errorf("image %q is not known to the test node (NodeOptions.Images) and the container has no command", c.Image)
	case len(c.Args) > 0:
		argv = append(append(argv, img.Entrypoint...), c.Args...)
	default:
		argv = append(append(argv, img.Entrypoint...), img.Cmd...)
	}
	if len(argv) == 0 {
		return nil, nil, "", "CreateContainerError", fmt.Errorf("no command specified")
	}
	mounts := make([]string, 0, len(c.VolumeMounts))
	for _, m := range c.VolumeMounts {
		if mp := filepath.Clean(m.MountPath); mp != "/" && strings.HasPrefix(mp, "/") {
			mounts = append(mounts, mp)
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	for i, a := range argv {
		argv[i] = rewrite(expand(a, vars), mounts, root)
	}
	if !strings.Contains(argv[0], "/") {
		if path, err := exec.LookPath(argv[0]); err == nil {
			argv[0] = path
		}
	}
	for _, k := range order {
		env = append(env, k+"="+rewrite(vars[k], mounts, root))
	}
	dir = root
	wd := c.WorkingDir
	if wd == "" {
		wd = img.WorkingDir
	}
	if wd != "" {
		dir = filepath.Join(root, wd)
		if err := mkdir(dir); err != nil {
			return nil, nil, "", "CreateContainerError", err
		}
	}
	return argv, env, dir, "", nil
}

// envSource reads an envFrom source's keys.
func (p *pod) envSource(ctx context.Context, from corev1.EnvFromSource) (map[string]string, error) {
	out := map[string]string{}
	switch {
	case from.ConfigMapRef != nil:
		cm, err := p.n.client.CoreV1().ConfigMaps(p.ns).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("configmap %s: %w", from.ConfigMapRef.Name, err)
		}
		return cm.Data, nil
	case from.SecretRef != nil:
		s, err := p.n.client.CoreV1().Secrets(p.ns).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && from.SecretRef.Optional != nil && *from.SecretRef.Optional {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", from.SecretRef.Name, err)
		}
		for k, v := range s.Data {
			out[k] = string(v)
		}
	}
	return out, nil
}

// envValue resolves one env entry: a value with $(VAR) references to the variables defined
// before it, or a fieldRef, configMapKeyRef or secretKeyRef.
func (p *pod) envValue(ctx context.Context, in *corev1.Pod, e corev1.EnvVar, vars map[string]string) (string, error) {
	if e.ValueFrom == nil {
		return expand(e.Value, vars), nil
	}
	switch f := e.ValueFrom; {
	case f.FieldRef != nil:
		return p.field(in, f.FieldRef.FieldPath)
	case f.ConfigMapKeyRef != nil:
		ref := f.ConfigMapKeyRef
		cm, err := p.n.client.CoreV1().ConfigMaps(p.ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err == nil {
			if v, ok := cm.Data[ref.Key]; ok {
				return v, nil
			}
			err = fmt.Errorf("configmap %s has no key %q", ref.Name, ref.Key)
		}
		if ref.Optional != nil && *ref.Optional {
			return "", nil
		}
		return "", fmt.Errorf("env %s: %w", e.Name, err)
	case f.SecretKeyRef != nil:
		ref := f.SecretKeyRef
		s, err := p.n.client.CoreV1().Secrets(p.ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err == nil {
			if v, ok := s.Data[ref.Key]; ok {
				return string(v), nil
			}
			err = fmt.Errorf("secret %s has no key %q", ref.Name, ref.Key)
		}
		if ref.Optional != nil && *ref.Optional {
			return "", nil
		}
		return "", fmt.Errorf("env %s: %w", e.Name, err)
	}
	return "", fmt.Errorf("env %s: value source not supported by the test node", e.Name)
}

// expand replaces $(VAR) with the variable's value when it is defined, leaves an undefined
// reference as it is, and turns $$ into $, as Kubernetes expands command, args and env values.
func expand(s string, vars map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// rewrite prefixes root to every occurrence of a mountPath that stands as a path of its own in
// s: at the start or after a separator (space, =, :, ,, ;, quote), and followed by its end or /.
// mounts are sorted longest first, so a nested mount wins.
func rewrite(s string, mounts []string, root string) string {
	if len(mounts) == 0 || !strings.Contains(s, "/") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		matched := ""
		if i == 0 || strings.IndexByte(" =:,;\"'", s[i-1]) >= 0 {
			for _, m := range mounts {
				if strings.HasPrefix(s[i:], m) && (i+len(m) == len(s) || s[i+len(m)] == '/' || strings.IndexByte(" :,;\"'", s[i+len(m)]) >= 0) {
					matched = m
					break
				}
			}
		}
		if matched != "" {
			b.WriteString(root)
			b.WriteString(matched)
			i += len(matched)
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// urlHostPort splits https://host:port into host and port.
func urlHostPort(u string) ([2]string, error) {
	hp := strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	host, port, ok := strings.Cut(hp, ":")
	if !ok {
		return [2]string{}, fmt.Errorf("no port in %s", u)
	}
	return [2]string{host, port}, nil
}
