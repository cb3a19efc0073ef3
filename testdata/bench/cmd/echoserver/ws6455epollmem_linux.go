package main

import (
	"net"
	"runtime"
	"sync"
	"syscall"
)

// ws6455-epollmem is the control of ws6455-uring, an experiment too: the
// same connections (frame.Conn over the in-memory ringConn, wsScan,
// consume) in floor-epoll's loops instead of floor-uring's: one locked
// thread per P blocking in epoll_wait on an edge-triggered set, with
// read(2) into the connection's input and write(2) of its output, inline,
// until the socket has nothing more (EAGAIN), as floorConn.serve does.
//
// ws6455-uring against ws6455 changes two things at once: io_uring for
// epoll, and frame.Conn's I/O moved out of the Go netpoller (net.Conn,
// syscall.RawConn, a 4 KiB read buffer) into the loop (raw system calls,
// a 256 KiB input). ws6455-epollmem changes only the second, so
// ws6455-uring / ws6455-epollmem is what io_uring itself buys once the
// protocol is in the loop, and ws6455-epollmem / ws6455 what the I/O path
// does.
func init() {
	impls["ws6455-epollmem"] = serveWS6455EpollMem
}

type wsEpollLoop struct {
	ep    int
	mu    sync.Mutex
	conns map[int]*wsUringConn
}

// serveWS6455EpollMem runs GOMAXPROCS epoll loops and deals them the
// connections, round-robin, in non-blocking mode.
func serveWS6455EpollMem(ln net.Listener) error {
	loops := make([]*wsEpollLoop, runtime.GOMAXPROCS(0))
	for i := range loops {
		ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return err
		}
		loops[i] = &wsEpollLoop{ep: ep, conns: map[int]*wsUringConn{}}
		go loops[i].run()
	}
	return floorAccept(ln, func(next int, nc net.Conn, rest []byte) {
		fd, err := dupFD(nc, true)
		if err != nil {
			return
		}
		loops[next%len(loops)].add(newWSUringConn(fd, nc, rest))
	})
}

// add registers f. The bytes that came behind the handshake, if any, are
// taken at the first event: EPOLLOUT is reported at once for a new socket.
func (l *wsEpollLoop) add(f *wsUringConn) {
	f.fresh = len(f.rc.in)
	f.rc.in = f.rc.in[:0]
	l.mu.Lock()
	l.conns[f.fd] = f
	l.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | (syscall.EPOLLET & 0xffffffff), Fd: int32(f.fd)}
	if err := syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, f.fd, &ev); err != nil {
		l.drop(f)
	}
}

func (l *wsEpollLoop) drop(f *wsUringConn) {
	l.mu.Lock()
	delete(l.conns, f.fd)
	l.mu.Unlock()
	f.c.CloseNow()
	syscall.Close(f.fd) // also removes it from the epoll set
}

// run is floorLoop.run: wait, then serve each ready socket.
func (l *wsEpollLoop) run() {
	runtime.LockOSThread()
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(l.ep, events, -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			return
		}
		for _, ev := range events[:n] {
			l.mu.Lock()
			f := l.conns[int(ev.Fd)]
			l.mu.Unlock()
			if f != nil && !l.serve(f) {
				l.drop(f)
			}
		}
	}
}

// serve is floorConn.serve for a WebSocket connection: it writes the
// pending output, then reads and echoes until the socket has nothing more.
// With output pending it stops reading (back-pressure) until the socket is
// writable again (EPOLLOUT, edge-triggered). It reports false when the
// connection is over.
func (l *wsEpollLoop) serve(f *wsUringConn) bool {
	for {
		for len(f.rc.unsent()) > 0 {
			m, err := syscall.Write(f.fd, f.rc.unsent())
			if err == syscall.EAGAIN {
				return true
			}
			if err != nil {
				return false
			}
			f.rc.sent += m
		}
		if f.ending {
			return false
		}
		n := f.fresh
		f.fresh = 0
		if n == 0 {
			f.rc.makeRoom()
			m, err := syscall.Read(f.fd, f.rc.recvRoom())
			if err == syscall.EAGAIN {
				return true
			}
			if err != nil || m == 0 {
				return false
			}
			n = m
		}
		f.consume(n)
	}
}
