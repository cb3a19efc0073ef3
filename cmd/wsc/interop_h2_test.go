package main

// RFC 8441 interop: ws6455's client (handshake.Dialer with HTTP2Require) against Node's own
// http2 module as a raw peer (testdata/interop/h2server.mjs): Node checks the extended
// CONNECT's pseudo-header fields by hand and parses our WebSocket frames itself (each must
// be masked), echoing them. Needs only node (>= 20), no npm package; skips without it
// unless WS6455_REQUIRE_INTEROP=1.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ws6455/ws6455/cmd/internal/interop"
	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// h2Event is one JSON line of h2server.mjs.
type h2Event struct {
	Event   string            `json:"event"`
	Port    int               `json:"port"`
	Headers map[string]string `json:"headers"`
	Name    string            `json:"name"`
	OK      bool              `json:"ok"`
	Got     string            `json:"got"`
	Opcode  int               `json:"opcode"`
	Fin     bool              `json:"fin"`
	Masked  bool              `json:"masked"`
	Length  int               `json:"length"`
	Reason  string            `json:"reason"`
}

// startNodeH2 runs h2server.mjs and returns it with its address.
func startNodeH2(t *testing.T, node string, env ...string) (*nodeScript[h2Event], string) {
	t.Helper()
	n := startNodeScript[h2Event](t, node, "h2server.mjs", env...)
	ev := n.wait(t, "listening line", func(ev h2Event) bool { return ev.Event == "listening" })
	return n, fmt.Sprintf("127.0.0.1:%d", ev.Port)
}

func TestInterop_NodeHTTP2_RFC8441(t *testing.T) {
	node := interop.Node(t, nil, "h2server.mjs")
	certPEM, cert := selfSigned(t)
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, certPEM, 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)

	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", useTLS), func(t *testing.T) {
			var env []string
			scheme := "ws"
			if useTLS {
				env = []string{"H2_CERT=" + certFile, "H2_KEY=" + keyFile}
				scheme = "wss"
			}
			n, addr := startNodeH2(t, node, env...)
			d := &handshake.Dialer{
				HTTP2:           handshake.HTTP2Require,
				Protocols:       []string{"chat", "superchat"},
				Header:          map[string][]string{"Origin": {"http://www.example.com"}},
				TLSClientConfig: &tls.Config{RootCAs: pool},
			}
			defer d.CloseIdleConnections()
			c, resp, err := d.Dial(context.Background(), scheme+"://"+addr+"/chat?x=1")
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			if resp.Proto != handshake.ProtoHTTP2 || resp.Subprotocol != "chat" {
				t.Errorf("proto %q subprotocol %q", resp.Proto, resp.Subprotocol)
			}
			// Node's checks of the request (RFC 8441 §4-§5).
			req := n.wait(t, "request", func(ev h2Event) bool { return ev.Event == "request" })
			want := map[string]string{
				":method": "CONNECT", ":protocol": "websocket", ":path": "/chat?x=1", ":authority": addr,
				"sec-websocket-version": "13", "sec-websocket-protocol": "chat, superchat", "origin": "http://www.example.com",
			}
			if useTLS {
				want[":scheme"] = "https"
			} else {
				want[":scheme"] = "http"
			}
			for k, v := range want {
				if req.Headers[k] != v {
					t.Errorf("Node saw %s = %q, want %q", k, req.Headers[k], v)
				}
			}
			for _, k := range []string{"sec-websocket-key", "upgrade", "connection", "user-agent"} {
				if v, ok := req.Headers[k]; ok {
					t.Errorf("Node saw %s: %q", k, v)
				}
			}
			// Node prints its 9 checks after the request line: wait for
			// all of them (they may not have been read yet).
			checks := 0
			n.wait(t, "Node's 9 checks of the request", func(ev h2Event) bool {
				if ev.Event == "check" {
					checks++
					if !ev.OK {
						t.Errorf("Node's check %q failed: got %q", ev.Name, ev.Got)
					}
				}
				return checks == 9
			})

			// Echoes: Node parses our frames by hand, so this also proves the
			// frames on the stream are RFC 6455's (lengths of 7, 16 and 64 bits).
			big := make([]byte, 1<<20)
			rand.Read(big)
			for _, m := range []struct {
				op  frame.Opcode
				msg []byte
			}{
				{frame.OpText, []byte("hello Node over HTTP/2")},
				{frame.OpBinary, big[:300]},
				{frame.OpBinary, big},
			} {
				if err := c.WriteMessage(m.op, m.msg); err != nil {
					t.Fatal(err)
				}
				op, got, err := c.ReadMessage(nil)
				if err != nil || op != m.op || !bytes.Equal(got, m.msg) {
					t.Fatalf("echo of %d bytes: %v %d bytes %v", len(m.msg), op, len(got), err)
				}
			}
			// Close: Node echoes the close frame and ends the stream
			// (END_STREAM, RFC 8441 §5).
			if err := c.CloseWith(frame.CloseNormal, "done"); err != nil {
				t.Errorf("close: %v", err)
			}
			n.wait(t, "stream end", func(ev h2Event) bool { return ev.Event == "end" })
			frames := 0
			for _, ev := range n.snapshot() {
				if ev.Event == "frame" {
					frames++
					if !ev.Masked {
						t.Errorf("Node got an unmasked frame (RFC 6455 §5.1): %+v", ev)
					}
				}
			}
			if frames < 4 || !strings.Contains(n.out.String(), `"opcode":8`) {
				t.Errorf("Node saw %d frames, or no close frame", frames)
			}
		})
	}
}
