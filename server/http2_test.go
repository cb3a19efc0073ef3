package server

// Tests of RFC 8441 (WebSocket over HTTP/2) on the net/http adapter. They
// need net/http's HTTP/2 server to accept extended CONNECT, which it does
// only with GODEBUG=http2xconnect=1 at process start: TestMain re-executes
// the test binary once with it (see there).

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/server/internal/wstest"
	"golang.org/x/net/http2"
)

// reexecEnv marks the child process TestMain starts, so that it never
// starts another.
const reexecEnv = "WS6455_TEST_H2_REEXEC"

// TestMain runs the package's tests in a child process whose GODEBUG has
// http2xconnect=1 when this process's net/http does not accept extended
// CONNECT (ExtendedConnectEnabled), passing the arguments through and
// exiting with the child's status. A test that needs the setting off runs
// its own child without it (TestExtendedConnect_RFC8441_3_Off).
func TestMain(m *testing.M) {
	if os.Getenv(reexecEnv) == "" && !ExtendedConnectEnabled() {
		cmd := exec.Command(os.Args[0], os.Args[1:]...)
		cmd.Env = append(os.Environ(), "GODEBUG="+withGODEBUG(os.Getenv("GODEBUG"), "http2xconnect=1"), reexecEnv+"=1")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			os.Exit(0)
		case errors.As(err, &ee):
			os.Exit(ee.ExitCode())
		default:
			fmt.Fprintln(os.Stderr, "TestMain: re-exec with GODEBUG=http2xconnect=1:", err)
			os.Exit(2)
		}
	}
	os.Exit(m.Run())
}

// withGODEBUG appends setting to a GODEBUG value.
func withGODEBUG(v, setting string) string {
	if v == "" {
		return setting
	}
	return v + "," + setting
}

// withoutGODEBUG removes the http2xconnect setting from a GODEBUG value.
func withoutXConnect(v string) string {
	var keep []string
	for s := range strings.SplitSeq(v, ",") {
		if s != "" && !strings.HasPrefix(s, "http2xconnect=") {
			keep = append(keep, s)
		}
	}
	return strings.Join(keep, ",")
}

// serveH2C serves s through an http.Server that speaks HTTP/1.1 and
// unencrypted HTTP/2 (prior knowledge) on a loopback listener, and returns
// the base URL. The http.Server and s are shut down at the end of the test.
func serveH2C(t *testing.T, s *Server) string {
	t.Helper()
	return serveH2CWith(t, s, s)
}

// serveH2CWith is serveH2C with h, which calls s, as the http.Server's
// handler.
func serveH2CWith(t *testing.T, s *Server, h http.Handler) string {
	t.Helper()
	if s.Logger == nil {
		s.Logger = wstest.QuietLogger()
	}
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	hs := httptest.NewUnstartedServer(h)
	hs.Config.Protocols = &p
	hs.Config.ErrorLog = discardLogger
	hs.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		hs.Close()
	})
	return hs.URL
}

// countServed wraps s.ServeHTTP in a handler that counts the calls in
// progress, for tests that check that ServeHTTP returns (the stream's
// end, RFC 8441 §5).
func countServed(s *Server) (http.Handler, *sync.WaitGroup) {
	var served sync.WaitGroup
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		defer served.Done()
		s.ServeHTTP(w, r)
	}), &served
}

// h2cTransport is a client transport that speaks HTTP/2 with prior
// knowledge over TCP: all its requests to one address share one
// connection. It is golang.org/x/net/http2's: net/http's own Transport
// (and ClientConn) refuse to send a request with a ":protocol" field
// ("net/http: invalid header field name"), so in Go 1.26 the standard
// library's client cannot send an extended CONNECT through its public API.
func h2cTransport(t *testing.T) *http2.Transport {
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// h2Dial opens a WebSocket over HTTP/2 the RFC 8441 way, as a minimal
// client for these tests: an extended CONNECT whose request body is an
// io.Pipe and whose response body is the other direction. header adds
// request fields; Sec-WebSocket-Version 13 is set unless header has it.
// It returns the response, and the connection if the status is 200.
func h2Dial(t *testing.T, rt http.RoundTripper, url string, header http.Header, cfg frame.Config) (*frame.Conn, *http.Response, error) {
	t.Helper()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodConnect, url, pr)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if _, ok := req.Header[":protocol"]; !ok {
		req.Header.Set(":protocol", "websocket")
	}
	if _, ok := req.Header["Sec-Websocket-Version"]; !ok {
		req.Header.Set("Sec-WebSocket-Version", "13")
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		cancel()
		pw.Close()
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		pw.Close()
		cancel()
		return nil, resp, fmt.Errorf("status %s", resp.Status)
	}
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		exts, err := handshake.ParseExtensions([]string{ext})
		if err != nil || len(exts) != 1 {
			t.Fatalf("response extensions %q: %v", ext, err)
		}
		if cfg.Deflate, err = (handshake.DeflateOffer{}).Accept(exts[0]); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Role = frame.RoleClient
	cfg.Subprotocol = resp.Header.Get("Sec-WebSocket-Protocol")
	nc := newH2ClientConn(resp.Body, pw, cancel)
	c := frame.NewConn(nc, nil, cfg)
	t.Cleanup(func() { c.CloseNow() })
	return c, resp, nil
}

// h2ClientConn is the test client's net.Conn over its side of the stream.
// A goroutine pumps the response body so that reads can honour deadlines
// (which frame.Conn and wstest.ReadUntilClose use).
type h2ClientConn struct {
	body   io.ReadCloser
	pw     *io.PipeWriter
	cancel context.CancelFunc
	chunks chan h2Chunk
	closed chan struct{}
	once   sync.Once
	pumped chan struct{}

	mu   sync.Mutex
	rest []byte
	err  error
	rdl  time.Time
}

type h2Chunk struct {
	b   []byte
	err error
}

func newH2ClientConn(body io.ReadCloser, pw *io.PipeWriter, cancel context.CancelFunc) *h2ClientConn {
	c := &h2ClientConn{body: body, pw: pw, cancel: cancel, chunks: make(chan h2Chunk), closed: make(chan struct{}), pumped: make(chan struct{})}
	go c.pump()
	return c
}

func (c *h2ClientConn) pump() {
	defer close(c.pumped)
	buf := make([]byte, 32<<10)
	for {
		n, err := c.body.Read(buf)
		select {
		case c.chunks <- h2Chunk{bytes.Clone(buf[:n]), err}:
		case <-c.closed:
			return
		}
		if err != nil {
			return
		}
	}
}

func (c *h2ClientConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.rest) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		var timeout <-chan time.Time
		if !c.rdl.IsZero() {
			d := time.Until(c.rdl)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			tm := time.NewTimer(d)
			defer tm.Stop()
			timeout = tm.C
		}
		select {
		case ch := <-c.chunks:
			c.rest, c.err = ch.b, ch.err
		case <-timeout:
			return 0, os.ErrDeadlineExceeded
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
	n := copy(p, c.rest)
	c.rest = c.rest[n:]
	return n, nil
}

func (c *h2ClientConn) Write(p []byte) (int, error) { return c.pw.Write(p) }

// Close ends the client's side: END_STREAM (closing the request body), then
// RST_STREAM (CANCEL) if the server's side is still open (closing the
// response body).
func (c *h2ClientConn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		c.pw.Close()
		c.body.Close()
		c.cancel()
		<-c.pumped
	})
	return nil
}

func (c *h2ClientConn) LocalAddr() net.Addr  { return pipeAddr{} }
func (c *h2ClientConn) RemoteAddr() net.Addr { return pipeAddr{} }
func (c *h2ClientConn) SetDeadline(t time.Time) error {
	return c.SetReadDeadline(t)
}
func (c *h2ClientConn) SetWriteDeadline(time.Time) error { return nil }

// SetReadDeadline takes effect on the next Read (the tests set it before
// reading, never during a read).
func (c *h2ClientConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.rdl = t
	c.mu.Unlock()
	return nil
}

// TestExtendedConnectEnabled_RFC8441_3: TestMain saw to it that this
// process runs with GODEBUG=http2xconnect=1, and the probe of net/http
// says so.
func TestExtendedConnectEnabled_RFC8441_3(t *testing.T) {
	if !ExtendedConnectEnabled() {
		t.Fatalf("ExtendedConnectEnabled() = false with GODEBUG=%q", os.Getenv("GODEBUG"))
	}
	if !strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1") {
		t.Fatalf("the probe says on, but GODEBUG=%q", os.Getenv("GODEBUG"))
	}
}

// TestServeHTTP_RFC8441_Echo: text, binary, fragmented and 1 MiB messages
// echo over an extended CONNECT stream, with and without permessage-deflate,
// and the close handshake ends the stream: the handler returns and the
// connection's tracking ends.
func TestServeHTTP_RFC8441_Echo(t *testing.T) {
	for _, deflate := range []bool{false, true} {
		t.Run(fmt.Sprintf("deflate=%v", deflate), func(t *testing.T) {
			wstest.CheckGoroutines(t)
			var sawReq *handshake.Request
			var mu sync.Mutex
			s := &Server{Handler: HandlerFunc(echo)}
			s.TraceHandshake = func(_ net.Addr, req *handshake.Request, _ *handshake.Result, _ error) {
				mu.Lock()
				sawReq = req
				mu.Unlock()
			}
			if deflate {
				s.Upgrader.Compression = handshake.DefaultDeflateConfig()
			}
			url := serveH2C(t, s)
			tr := h2cTransport(t)
			hdr := http.Header{}
			if deflate {
				hdr.Set("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
			}
			c, resp, err := h2Dial(t, tr, url+"/echo", hdr, frame.Config{})
			if err != nil {
				t.Fatal(err)
			}
			if resp.ProtoMajor != 2 {
				t.Fatalf("response over %s", resp.Proto)
			}
			for _, k := range []string{"Upgrade", "Connection", "Sec-Websocket-Accept"} {
				if v, ok := resp.Header[k]; ok {
					t.Errorf("200 has %s: %q (RFC 8441 §5, RFC 9113 §8.2.2)", k, v)
				}
			}
			if got := resp.Header.Get("Sec-WebSocket-Extensions") != ""; got != deflate {
				t.Errorf("Sec-WebSocket-Extensions %q, deflate %v", resp.Header.Get("Sec-WebSocket-Extensions"), deflate)
			}
			// TraceHandshake runs after the 200 has gone out: wait for it.
			traced := func() *handshake.Request {
				mu.Lock()
				defer mu.Unlock()
				return sawReq
			}
			wstest.WaitUntil(t, wstest.Timeout, "TraceHandshake", func() bool { return traced() != nil }, nil)
			if r := traced(); !r.HTTP2 || r.Protocol != "websocket" || r.Method != "CONNECT" {
				t.Errorf("traced request %+v", r)
			}

			roundTrip(t, c, "hello over HTTP/2")
			bin := []byte{0, 1, 2, 0xff, 0xfe}
			if err := c.WriteMessage(frame.OpBinary, bin); err != nil {
				t.Fatal(err)
			}
			expectMessage(t, c, frame.OpBinary, bin)
			if err := c.WriteFragmented(frame.OpText, []byte("fragmented"), 3); err != nil {
				t.Fatal(err)
			}
			expectMessage(t, c, frame.OpText, []byte("fragmented"))
			big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
			big[12345] = 'X'
			if err := c.WriteMessage(frame.OpBinary, big); err != nil {
				t.Fatal(err)
			}
			expectMessage(t, c, frame.OpBinary, big)
			if deflate && c.NetConn() == nil {
				t.Fatal("unreachable")
			}

			if n := s.NumConns(); n != 1 {
				t.Errorf("NumConns = %d during the exchange", n)
			}
			if err := c.CloseWith(frame.CloseNormal, "bye"); err != nil {
				t.Fatalf("close handshake: %v", err)
			}
			wstest.WaitUntil(t, wstest.Timeout, "the server to drop the connection", func() bool { return s.NumConns() == 0 }, nil)
		})
	}
}

// expectMessage reads one message and compares it.
func expectMessage(t *testing.T, c *frame.Conn, op frame.Opcode, want []byte) {
	t.Helper()
	c.NetConn().SetReadDeadline(time.Now().Add(wstest.Timeout))
	gotOp, p, err := c.ReadMessage(nil)
	c.NetConn().SetReadDeadline(time.Time{})
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	if gotOp != op || !bytes.Equal(p, want) {
		t.Fatalf("got %v (%d bytes), want %v (%d bytes)", gotOp, len(p), op, len(want))
	}
}

// TestServeHTTP_RFC8441_Multiplexed: twelve WebSockets on one HTTP/2
// connection, each on its own stream, echo independently; one closes with
// 1000 while the others go on. In handler mode and in event mode (whose
// callbacks serve a stream through the no-fd fallback: a goroutine per
// connection).
func TestServeHTTP_RFC8441_Multiplexed(t *testing.T) {
	const n = 12
	for _, mode := range []string{"handler", "events"} {
		t.Run(mode, func(t *testing.T) {
			wstest.CheckGoroutines(t)
			var mu sync.Mutex
			remotes := map[string]int{}
			s := &Server{}
			ev := newRecordingEvents()
			if mode == "events" {
				s.Events = ev
			} else {
				s.Handler = HandlerFunc(echo)
			}
			s.TraceHandshake = func(remote net.Addr, req *handshake.Request, _ *handshake.Result, err error) {
				if err == nil && req.HTTP2 {
					mu.Lock()
					remotes[remote.String()]++
					mu.Unlock()
				}
			}
			url := serveH2C(t, s)
			tr := h2cTransport(t)
			conns := make([]*frame.Conn, n)
			for i := range conns {
				c, _, err := h2Dial(t, tr, url+"/echo", nil, frame.Config{})
				if err != nil {
					t.Fatalf("stream %d: %v", i, err)
				}
				conns[i] = c
			}
			// The server counts a connection (and traces its handshake)
			// just after its 200 has gone out: wait for all of them.
			wstest.WaitUntil(t, wstest.Timeout, "the server to count every connection", func() bool { return s.NumConns() == n }, func() string { return fmt.Sprint(s.NumConns()) })
			traced := func() (streams, conns int) {
				mu.Lock()
				defer mu.Unlock()
				for _, k := range remotes {
					streams += k
				}
				return streams, len(remotes)
			}
			wstest.WaitUntil(t, wstest.Timeout, "every handshake to be traced", func() bool { n2, _ := traced(); return n2 == n }, nil)
			if _, tcp := traced(); tcp != 1 {
				t.Fatalf("WebSockets came over %d TCP connections (%v), want 1", tcp, remotes)
			}
			if mode == "events" {
				wstest.WaitUntil(t, wstest.Timeout, "OnOpen for every connection", func() bool { return len(ev.opened) == n }, nil)
			}
			// All at once, each its own messages.
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i, c := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := range 20 {
						msg := fmt.Sprintf("stream %d message %d", i, j)
						if err := c.WriteMessage(frame.OpText, []byte(msg)); err != nil {
							errs <- err
							return
						}
						c.NetConn().SetReadDeadline(time.Now().Add(wstest.Timeout))
						_, p, err := c.ReadMessage(nil)
						if err != nil || string(p) != msg {
							errs <- fmt.Errorf("stream %d: got %q, %v; want %q", i, p, err, msg)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			// One closes; the others are unaffected.
			if err := conns[0].CloseWith(frame.CloseNormal, "done"); err != nil {
				t.Fatalf("close handshake of stream 0: %v", err)
			}
			wstest.WaitUntil(t, wstest.Timeout, "the closed stream's connection to end on the server", func() bool { return s.NumConns() == n-1 }, nil)
			if mode == "events" {
				select {
				case err := <-ev.closed:
					var ce *frame.CloseError
					if !errors.As(err, &ce) || ce.Code != frame.CloseNormal {
						t.Errorf("OnClose(%v), want 1000", err)
					}
				case <-time.After(wstest.Timeout):
					t.Fatal("no OnClose for the closed stream")
				}
			}
			for i, c := range conns[1:] {
				roundTrip(t, c, fmt.Sprintf("stream %d after stream 0 closed", i+1))
			}
			for _, c := range conns[1:] {
				c.CloseWith(frame.CloseNormal, "")
			}
			wstest.WaitUntil(t, wstest.Timeout, "every connection to end on the server", func() bool { return s.NumConns() == 0 }, nil)
		})
	}
}

// TestServeHTTP_RFC8441_5_Negotiation: subprotocol and origin are
// negotiated by the same Upgrader code as on HTTP/1.1 (RFC 8441 §5); a
// refusal is an HTTP status on the stream.
func TestServeHTTP_RFC8441_5_Negotiation(t *testing.T) {
	wstest.CheckGoroutines(t)
	s := &Server{Handler: HandlerFunc(echo)}
	s.Upgrader.Protocols = []string{"superchat", "chat"}
	url := serveH2C(t, s)
	tr := h2cTransport(t)

	c, resp, err := h2Dial(t, tr, url+"/echo", http.Header{"Sec-Websocket-Protocol": {"chat, superchat"}}, frame.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Sec-WebSocket-Protocol") != "superchat" || c.Subprotocol() != "superchat" {
		t.Errorf("subprotocol %q (conn %q), want superchat", resp.Header.Get("Sec-WebSocket-Protocol"), c.Subprotocol())
	}
	roundTrip(t, c, "negotiated")
	c.CloseWith(frame.CloseNormal, "")

	// Same origin (the :authority) is accepted, a foreign one is 403.
	host := strings.TrimPrefix(url, "http://")
	c, _, err = h2Dial(t, tr, url+"/echo", http.Header{"Origin": {"http://" + host}}, frame.Config{})
	if err != nil {
		t.Fatalf("same origin: %v", err)
	}
	c.CloseWith(frame.CloseNormal, "")
	_, resp, err = h2Dial(t, tr, url+"/echo", http.Header{"Origin": {"http://evil.example"}}, frame.Config{})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: %v, %v", resp, err)
	}
	// Version missing: 426 with Sec-WebSocket-Version: 13 (RFC 6455 §4.4).
	_, resp, err = h2Dial(t, tr, url+"/echo", http.Header{"Sec-Websocket-Version": nil}, frame.Config{})
	if err == nil || resp == nil || resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Sec-WebSocket-Version") != "13" {
		t.Fatalf("no version: %v, %v", resp, err)
	}
	wstest.WaitUntil(t, wstest.Timeout, "every connection to end on the server", func() bool { return s.NumConns() == 0 }, nil)
}

// TestServeHTTP_RFC8441_Shutdown: Shutdown sends 1001 to WebSockets on
// HTTP/2 streams (RFC 6455 §7.4.1), waits for their close handshakes, and
// their handlers (ServeHTTP) return. The HTTP/2 connection itself belongs
// to the http.Server and stays open: another request still works on it.
func TestServeHTTP_RFC8441_Shutdown(t *testing.T) {
	wstest.CheckGoroutines(t)
	s := &Server{Handler: HandlerFunc(echo), Logger: wstest.QuietLogger()}
	h, served := countServed(s)
	mux := http.NewServeMux()
	mux.Handle("/echo", h)
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "page") })
	url := serveH2CWith(t, s, mux)
	tr := h2cTransport(t)
	const n = 3
	conns := make([]*frame.Conn, n)
	for i := range conns {
		c, _, err := h2Dial(t, tr, url+"/echo", nil, frame.Config{})
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, c, "before shutdown")
		conns[i] = c
	}
	results := make(chan error, n)
	for _, c := range conns {
		go func() { results <- wstest.ReadUntilClose(c) }()
	}
	ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for range n {
		err := <-results
		var ce *frame.CloseError
		if !errors.As(err, &ce) || ce.Code != frame.CloseGoingAway || ce.Local {
			t.Errorf("client saw %v, want the server's 1001", err)
		}
	}
	done := make(chan struct{})
	go func() { served.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wstest.Timeout):
		t.Fatal("ServeHTTP did not return after Shutdown")
	}
	if s.NumConns() != 0 {
		t.Errorf("NumConns = %d after Shutdown", s.NumConns())
	}
	// The http.Server's connection is still there, for other requests.
	req, _ := http.NewRequest("GET", url+"/page", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("GET after Shutdown: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "page" || resp.ProtoMajor != 2 {
		t.Errorf("GET after Shutdown: %s %q", resp.Proto, body)
	}
	// And a new WebSocket is refused with 1001 at once.
	c, _, err := h2Dial(t, tr, url+"/echo", nil, frame.Config{})
	if err == nil {
		expectCloseCode(t, c, frame.CloseGoingAway)
	}
}

// TestServeHTTP_RFC8441_TLS: the usual deployment, HTTP/2 negotiated by
// TLS ALPN ("h2"), with an echo and a close.
func TestServeHTTP_RFC8441_TLS(t *testing.T) {
	wstest.CheckGoroutines(t)
	s := &Server{Handler: HandlerFunc(echo), Logger: wstest.QuietLogger()}
	s.Upgrader.Compression = handshake.DefaultDeflateConfig()
	hs := httptest.NewUnstartedServer(s)
	hs.EnableHTTP2 = true
	hs.Config.ErrorLog = discardLogger
	hs.StartTLS()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
		defer cancel()
		s.Shutdown(ctx)
		hs.Close()
	})
	tr := &http2.Transport{TLSClientConfig: hs.Client().Transport.(*http.Transport).TLSClientConfig.Clone()}
	t.Cleanup(tr.CloseIdleConnections)
	c, resp, err := h2Dial(t, tr, hs.URL+"/echo", http.Header{"Sec-Websocket-Extensions": {"permessage-deflate"}}, frame.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.TLS == nil || resp.TLS.NegotiatedProtocol != "h2" {
		t.Fatalf("not h2 over TLS: %+v", resp.TLS)
	}
	roundTrip(t, c, "over TLS and HTTP/2")
	big := bytes.Repeat([]byte{'z'}, 1<<20)
	if err := c.WriteMessage(frame.OpBinary, big); err != nil {
		t.Fatal(err)
	}
	expectMessage(t, c, frame.OpBinary, big)
	if err := c.CloseWith(frame.CloseNormal, ""); err != nil {
		t.Fatal(err)
	}
	wstest.WaitUntil(t, wstest.Timeout, "the connection to end on the server", func() bool { return s.NumConns() == 0 }, nil)
}

// TestUpgrade_RFC8441: Server.Upgrade over HTTP/2 returns a connection that
// the caller serves; its handler waits on Done, as Upgrade's doc says, and
// the connection is tracked (NumConns) until it ends.
func TestUpgrade_RFC8441(t *testing.T) {
	wstest.CheckGoroutines(t)
	s := &Server{Logger: wstest.QuietLogger()}
	returned := make(chan struct{}, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { returned <- struct{}{} }()
		c, hs, err := s.Upgrade(w, r)
		if err != nil {
			return
		}
		if !hs.Request.HTTP2 {
			c.CloseWith(frame.CloseInternalError, "not HTTP/2")
			return
		}
		go echo(c, hs)
		<-c.Done()
	})
	url := serveH2CWith(t, s, h)
	tr := h2cTransport(t)
	c, _, err := h2Dial(t, tr, url+"/x", nil, frame.Config{})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, "upgraded by hand")
	if s.NumConns() != 1 {
		t.Errorf("NumConns = %d", s.NumConns())
	}
	if err := c.CloseWith(frame.CloseNormal, ""); err != nil {
		t.Fatal(err)
	}
	select {
	case <-returned:
	case <-time.After(wstest.Timeout):
		t.Fatal("the handler did not return after the close")
	}
	wstest.WaitUntil(t, wstest.Timeout, "NumConns to reach 0", func() bool { return s.NumConns() == 0 }, nil)
}

// TestServeHTTP_RFC8441_Limits: the Server's frame.Config applies to
// streams: a message over MaxMessageSize fails the connection with 1009
// (RFC 6455 §7.4.1), and the stream ends.
func TestServeHTTP_RFC8441_Limits(t *testing.T) {
	wstest.CheckGoroutines(t)
	s := &Server{Handler: HandlerFunc(echo)}
	s.Config.MaxMessageSize = 1000
	url := serveH2C(t, s)
	c, _, err := h2Dial(t, h2cTransport(t), url+"/echo", nil, frame.Config{})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, "small")
	if err := c.WriteMessage(frame.OpBinary, make([]byte, 1001)); err != nil {
		t.Fatal(err)
	}
	expectCloseCode(t, c, frame.CloseMessageTooBig)
	wstest.WaitUntil(t, wstest.Timeout, "NumConns to reach 0", func() bool { return s.NumConns() == 0 }, nil)
}

// BenchmarkServeHTTP_RFC8441_Echo: round trips of a 1 KiB message on one
// WebSocket, over an HTTP/2 stream (h2c) and, for comparison, over a
// hijacked HTTP/1.1 connection of the same net/http server.
func BenchmarkServeHTTP_RFC8441_Echo(b *testing.B) {
	msg := bytes.Repeat([]byte{'x'}, 1024)
	run := func(b *testing.B, c *frame.Conn) {
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		buf := make([]byte, 0, 2048)
		for b.Loop() {
			if err := c.WriteMessage(frame.OpBinary, msg); err != nil {
				b.Fatal(err)
			}
			var err error
			if _, buf, err = c.ReadMessage(buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, proto := range []string{"http2", "http1"} {
		b.Run(proto, func(b *testing.B) {
			s := &Server{Handler: HandlerFunc(echo), Logger: wstest.QuietLogger()}
			var p http.Protocols
			p.SetHTTP1(true)
			p.SetUnencryptedHTTP2(true)
			hs := httptest.NewUnstartedServer(s)
			hs.Config.Protocols = &p
			hs.Config.ErrorLog = discardLogger
			hs.Start()
			defer hs.Close()
			defer s.Close()
			var c *frame.Conn
			if proto == "http2" {
				tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, network, addr)
				}}
				defer tr.CloseIdleConnections()
				pr, pw := io.Pipe()
				req, _ := http.NewRequest(http.MethodConnect, hs.URL+"/echo", pr)
				req.Header.Set(":protocol", "websocket")
				req.Header.Set("Sec-WebSocket-Version", "13")
				resp, err := tr.RoundTrip(req)
				if err != nil || resp.StatusCode != 200 {
					b.Fatal(resp, err)
				}
				c = frame.NewConn(newH2ClientConn(resp.Body, pw, func() {}), nil, frame.Config{Role: frame.RoleClient})
			} else {
				c = wstest.Dial(b, strings.TrimPrefix(hs.URL, "http://"), "/echo", frame.Config{})
			}
			defer c.CloseNow()
			run(b, c)
		})
	}
}

// TestServeHTTP_RFC8441_DeadlinesIdle: net/http implements a stream's
// deadlines as timers that reset the stream (write) or end its body (read)
// when they fire, whether or not a call is in progress; a socket's
// deadline only fails the calls made while it has passed. The stream
// adapter keeps the socket's meaning: neither frame.Conn's WriteTimeout
// nor the http.Server's ReadTimeout and WriteTimeout end a WebSocket that
// is merely idle past them, and a read deadline that passed while nobody
// read fails the next read and can then be moved.
func TestServeHTTP_RFC8441_DeadlinesIdle(t *testing.T) {
	wstest.CheckGoroutines(t)
	checked := make(chan error, 1)
	s := &Server{Handler: HandlerFunc(func(c *frame.Conn, hs *handshake.Result) {
		op, p, err := c.ReadMessage(nil)
		if err != nil {
			return
		}
		c.WriteMessage(op, p)
		// A read deadline that passes while nobody reads.
		dl := time.Now().Add(50 * time.Millisecond)
		c.NetConn().SetReadDeadline(dl)
		for !time.Now().After(dl) {
			time.Sleep(10 * time.Millisecond)
		}
		_, _, err = c.ReadMessage(nil)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			checked <- fmt.Errorf("read after the deadline passed: %v, want os.ErrDeadlineExceeded", err)
			return
		}
		c.NetConn().SetReadDeadline(time.Time{})
		checked <- nil
		echo(c, hs)
	}), Logger: wstest.QuietLogger()}
	s.Config.WriteTimeout = 200 * time.Millisecond
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	hs := httptest.NewUnstartedServer(s)
	hs.Config.Protocols = &p
	hs.Config.ErrorLog = discardLogger
	hs.Config.ReadTimeout = 200 * time.Millisecond
	hs.Config.WriteTimeout = 200 * time.Millisecond
	hs.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
		defer cancel()
		s.Shutdown(ctx)
		hs.Close()
	})
	c, _, err := h2Dial(t, h2cTransport(t), hs.URL+"/echo", nil, frame.Config{})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, "first")
	select {
	case err := <-checked:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(wstest.Timeout):
		t.Fatal("the handler's deadline check did not finish")
	}
	// Idle for well past every timeout above (no assertion on how long
	// anything takes: only that the connection is still there after).
	time.Sleep(time.Second)
	roundTrip(t, c, "after an idle second")
	if err := c.CloseWith(frame.CloseNormal, ""); err != nil {
		t.Fatal(err)
	}
}

// TestIsWebSocketUpgrade_RFC8441_4: an extended CONNECT with :protocol
// websocket is a WebSocket request; a plain CONNECT or another protocol is
// not.
func TestIsWebSocketUpgrade_RFC8441_4(t *testing.T) {
	mk := func(proto int, method string, h http.Header) *http.Request {
		return &http.Request{ProtoMajor: proto, Method: method, Header: h}
	}
	tests := []struct {
		r    *http.Request
		want bool
	}{
		{mk(2, "CONNECT", http.Header{":protocol": {"websocket"}}), true},
		{mk(2, "CONNECT", http.Header{":protocol": {"WebSocket"}}), true},
		{mk(2, "CONNECT", http.Header{}), false},
		{mk(2, "CONNECT", http.Header{":protocol": {"webtransport"}}), false},
		{mk(2, "GET", http.Header{":protocol": {"websocket"}}), false},
		{mk(1, "GET", http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}), true},
		{mk(1, "CONNECT", http.Header{":protocol": {"websocket"}}), false},
	}
	for i, tt := range tests {
		if got := IsWebSocketUpgrade(tt.r); got != tt.want {
			t.Errorf("%d: %s HTTP/%d %v: %v, want %v", i, tt.r.Method, tt.r.ProtoMajor, tt.r.Header, got, tt.want)
		}
	}
}
