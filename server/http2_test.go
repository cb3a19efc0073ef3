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
	if s.Logger == nil {
		s.Logger = wstest.QuietLogger()
	}
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	hs := httptest.NewUnstartedServer(s)
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
	for {
		buf := make([]byte, 32<<10)
		n, err := c.body.Read(buf)
		select {
		case c.chunks <- h2Chunk{buf[:n], err}:
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
			mu.Lock()
			if sawReq == nil || !sawReq.HTTP2 || sawReq.Protocol != "websocket" || sawReq.Method != "CONNECT" {
				t.Errorf("traced request %+v", sawReq)
			}
			mu.Unlock()

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
