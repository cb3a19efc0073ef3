package server

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/server/internal/wstest"
)

// BenchmarkServerHandshake is one connection's whole life on a Server,
// as testdata/bench's "handshakes per second" measures it: connect, the
// opening handshake (RFC 6455 §4.2), one echoed text message, and the
// close handshake begun by the client (§7.1.2; the server closes TCP
// first, §7.1.1), over loopback, with Handler and with Events. The client
// is raw bytes over a net.Conn (its allocations are those of net.Dial and
// a few reads); the "tcp" case measures that client against a listener
// that only reads the request and closes, so that server-handshake minus
// tcp is what the Server spends. allocs/op counts both ends (one process).
//
// The iteration count should stay below the ephemeral port range: every
// connection leaves a socket in TIME_WAIT. -benchtime 5000x is plenty.
func BenchmarkServerHandshake(b *testing.B) {
	req := []byte("GET /chat HTTP/1.1\r\n" +
		"Host: 127.0.0.1\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"\r\n")
	msg := wstest.ClientFrame(true, frame.OpText, []byte("hello"))
	closeFrame := wstest.CloseFrame(frame.CloseNormal, "")
	wantEcho := append([]byte{0x81, 5}, "hello"...)
	wantClose := []byte{0x88, 2, 0x03, 0xe8}

	// cycle runs one client connection to addr. ws says whether the peer
	// is a WebSocket server; if not, the request is sent and the peer's
	// close awaited.
	cycle := func(b *testing.B, addr string, ws bool, buf []byte) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		if _, err := nc.Write(req); err != nil {
			b.Fatal(err)
		}
		if ws {
			n := 0
			for !bytes.Contains(buf[:n], []byte("\r\n\r\n")) {
				m, err := nc.Read(buf[n:])
				if err != nil {
					b.Fatalf("reading the 101: %v after %q", err, buf[:n])
				}
				n += m
			}
			if !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 101 ")) {
				b.Fatalf("got %q, want a 101", buf[:n])
			}
			if _, err := nc.Write(msg); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(nc, buf[:len(wantEcho)]); err != nil || !bytes.Equal(buf[:len(wantEcho)], wantEcho) {
				b.Fatalf("echo: %q, %v", buf[:len(wantEcho)], err)
			}
			if _, err := nc.Write(closeFrame); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(nc, buf[:len(wantClose)]); err != nil || !bytes.Equal(buf[:len(wantClose)], wantClose) {
				b.Fatalf("close reply: %q, %v", buf[:len(wantClose)], err)
			}
		}
		if n, err := nc.Read(buf); err != io.EOF {
			b.Fatalf("got %q, %v; want EOF", buf[:n], err)
		}
	}

	b.Run("tcp", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					var buf [512]byte
					nc.Read(buf[:])
					nc.Close()
				}()
			}
		}()
		buf := make([]byte, 4096)
		b.ReportAllocs()
		for b.Loop() {
			cycle(b, ln.Addr().String(), false, buf)
		}
	})
	for _, mode := range []string{"handler", "events"} {
		b.Run(mode, func(b *testing.B) {
			s := &Server{Handler: HandlerFunc(echo)}
			if mode == "events" {
				s = &Server{Events: echoEvents{}}
			}
			addr := serveLocal(b, s)
			buf := make([]byte, 4096)
			b.ReportAllocs()
			for b.Loop() {
				cycle(b, addr, true, buf)
			}
		})
	}
}
