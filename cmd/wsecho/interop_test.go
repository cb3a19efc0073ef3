package main

// Interop tests: the real wsecho binary against peers written by someone else.
//
//   - testdata/interop/ws-client.mjs drives it with the Node `ws` library (echo of text, binary,
//     1 MiB and fragmented messages, ping/pong, close code echo, invalid close codes, and
//     permessage-deflate on and off);
//   - testdata/interop/browser.mjs opens the playground page in headless Chromium and uses it
//     the way a person would, then saves a screenshot;
//   - testdata/interop/browser-h2.mjs does it over HTTPS against wsecho -tls auto, where
//     Chromium carries the page's WebSockets over HTTP/2 (RFC 8441).
//
// They need Node.js >= 20, testdata/interop/node_modules and /usr/bin/chromium (or $CHROMIUM);
// `bash testdata/interop/install.sh` installs all three. Without them the tests skip, saying
// what is missing, unless WS6455_REQUIRE_INTEROP=1 (set by CI), which turns the skip into a
// failure. Screenshots go to $WS6455_ARTIFACTS, or to a fixed directory under os.TempDir().
//
// wsecho runs inside the test process through run (so -race covers the server too);
// WS6455_WSECHO_BIN=path tests that binary as a separate process instead.

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ws6455/ws6455/cmd/internal/interop"
)

// TestInterop_NodeWS_RFC6455 runs the Node ws client checks against wsecho with its default
// flags: messages (RFC 6455 §5.6), fragmentation (§5.4), ping/pong (§5.5.2-3), close codes
// (§7.4) and permessage-deflate (RFC 7692). Set WS_REQUIRE_DEFLATE=1 to make a server that
// declines compression fail instead of skip those checks.
func TestInterop_NodeWS_RFC6455(t *testing.T) {
	node := interop.Node(t, []string{"ws", "playwright-core"})
	srv := interop.StartServer(t, "wsecho", "WS6455_WSECHO_BIN", run)
	interop.RunScript(t, node, 3*time.Minute, nil, "ws-client.mjs", "ws://"+srv.Addr+"/")
}

// TestInterop_NodeWS_GoroutineMode runs the same checks against wsecho -mode goroutines (a
// goroutine per connection, server.Handler); the default is event mode (server.EventHandler).
func TestInterop_NodeWS_GoroutineMode(t *testing.T) {
	node := interop.Node(t, []string{"ws", "playwright-core"})
	srv := interop.StartServer(t, "wsecho", "WS6455_WSECHO_BIN", run, "-mode", "goroutines")
	interop.RunScript(t, node, 3*time.Minute, nil, "ws-client.mjs", "ws://"+srv.Addr+"/")
}

// TestInterop_NodeWS_DeflateOff_RFC7692 runs the same checks against wsecho -deflate=false:
// an offer of permessage-deflate must be declined (RFC 7692 §5).
func TestInterop_NodeWS_DeflateOff_RFC7692(t *testing.T) {
	node := interop.Node(t, []string{"ws", "playwright-core"})
	srv := interop.StartServer(t, "wsecho", "WS6455_WSECHO_BIN", run, "-deflate=false")
	interop.RunScript(t, node, 3*time.Minute, []string{"WS_EXPECT_DEFLATE=0", "WS_REQUIRE_DEFLATE=0"},
		"ws-client.mjs", "ws://"+srv.Addr+"/")
}

// TestInterop_Browser drives the playground page (GET /) in headless Chromium: connect, text
// and binary echoes shown in the log, close with 4001 + reason, and a full-page screenshot.
func TestInterop_Browser(t *testing.T) {
	node := interop.Node(t, []string{"ws", "playwright-core"})
	chromium := interop.Chromium(t)
	srv := interop.StartServer(t, "wsecho", "WS6455_WSECHO_BIN", run)
	shot := filepath.Join(interop.ArtifactDir(t), "wsecho-playground.png")
	interop.RunScript(t, node, 3*time.Minute, []string{"CHROMIUM=" + chromium},
		"browser.mjs", "http://"+srv.Addr+"/", shot)
	t.Logf("screenshot: %s (phone width: %s)", shot, strings.TrimSuffix(shot, ".png")+"-mobile.png")
}

// TestInterop_Browser_HTTP2_RFC8441 opens the playground over HTTPS (wsecho -tls auto, HTTP/2 by
// ALPN) in headless Chromium, which then carries the page's WebSockets as streams of the page's
// HTTP/2 connection (RFC 8441 §4-5): text, binary, 1 MiB binary and 1 MiB text echo, with
// permessage-deflate and, against a second server started with -deflate=false, without; a close
// with 4001 + reason is echoed; 10 WebSockets opened at once share the one connection, and one
// closes while the nine others go on echoing. Besides the script's checks (the page asks the
// server, GET /conninfo, how each socket came), the servers' request logs must show only
// "CONNECT :protocol=websocket" requests, the 10 on one TLS connection. A third server, started
// with -http2=false, serves page and WebSockets over HTTP/1.1, and they still work, the 10 on 10
// TLS connections. Screenshots:
// wsecho-http2.png, wsecho-http2-nodeflate.png, wsecho-http2-http1.png.
func TestInterop_Browser_HTTP2_RFC8441(t *testing.T) {
	node := interop.Node(t, []string{"ws", "playwright-core"}, "browser-h2.mjs")
	chromium := interop.Chromium(t)
	srv := interop.StartServer(t, "wsecho", "WS6455_WSECHO_BIN", run, "-tls", "auto")
	plain := interop.StartServer(t, "wsecho", "WS6455_WSECHO_BIN", run, "-tls", "auto", "-deflate=false")
	h1 := interop.StartServer(t, "wsecho", "WS6455_WSECHO_BIN", run, "-tls", "auto", "-http2=false")
	shot := filepath.Join(interop.ArtifactDir(t), "wsecho-http2.png")
	interop.RunScript(t, node, 3*time.Minute, []string{"CHROMIUM=" + chromium},
		"browser-h2.mjs", "https://"+srv.Addr+"/", "https://"+plain.Addr+"/", "https://"+h1.Addr+"/", shot)
	t.Logf("screenshots: %s, %s, %s", shot, strings.TrimSuffix(shot, ".png")+"-nodeflate.png", strings.TrimSuffix(shot, ".png")+"-http1.png")

	reqRE := regexp.MustCompile(`msg="websocket request" request="([^"]*)" proto=(\S+) path=\S* id=(\S*) conn=(\d+)`)
	for _, s := range []*interop.Server{srv, plain} {
		reqs := reqRE.FindAllStringSubmatch(s.Log(), -1)
		if len(reqs) == 0 {
			t.Errorf("%s: no WebSocket in the request log", s.Addr)
		}
		for _, r := range reqs {
			if r[1] != http2Request || r[2] != "HTTP/2.0" {
				t.Errorf("%s: a WebSocket came as %q %s, want %q over HTTP/2.0", s.Addr, r[1], r[2], http2Request)
			}
		}
	}
	// -http2=false: every WebSocket an HTTP/1.1 upgrade over TLS.
	reqs := reqRE.FindAllStringSubmatch(h1.Log(), -1)
	for _, r := range reqs {
		if r[1] != http1Request || r[2] != "HTTP/1.1" {
			t.Errorf("-http2=false: a WebSocket came as %q %s, want %q over HTTP/1.1", r[1], r[2], http1Request)
		}
	}
	if len(reqs) == 0 {
		t.Errorf("-http2=false: no WebSocket in the request log")
	}
	// The page's "Open 10": on one TLS connection over HTTP/2, on ten over HTTP/1.1.
	for _, c := range []struct {
		s     *interop.Server
		conns int
	}{{srv, 1}, {h1, 10}} {
		conns, n := map[string]bool{}, 0
		for _, r := range reqRE.FindAllStringSubmatch(c.s.Log(), -1) {
			if strings.HasPrefix(r[3], "mux-") {
				conns[r[4]] = true
				n++
			}
		}
		if n != 10 || len(conns) != c.conns {
			t.Errorf("%s: %d WebSockets with mux- ids in the request log, on TLS connections %v; want 10 on %d", c.s.Addr, n, conns, c.conns)
		}
	}
}
