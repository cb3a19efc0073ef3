//go:build linux

package server

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/ws6455/ws6455/frame"
)

// poller waits on an edge-triggered epoll set (epoll(7)) for the sockets
// of idle event-mode connections, and wakes their connections when bytes
// arrive. Edge-triggered (EPOLLET): the kernel reports a socket once each
// time new bytes arrive, so a socket that is being read is not reported
// again and again, and a connection can go idle after a read that did not
// fill its buffer without first reading until EAGAIN (see
// frame.Plumbing.TryReadMessage).
//
// The poller's goroutine never blocks in epoll_wait: the epoll descriptor
// is itself pollable (it is readable while events are ready), so it is
// handed to the Go runtime's network poller like a socket, through
// os.NewFile and RawConn.Read, and the goroutine parks there. A blocking
// epoll_wait would tie up an OS thread and make every wakeup a handoff
// between threads, which costs more than the goroutines it saves.
type poller struct {
	s    *Server
	file *os.File // the epoll descriptor; closing it stops the loop
	rc   syscall.RawConn

	mu       sync.Mutex
	conns    map[int32]*evConn // by file descriptor
	done     chan struct{}
	stopping atomic.Bool

	// The loop's state, used in its RawConn.Read callback.
	events []syscall.EpollEvent
	wake   []*evConn
	waitFn func(fd uintptr) bool
}

func newPoller(s *Server) (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("epoll: set nonblocking: %w", err)
	}
	// A non-blocking descriptor makes os.NewFile register it with the
	// runtime's poller.
	f := os.NewFile(uintptr(epfd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("epoll: %w", err)
	}
	p := &poller{s: s, file: f, rc: rc, conns: make(map[int32]*evConn), done: make(chan struct{}),
		events: make([]syscall.EpollEvent, 256)}
	p.wake = make([]*evConn, 0, len(p.events))
	p.waitFn = p.collect
	go p.loop()
	return p, nil
}

// add registers e's socket. Events that arrive from now on wake e.
//
// The registration happens inside RawControl's callback, while the
// runtime holds a reference to the descriptor: a connection closed at
// that moment (by a write that failed, say) keeps its descriptor number
// until the callback returns, so the number cannot be reused by a new
// connection between reading it and registering it.
func (p *poller) add(e *evConn) error {
	var err error
	cerr := frame.PlumbingOf(e.t.c).RawControl(func(f uintptr) {
		fd := int32(f)
		p.mu.Lock()
		p.conns[fd] = e
		p.mu.Unlock()
		// EPOLLRDHUP and errors (always reported) wake the connection
		// too, so that a peer that goes away is noticed while idle.
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | -syscall.EPOLLET, Fd: fd}
		if cerr := p.rc.Control(func(epfd uintptr) {
			err = syscall.EpollCtl(int(epfd), syscall.EPOLL_CTL_ADD, int(fd), &ev)
		}); cerr != nil {
			err = cerr
		}
		if err != nil {
			p.mu.Lock()
			delete(p.conns, fd)
			p.mu.Unlock()
			err = fmt.Errorf("epoll_ctl add: %w", err)
			return
		}
		e.fd = fd
	})
	if cerr != nil {
		return fmt.Errorf("no file descriptor: %w", cerr)
	}
	return err
}

// remove forgets e. Its socket is closed already, which took it out of
// the epoll set; a new connection may have its descriptor number by now,
// so only e's own entry is deleted.
func (p *poller) remove(e *evConn) {
	p.mu.Lock()
	if p.conns[e.fd] == e {
		delete(p.conns, e.fd)
	}
	p.mu.Unlock()
}

// stop ends the loop and closes the epoll set.
func (p *poller) stop() {
	p.stopping.Store(true)
	p.file.Close() // wakes the loop's RawConn.Read with an error
	<-p.done
}

func (p *poller) loop() {
	defer close(p.done)
	// RawConn.Read calls collect, and parks in the runtime's poller each
	// time it returns false, until the descriptor is closed. Staying inside
	// one RawConn.Read matters: a new Read would reset the readiness the
	// runtime recorded since collect last looked, so collect would have to
	// call epoll_wait once more before every park to find out.
	err := p.rc.Read(p.waitFn)
	// Closing the descriptor (stop) is how the loop is meant to end; the
	// error it gives is not os.ErrClosed but the poller's "use of closed
	// file", so stop says so itself.
	if err != nil && !p.stopping.Load() {
		p.s.logger().Error("epoll: event mode stops", "err", err)
	}
}

// collect takes the ready events without blocking (timeout 0) and wakes
// their connections. It returns false, to park until the epoll descriptor
// is readable again, once it has taken fewer events than it asked for
// (nothing else is ready); true, to end the loop, on an error.
func (p *poller) collect(epfd uintptr) bool {
	for {
		n, err := syscall.EpollWait(int(epfd), p.events, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			p.s.logger().Error("epoll_wait failed; event mode stops", "err", err)
			return true
		}
		p.mu.Lock()
		for _, ev := range p.events[:n] {
			if e := p.conns[ev.Fd]; e != nil {
				p.wake = append(p.wake, e)
			}
		}
		p.mu.Unlock()
		for i, e := range p.wake {
			p.s.wake(e)
			p.wake[i] = nil
		}
		p.wake = p.wake[:0]
		if n < len(p.events) {
			return false
		}
	}
}
