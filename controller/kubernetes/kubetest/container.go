package kubetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// container is one container of a pod: its process group, its restarts and its status.
type container struct {
	p    *pod
	spec *corev1.Container

	mu      sync.Mutex
	st      corev1.ContainerStatus
	isFinal bool // ended for good: the restart policy does not restart it, or the pod is deleted
	pgid    int  // the running process group, 0 when none
	probeOK bool
}

func newContainer(p *pod, spec *corev1.Container) *container {
	c := &container{p: p, spec: spec}
	c.st = corev1.ContainerStatus{
		Name: spec.Name, Image: spec.Image, ImageID: "kubetest://" + spec.Image,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}},
	}
	return c
}

// status returns the container's status as the kubelet reports it.
func (c *container) status() corev1.ContainerStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := *c.st.DeepCopy()
	running := st.State.Running != nil
	st.Started = &running
	st.Ready = running && c.probeOK
	return st
}

func (c *container) final() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.isFinal
}

// supervise runs the container until it ends for good: it starts the process, waits for its
// exit or the pod's deletion, and restarts it after a back-off as the restart policy says.
func (c *container) supervise() {
	backOff := c.p.n.opts.BackOff
	for {
		if stop, _ := c.p.stopping(); stop {
			c.end()
			return
		}
		argv, env, dir, reason, err := c.p.command(c.spec)
		if err != nil {
			c.set(func(st *corev1.ContainerStatus) {
				st.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: err.Error()}}
			})
			if !c.pause(time.Second) {
				c.end()
				return
			}
			continue
		}
		startedAt := time.Now()
		term := c.runOnce(argv, env, dir)
		if stop, _ := c.p.stopping(); stop {
			c.set(func(st *corev1.ContainerStatus) { st.State = corev1.ContainerState{Terminated: term} })
			c.end()
			return
		}
		policy := c.p.policy
		if policy == corev1.RestartPolicyNever || (policy == corev1.RestartPolicyOnFailure && term.ExitCode == 0) {
			c.set(func(st *corev1.ContainerStatus) { st.State = corev1.ContainerState{Terminated: term} })
			c.end()
			return
		}
		if time.Since(startedAt) >= 2*c.p.n.opts.MaxBackOff {
			backOff = c.p.n.opts.BackOff
		}
		msg := fmt.Sprintf("back-off %v restarting failed container=%s pod=%s_%s(%s)", backOff, c.spec.Name, c.p.name, c.p.ns, c.p.uid)
		c.set(func(st *corev1.ContainerStatus) {
			st.LastTerminationState = corev1.ContainerState{Terminated: term}
			st.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: msg}}
		})
		if !c.pause(backOff) {
			c.set(func(st *corev1.ContainerStatus) { st.State = corev1.ContainerState{Terminated: term} })
			c.end()
			return
		}
		backOff = min(2*backOff, c.p.n.opts.MaxBackOff)
		c.set(func(st *corev1.ContainerStatus) { st.RestartCount++ })
	}
}

// set changes the status and has it reported.
func (c *container) set(change func(*corev1.ContainerStatus)) {
	c.mu.Lock()
	change(&c.st)
	c.mu.Unlock()
	c.p.markDirty()
}

// end marks the container ended for good.
func (c *container) end() {
	c.mu.Lock()
	c.isFinal = true
	c.mu.Unlock()
	c.p.markDirty()
}

// pause waits d, or until the pod is deleted (false).
func (c *container) pause(d time.Duration) bool {
	select {
	case <-c.p.stop:
		return false
	case <-time.After(d):
		return true
	}
}

// runOnce starts the process group, reports it running, and waits for its exit; when the pod is
// deleted meanwhile it stops it (SIGTERM, the grace period, SIGKILL). It returns the termination.
func (c *container) runOnce(argv, env []string, dir string) *corev1.ContainerStateTerminated {
	started := metav1.Now()
	logf, err := os.OpenFile(filepath.Join(c.p.dir, c.spec.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError", Message: err.Error(), StartedAt: started, FinishedAt: started}
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = env, dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own session: the processes it starts stay in it even in process groups of their own, as
	// a PID namespace holds a container's processes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(logf, "kubetest: start: %v\n", err)
		return &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError", Message: err.Error(), StartedAt: started, FinishedAt: metav1.Now()}
	}
	pgid := cmd.Process.Pid
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	c.mu.Lock()
	c.pgid = pgid
	c.probeOK = c.spec.ReadinessProbe == nil
	c.st.ContainerID = "kubetest://" + strconv.Itoa(pgid)
	c.st.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}
	c.mu.Unlock()
	c.p.markDirty()
	if c.spec.ReadinessProbe != nil {
		go c.probe(c.spec.ReadinessProbe, env, exited)
	}

	select {
	case <-exited:
	case <-c.p.stop:
		// As a container runtime: SIGTERM to the main process only (PID 1 of the container), and
		// at the end of the grace period SIGKILL to every process of the container.
		_, grace := c.p.stopping()
		c.recordTerm()
		_ = syscall.Kill(pgid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(grace):
			killSession(pgid)
			<-exited
		}
	}
	// What the main process left behind goes too, as with a container's end.
	killSession(pgid)
	c.mu.Lock()
	c.pgid = 0
	c.probeOK = false
	c.mu.Unlock()
	return termination(waitErr, c.st.ContainerID, started)
}

// termination describes the exit as the kubelet does: the exit code (128+signal for a signal),
// reason Completed or Error.
func termination(err error, id string, started metav1.Time) *corev1.ContainerStateTerminated {
	t := &corev1.ContainerStateTerminated{Reason: "Completed", StartedAt: started, FinishedAt: metav1.Now(), ContainerID: id}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Reason = "Error"
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Signal = int32(ws.Signal())
			t.ExitCode = 128 + int32(ws.Signal())
		} else {
			t.ExitCode = int32(ee.ExitCode())
		}
	} else if err != nil {
		t.Reason, t.ExitCode, t.Message = "Error", 128, err.Error()
	}
	return t
}

// kill sends SIGKILL to the running process group.
func (c *container) kill() error {
	c.mu.Lock()
	pgid := c.pgid
	c.mu.Unlock()
	if pgid == 0 {
		return errors.New("the container does not run")
	}
	return syscall.Kill(-pgid, syscall.SIGKILL)
}

// probe runs the readiness probe every period until the process exits, and keeps probeOK.
func (c *container) probe(pr *corev1.Probe, env []string, exited <-chan struct{}) {
	period := time.Duration(max(pr.PeriodSeconds, 1)) * time.Second
	timeout := time.Duration(max(pr.TimeoutSeconds, 1)) * time.Second
	success, failure := max(pr.SuccessThreshold, 1), max(pr.FailureThreshold, 1)
	delay := time.Duration(pr.InitialDelaySeconds) * time.Second
	var ok, bad int32
	for {
		select {
		case <-exited:
			return
		case <-time.After(delay):
		}
		delay = period
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := c.probeOnce(ctx, pr, env)
		cancel()
		c.mu.Lock()
		was := c.probeOK
		if err == nil {
			ok, bad = ok+1, 0
			if ok >= success {
				c.probeOK = true
			}
		} else {
			ok, bad = 0, bad+1
			if bad >= failure {
				c.probeOK = false
			}
		}
		changed := was != c.probeOK
		c.mu.Unlock()
		if changed {
			c.p.markDirty()
		}
	}
}

// probeOnce runs the probe's handler once: exec (exit 0), tcpSocket (connects), httpGet (a
// status from 200 to 399).
func (c *container) probeOnce(ctx context.Context, pr *corev1.Probe, env []string) error {
	switch {
	case pr.Exec != nil:
		if len(pr.Exec.Command) == 0 {
			return errors.New("empty exec probe")
		}
		cmd := exec.CommandContext(ctx, pr.Exec.Command[0], pr.Exec.Command[1:]...)
		cmd.Env = env
		return cmd.Run()
	case pr.TCPSocket != nil:
		port, err := c.port(pr.TCPSocket.Port)
		if err != nil {
			return err
		}
		host := pr.TCPSocket.Host
		if host == "" {
			host = c.p.ip
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	case pr.HTTPGet != nil:
		port, err := c.port(pr.HTTPGet.Port)
		if err != nil {
			return err
		}
		host := pr.HTTPGet.Host
		if host == "" {
			host = c.p.ip
		}
		scheme := "http"
		if pr.HTTPGet.Scheme == corev1.URISchemeHTTPS {
			scheme = "https"
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort(host, strconv.Itoa(port))+pr.HTTPGet.Path, nil)
		if err != nil {
			return err
		}
		for _, h := range pr.HTTPGet.HTTPHeaders {
			req.Header.Add(h.Name, h.Value)
		}
		// As the kubelet: an https probe does not verify the server's certificate.
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		defer client.CloseIdleConnections()
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("http probe: %s", resp.Status)
		}
		return nil
	}
	return errors.New("probe without a handler")
}

// port resolves a probe's port: a number, or the name of one of the container's ports.
func (c *container) port(p intstr.IntOrString) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.spec.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("no container port named %q", p.StrVal)
}

// killSession sends SIGKILL to every process of the session (the container's processes, in
// whatever process group), until none is left.
func killSession(sid int) {
	want := strconv.Itoa(sid)
	for range 10 {
		found := false
		entries, err := os.ReadDir("/proc")
		if err != nil {
			_ = syscall.Kill(-sid, syscall.SIGKILL)
			return
		}
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
			if err != nil {
				continue
			}
			// pid (comm) state ppid pgrp session ...
			i := bytes.LastIndexByte(b, ')')
			if i < 0 {
				continue
			}
			f := bytes.Fields(b[i+1:])
			if len(f) < 4 || string(f[3]) != want || string(f[0]) == "Z" {
				continue
			}
			found = true
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if !found {
			return
		}
	}
}

// termFile is where the node notes, in the pod's directory, when it sent SIGTERM to a container.
func termFile(podDir, container string) string {
	return filepath.Join(podDir, container+".sigterm")
}

// recordTerm notes the time the container's main process is sent SIGTERM.
func (c *container) recordTerm() {
	ts := time.Now().Format(time.RFC3339Nano)
	if err := os.WriteFile(termFile(c.p.dir, c.spec.Name), []byte(ts), 0o644); err != nil {
		c.p.n.log.Warn("could not note the time of a SIGTERM", "pod", c.p.ns+"/"+c.p.name, "error", err)
	}
}

// TermSent returns when the node sent SIGTERM to the container of the pod (the pod's graceful
// deletion), or the zero time when it did not. It also answers for a pod that is gone.
func (n *Node) TermSent(namespace, pod, container string) time.Time {
	dirs, _ := filepath.Glob(filepath.Join(n.Dir, "pods", namespace+"_"+pod+"_*"))
	var last time.Time
	for _, dir := range dirs {
		b, err := os.ReadFile(termFile(dir, container))
		if err != nil {
			continue
		}
		if ts, err := time.Parse(time.RFC3339Nano, string(b)); err == nil && ts.After(last) {
			last = ts
		}
	}
	return last
}

// PodLog returns what the container of the pod wrote over all its runs, also once the pod is
// gone ("" when it never ran here).
func (n *Node) PodLog(namespace, pod, container string) string {
	dirs, _ := filepath.Glob(filepath.Join(n.Dir, "pods", namespace+"_"+pod+"_*"))
	var b strings.Builder
	for _, dir := range dirs {
		data, _ := os.ReadFile(filepath.Join(dir, container+".log"))
		b.Write(data)
	}
	return b.String()
}
