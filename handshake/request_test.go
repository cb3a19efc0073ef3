package handshake

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

// rfcRequest is the client handshake of RFC 6455 §1.2 / §1.3.
const rfcRequest = "GET /chat HTTP/1.1\r\n" +
	"Host: server.example.com\r\n" +
	"Upgrade: websocket\r\n" +
	"Connection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
	"Origin: http://example.com\r\n" +
	"Sec-WebSocket-Protocol: chat, superchat\r\n" +
	"Sec-WebSocket-Version: 13\r\n" +
	"\r\n"

// baseHeaders are the fields of a minimal valid handshake.
var baseHeaders = []string{
	"Host: server.example.com",
	"Upgrade: websocket",
	"Connection: Upgrade",
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
	"Sec-WebSocket-Version: 13",
}

// mkReq builds a request: line, then baseHeaders with every field named in
// drop removed, then extra.
func mkReq(line string, drop []string, extra ...string) string {
	var b strings.Builder
	b.WriteString(line + "\r\n")
	for _, h := range baseHeaders {
		name := h[:strings.IndexByte(h, ':')]
		if slices.ContainsFunc(drop, func(d string) bool { return strings.EqualFold(d, name) }) {
			continue
		}
		b.WriteString(h + "\r\n")
	}
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

func readReq(s string, lim Limits) (*Request, error) {
	return ReadRequest(bufio.NewReader(strings.NewReader(s)), lim)
}

const getChat = "GET /chat HTTP/1.1"

func TestAcceptKey_RFC6455_4_2_2_Example(t *testing.T) {
	// RFC 6455 §4.2.2 step 5.4 NOTE and §1.3.
	if got, want := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Fatalf("AcceptKey = %q, want %q", got, want)
	}
	// Keys of other lengths take the slow path; the result must not depend
	// on the path.
	if AcceptKey("abc") == AcceptKey("abd") || len(AcceptKey("")) != 28 {
		t.Fatal("AcceptKey on short keys")
	}
}

func TestNewKey_RFC6455_4_1_Item7(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		k := NewKey()
		if !validKey(k) {
			t.Fatalf("NewKey() = %q, not base64 of 16 bytes", k)
		}
		if seen[k] {
			t.Fatalf("NewKey repeated %q", k)
		}
		seen[k] = true
	}
}

func TestReadRequest_RFC6455_1_3_Example(t *testing.T) {
	br := bufio.NewReader(strings.NewReader(rfcRequest + "FRAMES"))
	req, err := ReadRequest(br, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != "GET" || req.Target != "/chat" || req.Proto != "HTTP/1.1" || req.Host != "server.example.com" {
		t.Errorf("request line/host: %+v", req)
	}
	if req.URL.Path != "/chat" {
		t.Errorf("URL.Path = %q", req.URL.Path)
	}
	if req.Key != "dGhlIHNhbXBsZSBub25jZQ==" || req.Version != 13 || req.Origin != "http://example.com" {
		t.Errorf("decoded: key %q version %d origin %q", req.Key, req.Version, req.Origin)
	}
	if !slices.Equal(req.Protocols, []string{"chat", "superchat"}) {
		t.Errorf("Protocols = %q", req.Protocols)
	}
	if req.Extensions != nil {
		t.Errorf("Extensions = %v", req.Extensions)
	}
	if got := req.Header.Get("sec-websocket-key"); got != "dGhlIHNhbXBsZSBub25jZQ==" {
		t.Errorf("Header lookup = %q", got)
	}
	// ReadRequest consumes exactly the header block.
	rest, _ := io.ReadAll(br)
	if string(rest) != "FRAMES" {
		t.Errorf("left in reader: %q", rest)
	}
}

// TestReadRequest_HeaderBlock_RFC7230_3_2_2: ReadRequest keeps every
// field, a repeated one's values in the order received (RFC 7230 §3.2.2),
// under canonical keys; the value slices of different fields are
// independent (they share one array, so an append must copy); and a block
// larger than the parser's stack buffers (1 KiB of text, 32 fields) reads
// the same as a small one.
func TestReadRequest_HeaderBlock_RFC7230_3_2_2(t *testing.T) {
	for _, n := range []int{0, 40} {
		var extra []string
		for i := range n {
			extra = append(extra, fmt.Sprintf("X-Filler-%d: %s", i, strings.Repeat("v", 40)))
		}
		extra = append(extra, "x-list: 1", "Accept: a", "X-LIST:2 ", "Sec-WebSocket-Protocol: chat", "sec-websocket-protocol: superchat")
		req, err := ReadRequest(bufio.NewReader(strings.NewReader(mkReq(getChat, nil, extra...))), Limits{})
		if err != nil {
			t.Fatalf("%d fillers: %v", n, err)
		}
		h := req.Header
		if !slices.Equal(h["X-List"], []string{"1", "2"}) || !slices.Equal(h["Accept"], []string{"a"}) {
			t.Errorf("%d fillers: X-List %q, Accept %q; want [1 2], [a]", n, h["X-List"], h["Accept"])
		}
		if !slices.Equal(req.Protocols, []string{"chat", "superchat"}) {
			t.Errorf("%d fillers: Protocols %q", n, req.Protocols)
		}
		for i := range n {
			if got := h.Get(fmt.Sprintf("X-Filler-%d", i)); got != strings.Repeat("v", 40) {
				t.Fatalf("%d fillers: X-Filler-%d = %q", n, i, got)
			}
		}
		h["Accept"] = append(h["Accept"], "b")
		h["Upgrade"] = append(h["Upgrade"], "other")
		if h.Get("Connection") != "Upgrade" || !slices.Equal(h["X-List"], []string{"1", "2"}) || h.Get("Host") != "server.example.com" {
			t.Errorf("%d fillers: an append changed another field: %v", n, h)
		}
	}
}

// TestReadRequest_RFC6455_4_2_1 walks every requirement of §4.2.1 (and the
// HTTP framing under it) with the status the server must answer.
func TestReadRequest_RFC6455_4_2_1(t *testing.T) {
	tests := []struct {
		name   string
		req    string
		status int // 0 = accepted
	}{
		{"minimal", mkReq(getChat, nil), 0},
		{"rfc example", rfcRequest, 0},

		// Item 1: GET, HTTP/1.1 or higher, a request-URI.
		{"item1 POST", mkReq("POST /chat HTTP/1.1", nil), 405},
		{"item1 HEAD", mkReq("HEAD /chat HTTP/1.1", nil), 405},
		{"item1 lowercase get", mkReq("get /chat HTTP/1.1", nil), 405},
		{"item1 HTTP/1.0", mkReq("GET /chat HTTP/1.0", nil), 505},
		{"item1 HTTP/0.9", mkReq("GET /chat HTTP/0.9", nil), 505},
		{"item1 HTTP/2.0", mkReq("GET /chat HTTP/2.0", nil), 505},
		{"item1 HTTP/1.2", mkReq("GET /chat HTTP/1.2", nil), 0},
		{"item1 lowercase proto", mkReq("GET /chat http/1.1", nil), 400},
		{"item1 proto HTTP/1.10", mkReq("GET /chat HTTP/1.10", nil), 400},
		{"item1 no proto", mkReq("GET /chat", nil), 400},
		{"item1 double space", mkReq("GET  /chat HTTP/1.1", nil), 400},
		{"item1 trailing junk", mkReq("GET /chat HTTP/1.1 x", nil), 400},
		{"item1 tab separator", mkReq("GET\t/chat HTTP/1.1", nil), 400},
		{"item1 method not token", mkReq("G(T /chat HTTP/1.1", nil), 400},
		{"item1 query", mkReq("GET /chat?room=a&b=%20 HTTP/1.1", nil), 0},
		{"item1 root", mkReq("GET / HTTP/1.1", nil), 0},
		{"item1 absolute http URI", mkReq("GET http://server.example.com/chat HTTP/1.1", nil), 0},
		{"item1 absolute wss URI", mkReq("GET wss://server.example.com/chat HTTP/1.1", nil), 0},
		{"item1 asterisk", mkReq("GET * HTTP/1.1", nil), 400},
		{"item1 authority form", mkReq("GET server.example.com:80 HTTP/1.1", nil), 400},
		{"item1 relative path", mkReq("GET chat HTTP/1.1", nil), 400},
		{"item1 ftp URI", mkReq("GET ftp://server.example.com/chat HTTP/1.1", nil), 400},
		{"item1 control char in target", mkReq("GET /ch\x01at HTTP/1.1", nil), 400},
		{"item1 escaped path", mkReq("GET /a%20b HTTP/1.1", nil), 0},
		{"item1 bad escape", mkReq("GET /a%2 HTTP/1.1", nil), 400},
		// §3: fragment identifiers "MUST NOT be used" on WebSocket URIs.
		{"item1 fragment", mkReq("GET /chat#top HTTP/1.1", nil), 400},
		{"item1 fragment after query", mkReq("GET /chat?a=1#top HTTP/1.1", nil), 400},
		{"item1 fragment in absolute URI", mkReq("GET ws://server.example.com/chat#top HTTP/1.1", nil), 400},

		// Item 2: Host.
		{"item2 no Host", mkReq(getChat, []string{"Host"}), 400},
		{"item2 two Hosts", mkReq(getChat, nil, "Host: other.example.com"), 400},
		{"item2 empty Host", mkReq(getChat, []string{"Host"}, "Host: "), 400},
		{"item2 Host with space", mkReq(getChat, []string{"Host"}, "Host: a b"), 400},
		{"item2 Host with port", mkReq(getChat, []string{"Host"}, "Host: server.example.com:8080"), 0},
		{"item2 Host IPv6", mkReq(getChat, []string{"Host"}, "Host: [::1]:8080"), 0},
		{"item2 host lowercase name", mkReq(getChat, []string{"Host"}, "hOsT: x"), 0},

		// Item 3: Upgrade contains "websocket", case-insensitively.
		{"item3 no Upgrade", mkReq(getChat, []string{"Upgrade"}), 400},
		{"item3 WebSocket", mkReq(getChat, []string{"Upgrade"}, "Upgrade: WebSocket"), 0},
		{"item3 WEBSOCKET", mkReq(getChat, []string{"Upgrade"}, "Upgrade: WEBSOCKET"), 0},
		{"item3 list", mkReq(getChat, []string{"Upgrade"}, "Upgrade: h2c, websocket"), 0},
		{"item3 list no space", mkReq(getChat, []string{"Upgrade"}, "Upgrade: h2c,websocket,foo"), 0},
		{"item3 two lines", mkReq(getChat, []string{"Upgrade"}, "Upgrade: h2c", "Upgrade: websocket"), 0},
		{"item3 tabs", mkReq(getChat, []string{"Upgrade"}, "Upgrade:\twebsocket\t"), 0},
		{"item3 websockets", mkReq(getChat, []string{"Upgrade"}, "Upgrade: websockets"), 400},
		{"item3 web socket", mkReq(getChat, []string{"Upgrade"}, "Upgrade: web socket"), 400},
		{"item3 empty", mkReq(getChat, []string{"Upgrade"}, "Upgrade:"), 400},

		// Item 4: Connection includes the token "Upgrade".
		{"item4 no Connection", mkReq(getChat, []string{"Connection"}), 400},
		{"item4 upgrade lowercase", mkReq(getChat, []string{"Connection"}, "Connection: upgrade"), 0},
		{"item4 list", mkReq(getChat, []string{"Connection"}, "Connection: keep-alive, Upgrade"), 0},
		{"item4 list no space", mkReq(getChat, []string{"Connection"}, "Connection: keep-alive,UPGRADE"), 0},
		{"item4 two lines", mkReq(getChat, []string{"Connection"}, "Connection: keep-alive", "Connection: Upgrade"), 0},
		{"item4 empty elements", mkReq(getChat, []string{"Connection"}, "Connection: ,, Upgrade ,"), 0},
		{"item4 keep-alive only", mkReq(getChat, []string{"Connection"}, "Connection: keep-alive"), 400},
		{"item4 Upgraded", mkReq(getChat, []string{"Connection"}, "Connection: Upgraded"), 400},
		{"item4 token inside another", mkReq(getChat, []string{"Connection"}, "Connection: x-upgrade"), 400},

		// Item 5: Sec-WebSocket-Key, base64 of 16 bytes, once (§11.3.1).
		{"item5 no key", mkReq(getChat, []string{"Sec-WebSocket-Key"}), 400},
		{"item5 two keys", mkReq(getChat, nil, "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA=="), 400},
		{"item5 rfc 4.1 example key", mkReq(getChat, []string{"Sec-WebSocket-Key"}, "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEC=="), 0},
		{"item5 15 bytes", mkReq(getChat, []string{"Sec-WebSocket-Key"}, "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4P"), 400},
		{"item5 17 bytes", mkReq(getChat, []string{"Sec-WebSocket-Key"}, "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEBE="), 400},
		{"item5 not base64", mkReq(getChat, []string{"Sec-WebSocket-Key"}, "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4P!A=="), 400},
		{"item5 url alphabet", mkReq(getChat, []string{"Sec-WebSocket-Key"}, "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4-_w=="), 400},
		{"item5 no padding", mkReq(getChat, []string{"Sec-WebSocket-Key"}, "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA"), 400},
		{"item5 empty", mkReq(getChat, []string{"Sec-WebSocket-Key"}, "Sec-WebSocket-Key:"), 400},
		{"item5 whitespace around", mkReq(getChat, []string{"Sec-WebSocket-Key"}, "Sec-WebSocket-Key:   AQIDBAUGBwgJCgsMDQ4PEA==  "), 0},

		// Item 6: Sec-WebSocket-Version 13, else 426 (§4.2.2, §4.4).
		{"item6 no version", mkReq(getChat, []string{"Sec-WebSocket-Version"}), 426},
		{"item6 version 8", mkReq(getChat, []string{"Sec-WebSocket-Version"}, "Sec-WebSocket-Version: 8"), 426},
		{"item6 version 25", mkReq(getChat, []string{"Sec-WebSocket-Version"}, "Sec-WebSocket-Version: 25"), 426},
		{"item6 version list", mkReq(getChat, []string{"Sec-WebSocket-Version"}, "Sec-WebSocket-Version: 13, 8"), 426},
		{"item6 version garbage", mkReq(getChat, []string{"Sec-WebSocket-Version"}, "Sec-WebSocket-Version: x"), 426},
		{"item6 version twice", mkReq(getChat, nil, "Sec-WebSocket-Version: 13"), 400},
		{"item6 spaces", mkReq(getChat, []string{"Sec-WebSocket-Version"}, "Sec-WebSocket-Version:  13 "), 0},

		// Item 7: Origin, optional, once.
		{"item7 origin", mkReq(getChat, nil, "Origin: http://server.example.com"), 0},
		{"item7 two origins", mkReq(getChat, nil, "Origin: http://a", "Origin: http://b"), 400},

		// Item 8 (§4.1 item 10): 1#token, unique.
		{"item8 protocols", mkReq(getChat, nil, "Sec-WebSocket-Protocol: chat, superchat"), 0},
		{"item8 two lines", mkReq(getChat, nil, "Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Protocol: superchat"), 0},
		{"item8 tab in list", mkReq(getChat, nil, "Sec-WebSocket-Protocol: chat,\tsuperchat"), 0},
		{"item8 empty elements", mkReq(getChat, nil, "Sec-WebSocket-Protocol: ,chat,,"), 0},
		{"item8 duplicate", mkReq(getChat, nil, "Sec-WebSocket-Protocol: chat, chat"), 400},
		{"item8 duplicate across lines", mkReq(getChat, nil, "Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Protocol: chat"), 400},
		{"item8 separator char", mkReq(getChat, nil, "Sec-WebSocket-Protocol: v1/chat"), 400},
		{"item8 inner space", mkReq(getChat, nil, "Sec-WebSocket-Protocol: my chat"), 400},
		{"item8 non-ASCII", mkReq(getChat, nil, "Sec-WebSocket-Protocol: ch\xc3\xa4t"), 400},

		// Item 9 (§9.1): extension grammar.
		{"item9 extensions", mkReq(getChat, nil, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"), 0},
		{"item9 malformed", mkReq(getChat, nil, "Sec-WebSocket-Extensions: permessage-deflate;;"), 400},
		{"item9 bad quoted", mkReq(getChat, nil, `Sec-WebSocket-Extensions: foo; a="b c"`), 400},

		// Item 10: other fields are ignored.
		{"item10 cookie", mkReq(getChat, nil, "Cookie: a=b", "X-Custom: \xff obs-text ok"), 0},

		// A body would be taken for frames.
		{"body content-length", mkReq(getChat, nil, "Content-Length: 5"), 400},
		{"body content-length 0", mkReq(getChat, nil, "Content-Length: 0"), 0},
		{"body chunked", mkReq(getChat, nil, "Transfer-Encoding: chunked"), 400},

		// HTTP/1.1 message syntax (RFC 7230 §3).
		{"syntax obs-fold", mkReq(getChat, nil, "X-A: b", " folded"), 400},
		{"syntax space before colon", mkReq(getChat, nil, "X-A : b"), 400},
		{"syntax no colon", mkReq(getChat, nil, "X-A b"), 400},
		{"syntax empty name", mkReq(getChat, nil, ": b"), 400},
		{"syntax NUL in value", mkReq(getChat, nil, "X-A: b\x00c"), 400},
		{"syntax CR in value", mkReq(getChat, nil, "X-A: b\rc"), 400},
		{"syntax DEL in value", mkReq(getChat, nil, "X-A: b\x7f"), 400},
		{"syntax non-token name", mkReq(getChat, nil, "X(A): b"), 400},
		{"syntax leading CRLF", "\r\n" + mkReq(getChat, nil), 0},
		{"syntax bare LF", strings.ReplaceAll(mkReq(getChat, nil), "\r\n", "\n"), 0},
		{"syntax truncated", strings.TrimSuffix(mkReq(getChat, nil), "\r\n"), 400},
		{"syntax truncated line", mkReq(getChat, nil)[:30], 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := readReq(tt.req, Limits{})
			if got := HTTPStatus(err); got != tt.status {
				t.Fatalf("status %d, want %d (err %v)", got, tt.status, err)
			}
			if tt.status == 0 {
				checkInvariants(t, req)
				return
			}
			var re *RequestError
			if !errors.As(err, &re) || re.Reason == "" || !strings.HasPrefix(err.Error(), "handshake: ") {
				t.Errorf("error %v: want a *RequestError with a reason", err)
			}
		})
	}
}

// checkInvariants asserts what every accepted request guarantees.
func checkInvariants(t *testing.T, req *Request) {
	t.Helper()
	if req == nil {
		t.Fatal("nil request without error")
	}
	if req.Method != "GET" || req.Version != 13 || req.Host == "" || req.URL == nil {
		t.Errorf("accepted %+v", req)
	}
	if major, minor, ok := parseProto(req.Proto); !ok || major != 1 || minor < 1 {
		t.Errorf("accepted proto %q", req.Proto)
	}
	if !validKey(req.Key) || len(AcceptKey(req.Key)) != 28 {
		t.Errorf("accepted key %q", req.Key)
	}
	if !tokenListContains(req.Header["Upgrade"], "websocket") || !tokenListContains(req.Header["Connection"], "Upgrade") {
		t.Errorf("accepted without Upgrade/Connection: %v", req.Header)
	}
	for i, p := range req.Protocols {
		if !isToken(p) || slices.Contains(req.Protocols[:i], p) {
			t.Errorf("accepted protocol list %q", req.Protocols)
		}
	}
	for _, e := range req.Extensions {
		if !isToken(e.Name) {
			t.Errorf("extension name %q", e.Name)
		}
		for _, p := range e.Params {
			if !isToken(p.Name) || (p.Value != "" && !isToken(p.Value)) {
				t.Errorf("extension param %+v", p)
			}
		}
	}
}

func TestReadRequest_ErrorHeaders_RFC6455_4_2_2(t *testing.T) {
	_, err := readReq(mkReq(getChat, []string{"Sec-WebSocket-Version"}, "Sec-WebSocket-Version: 8"), Limits{})
	var re *RequestError
	if !errors.As(err, &re) || re.Status != 426 || !slices.Equal(re.Header["Sec-WebSocket-Version"], []string{"13"}) {
		t.Fatalf("426 must carry Sec-WebSocket-Version: 13, got %#v", err)
	}
	_, err = readReq(mkReq("PUT /chat HTTP/1.1", nil), Limits{})
	if !errors.As(err, &re) || re.Status != 405 || !slices.Equal(re.Header["Allow"], []string{"GET"}) {
		t.Fatalf("405 must carry Allow: GET, got %#v", err)
	}
}

func TestReadRequest_InvalidRequestReturned(t *testing.T) {
	req, err := readReq(mkReq(getChat, []string{"Sec-WebSocket-Key"}), Limits{})
	if HTTPStatus(err) != 400 || req == nil || req.Target != "/chat" {
		t.Fatalf("a well-formed but invalid request is returned with its error: %v %v", req, err)
	}
	req, err = readReq("garbage\r\n\r\n", Limits{})
	if HTTPStatus(err) != 400 || req != nil {
		t.Fatalf("malformed: %v %v", req, err)
	}
}

func TestReadRequest_EOF(t *testing.T) {
	_, err := readReq("", Limits{})
	if !errors.Is(err, io.EOF) || HTTPStatus(err) != 0 {
		t.Fatalf("empty input: %v", err)
	}
	_, err = readReq("GET /chat HTTP/1.1\r\nHost: x\r\n", Limits{})
	if !errors.Is(err, io.ErrUnexpectedEOF) || HTTPStatus(err) != 400 {
		t.Fatalf("truncated input: %v", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestReadRequest_ReadErrorPassesThrough(t *testing.T) {
	boom := errors.New("boom")
	_, err := ReadRequest(bufio.NewReader(io.MultiReader(strings.NewReader("GET / HTTP/1.1\r\n"), errReader{boom})), Limits{})
	if !errors.Is(err, boom) || HTTPStatus(err) != 0 {
		t.Fatalf("got %v", err)
	}
}

func TestReadRequest_Limits(t *testing.T) {
	manyHeaders := func(n int) string {
		extra := make([]string, n)
		for i := range extra {
			extra[i] = "X-H: v"
		}
		return mkReq(getChat, nil, extra...)
	}
	base := len(baseHeaders)
	tests := []struct {
		name   string
		req    string
		lim    Limits
		bufSz  int
		status int
	}{
		{"100 headers ok", manyHeaders(DefaultMaxHeaders - base), Limits{}, 0, 0},
		{"101 headers", manyHeaders(DefaultMaxHeaders - base + 1), Limits{}, 0, 431},
		{"custom count", manyHeaders(5), Limits{MaxHeaders: base + 4}, 0, 431},
		{"unlimited count", manyHeaders(500), Limits{MaxHeaders: -1, MaxHeaderBytes: -1}, 0, 0},
		{"all unlimited", manyHeaders(500), Limits{MaxHeaders: -1, MaxHeaderBytes: -1, MaxLineBytes: -1}, 0, 0},
		{"8 KiB block", mkReq(getChat, nil, "X-Big: "+strings.Repeat("a", 8000)), Limits{}, 0, 0},
		{"block too large", mkReq(getChat, nil, "X-Big: "+strings.Repeat("a", 5000), "X-Big2: "+strings.Repeat("a", 5000)), Limits{}, 0, 431},
		{"line too long", mkReq(getChat, nil, "X-Big: "+strings.Repeat("a", 200)), Limits{MaxLineBytes: 100}, 0, 431},
		{"line at limit", mkReq(getChat, nil, "X-Big: "+strings.Repeat("a", 93)), Limits{MaxLineBytes: 100}, 0, 0},
		{"request line too long", mkReq("GET /"+strings.Repeat("a", 200)+" HTTP/1.1", nil), Limits{MaxLineBytes: 100}, 0, 414},
		{"request line too long default", mkReq("GET /"+strings.Repeat("a", 9000)+" HTTP/1.1", nil), Limits{}, 0, 414},
		{"tiny buffer long lines", mkReq(getChat, nil, "X-Big: "+strings.Repeat("a", 300)), Limits{}, 16, 0},
		{"tiny buffer too long", mkReq(getChat, nil, "X-Big: "+strings.Repeat("a", 300)), Limits{MaxLineBytes: 100}, 16, 431},
		{"tiny buffer block", mkReq(getChat, nil, "X-Big: "+strings.Repeat("a", 300)), Limits{MaxHeaderBytes: 200}, 16, 431},
		{"endless line", "GET /" + strings.Repeat("a", 1<<20), Limits{}, 0, 414},
		{"endless headers", "GET / HTTP/1.1\r\n" + strings.Repeat("X: y\r\n", 1<<16), Limits{MaxHeaders: -1}, 0, 431},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sz := tt.bufSz
			if sz == 0 {
				sz = 4096
			}
			req, err := ReadRequest(bufio.NewReaderSize(strings.NewReader(tt.req), sz), tt.lim)
			if got := HTTPStatus(err); got != tt.status {
				t.Fatalf("status %d, want %d (err %v)", got, tt.status, err)
			}
			if tt.status == 0 {
				checkInvariants(t, req)
			}
		})
	}
}

func TestNewRequestFromHeader_RFC6455_4_2_1(t *testing.T) {
	h := map[string][]string{
		"Upgrade":                {"websocket"},
		"Connection":             {"keep-alive, Upgrade"},
		"Sec-Websocket-Key":      {"dGhlIHNhbXBsZSBub25jZQ=="},
		"Sec-Websocket-Version":  {"13"},
		"Sec-Websocket-Protocol": {"chat"},
	}
	req, err := NewRequestFromHeader("GET", "/chat?x=1", "HTTP/1.1", "example.com", h)
	if err != nil {
		t.Fatal(err)
	}
	if req.Host != "example.com" || req.URL.RawQuery != "x=1" || !slices.Equal(req.Protocols, []string{"chat"}) {
		t.Errorf("%+v", req)
	}
	// Host from the header when not given; non-canonical keys are fixed in
	// a copy.
	h2 := map[string][]string{
		"host":                  {"example.org"},
		"upgrade":               {"websocket"},
		"CONNECTION":            {"Upgrade"},
		"sec-websocket-key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
		"Sec-WebSocket-Version": {"13"},
	}
	req, err = NewRequestFromHeader("GET", "/", "HTTP/1.1", "", h2)
	if err != nil {
		t.Fatal(err)
	}
	if req.Host != "example.org" || req.Key == "" {
		t.Errorf("%+v", req)
	}
	if _, ok := h2["Upgrade"]; ok {
		t.Error("caller's map was modified")
	}
	// The same validation runs.
	_, err = NewRequestFromHeader("POST", "/", "HTTP/1.1", "x", h)
	if HTTPStatus(err) != 405 {
		t.Errorf("POST: %v", err)
	}
	_, err = NewRequestFromHeader("GET", "/", "HTTP/1.0", "x", h)
	if HTTPStatus(err) != 505 {
		t.Errorf("HTTP/1.0: %v", err)
	}
	_, err = NewRequestFromHeader("GET", "/", "HTTP/1.1", "", h)
	if HTTPStatus(err) != 400 {
		t.Errorf("no host: %v", err)
	}
	_, err = NewRequestFromHeader("GET", "/", "HTTP/1.1", "x", nil)
	if HTTPStatus(err) != 400 {
		t.Errorf("nil header: %v", err)
	}
}

func TestSameOrigin_RFC6455_4_2_2_Origin(t *testing.T) {
	tests := []struct {
		origin, host string
		ok           bool
	}{
		{"", "example.com", true},
		{"http://example.com", "example.com", true},
		{"https://EXAMPLE.com", "example.com", true},
		{"http://example.com:8080", "example.com:8080", true},
		{"http://example.com:80", "example.com", true},
		{"https://example.com", "example.com:443", true},
		{"http://example.com", "example.com:8080", false},
		{"http://evil.com", "example.com", false},
		{"http://example.com.evil.com", "example.com", false},
		{"null", "example.com", false},
		{"://bad", "example.com", false},
	}
	for _, tt := range tests {
		if got := SameOrigin(&Request{Origin: tt.origin, Host: tt.host}); got != tt.ok {
			t.Errorf("SameOrigin(origin %q, host %q) = %v, want %v", tt.origin, tt.host, got, tt.ok)
		}
	}
}

func TestTokenListContains(t *testing.T) {
	tests := []struct {
		values []string
		want   bool
	}{
		{[]string{"Upgrade"}, true},
		{[]string{"upgrade"}, true},
		{[]string{"UPGRADE"}, true},
		{[]string{"keep-alive, Upgrade"}, true},
		{[]string{"keep-alive,Upgrade"}, true},
		{[]string{" \tUpgrade\t "}, true},
		{[]string{"keep-alive", "Upgrade"}, true},
		{[]string{"keep-alive", ""}, false},
		{[]string{"Up grade"}, false},
		{[]string{"Upgrade2"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := tokenListContains(tt.values, "upgrade"); got != tt.want {
			t.Errorf("tokenListContains(%q) = %v", tt.values, got)
		}
	}
}
