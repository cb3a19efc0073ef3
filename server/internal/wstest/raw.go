package wstest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// RawConn is a hand-driven client on a TCP connection. Conn is the
// connection, for writes that must not fail the test and for closing it;
// Reader buffers what the server sent, for reads by hand.
type RawConn struct {
	t      testing.TB
	Conn   net.Conn
	Reader *bufio.Reader
}

// NewRawConn drives nc by hand, failing t when a write or an expectation
// fails. It sets no deadline.
func NewRawConn(t testing.TB, nc net.Conn) *RawConn {
	return &RawConn{t: t, Conn: nc, Reader: bufio.NewReader(nc)}
}

// DialRaw opens a TCP connection to addr; every I/O on it is bounded by
// Timeout.
func DialRaw(t testing.TB, addr string) *RawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, Timeout)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(Timeout))
	t.Cleanup(func() { nc.Close() })
	return NewRawConn(t, nc)
}

// UpgradeRequest returns a valid opening handshake (RFC 6455 §4.1) for
// ws://addr/path with extra header lines, and the key it uses.
func UpgradeRequest(t testing.TB, addr, path string, extra ...string) (req []byte, hs *handshake.ClientHandshake) {
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

// Upgrade runs a valid handshake on the raw connection, with trailing
// bytes sent in the same write right behind the request.
func (r *RawConn) Upgrade(addr, path string, trailing []byte) {
	r.t.Helper()
	req, hs := UpgradeRequest(r.t, addr, path)
	r.Write(append(req, trailing...))
	r.Expect101(hs)
}

// Expect101 reads the server's handshake and verifies it against hs.
func (r *RawConn) Expect101(hs *handshake.ClientHandshake) {
	r.t.Helper()
	resp, err := handshake.ReadResponse(r.Reader, handshake.Limits{})
	if err != nil {
		r.t.Fatalf("read response: %v", err)
	}
	if err := hs.Verify(resp); err != nil {
		r.t.Fatalf("verify response: %v", err)
	}
}

// Write writes b, failing the test if it cannot.
func (r *RawConn) Write(b []byte) {
	r.t.Helper()
	if _, err := r.Conn.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// HTTPResponse reads an HTTP response (for a request with method).
func (r *RawConn) HTTPResponse(method string) *http.Response {
	r.t.Helper()
	resp, err := http.ReadResponse(r.Reader, &http.Request{Method: method})
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

// ClientFrame encodes a masked client frame (RFC 6455 §5.3).
func ClientFrame(fin bool, op frame.Opcode, payload []byte) []byte {
	h := frame.Header{Fin: fin, Opcode: op, Masked: true, Mask: [4]byte{0x37, 0xfa, 0x21, 0x3d}, Length: int64(len(payload))}
	b := frame.AppendHeader(nil, h)
	start := len(b)
	b = append(b, payload...)
	frame.Mask(h.Mask, 0, b[start:])
	return b
}

// CloseFrame encodes a masked client close frame with code.
func CloseFrame(code frame.CloseCode, reason string) []byte {
	return ClientFrame(true, frame.OpClose, frame.AppendClosePayload(nil, code, reason))
}

// ReadFrame reads one frame from the server, which must not be masked
// (RFC 6455 §5.1).
func (r *RawConn) ReadFrame() (frame.Header, []byte, error) {
	h, err := frame.ReadHeader(r.Reader)
	if err != nil {
		return h, nil, err
	}
	if h.Masked {
		return h, nil, fmt.Errorf("server frame is masked: %+v", h)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(r.Reader, p); err != nil {
		return h, nil, err
	}
	return h, p, nil
}

// ExpectFrame reads frames, skipping pings, until a frame that is not a
// ping, and checks its opcode.
func (r *RawConn) ExpectFrame(op frame.Opcode) []byte {
	r.t.Helper()
	for {
		h, p, err := r.ReadFrame()
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

// ExpectClose reads frames until a close frame and checks its code.
func (r *RawConn) ExpectClose(code frame.CloseCode) {
	r.t.Helper()
	p := r.ExpectFrame(frame.OpClose)
	got, reason, err := frame.ParseClosePayload(p)
	if err != nil || got != code {
		r.t.Fatalf("close frame %q (%v %q, %v), want code %v", p, got, reason, err, code)
	}
}

// ExpectEOF checks that the server closes the TCP connection cleanly: the
// next read returns io.EOF (the server's FIN), not data, a timeout or a
// reset (which may destroy what the server sent last before the client
// reads it).
func (r *RawConn) ExpectEOF() {
	r.t.Helper()
	b, err := r.Reader.ReadByte()
	switch {
	case err == nil:
		r.t.Fatalf("got byte %#x, want the connection closed", b)
	case errors.Is(err, os.ErrDeadlineExceeded):
		r.t.Fatalf("connection still open after %v", Timeout)
	case err != io.EOF:
		r.t.Fatalf("connection ended with %v, want a clean EOF", err)
	}
}
