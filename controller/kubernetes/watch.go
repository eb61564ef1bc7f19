package kubernetes

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/strata-paas/strata/controller"
)

// ended says whether a pod's member is over, and why: the pod failed or succeeded (a container
// ended; the kubelet never restarts it), or it was evicted.
func ended(p *corev1.Pod) (string, bool) {
	switch p.Status.Phase {
	case corev1.PodFailed, corev1.PodSucceeded:
	default:
		return "", false
	}
	if p.Status.Reason == "Evicted" {
		return quoteReason("pod evicted: " + p.Status.Message), true
	}
	for _, cs := range p.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil {
			r := fmt.Sprintf("container %s: exit code %d", cs.Name, t.ExitCode)
			if t.Reason != "" {
				r += " (" + t.Reason + ")"
			}
			if t.Message != "" {
				r += ": " + t.Message
			}
			return quoteReason(r), true
		}
	}
	r := "pod " + strings.ToLower(string(p.Status.Phase))
	if p.Status.Reason != "" {
		r += ": " + p.Status.Reason
	}
	if p.Status.Message != "" {
		r += ": " + p.Status.Message
	}
	return quoteReason(r), true
}

// podChanged wakes the pod's waiters and reports a member whose pod ended, or that is being
// deleted by someone else than the driver; an ended pod is then deleted.
func (d *Driver) podChanged(c *conn, obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	d.mu.Lock()
	c.wakeLocked(p.Name)
	if c.terminating[p.Name] || c.reported[p.Name] {
		d.mu.Unlock()
		return
	}
	reason, over := ended(p)
	if !over && p.DeletionTimestamp != nil {
		reason, over = "pod deleted outside Strata", true
	}
	if !over {
		d.mu.Unlock()
		return
	}
	c.reported[p.Name] = true
	d.queueLocked(c, p, reason)
	if p.DeletionTimestamp == nil {
		// The pod is over: delete it (and its launch-params) so it does not linger as Failed.
		d.backgroundLocked(func() { d.deletePod(c, p.Name, 0) })
	}
	d.mu.Unlock()
}

// podDeleted reports a pod deleted without the driver (unless already reported) and forgets it.
func (d *Driver) podDeleted(c *conn, obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	d.mu.Lock()
	c.wakeLocked(p.Name)
	if !c.terminating[p.Name] && !c.reported[p.Name] {
		d.queueLocked(c, p, "pod deleted outside Strata")
		d.backgroundLocked(func() { d.deleteSecret(c, p.Name) })
	}
	delete(c.terminating, p.Name)
	delete(c.reported, p.Name)
	d.mu.Unlock()
}

// wakeLocked wakes the waiters of a pod (waiter) at its change or deletion; Driver.mu is held.
func (c *conn) wakeLocked(pod string) {
	if ch := c.waiters[pod]; ch != nil {
		close(ch)
		delete(c.waiters, pod)
	}
}

// queueLocked queues a member's exit for Watch; mu is held.
func (d *Driver) queueLocked(c *conn, p *corev1.Pod, reason string) {
	memberID := p.Annotations[LabelMember]
	d.exits.Add(controller.Exit{InstanceID: instanceID(c, p.Name), MemberID: memberID,
		Time: d.opts.Now(), Reason: reason})
	d.log.Warn("member pod ended on its own", "member_id", memberID, "cluster", c.id, "pod", p.Name, "reason", reason)
}

// Watch reports the members whose pods ended on their own until ctx ends; then it stops the
// informers (Close).
func (d *Driver) Watch(ctx context.Context, report func(controller.Exit)) {
	defer d.Close()
	d.exits.Run(ctx, report, nil, nil)
}
