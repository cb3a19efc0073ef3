package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"net"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/ws6455/ws6455/handshake"
)

// The floor servers answer the question "how cheap can an echo of these
// bytes be on this kernel, in this I/O model?". They are not WebSocket
// servers: after an ordinary opening handshake (outside the measured
// window), they move bytes. Each read is turned into the server's bytes in
// place: a client frame's header (2-14 bytes with its masking key) becomes
// the server's header, 4 bytes shorter, and the payload is unmasked where
// it lies. No UTF-8 check, no limits, no control frames but close, no
// fragmentation rules, no deadlines: whatever a WebSocket server spends
// above a floor is the price of the protocol and of its library.
//
//   - floor-goroutine: one goroutine per connection, blocking reads and
//     writes on net.Conn (the Go netpoller parks it), one write per read.
//   - floor-epoll: run-to-completion loops, one per P, each locked to its
//     OS thread and blocked in epoll_wait on its own edge-triggered epoll
//     set; read, transform and write inline with raw system calls, no
//     goroutine per connection and no hand-off.
//   - floor-uring (floor_uring_linux.go): the same loops with io_uring in
//     place of epoll: a ring per loop, and one io_uring_enter submits every
//     recv and send the loop queued and waits for the next completions.
func init() {
	impls["floor-goroutine"] = serveFloorGoroutine
	impls["floor-epoll"] = serveFloorEpoll
}

// floorBuf is each connection's buffer: reads land in it and the echo is
// written from it. It is large so that a floor never needs more system
// calls for a big message than a WebSocket server with a grown buffer.
const floorBuf = 256 << 10

// unmask XORs p with the masking key (RFC 6455 §5.3), starting at key
// byte pos, eight bytes at a time.
func unmask(p []byte, key [4]byte, pos int) {
	for len(p) > 0 && pos&3 != 0 {
		p[0] ^= key[pos&3]
		p, pos = p[1:], pos+1
	}
	k32 := binary.LittleEndian.Uint32(key[:])
	k64 := uint64(k32) | uint64(k32)<<32
	for len(p) >= 8 {
		binary.LittleEndian.PutUint64(p, binary.LittleEndian.Uint64(p)^k64)
		p = p[8:]
	}
	for i := range p {
		p[i] ^= key[i&3]
	}
}

// floorConn is the byte-moving state of one connection.
type floorConn struct {
	buf    []byte
	have   int   // bytes of an incomplete frame header kept at buf[:have]
	rem    int64 // payload bytes of the current frame still to come
	key    [4]byte
	kpos   int
	n      int    // bytes in buf at the last echo
	fd     int    // the loops only: the socket's descriptor
	out    []byte // the loops only: echo not yet written
	closed bool   // the loops only: out ends with the echo of a close
	fresh  bool   // the loops only: buf[:have] holds bytes not yet echoed
}

// echo turns buf[:n] into the server's bytes, in place, and returns them.
// An incomplete header at the end stays where it is (f.have bytes); the
// caller writes the echo, then calls tail. closed reports a close frame:
// its echo is the last thing out.
func (f *floorConn) echo(n int) (out []byte, closed bool) {
	b := f.buf[:n]
	i, start, w := 0, -1, 0
	for i < n {
		if f.rem > 0 { // inside a payload: unmask it where it lies
			k := int(min(int64(n-i), f.rem))
			p := b[i : i+k]
			unmask(p, f.key, f.kpos)
			f.kpos = (f.kpos + k) & 3
			f.rem -= int64(k)
			if start < 0 {
				start, w = i, i
			}
			w += copy(b[w:], p) // a no-op unless an earlier header shrank
			i += k
			continue
		}
		hl, plen, ok := clientHeader(b[i:n])
		if !ok {
			break
		}
		var h [10]byte // the server's header: the client's without mask bit and key
		copy(h[:], b[i:i+hl-4])
		h[1] &^= 0x80
		f.key = [4]byte(b[i+hl-4 : i+hl])
		f.rem, f.kpos = plen, 0
		if start < 0 { // the first frame of this read: its header moves 4 bytes right
			start, w = i+4, i+4
		}
		w += copy(b[w:], h[:hl-4])
		closed = closed || b[i]&0x0f == 0x8
		i += hl
	}
	f.have, f.n = n-i, n
	if start < 0 {
		return nil, closed
	}
	return b[start:w], closed
}

// tail moves the incomplete header left by echo to the buffer's start,
// once the echo (which lies before it in buf) is written.
func (f *floorConn) tail() {
	copy(f.buf, f.buf[f.n-f.have:f.n])
}

// clientHeader parses a masked client frame header (RFC 6455 §5.2):
// its length with the key, and the payload length.
func clientHeader(b []byte) (hl int, plen int64, ok bool) {
	if len(b) < 2 {
		return 0, 0, false
	}
	switch l := b[1] & 0x7f; l {
	case 126:
		if len(b) < 8 {
			return 0, 0, false
		}
		return 8, int64(binary.BigEndian.Uint16(b[2:])), true
	case 127:
		if len(b) < 14 {
			return 0, 0, false
		}
		return 14, int64(binary.BigEndian.Uint64(b[2:])), true
	default:
		if len(b) < 6 {
			return 0, 0, false
		}
		return 6, int64(l), true
	}
}

// floorHandshake runs the opening handshake with ws6455's Upgrader and
// returns the bytes that arrived after it.
func floorHandshake(nc net.Conn) ([]byte, error) {
	var up handshake.Upgrader
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReaderSize(nc, 4096)
	req, err := handshake.ReadRequest(br, up.Limits)
	if err != nil {
		return nil, err
	}
	if _, err := up.UpgradeRequest(req, nc); err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	rest, _ := br.Peek(br.Buffered())
	return rest, nil
}

// floorAccept accepts on the calling goroutine and, on a goroutine per
// connection, runs the handshake and then serve with the bytes that came
// right behind it; the connection is closed when serve returns. next
// counts the connections accepted.
func floorAccept(ln net.Listener, serve func(next int, nc net.Conn, rest []byte)) error {
	for next := 0; ; next++ {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer nc.Close()
			if rest, err := floorHandshake(nc); err == nil {
				serve(next, nc, rest)
			}
		}()
	}
}

func serveFloorGoroutine(ln net.Listener) error {
	return floorAccept(ln, func(_ int, nc net.Conn, rest []byte) {
		f := &floorConn{buf: make([]byte, floorBuf)}
		n := copy(f.buf, rest) // frames sent right behind the handshake
		for {
			if n == f.have { // nothing new: read
				m, err := nc.Read(f.buf[n:])
				if err != nil {
					return
				}
				n += m
			}
			out, closed := f.echo(n)
			if len(out) > 0 {
				if _, err := nc.Write(out); err != nil {
					return
				}
			}
			if closed {
				return
			}
			f.tail()
			n = f.have
		}
	})
}

var errFloorClosed = errors.New("closed")

// serveFloorEpoll runs GOMAXPROCS epoll loops and deals them the
// connections, round-robin, in non-blocking mode.
func serveFloorEpoll(ln net.Listener) error {
	loops := make([]*floorLoop, runtime.GOMAXPROCS(0))
	for i := range loops {
		l, err := newFloorLoop()
		if err != nil {
			return err
		}
		loops[i] = l
		go l.run()
	}
	return floorHandOff(ln, true, func(next int, f *floorConn) { loops[next%len(loops)].add(f) })
}

// floorHandOff accepts (floorAccept) and hands each connection to add:
// f.fd is a duplicate of the socket's descriptor, in non-blocking mode or
// not; the original is closed, so the Go netpoller lets go of the socket;
// the frames sent right behind the handshake wait in f.buf. next counts
// the connections accepted.
func floorHandOff(ln net.Listener, nonblock bool, add func(next int, f *floorConn)) error {
	return floorAccept(ln, func(next int, nc net.Conn, rest []byte) {
		fd, err := dupFD(nc, nonblock)
		if err != nil {
			return
		}
		f := &floorConn{buf: make([]byte, floorBuf), fd: fd}
		f.have = copy(f.buf, rest) // frames sent right behind the handshake
		f.fresh = f.have > 0
		add(next, f)
	})
}

func dupFD(nc net.Conn, nonblock bool) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, errors.New("no fd")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = syscall.Dup(int(s)) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	syscall.CloseOnExec(fd)
	if err := syscall.SetNonblock(fd, nonblock); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

type floorLoop struct {
	ep    int
	mu    sync.Mutex
	conns map[int]*floorConn
}

func newFloorLoop() (*floorLoop, error) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &floorLoop{ep: ep, conns: map[int]*floorConn{}}, nil
}

func (l *floorLoop) add(f *floorConn) {
	l.mu.Lock()
	l.conns[f.fd] = f
	l.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | (syscall.EPOLLET & 0xffffffff), Fd: int32(f.fd)}
	if err := syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, f.fd, &ev); err != nil {
		l.drop(f)
	}
}

func (l *floorLoop) drop(f *floorConn) {
	l.mu.Lock()
	delete(l.conns, f.fd)
	l.mu.Unlock()
	syscall.Close(f.fd) // also removes it from the epoll set
}

// run is the loop: wait, then for each ready socket flush what is pending
// and read-transform-write until the socket has nothing more.
func (l *floorLoop) run() {
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
			if f == nil {
				continue
			}
			if err := f.serve(); err != nil {
				l.drop(f)
			}
		}
	}
}

// serve flushes pending output, then reads until EAGAIN, echoing each read
// inline. With output pending it stops reading (back-pressure) until the
// socket is writable again (EPOLLOUT, edge-triggered).
func (f *floorConn) serve() error {
	for {
		for len(f.out) > 0 {
			m, err := syscall.Write(f.fd, f.out)
			if err == syscall.EAGAIN {
				return nil
			}
			if err != nil {
				return err
			}
			f.out = f.out[m:]
			if len(f.out) == 0 {
				if f.closed {
					return errFloorClosed
				}
				f.tail()
			}
		}
		n := f.have
		if !f.fresh {
			m, err := syscall.Read(f.fd, f.buf[n:])
			if err == syscall.EAGAIN {
				return nil
			}
			if err != nil {
				return err
			}
			if m == 0 {
				return errFloorClosed
			}
			n += m
		}
		f.fresh = false
		out, closed := f.echo(n)
		f.out, f.closed = out, closed
		if len(out) == 0 {
			if closed {
				return errFloorClosed
			}
			f.tail()
		}
	}
}
