package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
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

// RFC 6455 §4.2.2 (the server's 101 may carry other header fields, such as
// a cookie): fields set on w.Header() before Upgrade reach the client, as
// with gorilla's Upgrade(w, r, header) and coder's Accept; a field of the
// handshake itself may not be set that way (500).
func TestUpgrade_ResponseHeaders_RFC6455_4_2_2(t *testing.T) {
	wstest.CheckGoroutines(t)
	s := &Server{}
	addr := serveMux(t, s, func(mux *http.ServeMux) {
		mux.HandleFunc("/cookie", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Set-Cookie", "session=abc; Path=/")
			w.Header().Set("X-Served-By", "ws6455")
			c, _, err := s.Upgrade(w, r)
			if err != nil {
				return
			}
			echo(c, nil)
			c.Close()
		})
		mux.HandleFunc("/bad", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Sec-WebSocket-Accept", "forged")
			s.Upgrade(w, r)
		})
	})
	ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
	defer cancel()
	c, resp, err := handshake.DefaultDialer.Dial(ctx, "ws://"+addr+"/cookie")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if got := resp.Header.Get("Set-Cookie"); got != "session=abc; Path=/" || resp.Header.Get("X-Served-By") != "ws6455" {
		t.Fatalf("101 header %v", resp.Header)
	}
	roundTrip(t, c, "with a cookie")
	_, resp, err = handshake.DefaultDialer.Dial(ctx, "ws://"+addr+"/bad")
	if handshake.HTTPStatus(err) != 0 || resp == nil || resp.StatusCode != 500 {
		t.Fatalf("forged Sec-WebSocket-Accept: %v, %+v", err, resp)
	}
}

// RFC 6455 §4.2.1 items 3 and 4: IsWebSocketUpgrade looks for the tokens,
// case-insensitively, in comma lists over several lines.
func TestIsWebSocketUpgrade_RFC6455_4_2_1(t *testing.T) {
	for _, tc := range []struct {
		upgrade, connection []string
		want                bool
	}{
		{[]string{"websocket"}, []string{"Upgrade"}, true},
		{[]string{"WebSocket"}, []string{"keep-alive, upgrade"}, true},
		{[]string{"h2c", "websocket"}, []string{"keep-alive", "Upgrade"}, true},
		{[]string{"h2c"}, []string{"Upgrade"}, false},
		{[]string{"websocket"}, []string{"keep-alive"}, false},
		{nil, nil, false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Upgrade"], r.Header["Connection"] = tc.upgrade, tc.connection
		if got := IsWebSocketUpgrade(r); got != tc.want {
			t.Errorf("Upgrade %q Connection %q: %v, want %v", tc.upgrade, tc.connection, got, tc.want)
		}
	}
}

// HTTPError writes refused handshakes on the net/http adapter, with the
// status and the reason; TraceHandshake sees the refusal and the success,
// and the connection knows its subprotocol (RFC 6455 §4.2.2).
func TestServeHTTP_ErrorHookTraceSubprotocol_RFC6455_4_2_2(t *testing.T) {
	wstest.CheckGoroutines(t)
	type traced struct {
		path   string
		status int
		proto  string
	}
	var mu sync.Mutex
	var seen []traced
	protos := make(chan string, 1)
	s := &Server{
		Handler: HandlerFunc(func(c *frame.Conn, _ *handshake.Result) {
			protos <- c.Subprotocol()
			echo(c, nil)
		}),
		Upgrader: handshake.Upgrader{Protocols: []string{"chat.v2"}},
		HTTPError: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			w.WriteHeader(status)
			fmt.Fprintf(w, "custom %d: %v", status, reason)
		},
		TraceHandshake: func(_ net.Addr, req *handshake.Request, res *handshake.Result, err error) {
			mu.Lock()
			defer mu.Unlock()
			tr := traced{status: handshake.HTTPStatus(err)}
			if req != nil {
				tr.path = req.URL.Path
			}
			if res != nil {
				tr.proto = res.Subprotocol
			}
			seen = append(seen, tr)
		},
	}
	addr := serveMux(t, s, nil)
	resp, err := http.Get("http://" + addr + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.HasPrefix(string(body), "custom 400: ") {
		t.Fatalf("plain GET: %s %q", resp.Status, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
	defer cancel()
	d := &handshake.Dialer{Protocols: []string{"chat.v2"}}
	c, _, err := d.Dial(ctx, "ws://"+addr+"/ws")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if c.Subprotocol() != "chat.v2" || <-protos != "chat.v2" {
		t.Fatalf("client subprotocol %q", c.Subprotocol())
	}
	roundTrip(t, c, "hi")
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0].status != 400 || seen[1] != (traced{path: "/ws", proto: "chat.v2"}) {
		t.Fatalf("TraceHandshake saw %+v", seen)
	}
}
