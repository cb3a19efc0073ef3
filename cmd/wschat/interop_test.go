package main

// Interop tests: the wschat relay against clients written by someone else.
//
//   - testdata/interop/chat-client.mjs drives it with the Node `ws` library (ids, messages,
//     acks, order, every kind of bad request, presence, clients vanishing, close codes), with
//     permessage-deflate off (the default) and on (-deflate);
//   - testdata/interop/chat-browser.mjs opens the chat page in two headless Chromium tabs that
//     chat with each other, and saves a screenshot of both side by side.
//
// They need Node.js >= 20, testdata/interop/node_modules and /usr/bin/chromium (or $CHROMIUM);
// `bash testdata/interop/install.sh` installs all three. Without them the tests skip, naming
// what is missing, unless WS6455_REQUIRE_INTEROP=1 (set by CI), which turns the skip into a
// failure. Screenshots go to $WS6455_ARTIFACTS, or to a fixed directory under os.TempDir().
//
// wschat runs inside the test process through run (so -race covers the relay too);
// WS6455_WSCHAT_BIN=path tests that binary as a separate process instead.

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ws6455/ws6455/cmd/internal/interop"
)

// TestInterop_NodeWS_Chat: Node's ws clients use the relay: ids, messages and acks, order,
// errors that keep the connection, presence, vanishing clients, and the close handshake
// (RFC 6455 §7.4.1).
func TestInterop_NodeWS_Chat(t *testing.T) {
	node := interop.Node(t, []string{"ws"}, "chat-client.mjs")
	srv := interop.StartServer(t, "wschat", "WS6455_WSCHAT_BIN", run)
	interop.RunScript(t, node, 2*time.Minute, nil, "chat-client.mjs", "ws://"+srv.Addr+"/ws")
}

// TestInterop_NodeWS_Chat_Deflate_RFC7692: the same with wschat -deflate, where the ws
// client's permessage-deflate offer must be accepted.
func TestInterop_NodeWS_Chat_Deflate_RFC7692(t *testing.T) {
	node := interop.Node(t, []string{"ws"}, "chat-client.mjs")
	srv := interop.StartServer(t, "wschat", "WS6455_WSCHAT_BIN", run, "-deflate")
	interop.RunScript(t, node, 2*time.Minute, []string{"CHAT_EXPECT_DEFLATE=1"}, "chat-client.mjs", "ws://"+srv.Addr+"/ws")
}

// TestInterop_Browser_Chat: two Chromium tabs chat through the relay using the page at /,
// each message shown as delivered, then both tabs are saved side by side in a screenshot.
func TestInterop_Browser_Chat(t *testing.T) {
	node := interop.Node(t, []string{"ws", "playwright-core"}, "chat-browser.mjs")
	chromium := interop.Chromium(t)
	srv := interop.StartServer(t, "wschat", "WS6455_WSCHAT_BIN", run)
	shot := filepath.Join(interop.ArtifactDir(t), "wschat-two-tabs.png")
	interop.RunScript(t, node, 3*time.Minute, []string{"CHROMIUM=" + chromium}, "chat-browser.mjs", "http://"+srv.Addr+"/", shot)
	t.Logf("screenshot: %s (phone width: %s)", shot, strings.TrimSuffix(shot, ".png")+"-mobile.png")
}

// TestInterop_Browser_Chat_TwoNodes: the same two Chromium tabs, each on its own node of one
// relay (two wschat -nats on one embedded NATS server): B appears in A's Online list through
// the other node's presence, every message crosses NATS and shows as delivered, an unknown id
// is unknown on both nodes, and B's leave reaches A. Both tabs are saved in a screenshot.
func TestInterop_Browser_Chat_TwoNodes(t *testing.T) {
	node := interop.Node(t, []string{"ws", "playwright-core"}, "chat-browser.mjs")
	chromium := interop.Chromium(t)
	_, a, b := startTwoNodes(t, "WS6455_WSCHAT_BIN")
	shot := filepath.Join(interop.ArtifactDir(t), "wschat-two-nodes.png")
	interop.RunScript(t, node, 3*time.Minute, []string{"CHROMIUM=" + chromium}, "chat-browser.mjs",
		"http://"+a.Addr+"/", shot, "http://"+b.Addr+"/")
	t.Logf("screenshot: %s (tab A on node a %s, tab B on node b %s)", shot, a.Addr, b.Addr)
}
