//go:build unix

package server

// Faults that must end a connection in bounded time, in both serving
// modes, and a Shutdown that keeps its deadline whatever some peers do.
// No test asserts how long anything takes: each waits for the outcome
// under the wstest.Timeout ceiling and fails with what it was waiting for.
// On the code before these fixes, each of them hit that ceiling.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/server/internal/wstest"
)

// faultHandler serves in either mode with the same behaviour: open runs
// first (in the connection's goroutine, or in OnOpen), then every message
// is echoed; closed receives how each connection ended, as the reader
// (Handler mode) or OnClose (event mode) saw it.
type faultHandler struct {
	open   func(c *frame.Conn, hs *handshake.Result)
	closed chan error
}

func newFaultHandler(open func(c *frame.Conn, hs *handshake.Result)) *faultHandler {
	return &faultHandler{open: open, closed: make(chan error, 1024)}
}

func (h *faultHandler) ServeWS(c *frame.Conn, hs *handshake.Result) {
	h.OnOpen(c, hs)
	var buf []byte
	for {
		op, msg, err := c.ReadMessage(buf)
		if err != nil {
			h.closed <- err
			return
		}
		buf = msg
		// A write error fails the connection; the next read reports it.
		c.WriteMessage(op, msg)
	}
}

func (h *faultHandler) OnOpen(c *frame.Conn, hs *handshake.Result) {
	if h.open != nil {
		h.open(c, hs)
	}
}
func (h *faultHandler) OnMessage(c *frame.Conn, op frame.Opcode, msg []byte) {
	c.WriteMessage(op, msg)
}
func (h *faultHandler) OnClose(_ *frame.Conn, err error) { h.closed <- err }

// faultWait is the ceiling on waiting for a fault to end a connection: a
// flood of pings under -race on a busy machine takes a while to fill the
// socket buffers. It bounds the wait; nothing is asserted about time.
const faultWait = time.Minute

// next returns how the next connection ended, or fails after faultWait
// saying what it waited for.
func (h *faultHandler) next(t testing.TB, what string) error {
	t.Helper()
	return h.nextWithin(t, faultWait, what)
}

// nextWithin is next with another ceiling.
func (h *faultHandler) nextWithin(t testing.TB, ceiling time.Duration, what string) error {
	t.Helper()
	select {
	case err := <-h.closed:
		return err
	case <-time.After(ceiling):
		t.Fatalf("no connection ended within %v: %s", ceiling, what)
		return nil
	}
}

// smallSendBufferOnOpen shrinks the server's socket send buffer, so that a
// client that does not read blocks the server's writes after a few KiB
// (not the megabytes the kernel would otherwise buffer).
func smallSendBufferOnOpen(c *frame.Conn, _ *handshake.Result) { wstest.SmallSendBuffer(c) }

// forEachMode runs f with a server serving h in Handler mode, in event
// mode (the run-to-completion loops) and in event mode with worker
// dispatch (EventLoops < 0).
func forEachMode(t *testing.T, f func(t *testing.T, s *Server, h *faultHandler), h func() *faultHandler) {
	for _, mode := range []string{"handler", "events", "events-workers"} {
		t.Run(mode, func(t *testing.T) {
			fh := h()
			s := &Server{Handler: fh, PingInterval: -1, IdleTimeout: -1}
			switch mode {
			case "events": // the run-to-completion loops
				s.Handler, s.Events = nil, fh
			case "events-workers": // one loop that hands each wakeup to a worker
				s.Handler, s.Events, s.EventLoops = nil, fh, -1
			}
			f(t, s, fh)
		})
	}
}

// dialRawSmall is wstest.DialRaw with a small socket receive buffer, so
// that a client that does not read stops the server's writes after a few
// KiB.
func dialRawSmall(t testing.TB, addr string) *wstest.RawConn {
	t.Helper()
	d := net.Dialer{Timeout: wstest.Timeout, Control: wstest.SmallReceiveBuffer(4096)}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return wstest.NewRawConn(t, nc)
}

// flood writes b over and over until the write fails (the server closed
// the connection) or ceiling passes; the error is sent on the result.
func flood(nc net.Conn, b []byte, ceiling time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() {
		nc.SetWriteDeadline(time.Now().Add(ceiling))
		for {
			if _, err := nc.Write(b); err != nil {
				done <- err
				return
			}
		}
	}()
	return done
}

// expectFloodCut waits for a flood to end and checks that it ended because
// the server closed the connection, not at the ceiling.
func expectFloodCut(t testing.TB, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if isTimeout(err) {
			t.Fatalf("the server never closed the connection (the client wrote for %v)", faultWait)
		}
	case <-time.After(2 * faultWait):
		t.Fatal("the flood did not end")
	}
}

// expectLocalWriteFailure checks the end of a connection failed by a write
// that timed out: a local 1006 caused by a *frame.WriteError.
func expectLocalWriteFailure(t testing.TB, err error) {
	t.Helper()
	var ce *frame.CloseError
	var we *frame.WriteError
	if !errors.As(err, &ce) || ce.Code != frame.CloseAbnormal || !ce.Local || !errors.As(err, &we) {
		t.Fatalf("connection ended with %v, want a local 1006 caused by a failed write", err)
	}
}

// RFC 6455 §7.1.7: a client sends 1 MiB messages and never reads their
// echoes; the echo write times out, and that fails the connection at once
// in both modes (before, event mode went back to reading and discarding
// for as long as the client sent).
func TestWriteTimeout_ClientNeverReads_RFC6455_7_1_7(t *testing.T) {
	testFloodCut(t, wstest.ClientFrame(true, frame.OpBinary, make([]byte, 1<<20)), "a client that does not read")
}

// testFloodCut: a client that sends f over and over and never reads what
// the server sends back (echoes, pongs) is disconnected when the server's
// write times out, in both modes.
func testFloodCut(t *testing.T, f []byte, who string) {
	forEachMode(t, func(t *testing.T, s *Server, h *faultHandler) {
		s.Config.WriteTimeout = 50 * time.Millisecond
		addr := serveLocal(t, s)
		r := dialRawSmall(t, addr)
		r.Upgrade(addr, "/", nil)
		done := flood(r.Conn, f, faultWait)
		expectLocalWriteFailure(t, h.next(t, "the server to fail the connection of "+who))
		expectFloodCut(t, done)
	}, func() *faultHandler { return newFaultHandler(smallSendBufferOnOpen) })
}

// RFC 6455 §5.5.2: every ping owes a pong; a client that floods pings and
// never reads the pongs is cut when a pong write times out (before, the
// pongs were dropped and the connection lived until the idle timeout after
// the flood stopped).
func TestPingFlood_ClientNeverReads_RFC6455_5_5_2(t *testing.T) {
	testFloodCut(t, wstest.ClientFrame(true, frame.OpPing, bytes.Repeat([]byte("p"), frame.MaxControlPayload)),
		"a client that floods pings and reads no pongs")
}

// RFC 6455 §10.4 (the progress rule, frame.Config.MessageTimeout): a
// client that sends a frame header and then its payload one byte at a
// time, far below MinMessageRate, is failed with 1008 and told so, in both
// modes; in event mode the worker it held is released.
func TestSlowSender_RFC6455_10_4(t *testing.T) {
	forEachMode(t, func(t *testing.T, s *Server, h *faultHandler) {
		s.Config.MessageTimeout = 100 * time.Millisecond
		addr := serveLocal(t, s)
		r := wstest.DialRaw(t, addr)
		r.Upgrade(addr, "/", nil)
		f := wstest.ClientFrame(true, frame.OpBinary, make([]byte, 64<<10))
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := range f {
				if r.Conn.Write(f[i : i+1]); i > 8 { // the header, then a byte now and then
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
		})
		r.ExpectClose(frame.ClosePolicyViolation)
		close(stop)
		wg.Wait()
		r.Conn.Close()
		err := h.next(t, "the server to cut a client that trickles a message")
		var ce *frame.CloseError
		if !errors.As(err, &ce) || ce.Code != frame.ClosePolicyViolation || !ce.Local {
			t.Fatalf("connection ended with %v, want a local 1008", err)
		}
	}, func() *faultHandler { return newFaultHandler(nil) })
}

// RFC 6455 §7.4.1, with the bounds of STYLE.md habit 14: some clients do
// not read, and the server's writes to them are blocked (no write timeout,
// an hour of close timeout, so nothing else will end them). Shutdown must
// still send 1001 to every healthy client at once, not one connection
// after another behind the stuck ones; it keeps running while the stuck
// connections remain, and returns as soon as its context ends, having
// dropped them. Before, the healthy clients waited behind the first stuck
// connection's write lock for as long as it was held.
func TestShutdown_StuckPeersDelayOnlyThemselves_RFC6455_7_4_1(t *testing.T) {
	forEachMode(t, func(t *testing.T, s *Server, h *faultHandler) {
		s.Config.WriteTimeout = -1
		s.Config.CloseTimeout = time.Hour
		addr := serveLocal(t, s)

		const healthy, stuck = 40, 3
		stuckClients := dialStuck(t, addr, stuck)
		clients := make([]*frame.Conn, healthy)
		for i := range clients {
			clients[i] = wstest.Dial(t, addr, "/", frame.Config{})
			roundTrip(t, clients[i], "hello")
		}
		// Give the stuck connections' writers time to fill the socket
		// buffers and block holding their write locks. (This only sets
		// the stage; nothing below depends on how long it took.)
		time.Sleep(200 * time.Millisecond)

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		shut := make(chan error, 1)
		go func() { shut <- s.Shutdown(ctx) }()
		got := make(chan error, healthy)
		for _, c := range clients {
			go func() { got <- wstest.ReadUntilClose(c) }()
		}
		for range healthy {
			if err := <-got; frame.CloseStatus(err) != frame.CloseGoingAway {
				t.Fatalf("a healthy client saw %v while Shutdown was running, want 1001", err)
			}
		}
		select {
		case err := <-shut:
			t.Fatalf("Shutdown returned (%v) while stuck connections were open and its context was not done", err)
		default:
		}
		cancel()
		select {
		case err := <-shut:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Shutdown: %v, want context.Canceled", err)
			}
		case <-time.After(wstest.Timeout):
			t.Fatal("Shutdown did not return after its context ended")
		}
		for i, r := range stuckClients {
			r.Conn.SetReadDeadline(time.Now().Add(wstest.Timeout))
			if _, err := io.Copy(io.Discard, r.Conn); isTimeout(err) {
				t.Fatalf("stuck client %d: still connected after Shutdown returned", i)
			}
		}
	}, stuckHandler)
}

// stuckHandler makes the server write 64 MiB to every client that
// connects to /stuck: to one that does not read, the write blocks with the
// connection's write lock held.
func stuckHandler() *faultHandler {
	return newFaultHandler(func(c *frame.Conn, hs *handshake.Result) {
		if hs.Request.URL.Path == "/stuck" {
			go c.WriteMessage(frame.OpBinary, make([]byte, 64<<20))
		}
	})
}

// dialStuck opens n connections to /stuck (see stuckHandler) that never
// read.
func dialStuck(t testing.TB, addr string, n int) []*wstest.RawConn {
	var rs []*wstest.RawConn
	for range n {
		r := dialRawSmall(t, addr)
		r.Upgrade(addr, "/stuck", nil)
		rs = append(rs, r)
	}
	return rs
}

// RFC 6455 §4.2.1 with the HTTP fallback: a WebSocket handshake sent on a
// keep-alive connection after a plain HTTP request is held to the same
// header limits (handshake.Limits) as one sent first (before, net/http's
// 1 MiB limit applied and no field count at all), and, in event mode, is
// served by the poller like any other (before, the fallback's wrapper hid
// the socket and the connection got a goroutine of its own).
func TestHTTPFallback_SameLimitsAndMode_RFC6455_4_2_1(t *testing.T) {
	forEachMode(t, func(t *testing.T, s *Server, h *faultHandler) {
		s.HTTP = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "page") })
		addr := serveLocal(t, s)
		keepAlive := func() *wstest.RawConn {
			r := wstest.DialRaw(t, addr)
			r.Write([]byte("GET / HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"))
			if resp := r.HTTPResponse("GET"); resp.StatusCode != 200 {
				t.Fatalf("GET /: %s", resp.Status)
			}
			return r
		}
		for _, tc := range []struct {
			name  string
			extra []string
		}{
			{"a 500 KiB field", []string{"X-Big: " + strings.Repeat("b", 500<<10)}},
			{"150 fields", func() (f []string) {
				for i := range 150 {
					f = append(f, fmt.Sprintf("X-F%d: v", i))
				}
				return f
			}()},
			{"an 8 KiB field", []string{"X-Long: " + strings.Repeat("l", 8<<10)}},
		} {
			for _, first := range []bool{true, false} {
				var r *wstest.RawConn
				if first {
					r = wstest.DialRaw(t, addr)
				} else {
					r = keepAlive()
				}
				req, _ := wstest.UpgradeRequest(t, addr, "/", tc.extra...)
				go r.Conn.Write(req) // the server may answer and close before reading it all
				// The head only: the server closes while the request
				// is still arriving, and TCP may reset the body.
				resp, err := http.ReadResponse(r.Reader, &http.Request{Method: "GET"})
				if err != nil {
					t.Fatalf("%s, sent first=%v: %v", tc.name, first, err)
				}
				if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
					t.Errorf("%s, sent first=%v: %s, want 431", tc.name, first, resp.Status)
				}
			}
		}
		// A handshake within the limits on a keep-alive connection is
		// served like any other.
		r := keepAlive()
		r.Upgrade(addr, "/", nil)
		r.Write(wstest.ClientFrame(true, frame.OpText, []byte("hi")))
		if p := r.ExpectFrame(frame.OpText); string(p) != "hi" {
			t.Fatalf("echo %q", p)
		}
		if s.Events != nil && pollerAvailable() {
			s.mu.Lock()
			polled := 0
			for tc := range s.conns {
				if tc.ev != nil && tc.ev.fd >= 0 {
					polled++
				}
			}
			s.mu.Unlock()
			if polled != 1 {
				t.Fatalf("%d connections registered with the poller, want the upgraded keep-alive connection", polled)
			}
		}
	}, func() *faultHandler { return newFaultHandler(nil) })
}

// pollerAvailable reports whether event mode has an epoll poller here.
func pollerAvailable() bool {
	s := &Server{}
	p := s.eventPoller()
	if p == nil {
		return false
	}
	s.stopPoller()
	return true
}

// captureLogger records the records at Warn and above.
type captureLogger struct {
	mu      sync.Mutex
	records []string
}

func (c *captureLogger) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (c *captureLogger) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
	c.mu.Lock()
	c.records = append(c.records, b.String())
	c.mu.Unlock()
	return nil
}
func (c *captureLogger) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *captureLogger) WithGroup(string) slog.Handler      { return c }

// A clean Shutdown in event mode logs no error (before, every one logged
// "epoll: event mode stops" with "use of closed file").
func TestEvents_CleanShutdownLogsNoError(t *testing.T) {
	logs := &captureLogger{}
	rec := newRecorder(t)
	s, addr := eventServer(t, rec, func(s *Server) { s.Logger = slog.New(logs) })
	c := wstest.Dial(t, addr, "/", frame.Config{})
	roundTrip(t, c, "hello")
	go wstest.ReadUntilClose(c)
	ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if len(logs.records) > 0 {
		t.Fatalf("Shutdown logged:\n%s", strings.Join(logs.records, "\n"))
	}
}

// Event mode: a connection closed while it is being registered with the
// poller (here by its own OnOpen, in another goroutine) must never leave
// its descriptor number registered for a connection that reuses it.
// Before, the number was read in RawControl and registered after: a new
// connection could get it in between, and its events woke the closed one
// while it was never served itself. Connections that close at once and
// connections that echo are opened side by side, so descriptor numbers
// are reused all the time; every echo must come back, every closed one
// must get its OnClose. (A stress test: it can only catch the race, not
// force it; the registration now happens inside RawControl, where the
// runtime holds the descriptor.)
func TestEvents_RegisterVsClose(t *testing.T) {
	wstest.CheckGoroutines(t)
	h := newFaultHandler(func(c *frame.Conn, hs *handshake.Result) {
		if hs.Request.URL.Path == "/close" {
			go c.CloseNow()
		}
	})
	s := &Server{Events: h, PingInterval: -1, IdleTimeout: -1}
	addr := serveLocal(t, s)
	const rounds = 200
	for range rounds {
		closing := wstest.DialRaw(t, addr)
		closing.Upgrade(addr, "/close", nil)
		c := wstest.Dial(t, addr, "/", frame.Config{})
		roundTrip(t, c, "still served")
		c.CloseNow()
		closing.Conn.Close()
	}
	for range 2 * rounds {
		h.next(t, "every connection's OnClose")
	}
}
