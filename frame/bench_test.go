package frame

// Benchmarks. The numbers in the package report come from
//
//	go test -run '^$' -bench . -benchtime 200ms ./frame

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

var benchSizes = []struct {
	name string
	n    int
}{{"16B", 16}, {"125B", 125}, {"1KiB", 1 << 10}, {"64KiB", 64 << 10}, {"1MiB", 1 << 20}}

var benchKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

func benchMask(b *testing.B, mask func([4]byte, int, []byte) int) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			p := pattern(sz.n, 1)
			b.SetBytes(int64(sz.n))
			for b.Loop() {
				mask(benchKey, 1, p) // pos 1: the unaligned start a continued frame has
			}
		})
	}
}

// BenchmarkMask is the word-at-a-time masking of RFC 6455 §5.3.
func BenchmarkMask(b *testing.B) { benchMask(b, Mask) }

// BenchmarkMaskBytewise is the byte loop Mask is tested against.
func BenchmarkMaskBytewise(b *testing.B) { benchMask(b, maskBytewise) }

// BenchmarkMaskGobwas is gobwas' ws.Cipher (assembly on amd64), for scale.
func BenchmarkMaskGobwas(b *testing.B) {
	benchMask(b, func(k [4]byte, pos int, p []byte) int { ws.Cipher(p, k, pos); return pos + len(p) })
}

var benchHeaders = []struct {
	name string
	h    Header
}{
	{"7bit", Header{Fin: true, Opcode: OpText, Length: 100}},
	{"16bit-masked", Header{Fin: true, Opcode: OpBinary, Length: 1000, Masked: true, Mask: benchKey}},
	{"64bit-masked", Header{Fin: true, Opcode: OpBinary, Length: 1 << 20, Masked: true, Mask: benchKey}},
}

// BenchmarkAppendHeader encodes a header into a reused buffer.
func BenchmarkAppendHeader(b *testing.B) {
	for _, bh := range benchHeaders {
		b.Run(bh.name, func(b *testing.B) {
			buf := make([]byte, 0, MaxHeaderSize)
			for b.Loop() {
				buf = AppendHeader(buf[:0], bh.h)
			}
		})
	}
}

// BenchmarkParseHeader decodes a header.
func BenchmarkParseHeader(b *testing.B) {
	for _, bh := range benchHeaders {
		b.Run(bh.name, func(b *testing.B) {
			wire := AppendHeader(nil, bh.h)
			for b.Loop() {
				if _, _, err := ParseHeader(wire); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var benchTexts = []struct {
	name string
	p    []byte
}{
	{"ascii-1KiB", bytes.Repeat([]byte("a"), 1<<10)},
	{"ascii-64KiB", bytes.Repeat([]byte("hello world "), 64<<10/12)},
	{"mixed-64KiB", []byte(strings.Repeat("Hello κόσμε こんにちは 😀 ", 64<<10/40))},
	{"greek-64KiB", []byte(strings.Repeat("κόσμε", 64<<10/10))},
}

// BenchmarkUTF8Validator is the streaming validator Conn uses (§8.1).
func BenchmarkUTF8Validator(b *testing.B) {
	for _, bt := range benchTexts {
		b.Run(bt.name, func(b *testing.B) {
			b.SetBytes(int64(len(bt.p)))
			for b.Loop() {
				var v UTF8Validator
				if _, ok := v.Write(bt.p); !ok || !v.Complete() {
					b.Fatal("invalid")
				}
			}
		})
	}
}

// BenchmarkUTF8Valid is unicode/utf8.Valid on the same texts, for scale.
func BenchmarkUTF8Valid(b *testing.B) {
	for _, bt := range benchTexts {
		b.Run(bt.name, func(b *testing.B) {
			b.SetBytes(int64(len(bt.p)))
			for b.Loop() {
				if !utf8.Valid(bt.p) {
					b.Fatal("invalid")
				}
			}
		})
	}
}

// BenchmarkEcho is a round trip between a client Conn and a server Conn
// over loopback TCP (127.0.0.1): the client writes a message (masked), the
// server reads it and writes it back, the client reads the echo.
func BenchmarkEcho(b *testing.B) {
	for _, sz := range []struct {
		name string
		n    int
	}{{"16B", 16}, {"1KiB", 1 << 10}, {"64KiB", 64 << 10}} {
		b.Run(sz.name, func(b *testing.B) {
			srv, cli := connPair(b, transports[0], Config{}, Config{})
			go func() {
				var buf []byte
				for {
					op, p, err := srv.ReadMessage(buf)
					if err != nil {
						return
					}
					buf = p
					if srv.WriteMessage(op, p) != nil {
						return
					}
				}
			}()
			msg := pattern(sz.n, 1)
			var buf []byte
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				if err := cli.WriteMessage(OpBinary, msg); err != nil {
					b.Fatal(err)
				}
				_, p, err := cli.ReadMessage(buf)
				if err != nil || len(p) != sz.n {
					b.Fatal(len(p), err)
				}
				buf = p
			}
		})
	}
}

// BenchmarkNewConn is what a server pays per connection to set up its
// Conn after the opening handshake, over a loopback TCP socket (the fast
// path, with the socket's file descriptor). The socket is reused; only
// NewConn is measured.
func BenchmarkNewConn(b *testing.B) {
	srv, _ := tcpPair(b)
	b.ReportAllocs()
	for b.Loop() {
		c := NewConn(srv, nil, Config{})
		if c.raw == nil {
			b.Fatal("no raw socket: not the fast path")
		}
	}
}

// BenchmarkNewConnClose is a server Conn's whole life after the
// handshake but for the data: NewConn, then the close handshake begun by
// the client (RFC 6455 §7.1.2: the peer's close frame, our reply, and the
// TCP close, which the server does first, §7.1.1), over net.Pipe. The
// "pipe" case measures net.Pipe and the peer's goroutine alone, to be
// subtracted.
func BenchmarkNewConnClose(b *testing.B) {
	closeFrame := encodeFrame(Header{Fin: true, Opcode: OpClose, Masked: true, Mask: [4]byte{1, 2, 3, 4}}, closePayload(1000, ""))
	peer := func(nc net.Conn, done chan<- error) {
		var buf [64]byte
		if _, err := nc.Write(closeFrame); err != nil {
			done <- err
			return
		}
		for { // the reply, then EOF
			if _, err := nc.Read(buf[:]); err != nil {
				break
			}
		}
		nc.Close()
		done <- nil
	}
	for _, withConn := range []bool{false, true} {
		name := "pipe"
		if withConn {
			name = "conn"
		}
		b.Run(name, func(b *testing.B) {
			done := make(chan error, 1)
			b.ReportAllocs()
			for b.Loop() {
				s, p := net.Pipe()
				go peer(p, done)
				if withConn {
					c := NewConn(s, nil, Config{})
					if _, _, err := c.ReadMessage(nil); CloseStatus(err) != CloseNormal {
						b.Fatalf("ReadMessage: %v, want the peer's 1000", err)
					}
				} else {
					var buf [64]byte
					s.Read(buf[:])
					s.Write(buf[:4])
					s.Close()
				}
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
