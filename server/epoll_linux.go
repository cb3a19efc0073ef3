//go:build linux

package server

import (
	"fmt"
	"sync"
	"syscall"
)

// poller waits on an edge-triggered epoll set (epoll(7)) for the sockets
// of idle event-mode connections, and wakes their connections when bytes
// arrive. Edge-triggered (EPOLLET): the kernel reports a socket once each
// time new bytes arrive, so a socket that is being read is not reported
// again and again, and a connection can go idle after a read that did not
// fill its buffer without first reading until EAGAIN (see
// frame.Conn.TryReadMessage).
type poller struct {
	s     *Server
	epfd  int
	wakeR int // the read end of a pipe in the set: a byte there stops the loop
	wakeW int

	mu    sync.Mutex
	conns map[int32]*evConn // by file descriptor
	done  chan struct{}
}

func newPoller(s *Server) (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("pipe2: %w", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(pipe[0])}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, pipe[0], &ev); err != nil {
		syscall.Close(epfd)
		syscall.Close(pipe[0])
		syscall.Close(pipe[1])
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	p := &poller{s: s, epfd: epfd, wakeR: pipe[0], wakeW: pipe[1],
		conns: make(map[int32]*evConn), done: make(chan struct{})}
	go p.loop()
	return p, nil
}

// add registers e's socket. Events that arrive from now on wake e.
func (p *poller) add(e *evConn) error {
	var fd int32 = -1
	if err := e.t.c.RawControl(func(f uintptr) { fd = int32(f) }); err != nil || fd < 0 {
		return fmt.Errorf("no file descriptor: %v", err)
	}
	p.mu.Lock()
	p.conns[fd] = e
	p.mu.Unlock()
	// EPOLLRDHUP and errors (always reported) wake the connection too, so
	// that a peer that goes away is noticed while idle.
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | -syscall.EPOLLET, Fd: fd}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev); err != nil {
		p.mu.Lock()
		delete(p.conns, fd)
		p.mu.Unlock()
		return fmt.Errorf("epoll_ctl add: %w", err)
	}
	e.fd = fd
	return nil
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
	syscall.Write(p.wakeW, []byte{0})
	<-p.done
}

func (p *poller) loop() {
	defer func() {
		syscall.Close(p.epfd)
		syscall.Close(p.wakeR)
		syscall.Close(p.wakeW)
		close(p.done)
	}()
	events := make([]syscall.EpollEvent, 256)
	wake := make([]*evConn, 0, len(events))
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			p.s.logger().Error("epoll_wait failed; event mode stops", "err", err)
			return
		}
		wake = wake[:0]
		stop := false
		p.mu.Lock()
		for _, ev := range events[:n] {
			if ev.Fd == int32(p.wakeR) {
				stop = true
				continue
			}
			if e := p.conns[ev.Fd]; e != nil {
				wake = append(wake, e)
			}
		}
		p.mu.Unlock()
		for i, e := range wake {
			p.s.wake(e)
			wake[i] = nil
		}
		if stop {
			return
		}
	}
}
