package frame

// Faults that must end a connection in bounded time: a write that fails or
// times out, pongs that a peer never reads, a close frame stuck behind a
// blocked writer, a peer that trickles a message. None of these tests
// asserts how long anything takes; each waits for the outcome with the
// generous testTimeout ceiling, and on the code before the fixes each one
// hit that ceiling because the connection never ended.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// stuckSides returns the two ends of a connection whose far end will never
// read: over TCP with small socket buffers, so that writes block after a
// few KiB; over net.Pipe every write blocks until read.
func stuckSides(t *testing.T, tr transport, role Role) (mine, theirs net.Conn) {
	if tr.name == "tcp" {
		s, c := tcpPairSmallBuffers(t, 16<<10)
		if role == RoleClient {
			return c, s
		}
		return s, c
	}
	return sides(t, tr, role)
}

// expectWriteFailure checks that err is the 1006 a failed write ends a
// connection with: Local, caused by a *WriteError.
func expectWriteFailure(t testing.TB, what string, err error) {
	t.Helper()
	var ce *CloseError
	var we *WriteError
	if !errors.As(err, &ce) || ce.Code != CloseAbnormal || !ce.Local || !errors.As(err, &we) {
		t.Fatalf("%s: %v, want a local 1006 caused by a *WriteError", what, err)
	}
}

// expectPeerSeesEnd reads the far end until the Conn's TCP close shows
// (EOF or reset), discarding what the Conn sent before.
func expectPeerSeesEnd(t testing.TB, theirs net.Conn) {
	t.Helper()
	theirs.SetReadDeadline(time.Now().Add(testTimeout))
	buf := make([]byte, 64<<10)
	for {
		if _, err := theirs.Read(buf); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("the Conn's TCP connection is still open")
			}
			return
		}
	}
}

// TestWriteTimeout_FailsConnection_RFC6455_7_1_7: a write that times out
// (the peer stopped reading) fails the connection at once: TCP is closed,
// the blocked reader and Err report a local 1006 with the write error, and
// later writes fail. Before, the error was only recorded: the reader went
// on reading (and discarding) for as long as the peer kept sending.
func TestWriteTimeout_FailsConnection_RFC6455_7_1_7(t *testing.T) {
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		mine, theirs := stuckSides(t, tr, role)
		c := newTestConn(t, mine, Config{Role: role, WriteTimeout: 20 * time.Millisecond})
		msgs := readLoop(c)
		big := make([]byte, 1<<20)
		var err error
		for i := 0; i < 64 && err == nil; i++ {
			err = c.WriteMessage(OpBinary, big)
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("64 MiB written to a peer that does not read: %v", err)
		}
		r := recv(t, msgs)
		expectWriteFailure(t, "reader", r.err)
		waitDone(t, c)
		expectWriteFailure(t, "Err", c.Err())
		if err := c.WriteMessage(OpText, []byte("more")); err == nil {
			t.Fatal("a write after the failure succeeded")
		}
		expectPeerSeesEnd(t, theirs)
	})
}

// TestPingFlood_UnreadPongs_RFC6455_5_5_2: a peer that floods pings and
// never reads the pongs (§5.5.2 makes every ping owe a pong) blocks the
// pong writes; the first one that times out fails the connection. Before,
// the pongs were dropped and the connection stayed open until the peer
// stopped sending.
func TestPingFlood_UnreadPongs_RFC6455_5_5_2(t *testing.T) {
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		mine, theirs := stuckSides(t, tr, role)
		c := newTestConn(t, mine, Config{Role: role, WriteTimeout: 20 * time.Millisecond})
		msgs := readLoop(c)
		p := &peer{t: t, nc: theirs, role: role.other(), rng: rand.New(rand.NewPCG(1, 2))} // writes only
		ping := p.frame(true, OpPing, make([]byte, MaxControlPayload))
		flood := make(chan error, 1)
		go func() {
			// Until the Conn closes the connection (the write fails), or
			// the ceiling: a flood that is never cut fails the test below.
			theirs.SetWriteDeadline(time.Now().Add(testTimeout))
			for {
				if _, err := theirs.Write(ping); err != nil {
					flood <- err
					return
				}
			}
		}()
		r := recv(t, msgs)
		expectWriteFailure(t, "reader", r.err)
		waitDone(t, c)
		if err := <-flood; errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("the ping flood was never cut")
		}
	})
}

// TestWriteClose_BehindStuckWriter_RFC6455_7_1_1: with no write timeout at
// all, a writer blocked on a peer that does not read holds the write
// lock; a close must still end the connection within CloseTimeout (the
// close timer closes the socket, which ends the blocked write), and
// CloseWith reports that the handshake failed. Before, WriteClose waited
// for the write lock forever.
func TestWriteClose_BehindStuckWriter_RFC6455_7_1_1(t *testing.T) {
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		mine, theirs := stuckSides(t, tr, role)
		c := newTestConn(t, mine, Config{Role: role, CloseTimeout: 50 * time.Millisecond})
		wrote := make(chan error, 1)
		go func() { wrote <- c.WriteMessage(OpBinary, make([]byte, 4<<20)) }()
		waitWriting(t, c)
		closed := make(chan error, 1)
		go func() { closed <- c.CloseWith(CloseGoingAway, "bye") }()
		select {
		case err := <-closed:
			if ce := checkCloseError(t, err, CloseAbnormal, true); ce == nil {
				t.Fatal("no error")
			}
		case <-time.After(testTimeout):
			t.Fatal("CloseWith still blocked behind the stuck writer")
		}
		waitDone(t, c)
		if err := <-wrote; err == nil {
			t.Fatal("the stuck write succeeded")
		}
		expectPeerSeesEnd(t, theirs)
	})
}

// waitWriting returns once a goroutine holds c's write lock (a writer is
// in a write), or fails after testTimeout.
func waitWriting(t testing.TB, c *Conn) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for c.wmu.TryLock() {
		c.wmu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("no writer took the write lock")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFlush_SendsQueuedPong_RFC6455_5_5_2: a pong queued by the reader
// while Flush waited for the write lock is sent when Flush releases it.
// Before, Flush released the lock without looking, and the pong waited
// for the next write, which might never come.
func TestFlush_SendsQueuedPong_RFC6455_5_5_2(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		c, p := connAndPeer(t, tr, RoleServer, Config{})
		c.wmu.Lock() // another writer holds the lock
		c.queuePong([]byte("owed"))
		flushed := make(chan error, 1)
		go func() { flushed <- c.flush() }()
		c.wmu.Unlock() // a plain unlock: the queued pong is left to Flush
		if err := <-flushed; err != nil {
			t.Fatal(err)
		}
		p.expectFrame(OpPong, []byte("owed"))
	})
}

// TestProgress_StalledMessage_RFC6455_10_4: a peer that sends part of a
// frame and then nothing more fails the connection with 1008 once its
// MessageTimeout is spent, and the peer receives the close frame. This
// holds for a stalled header, a stalled payload, and a message stalled
// between its fragments.
func TestProgress_StalledMessage_RFC6455_10_4(t *testing.T) {
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		for _, tc := range []struct {
			name string
			sent func(p *peer) []byte
		}{
			{"header", func(p *peer) []byte { return p.frame(true, OpBinary, make([]byte, 300))[:1] }},
			{"payload", func(p *peer) []byte { return p.frame(true, OpBinary, make([]byte, 1000))[:20] }},
			{"fragments", func(p *peer) []byte { return p.frame(false, OpText, []byte("first of many")) }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c, p := connAndPeer(t, tr, role, Config{Role: role, MessageTimeout: 50 * time.Millisecond})
				msgs := readLoop(c)
				p.writeAsync(tc.sent(p))
				p.expectClose(ClosePolicyViolation)
				p.nc.Close() // ends the Conn's linger (lingerClose)
				ce := expectCloseError(t, msgs, ClosePolicyViolation, true)
				if ce.Reason != "message arrived too slowly" {
					t.Fatalf("reason %q", ce.Reason)
				}
				waitDone(t, c)
			})
		}
	})
}

// TestProgress_Trickle_RFC6455_10_4: a peer that keeps sending, but one
// byte at a time far below MinMessageRate, is cut too: any byte is not
// progress enough.
func TestProgress_Trickle_RFC6455_10_4(t *testing.T) {
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		c, p := connAndPeer(t, tr, role, Config{Role: role, MessageTimeout: 50 * time.Millisecond, MinMessageRate: 1 << 20})
		msgs := readLoop(c)
		f := p.frame(true, OpBinary, make([]byte, 1<<20))
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := range f {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				if p.write(f[i:i+1]) != nil {
					return
				}
			}
		})
		p.expectClose(ClosePolicyViolation)
		close(stop)
		wg.Wait()
		p.nc.Close() // ends the Conn's linger (lingerClose)
		expectCloseError(t, msgs, ClosePolicyViolation, true)
	})
}

// TestProgress_RateEarnsTime_RFC6455_10_4: bytes received extend the
// budget by 1 s per MinMessageRate bytes, so a pause longer than
// MessageTimeout after plenty of data does not cut the message; and time
// between messages does not count at all.
func TestProgress_RateEarnsTime_RFC6455_10_4(t *testing.T) {
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		// 100 ms of budget, plus 1 s per byte received: 1000 bytes earn
		// 1000 s, so the 300 ms pause below is within budget, while it
		// would exceed MessageTimeout alone.
		c, p := connAndPeer(t, tr, role, Config{Role: role, MessageTimeout: 100 * time.Millisecond, MinMessageRate: 1})
		msgs := readLoop(c)
		payload := textPattern(3000, 1)
		f := p.frame(true, OpText, payload)
		for _, part := range [][]byte{f[:1000], f[1000:]} {
			if err := p.write(part); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
		}
		expectMessage(t, msgs, OpText, payload)
		// 300 ms idle between messages, then a whole message.
		p.send(true, OpBinary, []byte("after a quiet spell"))
		expectMessage(t, msgs, OpBinary, []byte("after a quiet spell"))
	})
}

// TestGrow_FollowsArrivedBytes_RFC6455_10_4: the message buffer grows with
// the bytes that arrived, not with the length a header declares: a frame
// that claims 1 MiB and has sent 10 bytes gets a small buffer. (Before,
// the first growth was min(declared length, 64 KiB).)
func TestGrow_FollowsArrivedBytes_RFC6455_10_4(t *testing.T) {
	c := &Conn{rbufSize: DefaultBufferSize}
	c.remaining = 1 << 20
	c.r, c.w = 0, 10
	if got := cap(c.grow(nil)); got > 1024 {
		t.Fatalf("grow for 10 arrived bytes of a 1 MiB frame: cap %d, want at most 1 KiB", got)
	}
	// Doubling from there.
	b := make([]byte, 8192)
	if got := cap(c.grow(b)); got < 16384 || got > 32768 {
		t.Fatalf("grow of 8 KiB: cap %d, want about double", got)
	}
}

// TestCloseHandler_DeferredReply_RFC6455_5_5_1: with a close handler, the peer's close
// frame ends reading at once, writes go on ("An endpoint MAY delay sending
// a Close frame until its current message is sent"), and Close answers
// with the peer's code. Without a Close, the Conn answers by itself after
// CloseTimeout.
func TestCloseHandler_DeferredReply_RFC6455_5_5_1(t *testing.T) {
	forEachRole(t, func(t *testing.T, tr transport, role Role) {
		for _, answer := range []bool{true, false} {
			c, p := connAndPeer(t, tr, role, Config{Role: role, CloseTimeout: 100 * time.Millisecond})
			var got []string
			c.SetCloseHandler(func(code CloseCode, reason string) { got = append(got, fmt.Sprintf("%d %s", code, reason)) })
			msgs := readLoop(c)
			p.send(true, OpClose, closePayload(4001, "leaving"))
			expectCloseError(t, msgs, 4001, false)
			if len(got) != 1 || got[0] != "4001 leaving" {
				t.Fatalf("close handler saw %q, want one call with 4001 leaving", got)
			}
			if err := c.WriteMessage(OpText, []byte("last words")); err != nil {
				t.Fatalf("write after the peer's close: %v", err)
			}
			p.expectFrame(OpText, []byte("last words"))
			if role == RoleClient {
				p.closeOnCloseFrame()
			}
			if answer {
				if err := c.Close(); err != nil {
					t.Fatalf("Close after the peer's close: %v", err)
				}
			}
			if role == RoleServer {
				f := p.expectClose(4001)
				if string(f.payload[2:]) != "leaving" {
					t.Fatalf("reason %q", f.payload[2:])
				}
				p.expectEOF()
			}
			waitDone(t, c)
			if err := c.Err(); CloseStatus(err) != 4001 {
				t.Fatalf("Err() = %v, want the peer's 4001", err)
			}
			if err := c.WriteMessage(OpText, []byte("too late")); err == nil {
				t.Fatal("a write after the close reply succeeded")
			}
		}
	})
}

// TestProgress_AbandonedReaderUnlisted: a Conn closed by another goroutine
// while its reader stopped inside a message (NextReader, partly read, then
// dropped) leaves the progress watch list, so neither it nor the watcher
// goroutine lives on.
func TestProgress_AbandonedReaderUnlisted(t *testing.T) {
	c, p := connAndPeer(t, transports[0], RoleServer, Config{MessageTimeout: time.Hour})
	p.write(p.frame(true, OpBinary, make([]byte, 100))[:50])
	_, r, err := c.NextReader()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	for n := 0; n < 40; {
		k, err := r.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		n += k
	}
	if _, err := r.Read(make([]byte, 100)); err != nil { // the rest of what came
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { // blocks inside the message until 10 more bytes come; then nobody reads
		defer close(done)
		r.Read(make([]byte, 100))
	}()
	listed := func() bool {
		watch.mu.Lock()
		defer watch.mu.Unlock()
		for p := watch.head; p != nil; p = p.next {
			if p.c == c {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(testTimeout)
	for !listed() {
		if time.Now().After(deadline) {
			t.Fatal("the blocked read never put the Conn on the watch list")
		}
		time.Sleep(time.Millisecond)
	}
	p.write(make([]byte, 10))
	<-done
	if !listed() {
		t.Fatal("the Conn left the watch list with its message unfinished")
	}
	c.CloseNow() // no read is blocked: only the watcher can notice
	for listed() {
		if time.Now().After(deadline) {
			t.Fatal("the closed Conn is still on the progress watch list")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestNextWriter_FailedWriteReleasesWriter_RFC6455_7_1_7: a streamed
// message whose Write fails (here the peer is gone, so the connection is
// failed) releases the writer by itself. A goroutine that returns on the
// error without calling Close must not leave every other writer of the
// Conn blocked for good: they get the error at once. A later Close returns
// that error, and a later NextWriter refuses, so a stale Close cannot end
// another goroutine's message. Before, WriteMessage here waited forever
// (CI saw TestConcurrentWriters hang this way).
func TestNextWriter_FailedWriteReleasesWriter_RFC6455_7_1_7(t *testing.T) {
	for _, deflate := range []bool{false, true} {
		t.Run(fmt.Sprintf("deflate=%v", deflate), func(t *testing.T) {
			var c *Conn
			var peer net.Conn
			if deflate {
				p := DeflateParams{}
				var cli *Conn
				c, cli = deflatePair(t, p, 0)
				peer = cli.NetConn()
			} else {
				srv, cli := connPair(t, transports[0], Config{WriteBufferSize: 512}, Config{})
				c, peer = srv, cli.NetConn()
			}
			w, err := c.NextWriter(OpBinary)
			if err != nil {
				t.Fatal(err)
			}
			peer.Close()
			// Write until the failure shows: the first frames may still
			// go into the socket buffer before the reset comes back.
			r := rand.New(rand.NewPCG(3, 4))
			chunk := make([]byte, 16<<10)
			var werr error
			for range 10_000 {
				for i := range chunk {
					chunk[i] = byte(r.Uint32()) // incompressible
				}
				if _, werr = w.Write(chunk); werr != nil {
					break
				}
			}
			if werr == nil {
				t.Fatal("writing 160 MB to a closed peer never failed")
			}
			// This goroutine "returns" here without Close.
			done := make(chan error, 1)
			go func() { done <- c.WriteMessage(OpText, []byte("next")) }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("WriteMessage on a failed connection succeeded")
				}
			case <-time.After(testTimeout):
				t.Fatal("WriteMessage still waits for the failed message writer")
			}
			if _, err := c.NextWriter(OpText); err == nil {
				t.Fatal("NextWriter on a failed connection succeeded")
			}
			if err := w.Close(); !errors.Is(err, werr) {
				t.Fatalf("Close after the failed Write: %v, want %v", err, werr)
			}
		})
	}
}
