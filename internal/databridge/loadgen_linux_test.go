//go:build linux

package databridge

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// ingestConcurrent is a closed-loop load generator in the manner of wrk: one goroutine drives
// conns connections through epoll, each with up to depth publishes outstanding; every benchmark
// iteration queues one publish on a connection with a free slot, and queued publishes are written
// per connection in one write before the generator waits for replies (what a client that batches
// its pending publishes does). depth 1 is a synchronous publisher per connection, like the Python
// agent. Both servers get the same generator and the same bytes.
func ingestConcurrent(b *testing.B, addr string, msg []byte, conns, depth int) {
	type lconn struct {
		fd     int
		sent   []time.Time // FIFO of outstanding publishes
		queued int         // publishes not written yet
		got    int         // bytes of the current reply read
	}
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		b.Fatal(err)
	}
	syscall.SetNonblock(epfd, true)
	epf := os.NewFile(uintptr(epfd), "epoll")
	defer epf.Close()
	rc, err := epf.SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	batch := make([]byte, 0, depth*len(msg))
	for range depth {
		batch = append(batch, msg...)
	}
	cs := make([]lconn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		raw, _ := c.(*net.TCPConn).SyscallConn()
		var dupErr error
		raw.Control(func(fd uintptr) { cs[i].fd, dupErr = dupCloexec(int(fd)) })
		c.Close()
		if dupErr != nil {
			b.Fatal(dupErr)
		}
		defer syscall.Close(cs[i].fd)
		syscall.SetNonblock(cs[i].fd, true)
		cs[i].sent = make([]time.Time, 0, depth)
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(i)}
		if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, cs[i].fd, &ev); err != nil {
			b.Fatal(err)
		}
	}
	free := make([]int, 0, conns*depth) // one entry per free slot
	for range depth {
		for i := range cs {
			free = append(free, i)
		}
	}
	dirty := make([]int, 0, conns) // connections with queued publishes
	lat := make([]time.Duration, 0, 1<<16)
	events := make([]syscall.EpollEvent, 256)
	rep := make([]byte, depth*len(publishReply))
	outstanding := 0
	flush := func() {
		now := time.Now()
		for _, i := range dirty {
			c := &cs[i]
			out := batch[:c.queued*len(msg)]
			if m, err := syscall.Write(c.fd, out); err != nil || m != len(out) {
				b.Fatalf("write: %d, %v", m, err)
			}
			for range c.queued {
				c.sent = append(c.sent, now)
			}
			outstanding += c.queued
			c.queued = 0
		}
		dirty = dirty[:0]
	}
	// poll waits for replies and frees their slots.
	poll := func() {
		var n int
		var werr error
		err := rc.Read(func(uintptr) bool {
			n, werr = syscall.EpollWait(epfd, events, 0)
			return n > 0 || (werr != nil && !errors.Is(werr, syscall.EINTR))
		})
		if err != nil || werr != nil {
			b.Fatal(err, werr)
		}
		now := time.Now()
		for _, ev := range events[:n] {
			c := &cs[ev.Fd]
			m, err := syscall.Read(c.fd, rep[:len(c.sent)*len(publishReply)-c.got])
			if errors.Is(err, syscall.EAGAIN) {
				continue
			}
			if err != nil || m == 0 {
				b.Fatalf("read reply: %d, %v", m, err)
			}
			c.got += m
			for c.got >= len(publishReply) {
				c.got -= len(publishReply)
				lat = append(lat, now.Sub(c.sent[0]))
				c.sent = append(c.sent[:0], c.sent[1:]...)
				free = append(free, int(ev.Fd))
				outstanding--
			}
		}
	}
	b.ReportAllocs()
	start := time.Now()
	issued := 0
	for b.Loop() {
		if len(free) == 0 {
			flush()
			for len(free) == 0 {
				poll()
			}
		}
		i := free[len(free)-1]
		free = free[:len(free)-1]
		if cs[i].queued == 0 {
			dirty = append(dirty, i)
		}
		cs[i].queued++
		issued++
	}
	flush()
	for outstanding > 0 {
		poll()
	}
	reportLatency(b, lat, issued, time.Since(start))
}

// dupCloexec duplicates fd with close-on-exec, so the generator owns a descriptor the net.Conn
// it came from no longer closes.
func dupCloexec(fd int) (int, error) {
	nfd, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(nfd), nil
}
