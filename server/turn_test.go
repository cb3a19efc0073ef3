//go:build linux

package server

import (
	"bytes"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/server/internal/wstest"
)

// Turns (see turnBytes): a loop serves a connection that has a deep burst
// buffered for one turn, then the other ready connections, then the rest
// of the burst. Connection A's burst and connection B's single message
// arrive while the only loop is held in a third connection's callback (the
// watchdog is off for this test, so nothing moves), A's first; B's message
// must be handled after exactly one turn of A's, not after all of A's. A
// turn is 4 KiB of payload (4 messages of 1 KiB) or 64 messages (of
// 16 bytes, say).
func TestEvents_TurnsShareTheLoop(t *testing.T) {
	wstest.CheckGoroutines(t)
	for _, tc := range []struct {
		size, burst, want int
	}{
		{size: 1024, burst: 32, want: turnBytes / 1024},
		{size: 16, burst: 200, want: turnMessages},
		// Large messages: turnBytes is passed by the first, but a turn
		// still takes turnMinMessages of them.
		{size: 8 << 10, burst: 8, want: turnMinMessages},
	} {
		t.Run(fmt.Sprintf("%dx%dB", tc.burst, tc.size), func(t *testing.T) {
			gate := make(chan struct{})
			entered := make(chan struct{}, 1)
			var mu sync.Mutex
			var order []byte // 'a' or 'b' per message handled, in order
			rec := newRecorder(t)
			rec.onMsg = func(c *frame.Conn, op frame.Opcode, msg []byte) bool {
				if string(msg) == "gate" {
					entered <- struct{}{}
					select {
					case <-gate:
					case <-time.After(2 * wstest.Timeout):
					}
					return false
				}
				mu.Lock()
				order = append(order, msg[0])
				mu.Unlock()
				return false
			}
			srv, addr := eventServer(t, rec, func(s *Server) {
				s.EventLoops = 1             // all three on one loop
				s.testLoopBudget = time.Hour // held means held: no takeover
			})
			g := wstest.Dial(t, addr, "/", frame.Config{})
			a := wstest.Dial(t, addr, "/", frame.Config{})
			b := wstest.Dial(t, addr, "/", frame.Config{})
			waitAllIdle(t, srv)

			if err := g.WriteMessage(frame.OpText, []byte("gate")); err != nil {
				t.Fatal(err)
			}
			waitEntered(t, entered, "the gate message")
			// A's burst, then B's message; the gate opens once all of it
			// is in the server's sockets (a returned write may still sit
			// in the client's send queue), A readable first.
			msgA := bytes.Repeat([]byte{'a'}, tc.size)
			for range tc.burst {
				if err := a.WriteMessage(frame.OpBinary, msgA); err != nil {
					t.Fatal(err)
				}
			}
			frameLen := len(wstest.ClientFrame(true, frame.OpBinary, msgA))
			waitQueued(t, srv, a, tc.burst*frameLen)
			if err := b.WriteMessage(frame.OpBinary, bytes.Repeat([]byte{'b'}, tc.size)); err != nil {
				t.Fatal(err)
			}
			waitQueued(t, srv, b, frameLen)
			close(gate)
			for i := range tc.burst {
				expectEcho(t, a, msgA, fmt.Sprintf("A's echo %d of %d", i+1, tc.burst))
			}
			expectEcho(t, b, bytes.Repeat([]byte{'b'}, tc.size), "B's echo")
			expectEcho(t, g, []byte("gate"), "the gate's echo")

			mu.Lock()
			got := bytes.IndexByte(order, 'b')
			mu.Unlock()
			if got != tc.want {
				t.Errorf("B's message was handled after %d of A's %d messages; want %d (one turn of A's, then B)", got, tc.burst, tc.want)
			}
			for _, c := range []*frame.Conn{g, a, b} {
				c.Close()
			}
			rec.check(t, false)
		})
	}
}

// A connection whose turn ended with input left is carried over to its
// loop's next turn. If the loop is taken over meanwhile (another
// connection's callback blocks), the goroutine that takes over must serve
// the carried connection too: nothing else will, since its socket has no
// new event to report. Here A's burst is served in turns while X's
// callback blocks until every one of A's echoes has come back.
func TestEvents_CarriedConnSurvivesTakeover(t *testing.T) {
	wstest.CheckGoroutines(t)
	const burst = 64 // 16 turns of 4 KiB
	aDone := make(chan struct{})
	entered := make(chan struct{}, 1)
	rec := newRecorder(t)
	rec.onMsg = func(c *frame.Conn, op frame.Opcode, msg []byte) bool {
		if string(msg) == "block" {
			entered <- struct{}{}
			select {
			case <-aDone:
			case <-time.After(2 * wstest.Timeout):
			}
		}
		return false
	}
	srv, addr := eventServer(t, rec, func(s *Server) { s.EventLoops = 1 })
	a := wstest.Dial(t, addr, "/", frame.Config{})
	x := wstest.Dial(t, addr, "/", frame.Config{})
	waitAllIdle(t, srv)

	msgA := bytes.Repeat([]byte{'a'}, 1024)
	for range burst {
		if err := a.WriteMessage(frame.OpBinary, msgA); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.WriteMessage(frame.OpText, []byte("block")); err != nil {
		t.Fatal(err)
	}
	for i := range burst {
		expectEcho(t, a, msgA, fmt.Sprintf("A's echo %d of %d, while X's callback blocks (was A's carried turn lost when the loop was taken over?)", i+1, burst))
	}
	close(aDone)
	waitEntered(t, entered, "X's message")
	expectEcho(t, x, []byte("block"), "X's echo after its callback returned")
	a.Close()
	x.Close()
	rec.check(t, false)
}

// waitQueued waits until the server's socket of the connection whose
// client end is c holds at least n unread bytes (TIOCINQ).
func waitQueued(t *testing.T, srv *Server, c *frame.Conn, n int) {
	t.Helper()
	fd := int32(-1)
	srv.mu.Lock()
	for tc := range srv.conns {
		if tc.ev != nil && tc.c.NetConn().RemoteAddr().String() == c.NetConn().LocalAddr().String() {
			fd = tc.ev.fd
		}
	}
	srv.mu.Unlock()
	if fd < 0 {
		t.Fatal("the server has no event-mode connection registered with a loop for this client")
	}
	deadline := time.Now().Add(wstest.Timeout)
	for {
		var q int32
		_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCINQ, uintptr(unsafe.Pointer(&q)))
		if errno != 0 {
			t.Fatalf("ioctl TIOCINQ: %v", errno)
		}
		if int(q) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server's socket (fd %d) holds %d bytes after %v; waited for %d", fd, q, wstest.Timeout, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// expectEcho reads one message from c and checks it is want.
func expectEcho(t *testing.T, c *frame.Conn, want []byte, what string) {
	t.Helper()
	c.NetConn().SetReadDeadline(time.Now().Add(wstest.Timeout))
	defer c.NetConn().SetReadDeadline(time.Time{})
	_, p, err := c.ReadMessage(nil)
	if err != nil || !bytes.Equal(p, want) {
		t.Fatalf("%s: got %d bytes, %v; want %d bytes (waited up to %v)", what, len(p), err, len(want), wstest.Timeout)
	}
}
