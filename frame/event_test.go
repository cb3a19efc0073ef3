package frame

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"
)

// clientConn is the client end of a tcpPair as a Conn, for sending well
// formed (masked) frames to a server Conn under test.
func eventPair(t *testing.T, scfg Config) (srv *Conn, cli *Conn, cliNet net.Conn) {
	s, c := tcpPair(t)
	scfg.Role = RoleServer
	srv = newTestConn(t, s, scfg)
	cli = newTestConn(t, c, Config{Role: RoleClient})
	return srv, cli, c
}

// tryRead calls TryReadMessage until it returns something other than
// ErrWouldBlock, for at most a second, passing readable only on the first
// call: that is what an edge-triggered event loop does after one event.
func tryReadAll(t *testing.T, c *Conn) (msgs []string, err error) {
	t.Helper()
	readable := true
	for {
		_, p, err := c.tryReadMessage(nil, readable)
		readable = false
		if err != nil {
			return msgs, err
		}
		msgs = append(msgs, string(p))
	}
}

// tryResult is what tryReadAsync's TryReadMessage returned.
type tryResult struct {
	msg string
	err error
}

// tryReadAsync calls TryReadMessage(nil, true) in a goroutine, for tests
// that check whether it blocks.
func tryReadAsync(c *Conn) <-chan tryResult {
	ch := make(chan tryResult, 1)
	go func() {
		_, m, err := c.tryReadMessage(nil, true)
		ch <- tryResult{string(m), err}
	}()
	return ch
}

// With nothing received, TryReadMessage returns ErrWouldBlock at once and
// holds no read buffer: an idle connection costs no buffer.
func TestTryReadMessage_IdleReturnsWouldBlock(t *testing.T) {
	srv, _, _ := eventPair(t, Config{})
	if !srv.canTryRead() {
		t.Skip("no file descriptor on this platform")
	}
	for _, readable := range []bool{true, false, true} {
		_, _, err := srv.tryReadMessage(nil, readable)
		if err != ErrWouldBlock {
			t.Fatalf("readable=%v: err = %v, want ErrWouldBlock", readable, err)
		}
		if srv.rbufp != nil {
			t.Fatalf("readable=%v: a read buffer is held while idle", readable)
		}
	}
}

// RFC 6455 §5.4, §5.6: every message that arrived in one burst is
// returned after one readiness event, also when the burst is larger than
// the read buffer (the read that fills the buffer makes TryReadMessage try
// the socket again instead of reporting ErrWouldBlock). An edge-triggered
// loop gets no second event for those bytes, so losing this would stall
// the connection.
func TestTryReadMessage_BurstAfterOneEvent(t *testing.T) {
	// Client frames of a 58-byte payload take 64 bytes (2 header, 4 mask
	// key): four fill the 256-byte buffer exactly, so reads end on message
	// boundaries, the case where nothing but the full read tells that
	// more may be pending.
	for _, size := range []int{58, 10, 100, 300, 2000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			srv, cli, _ := eventPair(t, Config{ReadBufferSize: 256})
			if !srv.canTryRead() {
				t.Skip("no file descriptor on this platform")
			}
			var want []string
			total := 0
			for i := range 20 {
				m := fmt.Sprintf("%03d:%s", i, bytes.Repeat([]byte{'a' + byte(i)}, size-4))
				want = append(want, m)
				total += HeaderSize(Header{Masked: true, Length: int64(len(m))}) + len(m)
				if err := cli.WriteMessage(OpText, []byte(m)); err != nil {
					t.Fatal(err)
				}
			}
			waitArrived(t, srv, total)
			got, err := tryReadAll(t, srv)
			if err != ErrWouldBlock {
				t.Fatalf("after %d messages: %v", len(got), err)
			}
			if len(got) != len(want) {
				t.Fatalf("one readiness event delivered %d messages of %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("message %d: got %q, want %q", i, trunc([]byte(got[i])), trunc([]byte(want[i])))
				}
			}
			if srv.rbufp != nil {
				t.Error("a read buffer is held after the burst was consumed")
			}
		})
	}
}

// HasInput tells an event loop that ends a connection's turn early whether
// the connection needs another turn: true while messages of a burst are
// still buffered or the last read filled the buffer (the socket may hold
// more), false once TryReadMessage found nothing. A false with input left
// would strand the rest of the burst: an edge-triggered loop gets no new
// event for bytes that were already there.
func TestPlumbing_HasInput_BurstInTurns(t *testing.T) {
	srv, cli, _ := eventPair(t, Config{ReadBufferSize: 256})
	if !srv.canTryRead() {
		t.Skip("no file descriptor on this platform")
	}
	p := PlumbingOf(srv)
	if _, err := tryReadAll(t, srv); err != ErrWouldBlock {
		t.Fatal(err)
	}
	if p.HasInput() {
		t.Fatal("HasInput is true on an idle connection")
	}
	// 64-byte frames: four fill the buffer, so reads end on message
	// boundaries, where only the full read tells that more is pending.
	const n = 20
	for i := range n {
		if err := cli.WriteMessage(OpText, []byte(fmt.Sprintf("%02d:%s", i, bytes.Repeat([]byte{'x'}, 55)))); err != nil {
			t.Fatal(err)
		}
	}
	waitArrived(t, srv, n*64)
	readable := true
	for i := range n {
		_, m, err := srv.tryReadMessage(nil, readable)
		readable = false
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if want := fmt.Sprintf("%02d:", i); !bytes.HasPrefix(m, []byte(want)) {
			t.Fatalf("message %d: got %q", i, trunc(m))
		}
		if i < n-1 && !p.HasInput() {
			t.Fatalf("HasInput is false after message %d of %d: the rest of the burst would be stranded", i+1, n)
		}
	}
	if _, _, err := srv.tryReadMessage(nil, false); err != ErrWouldBlock {
		t.Fatalf("after the burst: %v, want ErrWouldBlock", err)
	}
	if p.HasInput() {
		t.Fatal("HasInput is true after TryReadMessage found nothing")
	}
}

// Once a message has begun, TryReadMessage reads all of it, waiting for
// the rest as ReadMessage does (§5.4: a fragmented message, and a frame
// split across TCP segments).
func TestTryReadMessage_BlocksInsideAMessage(t *testing.T) {
	srv, _, cn := eventPair(t, Config{})
	if !srv.canTryRead() {
		t.Skip("no file descriptor on this platform")
	}
	p := newPeer(t, cn, RoleClient)
	first := p.frame(false, OpText, []byte("hello, "))
	last := p.frame(true, OpContinuation, []byte("world"))
	if err := p.write(append(first, last[:3]...)); err != nil {
		t.Fatal(err)
	}
	waitArrived(t, srv, len(first)+3)
	ch := tryReadAsync(srv)
	select {
	case r := <-ch:
		t.Fatalf("returned before the message was complete: %q, %v", r.msg, r.err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := p.write(last[3:]); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-ch:
		if r.err != nil || r.msg != "hello, world" {
			t.Fatalf("got %q, %v", r.msg, r.err)
		}
	case <-time.After(testTimeout):
		t.Fatal("no message")
	}
}

// The end of the connection is reported like ReadMessage reports it: the
// peer's close code (§7.1.5), or 1006 when TCP ended without a close frame.
func TestTryReadMessage_End(t *testing.T) {
	t.Run("close frame", func(t *testing.T) {
		srv, cli, _ := eventPair(t, Config{})
		if !srv.canTryRead() {
			t.Skip("no file descriptor on this platform")
		}
		go cli.CloseWith(CloseNormal, "bye")
		deadline := time.Now().Add(testTimeout)
		for {
			_, _, err := srv.tryReadMessage(nil, true)
			if err == ErrWouldBlock && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
				continue
			}
			ce := checkCloseError(t, err, CloseNormal, false)
			if ce.Reason != "bye" {
				t.Errorf("reason %q", ce.Reason)
			}
			return
		}
	})
	t.Run("EOF", func(t *testing.T) {
		srv, _, cn := eventPair(t, Config{})
		if !srv.canTryRead() {
			t.Skip("no file descriptor on this platform")
		}
		cn.Close()
		waitArrived(t, srv, -1)
		_, _, err := srv.tryReadMessage(nil, true)
		ce := checkCloseError(t, err, CloseAbnormal, false)
		if !errors.Is(ce.Err, io.ErrUnexpectedEOF) {
			t.Errorf("err %v", ce.Err)
		}
		if srv.Err() == nil {
			t.Error("Err() is nil after the connection ended")
		}
	})
}

// A Conn without a file descriptor cannot be polled: TryReadMessage is
// ReadMessage there.
func TestTryReadMessage_PipeBlocks(t *testing.T) {
	srv, cli := connPair(t, transport{"pipe", pipePair}, Config{}, Config{})
	if srv.canTryRead() {
		t.Fatal("a net.Pipe Conn claims a file descriptor")
	}
	go cli.WriteMessage(OpBinary, []byte{1, 2, 3})
	op, p, err := srv.tryReadMessage(nil, false)
	if err != nil || op != OpBinary || !bytes.Equal(p, []byte{1, 2, 3}) {
		t.Fatalf("got %v %v %v", op, p, err)
	}
}

// Steady state: a message read with TryReadMessage into a reused buffer
// allocates nothing, and neither does the ErrWouldBlock that follows.
func TestTryReadMessage_NoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	srv, cli, _ := eventPair(t, Config{})
	if !srv.canTryRead() {
		t.Skip("no file descriptor on this platform")
	}
	msg := bytes.Repeat([]byte("x"), 1000)
	buf := make([]byte, 0, 2048)
	var failed error
	allocs := testing.AllocsPerRun(200, func() {
		if err := cli.WriteMessage(OpBinary, msg); err != nil {
			failed = err
			return
		}
		for {
			_, p, err := srv.tryReadMessage(buf, true)
			if err == ErrWouldBlock {
				continue // not there yet: an event would come
			}
			if err != nil || len(p) != len(msg) {
				failed = fmt.Errorf("%d bytes, %v", len(p), err)
			}
			break
		}
		if _, _, err := srv.tryReadMessage(buf, false); err != ErrWouldBlock {
			failed = fmt.Errorf("after the message: %v", err)
		}
	})
	if failed != nil {
		t.Fatal(failed)
	}
	if allocs != 0 {
		t.Errorf("%.1f allocations per message, want 0", allocs)
	}
}

// RFC 6455 §5.5.2, §5.5.3: a ping or pong that arrives alone between
// messages is handled (a ping is answered) and TryReadMessage then reports
// ErrWouldBlock instead of waiting for a data frame: keepalive traffic
// must not leave an idle connection's goroutine parked in a read. A data
// message that arrived with the control frame is still returned.
func TestTryReadMessage_ControlFrameAloneGoesIdle(t *testing.T) {
	srv, _, cn := eventPair(t, Config{})
	if !srv.canTryRead() {
		t.Skip("no file descriptor on this platform")
	}
	p := newPeer(t, cn, RoleClient)
	for _, op := range []Opcode{OpPong, OpPing} {
		f := p.frame(true, op, []byte("k"))
		if err := p.write(f); err != nil {
			t.Fatal(err)
		}
		waitArrived(t, srv, len(f))
		done := make(chan error, 1)
		go func() {
			_, _, err := srv.tryReadMessage(nil, true)
			done <- err
		}()
		select {
		case err := <-done:
			if err != ErrWouldBlock {
				t.Fatalf("%v alone: err = %v, want ErrWouldBlock", op, err)
			}
		case <-time.After(testTimeout):
			t.Fatalf("%v alone: TryReadMessage waits for a data frame", op)
		}
		if srv.rbufp != nil {
			t.Fatalf("%v alone: a read buffer is held while idle", op)
		}
	}
	// The ping was answered with a pong carrying its payload (§5.5.3).
	p.expectFrame(OpPong, []byte("k"))
	// A ping followed by a message in the same burst: the message comes.
	burst := append(p.frame(true, OpPing, nil), p.frame(true, OpText, []byte("after"))...)
	if err := p.write(burst); err != nil {
		t.Fatal(err)
	}
	waitArrived(t, srv, len(burst))
	msgs, err := tryReadAll(t, srv)
	if err != ErrWouldBlock || len(msgs) != 1 || msgs[0] != "after" {
		t.Fatalf("got %q, %v", msgs, err)
	}
}

// AfterDone runs its function once the connection has ended, however it
// ended, and at once for a connection that has ended already.
func TestAfterDone(t *testing.T) {
	srv, _, cn := eventPair(t, Config{})
	ran := make(chan struct{}, 2)
	srv.setAfterDone(func() { t.Error("replaced function ran") })
	srv.setAfterDone(func() { ran <- struct{}{} })
	select {
	case <-ran:
		t.Fatal("ran before the connection ended")
	case <-time.After(20 * time.Millisecond):
	}
	cn.Close()
	go srv.ReadMessage(nil) // sees EOF and ends the connection
	select {
	case <-ran:
	case <-time.After(testTimeout):
		t.Fatal("did not run after the connection ended")
	}
	srv.setAfterDone(func() { ran <- struct{}{} })
	select {
	case <-ran:
	case <-time.After(testTimeout):
		t.Fatal("did not run for an ended connection")
	}
}

// expectNothing checks that nothing arrives on nc for a short while.
func expectNothing(t *testing.T, nc net.Conn, when string) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	var b [1]byte
	if n, err := nc.Read(b[:]); n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s: got %d bytes, %v; want nothing yet (writes held)", when, n, err)
	}
	nc.SetReadDeadline(time.Time{})
}

// readEchoes reads n text frames from the server on nc and returns their
// payloads.
func readEchoes(t *testing.T, nc net.Conn, n int) []string {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(testTimeout))
	defer nc.SetReadDeadline(time.Time{})
	var got []string
	var hdr [2]byte
	for range n {
		if _, err := io.ReadFull(nc, hdr[:]); err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		n := int(hdr[1] & 0x7f)
		if n == 126 { // §5.2: a 16-bit extended length follows
			var ext [2]byte
			if _, err := io.ReadFull(nc, ext[:]); err != nil {
				t.Fatal(err)
			}
			n = int(ext[0])<<8 | int(ext[1])
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(nc, p); err != nil {
			t.Fatal(err)
		}
		got = append(got, string(p))
	}
	return got
}

// Writes made while more input is buffered are held and leave together
// once the burst has been read: the echoes of pipelined messages cost one
// system call, not one each. They are never held while we wait for the
// peer: not past the last buffered message, not when TryReadMessage goes
// idle, not while it waits for the rest of a message (§5.4). Order is
// kept (§5.6), and a control frame is not held (§5.5.2: a pong is sent
// "as soon as is practical").
func TestTryReadMessage_HoldsWritesDuringABurst(t *testing.T) {
	t.Run("echo burst", func(t *testing.T) {
		srv, _, cn := eventPair(t, Config{})
		if !srv.canTryRead() {
			t.Skip("no file descriptor on this platform")
		}
		p := newPeerNoRead(t, cn)
		var burst []byte
		for i := range 5 {
			burst = append(burst, p.frame(true, OpText, []byte(fmt.Sprint("m", i)))...)
		}
		if err := p.write(burst); err != nil {
			t.Fatal(err)
		}
		waitArrived(t, srv, len(burst))
		for i := range 5 {
			_, m, err := srv.tryReadMessage(nil, i == 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.WriteMessage(OpText, m); err != nil {
				t.Fatal(err)
			}
			if i < 4 {
				expectNothing(t, cn, fmt.Sprint("echo ", i))
			}
		}
		if got := readEchoes(t, cn, 5); fmt.Sprint(got) != "[m0 m1 m2 m3 m4]" {
			t.Fatalf("echoes %q", got)
		}
		if _, _, err := srv.tryReadMessage(nil, false); err != ErrWouldBlock {
			t.Fatal(err)
		}
	})
	// heldAnswer: messages "a" and "b" arrive together; the answer "A"
	// to "a" is written while "b" is still buffered, so it is held.
	heldAnswer := func(t *testing.T) (*Conn, net.Conn) {
		srv, _, cn := eventPair(t, Config{})
		if !srv.canTryRead() {
			t.Skip("no file descriptor on this platform")
		}
		p := newPeerNoRead(t, cn)
		ab := append(p.frame(true, OpText, []byte("a")), p.frame(true, OpText, []byte("b"))...)
		p.write(ab)
		waitArrived(t, srv, len(ab))
		srv.tryReadMessage(nil, true)
		srv.WriteMessage(OpText, []byte("A"))
		return srv, cn
	}
	t.Run("flushed when idle", func(t *testing.T) {
		srv, cn := heldAnswer(t)
		expectNothing(t, cn, "A")
		srv.tryReadMessage(nil, false) // "b", no answer
		if _, _, err := srv.tryReadMessage(nil, false); err != ErrWouldBlock {
			t.Fatal(err)
		}
		if got := readEchoes(t, cn, 1); got[0] != "A" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("flushed before waiting inside a message", func(t *testing.T) {
		srv, _, cn := eventPair(t, Config{})
		if !srv.canTryRead() {
			t.Skip("no file descriptor on this platform")
		}
		p := newPeerNoRead(t, cn)
		second := p.frame(true, OpText, []byte("second"))
		b := append(p.frame(true, OpText, []byte("first")), second[:4]...)
		p.write(b)
		waitArrived(t, srv, len(b))
		srv.tryReadMessage(nil, true)
		srv.WriteMessage(OpText, []byte("answer"))
		done := make(chan string, 1)
		go func() {
			_, m, _ := srv.tryReadMessage(nil, false)
			done <- string(m)
		}()
		// The peer gets its answer while the server waits for the rest.
		if got := readEchoes(t, cn, 1); got[0] != "answer" {
			t.Fatalf("got %q", got)
		}
		p.write(second[4:])
		select {
		case m := <-done:
			if m != "second" {
				t.Fatalf("got %q", m)
			}
		case <-time.After(testTimeout):
			t.Fatal("no second message")
		}
	})
	// Only small answers are held, up to maxHeld bytes in all: an answer
	// larger than that goes out at once (held ones first), since one
	// more write costs it little and holding it delays it.
	t.Run("large answer not held", func(t *testing.T) {
		srv, cn := heldAnswer(t)               // "A" held, "b" still buffered
		big := bytes.Repeat([]byte{'B'}, 1100) // over 1 KiB
		if err := srv.WriteMessage(OpText, big); err != nil {
			t.Fatal(err)
		}
		got := readEchoes(t, cn, 2)
		if got[0] != "A" || got[1] != string(big) {
			t.Fatalf("got %d answers of %d and %d bytes; want \"A\", then the %d-byte answer at once", len(got), len(got[0]), len(got[1]), len(big))
		}
		srv.WriteMessage(OpText, []byte("C")) // small, and "b" is still buffered: held
		expectNothing(t, cn, "C")
	})
	t.Run("pong not held", func(t *testing.T) {
		srv, cn := heldAnswer(t)
		srv.WriteControl(OpPong, []byte("P"))
		cn.SetReadDeadline(time.Now().Add(testTimeout))
		var got [6]byte
		if _, err := io.ReadFull(cn, got[:]); err != nil || string(got[:]) != "\x81\x01A\x8a\x01P" {
			t.Fatalf("got % x, %v; want the held echo, then the pong", got, err)
		}
	})
}

// newPeerNoRead is a client peer that only sends: the test reads the raw
// socket itself.
func newPeerNoRead(t testing.TB, nc net.Conn) *peer {
	return &peer{t: t, nc: nc, role: RoleClient, rng: rand.New(rand.NewPCG(1, 2))}
}

// RFC 6455 §5.5.2: pings that exactly fill the read buffer, with nothing
// behind them, must not leave TryReadMessage blocked in a read (the full
// read says "the socket may hold more", so it tries once more, without
// blocking); a message behind them is returned after the same event.
func TestTryReadMessage_ControlFramesFillTheBuffer(t *testing.T) {
	for _, behind := range []bool{false, true} {
		t.Run(fmt.Sprint("message behind: ", behind), func(t *testing.T) {
			// 512 bytes: the smallest pooled read buffer (getBuf).
			srv, _, cn := eventPair(t, Config{ReadBufferSize: 512})
			if !srv.canTryRead() {
				t.Skip("no file descriptor on this platform")
			}
			p := newPeer(t, cn, RoleClient)
			ping := bytes.Repeat([]byte("p"), 122) // 2+4+122 = 128 bytes a frame
			var burst []byte
			for range 4 {
				burst = append(burst, p.frame(true, OpPing, ping)...)
			}
			if len(burst) != 512 || len(burst) != cap(*getBuf(512)) {
				t.Fatalf("burst of %d bytes", len(burst))
			}
			if behind {
				burst = append(burst, p.frame(true, OpText, []byte("after"))...)
			}
			if err := p.write(burst); err != nil {
				t.Fatal(err)
			}
			waitArrived(t, srv, len(burst))
			ch := tryReadAsync(srv)
			select {
			case r := <-ch:
				if behind && (r.err != nil || r.msg != "after") {
					t.Fatalf("got %q, %v; want the message", r.msg, r.err)
				}
				if !behind && r.err != ErrWouldBlock {
					t.Fatalf("got %q, %v; want ErrWouldBlock", r.msg, r.err)
				}
			case <-time.After(testTimeout):
				t.Fatal("TryReadMessage blocked after a full buffer of pings")
			}
			p.expectFrame(OpPong, ping)
		})
	}
}
