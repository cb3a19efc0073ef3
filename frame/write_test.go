package frame

// Send-side rules: masking direction and fresh keys (RFC 6455 §5.1, §5.3),
// minimal length encoding (§5.2), fragmentation (§5.4), control frames
// between fragments, the opcode and size checks, concurrent writers, and
// the Trace hook.

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestWriteMessage_RFC6455_5_1_Masking: "a client MUST mask all frames
// that it sends to the server" and "A server MUST NOT mask any frames that
// it sends to the client" (the peer's reader checks every frame). The
// client's keys are fresh per frame (§5.3: "The masking key is a 32-bit
// value chosen at random by the client ... MUST pick a fresh masking key
// from the set of allowed 32-bit values"): among 500 frames no key repeats
// (a repeat would have probability about 3e-5 with random keys).
func TestWriteMessage_RFC6455_5_1_Masking(t *testing.T) {
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		conn, p := connAndPeer(t, tr, role, Config{Role: role})
		const n = 100
		go func() {
			for i := range n {
				conn.WriteMessage(OpText, []byte("text"))
				conn.WriteMessage(OpBinary, make([]byte, i*100))
				conn.WriteControl(OpPing, []byte("ping"))
				conn.WriteControl(OpPong, nil)
				conn.WriteFragmented(OpBinary, []byte("ab"), 1) // two frames, so 6 per round
			}
			conn.WriteClose(CloseNormal, "")
		}()
		keys := map[[4]byte]bool{}
		for range 6*n + 1 {
			f := p.next()
			if f.err != nil {
				t.Fatal(f.err)
			}
			if f.Masked {
				keys[f.Mask] = true
			}
		}
		if role == RoleClient && len(keys) != 6*n+1 {
			t.Fatalf("%d distinct masking keys in %d frames", len(keys), 6*n+1)
		}
	})
}

// TestWriteMessage_RFC6455_5_2_LengthEncodings writes messages of every
// length class and reads them back raw: the peer's decoder refuses a
// non-minimal length, and the payload must survive masking.
func TestWriteMessage_RFC6455_5_2_LengthEncodings(t *testing.T) {
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		conn, p := connAndPeer(t, tr, role, Config{Role: role, WriteBufferSize: 1000})
		go func() {
			for _, n := range boundaryLengths {
				conn.WriteMessage(OpBinary, pattern(n, uint64(n)))
			}
		}()
		for _, n := range boundaryLengths {
			f := p.expectFrame(OpBinary, pattern(n, uint64(n)))
			if f.Rsv != 0 {
				t.Fatalf("RSV %x", f.Rsv)
			}
		}
	})
}

// TestWrite_PayloadNotModified: a client masks a copy, never the caller's
// bytes, for every write method and size.
func TestWrite_PayloadNotModified(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		srv, cli := connPair(t, tr, Config{}, Config{})
		msgs := readLoop(srv)
		for _, n := range []int{1, 100, 5000, 100_000} {
			p := textPattern(n, 5)
			orig := bytes.Clone(p)
			cli.WriteMessage(OpText, p)
			cli.WriteFragmented(OpText, p, 777)
			w, _ := cli.NextWriter(OpText)
			w.Write(p)
			w.Close()
			cli.writeRawFrame(Header{Fin: true, Opcode: OpText, Masked: true, Mask: [4]byte{1, 2, 3, 4}}, p)
			if !bytes.Equal(p, orig) {
				t.Fatalf("%d bytes: caller's payload modified", n)
			}
			for range 4 {
				expectMessage(t, msgs, OpText, orig)
			}
		}
		if err := cli.WriteControl(OpPing, bytes.Repeat([]byte("p"), 125)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestWrite_Errors: opcodes and sizes the write methods refuse.
func TestWrite_Errors(t *testing.T) {
	srv, _ := connPair(t, transports[0], Config{}, Config{})
	for _, op := range []Opcode{OpContinuation, OpClose, OpPing, OpPong, 0x3, 0xB} {
		if err := srv.WriteMessage(op, nil); !errors.Is(err, ErrBadOpcode) {
			t.Errorf("WriteMessage(%v): %v", op, err)
		}
		if err := srv.WriteFragmented(op, nil, 10); !errors.Is(err, ErrBadOpcode) {
			t.Errorf("WriteFragmented(%v): %v", op, err)
		}
		if _, err := srv.NextWriter(op); !errors.Is(err, ErrBadOpcode) {
			t.Errorf("NextWriter(%v): %v", op, err)
		}
	}
	if err := srv.WriteFragmented(OpText, []byte("x"), 0); err == nil {
		t.Error("WriteFragmented with fragment size 0 succeeded")
	}
	// RFC 6455 §5.5: control frames "MUST have a payload length of 125
	// bytes or less".
	if err := srv.WriteControl(OpPing, make([]byte, 126)); !errors.Is(err, ErrControlTooLong) {
		t.Errorf("Ping(126 bytes): %v", err)
	}
	if err := srv.WriteControl(OpPong, make([]byte, 126)); !errors.Is(err, ErrControlTooLong) {
		t.Errorf("Pong(126 bytes): %v", err)
	}
	w, err := srv.NextWriter(OpBinary)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
	if err := w.Close(); err == nil {
		t.Error("second Close succeeded")
	}
}

// TestWriteFragmented_RFC6455_5_4 checks the frames of a fragmented
// message: "one frame with the FIN bit clear and an opcode other than 0,
// followed by zero or more frames with the FIN bit clear and the opcode
// set to 0, and terminated by a single frame with the FIN bit set and an
// opcode of 0."
func TestWriteFragmented_RFC6455_5_4(t *testing.T) {
	cases := []struct{ n, size int }{
		{0, 10}, {1, 1}, {5, 1}, {10, 3}, {9, 3}, {10, 100}, {125, 125}, {126, 125},
		{70000, 4096}, {200_000, 65536}, {300, 299},
	}
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		conn, p := connAndPeer(t, tr, role, Config{Role: role})
		go func() {
			for i, tc := range cases {
				conn.WriteFragmented(OpText, textPattern(tc.n, uint64(i)), tc.size)
			}
		}()
		for i, tc := range cases {
			want := textPattern(tc.n, uint64(i))
			frames := max(1, (tc.n+tc.size-1)/tc.size)
			var got []byte
			for k := range frames {
				f := p.next()
				if f.err != nil {
					t.Fatal(f.err)
				}
				wantOp := OpContinuation
				if k == 0 {
					wantOp = OpText
				}
				if f.Opcode != wantOp || f.Fin != (k == frames-1) || f.Length > int64(tc.size) {
					t.Fatalf("case %v frame %d: %v fin=%v len=%d", tc, k, f.Opcode, f.Fin, f.Length)
				}
				if k < frames-1 && f.Length != int64(tc.size) {
					t.Fatalf("case %v frame %d: len %d", tc, k, f.Length)
				}
				got = append(got, f.payload...)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("case %v: payload differs", tc)
			}
		}
	})
}

// TestNextWriter_RFC6455_5_4_Streaming: a streamed message goes out as
// frames of the write buffer size as it fills, and Close sends the final
// frame. Control frames are not held back by an open writer ("Control
// frames (see Section 5.5) MAY be injected in the middle of a fragmented
// message"), but other data messages wait for it (fragments of two
// messages MUST NOT be interleaved).
func TestNextWriter_RFC6455_5_4_Streaming(t *testing.T) {
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		conn, p := connAndPeer(t, tr, role, Config{Role: role, WriteBufferSize: 1024})
		msg := textPattern(5000, 1)

		w, err := conn.NextWriter(OpText)
		if err != nil {
			t.Fatal(err)
		}
		for _, chunk := range [][]byte{msg[:10], msg[10:3000]} {
			if n, err := w.Write(chunk); err != nil || n != len(chunk) {
				t.Fatal(n, err)
			}
		}
		other := make(chan error, 1)
		go func() { other <- conn.WriteMessage(OpBinary, []byte("after")) }()
		// A ping goes out now, between the fragments.
		if err := conn.WriteControl(OpPing, []byte("between")); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(msg[3000:]); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-other; err != nil {
			t.Fatal(err)
		}

		var got []byte
		first, sawPing := true, false
		for {
			f := p.next()
			if f.err != nil {
				t.Fatal(f.err)
			}
			if f.Opcode == OpPing {
				if string(f.payload) != "between" {
					t.Fatalf("ping %q", f.payload)
				}
				sawPing = true
				continue
			}
			wantOp := OpContinuation
			if first {
				wantOp = OpText
			}
			if f.Opcode != wantOp || f.Length > 1024 {
				t.Fatalf("streamed frame: %v len %d (the other message interleaved?)", f.Opcode, f.Length)
			}
			first = false
			got = append(got, f.payload...)
			if f.Fin {
				break
			}
		}
		if !sawPing {
			t.Fatal("the ping waited for the streamed message")
		}
		if !bytes.Equal(got, msg) {
			t.Fatal("streamed payload differs")
		}
		p.expectFrame(OpBinary, []byte("after"))
	})
}

// TestWriteFrame_Raw: WriteFrame sends exactly what it is given, for tools
// that must produce invalid traffic (the receiving side refuses it).
func TestWriteFrame_Raw(t *testing.T) {
	srv, cli := connPair(t, transports[0], Config{}, Config{})
	p := newPeer(t, cli.NetConn(), RoleClient)
	h := Header{Fin: false, Rsv: RSV2, Opcode: 0x5}
	if err := srv.writeRawFrame(h, []byte("raw")); err != nil {
		t.Fatal(err)
	}
	f := p.next()
	if f.Fin || f.Rsv != RSV2 || f.Opcode != 0x5 || string(f.payload) != "raw" || f.Masked {
		t.Fatalf("raw frame: %+v %q", f.Header, f.payload)
	}
}

// TestConcurrentWriters_RFC6455_5_4: any number of goroutines may write at
// once (run with -race). Whole, fragmented and streamed messages from 8
// goroutines each, pings from another, in both directions at the same
// time: every message arrives intact and in its sender's order.
func TestConcurrentWriters_RFC6455_5_4(t *testing.T) {
	const writers, perWriter = 8, 60
	forEachTransport(t, func(t *testing.T, tr transport) {
		// The progress rule is off: a 73 KB message in 1-byte fragments
		// shares net.Pipe with 17 other writers, and under -race with
		// every core busy it took longer than the rule's default budget
		// (20 s + 1 s per KiB), which failed the connection with 1008.
		// This test is about ordering, not time; fault_test.go tests the
		// rule.
		cfg := Config{WriteBufferSize: 512, MessageTimeout: -1}
		srv, cli := connPair(t, tr, cfg, cfg)
		var wg sync.WaitGroup
		for _, pair := range [][2]*Conn{{cli, srv}, {srv, cli}} {
			from, to := pair[0], pair[1]
			for g := range writers {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(g), 1))
					for seq := range perWriter {
						if err := writeNumbered(from, g, seq, r); err != nil {
							t.Errorf("writer %d: %v", g, err)
							return
						}
					}
				})
			}
			wg.Go(func() {
				for i := range 200 {
					if err := from.WriteControl(OpPing, []byte(fmt.Sprint(i))); err != nil {
						t.Errorf("ping: %v", err)
						return
					}
				}
			})
			wg.Go(func() {
				next := make([]int, writers)
				var buf []byte
				for range writers * perWriter {
					var g, seq int
					op, b, err := to.ReadMessage(buf)
					if err == nil {
						buf = b
						g, seq, err = checkNumbered(op, b)
					}
					if err != nil {
						t.Errorf("reader: %v", err)
						// Unblock the writers.
						from.CloseNow()
						to.CloseNow()
						return
					}
					if seq != next[g] {
						t.Errorf("writer %d: message %d arrived, want %d", g, seq, next[g])
						from.CloseNow()
						to.CloseNow()
						return
					}
					next[g]++
				}
			})
		}
		wg.Wait()
	})
}

// writeNumbered writes message seq of writer g with a random method.
func writeNumbered(c *Conn, g, seq int, r *rand.Rand) error {
	n := 8 + r.IntN(3000)
	if r.IntN(10) == 0 {
		n += 70000
	}
	op := OpBinary
	if seq%2 == 0 {
		op = OpText
	}
	b := numbered(op, g, seq, n)
	switch r.IntN(3) {
	case 0:
		return c.WriteMessage(op, b)
	case 1:
		return c.WriteFragmented(op, b, 1+r.IntN(700))
	default:
		w, err := c.NextWriter(op)
		if err != nil {
			return err
		}
		for len(b) > 0 {
			k := min(len(b), 1+r.IntN(900))
			if _, err := w.Write(b[:k]); err != nil {
				return err
			}
			b = b[k:]
		}
		return w.Close()
	}
}

// numbered returns an n-byte message (n >= 8) that names its writer and
// sequence number in 8 hex digits and whose body is derived from both;
// text is ASCII.
func numbered(op Opcode, g, seq, n int) []byte {
	var b []byte
	if op == OpText {
		b = textPattern(n, uint64(g)<<32|uint64(seq))
	} else {
		b = pattern(n, uint64(g)<<32|uint64(seq))
	}
	copy(b, fmt.Sprintf("%04x%04x", g, seq))
	return b
}

func checkNumbered(op Opcode, b []byte) (g, seq int, err error) {
	if len(b) < 8 {
		return 0, 0, fmt.Errorf("message of %d bytes", len(b))
	}
	if _, err := fmt.Sscanf(string(b[:8]), "%04x%04x", &g, &seq); err != nil {
		return 0, 0, fmt.Errorf("corrupt message header %q", b[:8])
	}
	if want := numbered(op, g, seq, len(b)); !bytes.Equal(b, want) {
		return 0, 0, fmt.Errorf("writer %d message %d (%v, %d bytes): body corrupted", g, seq, op, len(b))
	}
	return g, seq, nil
}

// TestTrace sees every frame in both directions with its unmasked payload.
func TestTrace(t *testing.T) {
	type event struct {
		dir     Direction
		op      Opcode
		masked  bool
		payload string
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		var mu sync.Mutex
		var events []event
		trace := func(dir Direction, h Header, p []byte) {
			mu.Lock()
			events = append(events, event{dir, h.Opcode, h.Masked, string(p)})
			mu.Unlock()
		}
		ponged := make(chan struct{}, 1)
		srv, cli := connPair(t, tr, Config{Trace: func(_ *Conn, dir Direction, h Header, p []byte) { trace(dir, h, p) }}, Config{OnPong: func([]byte) { ponged <- struct{}{} }})
		msgs := readLoop(srv)
		cr := readLoop(cli)
		cli.WriteMessage(OpText, []byte("hi"))
		expectMessage(t, msgs, OpText, []byte("hi"))
		cli.WriteControl(OpPing, []byte("p"))
		<-ponged
		srv.WriteMessage(OpBinary, []byte("yo"))
		expectMessage(t, cr, OpBinary, []byte("yo"))
		cli.CloseWith(CloseNormal, "end")
		expectCloseError(t, msgs, CloseNormal, false)
		mu.Lock()
		defer mu.Unlock()
		want := []event{
			{Inbound, OpText, true, "hi"},
			{Inbound, OpPing, true, "p"},
			{Outbound, OpPong, false, "p"},
			{Outbound, OpBinary, false, "yo"},
			{Inbound, OpClose, true, "\x03\xe8end"},
			{Outbound, OpClose, false, "\x03\xe8end"},
		}
		if fmt.Sprint(events) != fmt.Sprint(want) {
			t.Fatalf("trace:\n got %v\nwant %v", events, want)
		}
	})
}

// TestPong_RFC6455_5_5_2_ReaderNotBlockedByWriters: both ends write large
// messages and ping each other at the same time. The pong a reader owes
// (§5.5.2) must not make it wait for the write lock while a writer of its
// own Conn is stuck on a full connection: the peer's writer waits for this
// reader, and if the peer's reader is in the same state neither side reads
// again. Over TCP the socket buffers are made small so that writers block;
// over net.Pipe every write blocks until the other side reads.
func TestPong_RFC6455_5_5_2_ReaderNotBlockedByWriters(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		s, c := tr.pair(t)
		if tr.name == "tcp" {
			s, c = tcpPairSmallBuffers(t, 16<<10)
		}
		srv := newTestConn(t, s, Config{Role: RoleServer})
		cli := newTestConn(t, c, Config{Role: RoleClient})
		const msgs, size = 16, 1 << 20
		var work, all sync.WaitGroup // work: writers and readers' first msgs messages
		stop := make(chan struct{})
		stopped := func() bool {
			select {
			case <-stop:
				return true
			default:
				return false
			}
		}
		for _, pair := range [][2]*Conn{{cli, srv}, {srv, cli}} {
			from, to := pair[0], pair[1]
			work.Add(2)
			all.Go(func() {
				defer work.Done()
				big := make([]byte, size)
				for range msgs {
					if err := from.WriteMessage(OpBinary, big); err != nil {
						t.Errorf("write: %v", err)
						return
					}
				}
			})
			all.Go(func() {
				for i := 0; !stopped(); i++ {
					if err := from.WriteControl(OpPing, []byte{byte(i)}); err != nil {
						if !stopped() {
							t.Errorf("ping: %v", err)
						}
						return
					}
				}
			})
			// The reader goes on reading (pings, pongs) until the end, so
			// that no writer of the other side is left blocked.
			all.Go(func() {
				var buf []byte
				for n := 0; ; n++ {
					if n == msgs {
						work.Done()
					}
					_, b, err := to.ReadMessage(buf)
					if err != nil {
						if n < msgs {
							t.Errorf("read: %v", err)
							work.Done()
						}
						return
					}
					buf = b
				}
			})
		}
		done := make(chan struct{})
		go func() { work.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(testTimeout):
			t.Error("deadlock: readers blocked on pongs behind blocked writers")
		}
		close(stop)
		srv.CloseNow()
		cli.CloseNow()
		all.Wait()
	})
}
