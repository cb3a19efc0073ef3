package frame

// Receive-side rules that a Conn must follow for well-formed traffic: data
// frames of every length encoding, fragmentation, control frames between
// fragments, ping/pong, limits that are not exceeded, streaming readers,
// deadlines and abrupt ends.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawConnPair starts a Conn of the given role and a raw peer on a fresh
// connection of transport tr; the Conn reads in a background loop.
func rawConnPair(t *testing.T, tr transport, role Role, cfg Config) (*Conn, *peer, <-chan readResult) {
	mine, theirs := sides(t, tr, role)
	cfg.Role = role
	conn := newTestConn(t, mine, cfg)
	return conn, newPeer(t, theirs, role.other()), readLoop(conn)
}

// forEachRole runs f as a subtest per transport and role of the Conn.
func forEachRole(t *testing.T, f func(t *testing.T, tr transport, role Role)) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		for _, role := range bothRoles {
			t.Run(role.String(), func(t *testing.T) { f(t, tr, role) })
		}
	})
}

// sides returns the two ends of a new tr pair: mine for the Conn under
// test in role, theirs for its peer.
func sides(t *testing.T, tr transport, role Role) (mine, theirs net.Conn) {
	s, c := tr.pair(t)
	if role == RoleClient {
		return c, s
	}
	return s, c
}

// connAndPeer returns a Conn in role with cfg over a new tr pair, and a
// test peer of the other role on the other end.
func connAndPeer(t *testing.T, tr transport, role Role, cfg Config) (*Conn, *peer) {
	mine, theirs := sides(t, tr, role)
	return newTestConn(t, mine, cfg), newPeer(t, theirs, role.other())
}

// lengths around every boundary of the §5.2 length encoding.
var boundaryLengths = []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 125, 126, 127, 128, 4095, 4096, 4097, 65535, 65536, 65537, 300_000}

// TestReadMessage_RFC6455_5_2_LengthEncodings reads single-frame messages
// of every length class (7-bit, 16-bit and 64-bit lengths) in both roles.
func TestReadMessage_RFC6455_5_2_LengthEncodings(t *testing.T) {
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		_, p, msgs := rawConnPair(t, tr, role, Config{})
		var wire []byte
		for i, n := range boundaryLengths {
			op := OpBinary
			if i%2 == 0 {
				op = OpText
			}
			wire = append(wire, p.frame(true, op, textPattern(n, uint64(n)))...)
		}
		werr := p.writeAsync(wire)
		for i, n := range boundaryLengths {
			op := OpBinary
			if i%2 == 0 {
				op = OpText
			}
			expectMessage(t, msgs, op, textPattern(n, uint64(n)))
		}
		if err := <-werr; err != nil {
			t.Fatal(err)
		}
	})
}

// TestReadMessage_RFC6455_5_4_Fragmented reassembles fragmented messages,
// including empty fragments (§5.4: "a single message" may be any number
// of frames) and fragments that cut UTF-8 sequences (§8.1 applies to the
// whole message, not to each frame).
func TestReadMessage_RFC6455_5_4_Fragmented(t *testing.T) {
	text := []byte("κόσμε 😀 €uro ✓")
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		_, p, msgs := rawConnPair(t, tr, role, Config{})
		var wire []byte
		// The text split at every byte boundary into two fragments.
		for i := range len(text) + 1 {
			wire = append(wire, p.frame(false, OpText, text[:i])...)
			wire = append(wire, p.frame(true, OpContinuation, text[i:])...)
		}
		// One byte per fragment.
		wire = append(wire, p.frame(false, OpText, text[:1])...)
		for i := 1; i < len(text); i++ {
			wire = append(wire, p.frame(i == len(text)-1, OpContinuation, text[i:i+1])...)
		}
		// Empty fragments all around.
		wire = append(wire, p.frame(false, OpBinary, nil)...)
		wire = append(wire, p.frame(false, OpContinuation, nil)...)
		wire = append(wire, p.frame(false, OpContinuation, []byte{1, 2})...)
		wire = append(wire, p.frame(true, OpContinuation, nil)...)
		werr := p.writeAsync(wire)
		for range len(text) + 2 {
			expectMessage(t, msgs, OpText, text)
		}
		expectMessage(t, msgs, OpBinary, []byte{1, 2})
		if err := <-werr; err != nil {
			t.Fatal(err)
		}
	})
}

// TestReadMessage_RFC6455_5_4_ManyTinyFragments: 65536 fragments of 64
// bytes make one 4 MiB message. Nothing is kept per fragment, so this is
// as cheap as one frame (TestAllocs_ReadMessage_ManyFragments shows no
// allocation per fragment).
func TestReadMessage_RFC6455_5_4_ManyTinyFragments(t *testing.T) {
	const frags, size = 65536, 64
	if testing.Short() {
		t.Skip("4 MiB of tiny frames")
	}
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		_, p, msgs := rawConnPair(t, tr, role, Config{})
		msg := textPattern(frags*size, 7)
		wire := make([]byte, 0, frags*(size+MaxHeaderSize))
		for i := range frags {
			op := OpContinuation
			if i == 0 {
				op = OpText
			}
			wire = append(wire, p.frame(i == frags-1, op, msg[i*size:(i+1)*size])...)
		}
		werr := p.writeAsync(wire)
		expectMessage(t, msgs, OpText, msg)
		if err := <-werr; err != nil {
			t.Fatal(err)
		}
	})
}

// TestReadMessage_RFC6455_10_4_WithinLimits: messages exactly at the
// configured limits are accepted; MaxMessageSize -1 means unlimited.
func TestReadMessage_RFC6455_10_4_WithinLimits(t *testing.T) {
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		_, p, msgs := rawConnPair(t, tr, role, Config{MaxMessageSize: 1000, MaxFrameSize: 500})
		var wire []byte
		wire = append(wire, p.frame(true, OpBinary, make([]byte, 500))...)
		wire = append(wire, p.frame(false, OpBinary, make([]byte, 500))...)
		wire = append(wire, p.frame(true, OpContinuation, make([]byte, 500))...)
		werr := p.writeAsync(wire)
		expectMessage(t, msgs, OpBinary, make([]byte, 500))
		expectMessage(t, msgs, OpBinary, make([]byte, 1000))
		if err := <-werr; err != nil {
			t.Fatal(err)
		}
	})
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		_, p, msgs := rawConnPair(t, tr, role, Config{MaxMessageSize: -1})
		big := pattern(DefaultMaxMessageSize+1, 3)
		werr := p.writeAsync(p.frame(true, OpBinary, big))
		expectMessage(t, msgs, OpBinary, big)
		if err := <-werr; err != nil {
			t.Fatal(err)
		}
	})
}

// TestReadMessage_RFC6455_5_5_2_PingAnsweredWithPong: "Upon receipt of a
// Ping frame, an endpoint MUST send a Pong frame in response" and (§5.5.3)
// "A Pong frame sent in response to a Ping frame must have identical
// 'Application data'". OnPing sees the payload.
func TestReadMessage_RFC6455_5_5_2_PingAnsweredWithPong(t *testing.T) {
	payloads := [][]byte{nil, []byte("x"), []byte("Hello"), pattern(125, 1), {0, 0xff, 0x80}}
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		var mu sync.Mutex
		var seen [][]byte
		_, p, msgs := rawConnPair(t, tr, role, Config{OnPing: func(b []byte) {
			mu.Lock()
			seen = append(seen, bytes.Clone(b))
			mu.Unlock()
		}})
		for _, pl := range payloads {
			if err := p.send(true, OpPing, pl); err != nil {
				t.Fatal(err)
			}
			p.expectFrame(OpPong, pl)
		}
		if err := p.send(true, OpText, []byte("after")); err != nil {
			t.Fatal(err)
		}
		expectMessage(t, msgs, OpText, []byte("after"))
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != len(payloads) {
			t.Fatalf("OnPing called %d times, want %d", len(seen), len(payloads))
		}
		for i := range seen {
			if !bytes.Equal(seen[i], payloads[i]) {
				t.Fatalf("OnPing %d: %q, want %q", i, seen[i], payloads[i])
			}
		}
	})
}

// TestReadMessage_RFC6455_5_4_PingBetweenFragments: "Control frames (see
// Section 5.5) MAY be injected in the middle of a fragmented message" and
// "An endpoint MUST be capable of handling control frames in the middle of
// a fragmented message." Each ping is answered while the message is still
// incomplete, and the message comes out whole.
func TestReadMessage_RFC6455_5_4_PingBetweenFragments(t *testing.T) {
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		_, p, msgs := rawConnPair(t, tr, role, Config{})
		steps := []struct {
			fin  bool
			op   Opcode
			data string
		}{
			{false, OpText, "Hel"},
			{true, OpPing, "p1"},
			{false, OpContinuation, "l"},
			{true, OpPong, "unsolicited"},
			{true, OpPing, ""},
			{true, OpPing, "p3"},
			{true, OpContinuation, "o"},
		}
		for _, s := range steps {
			if err := p.send(s.fin, s.op, []byte(s.data)); err != nil {
				t.Fatal(err)
			}
			if s.op == OpPing {
				// Answered now, before the message's final frame is sent.
				p.expectFrame(OpPong, []byte(s.data))
			}
		}
		expectMessage(t, msgs, OpText, []byte("Hello"))
	})
}

// TestReadMessage_RFC6455_5_5_3_UnsolicitedPong: "A Pong frame MAY be sent
// unsolicited. This serves as a unidirectional heartbeat. A response to an
// unsolicited Pong frame is not expected." OnPong sees it; nothing is sent
// back (the next frame the peer gets is the pong of a later ping).
func TestReadMessage_RFC6455_5_5_3_UnsolicitedPong(t *testing.T) {
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		pongs := make(chan string, 4)
		_, p, msgs := rawConnPair(t, tr, role, Config{OnPong: func(b []byte) { pongs <- string(b) }})
		for _, f := range [][]byte{
			p.frame(true, OpPong, []byte("heartbeat")),
			p.frame(true, OpPong, nil),
			p.frame(true, OpText, []byte("data")),
			p.frame(true, OpPing, []byte("later")),
		} {
			if err := p.write(f); err != nil {
				t.Fatal(err)
			}
		}
		expectMessage(t, msgs, OpText, []byte("data"))
		p.expectFrame(OpPong, []byte("later"))
		if a, b := <-pongs, <-pongs; a != "heartbeat" || b != "" {
			t.Fatalf("OnPong got %q, %q", a, b)
		}
	})
}

// TestReadMessage_RFC6455_7_1_5_AbruptEOF: "If _The WebSocket Connection is
// Closed_ and no Close control frame was received by the endpoint (such as
// could occur if the underlying transport connection is lost), _The
// WebSocket Connection Close Code_ is considered to be 1006." Whether TCP
// ends between frames, inside a header or inside a payload.
func TestReadMessage_RFC6455_7_1_5_AbruptEOF(t *testing.T) {
	cuts := []struct {
		name string
		wire func(p *peer) []byte
	}{
		{"no-bytes", func(*peer) []byte { return nil }},
		{"after-a-message", data(true, OpText, "hi")},
		{"inside-header", prefix(1, data(true, OpText, "hi"))},
		{"inside-extended-length", prefix(3, data(true, OpBinary, string(make([]byte, 300))))},
		{"inside-payload", prefix(-3, data(true, OpBinary, string(make([]byte, 300))))},
		{"inside-control-payload", prefix(-1, data(true, OpPing, "ping"))},
		{"between-fragments", data(false, OpText, "frag")},
	}
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		for _, cut := range cuts {
			t.Run(cut.name, func(t *testing.T) {
				conn, p, msgs := rawConnPair(t, tr, role, Config{})
				if err := p.write(cut.wire(p)); err != nil {
					t.Fatal(err)
				}
				p.nc.Close()
				var r readResult
				for r = recv(t, msgs); r.err == nil; r = recv(t, msgs) {
				}
				ce := checkCloseError(t, r.err, CloseAbnormal, false)
				if ce.Err == nil {
					t.Fatal("CloseError.Err is nil: the I/O error is lost")
				}
				waitDone(t, conn)
				// The error is sticky.
				if _, _, err := conn.ReadMessage(nil); CloseStatus(err) != CloseAbnormal {
					t.Fatalf("second ReadMessage: %v", err)
				}
			})
		}
	})
}

// TestReadMessage_ReadDeadlineNotFatal: a read deadline interrupts a read
// without consuming anything, whether the Conn is idle, inside a frame
// header or inside a payload; after the deadline is moved the connection
// goes on, and a streaming reader resumes where it stopped.
func TestReadMessage_ReadDeadlineNotFatal(t *testing.T) {
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		conn, p := connAndPeer(t, tr, role, Config{Role: role})
		expired := func() {
			t.Helper()
			conn.NetConn().SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		}
		noDeadline := func() { conn.NetConn().SetReadDeadline(time.Time{}) }
		isTimeout := func(err error) {
			t.Helper()
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("got %v, want os.ErrDeadlineExceeded", err)
			}
			var ce *CloseError
			if errors.As(err, &ce) {
				t.Fatalf("deadline reported as a close: %v", err)
			}
		}

		// Idle.
		expired()
		_, _, err := conn.ReadMessage(nil)
		isTimeout(err)
		noDeadline()
		sent := 0
		send := func(b []byte) <-chan error {
			sent += len(b)
			return p.writeAsync(b)
		}
		send(p.frame(true, OpText, []byte("one")))
		if op, b, err := conn.ReadMessage(nil); err != nil || op != OpText || string(b) != "one" {
			t.Fatalf("after idle deadline: %v %q %v", op, b, err)
		}
		// timeoutWithin times out reads until the Conn has consumed every
		// byte sent so far: the deadline then hits with a frame half read.
		timeoutWithin := func(read func() error) {
			t.Helper()
			for {
				expired()
				isTimeout(read())
				if conn.bytesRead() >= uint64(sent) {
					break
				}
			}
			noDeadline()
		}
		readMsg := func() error { _, _, err := conn.ReadMessage(nil); return err }

		// Inside a header: one byte of a two-byte header, then the rest.
		wire := p.frame(true, OpBinary, []byte("two"))
		send(wire[:1])
		timeoutWithin(readMsg)
		send(wire[1:])
		if op, b, err := conn.ReadMessage(nil); err != nil || op != OpBinary || string(b) != "two" {
			t.Fatalf("after header deadline: %v %q %v", op, b, err)
		}

		// Inside a control frame's payload.
		ping := p.frame(true, OpPing, []byte("ping!"))
		send(ping[:len(ping)-2])
		timeoutWithin(readMsg)
		send(append(ping[len(ping)-2:], p.frame(true, OpText, []byte("three"))...))
		if op, b, err := conn.ReadMessage(nil); err != nil || op != OpText || string(b) != "three" {
			t.Fatalf("after ping deadline: %v %q %v", op, b, err)
		}
		p.expectFrame(OpPong, []byte("ping!"))

		// Inside a payload, with a streaming reader that resumes.
		msg := textPattern(10000, 4)
		wire = p.frame(true, OpText, msg)
		send(wire[:5000])
		op, r, err := conn.NextReader()
		if err != nil || op != OpText {
			t.Fatal(op, err)
		}
		var got []byte
		buf := make([]byte, 1000)
		for len(got) < 5000-HeaderSize(Header{Length: 10000, Masked: role == RoleServer}) {
			n, err := r.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, buf[:n]...)
		}
		timeoutWithin(func() error { _, err := r.Read(buf); return err })
		send(wire[5000:])
		rest, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if got = append(got, rest...); !bytes.Equal(got, msg) {
			t.Fatalf("resumed message differs: %d bytes, want %d", len(got), len(msg))
		}

		// And the connection still closes cleanly.
		p.closeOnCloseFrame()
		send(p.frame(true, OpClose, closePayload(1000, "")))
		_, _, err = conn.ReadMessage(nil)
		checkCloseError(t, err, CloseNormal, false)
	})
}

// TestNewConn_RFC6455_4_BufferedBytes: bytes the handshake read past the
// end of the HTTP response (the start of the first frames, which a server
// may send right after its 101) are read before the socket.
func TestNewConn_RFC6455_4_BufferedBytes(t *testing.T) {
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		mine, theirs := sides(t, tr, role)
		p := newPeer(t, theirs, role.other())
		wire := slices.Concat(p.frame(true, OpText, []byte("first")), p.frame(true, OpBinary, pattern(5000, 1)))
		cut := len(wire) - 1000 // the handshake reader got all but the last 1000 bytes
		conn := NewConn(mine, wire[:cut], Config{Role: role})
		t.Cleanup(func() { conn.CloseNow() })
		msgs := readLoop(conn)
		go p.write(wire[cut:])
		expectMessage(t, msgs, OpText, []byte("first"))
		expectMessage(t, msgs, OpBinary, pattern(5000, 1))
	})
}

// TestNextReader_RFC6455_5_4_Streaming reads messages piecewise, and skips
// what a caller leaves unread.
func TestNextReader_RFC6455_5_4_Streaming(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv, cli := connPair(t, tr, Config{}, Config{})
		big := textPattern(200_000, 9)
		go func() {
			cli.WriteFragmented(OpText, big, 7000)
			cli.WriteMessage(OpBinary, []byte("skipped entirely"))
			cli.WriteFragmented(OpBinary, pattern(50_000, 2), 999)
			cli.WriteMessage(OpText, []byte("last"))
		}()
		op, r, err := srv.NextReader()
		if err != nil || op != OpText {
			t.Fatal(op, err)
		}
		var got bytes.Buffer
		// A tiny buffer: many reads per frame.
		if _, err := io.CopyBuffer(&got, struct{ io.Reader }{r}, make([]byte, 13)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), big) {
			t.Fatal("streamed text differs")
		}
		if n, err := r.Read(make([]byte, 10)); n != 0 || err != io.EOF {
			t.Fatalf("read after EOF: %d %v", n, err)
		}
		// Not read at all.
		if op, _, err = srv.NextReader(); err != nil || op != OpBinary {
			t.Fatal(op, err)
		}
		// Read in part.
		op, r, err = srv.NextReader()
		if err != nil || op != OpBinary {
			t.Fatal(op, err)
		}
		if _, err := io.ReadFull(r, make([]byte, 20_000)); err != nil {
			t.Fatal(err)
		}
		op, b, err := srv.ReadMessage(nil)
		if err != nil || op != OpText || string(b) != "last" {
			t.Fatalf("after skipping: %v %q %v", op, b, err)
		}
		// The old reader is finished.
		if n, err := r.Read(make([]byte, 10)); n != 0 || err != io.EOF {
			t.Fatalf("stale reader: %d %v", n, err)
		}
	})
}

// TestNextReader_RFC6455_8_1_InvalidUTF8InStream: a streaming reader of a
// text message gets the 1007 error in the read that meets the bad byte.
func TestNextReader_RFC6455_8_1_InvalidUTF8InStream(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv, cli := connPair(t, tr, Config{}, Config{})
		go func() {
			cli.writeRawFrame(Header{Fin: false, Opcode: OpText, Masked: true, Mask: [4]byte{9, 8, 7, 6}}, []byte(strings.Repeat("a", 3000)))
			cli.writeRawFrame(Header{Fin: true, Opcode: OpContinuation, Masked: true, Mask: [4]byte{9, 8, 7, 6}}, []byte("b\xfe"))
			cli.ReadMessage(nil) // reads the 1007 close, answers it
		}()
		op, r, err := srv.NextReader()
		if err != nil || op != OpText {
			t.Fatal(op, err)
		}
		got, err := io.ReadAll(r)
		checkCloseError(t, err, CloseInvalidPayload, true)
		if len(got) < 3000 {
			t.Fatalf("valid prefix not delivered: %d bytes", len(got))
		}
		if _, _, err := srv.NextReader(); CloseStatus(err) != CloseInvalidPayload {
			t.Fatalf("sticky error: %v", err)
		}
	})
}

// stutterConn returns (0, nil) from every other Read, which io.Reader
// allows ("Callers should treat a return of 0 and nil as indicating that
// nothing happened"); net.Pipe does it when the writer writes an empty
// slice, as gobwas does for an empty payload.
type stutterConn struct {
	net.Conn
	calls int
}

func (c *stutterConn) Read(p []byte) (int, error) {
	c.calls++
	if c.calls%2 == 1 {
		return 0, nil
	}
	return c.Conn.Read(p)
}

// TestReadMessage_EmptyReadsAreNotEOF: a Read that returns no bytes and no
// error is not the end of the connection.
func TestReadMessage_EmptyReadsAreNotEOF(t *testing.T) {
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		mine, theirs := sides(t, tr, role)
		conn := newTestConn(t, &stutterConn{Conn: mine}, Config{Role: role})
		p := newPeer(t, theirs, role.other())
		msgs := readLoop(conn)
		small, big := []byte("small"), pattern(100_000, 3)
		go p.write(slices.Concat(p.frame(true, OpText, small), p.frame(true, OpBinary, big), p.frame(true, OpText, nil)))
		expectMessage(t, msgs, OpText, small)
		expectMessage(t, msgs, OpBinary, big)
		expectMessage(t, msgs, OpText, nil)
		// An empty write on net.Pipe: the Conn sees (0, nil).
		go p.write(nil)
		go p.send(true, OpText, []byte("after"))
		expectMessage(t, msgs, OpText, []byte("after"))
	})
}

// RFC 6455 §7.4.1 (1008): a read deadline that passes in the middle of a
// message read with ReadMessage cannot be resumed by the next call, which
// would have to skip the rest of the message and lose it silently. The
// connection is failed instead, and the peer learns it from the 1008 close
// frame. (Between messages the deadline is not fatal: see
// TestReadMessage_ReadDeadlineNotFatal.)
func TestReadMessage_RFC6455_7_4_1_DeadlineInsideAMessageFails(t *testing.T) {
	for _, fragmented := range []bool{false, true} {
		t.Run(fmt.Sprint("fragmented=", fragmented), func(t *testing.T) {
			s, c := tcpPair(t)
			conn := newTestConn(t, s, Config{Role: RoleServer, CloseTimeout: time.Second})
			p := newPeer(t, c, RoleClient)
			var wire []byte
			if fragmented {
				wire = p.frame(false, OpText, []byte("first half, "))
			} else {
				wire = p.frame(true, OpText, bytes.Repeat([]byte("x"), 1000))[:500]
			}
			if err := p.write(wire); err != nil {
				t.Fatal(err)
			}
			conn.NetConn().SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			_, _, err := conn.ReadMessage(nil)
			ce := checkCloseError(t, err, ClosePolicyViolation, true)
			if ce.Code != ClosePolicyViolation {
				t.Fatal(ce)
			}
			p.expectClose(ClosePolicyViolation)
		})
	}
}
