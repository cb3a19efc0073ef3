package main

import (
	"bytes"
	"errors"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/ws6455/ws6455/handshake"
)

// -v prints the opening handshake (RFC 6455 §4.1) the way curl -v does:
// "> " for what wsc sent, "< " for what it received. For ws:// these are
// the bytes on the wire, recorded by a recordingConn under the Dialer, and
// include the CONNECT exchange when a proxy is used. For wss:// the
// WebSocket request travels inside TLS, out of the recorder's sight, so it
// is rebuilt from the options (with the per-connection random key left
// out) and the response is shown from its parsed form.

// maxRecord bounds what a recordingConn keeps: the handshake is a few
// hundred bytes, and the Dialer's header limits cap a response.
const maxRecord = 64 << 10

// recordingConn is a net.Conn that keeps a copy of the bytes written and
// read until stop is called.
type recordingConn struct {
	net.Conn
	stopped atomic.Bool
	mu      sync.Mutex
	out, in []byte
}

func (c *recordingConn) Write(p []byte) (int, error) {
	if !c.stopped.Load() {
		c.mu.Lock()
		if len(c.out) < maxRecord {
			c.out = append(c.out, p[:min(len(p), maxRecord-len(c.out))]...)
		}
		c.mu.Unlock()
	}
	return c.Conn.Write(p)
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.stopped.Load() {
		c.mu.Lock()
		if len(c.in) < maxRecord {
			c.in = append(c.in, p[:min(n, maxRecord-len(c.in))]...)
		}
		c.mu.Unlock()
	}
	return n, err
}

// CloseWrite and SyscallConn pass through, so that a frame.Conn over the
// recorder keeps its half-close and its idle wait on the socket.
func (c *recordingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

func (c *recordingConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

// stop ends the recording and returns what was recorded.
func (c *recordingConn) stop() (out, in []byte) {
	c.stopped.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out, c.in
}

// headerBlocks splits the HTTP header blocks at the start of b (a request
// or a status line and its fields, up to the empty line) into lines. It
// stops at the first thing that is not one: a body, frames, TLS records.
func headerBlocks(b []byte) [][]string {
	var blocks [][]string
	for len(b) > 0 {
		if !bytes.HasPrefix(b, []byte("HTTP/")) && !bytes.HasPrefix(b, []byte("GET ")) && !bytes.HasPrefix(b, []byte("CONNECT ")) {
			break
		}
		end := bytes.Index(b, []byte("\r\n\r\n"))
		if end < 0 {
			blocks = append(blocks, strings.Split(strings.TrimRight(string(b), "\r\n"), "\r\n"))
			break
		}
		blocks = append(blocks, strings.Split(string(b[:end]), "\r\n"))
		b = b[end+4:]
	}
	return blocks
}

// printHandshake prints the handshake on stderr for -v. rec is nil when
// no TCP connection was made; resp is nil when no response was read.
func (s *session) printHandshake(rec *recordingConn, resp *handshake.Response) {
	var out, in [][]string
	if rec != nil {
		o, i := rec.stop()
		out, in = headerBlocks(o), headerBlocks(i)
	}
	var b strings.Builder
	block := func(prefix string, lines []string) {
		for _, l := range lines {
			b.WriteString(prefix)
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	// Request and answer alternate: CONNECT and its answer, then the
	// WebSocket request and its answer.
	for i := range max(len(out), len(in)) {
		if i < len(out) {
			block("> ", out[i])
		}
		if i < len(in) {
			block("< ", in[i])
		}
	}
	if resp != nil && resp.Proto == handshake.ProtoHTTP2 {
		// RFC 8441: the handshake is an HTTP/2 HEADERS exchange (HPACK
		// inside frames, inside TLS for wss://), shown as fields.
		b.WriteString("* the WebSocket handshake is an HTTP/2 stream (RFC 8441); the request as wsc built it:\n")
		block("> ", s.rebuiltHTTP2Request())
		block("< ", http2ResponseLines(resp))
	} else if s.o.url.Scheme == "wss" && rec != nil {
		b.WriteString("* the WebSocket handshake is inside TLS; the request as wsc built it:\n")
		block("> ", s.rebuiltRequest())
		if resp != nil {
			block("< ", responseLines(resp))
		}
	}
	s.errw.Write([]byte(b.String()))
}

// rebuiltRequest is the request the Dialer sends, built from the same
// options, with the random Sec-WebSocket-Key (fresh per connection, §4.1
// item 7) not shown.
func (s *session) rebuiltRequest() []string {
	hs := handshake.ClientHandshake{URL: s.o.url, Key: handshake.NewKey(), Protocols: s.o.protocols, Header: s.o.header}
	if s.o.compress {
		hs.Compression = &handshake.DeflateOffer{}
	}
	req, err := hs.AppendRequest(nil)
	if err != nil {
		return []string{"(" + err.Error() + ")"}
	}
	lines := strings.Split(strings.TrimSuffix(string(req), "\r\n\r\n"), "\r\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "Sec-WebSocket-Key:") {
			lines[i] = "Sec-WebSocket-Key: (16 random bytes, base64)"
		}
	}
	return lines
}

// rebuiltHTTP2Request is the extended CONNECT (RFC 8441 §5) the Dialer
// sends, as pseudo-header fields and fields, built from the same options.
func (s *session) rebuiltHTTP2Request() []string {
	hs := handshake.ClientHandshake{URL: s.o.url, Protocols: s.o.protocols, Header: s.o.header}
	if s.o.compress {
		hs.Compression = &handshake.DeflateOffer{}
	}
	authority, h, err := hs.ExtendedConnectHeader()
	if err != nil {
		return []string{"(" + err.Error() + ")"}
	}
	scheme := "https"
	if s.o.url.Scheme == "ws" {
		scheme = "http"
	}
	lines := []string{
		":method: CONNECT",
		":protocol: websocket",
		":scheme: " + scheme,
		":path: " + s.o.url.RequestURI(),
		":authority: " + authority,
	}
	delete(h, ":protocol")
	for _, k := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[k] {
			lines = append(lines, strings.ToLower(k)+": "+v)
		}
	}
	return lines
}

// http2ResponseLines renders an HTTP/2 response: :status, then the
// fields sorted by name, in HTTP/2's lower case.
func http2ResponseLines(resp *handshake.Response) []string {
	lines := []string{":status: " + strconv.Itoa(resp.StatusCode)}
	for _, k := range slices.Sorted(maps.Keys(resp.Header)) {
		for _, v := range resp.Header[k] {
			lines = append(lines, strings.ToLower(k)+": "+v)
		}
	}
	return lines
}

// responseLines renders a parsed response: the status line, then the
// fields sorted by name (the order received is not kept).
func responseLines(resp *handshake.Response) []string {
	lines := []string{resp.StatusLine}
	for _, k := range slices.Sorted(maps.Keys(resp.Header)) {
		name := k
		if rest, ok := strings.CutPrefix(k, "Sec-Websocket-"); ok {
			name = "Sec-WebSocket-" + rest // the RFC's spelling, not Go's canonical one
		}
		for _, v := range resp.Header[k] {
			lines = append(lines, name+": "+v)
		}
	}
	return lines
}
