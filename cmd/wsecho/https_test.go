package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ws6455/ws6455/cmd/internal/interop"
	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// TestMain re-executes the test binary with GODEBUG=http2xconnect=1, as
// the wsecho binary re-executes itself (serve.Reexec): net/http reads the
// variable once, at start, and the HTTP/2 tests below need its HTTP/2
// server to advertise extended CONNECT (RFC 8441 §3). run, called in this
// process by the tests, must never re-execute: reexec is replaced.
func TestMain(m *testing.M) {
	interop.EnsureXConnect("wsecho")
	reexec = func(*slog.Logger) error {
		return errors.New("wsecho's tests run it in the test process: no re-execution")
	}
	os.Exit(m.Run())
}

// insecure trusts any certificate: the tests' servers use -tls auto.
var insecure = &tls.Config{InsecureSkipVerify: true}

// httpsClient speaks HTTP/1.1 or HTTP/2 only, as asked. (Its own tls.Config:
// a Transport adds "h2" to the NextProtos of the one it is given.)
func httpsClient(h2 bool) *http.Client {
	var p http.Protocols
	p.SetHTTP1(!h2)
	p.SetHTTP2(h2)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: insecure.Clone(), Protocols: &p}, Timeout: 30 * time.Second}
}

// conninfo asks wsecho how the WebSocket with this id arrived.
func conninfo(t *testing.T, c *http.Client, addr, id string) connInfo {
	t.Helper()
	resp, err := c.Get("https://" + addr + "/conninfo?id=" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info connInfo
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /conninfo?id=%s: %s %s", id, resp.Status, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	return info
}

// With -tls, an HTTP/1.1 client (our Dialer offers no ALPN) upgrades as
// usual (RFC 6455 §4.1, hijacked from the TLS connection); the request
// log and /conninfo say so; Shutdown sends it 1001 (§7.4.1).
func TestTLS_HTTP1Upgrade_RFC6455_4_1(t *testing.T) {
	addr, _, stderr, stop := startStop(t, "-tls", "auto")
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := handshake.Dialer{TLSClientConfig: insecure}
	c, resp, err := d.Dial(ctx, "wss://"+addr+"/ws?id=h1-test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if resp.StatusCode != 101 || resp.Header.Get("Server") != serverHeader {
		t.Fatalf("response %d, Server %q", resp.StatusCode, resp.Header.Get("Server"))
	}
	c.NetConn().SetReadDeadline(time.Now().Add(30 * time.Second))
	for _, m := range []struct {
		op frame.Opcode
		p  string
	}{{frame.OpText, "over TLS"}, {frame.OpBinary, "\x00\xff"}} {
		if err := c.WriteMessage(m.op, []byte(m.p)); err != nil {
			t.Fatal(err)
		}
		if op, p, err := c.ReadMessage(nil); err != nil || op != m.op || string(p) != m.p {
			t.Fatalf("echo %v %q %v, want %v %q", op, p, err, m.op, m.p)
		}
	}
	waitFor(t, stderr, regexp.MustCompile(`msg="websocket request" request="GET Upgrade: websocket" proto=HTTP/1.1 path=/ws id=h1-test conn=\d+ alpn="" remote=`), "request log line of the HTTP/1.1 upgrade")
	info := conninfo(t, httpsClient(false), addr, "h1-test")
	if info.Proto != "HTTP/1.1" || info.Request != http1Request || info.Conn == 0 {
		t.Errorf("/conninfo: %+v", info)
	}
	go stop()
	if _, _, err := c.ReadMessage(nil); frame.CloseStatus(err) != frame.CloseGoingAway {
		t.Fatalf("on shutdown: %v, want a close with 1001", err)
	}
}

// The playground over HTTPS: pages over HTTP/2 and HTTP/1.1, the 426 of
// a plain GET of the socket's URL names wss://, and /conninfo refuses
// what it cannot answer.
func TestTLS_Pages(t *testing.T) {
	addr, _, _ := start(t, "-tls", "auto")
	for _, h2 := range []bool{true, false} {
		c := httpsClient(h2)
		resp, err := c.Get("https://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantProto := map[bool]string{true: "HTTP/2.0", false: "HTTP/1.1"}[h2]
		if resp.StatusCode != 200 || resp.Proto != wantProto || !strings.Contains(string(body), `id="transport"`) || resp.Header.Get("Server") != serverHeader {
			t.Fatalf("GET / (h2 %v): %s %s, Server %q", h2, resp.Proto, resp.Status, resp.Header.Get("Server"))
		}
		resp, err = c.Get("https://" + addr + "/ws")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUpgradeRequired || !strings.Contains(string(body), "wss://"+addr+"/ws") {
			t.Fatalf("GET /ws (h2 %v): %s %q", h2, resp.Status, body)
		}
		for target, want := range map[string]int{"/conninfo": 400, "/conninfo?id=a%20b": 400, "/conninfo?id=nobody": 404} {
			resp, err := c.Get("https://" + addr + target)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("GET %s: %s, want %d", target, resp.Status, want)
			}
		}
	}
}

// -http2=false: ALPN offers http/1.1 only, and the log says HTTP/2 is off.
// Without it, ALPN picks h2 and the server's SETTINGS carry
// SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (RFC 8441 §3).
func TestTLS_HTTP2Flag_RFC8441_3(t *testing.T) {
	addr, _, stderr := start(t, "-tls", "auto", "-http2=false")
	if alpn, settings := serverSettings(t, addr); alpn != "http/1.1" || settings != nil {
		t.Errorf("-http2=false: ALPN %q, SETTINGS %v; want http/1.1 and none", alpn, settings)
	}
	waitFor(t, stderr, regexp.MustCompile(`HTTP/2 off \(-http2=false\)`), "the log line saying HTTP/2 is off")
	if !strings.Contains(stderr.String(), "http2=false") {
		t.Errorf("listening line does not say http2=false:\n%s", stderr)
	}
	addr, _, _ = start(t, "-tls", "auto")
	alpn, settings := serverSettings(t, addr)
	if alpn != "h2" || settings[settingEnableConnectProtocol] != 1 {
		t.Errorf("-http2 (default): ALPN %q, SETTINGS %v; want h2 and ENABLE_CONNECT_PROTOCOL (0x8) = 1", alpn, settings)
	}
}

// settingEnableConnectProtocol is SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3).
const settingEnableConnectProtocol = 0x8

// serverSettings connects with ALPN h2 and http/1.1 and returns the
// protocol chosen and, for h2, the server's first SETTINGS frame (RFC 9113
// §6.5): read with a few lines of HTTP/2 rather than net/http, so that
// the test sees what the server sent, not what a client made of it.
func serverSettings(t *testing.T, addr string) (string, map[uint16]uint32) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	alpn := c.ConnectionState().NegotiatedProtocol
	if alpn != "h2" {
		return alpn, nil
	}
	// The client preface: the magic, then an empty SETTINGS frame.
	if _, err := io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for {
		var h [9]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			t.Fatalf("reading the server's frames: %v", err)
		}
		n := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			t.Fatal(err)
		}
		if h[3] != 0x4 || h[4]&0x1 != 0 { // not SETTINGS, or an ACK
			continue
		}
		settings := map[uint16]uint32{}
		for ; len(p) >= 6; p = p[6:] {
			settings[binary.BigEndian.Uint16(p)] = binary.BigEndian.Uint32(p[2:])
		}
		return alpn, settings
	}
}

// connLog answers for the ids it was given, within its bound, and keeps
// no id it cannot be asked about.
func TestConnLog(t *testing.T) {
	l := newConnLog(3)
	for _, id := range []string{"a", "b", "", "bad id", strings.Repeat("x", 65), "c", "b", "d"} {
		l.add(id, connInfo{Proto: "HTTP/1.1", Request: id})
	}
	for id, want := range map[string]bool{"a": false, "b": true, "c": true, "d": true, "bad id": false, "": false} {
		if _, ok := l.get(id); ok != want {
			t.Errorf("get(%q) found %v, want %v", id, ok, want)
		}
	}
	if len(l.m) != 3 {
		t.Errorf("%d ids kept, bound 3", len(l.m))
	}
	for method, want := range map[string]int{"GET": 200, "HEAD": 200, "POST": 405} {
		w := httptest.NewRecorder()
		l.serveHTTP(w, httptest.NewRequest(method, "/conninfo?id=d", nil))
		if w.Code != want || w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s /conninfo?id=d: %d, want %d (Cache-Control %q)", method, w.Code, want, w.Header().Get("Cache-Control"))
		}
		if method == "GET" && !strings.Contains(w.Body.String(), `"request":"d"`) {
			t.Errorf("GET /conninfo?id=d: %q", w.Body.String())
		}
	}
}

// TestConnLog_Early: a page asks /conninfo as soon as its socket opens,
// which on the plain path can come before Server.TraceHandshake has
// recorded the id (it runs just after the 101 is written): the answer
// waits for the id instead of a 404 (seen as a console error in Chromium
// under load).
func TestConnLog_Early(t *testing.T) {
	l := newConnLog(4)
	answered := make(chan *httptest.ResponseRecorder)
	go func() {
		w := httptest.NewRecorder()
		l.serveHTTP(w, httptest.NewRequest("GET", "/conninfo?id=late", nil))
		answered <- w
	}()
	// Give the request time to look and start waiting (so that the code
	// without the wait answers 404); the test passes whichever comes
	// first, and asserts nothing about time.
	time.Sleep(50 * time.Millisecond)
	l.add("other", connInfo{Proto: "HTTP/1.1"})
	l.add("late", connInfo{Proto: "HTTP/1.1", Request: "late"})
	select {
	case w := <-answered:
		if w.Code != 200 || !strings.Contains(w.Body.String(), `"request":"late"`) {
			t.Fatalf("GET /conninfo?id=late: %d %q, want 200 with its info", w.Code, w.Body.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("GET /conninfo?id=late did not answer within 30 s after the id was added")
	}
}

// An RFC 8441 client written with net/http's HTTP/2 transport and a few
// lines of RFC 6455 framing, independent of ws6455's own client.
type h2Socket struct {
	id   string
	resp *http.Response
	w    *io.PipeWriter
	r    *bufio.Reader
}

// h2RoundTripper is net/http's HTTP/2 client on one TLS connection to
// addr. An http.Transport refuses the ":protocol" header field on its way
// in (validateHeaders), before its HTTP/2 client, which knows it, sees the
// request; the hand-off function the transport keeps in TLSNextProto["h2"]
// gives that client directly, with the connection in its pool.
func h2RoundTripper(t *testing.T, addr string) (http.RoundTripper, *http.Transport) {
	t.Helper()
	var p http.Protocols
	p.SetHTTP2(true)
	tr := &http.Transport{Protocols: &p}
	tr.CloseIdleConnections() // sets up the HTTP/2 client and TLSNextProto
	next := tr.TLSNextProto["h2"]
	if next == nil {
		t.Fatal("net/http's HTTP/2 client is off (GODEBUG http2client=0?)")
	}
	tc, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
		tc.Close()
		t.Fatalf("ALPN %q, want h2", p)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return next(addr, tc), tr
}

// dialH2 opens a WebSocket as an extended CONNECT (RFC 8441 §4) through
// rt (h2RoundTripper), which carries all of them on one connection.
func dialH2(t *testing.T, tr http.RoundTripper, addr, id string) *h2Socket {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodConnect, "https://"+addr+"/ws?id="+id, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(":protocol", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The transport waits for the server's SETTINGS and refuses (net/http:
	// extended connect not supported by peer) unless it advertised
	// SETTINGS_ENABLE_CONNECT_PROTOCOL.
	type result struct {
		resp *http.Response
		err  error
	}
	rc := make(chan result, 1)
	go func() { resp, err := tr.RoundTrip(req); rc <- result{resp, err} }()
	var res result
	select {
	case res = <-rc:
	case <-ctx.Done():
		t.Fatalf("extended CONNECT %s: no response within 30s", id)
	}
	if res.err != nil {
		t.Fatalf("extended CONNECT %s: %v", id, res.err)
	}
	if res.resp.StatusCode != 200 || res.resp.ProtoMajor != 2 || res.resp.Header.Get("Sec-WebSocket-Accept") != "" {
		body, _ := io.ReadAll(io.LimitReader(res.resp.Body, 1000))
		t.Fatalf("extended CONNECT %s: %s %s (Accept %q), want 200 over HTTP/2 without Sec-WebSocket-Accept (RFC 8441 §5): %s",
			id, res.resp.Proto, res.resp.Status, res.resp.Header.Get("Sec-WebSocket-Accept"), body)
	}
	s := &h2Socket{id: id, resp: res.resp, w: pw, r: bufio.NewReader(res.resp.Body)}
	t.Cleanup(s.close)
	return s
}

// close ends the stream from the client's side.
func (s *h2Socket) close() {
	s.w.Close()
	s.resp.Body.Close()
}

// write sends one masked, unfragmented frame (RFC 6455 §5.2-5.3).
func (s *h2Socket) write(op byte, p []byte) error {
	h := []byte{0x80 | op}
	switch {
	case len(p) < 126:
		h = append(h, 0x80|byte(len(p)))
	case len(p) <= 0xffff:
		h = append(h, 0x80|126, byte(len(p)>>8), byte(len(p)))
	default:
		h = append(h, 0x80|127)
		h = binary.BigEndian.AppendUint64(h, uint64(len(p)))
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	h = append(h, key[:]...)
	for i, b := range p {
		h = append(h, b^key[i%4])
	}
	_, err := s.w.Write(h)
	return err
}

// read reads one unmasked, unfragmented frame from the server, within 30 s.
func (s *h2Socket) read(t *testing.T) (op byte, p []byte) {
	t.Helper()
	type frameRead struct {
		op  byte
		p   []byte
		err error
	}
	fc := make(chan frameRead, 1)
	go func() {
		var h [2]byte
		if _, err := io.ReadFull(s.r, h[:]); err != nil {
			fc <- frameRead{err: err}
			return
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			io.ReadFull(s.r, b[:])
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			io.ReadFull(s.r, b[:])
			n = binary.BigEndian.Uint64(b[:])
		}
		if h[0]&0x80 == 0 || h[1]&0x80 != 0 || n > 1<<20 {
			fc <- frameRead{err: fmt.Errorf("unexpected frame header % x (length %d)", h, n)}
			return
		}
		p := make([]byte, n)
		_, err := io.ReadFull(s.r, p)
		fc <- frameRead{h[0] & 0x0f, p, err}
	}()
	select {
	case f := <-fc:
		if f.err != nil {
			t.Fatalf("socket %s: read: %v", s.id, f.err)
		}
		return f.op, f.p
	case <-time.After(30 * time.Second):
		t.Fatalf("socket %s: no frame within 30s", s.id)
	}
	return 0, nil
}

// echo sends a text message and checks that the same comes back.
func (s *h2Socket) echo(t *testing.T, msg string) {
	t.Helper()
	if err := s.write(0x1, []byte(msg)); err != nil {
		t.Fatalf("socket %s: write: %v", s.id, err)
	}
	if op, p := s.read(t); op != 0x1 || string(p) != msg {
		t.Fatalf("socket %s: echo op %d %q, want text %q", s.id, op, p, msg)
	}
}

// closeStatus reads a close frame and returns its code (RFC 6455 §5.5.1).
func (s *h2Socket) closeStatus(t *testing.T) int {
	t.Helper()
	op, p := s.read(t)
	if op != 0x8 || len(p) < 2 {
		t.Fatalf("socket %s: got op %d %q, want a close frame with a code", s.id, op, p)
	}
	return int(binary.BigEndian.Uint16(p))
}

// Ten WebSockets as ten extended CONNECT streams of one HTTP/2 connection
// (RFC 8441 §4-5): each echoes on its own, the request log and /conninfo
// show one TLS connection for all, one closes with 4001 (its close is
// echoed, RFC 6455 §5.5.1) while the other nine go on, and Shutdown sends
// each of the nine a 1001 (§7.4.1).
func TestTLS_HTTP2Multiplexed_RFC8441_4(t *testing.T) {
	before := runtime.NumGoroutine()
	addr, _, stderr, stop := startStop(t, "-tls", "auto")
	defer stop()
	tr, t1 := h2RoundTripper(t, addr)
	socks := make([]*h2Socket, 10)
	for i := range socks {
		socks[i] = dialH2(t, tr, addr, fmt.Sprintf("mux-%d", i))
	}
	for i, s := range socks {
		s.echo(t, fmt.Sprintf("hello from stream %d", i))
	}
	lines := waitFor(t, stderr, regexp.MustCompile(`(?s)(?:msg="websocket request" request="CONNECT :protocol=websocket" proto=HTTP/2.0 path=/ws id=mux-\d conn=\d+ alpn=h2.*?){10}`),
		"ten request log lines of extended CONNECTs")
	conns := regexp.MustCompile(`id=mux-\d conn=(\d+)`).FindAllStringSubmatch(lines[0], -1)
	for _, c := range conns {
		if c[1] != conns[0][1] {
			t.Fatalf("the ten WebSockets came on different TLS connections: %v", conns)
		}
	}
	h2c := httpsClient(true)
	for i := range socks {
		info := conninfo(t, h2c, addr, fmt.Sprintf("mux-%d", i))
		if info.Proto != "HTTP/2.0" || info.Request != http2Request || info.ALPN != "h2" || fmt.Sprint(info.Conn) != conns[0][1] {
			t.Errorf("/conninfo?id=mux-%d: %+v, want HTTP/2.0 on connection %s", i, info, conns[0][1])
		}
	}
	// Socket 0 closes with 4001 + reason; the server echoes the code.
	if err := socks[0].write(0x8, append([]byte{0x0f, 0xa1}, "bye"...)); err != nil {
		t.Fatal(err)
	}
	if code := socks[0].closeStatus(t); code != 4001 {
		t.Fatalf("close echoed with %d, want 4001", code)
	}
	for i, s := range socks[1:] {
		s.echo(t, fmt.Sprintf("stream %d goes on", i+1))
	}
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB on one stream, while the others wait
	socks[5].echo(t, big)
	go stop()
	for _, s := range socks[1:] {
		if code := s.closeStatus(t); code != 1001 {
			t.Errorf("socket %s: on shutdown, close code %d, want 1001", s.id, code)
		}
		s.write(0x8, []byte{0x03, 0xe9}) // the close handshake's answer (RFC 6455 §5.5.1)
	}
	stop()
	for _, s := range socks {
		s.close()
	}
	t1.CloseIdleConnections()
	h2c.CloseIdleConnections()
	// Server and client ran in this process: with both stopped, no
	// goroutine of theirs may be left (a stream's reader, a keepalive loop).
	deadline := time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines 30s after shutdown, %d before the server started:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wsecho's flags work the same over HTTP/2 streams: -trace prints the RFC
// 8441 handshake (pseudo-header fields, 200, no key) and the frames,
// -max-message closes with 1009 (RFC 6455 §7.4.1), -mode goroutines
// echoes.
func TestTLS_HTTP2Flags_RFC8441_5(t *testing.T) {
	t.Run("trace", func(t *testing.T) {
		addr, stdout, _ := start(t, "-tls", "auto", "-trace")
		tr, _ := h2RoundTripper(t, addr)
		dialH2(t, tr, addr, "trace").echo(t, "Hello")
		for _, want := range []string{`<- :method: CONNECT`, `<- :protocol: websocket`, `<- :path: /ws?id=trace`, `-> HEADERS :status: 200`,
			`<- FIN=1 RSV=000 op=text(0x1) MASK=1`, `-> FIN=1 RSV=000 op=text(0x1) MASK=0 len=5 "Hello"`} {
			waitFor(t, stdout, regexp.MustCompile(regexp.QuoteMeta(want)), want)
		}
	})
	t.Run("max-message", func(t *testing.T) {
		addr, _, _ := start(t, "-tls", "auto", "-max-message", "100")
		tr, _ := h2RoundTripper(t, addr)
		s := dialH2(t, tr, addr, "big")
		s.echo(t, strings.Repeat("a", 100))
		if err := s.write(0x1, []byte(strings.Repeat("b", 101))); err != nil {
			t.Fatal(err)
		}
		if code := s.closeStatus(t); code != 1009 {
			t.Fatalf("a message over -max-message: close %d, want 1009", code)
		}
	})
	t.Run("goroutines", func(t *testing.T) {
		addr, _, _ := start(t, "-tls", "auto", "-mode", "goroutines")
		tr, _ := h2RoundTripper(t, addr)
		for i := range 3 {
			dialH2(t, tr, addr, fmt.Sprint("g", i)).echo(t, fmt.Sprint("goroutine mode ", i))
		}
	})
}
