package handshake

import (
	"bufio"
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ws6455/ws6455/frame"
)

// rfcResponse is the server handshake of RFC 6455 §1.2 / §1.3.
const rfcResponse = "HTTP/1.1 101 Switching Protocols\r\n" +
	"Upgrade: websocket\r\n" +
	"Connection: Upgrade\r\n" +
	"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" +
	"Sec-WebSocket-Protocol: chat\r\n" +
	"\r\n"

func upgrade(u *Upgrader, req string) (*Result, string, error) {
	var out bytes.Buffer
	res, err := u.Upgrade(bufio.NewReader(strings.NewReader(req)), &out)
	return res, out.String(), err
}

func allowAll(*Request) bool { return true }

func TestUpgrade_RFC6455_1_3_Example(t *testing.T) {
	u := &Upgrader{CheckOrigin: allowAll, Protocols: []string{"chat"}}
	res, out, err := upgrade(u, rfcRequest)
	if err != nil {
		t.Fatal(err)
	}
	if out != rfcResponse {
		t.Fatalf("response\n%q\nwant\n%q", out, rfcResponse)
	}
	if res.Subprotocol != "chat" || res.Deflate != nil || res.Request.Host != "server.example.com" {
		t.Errorf("result %+v", res)
	}
	if got := res.ResponseHeader.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("ResponseHeader accept %q", got)
	}
}

// readResp parses a written response with our own client-side reader.
func readResp(t *testing.T, s string) (*Response, string) {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(s))
	resp, err := ReadResponse(br, Limits{})
	if err != nil {
		t.Fatalf("ReadResponse(%q): %v", s, err)
	}
	var rest strings.Builder
	br.WriteTo(&rest)
	return resp, rest.String()
}

// TestUpgrade_ErrorResponses_RFC6455_4_2_1: every refusal writes a real
// HTTP response with the right status, a text/plain body with its
// Content-Length, "Connection: close", and the fields the status needs.
func TestUpgrade_ErrorResponses_RFC6455_4_2_1(t *testing.T) {
	tests := []struct {
		name   string
		u      *Upgrader
		req    string
		status int
		header map[string]string
	}{
		{"400 no key", &Upgrader{}, mkReq(getChat, []string{"Sec-WebSocket-Key"}), 400, nil},
		{"400 malformed", &Upgrader{}, "hello\r\n\r\n", 400, nil},
		{"403 origin", &Upgrader{}, rfcRequest, 403, nil},
		{"403 custom", &Upgrader{CheckOrigin: func(*Request) bool { return false }}, mkReq(getChat, nil), 403, nil},
		{"405 POST", &Upgrader{}, mkReq("POST /chat HTTP/1.1", nil), 405, map[string]string{"Allow": "GET"}},
		{"414 long target", &Upgrader{Limits: Limits{MaxLineBytes: 50}}, mkReq("GET /"+strings.Repeat("x", 60)+" HTTP/1.1", nil), 414, nil},
		{"426 version", &Upgrader{}, mkReq(getChat, []string{"Sec-WebSocket-Version"}, "Sec-WebSocket-Version: 8"), 426,
			map[string]string{"Sec-Websocket-Version": "13"}},
		{"431 headers", &Upgrader{Limits: Limits{MaxHeaders: 3}}, mkReq(getChat, nil), 431, nil},
		{"500 select", &Upgrader{SelectProtocol: func(*Request) string { return "nope" }}, mkReq(getChat, nil), 500, nil},
		{"500 extra header", &Upgrader{ExtraHeaders: map[string][]string{"Sec-WebSocket-Accept": {"x"}}}, mkReq(getChat, nil), 500, nil},
		{"500 extra header CRLF", &Upgrader{ExtraHeaders: map[string][]string{"X-A": {"a\r\nX-B: b"}}}, mkReq(getChat, nil), 500, nil},
		{"500 extra header name", &Upgrader{ExtraHeaders: map[string][]string{"X A": {"a"}}}, mkReq(getChat, nil), 500, nil},
		{"500 compression config", &Upgrader{Compression: DeflateConfig{Mode: CompressionFull, ServerMaxWindowBits: 20}}, mkReq(getChat, nil), 500, nil},
		{"505 HTTP/1.0", &Upgrader{}, mkReq("GET /chat HTTP/1.0", nil), 505, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, out, err := upgrade(tt.u, tt.req)
			if res != nil || HTTPStatus(err) != tt.status {
				t.Fatalf("status %d (err %v), want %d", HTTPStatus(err), err, tt.status)
			}
			resp, body := readResp(t, out)
			if resp.StatusCode != tt.status || resp.StatusLine != "HTTP/1.1 "+strconv.Itoa(tt.status)+" "+StatusText(tt.status) {
				t.Errorf("status line %q", resp.StatusLine)
			}
			if resp.Header.Get("Connection") != "close" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Errorf("header %v", resp.Header)
			}
			if cl, _ := strconv.Atoi(resp.Header.Get("Content-Length")); cl != len(body) || len(body) < 2 {
				t.Errorf("Content-Length %d, body %q", cl, body)
			}
			for k, v := range tt.header {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if resp.Header.Get("Sec-WebSocket-Accept") != "" || strings.Contains(out, "X-B") {
				t.Errorf("leaked header in %q", out)
			}
		})
	}
}

func TestUpgrade_NetworkErrorWritesNothing(t *testing.T) {
	_, out, err := upgrade(&Upgrader{}, "")
	if err == nil || HTTPStatus(err) != 0 || out != "" {
		t.Fatalf("EOF: err %v, wrote %q", err, out)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestUpgrade_WriteError(t *testing.T) {
	_, err := (&Upgrader{}).Upgrade(bufio.NewReader(strings.NewReader(mkReq(getChat, nil))), failWriter{})
	if err == nil || !strings.Contains(err.Error(), "broken pipe") {
		t.Fatalf("got %v", err)
	}
}

// TestUpgrade_Subprotocol_RFC6455_4_2_2: the server picks one of the
// client's values or none; the header is absent when none.
func TestUpgrade_Subprotocol_RFC6455_4_2_2(t *testing.T) {
	req := mkReq(getChat, nil, "Sec-WebSocket-Protocol: chat, superchat")
	tests := []struct {
		name string
		u    *Upgrader
		want string
	}{
		{"none supported", &Upgrader{}, ""},
		{"server preference", &Upgrader{Protocols: []string{"superchat", "chat"}}, "superchat"},
		{"only one in common", &Upgrader{Protocols: []string{"v2", "chat"}}, "chat"},
		{"none in common", &Upgrader{Protocols: []string{"v2"}}, ""},
		{"case-sensitive", &Upgrader{Protocols: []string{"CHAT"}}, ""},
		{"select", &Upgrader{SelectProtocol: func(r *Request) string { return r.Protocols[1] }}, "superchat"},
		{"select none", &Upgrader{SelectProtocol: func(*Request) string { return "" }, Protocols: []string{"chat"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, out, err := upgrade(tt.u, req)
			if err != nil {
				t.Fatal(err)
			}
			resp, _ := readResp(t, out)
			if res.Subprotocol != tt.want || resp.Header.Get("Sec-WebSocket-Protocol") != tt.want {
				t.Fatalf("subprotocol %q / header %q, want %q", res.Subprotocol, resp.Header.Get("Sec-WebSocket-Protocol"), tt.want)
			}
			if _, present := resp.Header["Sec-Websocket-Protocol"]; present != (tt.want != "") {
				t.Fatalf("header present=%v", present)
			}
		})
	}
}

func TestUpgrade_Deflate_RFC7692(t *testing.T) {
	u := &Upgrader{Compression: DeflateConfig{Mode: CompressionFull}}
	req := mkReq(getChat, nil, "Sec-WebSocket-Extensions: x-foo, permessage-deflate; server_max_window_bits=10; client_max_window_bits")
	res, out, err := upgrade(u, req)
	if err != nil {
		t.Fatal(err)
	}
	want := frame.DeflateParams{ServerMaxWindowBits: 10}
	if res.Deflate == nil || *res.Deflate != want {
		t.Fatalf("Deflate %+v", res.Deflate)
	}
	resp, _ := readResp(t, out)
	if got := resp.Header["Sec-Websocket-Extensions"]; !slices.Equal(got, []string{"permessage-deflate; server_max_window_bits=10"}) {
		t.Fatalf("extensions header %q", got)
	}
	// Off: no header at all.
	res, out, err = upgrade(&Upgrader{}, req)
	if err != nil || res.Deflate != nil || strings.Contains(out, "Extensions") {
		t.Fatalf("off: %v %+v %q", err, res, out)
	}
}

// TestUpgrade_ResponseFields_RFC6455_4_2_2_Step5 checks the 101: each
// field once (§11.3), ExtraHeaders after them.
func TestUpgrade_ResponseFields_RFC6455_4_2_2_Step5(t *testing.T) {
	u := &Upgrader{
		Protocols:    []string{"chat"},
		Compression:  DeflateConfig{Mode: CompressionNoContextTakeover},
		ExtraHeaders: map[string][]string{"set-cookie": {"a=1", "b=2"}, "X-Server": {"ws6455"}},
	}
	_, out, err := upgrade(u, mkReq(getChat, nil, "Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Extensions: permessage-deflate"))
	if err != nil {
		t.Fatal(err)
	}
	want := "HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" +
		"Sec-WebSocket-Protocol: chat\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n" +
		"Set-Cookie: a=1\r\n" +
		"Set-Cookie: b=2\r\n" +
		"X-Server: ws6455\r\n" +
		"\r\n"
	if out != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
}

func TestUpgradeRequest_FromHeader(t *testing.T) {
	req, err := NewRequestFromHeader("GET", "/", "HTTP/1.1", "example.com", map[string][]string{
		"Upgrade":               {"websocket"},
		"Connection":            {"Upgrade"},
		"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
		"Sec-Websocket-Version": {"13"},
		"Origin":                {"https://example.com"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := (&Upgrader{}).UpgradeRequest(req, &out)
	if err != nil || res.Request != req || !strings.HasPrefix(out.String(), "HTTP/1.1 101 ") {
		t.Fatalf("%v %q", err, out.String())
	}
	// An unvalidated Request is refused.
	out.Reset()
	_, err = (&Upgrader{}).UpgradeRequest(&Request{Method: "GET"}, &out)
	if HTTPStatus(err) != 500 || !strings.HasPrefix(out.String(), "HTTP/1.1 500 ") {
		t.Fatalf("%v %q", err, out.String())
	}
}

func TestAppendErrorResponse(t *testing.T) {
	got := string(AppendErrorResponse(nil, 404, map[string][]string{
		"X-A":            {"1", "bad\nvalue"},
		"Content-Length": {"99"},
		"Connection":     {"keep-alive"},
	}, "no such endpoint"))
	want := "HTTP/1.1 404 Not Found\r\n" +
		"Connection: close\r\n" +
		"Content-Length: 17\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"X-A: 1\r\n" +
		"\r\n" +
		"no such endpoint\n"
	if got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	if !strings.HasPrefix(string(AppendErrorResponse(nil, 42, nil, "")), "HTTP/1.1 500 Internal Server Error\r\n") {
		t.Fatal("bad status not mapped to 500")
	}
}

func TestRequestError_Error(t *testing.T) {
	e := &RequestError{Status: 426, Reason: "unsupported version"}
	if got := e.Error(); got != "handshake: 426 Upgrade Required: unsupported version" {
		t.Fatal(got)
	}
	if HTTPStatus(errors.New("x")) != 0 || HTTPStatus(e) != 426 {
		t.Fatal("HTTPStatus")
	}
}
