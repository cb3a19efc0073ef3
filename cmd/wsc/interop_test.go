package main

// Interop tests: ws6455's client side against a server written by someone else, the Node `ws`
// library (testdata/interop/wsc-server.mjs: an echo server with permessage-deflate off that
// reports what it saw as JSON lines).
//
//   - TestInterop_NodeWSServer_Dialer dials it with handshake.Dialer and checks text, binary,
//     1 MiB, fragmented messages both ways, ping/pong both ways, close codes both ways, the
//     subprotocol, and that Node saw every frame of ours masked: Node's server refuses an
//     unmasked client frame (RFC 6455 §5.1) with an error event and a 1002 close, which one
//     subtest provokes on purpose to show the check is live.
//   - TestInterop_NodeWSServer_WscBinary builds cmd/wsc and runs the binary against it.
//
// They need Node.js >= 20 and testdata/interop/node_modules/ws; `bash testdata/interop/install.sh`
// installs them. Without them the tests skip, saying what is missing, unless
// WS6455_REQUIRE_INTEROP=1 (set by CI), which turns the skip into a failure.
// WS6455_WSC_BIN=path tests that wsc binary instead of building one.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ws6455/ws6455/cmd/internal/interop"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// nodeEvent is one JSON line of wsc-server.mjs.
type nodeEvent struct {
	Event    string            `json:"event"`
	Port     int               `json:"port,omitempty"`
	Path     string            `json:"path,omitempty"`
	Protocol string            `json:"protocol,omitempty"`
	Headers  map[string]string `json:"headers,omitempty"`
	Payload  string            `json:"payload,omitempty"`
	Binary   bool              `json:"binary,omitempty"`
	Length   int               `json:"length,omitempty"`
	Code     json.RawMessage   `json:"code,omitempty"` // a number for close, a string for error
	Message  string            `json:"message,omitempty"`
	Reason   string            `json:"reason,omitempty"`
}

func (e nodeEvent) String() string {
	b, _ := json.Marshal(e)
	return string(b)
}

// nodeServer is a running wsc-server.mjs.
type nodeServer struct {
	*nodeScript[nodeEvent]
	addr string
}

// startNodeServer runs wsc-server.mjs and waits for its port.
func startNodeServer(t *testing.T, node string) *nodeServer {
	t.Helper()
	s := &nodeServer{nodeScript: startNodeScript[nodeEvent](t, node, "wsc-server.mjs")}
	ev := s.wait(t, "the listening line", func(ev nodeEvent) bool { return ev.Event == "listening" })
	s.addr = fmt.Sprintf("127.0.0.1:%d", ev.Port)
	t.Logf("node wsc-server.mjs listening on %s", s.addr)
	return s
}

// pathEvent waits for the first event of kind for path.
func (s *nodeServer) pathEvent(t *testing.T, path, kind string) nodeEvent {
	t.Helper()
	return s.wait(t, kind+" on "+path, func(ev nodeEvent) bool { return ev.Path == path && ev.Event == kind })
}

// errorsFor lists the error events of a path.
func (s *nodeServer) errorsFor(path string) []nodeEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []nodeEvent
	for _, ev := range s.events {
		if ev.Event == "error" && (path == "" || ev.Path == path) {
			out = append(out, ev)
		}
	}
	return out
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// interopConn is a dialed client connection with its pongs and traced frames.
type interopConn struct {
	*frame.Conn
	resp   *handshake.Response
	pongs  chan string
	mu     sync.Mutex
	frames []frame.Header // inbound data frames
}

func (c *interopConn) inbound() []frame.Header {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]frame.Header(nil), c.frames...)
}

// dialNode dials the Node server at path with handshake.Dialer.
func dialNode(t *testing.T, s *nodeServer, path string, protocols ...string) *interopConn {
	t.Helper()
	ic := &interopConn{pongs: make(chan string, 8)}
	d := handshake.Dialer{
		Protocols:        protocols,
		HandshakeTimeout: 10 * time.Second,
		FrameConfig: frame.Config{
			MaxMessageSize: 32 << 20,
			OnPong:         func(p []byte) { ic.pongs <- string(p) },
			Trace: func(_ *frame.Conn, dir frame.Direction, h frame.Header, _ []byte) {
				if dir == frame.Inbound && h.Opcode.IsData() {
					ic.mu.Lock()
					ic.frames = append(ic.frames, h)
					ic.mu.Unlock()
				}
			},
		},
	}
	c, resp, err := d.Dial(context.Background(), "ws://"+s.addr+path)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	ic.Conn, ic.resp = c, resp
	// Bound every read: a test that waits for something that never comes fails instead of hanging.
	c.NetConn().SetReadDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { c.CloseNow() })
	return ic
}

// roundTrip sends p as one message of type op and checks the echo.
func roundTrip(t *testing.T, c *interopConn, op frame.Opcode, p []byte, fragment int) {
	t.Helper()
	var err error
	if fragment > 0 {
		err = c.WriteFragmented(op, p, fragment)
	} else {
		err = c.WriteMessage(op, p)
	}
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	gotOp, got, err := c.ReadMessage(nil)
	if err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if gotOp != op || !bytes.Equal(got, p) {
		t.Fatalf("echo: %v, %d bytes; sent %v, %d bytes (equal content: %v)", gotOp, len(got), op, len(p), bytes.Equal(got, p))
	}
}

// closeNormally runs the close handshake from our side (RFC 6455 §7.1.2) and checks that the
// Node server received our code.
func closeNormally(t *testing.T, s *nodeServer, c *interopConn, path string) {
	t.Helper()
	if err := c.CloseWith(frame.CloseNormal, ""); err != nil {
		t.Errorf("close: %v", err)
	}
	if ev := s.pathEvent(t, path, "close"); string(ev.Code) != "1000" {
		t.Errorf("Node saw close %s, want 1000", ev.Code)
	}
}

func TestInterop_NodeWSServer_Dialer(t *testing.T) {
	node := interop.Node(t, []string{"ws"}, "wsc-server.mjs")
	s := startNodeServer(t, node)

	// RFC 6455 §5.6: text and binary messages, each echoed with its own type.
	t.Run("text_binary_RFC6455_5_6", func(t *testing.T) {
		c := dialNode(t, s, "/text")
		roundTrip(t, c, frame.OpText, []byte("hello, Node ✓"), 0)
		roundTrip(t, c, frame.OpText, nil, 0)
		all := make([]byte, 256)
		for i := range all {
			all[i] = byte(i)
		}
		roundTrip(t, c, frame.OpBinary, all, 0)
		closeNormally(t, s, c, "/text")
	})

	// §5.2: a 1 MiB message takes the 64-bit length form both ways.
	t.Run("1MiB_RFC6455_5_2", func(t *testing.T) {
		c := dialNode(t, s, "/big")
		big := make([]byte, 1<<20)
		rand.Read(big)
		roundTrip(t, c, frame.OpBinary, big, 0)
		text := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
		roundTrip(t, c, frame.OpText, text, 0)
		if ev := s.pathEvent(t, "/big", "message"); ev.Length != 1<<20 || !ev.Binary {
			t.Errorf("Node got %d bytes (binary %v), want 1048576 binary", ev.Length, ev.Binary)
		}
		closeNormally(t, s, c, "/big")
	})

	// §5.4: our fragmented messages are reassembled by Node; Node's fragments by us.
	t.Run("fragmented_RFC6455_5_4", func(t *testing.T) {
		c := dialNode(t, s, "/frag")
		text := []byte(strings.Repeat("fragmented ✓ text, ", 5000)) // fragments split runes too
		roundTrip(t, c, frame.OpText, text, 1000)
		bin := make([]byte, 70000)
		rand.Read(bin)
		roundTrip(t, c, frame.OpBinary, bin, 4096)
		roundTrip(t, c, frame.OpBinary, []byte("x"), 1)

		before := len(c.inbound())
		if err := c.WriteMessage(frame.OpText, []byte("fragments:ab,cd,ef")); err != nil {
			t.Fatal(err)
		}
		op, got, err := c.ReadMessage(nil)
		if err != nil || op != frame.OpText || string(got) != "abcdef" {
			t.Fatalf("Node's fragmented message: %v %q %v, want text \"abcdef\"", op, got, err)
		}
		frames := c.inbound()[before:]
		if len(frames) != 3 || frames[0].Fin || frames[0].Opcode != frame.OpText ||
			frames[1].Opcode != frame.OpContinuation || frames[1].Fin ||
			frames[2].Opcode != frame.OpContinuation || !frames[2].Fin {
			t.Errorf("Node's message did not arrive as text+continuation+final continuation: %+v", frames)
		}
		closeNormally(t, s, c, "/frag")
	})

	// §5.5.2, §5.5.3: Node answers our ping with its payload; we answer Node's.
	t.Run("ping_pong_RFC6455_5_5_2", func(t *testing.T) {
		c := dialNode(t, s, "/ping")
		if err := c.WriteControl(frame.OpPing, []byte("from-go")); err != nil {
			t.Fatal(err)
		}
		// The pong is handled while reading: have Node echo a message after it.
		roundTrip(t, c, frame.OpText, []byte("after ping"), 0)
		select {
		case p := <-c.pongs:
			if p != "from-go" {
				t.Errorf("pong payload %q, want \"from-go\"", p)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no pong from Node")
		}
		if ev := s.pathEvent(t, "/ping", "ping"); ev.Payload != "from-go" {
			t.Errorf("Node saw ping %q", ev.Payload)
		}

		if err := c.WriteMessage(frame.OpText, []byte("ping:from-node")); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.ReadMessage(nil)
		if err != nil || string(got) != "pong:from-node" {
			t.Fatalf("Node did not get our automatic pong: %q %v", got, err)
		}
		closeNormally(t, s, c, "/ping")
	})

	// §7.4, §5.5.1: our close code and reason reach Node.
	t.Run("close_client_to_server_RFC6455_7_4", func(t *testing.T) {
		c := dialNode(t, s, "/close-c")
		roundTrip(t, c, frame.OpText, []byte("x"), 0)
		if err := c.CloseWith(4001, "client says bye ✓"); err != nil {
			t.Errorf("close: %v", err)
		}
		ev := s.pathEvent(t, "/close-c", "close")
		if string(ev.Code) != "4001" || ev.Reason != "client says bye ✓" {
			t.Errorf("Node saw close %s %q, want 4001 \"client says bye ✓\"", ev.Code, ev.Reason)
		}
	})

	// Node's close code and reason reach us; we answer it (§5.5.1) and Node sees the echo.
	for _, code := range []frame.CloseCode{1000, 1001, 1011, 4002} {
		path := fmt.Sprintf("/close-s-%d", code)
		t.Run(fmt.Sprintf("close_server_to_client_%d_RFC6455_7_4", code), func(t *testing.T) {
			c := dialNode(t, s, path)
			if err := c.WriteMessage(frame.OpText, fmt.Appendf(nil, "close:%d:server bye", code)); err != nil {
				t.Fatal(err)
			}
			_, _, err := c.ReadMessage(nil)
			var ce *frame.CloseError
			if !errors.As(err, &ce) || ce.Code != code || ce.Reason != "server bye" || ce.Local {
				t.Fatalf("read: %v; want the peer's close %d \"server bye\"", err, code)
			}
			if ev := s.pathEvent(t, path, "close"); string(ev.Code) != fmt.Sprint(int(code)) {
				t.Errorf("Node saw our answer as %s, want the echo %d", ev.Code, code)
			}
		})
	}

	// TCP dropped without a close frame: 1006 (§7.1.5).
	t.Run("drop_RFC6455_7_1_5", func(t *testing.T) {
		c := dialNode(t, s, "/drop")
		if err := c.WriteMessage(frame.OpText, []byte("terminate")); err != nil {
			t.Fatal(err)
		}
		_, _, err := c.ReadMessage(nil)
		if frame.CloseStatus(err) != frame.CloseAbnormal {
			t.Fatalf("read: %v; want 1006", err)
		}
	})

	// §4.1 item 10, §4.2.2: Node picks chat.v1 from our offer.
	t.Run("subprotocol_RFC6455_4_1", func(t *testing.T) {
		c := dialNode(t, s, "/proto", "nope", "chat.v1")
		if c.resp.Subprotocol != "chat.v1" {
			t.Errorf("subprotocol %q, want chat.v1", c.resp.Subprotocol)
		}
		if ev := s.pathEvent(t, "/proto", "open"); ev.Protocol != "chat.v1" || ev.Headers["sec-websocket-protocol"] != "nope, chat.v1" {
			t.Errorf("Node: protocol %q, offer %q", ev.Protocol, ev.Headers["sec-websocket-protocol"])
		}
		closeNormally(t, s, c, "/proto")
	})

	// §5.1: "The server MUST close the connection upon receiving a frame that is not masked."
	// Node does (error WS_ERR_EXPECTED_MASK, close 1002): so the absence of errors on every
	// other connection shows that all our frames were masked.
	t.Run("unmasked_frame_refused_RFC6455_5_1", func(t *testing.T) {
		c := dialNode(t, s, "/unmasked")
		if err := frame.PlumbingOf(c.Conn).WriteFrame(frame.Header{Fin: true, Opcode: frame.OpText}, []byte("naked")); err != nil {
			t.Fatal(err)
		}
		_, _, err := c.ReadMessage(nil)
		if code := frame.CloseStatus(err); code != frame.CloseProtocolError {
			t.Errorf("read: %v; want Node's 1002", err)
		}
		ev := s.pathEvent(t, "/unmasked", "error")
		if !strings.Contains(string(ev.Code), "WS_ERR_EXPECTED_MASK") {
			t.Errorf("Node error %s %q, want WS_ERR_EXPECTED_MASK", ev.Code, ev.Message)
		}
	})

	for _, ev := range s.errorsFor("") {
		if ev.Path != "/unmasked" {
			t.Errorf("Node refused a frame of ours on %s: %s %s", ev.Path, ev.Code, ev.Message)
		}
	}
}

// wscBinary builds cmd/wsc (or returns $WS6455_WSC_BIN).
func wscBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("WS6455_WSC_BIN"); bin != "" {
		return bin
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "wsc")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build cmd/wsc: %v\n%s", err, out)
	}
	return bin
}

// TestInterop_NodeWSServer_WscBinary runs the wsc binary against Node's server: stdin lines
// out, echoes on stdout, a header and a subprotocol in the handshake, masked frames shown by
// --show-frames, and the --close code received by Node.
func TestInterop_NodeWSServer_WscBinary(t *testing.T) {
	node := interop.Node(t, []string{"ws"}, "wsc-server.mjs")
	s := startNodeServer(t, node)
	bin := wscBinary(t)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--show-frames", "-s", "chat.v1", "-H", "X-Wsc: interop",
		"--close", "4003:wsc done", "ws://"+s.addr+"/wsc-binary")
	cmd.Stdin = strings.NewReader("hello from wsc\nwörld\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	t.Logf("wsc stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if err != nil {
		t.Fatalf("wsc: %v (want exit 0)", err)
	}
	if want := "hello from wsc\nwörld\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
	for _, re := range []string{
		`(?m)-> FIN=1 RSV=000 op=text\(0x1\) MASK=1 key=[0-9a-f]{8} len=14 "hello from wsc"$`,
		`(?m)<- FIN=1 RSV=000 op=text\(0x1\) MASK=0 len=14 "hello from wsc"$`,
		`(?m)-> FIN=1 RSV=000 op=close\(0x8\) MASK=1 key=[0-9a-f]{8} len=10 code=4003 \(private use\) reason="wsc done"$`,
		`(?m)<- FIN=1 RSV=000 op=close\(0x8\) MASK=0 len=10 code=4003 \(private use\) reason="wsc done"$`,
	} {
		if !regexp.MustCompile(re).MatchString(stderr.String()) {
			t.Errorf("--show-frames output lacks a line matching %s", re)
		}
	}
	open := s.pathEvent(t, "/wsc-binary", "open")
	if open.Protocol != "chat.v1" || open.Headers["x-wsc"] != "interop" {
		t.Errorf("Node saw protocol %q, X-Wsc %q", open.Protocol, open.Headers["x-wsc"])
	}
	if ev := s.pathEvent(t, "/wsc-binary", "close"); string(ev.Code) != "4003" || ev.Reason != "wsc done" {
		t.Errorf("Node saw close %s %q, want 4003 \"wsc done\"", ev.Code, ev.Reason)
	}
	if errs := s.errorsFor("/wsc-binary"); len(errs) > 0 {
		t.Errorf("Node refused frames of wsc: %v", errs)
	}
}
