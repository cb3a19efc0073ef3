package main

// Interop tests: the real wsecho binary against peers written by someone else.
//
//   - testdata/interop/ws-client.mjs drives it with the Node `ws` library (echo of text, binary,
//     1 MiB and fragmented messages, ping/pong, close code echo, invalid close codes, and
//     permessage-deflate on and off);
//   - testdata/interop/browser.mjs opens the playground page in headless Chromium and uses it
//     the way a person would, then saves a screenshot.
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
