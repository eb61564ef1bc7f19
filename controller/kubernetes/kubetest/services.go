package kubetest

import (
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
)

// nodePorts does for the node what kube-proxy does for NodePort (and LoadBalancer) Services: it
// listens on the node's address at every node port of the cluster's Services and forwards each
// connection over TCP to one of the Service's ready endpoints. The endpoints are read from the
// pod informer at each connection (pods of the Service's namespace that its selector matches,
// Running, Ready and not being deleted, at the port's targetPort), so a pod that becomes ready or
// unready is in or out for the next connection without any bookkeeping; the listeners follow the
// Service informer (added, changed, deleted).
type nodePorts struct {
	n    *Node
	pods cache.Store

	mu        sync.Mutex
	open      map[int32]*nodePort // by node port
	forwarded map[int32]int64     // connections forwarded to an endpoint, by node port
	closed    bool
	wg        sync.WaitGroup // accept loops and connections
}

// nodePort is one listener: a port of a Service.
type nodePort struct {
	svc      string // namespace/name
	ns       string
	selector labels.Selector
	port     corev1.ServicePort
	ln       net.Listener
	rr       atomic.Uint64

	mu    sync.Mutex
	conns map[net.Conn]bool // accepted and dialled, closed with the listener
	done  bool
}

func newNodePorts(n *Node, pods cache.Store) *nodePorts {
	return &nodePorts{n: n, pods: pods, open: map[int32]*nodePort{}, forwarded: map[int32]int64{}}
}

// sync brings the listeners of a Service in line with its spec: a node port per port of a
// NodePort or LoadBalancer Service with a selector; a changed port is reopened.
func (p *nodePorts) sync(obj any) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	key := svc.Namespace + "/" + svc.Name
	want := map[int32]corev1.ServicePort{}
	if (svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer) && len(svc.Spec.Selector) > 0 {
		for _, sp := range svc.Spec.Ports {
			if sp.NodePort != 0 && (sp.Protocol == "" || sp.Protocol == corev1.ProtocolTCP) {
				want[sp.NodePort] = sp
			}
		}
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	for np, l := range p.open {
		if l.svc != key {
			continue
		}
		if sp, ok := want[np]; ok && samePort(sp, l.port) && l.selector.String() == sel.String() {
			delete(want, np)
			continue
		}
		delete(p.open, np)
		l.close()
	}
	for np, sp := range want {
		if other := p.open[np]; other != nil {
			p.n.log.Warn("a node port is taken by another service", "port", np, "service", key, "other", other.svc)
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(p.n.IP, strconv.Itoa(int(np))))
		if err != nil {
			p.n.log.Warn("could not listen on a node port", "port", np, "service", key, "error", err)
			continue
		}
		l := &nodePort{svc: key, ns: svc.Namespace, selector: sel, port: sp, ln: ln, conns: map[net.Conn]bool{}}
		p.open[np] = l
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.serve(l) }()
	}
}

func samePort(a, b corev1.ServicePort) bool {
	return a.Port == b.Port && a.TargetPort == b.TargetPort && a.Protocol == b.Protocol
}

// remove closes the listeners of a deleted Service.
func (p *nodePorts) remove(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	key := svc.Namespace + "/" + svc.Name
	p.mu.Lock()
	defer p.mu.Unlock()
	for np, l := range p.open {
		if l.svc == key {
			delete(p.open, np)
			l.close()
		}
	}
}

// close closes every listener and connection and waits for their goroutines.
func (p *nodePorts) close() {
	p.mu.Lock()
	p.closed = true
	for np, l := range p.open {
		delete(p.open, np)
		l.close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// close stops accepting and ends the port's connections, as a deleted Service's do.
func (l *nodePort) close() {
	l.ln.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = true
	for c := range l.conns {
		c.Close()
	}
}

// track records a connection of the port, or closes it when the port is closed.
func (l *nodePort) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		c.Close()
		return false
	}
	l.conns[c] = true
	return true
}

func (l *nodePort) untrack(c net.Conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
	c.Close()
}

func (p *nodePorts) serve(l *nodePort) {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		if !l.track(c) {
			continue
		}
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.forward(l, c) }()
	}
}

// forward connects the client to a ready endpoint, trying them in turn from the next one round
// robin; with none, the connection is closed (kube-proxy rejects it).
func (p *nodePorts) forward(l *nodePort, client net.Conn) {
	defer l.untrack(client)
	eps := p.endpoints(l)
	if len(eps) == 0 {
		return
	}
	start := int(l.rr.Add(1)-1) % len(eps)
	var up net.Conn
	for i := range eps {
		var err error
		d := net.Dialer{Timeout: 2 * time.Second}
		if up, err = d.DialContext(p.n.ctx, "tcp", eps[(start+i)%len(eps)]); err == nil {
			break
		}
	}
	if up == nil || !l.track(up) {
		return
	}
	defer l.untrack(up)
	p.mu.Lock()
	p.forwarded[l.port.NodePort]++
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(up, client)
	go pipe(client, up)
	<-done
	<-done
}

// endpoints are the addresses (pod IP and target port) of the pods the port's Service selects
// that are ready to serve.
func (p *nodePorts) endpoints(l *nodePort) []string {
	var out []string
	for _, obj := range p.pods.List() {
		pod, ok := obj.(*corev1.Pod)
		if !ok || pod.Namespace != l.ns || !l.selector.Matches(labels.Set(pod.Labels)) || !endpointReady(pod) {
			continue
		}
		if port, err := targetPort(pod, l.port); err == nil {
			out = append(out, net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(port)))
		}
	}
	return out
}

// endpointReady is what the endpoint-slice controller calls a ready endpoint: a Running pod with
// an IP, Ready, and not being deleted.
func endpointReady(pod *corev1.Pod) bool {
	if pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP == "" {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// targetPort resolves a Service port's targetPort on a pod: a number, the name of one of its
// containers' ports, or (unset) the service port itself.
func targetPort(pod *corev1.Pod, sp corev1.ServicePort) (int, error) {
	tp := sp.TargetPort
	switch {
	case tp.StrVal != "":
		for _, c := range pod.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name == tp.StrVal {
					return int(cp.ContainerPort), nil
				}
			}
		}
		return 0, errors.New("no container port named " + tp.StrVal)
	case tp.IntVal != 0:
		return int(tp.IntVal), nil
	default:
		return int(sp.Port), nil
	}
}

// NodePortAddr returns the address (the node's IP and the port) at which the node serves a
// Service's node port, once it listens there; ok is false while it does not.
func (n *Node) NodePortAddr(nodePort int32) (addr string, ok bool) {
	n.ports.mu.Lock()
	defer n.ports.mu.Unlock()
	if _, ok := n.ports.open[nodePort]; !ok {
		return "", false
	}
	return net.JoinHostPort(n.IP, strconv.Itoa(int(nodePort))), true
}

// Forwarded returns how many connections the node forwarded from a node port to an endpoint of
// its Service so far.
func (n *Node) Forwarded(nodePort int32) int64 {
	n.ports.mu.Lock()
	defer n.ports.mu.Unlock()
	return n.ports.forwarded[nodePort]
}
