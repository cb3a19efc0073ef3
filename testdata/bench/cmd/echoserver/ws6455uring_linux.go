package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/ws6455/ws6455/frame"
)

// ws6455-uring is an experiment, not a peer: floor-uring's loops with the
// WebSocket protocol in them. It asks what io_uring buys a WebSocket echo
// once frame.Conn's work is in the loop, before anyone rebuilds package
// server on it (issue 12).
//
// The loops, the rings and the hand-off are floor-uring's (one loop per P,
// locked to its thread, one io_uring_enter per round for every
// connection's operations; see floor_uring_linux.go). What differs is what
// a connection does with the bytes. frame.Conn reads and writes through a
// net.Conn, and a ring completes I/O later, on the loop; so each
// connection's frame.Conn runs over an in-memory net.Conn, ringConn:
//
//   - a RECV lands at the end of ringConn's input; a scan of the new bytes
//     (wsScan: frame headers, RFC 6455 §5.2) counts the messages that are
//     now complete there, and the loop calls frame.Conn.ReadMessage once
//     for each. ReadMessage's reads take bytes from the input and never
//     find it short, so they never block the loop.
//   - the echo's WriteMessage appends its frames to ringConn's output.
//     Once the messages complete in the input are read (a message's
//     beginning may stay), the loop queues one SEND of all the output
//     (again for the rest after a short send); when it is out, the next
//     RECV.
//
// As in floor-uring, a connection has one operation in flight, and a
// completion's user_data is fd<<8 | IORING_OP_*. ReadMessage failing (the
// peer's close frame, answered by frame.Conn into the output; a protocol
// error, whose close frame is there too) ends the connection once the
// output is out; a recv of 0 bytes or a failed operation ends it at once.
// Ending it closes the Conn and the socket and forgets the connection.
//
// The price of the in-memory net.Conn, next to the library's event mode:
// a copy of every received byte from ringConn's input into frame.Conn's
// read buffer (or its message), and one of every sent byte into ringConn's
// output; see RESULTS.md.
func init() {
	impls["ws6455-uring"] = serveWS6455Uring
}

// wsRecvBuf is the input's first size (a RECV gets half of it at least):
// as for the floors, a burst of the benchmark's messages arrives in one.
const wsRecvBuf = floorBuf

// wsUringConfig is the ws6455 impl's frame.Config (server.Server's
// defaults with no message size limit).
var wsUringConfig = frame.Config{Role: frame.RoleServer, MaxMessageSize: -1}

// ringConn is the net.Conn under a ring loop's frame.Conn: memory that the
// loop fills from RECV completions and drains with SENDs. Only the loop's
// thread uses it (frame.Conn's progress watcher may set a read deadline,
// which does nothing here).
type ringConn struct {
	in     []byte // received; in[r:] not yet read by frame.Conn, and a RECV fills in[len:cap]
	r      int
	out    []byte // written by frame.Conn; out[sent:] not yet sent
	sent   int
	closed bool
	local  net.Addr
	remote net.Addr
}

// errRingEmpty is ringConn's answer to a read with no input: the loop only
// calls ReadMessage with a whole message buffered, so it means a bug in
// wsScan, and fails the connection rather than blocking the loop.
var errRingEmpty = errors.New("ws6455-uring: read with no input buffered")

func (rc *ringConn) Read(p []byte) (int, error) {
	if rc.closed {
		return 0, net.ErrClosed
	}
	if rc.r == len(rc.in) {
		return 0, errRingEmpty
	}
	n := copy(p, rc.in[rc.r:])
	rc.r += n
	if rc.r == len(rc.in) { // all read: the next RECV starts at the buffer's start
		rc.in, rc.r = rc.in[:0], 0
	}
	return n, nil
}

func (rc *ringConn) Write(p []byte) (int, error) {
	if rc.closed {
		return 0, net.ErrClosed
	}
	rc.out = append(rc.out, p...)
	return len(p), nil
}

// Close marks the connection closed; the loop closes the socket once the
// output is sent.
func (rc *ringConn) Close() error {
	rc.closed = true
	return nil
}

func (rc *ringConn) LocalAddr() net.Addr              { return rc.local }
func (rc *ringConn) RemoteAddr() net.Addr             { return rc.remote }
func (rc *ringConn) SetDeadline(time.Time) error      { return nil }
func (rc *ringConn) SetReadDeadline(time.Time) error  { return nil }
func (rc *ringConn) SetWriteDeadline(time.Time) error { return nil }

// recvRoom is where the next RECV lands.
func (rc *ringConn) recvRoom() []byte { return rc.in[len(rc.in):cap(rc.in)] }

// received adds the n bytes that a RECV put in recvRoom to the input and
// returns them.
func (rc *ringConn) received(n int) []byte {
	rc.in = rc.in[:len(rc.in)+n]
	return rc.in[len(rc.in)-n:]
}

// unsent is the output not sent yet.
func (rc *ringConn) unsent() []byte { return rc.out[rc.sent:] }

// makeRoom empties the output, which is all sent, and makes sure the next
// RECV has wsRecvBuf/2 bytes of room at least: it moves unread input to
// the buffer's start, and grows the buffer (doubling) for a message
// larger than it.
func (rc *ringConn) makeRoom() {
	rc.out, rc.sent = rc.out[:0], 0
	if cap(rc.in)-len(rc.in) >= wsRecvBuf/2 {
		return
	}
	if rc.r > 0 {
		rc.in = rc.in[:copy(rc.in, rc.in[rc.r:])]
		rc.r = 0
	}
	if cap(rc.in)-len(rc.in) < wsRecvBuf/2 {
		grown := make([]byte, len(rc.in), 2*cap(rc.in))
		copy(grown, rc.in)
		rc.in = grown
	}
}

// wsScan follows the client's frames through the byte stream, header by
// header (RFC 6455 §5.2), to count the points at which ReadMessage can
// return without reading past what has arrived: the end of a data frame
// with FIN set (a whole message, however fragmented), and the end of a
// close frame (ReadMessage answers it and fails), or of a frame with an
// opcode that is not defined (ReadMessage fails the connection). Pings and
// pongs are not such points: ReadMessage handles them on its way to the
// next message, so a ping alone is answered with the echo of the next
// message, not before (see RESULTS.md).
type wsScan struct {
	hdr  [14]byte // a header being assembled across RECVs
	hn   int      // its bytes so far
	rem  int64    // payload bytes of the current frame still to come
	stop bool     // the current frame ends at a point (see above)
}

// feed scans the bytes that just arrived and returns the number of points
// they complete.
func (s *wsScan) feed(b []byte) (points int) {
	for len(b) > 0 {
		if s.rem > 0 { // inside a payload: skip it
			k := int(min(int64(len(b)), s.rem))
			b, s.rem = b[k:], s.rem-int64(k)
			if s.rem == 0 && s.stop {
				points++
			}
			continue
		}
		// A header: take its bytes until it is whole.
		need := 2
		if s.hn >= 2 {
			need = wsHeaderLen(s.hdr[1])
		}
		k := copy(s.hdr[s.hn:need], b)
		b, s.hn = b[k:], s.hn+k
		if s.hn < need {
			continue // b is used up; the rest comes later
		}
		if need == 2 && wsHeaderLen(s.hdr[1]) > 2 {
			continue // the length forms and the key follow
		}
		s.rem = wsPayloadLen(s.hdr[:s.hn])
		s.hn = 0
		switch op := frame.Opcode(s.hdr[0] & 0x0f); op {
		case frame.OpContinuation, frame.OpText, frame.OpBinary:
			s.stop = s.hdr[0]&0x80 != 0
		case frame.OpPing, frame.OpPong:
			s.stop = false
		default: // close, or undefined
			s.stop = true
		}
		if s.rem == 0 && s.stop {
			points++
		}
	}
	return points
}

// wsHeaderLen is the length of a frame header from its second byte: the
// payload length form (7 bits, or 126 and 16 bits, or 127 and 64 bits)
// and the masking key if the MASK bit is set.
func wsHeaderLen(b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// wsPayloadLen reads the payload length of the whole header h. A 64-bit
// length with the top bit set is a protocol error that ReadMessage will
// report; it is taken as the largest length here, which never completes.
func wsPayloadLen(h []byte) int64 {
	switch l := h[1] & 0x7f; l {
	case 126:
		return int64(binary.BigEndian.Uint16(h[2:]))
	case 127:
		return int64(binary.BigEndian.Uint64(h[2:]) & (1<<63 - 1))
	default:
		return int64(l)
	}
}

// wsUringConn is one connection of a loop.
type wsUringConn struct {
	fd     int
	rc     ringConn
	c      *frame.Conn
	scan   wsScan
	points int    // ReadMessage calls that the buffered input can answer
	msg    []byte // ReadMessage's buffer, reused
	ending bool   // ReadMessage failed: send what is left, then close
	fresh  int    // ws6455-epollmem: bytes from behind the handshake, not consumed yet
}

// consume takes n bytes that were put at the end of f's input, reads
// every message they complete and writes its echo into f's output.
func (f *wsUringConn) consume(n int) {
	f.points += f.scan.feed(f.rc.received(n))
	for f.points > 0 && !f.ending {
		f.points--
		op, msg, err := f.c.ReadMessage(f.msg)
		if err == nil {
			f.msg = msg
			err = f.c.WriteMessage(op, msg)
		}
		if err != nil {
			// The peer's close (answered into the output), a protocol
			// error (its close frame is in the output too), or a write
			// after the Conn ended.
			f.ending = true
		}
	}
}

// newWSUringConn makes the connection of a socket after its handshake:
// fd is a duplicate of nc's descriptor; rest is what came behind the
// handshake, left in the input for the loop's first consume.
func newWSUringConn(fd int, nc net.Conn, rest []byte) *wsUringConn {
	f := &wsUringConn{fd: fd}
	f.rc = ringConn{in: make([]byte, 0, wsRecvBuf), local: nc.LocalAddr(), remote: nc.RemoteAddr()}
	f.rc.in = append(f.rc.in, rest...)
	f.c = frame.NewConn(&f.rc, nil, wsUringConfig)
	return f
}

// wsUringLoop is floor-uring's uringLoop for wsUringConns.
type wsUringLoop struct {
	r     *uring
	conns map[int]*wsUringConn
	wake  uringWake
	mu    sync.Mutex
	added []*wsUringConn
}

// serveWS6455Uring starts GOMAXPROCS loops, as serveFloorUring does, and
// hands them the connections after the opening handshake (ws6455's
// handshake package, on a goroutine per connection: floorAccept), with a
// blocking duplicate of the socket's descriptor.
func serveWS6455Uring(ln net.Listener) error {
	loops := make([]*wsUringLoop, runtime.GOMAXPROCS(0))
	ready := make(chan error)
	for i := range loops {
		loops[i] = &wsUringLoop{conns: map[int]*wsUringConn{}}
		go loops[i].run(ready)
	}
	var err error
	for range loops {
		if e := <-ready; err == nil {
			err = e
		}
	}
	if err != nil {
		return err
	}
	return floorAccept(ln, func(next int, nc net.Conn, rest []byte) {
		fd, err := dupFD(nc, false)
		if err != nil {
			return
		}
		loops[next%len(loops)].add(newWSUringConn(fd, nc, rest))
	})
}

// add hands f to the loop (see uringLoop.add).
func (l *wsUringLoop) add(f *wsUringConn) {
	l.mu.Lock()
	l.added = append(l.added, f)
	l.mu.Unlock()
	l.wake.signal()
}

// run is uringLoop.run: one io_uring_enter per round, then every CQE.
func (l *wsUringLoop) run(ready chan<- error) {
	runtime.LockOSThread() // the ring's one submitter, for good
	r, err := newUring()
	if err == nil {
		l.r = r
		err = l.wake.open(r, "ws6455-uring")
	} else {
		err = fmt.Errorf("ws6455-uring: %w", err)
	}
	ready <- err
	if err != nil {
		return
	}
	for {
		r.wait("ws6455-uring")
		for c, ok := r.next(); ok; c, ok = r.next() {
			l.complete(c)
		}
	}
}

// complete handles one completion and queues what comes next.
func (l *wsUringLoop) complete(c uringCQE) {
	fd, op := int(c.userData>>8), uint8(c.userData)
	if op == ioringOpRead { // the eventfd: new connections
		l.wake.rearm(l.r)
		l.mu.Lock()
		added := l.added
		l.added = nil
		l.mu.Unlock()
		for _, f := range added {
			l.conns[f.fd] = f
			n := len(f.rc.in) // the bytes that came behind the handshake, if any
			f.rc.in = f.rc.in[:0]
			l.received(f, n)
		}
		return
	}
	f := l.conns[fd]
	switch {
	case c.res <= 0: // the peer closed, or an error
		l.drop(f)
	case op == ioringOpRecv:
		l.received(f, int(c.res))
	default: // a send
		f.rc.sent += int(c.res)
		l.next(f)
	}
}

// received takes the n bytes that a RECV put at the end of f's input,
// reads every message they complete and writes its echo (into f's
// output), and queues what comes next.
func (l *wsUringLoop) received(f *wsUringConn, n int) {
	f.consume(n)
	l.next(f)
}

// next queues f's next operation: a send of what is left of its output;
// once it is all out, a recv, or the end.
func (l *wsUringLoop) next(f *wsUringConn) {
	switch {
	case len(f.rc.unsent()) > 0:
		l.r.push(ioringOpSend, f.fd, f.rc.unsent(), syscall.MSG_NOSIGNAL)
	case f.ending:
		l.drop(f)
	default:
		f.rc.makeRoom()
		l.r.push(ioringOpRecv, f.fd, f.rc.recvRoom(), 0)
	}
}

// drop ends f, which has no operation in flight: the Conn (which takes it
// off the progress rule's watch list) and the socket.
func (l *wsUringLoop) drop(f *wsUringConn) {
	delete(l.conns, f.fd)
	f.c.CloseNow()
	syscall.Close(f.fd)
}
