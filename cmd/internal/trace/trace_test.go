package trace

import (
	"strings"
	"testing"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// Frame shows the fields of RFC 6455 §5.2, the payload unmasked.
func TestFrame_RFC6455_5_2(t *testing.T) {
	for _, tc := range []struct {
		dir  frame.Direction
		h    frame.Header
		p    []byte
		want string
	}{
		{frame.Outbound, frame.Header{Fin: true, Opcode: frame.OpText, Masked: true, Mask: [4]byte{0x37, 0xfa, 0x21, 0x3d}, Length: 5}, []byte("Hello"),
			`-> FIN=1 RSV=000 op=text(0x1) MASK=1 key=37fa213d len=5 "Hello"`},
		{frame.Inbound, frame.Header{Fin: true, Opcode: frame.OpClose, Length: 2}, []byte{0x03, 0xe8},
			`<- FIN=1 RSV=000 op=close(0x8) MASK=0 len=2 code=1000 normal closure`},
		{frame.Inbound, frame.Header{Opcode: frame.OpBinary, Rsv: frame.RSV1, Length: 100}, []byte{0xde, 0xad},
			`<- FIN=0 RSV=100 op=binary(0x2) MASK=0 len=100 (compressed) de ad ...(98 more bytes)`},
		{frame.Inbound, frame.Header{Fin: true, Opcode: frame.OpClose, Length: 9}, append([]byte{0x0f, 0xa1}, "goodbye"...),
			`<- FIN=1 RSV=000 op=close(0x8) MASK=0 len=9 code=4001 (private use) reason="goodbye"`},
	} {
		if got := Frame(tc.dir, tc.h, tc.p); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

// Handshake shows the accept key computed step by step, with the example
// of RFC 6455 §1.3: the key "dGhlIHNhbXBsZSBub25jZQ==" gives
// "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=". A refused handshake shows its status.
func TestHandshake_RFC6455_4_2_2(t *testing.T) {
	req, err := handshake.NewRequestFromHeader("GET", "/chat", "HTTP/1.1", "server.example.com", map[string][]string{
		"Upgrade": {"websocket"}, "Connection": {"Upgrade"},
		"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Sec-Websocket-Version": {"13"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var u handshake.Upgrader
	res, err := u.Negotiate(req)
	if err != nil {
		t.Fatal(err)
	}
	out := Handshake(req, res, nil)
	for _, want := range []string{
		"<- GET /chat HTTP/1.1",
		`key + GUID = "dGhlIHNhbXBsZSBub25jZQ==" + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"`,
		"SHA-1      = b3 7a 4f 2c c0 62 4f 16 90 f6 46 06 cf 38 59 45 b2 be c4 ea",
		"base64     = s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
		"-> HTTP/1.1 101 Switching Protocols",
		"-> Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	refused := Handshake(nil, nil, &handshake.RequestError{Status: 431, Reason: "header block too large"})
	if !strings.Contains(refused, "-> 431 Request Header Fields Too Large") {
		t.Errorf("refused handshake:\n%s", refused)
	}
}

// An RFC 8441 request shows its pseudo-header fields and a 200 with the
// negotiated fields, and no accept computation: HTTP/2 has no key (§5).
func TestHandshake_RFC8441_5(t *testing.T) {
	req, err := handshake.NewRequestFromHeader("CONNECT", "/chat", "HTTP/2.0", "server.example.com", map[string][]string{
		":protocol": {"websocket"}, "Sec-Websocket-Version": {"13"}, "Sec-Websocket-Protocol": {"chat"},
	})
	if err != nil {
		t.Fatal(err)
	}
	u := handshake.Upgrader{Protocols: []string{"chat"}}
	res, err := u.Negotiate(req)
	if err != nil {
		t.Fatal(err)
	}
	out := Handshake(req, res, nil)
	for _, want := range []string{
		"<- :method: CONNECT", "<- :protocol: websocket", "<- :path: /chat", "<- :authority: server.example.com",
		"<- Sec-Websocket-Version: 13", "RFC 8441 §5", "-> HEADERS :status: 200", "-> Sec-WebSocket-Protocol: chat",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	for _, not := range []string{"SHA-1", "101", "-> Sec-WebSocket-Accept"} {
		if strings.Contains(out, not) {
			t.Errorf("%q in the HTTP/2 handshake:\n%s", not, out)
		}
	}
}
