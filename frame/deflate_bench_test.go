package frame

import (
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ws6455/ws6455/frame/internal/deflate"
)

// BenchmarkEchoDeflateServer is the server's side of a compressed echo
// (RFC 7692, no context takeover, level 1, every message compressed), the
// work testdata/bench's compare measures per message, without the kernel:
// the server Conn reads a client's compressed, masked message from memory,
// inflates it, compresses the echo and writes it to a sink. "random" is
// incompressible (issue 12 §4), "text" log-like lines that compress.
//
// Instruction counts, which do not depend on the machine's load:
//
//	go test -c -o /tmp/frame.test ./frame
//	valgrind --tool=callgrind /tmp/frame.test -test.run '^$' \
//	    -test.bench 'EchoDeflateServer/random/1KiB' -test.benchtime 2000x
//
// (run it with two -test.benchtime values and divide the difference of
// the totals by the difference of the counts to leave out the setup).
// testdata/bench/internal/peercost runs the same loop for ws6455 and gws
// side by side, on the compressed input used here and on the uncompressed
// one that ws6455's client sends for a message that does not shrink.
func BenchmarkEchoDeflateServer(b *testing.B) {
	payloads := []struct {
		name string
		gen  func(n int) []byte
	}{{"random", func(n int) []byte { return pattern(n, 7) }}, {"text", logText}}
	for _, pl := range payloads {
		for _, sz := range []struct {
			name string
			n    int
		}{{"128B", 128}, {"1KiB", 1 << 10}, {"16KiB", 16 << 10}, {"64KiB", 64 << 10}} {
			b.Run(pl.name+"/"+sz.name, func(b *testing.B) {
				msg := pl.gen(sz.n)
				p := deflate.NewCompressor(1, 15).AppendCompress(nil, msg)
				in := encodeFrame(Header{Fin: true, Rsv: RSV1, Opcode: OpBinary, Masked: true, Mask: benchKey}, p)
				nc := &replayConn{frame: in}
				params := DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
				srv := NewConn(nc, nil, Config{Role: RoleServer, Deflate: &params, CompressionLevel: 1, CompressMinSize: -1})
				var buf []byte
				b.SetBytes(int64(sz.n))
				b.ReportAllocs()
				for b.Loop() {
					op, got, err := srv.ReadMessage(buf)
					if err != nil || len(got) != sz.n {
						b.Fatal(len(got), err)
					}
					buf = got
					if err := srv.WriteMessage(op, got); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(nc.written)/float64(b.N)/float64(sz.n), "wire/payload")
			})
		}
	}
}

// logText returns n bytes of log-like lines, which compress about 3:1.
func logText(n int) []byte {
	r := rand.New(rand.NewPCG(5, 6))
	words := []string{"GET", "POST", "/api/v1/users", "/static/app.js", "200", "404", "user", "session", "latency_ms", "ok", "error", "timeout", "cache", "hit", "miss"}
	var sb strings.Builder
	for sb.Len() < n {
		sb.WriteString("2026-01-02T03:04:05Z level=info ")
		for range 6 {
			sb.WriteString(words[r.IntN(len(words))])
			sb.WriteByte('=')
			sb.WriteString(string(rune('0' + r.IntN(10))))
			sb.WriteByte(' ')
		}
		sb.WriteByte('\n')
	}
	return []byte(sb.String()[:n])
}

// replayConn is a net.Conn whose reads return frame over and over and
// whose writes are counted and dropped.
type replayConn struct {
	frame   []byte
	off     int
	written int64
}

func (c *replayConn) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], c.frame[c.off:])
		n += k
		c.off = (c.off + k) % len(c.frame)
	}
	return n, nil
}

func (c *replayConn) Write(p []byte) (int, error) {
	c.written += int64(len(p))
	return len(p), nil
}

func (c *replayConn) Close() error                     { return nil }
func (c *replayConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *replayConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *replayConn) SetDeadline(time.Time) error      { return nil }
func (c *replayConn) SetReadDeadline(time.Time) error  { return nil }
func (c *replayConn) SetWriteDeadline(time.Time) error { return nil }

var _ io.Writer = (*replayConn)(nil)
