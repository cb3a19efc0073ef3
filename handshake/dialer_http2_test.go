package handshake

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ws6455/ws6455/frame"
)

// The RFC 8441 tests serve extended CONNECT with net/http's own HTTP/2
// server (TestMain has set GODEBUG=http2xconnect=1) and a handler written
// here, by hand, so that they test the client alone: the handler checks
// the request's pseudo-header fields and fields (RFC 8441 §4-§5), answers
// 200 with the negotiated Sec-WebSocket-Protocol and
// Sec-WebSocket-Extensions, and runs a frame.Conn in the server role over
// the stream (r.Body and w), echoing.

// h2Seen is what the test handler saw of a request.
type h2Seen struct {
	method, proto, protocol, host, uri, version string
	key, upgrade, connection, userAgent         string
	protocols, extensions                       string
	tls                                         bool
}

// h2Server is a net/http server for the RFC 8441 tests.
type h2Server struct {
	URL      string // ws:// or wss://
	accepts  atomic.Int32
	mu       sync.Mutex
	seen     []h2Seen
	handlers sync.WaitGroup
	srv      *httptest.Server
	// handle, if set, replaces the echo after the checks.
	handle func(w http.ResponseWriter, r *http.Request)
}

func (s *h2Server) lastSeen() h2Seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seen) == 0 {
		return h2Seen{}
	}
	return s.seen[len(s.seen)-1]
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n *atomic.Int32
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// startH2Server serves RFC 8441 over h2c (ws://) or TLS with h2 (wss://).
func startH2Server(t *testing.T, useTLS bool, handle func(w http.ResponseWriter, r *http.Request)) *h2Server {
	t.Helper()
	s := &h2Server{handle: handle}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	srv.Listener = countingListener{srv.Listener, &s.accepts}
	p := new(http.Protocols)
	p.SetHTTP1(true)
	if useTLS {
		p.SetHTTP2(true)
		srv.EnableHTTP2 = true
		srv.Config.Protocols = p
		srv.StartTLS()
		s.URL = "wss://" + srv.Listener.Addr().String()
	} else {
		p.SetUnencryptedHTTP2(true)
		srv.Config.Protocols = p
		srv.Start()
		s.URL = "ws://" + srv.Listener.Addr().String()
	}
	s.srv = srv
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		s.handlers.Wait()
	})
	return s
}

// dialer returns a Dialer for s that trusts its certificate.
func (s *h2Server) dialer(mode HTTP2Mode) *Dialer {
	d := &Dialer{HTTP2: mode}
	if strings.HasPrefix(s.URL, "wss:") {
		d.TLSClientConfig = &tls.Config{RootCAs: certPool(s.srv.Certificate())}
	}
	return d
}

func (s *h2Server) serve(w http.ResponseWriter, r *http.Request) {
	s.handlers.Add(1)
	defer s.handlers.Done()
	seen := h2Seen{
		method: r.Method, proto: r.Proto, protocol: r.Header.Get(":protocol"),
		host: r.Host, uri: r.RequestURI, version: r.Header.Get("Sec-Websocket-Version"),
		key:     r.Header.Get("Sec-Websocket-Key"),
		upgrade: r.Header.Get("Upgrade"), connection: r.Header.Get("Connection"),
		userAgent:  strings.Join(r.Header["User-Agent"], ","),
		protocols:  r.Header.Get("Sec-Websocket-Protocol"),
		extensions: r.Header.Get("Sec-Websocket-Extensions"),
		tls:        r.TLS != nil,
	}
	s.mu.Lock()
	s.seen = append(s.seen, seen)
	s.mu.Unlock()
	if r.Method != "CONNECT" || r.Proto != "HTTP/2.0" || seen.protocol != "websocket" {
		http.Error(w, "not an RFC 8441 request", http.StatusBadRequest)
		return
	}
	if seen.version != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, "version", http.StatusUpgradeRequired)
		return
	}
	if s.handle != nil {
		s.handle(w, r)
		return
	}
	nc, params := acceptH2(w, r)
	c := frame.NewConn(nc, nil, frame.Config{Role: frame.RoleServer, Deflate: params, MaxMessageSize: 4 << 20})
	echo(c)
	<-nc.done
}

// acceptH2 answers 200, choosing the first subprotocol offered and
// accepting permessage-deflate if offered, and returns the stream as a
// net.Conn.
func acceptH2(w http.ResponseWriter, r *http.Request) (*h2ServerConn, *frame.DeflateParams) {
	if ps := splitList(r.Header["Sec-Websocket-Protocol"]); len(ps) > 0 {
		w.Header().Set("Sec-WebSocket-Protocol", ps[0])
	}
	var params *frame.DeflateParams
	if offers, err := ParseExtensions(r.Header["Sec-Websocket-Extensions"]); err == nil && len(offers) > 0 {
		if resp, p, ok := NegotiateDeflate(offers, DeflateConfig{Mode: CompressionFull}); ok {
			w.Header().Set("Sec-WebSocket-Extensions", resp.String())
			params = p
		}
	}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	return &h2ServerConn{r: r.Body, w: w, rc: rc, done: make(chan struct{})}, params
}

// echo echoes messages until the connection ends, then closes it.
func echo(c *frame.Conn) {
	defer c.CloseNow()
	for {
		op, msg, err := c.ReadMessage(nil)
		if err != nil {
			return
		}
		if err := c.WriteMessage(op, msg); err != nil {
			return
		}
	}
}

// h2ServerConn is the test server's net.Conn over a stream: r.Body and
// the ResponseWriter, with net/http's deadlines. Close lets the handler
// return, which ends the stream.
type h2ServerConn struct {
	r    io.Reader
	w    http.ResponseWriter
	rc   *http.ResponseController
	once sync.Once
	done chan struct{}
}

func (c *h2ServerConn) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *h2ServerConn) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err == nil {
		err = c.rc.Flush()
	}
	return n, err
}
func (c *h2ServerConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}
func (c *h2ServerConn) LocalAddr() net.Addr  { return streamAddr{} }
func (c *h2ServerConn) RemoteAddr() net.Addr { return streamAddr{} }
func (c *h2ServerConn) SetDeadline(t time.Time) error {
	c.rc.SetReadDeadline(t)
	return c.rc.SetWriteDeadline(t)
}
func (c *h2ServerConn) SetReadDeadline(t time.Time) error  { return c.rc.SetReadDeadline(t) }
func (c *h2ServerConn) SetWriteDeadline(t time.Time) error { return c.rc.SetWriteDeadline(t) }

// waitGoroutines waits until the number of goroutines is back to at most
// base, or fails after 20 s with the stacks.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	waitGoroutinesDo(t, base, nil)
}

// waitIdleClosed closes d's idle HTTP/2 connections until the number of
// goroutines is back to at most base. A connection whose stream was just
// reset or ended becomes idle a moment later, on the transport's read
// loop; one CloseIdleConnections call may come before that on a busy
// machine and leave it open for its 90 s idle timeout.
func waitIdleClosed(t *testing.T, d *Dialer, base int) {
	t.Helper()
	waitGoroutinesDo(t, base, d.CloseIdleConnections)
}

func waitGoroutinesDo(t *testing.T, base int, each func()) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if each != nil {
			each()
		}
		if runtime.NumGoroutine() <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d, want at most %d after 20 s:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestDialHTTP2_Echo_RFC8441_5(t *testing.T) {
	big := bytes.Repeat([]byte("RFC 8441 over one stream. "), (1<<20)/26+1)[:1<<20]
	for _, useTLS := range []bool{false, true} {
		for _, compress := range []bool{false, true} {
			name := fmt.Sprintf("tls=%v/deflate=%v", useTLS, compress)
			t.Run(name, func(t *testing.T) {
				s := startH2Server(t, useTLS, nil)
				d := s.dialer(HTTP2Require)
				d.Protocols = []string{"chat", "superchat"}
				d.Header = map[string][]string{"Origin": {"http://www.example.com"}}
				d.FrameConfig.MaxMessageSize = 4 << 20
				if compress {
					d.Compression = &DeflateOffer{}
				}
				defer d.CloseIdleConnections()
				c, resp, err := d.Dial(context.Background(), s.URL+"/chat?room=1")
				if err != nil {
					t.Fatal(err)
				}
				defer c.CloseNow()
				if resp.Proto != ProtoHTTP2 || resp.StatusCode != 200 || resp.StatusLine != "HTTP/2.0 200 OK" {
					t.Errorf("response %q proto %q", resp.StatusLine, resp.Proto)
				}
				if resp.Subprotocol != "chat" || c.Subprotocol() != "chat" {
					t.Errorf("subprotocol %q", resp.Subprotocol)
				}
				if compress != (resp.Deflate != nil) {
					t.Errorf("deflate %+v, compression offered %v", resp.Deflate, compress)
				}
				seen := s.lastSeen()
				host := strings.TrimPrefix(strings.TrimPrefix(s.URL, "ws://"), "wss://")
				want := h2Seen{
					method: "CONNECT", proto: "HTTP/2.0", protocol: "websocket", host: host,
					uri: "/chat?room=1", version: "13", protocols: "chat, superchat", tls: useTLS,
				}
				if compress {
					want.extensions = "permessage-deflate; client_max_window_bits"
				}
				// (net/http's server does not show :scheme; the Node peer
				// test checks it.)
				if got := seen; got != want {
					t.Errorf("server saw\n%+v\nwant\n%+v", got, want)
				}
				for _, m := range []struct {
					op  frame.Opcode
					msg []byte
				}{
					{frame.OpText, []byte("hello over HTTP/2")},
					{frame.OpBinary, randomBytes(1000)},
					{frame.OpText, big},
					{frame.OpBinary, randomBytes(1 << 20)},
					{frame.OpText, nil},
				} {
					if err := c.WriteMessage(m.op, m.msg); err != nil {
						t.Fatal(err)
					}
					op, got, err := c.ReadMessage(nil)
					if err != nil || op != m.op || !bytes.Equal(got, m.msg) {
						t.Fatalf("echo of %v (%d bytes): %v (%d bytes) %v", m.op, len(m.msg), op, len(got), err)
					}
				}
				if err := c.CloseWith(frame.CloseNormal, "bye"); err != nil {
					t.Fatalf("close: %v", err)
				}
			})
		}
	}
}

// TestDialHTTP2_Multiplex_RFC8441_1 dials 10 WebSockets over one HTTP/2
// connection (RFC 8441 §1: "multiplexing ... on a single connection"),
// echoes on all at once, closes one while the others go on, and checks
// that the server accepted one TCP connection only.
func TestDialHTTP2_Multiplex_RFC8441_1(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", useTLS), func(t *testing.T) {
			base := runtime.NumGoroutine()
			s := startH2Server(t, useTLS, nil)
			d := s.dialer(HTTP2Require)
			conns := make([]*frame.Conn, 10)
			for i := range conns {
				c, resp, err := d.Dial(context.Background(), s.URL+"/")
				if err != nil {
					t.Fatalf("dial %d: %v", i, err)
				}
				if resp.Proto != ProtoHTTP2 {
					t.Fatalf("dial %d over %s", i, resp.Proto)
				}
				conns[i] = c
			}
			if n := s.accepts.Load(); n != 1 {
				t.Fatalf("the server accepted %d connections for 10 WebSockets, want 1", n)
			}
			if reused := conns[9].NetConn().(*streamConn).reused; !reused {
				t.Errorf("the 10th stream did not report a reused connection")
			}
			// Close the first while the others echo.
			if err := conns[0].Close(); err != nil {
				t.Fatalf("close 0: %v", err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, len(conns))
			for i, c := range conns[1:] {
				wg.Go(func() {
					for j := range 20 {
						msg := fmt.Appendf(nil, "conn %d message %d", i+1, j)
						if err := c.WriteMessage(frame.OpText, msg); err != nil {
							errs <- err
							return
						}
						_, got, err := c.ReadMessage(nil)
						if err != nil || !bytes.Equal(got, msg) {
							errs <- fmt.Errorf("conn %d: got %q %v, want %q", i+1, got, err, msg)
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			for _, c := range conns[1:] {
				if err := c.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			}
			if n := s.accepts.Load(); n != 1 {
				t.Errorf("accepted %d connections, want 1", n)
			}
			d.CloseIdleConnections()
			s.srv.CloseClientConnections()
			s.srv.Close()
			s.handlers.Wait()
			waitGoroutines(t, base)
		})
	}
}

func TestDialHTTP2_StatusError_RFC8441_5(t *testing.T) {
	s := startH2Server(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", "seen=1")
		http.Error(w, "origin not allowed here", http.StatusForbidden)
	})
	base := runtime.NumGoroutine()
	jar, _ := cookiejar.New(nil)
	d := s.dialer(HTTP2Require)
	d.Jar = jar
	nc, _, resp, err := d.DialRaw(context.Background(), s.URL+"/")
	var se *StatusError
	if nc != nil || !errors.As(err, &se) || se.StatusCode != 403 || resp == nil {
		t.Fatalf("nc %v err %v resp %+v", nc, err, resp)
	}
	if resp.StatusLine != "HTTP/2.0 403 Forbidden" || resp.Proto != ProtoHTTP2 {
		t.Errorf("status line %q proto %q", resp.StatusLine, resp.Proto)
	}
	if !strings.Contains(string(resp.Body), "origin not allowed here") || resp.BodyTruncated {
		t.Errorf("body %q truncated %v", resp.Body, resp.BodyTruncated)
	}
	if !strings.Contains(err.Error(), `"HTTP/2.0 403 Forbidden"`) || !strings.Contains(err.Error(), "origin not allowed here") {
		t.Errorf("error %v", err)
	}
	// Set-Cookie of a refusal goes to the jar, as over HTTP/1.1.
	ju, _ := url.Parse("http" + strings.TrimPrefix(s.URL, "ws") + "/")
	if cs := jar.Cookies(ju); len(cs) != 1 || cs[0].Name != "seen" {
		t.Errorf("jar holds %v", cs)
	}
	waitIdleClosed(t, d, base)
}

// TestDialHTTP2_HandshakeTimeout: a server that never answers the
// extended CONNECT: the dial ends at HandshakeTimeout with
// context.DeadlineExceeded, the stream is cancelled (the handler sees
// it), and no goroutine is left.
func TestDialHTTP2_HandshakeTimeout(t *testing.T) {
	cancelled := make(chan struct{})
	s := startH2Server(t, false, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // the client's RST_STREAM
		close(cancelled)
	})
	base := runtime.NumGoroutine()
	d := s.dialer(HTTP2Require)
	d.HandshakeTimeout = 100 * time.Millisecond
	nc, _, resp, err := d.DialRaw(context.Background(), s.URL+"/")
	if nc != nil || resp != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("nc %v resp %v err %v", nc, resp, err)
	}
	select {
	case <-cancelled:
	case <-time.After(20 * time.Second):
		t.Fatal("the server did not see the stream cancelled within 20 s")
	}
	waitIdleClosed(t, d, base)
}

// TestDialHTTP2_BadNegotiation_RFC6455_4_1_Step6: the same checks as over
// HTTP/1.1 apply to a 200: a subprotocol that was not offered fails.
func TestDialHTTP2_BadNegotiation_RFC6455_4_1_Step6(t *testing.T) {
	s := startH2Server(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Sec-WebSocket-Protocol", "not-offered")
		w.WriteHeader(200)
		http.NewResponseController(w).Flush()
		io.Copy(io.Discard, r.Body)
	})
	d := s.dialer(HTTP2Require)
	d.Protocols = []string{"chat"}
	defer d.CloseIdleConnections()
	nc, _, resp, err := d.DialRaw(context.Background(), s.URL+"/")
	if nc != nil || !errors.Is(err, ErrBadResponse) || resp == nil || resp.StatusCode != 200 {
		t.Fatalf("nc %v err %v resp %+v", nc, err, resp)
	}
}

// TestDialHTTP2_ResetMidMessage_RFC8441_5: the server resets the stream
// (RST_STREAM, RFC 8441 §5: the TCP RST of RFC 6455) in the middle of a
// message: the client's read ends with 1006 (RFC 6455 §7.1.5), and no
// goroutine is left.
func TestDialHTTP2_ResetMidMessage_RFC8441_5(t *testing.T) {
	base := runtime.NumGoroutine()
	s := startH2Server(t, false, func(w http.ResponseWriter, r *http.Request) {
		nc, _ := acceptH2(w, r)
		// A frame header announcing 1000 bytes, then 10 of them.
		hdr := frame.AppendHeader(nil, frame.Header{Fin: true, Opcode: frame.OpBinary, Length: 1000})
		nc.Write(append(hdr, make([]byte, 10)...))
		panic(http.ErrAbortHandler) // net/http resets the stream
	})
	d := s.dialer(HTTP2Require)
	c, _, err := d.Dial(context.Background(), s.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.ReadMessage(nil)
	if frame.CloseStatus(err) != frame.CloseAbnormal {
		t.Fatalf("read after the reset: %v (close status %v), want 1006", err, frame.CloseStatus(err))
	}
	c.CloseNow()
	d.CloseIdleConnections()
	s.srv.CloseClientConnections()
	s.srv.Close()
	s.handlers.Wait()
	waitGoroutines(t, base)
}

// TestDialHTTP2_Deadlines: a read deadline interrupts a Read and loses
// nothing; a write deadline that passes while the server's flow-control
// window is closed aborts the stream with a timeout.
func TestDialHTTP2_Deadlines(t *testing.T) {
	release := make(chan struct{})
	s := startH2Server(t, false, func(w http.ResponseWriter, r *http.Request) {
		nc, _ := acceptH2(w, r)
		<-release // send nothing, read nothing, until released
		nc.Write([]byte("late"))
		<-r.Context().Done()
	})
	d := s.dialer(HTTP2Require)
	defer d.CloseIdleConnections()
	nc, _, _, err := d.DialRaw(context.Background(), s.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	buf := make([]byte, 16)
	n, err := nc.Read(buf)
	var ne net.Error
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read with a passed deadline: %d %v", n, err)
	}
	// The deadline, once cleared, no longer fires, and the stream works.
	nc.SetReadDeadline(time.Time{})
	close(release)
	if _, err := io.ReadFull(nc, buf[:4]); err != nil || string(buf[:4]) != "late" {
		t.Fatalf("read after the timeout: %q %v", buf[:4], err)
	}
	// A Read blocked without a deadline is interrupted by setting one.
	got := make(chan error, 1)
	go func() {
		_, err := nc.Read(buf)
		got <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the Read block (not needed for correctness)
	nc.SetReadDeadline(time.Unix(1, 0))
	select {
	case err := <-got:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("interrupted read: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a deadline in the past did not interrupt a blocked Read within 20 s")
	}

	// Writes: the server reads nothing; once the flow-control windows
	// are full, Write blocks until its deadline aborts the stream.
	nc.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	chunk := make([]byte, 64<<10)
	var werr error
	for range 1000 { // 64 MiB: far more than any window
		if _, werr = nc.Write(chunk); werr != nil {
			break
		}
	}
	if !errors.Is(werr, os.ErrDeadlineExceeded) {
		t.Fatalf("write against a closed window: %v", werr)
	}
	if _, err := nc.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("write after the abort: %v", err)
	}
}

// TestDialHTTP2_CloseWrite_RFC8441_5: CloseWrite sends END_STREAM (the
// TCP FIN of RFC 6455): the server reads EOF, and can still answer.
func TestDialHTTP2_CloseWrite_RFC8441_5(t *testing.T) {
	s := startH2Server(t, false, func(w http.ResponseWriter, r *http.Request) {
		nc, _ := acceptH2(w, r)
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(nc, "got %q %v", b, err)
	})
	d := s.dialer(HTTP2Require)
	defer d.CloseIdleConnections()
	nc, _, _, err := d.DialRaw(context.Background(), s.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte("half"))
	if err := nc.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(nc)
	if err != nil || string(b) != `got "half" <nil>` {
		t.Fatalf("got %q %v", b, err)
	}
}

// TestDialHTTP2_Prefer_FallsBack: HTTP2Prefer uses HTTP/1.1 when the
// server does not offer RFC 8441, and says so in Response.Proto.
func TestDialHTTP2_Prefer_FallsBack(t *testing.T) {
	h1 := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serveH1Upgrade(t, w, r)
	})
	t.Run("wss/alpn-http1.1", func(t *testing.T) {
		var accepts atomic.Int32
		srv := httptest.NewUnstartedServer(h1)
		srv.Listener = countingListener{srv.Listener, &accepts}
		srv.StartTLS() // HTTP/1.1 only: ALPN offers no h2
		defer srv.Close()
		u := "wss://" + srv.Listener.Addr().String() + "/"
		d := &Dialer{HTTP2: HTTP2Prefer, TLSClientConfig: &tls.Config{RootCAs: certPool(srv.Certificate())}}
		defer d.CloseIdleConnections()
		echoOnce(t, d, u, ProtoHTTP11)
		if n := accepts.Load(); n != 1 {
			t.Errorf("accepted %d connections: the HTTP/1.1 handshake should reuse the TLS connection", n)
		}
		d.HTTP2 = HTTP2Require
		_, _, err := d.Dial(context.Background(), u)
		if !errors.Is(err, ErrExtendedConnectUnsupported) || !strings.Contains(err.Error(), "ALPN") {
			t.Errorf("Require: %v", err)
		}
	})
	t.Run("ws/no-h2c", func(t *testing.T) {
		srv := httptest.NewServer(h1)
		defer srv.Close()
		d := &Dialer{HTTP2: HTTP2Prefer}
		defer d.CloseIdleConnections()
		echoOnce(t, d, "ws://"+srv.Listener.Addr().String()+"/", ProtoHTTP11)
		d.HTTP2 = HTTP2Require
		_, _, err := d.Dial(context.Background(), "ws://"+srv.Listener.Addr().String()+"/")
		if !errors.Is(err, ErrExtendedConnectUnsupported) || !strings.Contains(err.Error(), "h2c") {
			t.Errorf("Require: %v", err)
		}
	})
	t.Run("ws/h2c-without-setting", func(t *testing.T) {
		addr := startNoXConnectServer(t)
		d := &Dialer{HTTP2: HTTP2Prefer}
		defer d.CloseIdleConnections()
		echoOnce(t, d, "ws://"+addr+"/", ProtoHTTP11)
	})
}

// TestDialHTTP2_Require_NoSetting_RFC8441_3: a server that speaks HTTP/2
// but did not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL (net/http
// without GODEBUG=http2xconnect=1, in a child process) makes HTTP2Require
// fail with ErrExtendedConnectUnsupported, wrapping net/http's error, and
// saying what the server needs.
func TestDialHTTP2_Require_NoSetting_RFC8441_3(t *testing.T) {
	addr := startNoXConnectServer(t)
	d := &Dialer{HTTP2: HTTP2Require}
	defer d.CloseIdleConnections()
	nc, _, resp, err := d.DialRaw(context.Background(), "ws://"+addr+"/")
	if nc != nil || resp != nil || !errors.Is(err, ErrExtendedConnectUnsupported) {
		t.Fatalf("nc %v resp %v err %v", nc, resp, err)
	}
	for _, s := range []string{"SETTINGS_ENABLE_CONNECT_PROTOCOL", "GODEBUG=http2xconnect=1", "extended connect not supported by peer"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
}

// echoOnce dials u, checks the protocol used, echoes one message and
// closes.
func echoOnce(t *testing.T, d *Dialer, u, proto string) {
	t.Helper()
	c, resp, err := d.Dial(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if resp.Proto != proto {
		t.Errorf("proto %q, want %q", resp.Proto, proto)
	}
	if err := c.WriteMessage(frame.OpText, []byte("fallback")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.ReadMessage(nil); err != nil || string(got) != "fallback" {
		t.Fatalf("echo %q %v", got, err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

// serveH1Upgrade is an HTTP/1.1 WebSocket echo on net/http (hijacking the
// connection); it answers an HTTP/2 request with 400.
func serveH1Upgrade(t testing.TB, w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 1 {
		http.Error(w, "HTTP/1.1 only", http.StatusBadRequest)
		return
	}
	req, err := NewRequestFromHeader(r.Method, r.RequestURI, r.Proto, r.Host, r.Header)
	if err != nil {
		http.Error(w, err.Error(), HTTPStatus(err))
		return
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer nc.Close()
	res, err := (&Upgrader{}).UpgradeRequest(req, nc)
	if err != nil {
		return
	}
	var buffered []byte
	if n := brw.Reader.Buffered(); n > 0 {
		buffered, _ = brw.Reader.Peek(n)
	}
	echo(frame.NewConn(nc, buffered, frame.Config{Role: frame.RoleServer, Deflate: res.Deflate}))
}

// noXConnectEnv makes the test binary a server without
// SETTINGS_ENABLE_CONNECT_PROTOCOL (see TestMain and startNoXConnectServer).
const noXConnectEnv = "WS6455_HANDSHAKE_NOXCONNECT_SERVER"

// startNoXConnectServer runs this test binary again, without
// http2xconnect=1 in GODEBUG, as an h2c and HTTP/1.1 server on a loopback
// port (noXConnectServer), and returns its address. It stops when the
// test ends (its stdin closes).
func startNoXConnectServer(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GODEBUG=") {
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(env, noXConnectEnv+"=1", reexecMarker+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(l)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case addr := <-line:
		if addr == "" {
			t.Fatal("the child server printed no address")
		}
		return addr
	case <-time.After(30 * time.Second):
		t.Fatal("the child server did not print its address within 30 s")
	}
	return ""
}

// noXConnectServer is the child process of startNoXConnectServer.
func noXConnectServer() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: p, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serveH1Upgrade(nil, w, r)
	})}
	go srv.Serve(ln)
	fmt.Println(ln.Addr().String())
	io.Copy(io.Discard, os.Stdin) // until the parent ends
	os.Exit(0)
}

// certPool trusts cert only.
func certPool(cert *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(cert)
	return p
}

// TestDialHTTP2_Proxy_RFC6455_4_1_Step3: an HTTP/2 connection goes
// through the proxy's CONNECT tunnel like an HTTP/1.1 one (TLS and ALPN
// inside it), and two WebSockets share that one tunnel.
func TestDialHTTP2_Proxy_RFC6455_4_1_Step3(t *testing.T) {
	s := startH2Server(t, true, nil)
	proxy := startConnectProxy(t, "")
	d := s.dialer(HTTP2Require)
	d.Proxy = ProxyURL(&url.URL{Scheme: "http", Host: proxy.ln.Addr().String()})
	defer d.CloseIdleConnections()
	for i := range 2 {
		c, resp, err := d.Dial(context.Background(), s.URL+"/")
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		if resp.Proto != ProtoHTTP2 {
			t.Errorf("dial %d over %s", i, resp.Proto)
		}
		if err := c.WriteMessage(frame.OpText, []byte("via proxy")); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.ReadMessage(nil); err != nil || string(got) != "via proxy" {
			t.Fatalf("echo %q %v", got, err)
		}
		defer c.CloseNow()
	}
	host := strings.TrimPrefix(s.URL, "wss://")
	if reqs := proxy.requests(); len(reqs) != 1 || !strings.HasPrefix(reqs[0], "CONNECT "+host+" HTTP/1.1") {
		t.Errorf("proxy saw %q, want one CONNECT %s", reqs, host)
	}
}
