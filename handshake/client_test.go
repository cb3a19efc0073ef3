package handshake

import (
	"bufio"
	"errors"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/ws6455/ws6455/frame"
)

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestAppendRequest_RFC6455_1_3_Example builds the RFC's example request.
func TestAppendRequest_RFC6455_1_3_Example(t *testing.T) {
	hs := &ClientHandshake{
		URL:       mustURL(t, "ws://server.example.com/chat"),
		Key:       "dGhlIHNhbXBsZSBub25jZQ==",
		Protocols: []string{"chat", "superchat"},
		Header:    map[string][]string{"Origin": {"http://example.com"}},
	}
	got, err := hs.AppendRequest(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "GET /chat HTTP/1.1\r\n" +
		"Host: server.example.com\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Protocol: chat, superchat\r\n" +
		"Origin: http://example.com\r\n" +
		"\r\n"
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	// Our server reads it as the RFC's request.
	req, err := ReadRequest(bufio.NewReader(strings.NewReader(string(got))), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := ReadRequest(bufio.NewReader(strings.NewReader(rfcRequest)), Limits{})
	if req.Key != ref.Key || req.Host != ref.Host || req.Origin != ref.Origin || strings.Join(req.Protocols, ",") != strings.Join(ref.Protocols, ",") {
		t.Fatalf("%+v vs %+v", req, ref)
	}
}

// TestAppendRequest_RFC6455_4_1 covers the client's request requirements:
// the URI checks of step 1 (§3), the request-URI (item 3), Host (item 4)
// and the field rules.
func TestAppendRequest_RFC6455_4_1(t *testing.T) {
	key := "AQIDBAUGBwgJCgsMDQ4PEC=="
	tests := []struct {
		name      string
		hs        ClientHandshake
		wantLine  string
		wantHost  string
		wantField string
		bad       bool
	}{
		{name: "item3 empty path", hs: ClientHandshake{URL: mustURL(t, "ws://h")}, wantLine: "GET / HTTP/1.1", wantHost: "h"},
		{name: "item3 query", hs: ClientHandshake{URL: mustURL(t, "ws://h/a/b?c=d&e")}, wantLine: "GET /a/b?c=d&e HTTP/1.1"},
		{name: "item3 escaped", hs: ClientHandshake{URL: mustURL(t, "ws://h/a%20b")}, wantLine: "GET /a%20b HTTP/1.1"},
		{name: "item4 default ws port", hs: ClientHandshake{URL: mustURL(t, "ws://h:80/")}, wantHost: "h"},
		{name: "item4 default wss port", hs: ClientHandshake{URL: mustURL(t, "wss://h:443/")}, wantHost: "h"},
		{name: "item4 other port", hs: ClientHandshake{URL: mustURL(t, "ws://h:443/")}, wantHost: "h:443"},
		{name: "item4 ipv6", hs: ClientHandshake{URL: mustURL(t, "ws://[::1]:8080/")}, wantHost: "[::1]:8080"},
		{name: "item4 ipv6 default port", hs: ClientHandshake{URL: mustURL(t, "wss://[::1]/")}, wantHost: "[::1]"},
		{name: "item4 Host override", hs: ClientHandshake{URL: mustURL(t, "ws://127.0.0.1:9/"), Header: map[string][]string{"host": {"virtual.example"}}}, wantHost: "virtual.example"},
		{name: "item7 key", hs: ClientHandshake{URL: mustURL(t, "ws://h/")}, wantField: "Sec-WebSocket-Key: " + key},
		{name: "item9 version", hs: ClientHandshake{URL: mustURL(t, "ws://h/")}, wantField: "Sec-WebSocket-Version: 13"},
		{name: "item11 extensions", hs: ClientHandshake{URL: mustURL(t, "ws://h/"), Compression: &DeflateOffer{ServerMaxWindowBits: 10}},
			wantField: "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits; server_max_window_bits=10"},
		{name: "item11 several offers", hs: ClientHandshake{URL: mustURL(t, "ws://h/"), CompressionOffers: []DeflateOffer{{ServerMaxWindowBits: 10}, {OmitClientMaxWindowBits: true}}},
			wantField: "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate"},
		{name: "item12 custom", hs: ClientHandshake{URL: mustURL(t, "ws://h/"), Header: map[string][]string{"authorization": {"Bearer x"}}}, wantField: "Authorization: Bearer x"},

		{name: "step1 http scheme", hs: ClientHandshake{URL: mustURL(t, "http://h/")}, bad: true},
		{name: "step1 fragment", hs: ClientHandshake{URL: mustURL(t, "ws://h/#frag")}, bad: true},
		{name: "step1 userinfo", hs: ClientHandshake{URL: mustURL(t, "ws://u:p@h/")}, bad: true},
		{name: "step1 no host", hs: ClientHandshake{URL: mustURL(t, "ws:///path")}, bad: true},
		{name: "step1 bad port", hs: ClientHandshake{URL: mustURL(t, "ws://h:99999/")}, bad: true},
		{name: "step1 nil URL", hs: ClientHandshake{}, bad: true},
		{name: "item10 duplicate protocol", hs: ClientHandshake{URL: mustURL(t, "ws://h/"), Protocols: []string{"a", "a"}}, bad: true},
		{name: "item10 protocol not token", hs: ClientHandshake{URL: mustURL(t, "ws://h/"), Protocols: []string{"a b"}}, bad: true},
		{name: "item10 empty protocol", hs: ClientHandshake{URL: mustURL(t, "ws://h/"), Protocols: []string{""}}, bad: true},
		{name: "header sets key", hs: ClientHandshake{URL: mustURL(t, "ws://h/"), Header: map[string][]string{"Sec-WebSocket-Key": {key}}}, bad: true},
		{name: "header sets upgrade", hs: ClientHandshake{URL: mustURL(t, "ws://h/"), Header: map[string][]string{"upgrade": {"x"}}}, bad: true},
		{name: "header injection", hs: ClientHandshake{URL: mustURL(t, "ws://h/"), Header: map[string][]string{"X-A": {"a\r\nX-B: b"}}}, bad: true},
		{name: "header bad name", hs: ClientHandshake{URL: mustURL(t, "ws://h/"), Header: map[string][]string{"X A": {"a"}}}, bad: true},
		{name: "two hosts", hs: ClientHandshake{URL: mustURL(t, "ws://h/"), Header: map[string][]string{"Host": {"a", "b"}}}, bad: true},
		{name: "bad compression", hs: ClientHandshake{URL: mustURL(t, "ws://h/"), Compression: &DeflateOffer{ServerMaxWindowBits: 4}}, bad: true},
		{name: "bad compression offers", hs: ClientHandshake{URL: mustURL(t, "ws://h/"), CompressionOffers: []DeflateOffer{{}, {ServerMaxWindowBits: 4}}}, bad: true},
		{name: "compression twice", hs: ClientHandshake{URL: mustURL(t, "ws://h/"), Compression: &DeflateOffer{}, CompressionOffers: []DeflateOffer{{}}}, bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := tt.hs
			hs.Key = key
			b, err := hs.AppendRequest(nil)
			if tt.bad {
				if err == nil {
					t.Fatalf("built %q", b)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := string(b)
			if tt.wantLine != "" && !strings.HasPrefix(s, tt.wantLine+"\r\n") {
				t.Errorf("request line of %q", s)
			}
			if tt.wantHost != "" && !strings.Contains(s, "\r\nHost: "+tt.wantHost+"\r\n") {
				t.Errorf("Host in %q", s)
			}
			if tt.wantField != "" && !strings.Contains(s, "\r\n"+tt.wantField+"\r\n") {
				t.Errorf("%q not in %q", tt.wantField, s)
			}
			// Every request we build passes our server's validation.
			if _, err := ReadRequest(bufio.NewReader(strings.NewReader(s)), Limits{}); err != nil {
				t.Errorf("our server rejects %q: %v", s, err)
			}
		})
	}
	if _, err := (&ClientHandshake{URL: mustURL(t, "ws://h/"), Key: "short"}).AppendRequest(nil); err == nil {
		t.Error("bad key accepted")
	}
}

// resp101 builds a 101 response for key dGhlIHNhbXBsZSBub25jZQ== with the
// default fields replaced by those named in fields ("Name:" alone drops it).
func resp101(fields ...string) string {
	base := []string{"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}
	var b strings.Builder
	b.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	for _, h := range base {
		name := h[:strings.IndexByte(h, ':')+1]
		replaced := false
		for _, f := range fields {
			if strings.HasPrefix(f, name) {
				replaced = true
			}
		}
		if !replaced {
			b.WriteString(h + "\r\n")
		}
	}
	for _, f := range fields {
		if !strings.HasSuffix(f, ":") {
			b.WriteString(f + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// TestVerify_RFC6455_4_1 walks the client's checks of the server's answer.
func TestVerify_RFC6455_4_1(t *testing.T) {
	const ok, bad, status = "ok", "bad", "status"
	tests := []struct {
		name   string
		resp   string
		protos []string
		offer  *DeflateOffer
		want   string
		proto  string
		defl   *frame.DeflateParams
	}{
		{"rfc example", rfcResponse, []string{"chat", "superchat"}, nil, ok, "chat", nil},
		{"minimal", resp101(), nil, nil, ok, "", nil},

		// Step 1: not 101.
		{"step1 403", "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", nil, nil, status, "", nil},
		{"step1 200", "HTTP/1.1 200 OK\r\n\r\n", nil, nil, status, "", nil},
		{"step1 302", "HTTP/1.1 302 Found\r\nLocation: ws://elsewhere/\r\n\r\n", nil, nil, status, "", nil},

		// Step 2: Upgrade is "websocket".
		{"step2 missing", resp101("Upgrade:"), nil, nil, bad, "", nil},
		{"step2 WebSocket", resp101("Upgrade: WebSocket"), nil, nil, ok, "", nil},
		{"step2 other", resp101("Upgrade: h2c"), nil, nil, bad, "", nil},
		{"step2 list", resp101("Upgrade: websocket, h2c"), nil, nil, bad, "", nil},

		// Step 3: Connection has "Upgrade".
		{"step3 missing", resp101("Connection:"), nil, nil, bad, "", nil},
		{"step3 lowercase", resp101("Connection: upgrade"), nil, nil, ok, "", nil},
		{"step3 list", resp101("Connection: keep-alive, Upgrade"), nil, nil, ok, "", nil},
		{"step3 close", resp101("Connection: close"), nil, nil, bad, "", nil},

		// Step 4: Sec-WebSocket-Accept.
		{"step4 missing", resp101("Sec-WebSocket-Accept:"), nil, nil, bad, "", nil},
		{"step4 wrong", resp101("Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA="), nil, nil, bad, "", nil},
		{"step4 key echoed", resp101("Sec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ=="), nil, nil, bad, "", nil},
		{"step4 whitespace", resp101("Sec-WebSocket-Accept:   s3pPLMBiTxaQ9kYGzzhZRbK+xOo=  "), nil, nil, ok, "", nil},
		{"step4 repeated (11.3.3)", resp101("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), nil, nil, bad, "", nil},

		// Step 5: extensions we offered, with legal parameters.
		{"step5 not offered", resp101("Sec-WebSocket-Extensions: permessage-deflate"), nil, nil, bad, "", nil},
		{"step5 unknown", resp101("Sec-WebSocket-Extensions: x-foo"), nil, &DeflateOffer{}, bad, "", nil},
		{"step5 deflate", resp101("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10"), nil, &DeflateOffer{}, ok, "",
			&frame.DeflateParams{ClientMaxWindowBits: 10}},
		{"step5 deflate declined", resp101(), nil, &DeflateOffer{}, ok, "", nil},
		{"step5 deflate twice", resp101("Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate"), nil, &DeflateOffer{}, bad, "", nil},
		{"step5 two lines (11.3.2)", resp101("Sec-WebSocket-Extensions: permessage-deflate", "Sec-WebSocket-Extensions: permessage-deflate"), nil, &DeflateOffer{}, bad, "", nil},
		{"step5 bad param", resp101("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"), nil, &DeflateOffer{}, bad, "", nil},
		{"step5 window too big", resp101("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12"), nil, &DeflateOffer{ServerMaxWindowBits: 10}, bad, "", nil},
		{"step5 malformed", resp101("Sec-WebSocket-Extensions: permessage-deflate;"), nil, &DeflateOffer{}, bad, "", nil},

		// Step 6: a subprotocol we offered.
		{"step6 offered", resp101("Sec-WebSocket-Protocol: superchat"), []string{"chat", "superchat"}, nil, ok, "superchat", nil},
		{"step6 not offered", resp101("Sec-WebSocket-Protocol: other"), []string{"chat"}, nil, bad, "", nil},
		{"step6 none offered", resp101("Sec-WebSocket-Protocol: chat"), nil, nil, bad, "", nil},
		{"step6 case differs", resp101("Sec-WebSocket-Protocol: Chat"), []string{"chat"}, nil, bad, "", nil},
		{"step6 empty", resp101("Sec-WebSocket-Protocol: "), []string{"chat"}, nil, bad, "", nil},
		{"step6 list", resp101("Sec-WebSocket-Protocol: chat, superchat"), []string{"chat", "superchat"}, nil, bad, "", nil},
		{"step6 repeated (11.3.4)", resp101("Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Protocol: chat"), []string{"chat"}, nil, bad, "", nil},
		{"step6 declined", resp101(), []string{"chat"}, nil, ok, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := ReadResponse(bufio.NewReader(strings.NewReader(tt.resp)), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			hs := &ClientHandshake{URL: mustURL(t, "ws://server.example.com/chat"), Key: "dGhlIHNhbXBsZSBub25jZQ==", Protocols: tt.protos, Compression: tt.offer}
			err = hs.Verify(resp)
			switch tt.want {
			case ok:
				if err != nil {
					t.Fatal(err)
				}
				if resp.Subprotocol != tt.proto {
					t.Errorf("Subprotocol %q, want %q", resp.Subprotocol, tt.proto)
				}
				if (resp.Deflate == nil) != (tt.defl == nil) || (tt.defl != nil && *resp.Deflate != *tt.defl) {
					t.Errorf("Deflate %+v, want %+v", resp.Deflate, tt.defl)
				}
			case bad:
				if !errors.Is(err, ErrBadResponse) {
					t.Fatalf("err %v, want ErrBadResponse", err)
				}
			case status:
				var se *StatusError
				if !errors.As(err, &se) || se.StatusCode != resp.StatusCode || !strings.Contains(err.Error(), resp.StatusLine) {
					t.Fatalf("err %v, want *StatusError with the status line", err)
				}
			}
		})
	}
}

func TestStatusError_Redirect_RFC6455_4_1_Step1(t *testing.T) {
	resp, err := ReadResponse(bufio.NewReader(strings.NewReader("HTTP/1.1 301 Moved Permanently\r\nLocation: wss://example.com/new\r\n\r\n")), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	err = (&ClientHandshake{Key: "dGhlIHNhbXBsZSBub25jZQ=="}).Verify(resp)
	want := `handshake: server answered "HTTP/1.1 301 Moved Permanently": redirects are not followed (Location: wss://example.com/new)`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	se := &StatusError{StatusLine: "HTTP/1.1 403 Forbidden", StatusCode: 403, Response: &Response{Body: []byte("origin not allowed\n")}}
	if got := se.Error(); got != `handshake: server answered "HTTP/1.1 403 Forbidden": "origin not allowed"` {
		t.Fatal(got)
	}
}

func TestReadResponse(t *testing.T) {
	tests := []struct {
		in   string
		code int
		bad  bool
	}{
		{"HTTP/1.1 101 Switching Protocols\r\n\r\n", 101, false},
		{"HTTP/1.1 101\r\n\r\n", 101, false},
		{"HTTP/1.1 101 \r\n\r\n", 101, false},
		{"HTTP/1.0 400 Bad Request\r\n\r\n", 400, false},
		{"HTTP/1.1 1O1 Switching\r\n\r\n", 0, true},
		{"HTTP/1.1 99 x\r\n\r\n", 0, true},
		{"HTTP/1.1 1010 x\r\n\r\n", 0, true},
		{"HTTP/1.1  101 x\r\n\r\n", 0, true},
		{"HTTP/1.1\r\n\r\n", 0, true},
		{"SSH-2.0-OpenSSH_9.6\r\n\r\n", 0, true},
		{"HTTP/1.1 101 OK\r\nBad Header\r\n\r\n", 0, true},
		{"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		resp, err := ReadResponse(bufio.NewReader(strings.NewReader(tt.in)), Limits{})
		if tt.bad {
			if err == nil {
				t.Errorf("%q accepted", tt.in)
			}
			continue
		}
		if err != nil || resp.StatusCode != tt.code {
			t.Errorf("%q: %v %v", tt.in, resp, err)
		}
	}
	_, err := ReadResponse(bufio.NewReader(strings.NewReader("HTTP/1.1 101 OK\r\nX: "+strings.Repeat("a", 100)+"\r\n\r\n")), Limits{MaxHeaderBytes: 64})
	if !errors.Is(err, ErrBadResponse) {
		t.Errorf("oversized response: %v", err)
	}
}

// TestReadErrorBody_RFC7230_3_3_3: the start of a non-101 body is found by
// the rules of HTTP/1.1 message length, bounded by MaxErrorBody.
func TestReadErrorBody_RFC7230_3_3_3(t *testing.T) {
	big := strings.Repeat("x", MaxErrorBody+10)
	tests := []struct {
		name      string
		resp      string
		body      string
		truncated bool
	}{
		{name: "content-length", resp: "HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope!trailing", body: "nope!"},
		{name: "content-length zero", resp: "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"},
		{name: "content-length repeated equal", resp: "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nhi", body: "hi"},
		{name: "content-length conflicting", resp: "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi!", truncated: true},
		{name: "content-length not digits", resp: "HTTP/1.1 403 Forbidden\r\nContent-Length: +2\r\n\r\nhi", truncated: true},
		{name: "content-length short read", resp: "HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nonly", body: "only", truncated: true},
		{name: "content-length over the bound", resp: "HTTP/1.1 403 Forbidden\r\nContent-Length: " + strconv.Itoa(len(big)) + "\r\n\r\n" + big, body: big[:MaxErrorBody], truncated: true},
		{name: "until close", resp: "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\nbad request\n", body: "bad request\n"},
		{name: "until close over the bound", resp: "HTTP/1.1 400 Bad Request\r\n\r\n" + big, body: big[:MaxErrorBody], truncated: true},
		{name: "until close exactly the bound", resp: "HTTP/1.1 400 Bad Request\r\n\r\n" + big[:MaxErrorBody], body: big[:MaxErrorBody]},
		{name: "chunked", resp: "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nserv\r\n7;ext=1\r\ner down\r\n0\r\n\r\n", body: "server down"},
		{name: "chunked uppercase hex", resp: "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n", body: "0123456789"},
		{name: "chunked over the bound", resp: "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n" + strconv.FormatInt(int64(len(big)), 16) + "\r\n" + big + "\r\n0\r\n\r\n", body: big[:MaxErrorBody], truncated: true},
		{name: "chunked malformed size", resp: "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\nzz\r\nmore", body: "ok", truncated: true},
		{name: "chunked missing CRLF", resp: "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n0\r\n\r\n", body: "ok", truncated: true},
		{name: "chunked wins over content-length", resp: "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", body: "ok"},
		{name: "other transfer coding: until close", resp: "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b", body: "\x1f\x8b"},
		{name: "204 has no body", resp: "HTTP/1.1 204 No Content\r\n\r\nframes?"},
		{name: "304 has no body", resp: "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\nabcde"},
		{name: "binary kept as is", resp: "HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\n\xff\x00\xfe", body: "\xff\x00\xfe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tt.resp))
			resp, err := ReadResponse(br, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			readErrorBody(br, resp)
			if string(resp.Body) != tt.body || resp.BodyTruncated != tt.truncated {
				t.Errorf("body %q (%d bytes) truncated %v; want %q (%d bytes) truncated %v",
					shorten(resp.Body), len(resp.Body), resp.BodyTruncated, shorten([]byte(tt.body)), len(tt.body), tt.truncated)
			}
			if tt.body == "" && resp.Body != nil {
				t.Errorf("Body is %q, want nil", resp.Body)
			}
		})
	}
}

func shorten(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// TestStatusError_Error_RFC6455_4_1_Step1: the error says what the server
// answered, what to do about the common refusals, and how its body
// starts.
func TestStatusError_Error_RFC6455_4_1_Step1(t *testing.T) {
	resp := func(header map[string][]string, body string, truncated bool) *Response {
		h := make(textproto.MIMEHeader)
		for k, v := range header {
			h[textproto.CanonicalMIMEHeaderKey(k)] = v
		}
		r := &Response{Header: h, BodyTruncated: truncated}
		if body != "" {
			r.Body = []byte(body)
		}
		return r
	}
	long := "a" + strings.Repeat("é", 150) // byte 200 is inside an é: cut before it
	tests := []struct {
		line string
		resp *Response
		want string
	}{
		{"HTTP/1.1 403 Forbidden", resp(nil, "origin not allowed\n", false),
			`handshake: server answered "HTTP/1.1 403 Forbidden": "origin not allowed"`},
		{"HTTP/1.1 403 Forbidden", nil,
			`handshake: server answered "HTTP/1.1 403 Forbidden"`},
		{"HTTP/1.1 500 Internal Server Error", resp(nil, "boom", true),
			`handshake: server answered "HTTP/1.1 500 Internal Server Error": "boom"...`},
		{"HTTP/1.1 500 Internal Server Error", resp(nil, long, false),
			`handshake: server answered "HTTP/1.1 500 Internal Server Error": "` + long[:199] + `"...`},
		{"HTTP/1.1 500 Internal Server Error", resp(nil, "\xff\x00", false),
			`handshake: server answered "HTTP/1.1 500 Internal Server Error": "\xff\x00"`},
		{"HTTP/1.1 200 OK", resp(nil, "<html>", false),
			`handshake: server answered "HTTP/1.1 200 OK": the server did not switch protocols (is the URL a WebSocket endpoint?): "<html>"`},
		{"HTTP/1.1 401 Unauthorized", resp(map[string][]string{"WWW-Authenticate": {`Bearer realm="api"`}}, "", false),
			`handshake: server answered "HTTP/1.1 401 Unauthorized": send credentials in an Authorization header (WWW-Authenticate: Bearer realm="api")`},
		{"HTTP/1.1 404 Not Found", resp(nil, "", false),
			`handshake: server answered "HTTP/1.1 404 Not Found": nothing at this path; check the URL`},
		{"HTTP/1.1 426 Upgrade Required", resp(map[string][]string{"Sec-WebSocket-Version": {"8, 7"}}, "", false),
			`handshake: server answered "HTTP/1.1 426 Upgrade Required": the server speaks Sec-WebSocket-Version 8, 7, this client 13 (RFC 6455 §4.4)`},
		{"HTTP/1.1 426 Upgrade Required", resp(map[string][]string{"Sec-WebSocket-Version": {"13"}}, "upgrade!", false),
			`handshake: server answered "HTTP/1.1 426 Upgrade Required": "upgrade!"`},
		{"HTTP/1.1 503 Service Unavailable", resp(map[string][]string{"Retry-After": {"120"}}, "", false),
			`handshake: server answered "HTTP/1.1 503 Service Unavailable": retry after 120`},
	}
	for _, tt := range tests {
		code, _ := strconv.Atoi(tt.line[9:12])
		se := &StatusError{StatusLine: tt.line, StatusCode: code, Response: tt.resp}
		if got := se.Error(); got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
}
