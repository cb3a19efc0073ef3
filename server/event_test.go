package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/server/internal/wstest"
)

// recorder is an EventHandler that echoes every message and records, per
// connection, the order of its callbacks, so that tests can check the
// contract of EventHandler: OnOpen first, OnMessage in order, OnClose once,
// calls for one connection never overlapping.
type recorder struct {
	t        testing.TB
	mu       sync.Mutex
	conns    map[*frame.Conn]*connLog
	closed   chan *connLog
	onMsg    func(c *frame.Conn, op frame.Opcode, msg []byte) bool // true: handled, no echo
	onOpen   func(c *frame.Conn)
	overlaps atomic.Int32
}

type connLog struct {
	c        *frame.Conn
	opened   int
	msgs     int
	closes   int
	err      error
	inCall   atomic.Int32
	badOrder string
}

func newRecorder(t testing.TB) *recorder {
	return &recorder{t: t, conns: map[*frame.Conn]*connLog{}, closed: make(chan *connLog, 1024)}
}

// enter marks a callback for c as running and reports a second,
// overlapping one.
func (r *recorder) enter(c *frame.Conn) *connLog {
	r.mu.Lock()
	l := r.conns[c]
	if l == nil {
		l = &connLog{c: c}
		r.conns[c] = l
	}
	r.mu.Unlock()
	if l.inCall.Add(1) != 1 {
		r.overlaps.Add(1)
	}
	return l
}

// leave ends a callback begun with enter.
func (r *recorder) leave(l *connLog) { l.inCall.Add(-1) }

func (r *recorder) OnOpen(c *frame.Conn, _ *handshake.Result) {
	l := r.enter(c)
	defer r.leave(l)
	r.mu.Lock()
	defer r.mu.Unlock()
	if l.opened != 0 || l.msgs != 0 || l.closes != 0 {
		l.badOrder = "OnOpen after another callback"
	}
	l.opened++
	if r.onOpen != nil {
		r.onOpen(c)
	}
}

func (r *recorder) OnMessage(c *frame.Conn, op frame.Opcode, msg []byte) {
	l := r.enter(c)
	defer r.leave(l)
	r.mu.Lock()
	if l.opened != 1 || l.closes != 0 {
		l.badOrder = "OnMessage before OnOpen or after OnClose"
	}
	l.msgs++
	r.mu.Unlock()
	if r.onMsg != nil && r.onMsg(c, op, msg) {
		return
	}
	c.WriteMessage(op, msg)
}

func (r *recorder) OnClose(c *frame.Conn, err error) {
	l := r.enter(c)
	defer r.leave(l)
	r.mu.Lock()
	if l.opened != 1 {
		l.badOrder = "OnClose without OnOpen"
	}
	l.closes++
	l.err = err
	r.mu.Unlock()
	r.closed <- l
}

// waitClosed waits for the next OnClose.
func (r *recorder) waitClosed(t testing.TB) *connLog {
	t.Helper()
	select {
	case l := <-r.closed:
		r.mu.Lock()
		defer r.mu.Unlock()
		return &connLog{c: l.c, opened: l.opened, msgs: l.msgs, closes: l.closes, err: l.err}
	case <-time.After(wstest.Timeout):
		t.Fatal("no OnClose")
		return nil
	}
}

// waitClosedConn waits for c's OnClose, skipping other connections'.
func (r *recorder) waitClosedConn(t testing.TB, c *frame.Conn) *connLog {
	t.Helper()
	for {
		if l := r.waitClosed(t); l.c == c {
			return l
		}
	}
}

// check verifies the callback contract for every connection seen; with
// ended, every connection must have had its OnClose exactly once.
func (r *recorder) check(t testing.TB, ended bool) {
	t.Helper()
	if n := r.overlaps.Load(); n != 0 {
		t.Errorf("%d callbacks overlapped another callback of the same connection", n)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.conns {
		if l.badOrder != "" {
			t.Errorf("callback order: %s", l.badOrder)
		}
		if l.closes > 1 || (ended && l.closes != 1) {
			t.Errorf("OnClose called %d times", l.closes)
		}
	}
}

// eventLoops is Server.EventLoops for eventServer: the event-mode tests
// run with the default loops, and TestEvents_Workers runs them again with
// worker dispatch.
var eventLoops int

// eventServer serves rec in event mode on a loopback listener.
func eventServer(t testing.TB, rec *recorder, tune func(*Server)) (*Server, string) {
	s := &Server{Events: rec, EventLoops: eventLoops}
	if tune != nil {
		tune(s)
	}
	return s, serveLocal(t, s)
}

// RFC 6455 §5.6, §5.4: in event mode every message comes back whole and in
// order, whatever its size and fragmentation, on many connections at once.
func TestEvents_Echo_RFC6455_5_6(t *testing.T) {
	wstest.CheckGoroutines(t)
	rec := newRecorder(t)
	_, addr := eventServer(t, rec, nil)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := wstest.Dial(t, addr, "/", frame.Config{})
			c.NetConn().SetDeadline(time.Now().Add(wstest.Timeout))
			for j := range 50 {
				msg := []byte(fmt.Sprintf("conn %d message %d %s", i, j, strings.Repeat("x", j*37)))
				var err error
				switch j % 3 {
				case 0:
					err = c.WriteMessage(frame.OpText, msg)
				case 1:
					err = c.WriteFragmented(frame.OpText, msg, 7) // §5.4
				case 2:
					err = c.WriteMessage(frame.OpBinary, msg)
				}
				if err != nil {
					errs <- err
					return
				}
				op, got, err := c.ReadMessage(nil)
				if err != nil || !bytes.Equal(got, msg) || (op == frame.OpBinary) != (j%3 == 2) {
					errs <- fmt.Errorf("conn %d message %d: %v %d bytes, %v", i, j, op, len(got), err)
					return
				}
			}
			if i == 0 {
				if err := c.WriteFragmented(frame.OpBinary, big, 100_000); err != nil {
					errs <- err
					return
				}
				if _, got, err := c.ReadMessage(nil); err != nil || !bytes.Equal(got, big) {
					errs <- fmt.Errorf("1 MiB message: %d bytes, %v", len(got), err)
					return
				}
			}
			if err := c.Close(); err != nil {
				errs <- fmt.Errorf("close: %v", err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for range 16 {
		l := rec.waitClosed(t)
		if frame.CloseStatus(l.err) != frame.CloseNormal {
			t.Errorf("OnClose err %v, want the client's 1000", l.err)
		}
		if l.msgs < 50 {
			t.Errorf("OnMessage called %d times, want at least 50", l.msgs)
		}
	}
	rec.check(t, true)
}

// A client that pipelines (sends many messages without reading) gets every
// echo, in order: messages that arrive in one read after one readiness
// event are all delivered (§5.6), not only the first.
func TestEvents_Pipelined(t *testing.T) {
	wstest.CheckGoroutines(t)
	rec := newRecorder(t)
	_, addr := eventServer(t, rec, nil)
	c := wstest.Dial(t, addr, "/", frame.Config{})
	c.NetConn().SetDeadline(time.Now().Add(wstest.Timeout))
	const n = 2000
	go func() {
		for i := range n {
			if c.WriteMessage(frame.OpText, []byte(fmt.Sprint(i))) != nil {
				return
			}
		}
	}()
	for i := range n {
		_, p, err := c.ReadMessage(nil)
		if err != nil || string(p) != fmt.Sprint(i) {
			t.Fatalf("echo %d: %q, %v", i, p, err)
		}
	}
	c.Close()
	rec.waitClosed(t)
	rec.check(t, true)
}

// The point of event mode: an idle connection has no goroutine. After
// traffic, 200 idle connections add a handful of goroutines at most (the
// poller, the keepalive loop), where Handler mode adds one per connection.
func TestEvents_IdleConnsHoldNoGoroutine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("event mode uses a goroutine per connection without epoll")
	}
	wstest.CheckGoroutines(t)
	rec := newRecorder(t)
	_, addr := eventServer(t, rec, nil)
	before := runtime.NumGoroutine()
	const n = 200
	conns := make([]*frame.Conn, n)
	for i := range conns {
		conns[i] = wstest.Dial(t, addr, "/", frame.Config{})
		roundTrip(t, conns[i], "hello")
		// A ping between messages must not leave a goroutine behind
		// either (§5.5.2): the pong comes back, the connection goes idle.
		if err := conns[i].WriteControl(frame.OpPing, []byte("p")); err != nil {
			t.Fatal(err)
		}
		roundTrip(t, conns[i], "again")
	}
	// Each client Conn has no goroutine of its own, so any growth is the
	// server's.
	var grown int
	deadline := time.Now().Add(wstest.Timeout)
	for {
		grown = runtime.NumGoroutine() - before
		if grown <= 10 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if grown > 10 {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d idle connections hold %d goroutines\n%s", n, grown, buf[:runtime.Stack(buf, true)])
	}
	// And they still work.
	for _, c := range conns {
		roundTrip(t, c, "still there")
	}
}

// RFC 6455 §7.4.1, §7.1.5: OnClose receives how the connection ended: the
// client's close code, or the code we failed it with (Local) for a
// protocol violation (1002), invalid UTF-8 (1007) or a message over the
// limit (1009), which the client sees in our close frame.
func TestEvents_OnCloseCodes_RFC6455_7_4_1(t *testing.T) {
	wstest.CheckGoroutines(t)
	rec := newRecorder(t)
	_, addr := eventServer(t, rec, func(s *Server) { s.Config.MaxMessageSize = 1000 })

	t.Run("client 1000", func(t *testing.T) {
		c := wstest.Dial(t, addr, "/", frame.Config{})
		roundTrip(t, c, "x")
		if err := c.CloseWith(frame.CloseNormal, "bye"); err != nil {
			t.Fatal(err)
		}
		l := rec.waitClosed(t)
		var ce *frame.CloseError
		if !errors.As(l.err, &ce) || ce.Code != frame.CloseNormal || ce.Local || ce.Reason != "bye" {
			t.Fatalf("OnClose err %#v, want the peer's 1000 \"bye\"", l.err)
		}
	})
	for _, tc := range []struct {
		name string
		send []byte
		code frame.CloseCode
	}{
		// §5.1: "The server MUST close the connection upon receiving a
		// frame that is not masked."
		{"unmasked 1002", frame.AppendHeader(nil, frame.Header{Fin: true, Opcode: frame.OpText, Length: 2}), frame.CloseProtocolError},
		// §8.1: invalid UTF-8 in a text message.
		{"utf8 1007", wstest.ClientFrame(true, frame.OpText, []byte{0xff, 0xfe}), frame.CloseInvalidPayload},
		// §10.4: a message over MaxMessageSize.
		{"too big 1009", wstest.ClientFrame(true, frame.OpBinary, make([]byte, 2000)), frame.CloseMessageTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := wstest.DialRaw(t, addr)
			r.Upgrade(addr, "/", nil)
			r.Write(wstest.ClientFrame(true, frame.OpText, []byte("ok")))
			r.ExpectFrame(frame.OpText)
			r.Write(tc.send)
			r.ExpectClose(tc.code)
			r.Write(wstest.CloseFrame(tc.code, ""))
			r.ExpectEOF()
			r.Conn.Close() // ends the server's linger (frame.Conn.fail)
			l := rec.waitClosed(t)
			var ce *frame.CloseError
			if !errors.As(l.err, &ce) || ce.Code != tc.code || !ce.Local {
				t.Fatalf("OnClose err %v, want local %v", l.err, tc.code)
			}
		})
	}
	t.Run("TCP reset 1006", func(t *testing.T) {
		r := wstest.DialRaw(t, addr)
		r.Upgrade(addr, "/", nil)
		r.Write(wstest.ClientFrame(true, frame.OpText, []byte("ok")))
		r.ExpectFrame(frame.OpText)
		r.Conn.Close()
		l := rec.waitClosed(t)
		if frame.CloseStatus(l.err) != frame.CloseAbnormal {
			t.Fatalf("OnClose err %v, want 1006", l.err)
		}
	})
	rec.check(t, true)
}

// RFC 6455 §7.4.1 (1011): a panic in OnMessage closes that connection with
// 1011 and calls its OnClose; the other connections go on.
func TestEvents_Panic_RFC6455_7_4_1_InternalError(t *testing.T) {
	wstest.CheckGoroutines(t)
	rec := newRecorder(t)
	rec.onMsg = func(c *frame.Conn, op frame.Opcode, msg []byte) bool {
		if string(msg) == "panic" {
			panic("panic requested by the test")
		}
		return false
	}
	_, addr := eventServer(t, rec, nil)
	other := wstest.Dial(t, addr, "/", frame.Config{})
	roundTrip(t, other, "before")
	victim := wstest.Dial(t, addr, "/", frame.Config{})
	if err := victim.WriteMessage(frame.OpText, []byte("panic")); err != nil {
		t.Fatal(err)
	}
	expectCloseCode(t, victim, frame.CloseInternalError)
	l := rec.waitClosed(t)
	if frame.CloseStatus(l.err) != frame.CloseInternalError {
		t.Errorf("OnClose err %v, want 1011", l.err)
	}
	roundTrip(t, other, "after")
	rec.check(t, false)
}

// A callback may close its own connection (§7.1.2: the server starts the
// close handshake), and any goroutine may write to or close an idle
// connection; OnClose follows once in each case, also when the connection
// was idle (no goroutine) when it was closed.
func TestEvents_CloseFromCallbackAndElsewhere_RFC6455_7_1_2(t *testing.T) {
	wstest.CheckGoroutines(t)
	rec := newRecorder(t)
	rec.onMsg = func(c *frame.Conn, op frame.Opcode, msg []byte) bool {
		if string(msg) == "bye" {
			c.CloseWith(frame.CloseNormal, "as you wish")
			return true
		}
		return false
	}
	s, addr := eventServer(t, rec, nil)

	t.Run("from OnMessage", func(t *testing.T) {
		c := wstest.Dial(t, addr, "/", frame.Config{})
		if err := c.WriteMessage(frame.OpText, []byte("bye")); err != nil {
			t.Fatal(err)
		}
		expectCloseCode(t, c, frame.CloseNormal)
		if l := rec.waitClosed(t); frame.CloseStatus(l.err) != frame.CloseNormal {
			t.Errorf("OnClose err %v", l.err)
		}
	})

	// serverConn returns the server side of the connection the client
	// opened last, once it is idle.
	serverConn := func(t *testing.T, c *frame.Conn) *frame.Conn {
		roundTrip(t, c, "hi")
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for sc, l := range rec.conns {
			if l.closes == 0 && sc.NetConn().RemoteAddr().String() == c.NetConn().LocalAddr().String() {
				return sc
			}
		}
		t.Fatal("server connection not found")
		return nil
	}
	t.Run("write from another goroutine", func(t *testing.T) {
		c := wstest.Dial(t, addr, "/", frame.Config{})
		sc := serverConn(t, c)
		go sc.WriteMessage(frame.OpText, []byte("pushed"))
		c.NetConn().SetReadDeadline(time.Now().Add(wstest.Timeout))
		if _, p, err := c.ReadMessage(nil); err != nil || string(p) != "pushed" {
			t.Fatalf("got %q, %v", p, err)
		}
		roundTrip(t, c, "and echo still works")
	})
	t.Run("CloseNow while idle", func(t *testing.T) {
		c := wstest.Dial(t, addr, "/", frame.Config{})
		sc := serverConn(t, c)
		n := s.NumConns()
		sc.CloseNow()
		l := rec.waitClosedConn(t, sc)
		if frame.CloseStatus(l.err) != frame.CloseAbnormal {
			t.Errorf("OnClose err %v, want 1006", l.err)
		}
		deadline := time.Now().Add(wstest.Timeout)
		for s.NumConns() > n-1 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if s.NumConns() > n-1 {
			t.Errorf("NumConns %d, want %d", s.NumConns(), n-1)
		}
	})
	rec.check(t, false)
}

// RFC 6455 §7.4.1 (1001), §5.5.2: in event mode Shutdown sends 1001 to
// every connection and waits for their OnClose; the keepalive loop closes
// a connection that answers nothing with 1001 after IdleTimeout. That
// silent peer does not answer our close frame either, so its close code
// is 1006 (§7.1.5: closed with no close frame received).
func TestEvents_ShutdownAndIdleTimeout_RFC6455_7_4_1(t *testing.T) {
	wstest.CheckGoroutines(t)
	rec := newRecorder(t)
	s, addr := eventServer(t, rec, func(s *Server) {
		s.PingInterval = -1
		s.IdleTimeout = 300 * time.Millisecond
		s.Config.CloseTimeout = 300 * time.Millisecond
	})
	silent := wstest.DialRaw(t, addr)
	silent.Upgrade(addr, "/", nil)
	silent.ExpectClose(frame.CloseGoingAway)
	l := rec.waitClosed(t)
	if frame.CloseStatus(l.err) != frame.CloseAbnormal {
		t.Errorf("idle timeout: OnClose err %v, want 1006", l.err)
	}

	const n = 5
	codes := make(chan error, n)
	for range n {
		c := wstest.Dial(t, addr, "/", frame.Config{})
		roundTrip(t, c, "x")
		go func() { codes <- wstest.ReadUntilClose(c) }()
	}
	ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for range n {
		if err := <-codes; frame.CloseStatus(err) != frame.CloseGoingAway {
			t.Errorf("client saw %v, want 1001", err)
		}
		rec.waitClosed(t)
	}
	if s.NumConns() != 0 {
		t.Errorf("NumConns after Shutdown: %d", s.NumConns())
	}
	rec.check(t, true)
}

// plainListener hides the accepted connections' file descriptors (as TLS
// does), so event mode cannot poll them.
type plainListener struct{ net.Listener }

func (l plainListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return struct{ net.Conn }{c}, nil
}

// Without a file descriptor (TLS, wrapped connections) event mode falls
// back to a goroutine per connection with the same callbacks (§5.6 echo,
// §7.1.5 close code in OnClose).
func TestEvents_NoFileDescriptorFallback(t *testing.T) {
	wstest.CheckGoroutines(t)
	rec := newRecorder(t)
	s := &Server{Events: rec, Logger: wstest.QuietLogger()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(plainListener{ln}) }()
	addr := ln.Addr().String()
	c := wstest.Dial(t, addr, "/", frame.Config{})
	for i := range 20 {
		roundTrip(t, c, fmt.Sprint("message ", i))
	}
	c.CloseWith(frame.CloseNormal, "done")
	if l := rec.waitClosed(t); frame.CloseStatus(l.err) != frame.CloseNormal || l.msgs != 20 {
		t.Errorf("OnClose after %d messages with %v", l.msgs, l.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	rec.check(t, true)
}

// RFC 6455 §4.2.2 through net/http in event mode: a hijacked connection is
// polled like an accepted one, frames that arrived with the handshake (in
// net/http's buffer) are delivered, and Shutdown sends 1001 (§7.4.1).
func TestEvents_ServeHTTP_RFC6455_4_2_2(t *testing.T) {
	wstest.CheckGoroutines(t)
	rec := newRecorder(t)
	s := &Server{Events: rec}
	addr := serveMux(t, s, nil)
	c := wstest.Dial(t, addr, "/ws", frame.Config{})
	for _, m := range []string{"one", strings.Repeat("large ", 5000)} {
		roundTrip(t, c, m)
	}
	r := wstest.DialRaw(t, addr)
	r.Upgrade(addr, "/ws", wstest.ClientFrame(true, frame.OpText, []byte("early")))
	if p := r.ExpectFrame(frame.OpText); string(p) != "early" {
		t.Fatalf("echo %q", p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
	defer cancel()
	got := make(chan error, 1)
	go func() { got <- wstest.ReadUntilClose(c) }()
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctx) }()
	r.ExpectClose(frame.CloseGoingAway)
	r.Write(wstest.CloseFrame(frame.CloseGoingAway, ""))
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-got; frame.CloseStatus(err) != frame.CloseGoingAway {
		t.Errorf("client saw %v, want 1001", err)
	}
	rec.waitClosed(t)
	rec.waitClosed(t)
	rec.check(t, true)
}

// The event-mode tests again, with one loop that hands each readable
// connection to a worker goroutine (Server.EventLoops < 0) instead of the
// run-to-completion loops.
func TestEvents_Workers(t *testing.T) {
	eventLoops = -1
	defer func() { eventLoops = 0 }()
	for name, test := range map[string]func(*testing.T){
		"Echo":         TestEvents_Echo_RFC6455_5_6,
		"Pipelined":    TestEvents_Pipelined,
		"IdleConns":    TestEvents_IdleConnsHoldNoGoroutine,
		"OnCloseCodes": TestEvents_OnCloseCodes_RFC6455_7_4_1,
		"Panic":        TestEvents_Panic_RFC6455_7_4_1_InternalError,
		"CloseFrom":    TestEvents_CloseFromCallbackAndElsewhere_RFC6455_7_1_2,
		"ShutdownIdle": TestEvents_ShutdownAndIdleTimeout_RFC6455_7_4_1,
		"NoFDFallback": TestEvents_NoFileDescriptorFallback,
		"ServeHTTP":    TestEvents_ServeHTTP_RFC6455_4_2_2,
		"BlockedMoves": TestEvents_BlockedConnDelaysOnlyItself,
	} {
		t.Run(name, test)
	}
}

// The rule of the run-to-completion loops (see poller): a connection that
// keeps its loop busy for longer than loopBudget is moved off the loop, so
// that the other connections of that loop go on. With a single loop, one
// connection is kept busy in each of the three ways it can be, and another
// connection must still get its echoes meanwhile; then the busy one is
// released and gets its own echo, and the server serves new connections.
func TestEvents_BlockedConnDelaysOnlyItself(t *testing.T) {
	wstest.CheckGoroutines(t)
	for _, how := range []string{"a callback that blocks", "a message that arrives slowly", "a peer that does not read"} {
		t.Run(how, func(t *testing.T) {
			release := make(chan struct{})
			entered := make(chan struct{}, 1)
			rec := newRecorder(t)
			rec.onMsg = func(c *frame.Conn, op frame.Opcode, msg []byte) bool {
				switch {
				case string(msg) == "block":
					entered <- struct{}{}
					select {
					case <-release:
					case <-time.After(2 * wstest.Timeout):
					}
				case op == frame.OpBinary && len(msg) == 1<<20:
					// Its echo cannot fit in the small socket buffers of
					// both ends: the write blocks for good.
					select {
					case entered <- struct{}{}:
					default:
					}
				}
				return false
			}
			if how == "a peer that does not read" {
				rec.onOpen = func(c *frame.Conn) { wstest.SmallSendBuffer(c) }
			}
			srv, addr := eventServer(t, rec, func(s *Server) {
				if s.EventLoops >= 0 {
					s.EventLoops = 1 // both connections on one loop
				}
				s.Config.WriteTimeout = -1
				s.Config.MessageTimeout = time.Hour
			})
			busy := dialRawSmall(t, addr)
			busy.Upgrade(addr, "/", nil)
			// Once idle, the connection's input is read by its loop (not
			// by its handshake goroutine, which reads what came with the
			// handshake).
			busy.Write(wstest.ClientFrame(true, frame.OpText, []byte("hello")))
			busy.ExpectFrame(frame.OpText)
			waitAllIdle(t, srv)
			var unblock func()
			switch how {
			case "a callback that blocks":
				busy.Write(wstest.ClientFrame(true, frame.OpText, []byte("block")))
				waitEntered(t, entered, "the blocking message")
				unblock = func() { close(release); busy.ExpectFrame(frame.OpText) }
			case "a message that arrives slowly":
				f := wstest.ClientFrame(true, frame.OpText, []byte("slow message"))
				busy.Write(f[:8]) // the header and two bytes of payload
				unblock = func() { busy.Write(f[8:]); busy.ExpectFrame(frame.OpText) }
			case "a peer that does not read":
				f := wstest.ClientFrame(true, frame.OpBinary, make([]byte, 1<<20))
				go busy.Conn.Write(f) // ends with an error when busy is closed
				waitEntered(t, entered, "the 1 MiB message")
				unblock = func() { busy.Conn.Close() }
			}
			c := wstest.Dial(t, addr, "/", frame.Config{})
			for i := range 20 {
				roundTrip(t, c, fmt.Sprintf("meanwhile %d (%s on the same loop)", i, how))
			}
			unblock()
			c2 := wstest.Dial(t, addr, "/", frame.Config{})
			roundTrip(t, c2, "a new connection after it")
			roundTrip(t, c, "the first one still")
			c.Close()
			c2.Close()
			rec.check(t, false)
		})
	}
}

// TestEvents_TakeoversInARow: many connections become readable at once
// on one loop and each of their callbacks overruns the loop's budget, so
// the loop is taken over again and again while the connections of one
// epoll batch are still waiting. Each run that takes over must serve the
// batch items every earlier run left unclaimed: an edge-triggered event
// is reported once, so an item dropped here is a connection that never
// reads again.
func TestEvents_TakeoversInARow(t *testing.T) {
	wstest.CheckGoroutines(t)
	const n = 8
	gate := make(chan struct{})
	entered := make(chan struct{}, 1)
	rec := newRecorder(t)
	rec.onMsg = func(c *frame.Conn, op frame.Opcode, msg []byte) bool {
		switch {
		case string(msg) == "gate":
			entered <- struct{}{}
			<-gate
		case strings.HasPrefix(string(msg), "slow"):
			time.Sleep(3 * loopBudget) // over the budget: the loop moves on
		}
		return false
	}
	srv, addr := eventServer(t, rec, func(s *Server) {
		if s.EventLoops >= 0 {
			s.EventLoops = 1 // every connection on one loop
		}
	})
	g := wstest.Dial(t, addr, "/", frame.Config{})
	roundTrip(t, g, "hello")
	var cs []*frame.Conn
	for i := range n {
		c := wstest.Dial(t, addr, "/", frame.Config{})
		roundTrip(t, c, fmt.Sprintf("hello %d", i))
		cs = append(cs, c)
	}
	waitAllIdle(t, srv)

	// Hold the loop in g's callback while every connection's message
	// arrives, so that the loop's next epoll_wait returns them together.
	if err := g.WriteMessage(frame.OpText, []byte("gate")); err != nil {
		t.Fatal(err)
	}
	waitEntered(t, entered, "the gate message")
	for i, c := range cs {
		if err := c.WriteMessage(frame.OpText, []byte(fmt.Sprintf("slow %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	close(gate)
	for i, c := range cs {
		want := fmt.Sprintf("slow %d", i)
		c.NetConn().SetReadDeadline(time.Now().Add(wstest.Timeout))
		_, p, err := c.ReadMessage(nil)
		if err != nil || string(p) != want {
			t.Fatalf("connection %d: got %q, %v; want the echo %q (waited %v: was its readiness lost when the loop was taken over?)", i, p, err, want, wstest.Timeout)
		}
		c.NetConn().SetReadDeadline(time.Time{})
	}
	for _, c := range append(cs, g) {
		c.Close()
	}
	rec.check(t, false)
}

// waitEntered waits for a callback to signal on entered that it has
// begun (and is holding its connection's loop), failing after
// wstest.Timeout with what was awaited.
func waitEntered(t testing.TB, entered <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-entered:
	case <-time.After(wstest.Timeout):
		t.Fatalf("OnMessage was not called for %s (waited %v)", what, wstest.Timeout)
	}
}

// waitAllIdle waits until every event-mode connection of s is idle: no
// goroutine serves it, and its next input wakes it from the poller.
func waitAllIdle(t testing.TB, s *Server) {
	t.Helper()
	deadline := time.Now().Add(wstest.Timeout)
	for {
		idle := true
		s.mu.Lock()
		for tc := range s.conns {
			if tc.ev == nil || tc.ev.state.Load() != evIdle {
				idle = false
			}
		}
		s.mu.Unlock()
		if idle {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("event-mode connections still served by a goroutine after %v; waited for all to be idle", wstest.Timeout)
		}
		time.Sleep(time.Millisecond)
	}
}
