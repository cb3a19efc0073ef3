package handshake

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// h2Header is the header of RFC 8441 §5.1's example request as net/http
// hands it to a handler: canonical keys, and :protocol as a field.
func h2Header(drop []string, extra map[string][]string) map[string][]string {
	h := map[string][]string{
		":protocol":                {"websocket"},
		"Sec-Websocket-Protocol":   {"chat, superchat"},
		"Sec-Websocket-Extensions": {"permessage-deflate"},
		"Sec-Websocket-Version":    {"13"},
		"Origin":                   {"http://www.example.com"},
	}
	for _, k := range drop {
		delete(h, k)
	}
	for k, v := range extra {
		h[k] = v
	}
	return h
}

func h2Req(method string, h map[string][]string) (*Request, error) {
	return NewRequestFromHeader(method, "/chat", "HTTP/2.0", "server.example.com", h)
}

// TestNewRequestFromHeader_RFC8441_5_1_Example: the RFC's example request
// is an RFC 8441 handshake, with no key, Upgrade or Connection.
func TestNewRequestFromHeader_RFC8441_5_1_Example(t *testing.T) {
	req, err := h2Req("CONNECT", h2Header(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !req.HTTP2 || req.Protocol != "websocket" || req.Key != "" || req.Version != 13 {
		t.Errorf("HTTP2 %v Protocol %q Key %q Version %d", req.HTTP2, req.Protocol, req.Key, req.Version)
	}
	if req.URL.Path != "/chat" || req.Host != "server.example.com" || req.Origin != "http://www.example.com" {
		t.Errorf("URL %v Host %q Origin %q", req.URL, req.Host, req.Origin)
	}
	if !slices.Equal(req.Protocols, []string{"chat", "superchat"}) || len(req.Extensions) != 1 || req.Extensions[0].Name != "permessage-deflate" {
		t.Errorf("Protocols %q Extensions %v", req.Protocols, req.Extensions)
	}
	// The same request over HTTP/1.1 fields is not HTTP2.
	req1, err := NewRequestFromHeader("GET", "/chat", "HTTP/1.1", "x", map[string][]string{
		"Upgrade": {"websocket"}, "Connection": {"Upgrade"},
		"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Sec-Websocket-Version": {"13"},
	})
	if err != nil || req1.HTTP2 || req1.Protocol != "" {
		t.Fatalf("HTTP/1.1: %v, HTTP2 %v", err, req1.HTTP2)
	}
	// Validate again, after the request turned into HTTP/1.1 by hand:
	// HTTP2 is recomputed, not sticky.
	req.Proto, req.Method = "HTTP/1.1", "GET"
	if err := req.Validate(); HTTPStatus(err) != 400 || req.HTTP2 {
		t.Errorf("re-validated as HTTP/1.1: %v, HTTP2 %v", err, req.HTTP2)
	}
}

// TestValidate_RFC8441_4_5: each rule of an RFC 8441 request, with the
// status it is refused with.
func TestValidate_RFC8441_4_5(t *testing.T) {
	tests := []struct {
		name   string
		method string
		h      map[string][]string
		status int
		header map[string]string // fields of the error response
	}{
		{"ok", "CONNECT", h2Header(nil, nil), 0, nil},
		// RFC 8441 §4: the handshake is an extended CONNECT.
		{"GET over HTTP/2", "GET", h2Header(nil, nil), 405, map[string]string{"Allow": "CONNECT"}},
		// RFC 9113 §8.5: CONNECT without :protocol is a tunnel request.
		{"plain CONNECT", "CONNECT", h2Header([]string{":protocol"}, nil), 400, nil},
		// RFC 8441 §5: :protocol must be websocket.
		{"webtransport", "CONNECT", h2Header(nil, map[string][]string{":protocol": {"webtransport"}}), 501, nil},
		{"empty protocol", "CONNECT", h2Header(nil, map[string][]string{":protocol": {""}}), 400, nil},
		{"repeated protocol", "CONNECT", h2Header(nil, map[string][]string{":protocol": {"websocket", "websocket"}}), 400, nil},
		{"protocol case", "CONNECT", h2Header(nil, map[string][]string{":protocol": {"WebSocket"}}), 0, nil},
		// RFC 8441 §5 keeps Sec-WebSocket-Version: RFC 6455 §4.4 applies.
		{"version missing", "CONNECT", h2Header([]string{"Sec-Websocket-Version"}, nil), 426, map[string]string{"Sec-WebSocket-Version": "13"}},
		{"version 8", "CONNECT", h2Header(nil, map[string][]string{"Sec-Websocket-Version": {"8"}}), 426, map[string]string{"Sec-WebSocket-Version": "13"}},
		// RFC 8441 §5: no key processing; one sent anyway is ignored,
		// even a malformed one.
		{"key ignored", "CONNECT", h2Header(nil, map[string][]string{"Sec-Websocket-Key": {"not base64"}}), 0, nil},
		// No Upgrade or Connection needed (RFC 9113 §8.2.2 forbids them).
		{"no upgrade fields", "CONNECT", h2Header(nil, nil), 0, nil},
		// The stream is the WebSocket: no length may bound it.
		{"content-length", "CONNECT", h2Header(nil, map[string][]string{"Content-Length": {"0"}}), 400, nil},
		// The rules shared with RFC 6455 still run.
		{"bad subprotocol", "CONNECT", h2Header(nil, map[string][]string{"Sec-Websocket-Protocol": {"a b"}}), 400, nil},
		{"bad extension", "CONNECT", h2Header(nil, map[string][]string{"Sec-Websocket-Extensions": {";"}}), 400, nil},
		{"repeated origin", "CONNECT", h2Header(nil, map[string][]string{"Origin": {"http://a", "http://b"}}), 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := h2Req(tt.method, tt.h)
			if HTTPStatus(err) != tt.status {
				t.Fatalf("status %d (%v), want %d", HTTPStatus(err), err, tt.status)
			}
			if err == nil {
				if !req.HTTP2 || req.Key != "" {
					t.Errorf("HTTP2 %v Key %q", req.HTTP2, req.Key)
				}
				return
			}
			var re *RequestError
			if !asRequestError(err, &re) {
				t.Fatalf("%T is not a *RequestError", err)
			}
			for k, v := range tt.header {
				if got := strings.Join(re.Header[k], ","); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if tt.status == 400 && tt.name == "plain CONNECT" && !strings.Contains(re.Reason, ":protocol websocket") {
				t.Errorf("reason %q does not say what was expected", re.Reason)
			}
		})
	}
	// Without a host (no :authority) the request is refused as on
	// HTTP/1.1.
	if _, err := NewRequestFromHeader("CONNECT", "/chat", "HTTP/2.0", "", h2Header(nil, nil)); HTTPStatus(err) != 400 {
		t.Errorf("no authority: %v", err)
	}
	// A text request line that claims HTTP/2.0 is not HTTP/2 (which has no
	// request line): the HTTP/1 reader still answers 505.
	if _, err := readReq("CONNECT /chat HTTP/2.0\r\nHost: x\r\nSec-WebSocket-Version: 13\r\n\r\n", Limits{}); HTTPStatus(err) != 505 {
		t.Errorf("HTTP/2.0 request line: %v", err)
	}
}

func asRequestError(err error, re **RequestError) bool {
	e, ok := err.(*RequestError)
	*re = e
	return ok
}

// TestNegotiate_RFC8441_5: an HTTP/2 request is negotiated with the same
// rules (origin, subprotocol, permessage-deflate), and answered with a 200
// whose header has the negotiated fields and none of the 101's.
func TestNegotiate_RFC8441_5(t *testing.T) {
	u := &Upgrader{
		CheckOrigin: func(r *Request) bool { return r.Origin == "http://www.example.com" },
		Protocols:   []string{"superchat", "chat"},
		Compression: DefaultDeflateConfig(),
	}
	req, err := h2Req("CONNECT", h2Header(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	res, err := u.Negotiate(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status() != 200 || res.Subprotocol != "superchat" || res.Deflate == nil {
		t.Fatalf("status %d subprotocol %q deflate %v", res.Status(), res.Subprotocol, res.Deflate)
	}
	for _, k := range []string{"Upgrade", "Connection", "Sec-Websocket-Accept"} {
		if _, ok := res.ResponseHeader[k]; ok {
			t.Errorf("HTTP/2 response has %s (RFC 8441 §5, RFC 9113 §8.2.2)", k)
		}
	}
	if res.ResponseHeader.Get("Sec-Websocket-Protocol") != "superchat" ||
		!strings.HasPrefix(res.ResponseHeader.Get("Sec-Websocket-Extensions"), "permessage-deflate") {
		t.Errorf("response header %v", res.ResponseHeader)
	}
	// The extra headers rules are the same.
	if err := res.AddResponseHeader(map[string][]string{"Upgrade": {"websocket"}}); HTTPStatus(err) != 500 {
		t.Errorf("AddResponseHeader(Upgrade): %v", err)
	}

	// Origin refused: 403, as on HTTP/1.1.
	req, _ = h2Req("CONNECT", h2Header(nil, map[string][]string{"Origin": {"http://evil.example"}}))
	if _, err := u.Negotiate(req); HTTPStatus(err) != 403 {
		t.Errorf("foreign origin: %v", err)
	}
	// The default policy (SameOrigin) compares with :authority.
	req, _ = h2Req("CONNECT", h2Header(nil, map[string][]string{"Origin": {"https://server.example.com"}}))
	if _, err := (&Upgrader{}).Negotiate(req); err != nil {
		t.Errorf("same origin over HTTP/2: %v", err)
	}
	// No subprotocol in common, no compression configured: neither field.
	req, _ = h2Req("CONNECT", h2Header([]string{"Origin"}, nil))
	res, err = (&Upgrader{Protocols: []string{"other"}}).Negotiate(req)
	if err != nil || len(res.ResponseHeader) != 0 {
		t.Errorf("plain: %v, header %v", err, res.ResponseHeader)
	}
	// An HTTP/1.1 result still answers 101.
	if (&Result{}).Status() != 101 {
		t.Error("zero Result status")
	}
}

// TestUpgradeRequest_RFC8441_NotHTTP1: UpgradeRequest writes HTTP/1.1 and
// refuses to answer an HTTP/2 request that way.
func TestUpgradeRequest_RFC8441_NotHTTP1(t *testing.T) {
	req, err := h2Req("CONNECT", h2Header([]string{"Origin"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := (&Upgrader{}).UpgradeRequest(req, &out)
	if res != nil || HTTPStatus(err) != 500 || !strings.HasPrefix(out.String(), "HTTP/1.1 500") {
		t.Errorf("res %v err %v out %q", res, err, out.String())
	}
}
