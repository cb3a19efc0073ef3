package handshake

import (
	"bufio"
	"errors"
	"fmt"
	"net/textproto"
	"net/url"
	"strings"
)

// Request is a client's opening handshake as a server sees it (RFC 6455
// §4.2.1). Method, Target, Proto, Host and Header are the HTTP request;
// the fields after them are decoded from Header by Validate.
//
// A Request can be built by hand (or by NewRequestFromHeader, for example
// from a net/http request) and passed to Upgrader.UpgradeRequest; it must
// then go through Validate first, as NewRequestFromHeader does.
//
// The same type holds the two opening handshakes, side by side:
//
//	RFC 6455 §4.1 (HTTP/1.1)            RFC 8441 §4-§5 (HTTP/2)
//	GET /chat HTTP/1.1                   :method = CONNECT
//	                                     :protocol = websocket
//	Host: server.example.com            :authority = server.example.com
//	                                     :scheme = https, :path = /chat
//	Upgrade: websocket                   (none: connection-specific fields
//	Connection: Upgrade                   are forbidden in HTTP/2)
//	Sec-WebSocket-Key: dGhl...           (none: :protocol replaces it)
//	Sec-WebSocket-Version: 13            sec-websocket-version = 13
//	Origin, Sec-WebSocket-Protocol,      the same fields, the same rules
//	Sec-WebSocket-Extensions
//
// HTTP2 tells them apart. net/http hands the pseudo-header :protocol to
// a handler as the header field ":protocol", which is where
// NewRequestFromHeader looks for it.
type Request struct {
	// Method is the request method; §4.2.1 item 1 requires GET, RFC 8441
	// §4 an extended CONNECT.
	Method string
	// Target is the request-target as sent: a /resource name/ such as
	// "/chat?room=1", or an absolute http(s) URI (RFC 6455 §4.1 item 3).
	// Over HTTP/2 it is the :path pseudo-header field (RFC 8441 §4).
	Target string
	// Proto is the HTTP version: "HTTP/1.1" or higher for RFC 6455,
	// "HTTP/2.0" for RFC 8441.
	Proto string
	// Host is the value of the Host header field (§4.2.1 item 2), or of
	// :authority over HTTP/2.
	Host string
	// Header holds all header fields under canonical keys
	// (textproto.CanonicalMIMEHeaderKey), each with its values in the order
	// received. ReadRequest keeps Host in it too. Over HTTP/2 it holds the
	// :protocol pseudo-header field under the key ":protocol", as net/http
	// passes it.
	Header textproto.MIMEHeader

	// HTTP2 reports an RFC 8441 request: an extended CONNECT on an HTTP/2
	// stream (Proto "HTTP/2.0", Method "CONNECT"). Validate sets it. Such
	// a request has no Key, and is accepted with a 200 response on its
	// stream instead of a 101 (Result.Status).
	HTTP2 bool
	// Protocol is the value of the :protocol pseudo-header field (RFC 8441
	// §4), "websocket" once Validate has accepted an HTTP/2 request; ""
	// over HTTP/1.1.
	Protocol string

	// URL is Target parsed.
	URL *url.URL
	// Key is the Sec-WebSocket-Key value (§4.2.1 item 5), whitespace
	// trimmed. Always "" over HTTP/2, where RFC 8441 §5 drops the key.
	Key string
	// Version is the Sec-WebSocket-Version value; always 13 once Validate
	// has succeeded (§4.2.1 item 6).
	Version int
	// Origin is the Origin header field value, or "" when absent (§4.2.1
	// item 7; its absence means a non-browser client).
	Origin string
	// Protocols are the subprotocols offered in Sec-WebSocket-Protocol, in
	// the client's order of preference (§4.2.1 item 8), or nil.
	Protocols []string
	// Extensions are the offers in Sec-WebSocket-Extensions, in order
	// (§4.2.1 item 9, §9.1), or nil.
	Extensions []Extension

	url url.URL // what URL points to: no allocation of its own
}

// ReadRequest reads an HTTP/1.1 request line and header block from br
// under the limits lim, then checks it against RFC 6455 §4.2.1 with
// Validate.
//
// It reads exactly the header block: bytes after it (there should be none
// before the server answers, §4.1) stay in br.
//
// Errors:
//   - io.EOF (wrapped) if the peer closed the connection before sending a
//     byte;
//   - a *RequestError carrying the HTTP status to answer: 400 for malformed
//     syntax, 414 for an over-long request line, 431 for too many or too
//     large header fields, and Validate's statuses for requests that are
//     well-formed HTTP but not a valid opening handshake. In the latter case
//     the parsed *Request is returned too, so a caller can still look at it;
//   - any other read error from br, wrapped (no response should be sent).
func ReadRequest(br *bufio.Reader, lim Limits) (*Request, error) {
	hr := headerReader{br: br, lim: lim.resolved()}
	var line []byte
	var err error
	for {
		line, err = hr.line(true)
		if err != nil {
			return nil, readErr(err)
		}
		// RFC 7230 §3.5: a server SHOULD ignore empty lines received before
		// the request-line.
		if len(line) > 0 {
			break
		}
	}
	// One string holds the request line; method, target and proto are
	// substrings of it.
	method, target, proto, ok := parseRequestLine(string(line))
	if !ok {
		return nil, readErr(&parseError{status: 400, msg: "malformed request line"})
	}
	b := getFieldBlock()
	defer b.put()
	if b.text, b.spans, err = hr.readBlock(b.text, b.spans); err != nil {
		return nil, readErr(err)
	}
	h := make(textproto.MIMEHeader, len(b.spans))
	addFields(h, string(b.text), b.spans)
	req := &Request{Method: method, Target: target, Proto: proto, Header: h}
	if hosts := h[hHost]; len(hosts) > 0 {
		req.Host = hosts[0]
	}
	if major, _, _ := parseProto(proto); major != 1 {
		// HTTP/2 has no request line (RFC 9113 §8.3): "HTTP/2.0" here is
		// a version this HTTP/1 parser does not speak. RFC 8441 requests
		// come through NewRequestFromHeader.
		return req, reqErr(505, "WebSocket over this connection needs HTTP/1.1, got %s", proto)
	}
	if err := req.Validate(); err != nil {
		return req, err
	}
	return req, nil
}

func readErr(err error) error {
	var pe *parseError
	if errors.As(err, &pe) {
		return &RequestError{Status: pe.status, Reason: pe.msg, Err: pe.err}
	}
	return fmt.Errorf("handshake: read request: %w", err)
}

// parseRequestLine splits "METHOD SP request-target SP HTTP-version"
// (RFC 7230 §3.1.1). It checks syntax only; Validate judges the values.
func parseRequestLine(line string) (method, target, proto string, ok bool) {
	m, rest, ok1 := strings.Cut(line, " ")
	t, p, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !isToken(m) || t == "" {
		return "", "", "", false
	}
	for i := range len(t) {
		if c := t[i]; c <= ' ' || c == 0x7f {
			return "", "", "", false
		}
	}
	if _, _, ok := parseProto(p); !ok {
		return "", "", "", false
	}
	return m, t, p, true
}

// parseProto parses "HTTP/" DIGIT "." DIGIT (RFC 7230 §2.6).
func parseProto(p string) (major, minor int, ok bool) {
	if len(p) != 8 || p[:5] != "HTTP/" || p[6] != '.' {
		return 0, 0, false
	}
	a, b := p[5], p[7]
	if a < '0' || a > '9' || b < '0' || b > '9' {
		return 0, 0, false
	}
	return int(a - '0'), int(b - '0'), true
}

// NewRequestFromHeader builds a Request from an already-parsed HTTP request
// (for example a *net/http.Request: method r.Method, target r.RequestURI,
// proto r.Proto, host r.Host, header r.Header) and runs Validate on it.
//
// host is the request's Host; when "" it is taken from header["Host"].
// header should use canonical keys, as net/http's does; if it does not, a
// canonicalized copy is made. The map is otherwise used as is, not copied.
//
// As with ReadRequest, a request that fails validation is returned along
// with its *RequestError.
func NewRequestFromHeader(method, target, proto, host string, header map[string][]string) (*Request, error) {
	h := textproto.MIMEHeader(header)
	for k := range h {
		if textproto.CanonicalMIMEHeaderKey(k) != k {
			h = make(textproto.MIMEHeader, len(header))
			for k, v := range header {
				ck := textproto.CanonicalMIMEHeaderKey(k)
				h[ck] = append(h[ck], v...)
			}
			break
		}
	}
	if h == nil {
		h = textproto.MIMEHeader{}
	}
	req := &Request{Method: method, Target: target, Proto: proto, Host: host, Header: h}
	if hosts := h[hHost]; req.Host == "" && len(hosts) > 0 {
		req.Host = hosts[0]
	}
	if err := req.Validate(); err != nil {
		return req, err
	}
	return req, nil
}

// Validate checks r against the server's reading rules of RFC 6455 §4.2.1,
// or for an HTTP/2 request those of RFC 8441 §4-§5, and fills the decoded
// fields (HTTP2, Protocol, URL, Key, Version, Origin, Protocols,
// Extensions). It returns a *RequestError naming the status to answer:
//
//   - 505 if Proto is neither HTTP/1.1 or later nor HTTP/2.0 (item 1);
//   - 405 (with "Allow: GET") if an HTTP/1 Method is not GET (item 1), or
//     (with "Allow: CONNECT") if an HTTP/2 Method is not CONNECT (RFC 8441
//     §4);
//   - 400 if Target is not a /resource name/ or absolute http(s)/ws(s) URI
//     (item 1) or has a fragment (§3: "MUST NOT be used"), if Host is missing or malformed (item 2), if Upgrade lacks
//     "websocket" (item 3) or Connection lacks "Upgrade" (item 4), both as
//     case-insensitive tokens in comma lists spread over any number of
//     lines, if Sec-WebSocket-Key is missing, repeated (§11.3.1) or not the
//     base64 of 16 bytes (item 5), if Sec-WebSocket-Protocol is not a list of
//     unique tokens (§4.1 item 10), if Sec-WebSocket-Extensions breaks the
//     §9.1 grammar, or if the request announces a body (Content-Length other
//     than 0, or Transfer-Encoding), whose bytes would otherwise be taken
//     for frames;
//   - over HTTP/2, 400 if the CONNECT has no :protocol (a plain CONNECT,
//     RFC 9113 §8.5, asks for a TCP tunnel, not a WebSocket) or has a
//     Content-Length, 501 if its :protocol is not "websocket" (RFC 8441
//     §5; RFC 9220 §3 asks for 501 there); Upgrade,
//     Connection and Sec-WebSocket-Key are not required, and a key that is
//     sent anyway is ignored (RFC 8441 §5: implementations "do not do the
//     processing of the Sec-WebSocket-Key and Sec-WebSocket-Accept" fields,
//     superseded by :protocol);
//   - 426 (with "Sec-WebSocket-Version: 13") if Sec-WebSocket-Version is
//     missing or is not 13 (item 6, §4.2.2 /version/, §4.4; over HTTP/2
//     too, since RFC 8441 §5 keeps the field and its meaning).
//
// The checks run in that order and the first failure is returned. Origin
// is decoded but not judged here: that is the Upgrader's CheckOrigin.
func (r *Request) Validate() error {
	if r.Header == nil {
		r.Header = textproto.MIMEHeader{}
	}
	h := r.Header
	r.HTTP2, r.Protocol = false, ""
	major, minor, ok := parseProto(r.Proto)
	if !ok {
		return reqErr(400, "malformed HTTP version %q", r.Proto)
	}
	switch {
	case major == 2 && minor == 0:
		if err := r.validateConnect(); err != nil {
			return err
		}
	case major != 1 || minor < 1:
		return reqErr(505, "WebSocket needs HTTP/1.1 or later, got %s", r.Proto)
	case r.Method != "GET":
		e := reqErr(405, "method %s not allowed, the opening handshake is a GET", r.Method)
		e.Header = map[string][]string{"Allow": {"GET"}}
		return e
	}
	if err := parseTarget(r.Target, &r.url); err != nil {
		return reqErr(400, "bad request-target %q: %v", r.Target, err)
	}
	r.URL = &r.url
	if len(h[hHost]) > 1 {
		return reqErr(400, "repeated Host header")
	}
	r.Host = trimOWS(r.Host)
	if r.Host == "" {
		return reqErr(400, "missing Host header")
	}
	if !validHost(r.Host) {
		return reqErr(400, "malformed Host header")
	}
	if r.HTTP2 {
		// RFC 9113 §8.2.2 forbids Upgrade and Connection in HTTP/2 (net/http
		// refuses a request that has them): :protocol took their place.
		// A Content-Length, even 0, would bound the stream that RFC 8441
		// §5 makes the WebSocket's byte stream.
		if len(h[hContentLength]) > 0 {
			return reqErr(400, "an RFC 8441 CONNECT must not have a Content-Length: its stream carries the WebSocket")
		}
	} else {
		if !tokenListContains(h[hUpgrade], "websocket") {
			return reqErr(400, `"Upgrade: websocket" header missing`)
		}
		if !tokenListContains(h[hConnection], "upgrade") {
			return reqErr(400, `"Connection: Upgrade" header missing`)
		}
		if cl := h[hContentLength]; len(cl) > 0 && (len(cl) > 1 || trimOWS(cl[0]) != "0") {
			return reqErr(400, "the opening handshake must not have a body")
		}
	}
	if len(h[hTransferEnc]) > 0 {
		return reqErr(400, "the opening handshake must not have a body")
	}

	switch vs := h[hVersion]; {
	case len(vs) == 0:
		return versionErr("missing Sec-WebSocket-Version header")
	case len(vs) > 1:
		return reqErr(400, "repeated Sec-WebSocket-Version header")
	case trimOWS(vs[0]) != "13":
		return versionErr(fmt.Sprintf("unsupported Sec-WebSocket-Version %q", trimOWS(vs[0])))
	}
	r.Version = 13

	switch ks := h[hKey]; {
	case r.HTTP2:
		// RFC 8441 §5: the key is not processed over HTTP/2; one sent
		// anyway is ignored, not refused, as a field the handshake does
		// not use.
		r.Key = ""
	case len(ks) == 0:
		return reqErr(400, "missing Sec-WebSocket-Key header")
	case len(ks) > 1:
		return reqErr(400, "repeated Sec-WebSocket-Key header")
	default:
		k := trimOWS(ks[0])
		if !validKey(k) {
			return reqErr(400, "Sec-WebSocket-Key is not the base64 of 16 bytes")
		}
		r.Key = k
	}

	switch os := h[hOrigin]; len(os) {
	case 0:
		r.Origin = ""
	case 1:
		r.Origin = trimOWS(os[0])
	default:
		return reqErr(400, "repeated Origin header")
	}

	protos, err := parseProtocols(h[hProtocol])
	if err != nil {
		return reqErr(400, "%v", err)
	}
	r.Protocols = protos

	exts, err := ParseExtensions(h[hExtensions])
	if err != nil {
		return reqErr(400, "%v", err)
	}
	r.Extensions = exts
	return nil
}

// validateConnect checks the method and :protocol of an HTTP/2 request
// (RFC 8441 §4-§5) and marks r as one.
func (r *Request) validateConnect() error {
	if r.Method != "CONNECT" {
		e := reqErr(405, "method %s not allowed: over HTTP/2 the opening handshake is an extended CONNECT with :protocol websocket (RFC 8441 §4)", r.Method)
		e.Header = map[string][]string{"Allow": {"CONNECT"}}
		return e
	}
	switch ps := r.Header[hPseudoProtocol]; {
	case len(ps) == 0:
		// CONNECT itself is allowed here, so not 405: what is wrong is
		// the missing pseudo-header field, which makes it a tunnel
		// request (RFC 9113 §8.5) instead of a WebSocket's.
		return reqErr(400, "a CONNECT without :protocol asks for a tunnel; a WebSocket over HTTP/2 is an extended CONNECT with :protocol websocket (RFC 8441 §4)")
	case len(ps) > 1:
		return reqErr(400, "repeated :protocol")
	case trimOWS(ps[0]) == "":
		return reqErr(400, "empty :protocol; a WebSocket over HTTP/2 is an extended CONNECT with :protocol websocket (RFC 8441 §4)")
	case !strings.EqualFold(trimOWS(ps[0]), "websocket"):
		// 501, as RFC 9220 §3 says for this very case ("an Extended
		// CONNECT request with a :protocol value that is unknown or is
		// not supported ... SHOULD respond ... with a 501 (Not
		// Implemented)"): it is written for HTTP/3, and gives extended
		// CONNECT the same semantics as in HTTP/2, where RFC 8441 is
		// silent. The upgrade token is matched ignoring ASCII case, as
		// Upgrade's is (item 3).
		return reqErr(501, ":protocol %q is not websocket: this endpoint serves WebSocket only (RFC 8441 §5, RFC 9220 §3)", trimOWS(ps[0]))
	default:
		r.HTTP2, r.Protocol = true, "websocket"
	}
	return nil
}

func versionErr(reason string) *RequestError {
	e := reqErr(426, "%s; this server speaks version 13", reason)
	e.Header = map[string][]string{"Sec-WebSocket-Version": {"13"}}
	return e
}

// parseTarget parses the request-target t into u. RFC 6455 §4.1 item 3
// allows two forms: the /resource name/ of §3 (an absolute path with an
// optional query: HTTP's origin-form), or an absolute http, https, ws or
// wss URI with a host. A fragment is refused in both: §3 says fragment
// identifiers "MUST NOT be used" on WebSocket URIs, and an HTTP
// request-target has none (RFC 7230 §5.3).
//
// The usual target, a path of plain characters with a query, is split
// here; anything else (escapes, an absolute URI) goes to
// url.ParseRequestURI. Both give the same URL (TestParseTarget_FastPath
// and FuzzParseTarget check it against url.ParseRequestURI).
func parseTarget(t string, u *url.URL) error {
	if t == "" || t == "*" {
		return errors.New("not a resource name")
	}
	if strings.IndexByte(t, '#') >= 0 {
		return errors.New("a fragment in the request-target")
	}
	if path, query, hasQuery := strings.Cut(t, "?"); plainPath(path) && !hasCTL(query) {
		*u = url.URL{Path: path, RawQuery: query, ForceQuery: hasQuery && query == ""}
		return nil
	}
	p, err := url.ParseRequestURI(t)
	if err != nil {
		return err
	}
	if p.Scheme == "" {
		if !strings.HasPrefix(t, "/") {
			return errors.New("not a resource name")
		}
		*u = *p
		return nil
	}
	switch strings.ToLower(p.Scheme) {
	case "http", "https", "ws", "wss":
	default:
		return errors.New("unexpected scheme")
	}
	if p.Host == "" {
		return errors.New("not a resource name")
	}
	*u = *p
	return nil
}

// plainPath reports whether path is an absolute path whose characters
// url.URL keeps as they are: unreserved ones and those sub-delimiters the
// path escaping leaves alone (RFC 3986 §3.3), no percent escapes. Such a
// path is its own URL.Path, with no RawPath.
func plainPath(path string) bool {
	if path == "" || path[0] != '/' {
		return false
	}
	for i := range len(path) {
		c := path[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~/$&+,:;=@", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// hasCTL reports whether s has an ASCII control character, which
// url.Parse refuses anywhere in a URL (the request line refuses them too,
// but a Request built by hand has not been through it).
func hasCTL(s string) bool {
	for i := range len(s) {
		if s[i] < ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// validHost checks the characters of a Host value: reg-name, IPv4, an
// IP-literal in brackets, and an optional port (RFC 3986 §3.2.2).
func validHost(h string) bool {
	for i := range len(h) {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~!$&'()*+,;=:[]%", c) >= 0:
		default:
			return false
		}
	}
	return h != ""
}

// parseProtocols parses Sec-WebSocket-Protocol values: 1#token with unique
// elements (RFC 6455 §4.1 item 10), spread over any number of lines
// (§11.3.4).
func parseProtocols(values []string) ([]string, error) {
	ps := splitList(values)
	for i, p := range ps {
		if !isToken(p) {
			return nil, fmt.Errorf("subprotocol %q is not a token", p)
		}
		for _, q := range ps[:i] {
			if p == q {
				return nil, fmt.Errorf("subprotocol %q offered twice", p)
			}
		}
	}
	return ps, nil
}
