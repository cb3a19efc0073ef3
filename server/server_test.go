package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/server/internal/wstest"
)

// RFC 6455 §4.1, §4.2.2, §5.6: a client dialled with handshake.Dialer
// through the real listener gets every message back, text and binary,
// fragmented (§5.4) and larger than the read buffer.
func TestEcho_RFC6455_5_6_Dialer(t *testing.T) {
	wstest.CheckGoroutines(t)
	addr := serveLocal(t, &Server{Handler: HandlerFunc(echo)})
	c := wstest.Dial(t, addr, "/", frame.Config{})
	for i := range 10 {
		roundTrip(t, c, fmt.Sprintf("message %d", i))
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB
	if err := c.WriteFragmented(frame.OpBinary, big, 7000); err != nil {
		t.Fatal(err)
	}
	c.NetConn().SetReadDeadline(time.Now().Add(wstest.Timeout))
	op, p, err := c.ReadMessage(nil)
	if err != nil || op != frame.OpBinary || !bytes.Equal(p, big) {
		t.Fatalf("big echo: op %v, %d bytes, err %v", op, len(p), err)
	}
	// The client closes: the handshake completes with its code.
	if err := c.CloseWith(frame.CloseNormal, "bye"); err != nil {
		t.Fatalf("CloseWith: %v", err)
	}
}

// RFC 6455 §4.2.1, §4.2.2: a handshake the server refuses, read from the
// real listener, gets an HTTP error response with the right status and
// header fields, and then the server closes the connection.
func TestHandshakeRefused_RFC6455_4_2_1(t *testing.T) {
	wstest.CheckGoroutines(t)
	s := &Server{Handler: HandlerFunc(echo)}
	addr := serveLocal(t, s)
	good := func(extra ...string) string {
		lines := []string{
			"GET /chat HTTP/1.1",
			"Host: " + addr,
			"Upgrade: websocket",
			"Connection: Upgrade",
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
			"Sec-WebSocket-Version: 13",
		}
		for _, e := range extra {
			k, _, _ := strings.Cut(e, ":")
			replaced := false
			for i, l := range lines {
				if lk, _, _ := strings.Cut(l, ":"); i > 0 && strings.EqualFold(lk, k) {
					lines[i], replaced = e, true
				}
			}
			if !replaced {
				lines = append(lines, e)
			}
		}
		return strings.Join(lines, "\r\n") + "\r\n\r\n"
	}
	manyHeaders := good()
	manyHeaders = manyHeaders[:len(manyHeaders)-2] + strings.Repeat("X-Filler: 1\r\n", 120) + "\r\n"
	tests := []struct {
		name   string
		req    string
		method string
		status int
		header map[string]string // header fields the response must have
	}{
		{"4.2.1_item5_bad_key", good("Sec-WebSocket-Key: abc"), "GET", 400, nil},
		{"4.2.1_item5_missing_key", strings.Replace(good(), "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "", 1), "GET", 400, nil},
		{"4.2.2_version_8_426", good("Sec-WebSocket-Version: 8"), "GET", 426, map[string]string{"Sec-WebSocket-Version": "13"}},
		{"4.2.2_version_missing_426", strings.Replace(good(), "Sec-WebSocket-Version: 13\r\n", "", 1), "GET", 426, map[string]string{"Sec-WebSocket-Version": "13"}},
		{"4.2.2_origin_403", good("Origin: http://evil.example"), "GET", 403, nil},
		{"4.2.1_item1_POST_405", strings.Replace(good(), "GET", "POST", 1), "POST", 405, map[string]string{"Allow": "GET"}},
		{"4.2.1_plain_POST_405", "POST /form HTTP/1.1\r\nHost: " + addr + "\r\nContent-Length: 3\r\n\r\nabc", "POST", 405, nil},
		{"4.2.1_item3_no_upgrade_400", "GET / HTTP/1.1\r\nHost: " + addr + "\r\n\r\n", "GET", 400, nil},
		{"4.2.1_item2_no_host_400", strings.Replace(good(), "Host: "+addr+"\r\n", "", 1), "GET", 400, nil},
		// The server stops reading at the limit and answers while the
		// client is still sending: it must close in stages (RFC 7230
		// §6.6) or the unread bytes make its TCP send a reset.
		{"header_too_large_431", good("X-Big: " + strings.Repeat("b", 20000)), "GET", 431, nil},
		{"too_many_headers_431", manyHeaders, "GET", 431, nil},
		{"http_1_0_505", strings.Replace(good(), "HTTP/1.1", "HTTP/1.0", 1), "GET", 505, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := wstest.DialRaw(t, addr)
			// The server may refuse before it has read the whole request
			// (431): write in the background and ignore a failed write.
			go r.Conn.Write([]byte(tt.req))
			resp := r.HTTPResponse(tt.method)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %q, want %d", resp.Status, tt.status)
			}
			for k, v := range tt.header {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if !resp.Close {
				t.Errorf("response without Connection: close: %v", resp.Header)
			}
			r.ExpectEOF()
		})
	}
	// The server still serves after refusing.
	c := wstest.Dial(t, addr, "/", frame.Config{})
	roundTrip(t, c, "still serving")
}

// RFC 6455 §4.2: the opening handshake is bounded by HandshakeTimeout: a
// client that connects and sends nothing, or only part of a request, is
// disconnected.
func TestHandshakeTimeout_RFC6455_4_2(t *testing.T) {
	wstest.CheckGoroutines(t)
	const timeout = 100 * time.Millisecond
	for _, fallback := range []bool{false, true} {
		s := &Server{Handler: HandlerFunc(echo), HandshakeTimeout: timeout}
		if fallback {
			// The HTTP fallback reads the request through another path.
			s.HTTP = http.NotFoundHandler()
		}
		addr := serveLocal(t, s)
		for _, sent := range []string{"", "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgr"} {
			t.Run(fmt.Sprintf("fallback=%v/sent=%d", fallback, len(sent)), func(t *testing.T) {
				start := time.Now()
				r := wstest.DialRaw(t, addr)
				if sent != "" {
					r.Write([]byte(sent))
				}
				buf := make([]byte, 512)
				for {
					n, err := r.Reader.Read(buf)
					if err == nil {
						// A timed-out request may be answered (408 or 400)
						// before the close; anything else is wrong.
						if !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 4")) {
							t.Fatalf("got %q before the close", buf[:n])
						}
						continue
					}
					if errors.Is(err, net.ErrClosed) || isTimeout(err) {
						t.Fatalf("connection still open after %v (HandshakeTimeout %v): %v", wstest.Timeout, timeout, err)
					}
					break
				}
				// Lower bound only: the server's deadline starts after our
				// connect completed.
				if el := time.Since(start); el < timeout {
					t.Errorf("closed after %v, before HandshakeTimeout %v", el, timeout)
				}
			})
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// RFC 6455 §4.2.2, §5: frames a client sends right behind its handshake,
// in the same TCP write, are the start of the WebSocket stream; the server
// must hand the bytes it read past the request to the connection rather
// than lose them. Checked on both handshake paths (with and without the
// HTTP fallback, which records the request).
func TestEarlyFrames_RFC6455_4_2_2(t *testing.T) {
	wstest.CheckGoroutines(t)
	for _, fallback := range []bool{false, true} {
		t.Run(fmt.Sprintf("fallback=%v", fallback), func(t *testing.T) {
			s := &Server{Handler: HandlerFunc(echo)}
			if fallback {
				s.HTTP = http.NotFoundHandler()
			}
			addr := serveLocal(t, s)
			r := wstest.DialRaw(t, addr)
			early := append(wstest.ClientFrame(true, frame.OpText, []byte("early one")),
				wstest.ClientFrame(true, frame.OpBinary, []byte("early two"))...)
			// Half of a third frame too: the rest follows later.
			third := wstest.ClientFrame(true, frame.OpText, []byte("split across writes"))
			early = append(early, third[:5]...)
			r.Upgrade(addr, "/", early)
			if p := r.ExpectFrame(frame.OpText); string(p) != "early one" {
				t.Fatalf("first echo %q", p)
			}
			if p := r.ExpectFrame(frame.OpBinary); string(p) != "early two" {
				t.Fatalf("second echo %q", p)
			}
			r.Write(third[5:])
			if p := r.ExpectFrame(frame.OpText); string(p) != "split across writes" {
				t.Fatalf("third echo %q", p)
			}
			r.Write(wstest.CloseFrame(frame.CloseNormal, ""))
			r.ExpectClose(frame.CloseNormal)
			r.ExpectEOF()
		})
	}
}

// RFC 6455 §4.2.1 (a request that is not an upgrade) with Server.HTTP set:
// a plain GET is served by the net/http handler on the same port, and a
// WebSocket upgrade sent next on the same keep-alive connection works.
func TestHTTPFallback_KeepAliveUpgrade_RFC6455_4_2_1(t *testing.T) {
	wstest.CheckGoroutines(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	})
	s := &Server{Handler: HandlerFunc(echo), HTTP: mux}
	addr := serveLocal(t, s)

	r := wstest.DialRaw(t, addr)
	r.Write([]byte("GET /health HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"))
	resp := r.HTTPResponse("GET")
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("GET /health: %q close=%v", resp.Status, resp.Close)
	}
	b := make([]byte, 2)
	if n, _ := resp.Body.Read(b); string(b[:n]) != "ok" {
		t.Fatalf("body %q", b[:n])
	}
	r.Write([]byte("GET /missing HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"))
	if resp := r.HTTPResponse("GET"); resp.StatusCode != 404 {
		t.Fatalf("GET /missing: %q", resp.Status)
	}

	// Same TCP connection: now an upgrade, with an early frame behind it.
	r.Upgrade(addr, "/ws", wstest.ClientFrame(true, frame.OpText, []byte("after http")))
	if p := r.ExpectFrame(frame.OpText); string(p) != "after http" {
		t.Fatalf("echo %q", p)
	}
	r.Write(wstest.ClientFrame(true, frame.OpText, []byte("second")))
	if p := r.ExpectFrame(frame.OpText); string(p) != "second" {
		t.Fatalf("echo %q", p)
	}
	if n := s.NumConns(); n != 1 {
		t.Errorf("NumConns = %d, want 1 (the upgraded fallback connection is tracked)", n)
	}
	// Shutdown reaches it too (RFC 6455 §7.4.1, 1001).
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	r.ExpectClose(frame.CloseGoingAway)
	r.Write(wstest.CloseFrame(frame.CloseGoingAway, ""))
	r.ExpectEOF()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// RFC 6455 §7.4.1 (1001 "going away"): Shutdown sends a close frame with
// 1001 to every connection, waits for the handlers to return and returns
// nil; Serve returns ErrServerClosed and new connections are refused.
func TestShutdown_RFC6455_7_4_1_GoingAway(t *testing.T) {
	wstest.CheckGoroutines(t)
	var running, returned atomic.Int32
	h := HandlerFunc(func(c *frame.Conn, hs *handshake.Result) {
		running.Add(1)
		defer returned.Add(1)
		echo(c, hs)
	})
	s := &Server{Handler: h, Logger: wstest.QuietLogger()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	addr := ln.Addr().String()

	const n = 8
	clients := make([]*frame.Conn, n)
	for i := range clients {
		clients[i] = wstest.Dial(t, addr, "/", frame.Config{})
		roundTrip(t, clients[i], "hello")
	}
	codes := make(chan error, n)
	for _, c := range clients {
		go func() { codes <- wstest.ReadUntilClose(c) }()
	}
	if got := s.NumConns(); got != n {
		t.Fatalf("NumConns = %d, want %d", got, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if r := returned.Load(); r != n {
		t.Errorf("Shutdown returned before the handlers: %d of %d returned", r, n)
	}
	if got := s.NumConns(); got != 0 {
		t.Errorf("NumConns after Shutdown = %d", got)
	}
	for range n {
		err := <-codes
		if frame.CloseStatus(err) != frame.CloseGoingAway {
			t.Errorf("client saw %v, want close code 1001", err)
		}
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve: %v, want ErrServerClosed", err)
	}
	if err := s.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v, want ErrServerClosed", err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

// RFC 6455 §7.4.1: a handler that never reads cannot see the client's
// close reply, so its connection does not finish the close handshake;
// when Shutdown's context ends the server closes it and Shutdown returns
// ctx.Err().
func TestShutdown_ForceCloseOnContext_RFC6455_7_4_1(t *testing.T) {
	wstest.CheckGoroutines(t)
	var returned atomic.Int32
	started := make(chan struct{}, 1)
	h := HandlerFunc(func(c *frame.Conn, _ *handshake.Result) {
		defer returned.Add(1)
		started <- struct{}{}
		<-c.Done() // never reads
	})
	s := &Server{Handler: h}
	addr := serveLocal(t, s)
	c := wstest.Dial(t, addr, "/", frame.Config{CloseTimeout: wstest.Timeout})
	<-started
	got := make(chan error, 1)
	go func() { got <- wstest.ReadUntilClose(c) }()

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want context.DeadlineExceeded", err)
	}
	if err := <-got; frame.CloseStatus(err) != frame.CloseGoingAway {
		t.Errorf("client saw %v, want close code 1001", err)
	}
	deadline := time.Now().Add(wstest.Timeout)
	for returned.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if returned.Load() != 1 {
		t.Errorf("handler still running after the forced close")
	}
}

// RFC 6455 §7.4.1 (1011 "internal error"): a handler that panics closes
// its connection with 1011; the server goes on serving the others.
func TestHandlerPanic_RFC6455_7_4_1_InternalError(t *testing.T) {
	wstest.CheckGoroutines(t)
	h := HandlerFunc(func(c *frame.Conn, hs *handshake.Result) {
		for {
			op, p, err := c.ReadMessage(nil)
			if err != nil {
				return
			}
			if string(p) == "panic" {
				panic("handler panic requested by the test")
			}
			c.WriteMessage(op, p)
		}
	})
	addr := serveLocal(t, &Server{Handler: h})
	other := wstest.Dial(t, addr, "/", frame.Config{})
	roundTrip(t, other, "before")
	victim := wstest.Dial(t, addr, "/", frame.Config{})
	if err := victim.WriteMessage(frame.OpText, []byte("panic")); err != nil {
		t.Fatal(err)
	}
	expectCloseCode(t, victim, frame.CloseInternalError)
	roundTrip(t, other, "after")
	fresh := wstest.Dial(t, addr, "/", frame.Config{})
	roundTrip(t, fresh, "new connection")
}

// RFC 6455 §7.4.1 (1000): when the handler returns, the server closes the
// connection normally.
func TestHandlerReturn_RFC6455_7_4_1_Normal(t *testing.T) {
	wstest.CheckGoroutines(t)
	h := HandlerFunc(func(c *frame.Conn, _ *handshake.Result) {
		c.WriteMessage(frame.OpText, []byte("hi"))
	})
	addr := serveLocal(t, &Server{Handler: h})
	c := wstest.Dial(t, addr, "/", frame.Config{})
	c.NetConn().SetReadDeadline(time.Now().Add(wstest.Timeout))
	if _, p, err := c.ReadMessage(nil); err != nil || string(p) != "hi" {
		t.Fatalf("ReadMessage: %q, %v", p, err)
	}
	expectCloseCode(t, c, frame.CloseNormal)

	// A nil Handler: the connection is closed with 1000 at once.
	addr = serveLocal(t, &Server{})
	c = wstest.Dial(t, addr, "/", frame.Config{})
	expectCloseCode(t, c, frame.CloseNormal)
}

// RFC 6455 §7.1.1: "The underlying TCP connection, in most normal cases,
// SHOULD be closed first by the server". After the close handshake, in
// either direction, the client sees the server's FIN (EOF) without having
// closed its own side.
func TestServerClosesTCPFirst_RFC6455_7_1_1(t *testing.T) {
	wstest.CheckGoroutines(t)
	t.Run("client_initiates", func(t *testing.T) {
		addr := serveLocal(t, &Server{Handler: HandlerFunc(echo)})
		r := wstest.DialRaw(t, addr)
		r.Upgrade(addr, "/", nil)
		r.Write(wstest.ClientFrame(true, frame.OpText, []byte("x")))
		r.ExpectFrame(frame.OpText)
		r.Write(wstest.CloseFrame(frame.CloseNormal, "client done"))
		r.ExpectClose(frame.CloseNormal)
		r.ExpectEOF()
	})
	t.Run("server_initiates", func(t *testing.T) {
		h := HandlerFunc(func(c *frame.Conn, _ *handshake.Result) {
			c.ReadMessage(nil)
			c.CloseWith(frame.CloseNormal, "server done")
		})
		addr := serveLocal(t, &Server{Handler: h})
		r := wstest.DialRaw(t, addr)
		r.Upgrade(addr, "/", wstest.ClientFrame(true, frame.OpText, []byte("x")))
		r.ExpectClose(frame.CloseNormal)
		r.Write(wstest.CloseFrame(frame.CloseNormal, ""))
		r.ExpectEOF()
	})
}

// RFC 6455 §5.5.2, §5.5.3: with PingInterval and IdleTimeout, a quiet
// client that answers the server's pings stays connected; one that
// answers nothing is closed with 1001 after IdleTimeout.
func TestKeepalive_RFC6455_5_5_2(t *testing.T) {
	wstest.CheckGoroutines(t)
	// The answering client has IdleTimeout-PingInterval to answer a ping;
	// the test must not depend on how fast that is, so the margin is
	// ample for a loaded machine (the relay's thousand-client load test
	// may run beside it): 250 ms once failed there.
	const (
		ping = 100 * time.Millisecond
		idle = 2 * time.Second
	)
	s := &Server{
		Handler:      HandlerFunc(echo),
		PingInterval: ping,
		IdleTimeout:  idle,
		Config:       frame.Config{CloseTimeout: 200 * time.Millisecond},
	}
	addr := serveLocal(t, s)

	var pings atomic.Int32
	alive := wstest.Dial(t, addr, "/", frame.Config{OnPing: func([]byte) { pings.Add(1) }})
	dialed := time.Now()
	msgs := make(chan string, 1)
	go func() {
		defer close(msgs)
		for {
			_, p, err := alive.ReadMessage(nil) // answers pings as it reads
			if err != nil {
				return
			}
			msgs <- string(p)
		}
	}()

	dead := wstest.DialRaw(t, addr)
	dead.Upgrade(addr, "/", nil)
	upgraded := time.Now()
	// It reads what the server sends but never answers anything.
	var deadPings int
	for {
		h, p, err := dead.ReadFrame()
		if err != nil {
			t.Fatalf("silent client: %v before a close frame", err)
		}
		if h.Opcode == frame.OpPing {
			deadPings++
			continue
		}
		code, reason, _ := frame.ParseClosePayload(p)
		if h.Opcode != frame.OpClose || code != frame.CloseGoingAway {
			t.Fatalf("silent client got %+v %q, want a 1001 close", h, p)
		}
		t.Logf("silent client: %d ping(s), then close %v %q after %v", deadPings, code, reason, time.Since(upgraded))
		break
	}
	dead.ExpectEOF()
	if el := time.Since(upgraded); el < idle {
		t.Errorf("silent client closed after %v, before IdleTimeout %v", el, idle)
	}

	// The answering client has sent nothing but pongs since it was
	// dialed: once twice IdleTimeout has passed since then, with pings
	// answered, only the pongs can have kept it connected.
	const wantPings = 3
	wstest.WaitUntil(t, 2*idle+wstest.Timeout,
		fmt.Sprintf("twice IdleTimeout (%v) to pass with the answering client answering at least %d pings", idle, wantPings),
		func() bool { return pings.Load() >= wantPings && time.Since(dialed) > 2*idle },
		func() string { return fmt.Sprintf("%d pings after %v", pings.Load(), time.Since(dialed)) })
	if err := alive.WriteMessage(frame.OpText, []byte("still here")); err != nil {
		t.Fatalf("answering client was disconnected: %v", err)
	}
	if m, ok := <-msgs; !ok || m != "still here" {
		t.Fatalf("answering client: got %q (open=%v) after %d pings", m, ok, pings.Load())
	}
	if s.NumConns() != 1 {
		t.Errorf("NumConns = %d, want 1", s.NumConns())
	}
}

// flakyListener fails Accept a number of times, then hands out
// connections from a channel; after Close it returns net.ErrClosed.
type flakyListener struct {
	mu          sync.Mutex
	failures    int
	calls       []time.Time // start of each Accept call
	afterClose  int
	conns       chan net.Conn
	closed      chan struct{}
	closeOnce   sync.Once
	closeCalled atomic.Bool
}

type tempError struct{}

func (tempError) Error() string   { return "accept: too many open files (simulated)" }
func (tempError) Timeout() bool   { return false }
func (tempError) Temporary() bool { return true }

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	l.calls = append(l.calls, time.Now())
	if l.closeCalled.Load() {
		l.afterClose++
		l.mu.Unlock()
		return nil, net.ErrClosed
	}
	if l.failures > 0 {
		l.failures--
		l.mu.Unlock()
		return nil, tempError{}
	}
	l.mu.Unlock()
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		l.mu.Lock()
		l.afterClose++
		l.mu.Unlock()
		return nil, net.ErrClosed
	}
}

func (l *flakyListener) Close() error {
	l.closeCalled.Store(true)
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

func (l *flakyListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// The accept loop waits between failing Accepts, doubling the wait from
// 5 ms, and serves the connection that finally comes; when the listener is
// closed, Serve returns ErrServerClosed after a single failing Accept
// rather than spinning.
func TestServe_AcceptBackoffAndClose(t *testing.T) {
	wstest.CheckGoroutines(t)
	const failures = 5
	l := &flakyListener{failures: failures, conns: make(chan net.Conn), closed: make(chan struct{})}
	s := &Server{Handler: HandlerFunc(echo), Logger: wstest.QuietLogger()}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()

	srvSide, cliSide := net.Pipe()
	defer cliSide.Close()
	l.conns <- srvSide
	// WebSocket over the pipe (no file descriptor: the frame.Conn reads
	// without the poller).
	cliSide.SetDeadline(time.Now().Add(wstest.Timeout))
	r := wstest.NewRawConn(t, cliSide)
	r.Upgrade("example.com", "/", nil)
	go r.Conn.Write(wstest.ClientFrame(true, frame.OpText, []byte("via pipe")))
	if p := r.ExpectFrame(frame.OpText); string(p) != "via pipe" {
		t.Fatalf("echo %q", p)
	}

	l.mu.Lock()
	calls := append([]time.Time(nil), l.calls...)
	l.mu.Unlock()
	if len(calls) < failures+1 {
		t.Fatalf("%d Accept calls, want at least %d", len(calls), failures+1)
	}
	// time.Sleep never returns early, so these lower bounds are exact.
	wait := 5 * time.Millisecond
	for i := range failures {
		gap := calls[i+1].Sub(calls[i])
		t.Logf("Accept failure %d: next Accept after %v (backoff %v)", i+1, gap, wait)
		if gap < wait {
			t.Errorf("Accept retried %v after failure %d, want a backoff of at least %v", gap, i+1, wait)
		}
		wait *= 2
	}

	l.Close()
	select {
	case err := <-served:
		if !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v, want ErrServerClosed", err)
		}
	case <-time.After(wstest.Timeout):
		t.Fatal("Serve did not return after the listener closed")
	}
	l.mu.Lock()
	after := l.afterClose
	l.mu.Unlock()
	if after != 1 {
		t.Errorf("%d Accept calls returned net.ErrClosed, want 1 (no spinning)", after)
	}
	// The pipe connection is still served; Shutdown closes it with 1001.
	ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
	defer cancel()
	peer := make(chan error, 1)
	go func() {
		h, p, err := r.ReadFrame()
		if err == nil {
			if code, _, _ := frame.ParseClosePayload(p); h.Opcode != frame.OpClose || code != frame.CloseGoingAway {
				err = fmt.Errorf("got %+v %q, want a 1001 close", h, p)
			}
		}
		r.Conn.Write(wstest.CloseFrame(frame.CloseGoingAway, ""))
		peer <- err
	}()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-peer; err != nil {
		t.Error(err)
	}
}

// A real listener closed by its owner (not by Shutdown) ends Serve with
// ErrServerClosed too.
func TestServe_ListenerClosedByOwner(t *testing.T) {
	wstest.CheckGoroutines(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: HandlerFunc(echo), Logger: wstest.QuietLogger()}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	c := wstest.Dial(t, ln.Addr().String(), "/", frame.Config{})
	roundTrip(t, c, "x")
	ln.Close()
	select {
	case err := <-served:
		if !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v, want ErrServerClosed", err)
		}
	case <-time.After(wstest.Timeout):
		t.Fatal("Serve did not return after the listener closed")
	}
	roundTrip(t, c, "connections outlive the listener")
	ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
	defer cancel()
	go wstest.ReadUntilClose(c)
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// With Server.HTTP set, a POST with a body larger than the handshake
// buffer reaches the net/http handler whole (the request was read as a
// possible handshake first, then replayed).
func TestHTTPFallback_PostBody_RFC6455_4_2_1(t *testing.T) {
	wstest.CheckGoroutines(t)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body) // all of it before the response (net/http)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Write(b)
	})
	addr := serveLocal(t, &Server{Handler: HandlerFunc(echo), HTTP: mux})
	r := wstest.DialRaw(t, addr)
	body := strings.Repeat("0123456789", 1500)
	go r.Conn.Write([]byte(fmt.Sprintf("POST /echo HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body)))
	resp := r.HTTPResponse("POST")
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(got) != body {
		t.Fatalf("POST /echo: %q, %d bytes back, want %d", resp.Status, len(got), len(body))
	}
}

// The HTTP fallback does not keep an idle keep-alive connection forever:
// after IdleTimeout without a request, it is closed.
func TestHTTPFallback_IdleKeepAliveClosed(t *testing.T) {
	wstest.CheckGoroutines(t)
	const idle = 200 * time.Millisecond
	addr := serveLocal(t, &Server{Handler: HandlerFunc(echo), HTTP: http.NotFoundHandler(), IdleTimeout: idle})
	r := wstest.DialRaw(t, addr)
	// The idle time starts after the response, so after the request is
	// sent: measured from before it, it cannot be shorter than
	// IdleTimeout, however late this goroutine reads the response.
	start := time.Now()
	r.Write([]byte("GET / HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"))
	if resp := r.HTTPResponse("GET"); resp.StatusCode != 404 || resp.Close {
		t.Fatalf("GET /: %q close=%v", resp.Status, resp.Close)
	}
	r.ExpectEOF()
	if el := time.Since(start); el < idle {
		t.Errorf("closed %v after the request, IdleTimeout is %v", el, idle)
	}
}

// Shutdown also ends handshakes in progress: a client that has connected
// but not finished its request is disconnected, and Shutdown does not wait
// for its HandshakeTimeout.
func TestShutdown_PendingHandshake_RFC6455_4_2(t *testing.T) {
	wstest.CheckGoroutines(t)
	s := &Server{Handler: HandlerFunc(echo), HandshakeTimeout: time.Hour}
	addr := serveLocal(t, s)
	r := wstest.DialRaw(t, addr)
	r.Write([]byte("GET / HTTP/1.1\r\nHost: " + addr + "\r\n"))
	// Make sure the server is reading the request: a full connection on
	// a second socket proves the accept loop has got this far.
	c := wstest.Dial(t, addr, "/", frame.Config{})
	roundTrip(t, c, "x")
	go wstest.ReadUntilClose(c)
	ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := r.Reader.ReadByte(); err == nil || isTimeout(err) {
		t.Fatalf("half-handshaken connection after Shutdown: %v", err)
	}
}
