package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ws6455/ws6455/cmd/internal/interop"
	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/server"
)

// serverEvent is what the test server saw of one connection.
type serverEvent struct {
	header      textproto.MIMEHeader
	subprotocol string
	deflate     bool
	messages    int
	closeCode   frame.CloseCode // how the connection ended, as the server read it
	closeReason string
}

// testServer is an in-process ws6455 echo server on 127.0.0.1:0. Its
// handler echoes every message with its own type, and obeys commands sent
// as text messages: "drop" closes TCP without a close frame, and
// "close:CODE:REASON" starts the close handshake with that status. On the
// path /silent it reads but never answers.
type testServer struct {
	addr   string
	events chan serverEvent
}

func startServer(t *testing.T, configure func(*server.Server)) *testServer {
	t.Helper()
	ts := &testServer{events: make(chan serverEvent, 16)}
	srv := &server.Server{
		Handler: server.HandlerFunc(ts.serve),
		Upgrader: handshake.Upgrader{
			Protocols: []string{"chat.v2", "chat.v1"},
			// Browsers send Origin; this one is refused with 403.
			CheckOrigin: func(r *handshake.Request) bool { return r.Origin != "http://evil.example" },
		},
		Logger: discardLogger(),
	}
	if configure != nil {
		configure(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ts
}

func (ts *testServer) url(path string) string { return "ws://" + ts.addr + path }

func (ts *testServer) serve(c *frame.Conn, hs *handshake.Result) {
	ev := serverEvent{header: hs.Request.Header, subprotocol: hs.Subprotocol, deflate: hs.Deflate != nil}
	path := hs.Request.URL.Path
	silent := path == "/silent"
	defer func() { ts.events <- ev }()
	switch path {
	case "/greet":
		c.WriteMessage(frame.OpText, []byte("welcome"))
	case "/late":
		// Finishes sending after the client's close frame, then answers
		// (RFC 6455 §5.5.1).
		c.SetCloseHandler(func(frame.CloseCode, string) {})
	}
	var buf []byte
	for {
		op, msg, err := c.ReadMessage(buf)
		if err != nil {
			ev.closeCode = frame.CloseStatus(err)
			if ce, ok := err.(*frame.CloseError); ok {
				ev.closeReason = ce.Reason
			}
			if path == "/late" {
				c.WriteMessage(frame.OpText, []byte("late 1"))
				c.WriteMessage(frame.OpText, []byte("late 2"))
				c.Close()
			}
			return
		}
		buf = msg
		ev.messages++
		if op == frame.OpText {
			switch s := string(msg); {
			case s == "drop":
				ev.closeCode = frame.CloseAbnormal
				c.CloseNow()
				return
			case strings.HasPrefix(s, "close:"):
				codeStr, reason, _ := strings.Cut(strings.TrimPrefix(s, "close:"), ":")
				code, _ := strconv.Atoi(codeStr)
				ev.closeCode, ev.closeReason = frame.CloseCode(code), reason
				c.CloseWith(frame.CloseCode(code), reason)
				return
			}
		}
		if !silent {
			if err := c.WriteMessage(op, msg); err != nil {
				return
			}
		}
	}
}

// event waits for the server's record of a finished connection.
func (ts *testServer) event(t *testing.T) serverEvent {
	t.Helper()
	select {
	case ev := <-ts.events:
		return ev
	case <-time.After(15 * time.Second):
		t.Fatal("the server saw no connection end within 15s")
		return serverEvent{}
	}
}

// syncBuffer collects wsc's output.
type syncBuffer = interop.Buffer

// waitFor polls buf until it contains s.
func waitFor(t *testing.T, buf *syncBuffer, s string) {
	t.Helper()
	buf.WaitFor(t, regexp.MustCompile(regexp.QuoteMeta(s)), fmt.Sprintf("%q", s))
}

type result struct {
	code           int
	stdout, stderr string
}

// wsc runs the command in-process with stdin and args, bounded in time.
func wsc(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	return wscCtx(t, context.Background(), stdin, args...)
}

func wscCtx(t *testing.T, ctx context.Context, stdin io.Reader, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var stdout, stderr syncBuffer
	code := run(ctx, args, stdin, &stdout, &stderr)
	r := result{code, stdout.String(), stderr.String()}
	t.Logf("wsc %s => exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

func wantExit(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit status %d, want %d; stderr:\n%s", r.code, code, r.stderr)
	}
}

// RFC 6455 §5.6: each stdin line is a text message; the echo is printed
// one message per line. Line endings are not part of the message.
func TestTextLinesEcho_RFC6455_5_6(t *testing.T) {
	ts := startServer(t, nil)
	r := wsc(t, strings.NewReader("hello\nwörld\r\n\nlast line without newline"), ts.url("/"))
	wantExit(t, r, exitOK)
	if want := "hello\nwörld\n\nlast line without newline\n"; r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	ev := ts.event(t)
	if ev.messages != 4 {
		t.Errorf("server got %d messages, want 4 (the empty line is an empty message)", ev.messages)
	}
	if ev.closeCode != frame.CloseNormal {
		t.Errorf("server saw close %v, want 1000 when stdin ends", ev.closeCode)
	}
	if strings.Contains(r.stderr, "the server closed") {
		t.Errorf("wsc closed first, but stderr reports a close by the server:\n%s", r.stderr)
	}
}

// RFC 6455 §8.1: a text line that is not UTF-8 is not sent (the server
// would fail the connection with 1007); the others are.
func TestInvalidUTF8LineSkipped_RFC6455_8_1(t *testing.T) {
	ts := startServer(t, nil)
	r := wsc(t, strings.NewReader("ok\n\xff\xfe\nstill ok\n"), ts.url("/"))
	wantExit(t, r, exitOK)
	if r.stdout != "ok\nstill ok\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	if !strings.Contains(r.stderr, "line 2 is not valid UTF-8") {
		t.Errorf("no warning about line 2 on stderr")
	}
}

// RFC 6455 §5.6: with -b lines go out as binary messages, and binary
// messages are printed as hex, or raw with --raw.
func TestBinaryHexAndRaw_RFC6455_5_6(t *testing.T) {
	ts := startServer(t, nil)
	r := wsc(t, strings.NewReader("abc\n\x00\xff\n"), "-b", ts.url("/"))
	wantExit(t, r, exitOK)
	if want := "616263\n00ff\n"; r.stdout != want {
		t.Errorf("-b stdout %q, want %q", r.stdout, want)
	}
	r = wsc(t, strings.NewReader("abc\n\x00\xff\n"), "--binary", "--raw", ts.url("/"))
	wantExit(t, r, exitOK)
	if want := "abc\x00\xff"; r.stdout != want {
		t.Errorf("--raw stdout %q, want %q", r.stdout, want)
	}
}

// -x sends one message and prints the first reply; stdin is not read.
func TestExecute(t *testing.T) {
	ts := startServer(t, nil)
	r := wsc(t, strings.NewReader("not sent\n"), "-x", "ping?", ts.url("/"))
	wantExit(t, r, exitOK)
	if r.stdout != "ping?\n" {
		t.Errorf("stdout %q, want %q", r.stdout, "ping?\n")
	}
	if ev := ts.event(t); ev.messages != 1 || ev.closeCode != frame.CloseNormal {
		t.Errorf("server: %d messages, close %v; want 1 message and 1000", ev.messages, ev.closeCode)
	}

	// Binary, flags after the URL.
	r = wsc(t, nil, ts.url("/"), "-b", "-x", "\x01\x02")
	wantExit(t, r, exitOK)
	if r.stdout != "0102\n" {
		t.Errorf("-b -x stdout %q", r.stdout)
	}
}

// -x prints the first message received; with --match, the first that
// matches, so a server that greets first (as wschat does) can be asked a
// question. --match without -x is a usage error.
func TestExecuteMatch(t *testing.T) {
	ts := startServer(t, nil)
	r := wsc(t, nil, "-x", "question", ts.url("/greet"))
	wantExit(t, r, exitOK)
	if r.stdout != "welcome\n" {
		t.Errorf("-x without --match: stdout %q, want the greeting", r.stdout)
	}
	r = wsc(t, nil, "-x", "question", "--match", "^quest", ts.url("/greet"))
	wantExit(t, r, exitOK)
	if r.stdout != "question\n" {
		t.Errorf("-x --match: stdout %q, want the echo", r.stdout)
	}
	r = wsc(t, nil, "--match", "x", ts.url("/"))
	wantExit(t, r, exitUsage)
	r = wsc(t, nil, "-x", "q", "--match", "(", ts.url("/"))
	wantExit(t, r, exitUsage)
}

// RFC 6455 §5.5.1: after wsc's close frame the server may finish sending
// before it answers; wsc prints every message until the server's close.
func TestMessagesAfterClose_RFC6455_5_5_1(t *testing.T) {
	ts := startServer(t, nil)
	r := wsc(t, strings.NewReader("a\n"), ts.url("/late"))
	wantExit(t, r, exitOK)
	if want := "a\nlate 1\nlate 2\n"; r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
}

// -x with a server that never answers: exit 1 after --timeout.
func TestExecuteTimeout(t *testing.T) {
	ts := startServer(t, nil)
	r := wsc(t, nil, "-x", "anyone?", "--timeout", "200ms", ts.url("/silent"))
	wantExit(t, r, exitFailure)
	if !strings.Contains(r.stderr, "no reply within 200ms") {
		t.Errorf("stderr does not say why")
	}
	// wsc still closed properly.
	if ev := ts.event(t); ev.closeCode != frame.CloseNormal {
		t.Errorf("server saw close %v, want 1000", ev.closeCode)
	}
}

// Without -x, --timeout closes the connection normally after that long,
// even though stdin is still open.
func TestSessionTimeout(t *testing.T) {
	ts := startServer(t, nil)
	pr, pw := io.Pipe()
	defer pw.Close()
	r := wsc(t, pr, "--timeout", "100ms", "--close", "4000:time is up", ts.url("/"))
	wantExit(t, r, exitOK)
	if ev := ts.event(t); ev.closeCode != 4000 || ev.closeReason != "time is up" {
		t.Errorf("server saw close %v %q, want 4000", ev.closeCode, ev.closeReason)
	}
}

// -x when the server closes normally instead of replying: exit 1.
func TestExecuteServerClosesFirst(t *testing.T) {
	ts := startServer(t, nil)
	r := wsc(t, nil, "-x", "close:1000:bye", ts.url("/"))
	wantExit(t, r, exitFailure)
	if want := "wsc: the server closed the connection before replying: 1000 normal closure: \"bye\"\n"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q", want)
	}
}

// RFC 6455 §7.4, §5.5.1: --close CODE:REASON is the close frame sent when
// stdin ends; the server receives both, and its echo of the code is a
// normal end for wsc.
func TestCloseCodeReachesServer_RFC6455_7_4(t *testing.T) {
	ts := startServer(t, nil)
	r := wsc(t, strings.NewReader("x\n"), "--close", "4001:done here", ts.url("/"))
	wantExit(t, r, exitOK)
	ev := ts.event(t)
	if ev.closeCode != 4001 || ev.closeReason != "done here" {
		t.Errorf("server saw close %v %q, want 4001 \"done here\"", ev.closeCode, ev.closeReason)
	}

	r = wsc(t, nil, "--close", "3000", "-x", "hi", ts.url("/"))
	wantExit(t, r, exitOK)
	if ev := ts.event(t); ev.closeCode != 3000 || ev.closeReason != "" {
		t.Errorf("server saw close %v %q after -x, want 3000", ev.closeCode, ev.closeReason)
	}
}

// Exit status 3: nothing listens on the port.
func TestExitConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := wsc(t, nil, "-x", "hi", "ws://"+addr+"/")
	wantExit(t, r, exitHandshake)
	if !strings.Contains(r.stderr, "refused") {
		t.Errorf("stderr does not mention the refused connection")
	}
}

// RFC 6455 §4.1: a status other than 101 fails the handshake: exit 3, and
// the status line is printed.
func TestExitForbidden_RFC6455_4_1(t *testing.T) {
	ts := startServer(t, nil)
	r := wsc(t, nil, "--origin", "http://evil.example", "-x", "hi", ts.url("/"))
	wantExit(t, r, exitHandshake)
	if !strings.Contains(r.stderr, "403 Forbidden") || !strings.Contains(r.stderr, "--origin") {
		t.Errorf("stderr lacks the status line or the --origin hint")
	}
	r = wsc(t, nil, "-v", "--origin", "http://evil.example", "-x", "hi", ts.url("/"))
	wantExit(t, r, exitHandshake)
	if !strings.Contains(r.stderr, "> Origin: http://evil.example") || !strings.Contains(r.stderr, "< HTTP/1.1 403 Forbidden") {
		t.Errorf("-v does not show the request's Origin and the 403 response")
	}
}

// Exit status 4 (RFC 6455 §7.1.5, §7.4): the server closes with a code
// other than 1000/1001, or drops TCP without a close frame; a close with
// 1000, 1001 or no status (1005) while stdin is still open is a normal
// end. Either way wsc says on stderr how the server closed.
func TestExitAbnormalClose_RFC6455_7_1_5(t *testing.T) {
	ts := startServer(t, nil)
	for _, tc := range []struct {
		line   string
		code   int
		stderr string
	}{
		{"close:4000:nope", exitAbnormal, "wsc: the server closed the connection: 4000 (private use): \"nope\"\n"},
		{"close:1011:oops", exitAbnormal, "wsc: the server closed the connection: 1011 internal error: \"oops\"\n"},
		{"drop", exitAbnormal, "1006 abnormal closure"},
		{"close:1000:bye", exitOK, "wsc: the server closed the connection: 1000 normal closure: \"bye\"\n"},
		{"close:1001:server shutting down", exitOK, "wsc: the server closed the connection: 1001 going away: \"server shutting down\"\n"},
		{"close:1001:", exitOK, "wsc: the server closed the connection: 1001 going away\n"},
		{"close:0:", exitOK, "wsc: the server closed the connection: 1005 no status received\n"},
	} {
		t.Run(tc.line, func(t *testing.T) {
			pr, pw := io.Pipe()
			defer pw.Close() // stdin stays open until wsc has returned
			go io.WriteString(pw, tc.line+"\n")
			r := wsc(t, pr, ts.url("/"))
			wantExit(t, r, tc.code)
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr lacks %q", tc.stderr)
			}
			ts.event(t)
		})
	}
}

// RFC 6455 §5.1, §7.1.7: a masked frame from the server fails the
// connection with 1002: exit 4.
func TestExitProtocolViolation_RFC6455_5_1(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(15 * time.Second))
		var up handshake.Upgrader
		if _, err := up.Upgrade(bufio.NewReader(nc), nc); err != nil {
			return
		}
		h := frame.Header{Fin: true, Opcode: frame.OpText, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: 2}
		p := []byte("hi")
		frame.Mask(h.Mask, 0, p)
		nc.Write(append(frame.AppendHeader(nil, h), p...))
		io.Copy(io.Discard, nc)
	}()
	pr, pw := io.Pipe()
	defer pw.Close()
	r := wsc(t, pr, "ws://"+ln.Addr().String()+"/")
	wantExit(t, r, exitAbnormal)
	if !strings.Contains(r.stderr, "wsc closed it with 1002 protocol error") {
		t.Errorf("stderr does not name the 1002 failure")
	}
}

// RFC 6455 §5.1, §5.3: --show-frames prints every frame; the client's are
// masked with a key, the server's are not.
func TestShowFramesMasking_RFC6455_5_3(t *testing.T) {
	ts := startServer(t, nil)
	r := wsc(t, nil, "--show-frames", "-x", "hi", ts.url("/"))
	wantExit(t, r, exitOK)
	for _, re := range []string{
		`(?m)^\d\d:\d\d:\d\d\.\d{3} -> FIN=1 RSV=000 op=text\(0x1\) MASK=1 key=[0-9a-f]{8} len=2 "hi"$`,
		`(?m)^\d\d:\d\d:\d\d\.\d{3} <- FIN=1 RSV=000 op=text\(0x1\) MASK=0 len=2 "hi"$`,
		`(?m)-> FIN=1 RSV=000 op=close\(0x8\) MASK=1 key=[0-9a-f]{8} len=2 code=1000 normal closure$`,
		`(?m)<- FIN=1 RSV=000 op=close\(0x8\) MASK=0 len=2 code=1000 normal closure$`,
	} {
		if !regexp.MustCompile(re).MatchString(r.stderr) {
			t.Errorf("stderr lacks a line matching %s", re)
		}
	}
	for line := range strings.Lines(r.stderr) {
		if strings.Contains(line, " -> ") && !strings.Contains(line, "MASK=1") {
			t.Errorf("client frame not masked: %s", line)
		}
		if strings.Contains(line, " <- ") && !strings.Contains(line, "MASK=0") {
			t.Errorf("server frame masked: %s", line)
		}
	}
}

// RFC 6455 §4.1 item 12 ("additional header fields"): -H fields reach the
// server.
func TestCustomHeaders_RFC6455_4_1(t *testing.T) {
	ts := startServer(t, nil)
	r := wsc(t, nil, "-H", "X-Wsc-Test: 42", "--header", "Authorization: Bearer abc", "-H", "X-Wsc-Test: 43", "-x", "hi", ts.url("/"))
	wantExit(t, r, exitOK)
	h := ts.event(t).header
	if got := h["X-Wsc-Test"]; len(got) != 2 || got[0] != "42" || got[1] != "43" {
		t.Errorf("X-Wsc-Test: %q, want [42 43]", got)
	}
	if got := h.Get("Authorization"); got != "Bearer abc" {
		t.Errorf("Authorization: %q", got)
	}
}

// RFC 6455 §4.1 item 10, §4.2.2: -s offers subprotocols; the server picks
// one it speaks, and -v says which.
func TestSubprotocol_RFC6455_4_1(t *testing.T) {
	ts := startServer(t, nil)
	r := wsc(t, nil, "-v", "-s", "nope", "--subprotocol", "chat.v1", "-x", "hi", ts.url("/"))
	wantExit(t, r, exitOK)
	if got := ts.event(t).subprotocol; got != "chat.v1" {
		t.Errorf("server chose %q, want chat.v1", got)
	}
	if !strings.Contains(r.stderr, "> Sec-WebSocket-Protocol: nope, chat.v1") {
		t.Errorf("-v does not show the offer")
	}
	if !strings.Contains(r.stderr, "subprotocol=chat.v1") {
		t.Errorf("-v does not log the subprotocol in use")
	}
}

// -v prints the request and the 101 response.
func TestVerboseHandshake_RFC6455_4_1(t *testing.T) {
	ts := startServer(t, nil)
	r := wsc(t, nil, "-v", "-x", "hi", ts.url("/path?q=1"))
	wantExit(t, r, exitOK)
	for _, want := range []string{
		"> GET /path?q=1 HTTP/1.1\n",
		"> Host: " + ts.addr + "\n",
		"> Sec-WebSocket-Version: 13\n",
		"< HTTP/1.1 101 Switching Protocols\n",
		"< Sec-WebSocket-Accept: ",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("-v output lacks %q", want)
		}
	}
}

// RFC 6455 §5.5.2, §5.5.3: --ping sends pings and prints each pong's
// round-trip time.
func TestPing_RFC6455_5_5_2(t *testing.T) {
	ts := startServer(t, nil)
	pr, pw := io.Pipe()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"--ping", "20ms", ts.url("/")}, pr, &stdout, &stderr)
	}()
	waitFor(t, &stderr, "pong seq=2 rtt=")
	pw.Close()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("wsc did not end after stdin closed")
	}
}

// Ctrl-C (the context ends) closes with 1001 going away (RFC 6455 §7.4.1).
func TestInterruptClosesGoingAway_RFC6455_7_4_1(t *testing.T) {
	ts := startServer(t, nil)
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{ts.url("/")}, pr, &stdout, &stderr) }()
	io.WriteString(pw, "first\n")
	waitFor(t, &stdout, "first\n")
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("wsc did not end after the interrupt")
	}
	if ev := ts.event(t); ev.closeCode != frame.CloseGoingAway {
		t.Errorf("server saw %v, want 1001", ev.closeCode)
	}
}

// RFC 7692: --compress offers permessage-deflate; a server that accepts
// gets compressed messages both ways.
func TestCompress_RFC7692(t *testing.T) {
	ts := startServer(t, func(s *server.Server) {
		s.Upgrader.Compression = handshake.DeflateConfig{Mode: handshake.CompressionFull}
	})
	big := strings.Repeat("compressible text ", 10000)
	r := wsc(t, strings.NewReader("short\n"+big+"\n"), "--compress", "--show-frames", ts.url("/"))
	wantExit(t, r, exitOK)
	if r.stdout != "short\n"+big+"\n" {
		t.Errorf("echo differs (%d bytes, want %d)", len(r.stdout), len(big)+7)
	}
	if !ts.event(t).deflate {
		t.Errorf("permessage-deflate not negotiated")
	}
	if !strings.Contains(r.stderr, "RSV=100 op=text(0x1) MASK=1") || !strings.Contains(r.stderr, "(compressed)") {
		t.Errorf("no compressed frame shown")
	}

	// Without --compress nothing is offered.
	wantExit(t, wsc(t, nil, "-x", "hi", ts.url("/")), exitOK)
	if ts.event(t).deflate {
		t.Errorf("permessage-deflate negotiated without --compress")
	}
}

// --max-message: a larger message fails the connection with 1009 (RFC
// 6455 §7.4.1, §10.4): exit 4.
func TestMaxMessage_RFC6455_10_4(t *testing.T) {
	ts := startServer(t, nil)
	r := wsc(t, nil, "--max-message", "10", "-x", "more than ten bytes", ts.url("/"))
	wantExit(t, r, exitAbnormal)
	if !strings.Contains(r.stderr, "1009") {
		t.Errorf("stderr does not name 1009")
	}
}

// wss://: an unknown CA fails the handshake (exit 3) with a hint;
// --cacert and --insecure both connect.
func TestTLS(t *testing.T) {
	certPEM, cert := selfSigned(t)
	ts := startTLSServer(t, cert)
	url := "wss://" + ts.addr + "/"

	r := wsc(t, nil, "-x", "hi", url)
	wantExit(t, r, exitHandshake)
	if !strings.Contains(r.stderr, "--cacert") {
		t.Errorf("no --cacert hint")
	}

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	r = wsc(t, nil, "-v", "--cacert", caFile, "-x", "secure hi", url)
	wantExit(t, r, exitOK)
	if r.stdout != "secure hi\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	for _, want := range []string{`tls="TLS 1.3"`, "inside TLS", "< HTTP/1.1 101 Switching Protocols", "< Sec-WebSocket-Accept: ", "> Sec-WebSocket-Key: (16 random bytes"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("-v output lacks %q", want)
		}
	}

	r = wsc(t, nil, "-k", "-x", "insecure hi", url)
	wantExit(t, r, exitOK)

	// A file without a certificate is a usage error.
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	wantExit(t, wsc(t, nil, "--cacert", bad, url), exitUsage)
}

func startTLSServer(t *testing.T, cert tls.Certificate) *testServer {
	t.Helper()
	ts := &testServer{events: make(chan serverEvent, 16)}
	srv := &server.Server{Handler: server.HandlerFunc(ts.serve), Logger: discardLogger()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	tln := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(tln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return ts
}

// selfSigned makes a self-signed certificate for 127.0.0.1.
func selfSigned(t *testing.T) ([]byte, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "wsc test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, cert
}

// refusingProxy answers every CONNECT with 407 and reports the request line.
func refusingProxy(t *testing.T) (addr string, requests <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan string, 4)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			nc.SetDeadline(time.Now().Add(15 * time.Second))
			line, _ := bufio.NewReader(nc).ReadString('\n')
			ch <- strings.TrimSpace(line)
			io.WriteString(nc, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
			nc.Close()
		}
	}()
	return ln.Addr().String(), ch
}

// RFC 6455 §4.1 step 3: a proxy that refuses the CONNECT tunnel fails the
// handshake: exit 3. The proxy comes from --proxy, or by default from
// HTTP_PROXY for ws://.
func TestProxyRefused_RFC6455_4_1(t *testing.T) {
	addr, reqs := refusingProxy(t)
	r := wsc(t, nil, "--proxy", "http://"+addr, "-x", "hi", "ws://wsc-test.invalid/")
	wantExit(t, r, exitHandshake)
	if !strings.Contains(r.stderr, "proxy refused CONNECT") {
		t.Errorf("stderr does not name the proxy")
	}
	if got := <-reqs; got != "CONNECT wsc-test.invalid:80 HTTP/1.1" {
		t.Errorf("proxy got %q", got)
	}

	t.Setenv("HTTP_PROXY", "http://"+addr)
	t.Setenv("NO_PROXY", "")
	r = wsc(t, nil, "-x", "hi", "ws://wsc-env.invalid:8080/")
	wantExit(t, r, exitHandshake)
	if got := <-reqs; got != "CONNECT wsc-env.invalid:8080 HTTP/1.1" {
		t.Errorf("proxy from HTTP_PROXY got %q", got)
	}
}

// -h prints the help on stdout, exit 0; it documents every flag and every
// exit status.
func TestUsage(t *testing.T) {
	r := wsc(t, nil, "-h")
	wantExit(t, r, exitOK)
	if r.stdout != usage {
		t.Errorf("-h does not print the usage text")
	}
	newFlagSet(&options{header: map[string][]string{}}).VisitAll(func(f *flag.Flag) {
		name := "--" + f.Name
		if len(f.Name) == 1 {
			name = "-" + f.Name + ","
		}
		if !strings.Contains(usage, name) {
			t.Errorf("usage does not list %s", name)
		}
	})
	for code := range 5 {
		if !regexp.MustCompile(`(?m)^  ` + strconv.Itoa(code) + `  `).MatchString(usage) {
			t.Errorf("usage does not document exit status %d", code)
		}
	}
}

// Exit status 2 for every kind of bad command line, before any dial.
func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--no-such-flag", "ws://x/"},
		{"ftp://example.com/"},
		{":8080"},
		{"ws://a/", "ws://b/"},
		{"--close", "1005", "ws://x/"},
		{"--close", "999", "ws://x/"},
		{"--close", "abc", "ws://x/"},
		{"--close", "1000:" + strings.Repeat("r", 124), "ws://x/"},
		{"-H", "no colon", "ws://x/"},
		{"-H", "Sec-WebSocket-Key: x", "ws://x/"},
		{"-H", "Origin: a", "--origin", "b", "ws://x/"},
		{"-s", "two words", "ws://x/"},
		{"--ping", "-1s", "ws://x/"},
		{"--timeout", "soon", "ws://x/"},
		{"--max-message", "0", "ws://x/"},
		{"--proxy", "socks5://p:1", "ws://x/"},
		{"--cacert", "/nonexistent/ca.pem", "wss://x/"},
		{"-x", "\xff", "ws://x/"},
		{"ws://x/#fragment"},
	} {
		r := wsc(t, nil, args...)
		if r.code != exitUsage {
			t.Errorf("wsc %q: exit %d, want 2", args, r.code)
		}
		if !strings.HasPrefix(r.stderr, "wsc: ") {
			t.Errorf("wsc %q: stderr %q does not start with \"wsc: \"", args, r.stderr)
		}
	}
}

// "--" ends the flags: a URL-like argument after it is positional.
func TestParseArgsDoubleDash(t *testing.T) {
	o, err := parseArgs([]string{"-b", "--", "ws://x/"})
	if err != nil || !o.binary || o.url.String() != "ws://x/" {
		t.Fatalf("got %+v, %v", o, err)
	}
	if _, err := parseArgs([]string{"--", "ws://x/", "-b"}); err == nil {
		t.Errorf("-b after -- should be a second positional argument")
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Errors name a flag as it was typed: the flag package accepts -close and
// --close alike, but always reports "-close".
func TestUsageErrorsNameFlagsAsTyped(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--close", "1005", "ws://x/"}, `invalid value "1005" for flag --close: close code 1005 may not be sent`},
		{[]string{"-close", "1005", "ws://x/"}, `invalid value "1005" for flag -close: `},
		{[]string{"--close=999", "ws://x/"}, `invalid value "999" for flag --close: `},
		{[]string{"--no-such-flag", "ws://x/"}, "flag provided but not defined: --no-such-flag"},
		{[]string{"ws://x/", "--close"}, "flag needs an argument: --close"},
		{[]string{"--binary=maybe", "ws://x/"}, `invalid boolean value "maybe" for --binary`},
		{[]string{"--ping", "1s", "-ping", "x", "ws://x/"}, `invalid value "x" for flag -ping: not a duration: write it like 500ms`},
		{[]string{"--timeout", "soon", "ws://x/"}, `for flag --timeout: not a duration`},
		{[]string{"--ping=-1s", "ws://x/"}, "--ping: negative duration"},
		{[]string{"-ping", "-1s", "ws://x/"}, "-ping: negative duration"},
		{[]string{"--max-message", "0", "ws://x/"}, "--max-message must be positive"},
		{[]string{"--match", "x", "ws://x/"}, "--match goes with -x"},
		{[]string{"--execute", "\xff", "ws://x/"}, "--execute: a text message must be valid UTF-8"},
		{[]string{"--header", "Origin: a", "-origin", "b", "ws://x/"}, "both -origin and --header 'Origin: ...' given"},
		{[]string{"-proxy", "socks5://p:1", "ws://x/"}, `-proxy "socks5://p:1": want http://host:port`},
		{[]string{"--cacert", "/nonexistent/ca.pem", "wss://x/"}, "--cacert: open /nonexistent/ca.pem"},
	} {
		r := wsc(t, nil, tc.args...)
		if r.code != exitUsage {
			t.Errorf("wsc %q: exit %d, want 2", tc.args, r.code)
		}
		if !strings.Contains(r.stderr, tc.want) {
			t.Errorf("wsc %q: stderr\n%s\nlacks %q", tc.args, r.stderr, tc.want)
		}
	}
}

func TestScanSpelling(t *testing.T) {
	fl := newFlagSet(&options{header: map[string][]string{}})
	sp := scanSpelling(fl, []string{"-b", "--close", "--ping", "ws://x/", "-x=1", "--raw", "-timeout", "--match", "--", "--proxy"})
	for names, want := range map[[2]string]string{
		{"b", "binary"}:      "-b",
		{"close", ""}:        "--close",
		{"x", "execute"}:     "-x",
		{"raw", ""}:          "--raw",
		{"timeout", ""}:      "-timeout",
		{"proxy", ""}:        "--proxy", // after "--": not typed as a flag; the usual spelling
		{"s", "subprotocol"}: "-s",
	} {
		ns := []string{names[0]}
		if names[1] != "" {
			ns = append(ns, names[1])
		}
		if got := sp.of(ns...); got != want {
			t.Errorf("of(%q) = %q, want %q", ns, got, want)
		}
	}
	// "--close" took "--ping" as its value, and "-timeout" took "--match".
	for _, name := range []string{"ping", "match"} {
		if typed, ok := sp[name]; ok {
			t.Errorf("%s, a flag's value, was taken for a flag", typed)
		}
	}
}

// The URL argument as wscat and websocat take it: http:// is ws://,
// https:// is wss:// (RFC 6455 §3), and no scheme means ws://.
func TestParseURL_RFC6455_3(t *testing.T) {
	for _, tc := range []struct{ arg, want string }{
		{"ws://h:1/p?q", "ws://h:1/p?q"},
		{"wss://h/", "wss://h/"},
		{"http://h:8080/chat", "ws://h:8080/chat"},
		{"https://h/chat", "wss://h/chat"},
		{"HTTPS://h/", "wss://h/"},
		{"localhost:8080", "ws://localhost:8080"},
		{"localhost:8080/chat?room=1", "ws://localhost:8080/chat?room=1"},
		{"example.com", "ws://example.com"},
		{"[::1]:9000/x", "ws://[::1]:9000/x"},
		{"//h:1/", "ws://h:1/"},
	} {
		u, err := parseURL(tc.arg)
		if err != nil || u.String() != tc.want {
			t.Errorf("parseURL(%q) = %v, %v; want %s", tc.arg, u, err, tc.want)
		}
	}
	for _, tc := range []struct{ arg, want string }{
		{"ftp://h/", "the scheme must be ws://, wss://, http:// or https:// (none means ws://)"},
		{"ws://", "has no host; type ws://host[:port]/path"},
		{":8080", "has no host; type ws://host[:port]/path"},
		{"h:port/", "type ws://host[:port]/path"},
	} {
		if _, err := parseURL(tc.arg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseURL(%q): error %v, want one saying %q", tc.arg, err, tc.want)
		}
	}
}

// A bare host:port and an http:// URL reach the server as ws:// (RFC 6455
// §3): the server sees the path and answers.
func TestBareHostPortAndHTTPURL_RFC6455_3(t *testing.T) {
	ts := startServer(t, nil)
	for _, arg := range []string{ts.addr, ts.addr + "/greet", "http://" + ts.addr + "/"} {
		r := wsc(t, nil, "-x", "hi", arg)
		wantExit(t, r, exitOK)
		want := "hi\n"
		if strings.HasSuffix(arg, "/greet") {
			want = "welcome\n"
		}
		if r.stdout != want {
			t.Errorf("wsc -x hi %s: stdout %q, want %q", arg, r.stdout, want)
		}
		ts.event(t)
	}

	// https:// is wss://: TLS first.
	_, cert := selfSigned(t)
	tts := startTLSServer(t, cert)
	r := wsc(t, nil, "-k", "-x", "over TLS", "https://"+tts.addr+"/")
	wantExit(t, r, exitOK)
	if r.stdout != "over TLS\n" {
		t.Errorf("https:// URL: stdout %q", r.stdout)
	}
}

// answeringServer answers every request on 127.0.0.1 with response, then
// closes the connection; it returns the address.
func answeringServer(t *testing.T, response string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			nc.SetDeadline(time.Now().Add(15 * time.Second))
			br := bufio.NewReader(nc)
			for {
				line, err := br.ReadString('\n')
				if err != nil || line == "\r\n" {
					break
				}
			}
			io.WriteString(nc, response)
			nc.Close()
		}
	})
	return ln.Addr().String()
}

// RFC 6455 §4.1 step 1: a status other than 101 fails the handshake (exit
// 3); wsc prints the status with a hint, the header fields and the start
// of the body, made safe for a terminal.
func TestHandshakeRefusedShowsResponse_RFC6455_4_1(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 300) // 4800 bytes
	for _, tc := range []struct {
		name     string
		response string
		verbose  bool
		want     string // all of stderr
	}{
		{
			name:     "401 with a hint",
			response: "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Length: 14\r\n\r\ntoken expired\n",
			want: "wsc: handshake refused: 401 Unauthorized (send credentials: -H 'Authorization: ...')\n" +
				"< HTTP/1.1 401 Unauthorized\n< Content-Length: 14\n< Www-Authenticate: Bearer\n<\n" +
				"token expired\n",
		},
		{
			name:     "426 chunked, control characters escaped",
			response: "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 8\r\nTransfer-Encoding: chunked\r\n\r\n14\r\nversion 8\x1b[31m\r\nonly\r\n0\r\n\r\n",
			want: "wsc: handshake refused: 426 Upgrade Required (the server speaks Sec-WebSocket-Version 8; wsc speaks 13)\n" +
				"< HTTP/1.1 426 Upgrade Required\n< Sec-WebSocket-Version: 8\n< Transfer-Encoding: chunked\n<\n" +
				"version 8\\x1b[31m\nonly\n",
		},
		{
			name:     "500 until close, no reason phrase",
			response: "HTTP/1.1 500\r\n\r\ndatabase down\xff",
			want: "wsc: handshake refused: 500 Internal Server Error\n" +
				"< HTTP/1.1 500\n<\n" +
				"database down\\xff\n",
		},
		{
			name:     "301 names the new location",
			response: "HTTP/1.1 301 Moved Permanently\r\nLocation: wss://elsewhere.example/ws\r\nContent-Length: 0\r\n\r\n",
			want: "wsc: handshake refused: 301 Moved Permanently (wsc does not follow redirects; the server points to \"wss://elsewhere.example/ws\")\n" +
				"< HTTP/1.1 301 Moved Permanently\n< Content-Length: 0\n< Location: wss://elsewhere.example/ws\n<\n",
		},
		{
			name:     "a long body is cut",
			response: "HTTP/1.1 200 OK\r\nContent-Length: 4800\r\n\r\n" + big,
			want: "wsc: handshake refused: 200 OK (the server did not switch protocols: is the URL a WebSocket endpoint?)\n" +
				"< HTTP/1.1 200 OK\n< Content-Length: 4800\n<\n" +
				big[:4096] + "\n" +
				"wsc: (the body is cut here: wsc shows at most 4096 bytes of it, as they arrive within --handshake-timeout)\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := answeringServer(t, tc.response)
			r := wsc(t, nil, "-x", "hi", addr)
			wantExit(t, r, exitHandshake)
			if r.stderr != tc.want {
				t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, tc.want)
			}
		})
	}

	// With -v the header fields were printed with the request; they are
	// not repeated.
	addr := answeringServer(t, "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nno such ws")
	r := wsc(t, nil, "-v", "-x", "hi", addr)
	wantExit(t, r, exitHandshake)
	if !strings.HasSuffix(r.stderr, "< Content-Length: 10\nwsc: handshake refused: 404 Not Found (check the URL's path)\nno such ws\n") {
		t.Errorf("-v stderr does not end with the response, the refusal and the body:\n%s", r.stderr)
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain\ttext\n":       "plain\ttext\n",
		"crlf\r\nline\r\n":    "crlf\nline\n",
		"lone\rcr":            "lone\\x0dcr",
		"esc\x1b[2J":          "esc\\x1b[2J",
		"nul\x00del\x7f":      "nul\\x00del\\x7f",
		"c1\u0085":            "c1\\u0085",
		"bad\xffutf8\xe2\x82": "bad\\xffutf8\\xe2\\x82",
		"héllo wörld ✓":       "héllo wörld ✓",
	} {
		if got := printable([]byte(in)); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}
