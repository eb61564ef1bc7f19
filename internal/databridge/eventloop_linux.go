//go:build linux

package databridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// The plain service's connections are served by a few epoll loops instead of a goroutine each:
// with thousands of agents each sending a small bundle now and then, a goroutine per connection
// costs a wake-up, a park and an extra read that finds nothing per bundle; a loop reads only the
// connections epoll reports ready and parses every complete message in what it read. TLS
// connections keep the goroutine model (crypto/tls owns their reads).

const evMinRead = 8 << 10

// The loop never blocks its thread in epoll_wait: the epoll descriptor is itself registered with
// Go's netpoller (an epoll descriptor is readable while it has ready events), and the loop parks
// like any goroutine waiting on a socket when epoll_wait(0) finds nothing.

type evLoop struct {
	s     *Server
	epfd  int
	epf   *os.File // epfd, registered with the netpoller
	wakeR int
	wakeW int

	mu      sync.Mutex // guards pending and closed; a leaf lock
	pending []*evConn
	closed  bool

	conns         map[int]*evConn // owned by the loop goroutine
	lastIdleCheck time.Time
}

// evConn is one connection of a loop; only the loop goroutine touches it.
type evConn struct {
	fd       int
	remote   string
	sc       *serverConn
	scanning bool // the buffered bytes end inside an unframed message: check it is whole first
	outOff   int  // bytes of sc.out already written
	blocked  bool // waiting for EPOLLOUT; not read meanwhile
	last     time.Time
}

func newEvLoop(s *Server) (*evLoop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("databridge: epoll: %w", err)
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("databridge: pipe: %w", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("databridge: epoll: %w", err)
	}
	l := &evLoop{s: s, epfd: epfd, epf: os.NewFile(uintptr(epfd), "epoll"), wakeR: p[0], wakeW: p[1],
		conns: make(map[int]*evConn)}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(l.wakeR)}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, l.wakeR, &ev); err != nil {
		l.closeFDs()
		return nil, fmt.Errorf("databridge: epoll add: %w", err)
	}
	return l, nil
}

func (l *evLoop) closeFDs() {
	l.epf.Close()
	syscall.Close(l.wakeR)
	syscall.Close(l.wakeW)
}

func (l *evLoop) wake() {
	syscall.Write(l.wakeW, []byte{1})
}

// add takes over c: its descriptor is duplicated, c is closed, and the loop owns the copy.
func (l *evLoop) add(c net.Conn) error {
	remote := c.RemoteAddr().String()
	sc, ok := c.(syscall.Conn)
	if !ok {
		return errors.New("databridge: connection has no descriptor")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(s uintptr) { fd, dupErr = dupCloexec(int(s)) }); err != nil {
		return err
	}
	c.Close()
	if dupErr != nil {
		return dupErr
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return err
	}
	ec := &evConn{fd: fd, remote: remote}
	ec.sc = &serverConn{s: l.s, streams: make(map[string]*stream), r: &reader{buf: make([]byte, 2*evMinRead)}}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		syscall.Close(fd)
		return net.ErrClosed
	}
	l.pending = append(l.pending, ec)
	l.mu.Unlock()
	l.wake()
	return nil
}

func dupCloexec(fd int) (int, error) {
	nfd, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(nfd), nil
}

// stop makes run return after closing every connection.
func (l *evLoop) stop() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.wake()
}

func (l *evLoop) run(ctx context.Context) {
	defer l.closeFDs()
	events := make([]syscall.EpollEvent, 256)
	var buf [64]byte
	rc, err := l.epf.SyscallConn()
	if err != nil {
		l.s.log.Error("epoll descriptor", "err", err)
		return
	}
	var n int
	var werr error
	wait := func(uintptr) bool {
		n, werr = syscall.EpollWait(l.epfd, events, 0)
		return n > 0 || (werr != nil && !errors.Is(werr, syscall.EINTR))
	}
	for {
		if err := rc.Read(wait); err != nil {
			l.s.log.Error("epoll wait failed", "err", err)
			return
		}
		if werr != nil {
			l.s.log.Error("epoll wait failed", "err", werr)
			return
		}
		now := time.Now()
		for _, ev := range events[:max(n, 0)] {
			fd := int(ev.Fd)
			if fd == l.wakeR {
				for {
					if m, _ := syscall.Read(l.wakeR, buf[:]); m <= 0 {
						break
					}
				}
				if l.takePending() {
					for _, ec := range l.conns {
						l.close(ec, nil)
					}
					return
				}
				continue
			}
			ec := l.conns[fd]
			if ec == nil {
				continue
			}
			ec.last = now
			if ev.Events&syscall.EPOLLOUT != 0 {
				if !l.writeOut(ctx, ec) {
					continue
				}
			}
			if ev.Events&(syscall.EPOLLIN|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 && !ec.blocked {
				l.readable(ctx, ec)
			}
		}
		if idle := l.s.opts.IdleTimeout; idle > 0 && now.Sub(l.lastIdleCheck) > idle/4 {
			l.lastIdleCheck = now
			for _, ec := range l.conns {
				if now.Sub(ec.last) > idle {
					l.close(ec, nil)
				}
			}
		}
	}
}

// takePending registers new connections and reports whether the loop is stopping.
func (l *evLoop) takePending() bool {
	l.mu.Lock()
	pending, closed := l.pending, l.closed
	l.pending = nil
	l.mu.Unlock()
	now := time.Now()
	for _, ec := range pending {
		ec.last = now
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(ec.fd)}
		if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, ec.fd, &ev); err != nil {
			l.s.log.Warn("epoll add failed", "remote", ec.remote, "err", err)
			syscall.Close(ec.fd)
			l.s.open.Add(-1)
			continue
		}
		l.conns[ec.fd] = ec
	}
	return closed
}

func (l *evLoop) close(ec *evConn, err error) {
	syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, ec.fd, nil)
	syscall.Close(ec.fd)
	delete(l.conns, ec.fd)
	l.s.open.Add(-1)
	l.s.connEnded(ec.remote, false, err)
}

// readable reads once (level-triggered epoll reports the rest) and handles every whole message.
// While a large message is incomplete it reads on until the socket is empty, so the message is
// walked once per wait rather than once per read.
func (l *evLoop) readable(ctx context.Context, ec *evConn) {
	r := ec.sc.r
	fresh := false // bytes read since the last process
	for {
		if r.r == r.w {
			r.r, r.w = 0, 0
		}
		want := evMinRead
		if ec.scanning {
			want = max(want, r.w-r.r)
		}
		if len(r.buf)-r.w < want {
			if r.r > 0 {
				r.w = copy(r.buf, r.buf[r.r:r.w])
				r.r = 0
			}
			if len(r.buf)-r.w < want {
				if r.w > l.s.opts.MaxFrame+64 {
					l.close(ec, fmt.Errorf("%w: %d bytes buffered without a whole message", ErrFrameTooLarge, r.w))
					return
				}
				nb := make([]byte, max(2*len(r.buf), r.w+want))
				copy(nb, r.buf[:r.w])
				r.buf = nb
			}
		}
		n, err := syscall.Read(ec.fd, r.buf[r.w:])
		switch {
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
			if fresh {
				l.process(ctx, ec)
			}
			return
		case err != nil:
			l.close(ec, err)
			return
		case n == 0:
			if r.buffered() > 0 {
				l.close(ec, fmt.Errorf("%w: connection closed inside a message", io.ErrUnexpectedEOF))
			} else {
				l.close(ec, io.EOF)
			}
			return
		}
		r.w += n
		if ec.scanning && r.w == len(r.buf) {
			fresh = true
			continue // more may be waiting: read it before walking the message again
		}
		fresh = false
		l.process(ctx, ec)
		if !ec.scanning || l.conns[ec.fd] != ec || ec.blocked {
			return
		}
	}
}

// process handles the whole messages in the buffer and writes the replies.
func (l *evLoop) process(ctx context.Context, ec *evConn) {
	sc, r := ec.sc, ec.sc.r
	for r.buffered() > 0 {
		if !sc.detected {
			if r.buffered() < 5 {
				break
			}
			if err := sc.detect(); err != nil {
				l.close(ec, err)
				return
			}
		}
		start, outLen := r.r, len(sc.out)
		if ec.scanning && !sc.framed {
			// Most of a large unframed message has arrived in pieces: walk it cheaply before
			// decoding it once.
			err := scanMessage(r, l.s.opts.MaxFrame)
			r.r, r.left = start, 0
			if errors.Is(err, errNeedMore) {
				break
			}
			if err != nil {
				l.close(ec, err)
				return
			}
			ec.scanning = false
		}
		err := sc.handle(ctx)
		if errors.Is(err, errNeedMore) {
			r.r = start
			sc.out = sc.out[:outLen]
			ec.scanning = true
			break
		}
		if err != nil {
			l.close(ec, err)
			return
		}
	}
	l.writeOut(ctx, ec)
}

// scanMessage walks one unframed message without decoding it.
func scanMessage(r *reader, maxFrame int) error {
	r.left = maxFrame
	if _, _, _, err := r.readMessageBegin(); err != nil {
		return err
	}
	return r.skip(tStruct, 0)
}

// writeOut writes pending replies; it reports whether they are all written. While some are not,
// the connection waits for EPOLLOUT and is not read.
func (l *evLoop) writeOut(ctx context.Context, ec *evConn) bool {
	sc := ec.sc
	for ec.outOff < len(sc.out) {
		n, err := syscall.Write(ec.fd, sc.out[ec.outOff:])
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if errors.Is(err, syscall.EAGAIN) {
			if !ec.blocked {
				ec.blocked = true
				ev := syscall.EpollEvent{Events: syscall.EPOLLOUT, Fd: int32(ec.fd)}
				syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, ec.fd, &ev)
			}
			return false
		}
		if err != nil {
			l.close(ec, err)
			return false
		}
		ec.outOff += n
	}
	wasWaiting := ec.blocked
	ec.blocked = false
	ec.outOff = 0
	if cap(sc.out) > 1<<20 {
		sc.out = nil
	} else {
		sc.out = sc.out[:0]
	}
	if wasWaiting {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(ec.fd)}
		syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, ec.fd, &ev)
		if ec.sc.r.buffered() > 0 {
			l.process(ctx, ec)
		}
	}
	return true
}
