package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ws6455/ws6455/cmd/internal/interop"
	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

type syncBuffer = interop.Buffer

// waitFor polls b until it matches re.
func waitFor(t *testing.T, b *syncBuffer, re *regexp.Regexp, what string) []string {
	t.Helper()
	return b.WaitFor(t, re, what)
}

// start runs wsecho in the test process until the test ends.
func start(t *testing.T, args ...string) (addr string, stdout, stderr *syncBuffer) {
	addr, stdout, stderr, stop := startStop(t, args...)
	t.Cleanup(stop)
	return addr, stdout, stderr
}

// startStop runs wsecho in the test process; stop shuts it down (as
// SIGTERM does) and waits for run to return. The test must call stop.
func startStop(t *testing.T, args ...string) (addr string, stdout, stderr *syncBuffer, stop func()) {
	t.Helper()
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), stdout, stderr) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Error(err)
				}
			case <-time.After(30 * time.Second):
				t.Error("wsecho did not stop within 30s")
			}
		})
	}
	m := waitFor(t, stderr, regexp.MustCompile(`addr=(\S+) page=(\S+)`), "listening line")
	scheme := "http"
	if slices.Contains(args, "-tls") {
		scheme = "https"
	}
	if m[2] != scheme+"://"+m[1]+"/" {
		t.Errorf("page=%s, want a URL of the listener %s", m[2], m[1])
	}
	return m[1], stdout, stderr, stop
}

// A plain GET of the WebSocket path (a browser tab opened on the socket's
// URL) gets 426 Upgrade Required with Upgrade: websocket (RFC 6455 §4.2.2
// names the field; RFC 9110 §15.5.22 the status) and a sentence saying
// what to do, not a 404; every response names the server.
func TestPlainGETOfSocket_RFC6455_4_2_2(t *testing.T) {
	addr, _, _ := start(t)
	resp, err := http.Get("http://" + addr + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Upgrade") != "websocket" ||
		!strings.Contains(string(body), "WebSocket endpoint") {
		t.Fatalf("GET /ws: %s, Upgrade %q, body %q", resp.Status, resp.Header.Get("Upgrade"), body)
	}
	if resp.Header.Get("Server") != serverHeader {
		t.Errorf("Server header %q", resp.Header.Get("Server"))
	}
	resp, err = http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Server") != serverHeader {
		t.Fatalf("GET /: %s, Server %q", resp.Status, resp.Header.Get("Server"))
	}
}

// -trace prints the opening handshake (RFC 6455 §4.2.2: the accept key
// computed step by step, the 101) and then every frame (§5.2); the 101
// carries the Server header, which conformance reports show as the agent.
func TestTraceShowsHandshakeAndFrames_RFC6455_4_2_2(t *testing.T) {
	addr, stdout, _ := start(t, "-trace")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, resp, err := handshake.DefaultDialer.Dial(ctx, "ws://"+addr+"/ws")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if resp.Header.Get("Server") != serverHeader {
		t.Errorf("101 Server header %q", resp.Header.Get("Server"))
	}
	if err := c.WriteMessage(frame.OpText, []byte("Hello")); err != nil {
		t.Fatal(err)
	}
	c.NetConn().SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, p, err := c.ReadMessage(nil); err != nil || string(p) != "Hello" {
		t.Fatalf("echo %q %v", p, err)
	}
	for _, want := range []string{`<- GET /ws HTTP/1.1`, `key + GUID = `, `SHA-1      = `, `-> HTTP/1.1 101 Switching Protocols`,
		`<- FIN=1 RSV=000 op=text(0x1) MASK=1`, `-> FIN=1 RSV=000 op=text(0x1) MASK=0 len=5 "Hello"`} {
		waitFor(t, stdout, regexp.MustCompile(regexp.QuoteMeta(want)), want)
	}
}

// The page address is one a browser can open.
func TestPageURL(t *testing.T) {
	for addr, want := range map[string]string{
		"[::]:8080":      "http://localhost:8080/",
		"0.0.0.0:9":      "http://localhost:9/",
		"127.0.0.1:8080": "http://127.0.0.1:8080/",
		"[::1]:80":       "http://[::1]:80/",
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := pageURL(a, "http"); got != want {
			t.Errorf("pageURL(%s, http) = %s, want %s", addr, got, want)
		}
		if got, want := pageURL(a, "https"), "https"+strings.TrimPrefix(want, "http"); got != want {
			t.Errorf("pageURL(%s, https) = %s, want %s", addr, got, want)
		}
	}
}
