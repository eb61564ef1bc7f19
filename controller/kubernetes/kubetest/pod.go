package kubetest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// pod is a pod running on the node: its directory, address, containers and the status the node
// reports for it.
type pod struct {
	n        *Node
	uid      types.UID
	ns, name string
	ip       string
	dir      string
	policy   corev1.RestartPolicy
	started  metav1.Time

	dirty   chan struct{} // the status changed: push it (capacity 1)
	stop    chan struct{} // closed when the pod is being deleted (graceful) or removed
	stopped sync.Once

	mu          sync.Mutex
	obj         *corev1.Pod // the last one seen
	containers  []*container
	initialized bool
	grace       time.Duration // the deletion grace period, once stop is closed
	gone        bool          // removed from the API server: kill, do not report
	phase       corev1.PodPhase
	message     string // why the pod is not running yet (volume errors)
}

func newPod(n *Node, in *corev1.Pod, ip string) *pod {
	p := &pod{
		n: n, uid: in.UID, ns: in.Namespace, name: in.Name, ip: ip,
		dir:     filepath.Join(n.Dir, "pods", fmt.Sprintf("%s_%s_%s", in.Namespace, in.Name, in.UID)),
		started: metav1.Now(),
		dirty:   make(chan struct{}, 1), stop: make(chan struct{}),
		obj: in.DeepCopy(), phase: corev1.PodPending, policy: in.Spec.RestartPolicy,
	}
	for i := range in.Spec.Containers {
		p.containers = append(p.containers, newContainer(p, &p.obj.Spec.Containers[i]))
	}
	return p
}

// observe records a newer version of the pod; a deletion timestamp starts the graceful stop.
func (p *pod) observe(in *corev1.Pod) {
	p.mu.Lock()
	p.obj = in.DeepCopy()
	p.mu.Unlock()
	if in.DeletionTimestamp != nil {
		grace := int64(30)
		if in.DeletionGracePeriodSeconds != nil {
			grace = *in.DeletionGracePeriodSeconds
		}
		p.requestStop(time.Duration(grace) * time.Second)
	}
}

// requestStop starts stopping the containers, giving them grace to exit after SIGTERM.
func (p *pod) requestStop(grace time.Duration) {
	p.stopped.Do(func() {
		p.mu.Lock()
		p.grace = grace
		p.mu.Unlock()
		close(p.stop)
	})
}

// removed handles the pod's removal from the API server: its processes are killed at once.
func (p *pod) removed() {
	p.mu.Lock()
	p.gone = true
	p.mu.Unlock()
	p.requestStop(0)
}

// kill ends the pod's processes at once without touching the API server (the node stops).
func (p *pod) kill() { p.removed() }

// markDirty asks the pod's loop to push the status.
func (p *pod) markDirty() {
	select {
	case p.dirty <- struct{}{}:
	default:
	}
}

// run prepares the pod's files, runs its containers until they end or the pod is deleted, and
// reports the status as it changes. A pod deleted gracefully is then removed from the API server.
func (p *pod) run() {
	log := p.n.log.With("pod", p.ns+"/"+p.name)
	p.markDirty()
	// Volumes first: a ConfigMap or Secret that is not there yet is waited for, as the kubelet
	// does (the pod stays ContainerCreating).
	for {
		err := p.prepare(p.n.ctx)
		if err == nil {
			break
		}
		p.mu.Lock()
		p.message = err.Error()
		p.mu.Unlock()
		p.markDirty()
		select {
		case <-p.stop:
			p.finish()
			return
		case <-p.n.ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
	p.mu.Lock()
	p.initialized, p.message = true, ""
	p.mu.Unlock()

	var wg sync.WaitGroup
	for _, c := range p.containers {
		wg.Add(1)
		go func() { defer wg.Done(); c.supervise() }()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		select {
		case <-p.dirty:
			p.pushStatus()
		case <-done:
			p.pushStatus()
			p.finish()
			log.Debug("the pod's containers ended")
			return
		}
	}
}

// finish completes a graceful deletion: once the containers ended, the object is removed.
func (p *pod) finish() {
	select {
	case <-p.stop:
	default:
		return
	}
	p.mu.Lock()
	gone := p.gone
	p.mu.Unlock()
	if !gone && p.n.ctx.Err() == nil {
		p.n.finishDelete(p.ns, p.name, p.uid)
	}
}

// stopping reports whether the pod is being deleted, and the grace period.
func (p *pod) stopping() (bool, time.Duration) {
	select {
	case <-p.stop:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.grace
	default:
		return false, 0
	}
}

// pushStatus writes the pod's status with a merge patch on the status subresource, with the UID
// as precondition. A pod that is gone is not reported.
func (p *pod) pushStatus() {
	p.mu.Lock()
	if p.gone || p.n.ctx.Err() != nil {
		p.mu.Unlock()
		return
	}
	st := p.statusLocked()
	p.mu.Unlock()
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"uid": p.uid}, "status": st})
	if err != nil {
		p.n.log.Warn("could not encode a pod's status", "pod", p.ns+"/"+p.name, "error", err)
		return
	}
	ctx, cancel := context.WithTimeout(p.n.ctx, 10*time.Second)
	defer cancel()
	_, err = p.n.client.CoreV1().Pods(p.ns).Patch(ctx, p.name, types.MergePatchType, body, metav1.PatchOptions{}, "status")
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && ctx.Err() == nil {
		p.n.log.Warn("could not report a pod's status", "pod", p.ns+"/"+p.name, "error", err)
	}
}

// statusLocked builds the status the kubelet would report now.
func (p *pod) statusLocked() corev1.PodStatus {
	st := corev1.PodStatus{
		HostIP: p.n.IP, HostIPs: []corev1.HostIP{{IP: p.n.IP}},
		PodIP: p.ip, PodIPs: []corev1.PodIP{{IP: p.ip}},
		// The QoS class is the API server's, set at creation and immutable.
		StartTime: &p.started, QOSClass: p.obj.Status.QOSClass,
	}
	allReady, allStarted, allDone, anyFailed := true, true, true, false
	policy := p.policy
	for _, c := range p.containers {
		cs := c.status()
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		allReady = allReady && cs.Ready
		allStarted = allStarted && (cs.State.Running != nil || cs.State.Terminated != nil || cs.LastTerminationState.Terminated != nil)
		final := c.final()
		allDone = allDone && final
		if final && cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0 {
			anyFailed = true
		}
	}
	switch {
	case p.phase == corev1.PodSucceeded || p.phase == corev1.PodFailed:
	case allDone && policy != corev1.RestartPolicyAlways && !anyFailed:
		p.phase = corev1.PodSucceeded
	case allDone && policy != corev1.RestartPolicyAlways:
		p.phase = corev1.PodFailed
	case allStarted && p.initialized:
		p.phase = corev1.PodRunning
	}
	st.Phase = p.phase
	st.Message = p.message
	if p.message != "" {
		st.Reason = "ContainerCreating"
	}
	cond := func(t corev1.PodConditionType, ok bool, reason string) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason, LastTransitionTime: p.transition(t, ok)}
		if ok {
			c.Status, c.Reason = corev1.ConditionTrue, ""
		}
		return c
	}
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, p.initialized, ""),
		cond(corev1.PodInitialized, p.initialized, ""),
		cond(corev1.PodReady, allReady && p.phase == corev1.PodRunning, "ContainersNotReady"),
		cond(corev1.ContainersReady, allReady && p.phase == corev1.PodRunning, "ContainersNotReady"),
		cond(corev1.PodScheduled, true, ""),
	}
	return st
}

// transition returns when the condition last changed to ok, keeping the time the API server has
// when it did not change.
func (p *pod) transition(t corev1.PodConditionType, ok bool) metav1.Time {
	want := corev1.ConditionFalse
	if ok {
		want = corev1.ConditionTrue
	}
	for _, c := range p.obj.Status.Conditions {
		if c.Type == t && c.Status == want && !c.LastTransitionTime.IsZero() {
			return c.LastTransitionTime
		}
	}
	return metav1.Now()
}

// signal sends SIGKILL to the named container's process group.
func (p *pod) signal(name string) error {
	for _, c := range p.containers {
		if c.spec.Name == name {
			return c.kill()
		}
	}
	return fmt.Errorf("no container %q", name)
}

// snapshot returns a copy of the last pod object seen.
func (p *pod) snapshot() *corev1.Pod {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.obj.DeepCopy()
}

// mkdir creates a directory of the pod.
func mkdir(path string) error {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return fmt.Errorf("mkdir: %w", err)
	}
	return nil
}
