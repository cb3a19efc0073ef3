// Package peercost counts the instructions a server spends per echoed
// permessage-deflate message (RFC 7692), ws6455's and gws's side by side,
// without the kernel: the server reads a client's masked message from
// memory, echoes it through the library's own message path, and writes to
// a sink. Instruction counts do not depend on the machine's load:
//
//	cd testdata/bench
//	CGO_ENABLED=0 go test -c -o /tmp/peercost.test ./internal/peercost
//	GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind /tmp/peercost.test \
//	    -test.run '^$' -test.bench 'EchoDeflateServer/gws/raw/random/128B$' \
//	    -test.cpu 1 -test.benchtime 1500x
//
// and again at 500x; the difference of the totals / 1000 is the cost of
// one echo. Both servers run with no context takeover and level 1, as in
// cmd/compare -deflate. Input "compressed" is the message compressed (by
// compress/flate at level 1, RSV1 set); "raw" is what ws6455's client, the
// load of cmd/compare, sends for a message that compressing does not
// shrink (RFC 7692 §6.1: RSV1 clear, the bytes as they are).
package peercost

import (
	"bufio"
	"bytes"
	"compress/flate"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/ws6455/ws6455/frame"
)

func BenchmarkEchoDeflateServer(b *testing.B) {
	payloads := []struct {
		name string
		gen  func(n int) []byte
	}{{"random", randomBytes}, {"text", logText}}
	sizes := []struct {
		name string
		n    int
	}{{"128B", 128}, {"1KiB", 1 << 10}, {"16KiB", 16 << 10}, {"64KiB", 64 << 10}}
	for _, input := range []string{"compressed", "raw"} {
		for _, pl := range payloads {
			for _, sz := range sizes {
				in := clientFrame(b, pl.gen(sz.n), input == "compressed")
				name := input + "/" + pl.name + "/" + sz.name
				b.Run("gws/"+name, func(b *testing.B) { benchGws(b, in, sz.n) })
				b.Run("ws6455/"+name, func(b *testing.B) { benchWs6455(b, in, sz.n) })
			}
		}
	}
}

// benchWs6455 is frame.BenchmarkEchoDeflateServer's loop.
func benchWs6455(b *testing.B, in []byte, n int) {
	nc := &replayConn{frame: in}
	params := frame.DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
	srv := frame.NewConn(nc, nil, frame.Config{Role: frame.RoleServer, Deflate: &params, CompressionLevel: 1, CompressMinSize: -1})
	var buf []byte
	b.SetBytes(int64(n))
	for b.Loop() {
		op, got, err := srv.ReadMessage(buf)
		if err != nil || len(got) != n {
			b.Fatal(len(got), err)
		}
		buf = got
		if err := srv.WriteMessage(op, got); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(nc.written)/float64(b.N)/float64(n), "wire/payload")
}

// benchGws runs gws's read loop over b.N copies of the frame with the echo
// handler of cmd/echoserver (ParallelEnabled false).
func benchGws(b *testing.B, in []byte, n int) {
	opt := &gws.ServerOption{
		ReadMaxPayloadSize: 64 << 20,
		PermessageDeflate:  gws.PermessageDeflate{Enabled: true, Level: 1, Threshold: 1},
	}
	h := &gwsEcho{n: n}
	up := gws.NewUpgrader(h, opt)
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\nHost: x\r\n" +
		"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n\r\n")))
	if err != nil {
		b.Fatal(err)
	}
	nc := &replayConn{frame: in, limit: int64(b.N) * int64(len(in))}
	c, err := up.UpgradeFromConn(nc, bufio.NewReaderSize(nc, 4096), req)
	if err != nil {
		b.Fatal(err)
	}
	nc.written = 0
	b.SetBytes(int64(n))
	b.ResetTimer()
	c.ReadLoop()
	b.StopTimer()
	if h.count != b.N || h.bad {
		b.Fatalf("echoed %d of %d messages (bad length: %v)", h.count, b.N, h.bad)
	}
	b.ReportMetric(float64(nc.written)/float64(b.N)/float64(n), "wire/payload")
}

type gwsEcho struct {
	gws.BuiltinEventHandler
	n     int
	count int
	bad   bool
}

func (e *gwsEcho) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	e.count++
	if m.Data.Len() != e.n {
		e.bad = true
	}
	_ = c.WriteMessage(m.Opcode, m.Bytes())
}

// clientFrame is the masked frame a client sends for msg: compressed at
// level 1 with RSV1 set, or the bytes as they are.
func clientFrame(tb testing.TB, msg []byte, compressed bool) []byte {
	p := msg
	h := frame.Header{Fin: true, Opcode: frame.OpBinary, Masked: true, Mask: [4]byte{0x37, 0xfa, 0x21, 0x3d}}
	if compressed {
		var z bytes.Buffer
		w, _ := flate.NewWriter(&z, flate.BestSpeed)
		w.Write(msg)
		if err := w.Flush(); err != nil {
			tb.Fatal(err)
		}
		p = bytes.TrimSuffix(z.Bytes(), []byte{0, 0, 0xff, 0xff}) // RFC 7692 §7.2.1
		h.Rsv = frame.RSV1
	}
	h.Length = int64(len(p))
	out := frame.AppendHeader(nil, h)
	start := len(out)
	out = append(out, p...)
	frame.Mask(h.Mask, 0, out[start:])
	return out
}

func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(7, 8))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

// logText is frame's benchmark text: log-like lines that compress about
// 3:1.
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

// replayConn is a net.Conn whose reads return frame over and over, up to
// limit bytes in all if limit > 0, then io.EOF; writes are counted and
// dropped.
type replayConn struct {
	frame   []byte
	off     int
	limit   int64
	read    int64
	written int64
}

func (c *replayConn) Read(p []byte) (int, error) {
	if c.limit > 0 {
		if c.read >= c.limit {
			return 0, io.EOF
		}
		p = p[:min(int64(len(p)), c.limit-c.read)]
	}
	n := 0
	for n < len(p) {
		k := copy(p[n:], c.frame[c.off:])
		n += k
		c.off = (c.off + k) % len(c.frame)
	}
	c.read += int64(n)
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
