package server

// Test plumbing shared by the server tests: a Server on a loopback
// listener that is shut down at the end of the test, a goroutine leak
// check, an echo handler, a Dialer client, and a raw TCP client that writes
// handshakes and frames by hand and reads back what the server sends.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// testTimeout bounds every wait in these tests; no test asserts that
// something happens quickly, it only refuses to hang.
const testTimeout = 10 * time.Second

// closeWait bounds a wait for the relay to close a connection it has
// decided to close: the close handshake (with the write in progress ahead
// of the close frame) ends within a close timeout, a deferred close reply
// within two. Like testTimeout it is a ceiling, not an expectation.
const closeWait = 2*frame.DefaultCloseTimeout + testTimeout

// waitUntil polls cond until it holds, failing the test with what was
// awaited (and detail(), if not nil) if it still does not after ceiling.
func waitUntil(t testing.TB, ceiling time.Duration, what string, cond func() bool, detail func() string) {
	t.Helper()
	deadline := time.Now().Add(ceiling)
	for !cond() {
		if time.Now().After(deadline) {
			msg := ""
			if detail != nil {
				msg = " (" + detail() + ")"
			}
			t.Fatalf("still waiting after %v for %s%s", ceiling, what, msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logRecorder is a slog.Handler that keeps the messages logged.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecorder) WithGroup(string) slog.Handler            { return h }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.msgs = append(h.msgs, r.Message)
	h.mu.Unlock()
	return nil
}

// logged reports whether msg was logged.
func (h *logRecorder) logged(msg string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Contains(h.msgs, msg)
}

// quietLogger drops the server's log output (handler panics are expected
// in some tests).
func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// echo sends every message back with its own opcode until the connection
// ends.
func echo(c *frame.Conn, _ *handshake.Result) {
	for {
		op, p, err := c.ReadMessage(nil)
		if err != nil {
			return
		}
		if err := c.WriteMessage(op, p); err != nil {
			return
		}
	}
}

// checkGoroutines fails the test if, after everything registered later
// with t.Cleanup has run (the server's Shutdown among it), more goroutines
// are left than there were when it was called. Goroutines take a moment to
// exit after the connections they serve are closed, so it retries.
func checkGoroutines(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(testTimeout)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d goroutines before the test, %d after\n%s", before, n, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// serveLocal runs s on a new 127.0.0.1 listener and returns its address.
// At the end of the test it shuts s down and checks that Serve returned
// ErrServerClosed. A test that shuts s down itself may do so; the second
// Shutdown is harmless.
func serveLocal(t testing.TB, s *Server) string {
	t.Helper()
	if s.Logger == nil {
		s.Logger = quietLogger()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		select {
		case err := <-served:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(testTimeout):
			t.Errorf("Serve did not return after Shutdown")
		}
	})
	return ln.Addr().String()
}

// dial opens a client connection to ws://addr/path with cfg as the
// client's frame.Config.
func dial(t testing.TB, addr, path string, cfg frame.Config) *frame.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	d := &handshake.Dialer{FrameConfig: cfg}
	c, _, err := d.Dial(ctx, "ws://"+addr+path)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// roundTrip sends msg and expects it back.
func roundTrip(t testing.TB, c *frame.Conn, msg string) {
	t.Helper()
	if err := c.WriteMessage(frame.OpText, []byte(msg)); err != nil {
		t.Fatalf("WriteMessage: %v", err)
	}
	c.NetConn().SetReadDeadline(time.Now().Add(testTimeout))
	op, p, err := c.ReadMessage(nil)
	c.NetConn().SetReadDeadline(time.Time{})
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	if op != frame.OpText || string(p) != msg {
		t.Fatalf("echo: got %v %q, want text %q", op, p, msg)
	}
}

// readUntilClose reads and discards messages until the connection ends and
// returns the error: a *frame.CloseError for a closed connection, or
// os.ErrDeadlineExceeded if it is still open after testTimeout. It may run
// in any goroutine.
func readUntilClose(c *frame.Conn) error {
	return readUntilCloseWithin(c, testTimeout)
}

// readUntilCloseWithin is readUntilClose with another ceiling.
func readUntilCloseWithin(c *frame.Conn, ceiling time.Duration) error {
	c.NetConn().SetReadDeadline(time.Now().Add(ceiling))
	for {
		if _, _, err := c.ReadMessage(nil); err != nil {
			return err
		}
	}
}

// expectCloseCode reads until the connection ends and checks that the
// peer closed it with code.
func expectCloseCode(t testing.TB, c *frame.Conn, code frame.CloseCode) {
	t.Helper()
	err := readUntilClose(c)
	var ce *frame.CloseError
	if !errors.As(err, &ce) || ce.Code != code || ce.Local {
		t.Fatalf("connection ended with %v, want the peer's close code %v", err, code)
	}
}

// rawConn is a hand-driven client on a TCP connection.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

// dialRaw opens a TCP connection to addr; every I/O on it is bounded by
// testTimeout.
func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// upgradeRequest returns a valid opening handshake (RFC 6455 §4.1) for
// ws://addr/path with extra header lines, and the key it uses.
func upgradeRequest(t testing.TB, addr, path string, extra ...string) (req []byte, hs *handshake.ClientHandshake) {
	t.Helper()
	u, err := url.Parse("ws://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	hs = &handshake.ClientHandshake{URL: u, Key: handshake.NewKey(), Header: map[string][]string{}}
	for _, line := range extra {
		k, v, _ := strings.Cut(line, ":")
		hs.Header[k] = append(hs.Header[k], strings.TrimSpace(v))
	}
	req, err = hs.AppendRequest(nil)
	if err != nil {
		t.Fatal(err)
	}
	return req, hs
}

// upgrade runs a valid handshake on the raw connection, with trailing
// bytes sent in the same write right behind the request.
func (r *rawConn) upgrade(addr, path string, trailing []byte) {
	r.t.Helper()
	req, hs := upgradeRequest(r.t, addr, path)
	r.write(append(req, trailing...))
	r.expect101(hs)
}

// expect101 reads the server's handshake and verifies it against hs.
func (r *rawConn) expect101(hs *handshake.ClientHandshake) {
	r.t.Helper()
	resp, err := handshake.ReadResponse(r.br, handshake.Limits{})
	if err != nil {
		r.t.Fatalf("read response: %v", err)
	}
	if err := hs.Verify(resp); err != nil {
		r.t.Fatalf("verify response: %v", err)
	}
}

func (r *rawConn) write(b []byte) {
	r.t.Helper()
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// httpResponse reads an HTTP response (for a request with method).
func (r *rawConn) httpResponse(method string) *http.Response {
	r.t.Helper()
	resp, err := http.ReadResponse(r.br, &http.Request{Method: method})
	if err != nil {
		r.t.Fatalf("read HTTP response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("read HTTP body: %v", err)
	}
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	return resp
}

// clientFrame encodes a masked client frame (RFC 6455 §5.3).
func clientFrame(fin bool, op frame.Opcode, payload []byte) []byte {
	h := frame.Header{Fin: fin, Opcode: op, Masked: true, Mask: [4]byte{0x37, 0xfa, 0x21, 0x3d}, Length: int64(len(payload))}
	b := frame.AppendHeader(nil, h)
	start := len(b)
	b = append(b, payload...)
	frame.Mask(h.Mask, 0, b[start:])
	return b
}

// closeFrame encodes a masked client close frame with code.
func closeFrame(code frame.CloseCode, reason string) []byte {
	return clientFrame(true, frame.OpClose, frame.AppendClosePayload(nil, code, reason))
}

// readFrame reads one frame from the server, which must not be masked
// (RFC 6455 §5.1).
func (r *rawConn) readFrame() (frame.Header, []byte, error) {
	h, err := frame.ReadHeader(r.br)
	if err != nil {
		return h, nil, err
	}
	if h.Masked {
		return h, nil, fmt.Errorf("server frame is masked: %+v", h)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(r.br, p); err != nil {
		return h, nil, err
	}
	return h, p, nil
}

// expectFrame reads frames, skipping pings, until a frame that is not a
// ping, and checks its opcode.
func (r *rawConn) expectFrame(op frame.Opcode) []byte {
	r.t.Helper()
	for {
		h, p, err := r.readFrame()
		if err != nil {
			r.t.Fatalf("reading a %v frame: %v", op, err)
		}
		if h.Opcode == frame.OpPing && op != frame.OpPing {
			continue
		}
		if h.Opcode != op || !h.Fin {
			r.t.Fatalf("got frame %+v %q, want a final %v frame", h, p, op)
		}
		return p
	}
}

// expectClose reads frames until a close frame and checks its code.
func (r *rawConn) expectClose(code frame.CloseCode) {
	r.t.Helper()
	p := r.expectFrame(frame.OpClose)
	got, reason, err := frame.ParseClosePayload(p)
	if err != nil || got != code {
		r.t.Fatalf("close frame %q (%v %q, %v), want code %v", p, got, reason, err, code)
	}
}

// expectEOF checks that the server closes the TCP connection cleanly: the
// next read returns io.EOF (the server's FIN), not data, a timeout or a
// reset (which may destroy what the server sent last before the client
// reads it).
func (r *rawConn) expectEOF() {
	r.t.Helper()
	b, err := r.br.ReadByte()
	switch {
	case err == nil:
		r.t.Fatalf("got byte %#x, want the connection closed", b)
	case errors.Is(err, os.ErrDeadlineExceeded):
		r.t.Fatalf("connection still open after %v", testTimeout)
	case err != io.EOF:
		r.t.Fatalf("connection ended with %v, want a clean EOF", err)
	}
}
