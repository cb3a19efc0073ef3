package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/server/internal/wstest"
)

// serveMux mounts s at /ws in a net/http mux on a 127.0.0.1 test server,
// which is closed at the end of the test after s is shut down.
func serveMux(t testing.TB, s *Server, extra func(mux *http.ServeMux)) (addr string) {
	t.Helper()
	if s.Logger == nil {
		s.Logger = wstest.QuietLogger()
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", s)
	if extra != nil {
		extra(mux)
	}
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		hs.Close()
	})
	return strings.TrimPrefix(hs.URL, "http://")
}

// RFC 6455 §4.2.2 through net/http: a Server mounted in an http.ServeMux
// echoes, keeps the frames that arrived with the handshake (they sit in
// the net/http server's buffer when it hijacks), and refuses bad
// handshakes with the right status.
func TestServeHTTP_Echo_RFC6455_4_2_2(t *testing.T) {
	wstest.CheckGoroutines(t)
	s := &Server{Handler: HandlerFunc(echo)}
	addr := serveMux(t, s, nil)

	c := wstest.Dial(t, addr, "/ws", frame.Config{})
	for _, m := range []string{"one", "two", strings.Repeat("large ", 5000)} {
		roundTrip(t, c, m)
	}

	r := wstest.DialRaw(t, addr)
	r.Upgrade(addr, "/ws", append(wstest.ClientFrame(true, frame.OpText, []byte("early")),
		wstest.ClientFrame(true, frame.OpBinary, []byte("frames"))...))
	if p := r.ExpectFrame(frame.OpText); string(p) != "early" {
		t.Fatalf("first echo %q", p)
	}
	if p := r.ExpectFrame(frame.OpBinary); string(p) != "frames" {
		t.Fatalf("second echo %q", p)
	}
	r.Write(wstest.CloseFrame(frame.CloseNormal, ""))
	r.ExpectClose(frame.CloseNormal)
	r.ExpectEOF()

	tests := []struct {
		name, req, method string
		status            int
		header, value     string
	}{
		{"4.2.1_item5_bad_key", "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: abc\r\nSec-WebSocket-Version: 13\r\n\r\n", "GET", 400, "", ""},
		{"4.2.2_version_426", "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n", "GET", 426, "Sec-WebSocket-Version", "13"},
		{"4.2.2_origin_403", "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nOrigin: http://evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", "GET", 403, "", ""},
		{"4.2.1_item1_POST_405", "POST /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n", "POST", 405, "Allow", "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := wstest.DialRaw(t, addr)
			r.Write([]byte(tt.req))
			resp := r.HTTPResponse(tt.method)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %q, want %d", resp.Status, tt.status)
			}
			if tt.header != "" && resp.Header.Get(tt.header) != tt.value {
				t.Errorf("%s: %q, want %q", tt.header, resp.Header.Get(tt.header), tt.value)
			}
			if !resp.Close {
				t.Errorf("response without Connection: close")
			}
			r.ExpectEOF()
		})
	}
}

// RFC 6455 §7.4.1: Shutdown sends 1001 to connections upgraded through
// ServeHTTP too, although http.Server does not track hijacked
// connections, and waits for their handlers.
func TestServeHTTP_ShutdownGoingAway_RFC6455_7_4_1(t *testing.T) {
	wstest.CheckGoroutines(t)
	s := &Server{Handler: HandlerFunc(echo)}
	addr := serveMux(t, s, nil)
	const n = 4
	errs := make(chan error, n)
	for range n {
		c := wstest.Dial(t, addr, "/ws", frame.Config{})
		roundTrip(t, c, "hello")
		go func() { errs <- wstest.ReadUntilClose(c) }()
	}
	if got := s.NumConns(); got != n {
		t.Fatalf("NumConns = %d, want %d", got, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for range n {
		if err := <-errs; frame.CloseStatus(err) != frame.CloseGoingAway {
			t.Errorf("client saw %v, want close code 1001", err)
		}
	}
	// After Shutdown, an upgrade through the mux is closed at once with
	// 1001.
	c := wstest.Dial(t, addr, "/ws", frame.Config{})
	expectCloseCode(t, c, frame.CloseGoingAway)
}

// RFC 6455 §5.5.2: keepalive applies to connections upgraded through
// ServeHTTP as well, on a Server whose Serve is never called: a client
// that answers nothing is pinged, then closed with 1001 after IdleTimeout.
func TestServeHTTP_Keepalive_RFC6455_5_5_2(t *testing.T) {
	wstest.CheckGoroutines(t)
	const idle = 250 * time.Millisecond
	s := &Server{
		Handler:      HandlerFunc(echo),
		PingInterval: 40 * time.Millisecond,
		IdleTimeout:  idle,
		Config:       frame.Config{CloseTimeout: 200 * time.Millisecond},
	}
	addr := serveMux(t, s, nil)
	r := wstest.DialRaw(t, addr)
	r.Upgrade(addr, "/ws", nil)
	upgraded := time.Now()
	if _, _, err := r.ReadFrame(); err != nil {
		t.Fatalf("no ping, no close from the server: %v", err)
	}
	r.ExpectClose(frame.CloseGoingAway)
	r.ExpectEOF()
	if el := time.Since(upgraded); el < idle {
		t.Errorf("closed after %v, before IdleTimeout %v", el, idle)
	}
}

// Server.Upgrade, for programs that run their own net/http handler and
// serve the connection themselves, tracks the connection as documented:
// NumConns counts it and Shutdown sends it 1001 (RFC 6455 §7.4.1) and
// waits for it to close.
func TestUpgrade_TrackedByShutdown_RFC6455_7_4_1(t *testing.T) {
	wstest.CheckGoroutines(t)
	s := &Server{}
	handlerDone := make(chan struct{})
	addr := serveMux(t, s, func(mux *http.ServeMux) {
		mux.HandleFunc("/own", func(w http.ResponseWriter, r *http.Request) {
			c, hs, err := s.Upgrade(w, r)
			if err != nil {
				return
			}
			defer close(handlerDone)
			echo(c, hs)
			c.Close()
		})
	})
	c := wstest.Dial(t, addr, "/own", frame.Config{})
	roundTrip(t, c, "mine")
	if n := s.NumConns(); n != 1 {
		t.Errorf("NumConns = %d, want 1", n)
	}
	errs := make(chan error, 1)
	go func() { errs <- wstest.ReadUntilClose(c) }()
	ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-errs; frame.CloseStatus(err) != frame.CloseGoingAway {
		t.Errorf("client saw %v, want close code 1001", err)
	}
	c.CloseNow()
	select {
	case <-handlerDone:
	case <-time.After(wstest.Timeout):
		t.Fatal("handler still running")
	}
	if n := s.NumConns(); n != 0 {
		t.Errorf("NumConns after Shutdown = %d", n)
	}
}
