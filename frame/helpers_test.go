package frame

// Test plumbing shared by the Conn tests: the two transports every
// connection-level rule is checked over, a hand-driven raw peer that writes
// arbitrary bytes and reads back the frames a Conn sends, and a reader loop
// for the Conn under test.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// testTimeout bounds every wait in these tests; no test asserts on time,
// it only refuses to hang.
const testTimeout = 10 * time.Second

// A transport makes a connected pair of net.Conns. Both matter: over TCP a
// Conn waits for readability through syscall.RawConn and holds no buffer
// while idle; over net.Pipe (no file descriptor, synchronous writes) it
// takes the plain Read path.
type transport struct {
	name string
	pair func(t testing.TB) (server, client net.Conn)
}

var transports = []transport{
	{"tcp", tcpPair},
	{"pipe", pipePair},
}

// forEachTransport runs f as a subtest per transport.
func forEachTransport(t *testing.T, f func(t *testing.T, tr transport)) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) { f(t, tr) })
	}
}

// tcpPair returns both ends of a loopback TCP connection on 127.0.0.1.
func tcpPair(t testing.TB) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := <-ch
	if a.err != nil {
		client.Close()
		t.Fatal(a.err)
	}
	t.Cleanup(func() {
		client.Close()
		a.c.Close()
	})
	return a.c, client
}

// pipePair returns both ends of a net.Pipe.
func pipePair(t testing.TB) (server, client net.Conn) {
	s, c := net.Pipe()
	t.Cleanup(func() {
		s.Close()
		c.Close()
	})
	return s, c
}

// newTestConn wraps nc in a Conn that is closed when the test ends.
func newTestConn(t testing.TB, nc net.Conn, cfg Config) *Conn {
	c := NewConn(nc, nil, cfg)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// connPair returns a server Conn and a client Conn talking to each other.
func connPair(t testing.TB, tr transport, scfg, ccfg Config) (srv, cli *Conn) {
	s, c := tr.pair(t)
	scfg.Role, ccfg.Role = RoleServer, RoleClient
	return newTestConn(t, s, scfg), newTestConn(t, c, ccfg)
}

// other returns the role of the far end.
func (r Role) other() Role {
	if r == RoleServer {
		return RoleClient
	}
	return RoleServer
}

// encodeFrame returns the wire form of a frame with h's flags and payload.
// If h.Masked is set the payload is masked with h.Mask (a copy; payload is
// not modified). h.Length is taken from the payload.
func encodeFrame(h Header, payload []byte) []byte {
	h.Length = int64(len(payload))
	b := AppendHeader(make([]byte, 0, MaxHeaderSize+len(payload)), h)
	start := len(b)
	b = append(b, payload...)
	if h.Masked {
		maskBytewise(h.Mask, 0, b[start:])
	}
	return b
}

// rawFrame is a frame read by a peer, payload unmasked. The last value a
// peer delivers has err set (io.EOF when the Conn closed the connection).
type rawFrame struct {
	Header
	payload []byte
	err     error
}

// peer is a hand-driven WebSocket endpoint over a raw net.Conn. It sends
// exactly the bytes a test gives it, and a background goroutine reads the
// frames the Conn under test sends, checking the masking direction of
// RFC 6455 §5.1 on each. Reading in the background matters over net.Pipe,
// where a Conn's pong or close write blocks until someone reads it.
type peer struct {
	t      testing.TB
	nc     net.Conn
	role   Role // the peer's own role: a client peer masks what it sends
	rng    *rand.Rand
	frames chan rawFrame
	unread []rawFrame // frames given back by skipPongs
}

// newPeer starts a peer of the given role on nc.
func newPeer(t testing.TB, nc net.Conn, role Role) *peer {
	p := &peer{t: t, nc: nc, role: role, rng: rand.New(rand.NewPCG(1, 2)), frames: make(chan rawFrame, 1<<10)}
	go p.readLoop()
	return p
}

func (p *peer) readLoop() {
	defer close(p.frames)
	br := bufio.NewReader(p.nc)
	for {
		h, err := ReadHeader(br)
		if err != nil {
			p.frames <- rawFrame{err: err}
			return
		}
		// RFC 6455 §5.1: a server MUST NOT mask; a client MUST mask.
		if want := p.role == RoleServer; h.Masked != want {
			p.t.Errorf("frame from the %v Conn: masked=%v (RFC 6455 §5.1)", p.role.other(), h.Masked)
		}
		if h.Length > 64<<20 {
			p.frames <- rawFrame{Header: h, err: errors.New("test peer: frame too long")}
			return
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(br, payload); err != nil {
			p.frames <- rawFrame{Header: h, err: err}
			return
		}
		if h.Masked {
			maskBytewise(h.Mask, 0, payload)
		}
		p.frames <- rawFrame{Header: h, payload: payload}
	}
}

// frame returns the wire form of a frame as this peer sends it: masked with
// a fresh key when the peer is a client.
func (p *peer) frame(fin bool, op Opcode, payload []byte) []byte {
	return p.frameRsv(fin, 0, op, payload)
}

func (p *peer) frameRsv(fin bool, rsv byte, op Opcode, payload []byte) []byte {
	h := Header{Fin: fin, Rsv: rsv, Opcode: op}
	if p.role == RoleClient {
		h.Masked = true
		binary.LittleEndian.PutUint32(h.Mask[:], p.rng.Uint32()|1)
	}
	return encodeFrame(h, payload)
}

// send writes one frame. Errors are returned, not fatal: a Conn that failed
// the connection may have closed it under the peer.
func (p *peer) send(fin bool, op Opcode, payload []byte) error {
	return p.write(p.frame(fin, op, payload))
}

// write writes raw bytes.
func (p *peer) write(b []byte) error {
	_, err := p.nc.Write(b)
	return err
}

// writeAsync writes b from another goroutine; the returned channel yields
// the error. Over net.Pipe a write completes only as the Conn reads it.
func (p *peer) writeAsync(b []byte) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- p.write(b) }()
	return ch
}

// next returns the next frame the Conn sent, or fails the test after
// testTimeout.
func (p *peer) next() rawFrame {
	p.t.Helper()
	if len(p.unread) > 0 {
		f := p.unread[0]
		p.unread = p.unread[1:]
		return f
	}
	select {
	case f, ok := <-p.frames:
		if !ok {
			return rawFrame{err: io.EOF}
		}
		return f
	case <-time.After(testTimeout):
		p.t.Fatalf("peer: no frame from the Conn within %v", testTimeout)
		return rawFrame{}
	}
}

// quiet reports whether nothing (not even EOF) arrives within d.
func (p *peer) quiet(d time.Duration) bool {
	select {
	case f, ok := <-p.frames:
		if ok {
			p.t.Errorf("peer: unexpected frame %+v err=%v", f.Header, f.err)
		}
		return false
	case <-time.After(d):
		return true
	}
}

// expectFrame reads the next frame and checks its opcode and payload.
func (p *peer) expectFrame(op Opcode, payload []byte) rawFrame {
	p.t.Helper()
	f := p.next()
	if f.err != nil {
		p.t.Fatalf("peer: want %v frame, got error %v", op, f.err)
	}
	if f.Opcode != op || !f.Fin || string(f.payload) != string(payload) {
		p.t.Fatalf("peer: got %v fin=%v %q, want %v %q", f.Opcode, f.Fin, trunc(f.payload), op, trunc(payload))
	}
	return f
}

// expectClose reads the next frame, which must be a close frame with the
// given code (CloseNoStatus: an empty body).
func (p *peer) expectClose(code CloseCode) rawFrame {
	p.t.Helper()
	f := p.next()
	if f.err != nil {
		p.t.Fatalf("peer: want close %v, got error %v", code, f.err)
	}
	if f.Opcode != OpClose {
		p.t.Fatalf("peer: want close %v, got %v frame %q", code, f.Opcode, trunc(f.payload))
	}
	got, _, err := ParseClosePayload(f.payload)
	if err != nil {
		p.t.Fatalf("peer: the Conn sent an invalid close payload %x: %v", f.payload, err)
	}
	if got != code {
		p.t.Fatalf("peer: close code %v (%q), want %v", got, f.payload, code)
	}
	return f
}

// skipPongs drops pong frames at the head of the stream.
func (p *peer) skipPongs() {
	p.t.Helper()
	for {
		f := p.next()
		if f.err != nil || f.Opcode != OpPong {
			p.unread = append(p.unread, f)
			return
		}
	}
}

// closeOnCloseFrame closes the peer's connection, in the background, as
// soon as the Conn's close frame arrives: what a server does after the
// close handshake (RFC 6455 §7.1.1), and what a client Conn waits for.
func (p *peer) closeOnCloseFrame() {
	go func() {
		for f := range p.frames {
			if f.err != nil || f.Opcode == OpClose {
				break
			}
		}
		p.nc.Close()
	}()
}

// expectEOF checks that the Conn closed the connection next.
func (p *peer) expectEOF() {
	p.t.Helper()
	f := p.next()
	if f.err == nil {
		p.t.Fatalf("peer: want EOF, got %v frame %q", f.Opcode, trunc(f.payload))
	}
}

func trunc(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// readResult is one ReadMessage result.
type readResult struct {
	op  Opcode
	p   []byte
	err error
}

// readLoop calls ReadMessage until it fails and delivers each result; the
// channel is closed after the error.
func readLoop(c *Conn) <-chan readResult {
	ch := make(chan readResult, 1<<10)
	go func() {
		defer close(ch)
		for {
			op, p, err := c.ReadMessage(nil)
			ch <- readResult{op, p, err}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// recv returns the next ReadMessage result or fails after testTimeout.
func recv(t testing.TB, ch <-chan readResult) readResult {
	t.Helper()
	select {
	case r, ok := <-ch:
		if !ok {
			t.Fatal("reader: loop already ended")
		}
		return r
	case <-time.After(testTimeout):
		t.Fatalf("reader: no result within %v", testTimeout)
		return readResult{}
	}
}

// expectMessage checks that the next message read is op with payload p.
func expectMessage(t testing.TB, ch <-chan readResult, op Opcode, p []byte) {
	t.Helper()
	r := recv(t, ch)
	if r.err != nil {
		t.Fatalf("ReadMessage: %v, want %v %q", r.err, op, trunc(p))
	}
	if r.op != op || string(r.p) != string(p) {
		t.Fatalf("ReadMessage: %v %q (%d bytes), want %v %q (%d bytes)", r.op, trunc(r.p), len(r.p), op, trunc(p), len(p))
	}
}

// expectCloseError checks that the reader ended with a *CloseError with
// the given code and locality.
func expectCloseError(t testing.TB, ch <-chan readResult, code CloseCode, local bool) *CloseError {
	t.Helper()
	r := recv(t, ch)
	return checkCloseError(t, r.err, code, local)
}

func checkCloseError(t testing.TB, err error, code CloseCode, local bool) *CloseError {
	t.Helper()
	var ce *CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("read error %v (%T), want *CloseError %v", err, err, code)
	}
	if ce.Code != code || ce.Local != local {
		t.Fatalf("read error %v: code %v local %v, want code %v local %v", err, ce.Code, ce.Local, code, local)
	}
	if CloseStatus(err) != code {
		t.Fatalf("CloseStatus(%v) = %v, want %v", err, CloseStatus(err), code)
	}
	return ce
}

// waitDone waits for the Conn's TCP connection to be closed.
func waitDone(t testing.TB, c *Conn) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(testTimeout):
		t.Fatal("Conn not closed")
	}
}

// closePayload returns a close frame body.
func closePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// pattern returns n bytes of a deterministic pattern seeded by seed.
func pattern(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// textPattern returns n bytes of valid ASCII text.
func textPattern(n int, seed uint64) []byte {
	b := pattern(n, seed)
	for i := range b {
		b[i] = 'a' + b[i]%26
	}
	return b
}
