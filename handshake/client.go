package handshake

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/ws6455/ws6455/frame"
)

// Response is a server's answer to a client's opening handshake.
type Response struct {
	// StatusLine is the status line as received, e.g.
	// "HTTP/1.1 101 Switching Protocols".
	StatusLine string
	// Proto is the HTTP version of the status line, e.g. "HTTP/1.1".
	Proto string
	// StatusCode is the status, 101 for an accepted handshake.
	StatusCode int
	// Header holds the header fields under canonical keys.
	Header textproto.MIMEHeader

	// Subprotocol is the subprotocol in use (RFC 6455 §4.1, _Subprotocol In
	// Use_), or "". Set by ClientHandshake.Verify.
	Subprotocol string
	// Extensions are the extensions in use (_Extensions In Use_), as the
	// server listed them. Set by ClientHandshake.Verify.
	Extensions []Extension
	// Deflate are the permessage-deflate parameters in force, or nil. Set by
	// ClientHandshake.Verify.
	Deflate *frame.DeflateParams

	// Body is the start of the body of a non-101 response, as the server
	// sent it (not decoded beyond chunked transfer coding, not checked for
	// UTF-8): at most MaxErrorBody bytes, read within the handshake's
	// deadline. The body's end is found as HTTP/1.1 says (RFC 7230
	// §3.3.3): Content-Length, chunked transfer coding, or the server
	// closing the connection. Always nil for a 101, whose header block is
	// followed by WebSocket frames.
	Body []byte
	// BodyTruncated reports that Body is not the whole body: it was longer
	// than MaxErrorBody, or did not arrive whole before the deadline or
	// the connection's end.
	BodyTruncated bool
}

// MaxErrorBody bounds the bytes of a non-101 response's body that the
// Dialer keeps in Response.Body, for error messages.
const MaxErrorBody = 4 << 10

// ReadResponse reads an HTTP/1.1 status line and header block from br under
// lim. It reads nothing past the header block: after a 101 the bytes that
// follow are WebSocket frames.
func ReadResponse(br *bufio.Reader, lim Limits) (*Response, error) {
	hr := headerReader{br: br, lim: lim.resolved()}
	line, err := hr.line(false)
	if err != nil {
		return nil, respErr(err)
	}
	resp := &Response{StatusLine: string(line)}
	// status-line = HTTP-version SP status-code SP reason-phrase
	// (RFC 7230 §3.1.2); a missing reason phrase is tolerated.
	if len(line) < 12 || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return nil, fmt.Errorf("handshake: malformed status line %q", line)
	}
	if _, _, ok := parseProto(string(line[:8])); !ok {
		return nil, fmt.Errorf("handshake: malformed status line %q", line)
	}
	resp.Proto = string(line[:8])
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return nil, fmt.Errorf("handshake: malformed status line %q", line)
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return nil, fmt.Errorf("handshake: malformed status line %q", line)
	}
	resp.StatusCode = code
	resp.Header = make(textproto.MIMEHeader, 8)
	if err := hr.readFields(resp.Header); err != nil {
		return nil, respErr(err)
	}
	return resp, nil
}

func respErr(err error) error {
	var pe *parseError
	if errors.As(err, &pe) {
		return fmt.Errorf("handshake: read response: %s: %w", pe.msg, ErrBadResponse)
	}
	return fmt.Errorf("handshake: read response: %w", err)
}

// ClientHandshake is the client's side of the opening handshake (RFC 6455
// §4.1) without I/O: it builds the request and checks the response. The
// Dialer uses it; it is exported for callers that run their own transport.
type ClientHandshake struct {
	// URL is the ws:// or wss:// URI (RFC 6455 §3).
	URL *url.URL
	// Key is the Sec-WebSocket-Key; NewKey makes a fresh one, and each
	// connection MUST have its own (§4.1 item 7).
	Key string
	// Protocols are the subprotocols offered, most preferred first.
	Protocols []string
	// Compression, if not nil, offers permessage-deflate. It is shorthand
	// for a CompressionOffers of one element; setting both is an error.
	Compression *DeflateOffer
	// CompressionOffers are permessage-deflate offers, most preferred
	// first, sent as the elements of one Sec-WebSocket-Extensions field
	// (RFC 7692 §5: "The order of elements is important as it specifies
	// the client's preference"), e.g. one asking for a small server window
	// followed by a plain one to fall back on. The server accepts at most
	// one; Verify takes its answer if it is a valid acceptance of any of
	// them (see DeflateOffer.Accept) and sets Response.Deflate to that
	// offer's parameters. An answer can fit several offers without saying
	// which was taken: our compressor then keeps the promises of each
	// (client_no_context_takeover, the smallest client_max_window_bits).
	// Empty means no offer, unless Compression is set.
	CompressionOffers []DeflateOffer
	// Header holds extra request header fields, such as Origin (§4.1 item
	// 8), Cookie or Authorization. A single Host value overrides the one
	// derived from URL. Header may not set Upgrade, Connection or any
	// Sec-WebSocket-* field.
	Header map[string][]string
}

// checkURL applies RFC 6455 §3 to a WebSocket URI: scheme ws or wss, a
// host, no fragment; and refuses userinfo, which the ws-URI grammar does
// not have (send an Authorization header instead).
func checkURL(u *url.URL) error {
	if u == nil {
		return errors.New("handshake: no URL")
	}
	switch u.Scheme {
	case "ws", "wss":
	default:
		return fmt.Errorf("handshake: URL scheme %q is not ws or wss", u.Scheme)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return fmt.Errorf("handshake: URL %q has no host", u.Redacted())
	}
	if u.Fragment != "" || u.RawFragment != "" {
		return errors.New("handshake: a WebSocket URI must not have a fragment (RFC 6455 §3)")
	}
	if u.User != nil {
		return errors.New("handshake: a WebSocket URI has no userinfo; set an Authorization header instead")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return fmt.Errorf("handshake: bad port %q", p)
		}
	}
	return nil
}

// hostHeader is /host/ plus ":" /port/ only when the port is not the
// scheme's default (RFC 6455 §4.1 item 4).
func hostHeader(u *url.URL) string {
	host, port := u.Hostname(), u.Port()
	if (u.Scheme == "ws" && port == "80") || (u.Scheme == "wss" && port == "443") {
		port = ""
	}
	if strings.IndexByte(host, ':') >= 0 {
		host = "[" + host + "]"
	}
	if port != "" {
		return host + ":" + port
	}
	return host
}

// hostPort is the address to connect to: host and port, the scheme's
// default port filled in.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "wss" || u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// check validates the parts of the request that HTTP/1.1 and HTTP/2
// share (the URL, the subprotocol and extension offers, the extra header
// fields) and returns the Host (or :authority) value and the extra fields
// under canonical names.
func (c *ClientHandshake) check() (host string, extra map[string][]string, err error) {
	if err := checkURL(c.URL); err != nil {
		return "", nil, err
	}
	for i, p := range c.Protocols {
		if !isToken(p) || slices.Contains(c.Protocols[:i], p) {
			return "", nil, fmt.Errorf("handshake: subprotocol %q is not a unique token (RFC 6455 §4.1 item 10)", p)
		}
	}
	if c.Compression != nil && len(c.CompressionOffers) > 0 {
		return "", nil, errors.New("handshake: both Compression and CompressionOffers are set")
	}
	for _, o := range c.deflateOffers() {
		if err := o.Validate(); err != nil {
			return "", nil, err
		}
	}
	host = hostHeader(c.URL)
	extra = make(map[string][]string, len(c.Header))
	for k, vs := range c.Header {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if !isToken(k) {
			return "", nil, fmt.Errorf("handshake: invalid header name %q", k)
		}
		for _, v := range vs {
			if !validFieldValueString(v) {
				return "", nil, fmt.Errorf("handshake: invalid value for header %q", k)
			}
		}
		switch {
		case ck == hHost:
			if len(vs) != 1 || vs[0] == "" {
				return "", nil, errors.New("handshake: Header[\"Host\"] must have one value")
			}
			host = vs[0]
			continue
		case ck == hUpgrade, ck == hConnection, ck == hContentLength, ck == hTransferEnc,
			strings.HasPrefix(ck, "Sec-Websocket-"):
			return "", nil, fmt.Errorf("handshake: Header may not set %q", k)
		}
		if len(vs) > 0 {
			extra[ck] = vs
		}
	}

	return host, extra, nil
}

// deflateOffers returns the permessage-deflate offers: Compression as a
// list of one, or CompressionOffers.
func (c *ClientHandshake) deflateOffers() []DeflateOffer {
	if c.Compression != nil {
		return []DeflateOffer{*c.Compression}
	}
	return c.CompressionOffers
}

// AppendRequest appends the client's opening handshake (RFC 6455 §4.1) to
// dst: "GET /resource-name HTTP/1.1", Host, "Upgrade: websocket",
// "Connection: Upgrade", Sec-WebSocket-Key, "Sec-WebSocket-Version: 13",
// the Sec-WebSocket-Protocol and Sec-WebSocket-Extensions offers if any,
// then Header's fields sorted by name.
func (c *ClientHandshake) AppendRequest(dst []byte) ([]byte, error) {
	host, extra, err := c.check()
	if err != nil {
		return dst, err
	}
	if !validKey(c.Key) {
		return dst, errors.New("handshake: Sec-WebSocket-Key is not the base64 of 16 bytes")
	}

	uri := c.URL.RequestURI()
	dst = append(dst, "GET "...)
	dst = append(dst, uri...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "...)
	dst = append(dst, c.Key...)
	dst = append(dst, "\r\nSec-WebSocket-Version: 13\r\n"...)
	if len(c.Protocols) > 0 {
		dst = append(dst, "Sec-WebSocket-Protocol: "...)
		dst = append(dst, strings.Join(c.Protocols, ", ")...)
		dst = append(dst, "\r\n"...)
	}
	if offers := c.deflateOffers(); len(offers) > 0 {
		dst = append(dst, "Sec-WebSocket-Extensions: "...)
		dst = appendOffers(dst, offers)
		dst = append(dst, "\r\n"...)
	}
	return appendHeaderBlock(dst, extra, nil), nil
}

// Verify checks the server's response (RFC 6455 §4.1, "The client MUST
// validate the server's response as follows") and, when it is good, fills
// resp.Subprotocol, resp.Extensions and resp.Deflate.
//
// A status other than 101 yields a *StatusError (3xx ones name the
// Location: redirects are not followed). A 101 that breaks a rule yields
// an error wrapping ErrBadResponse: Upgrade not "websocket" (step 2),
// Connection without "Upgrade" (step 3), Sec-WebSocket-Accept missing,
// repeated or wrong (step 4, §11.3.3), an extension we did not offer,
// permessage-deflate accepted twice, or permessage-deflate parameters that
// are not a legal answer to any of our offers (step 5, RFC 7692 §5), a
// subprotocol we did not offer (step 6), or a
// Sec-WebSocket-Extensions or Sec-WebSocket-Protocol header repeated
// (§11.3.2, §11.3.4).
func (c *ClientHandshake) Verify(resp *Response) error {
	if resp.StatusCode != 101 {
		return &StatusError{
			StatusLine: resp.StatusLine,
			StatusCode: resp.StatusCode,
			Location:   resp.Header.Get(hLocation),
			Response:   resp,
		}
	}
	h := resp.Header
	if up := splitList(h[hUpgrade]); len(up) != 1 || !strings.EqualFold(up[0], "websocket") {
		return badResponse("Upgrade header is %q, want \"websocket\"", strings.Join(h[hUpgrade], ", "))
	}
	if !tokenListContains(h[hConnection], "upgrade") {
		return badResponse("Connection header %q lacks \"Upgrade\"", strings.Join(h[hConnection], ", "))
	}
	switch acc := h[hAccept]; {
	case len(acc) == 0:
		return badResponse("missing Sec-WebSocket-Accept")
	case len(acc) > 1:
		return badResponse("repeated Sec-WebSocket-Accept")
	case trimOWS(acc[0]) != AcceptKey(c.Key):
		return badResponse("Sec-WebSocket-Accept %q does not match the key", acc[0])
	}
	return c.verifyNegotiation(resp)
}

// verifyNegotiation checks the server's choice of extensions and
// subprotocol (RFC 6455 §4.1 steps 5 and 6, RFC 7692 §5), which HTTP/1.1
// and HTTP/2 (RFC 8441 §5) share, and fills resp.Subprotocol,
// resp.Extensions and resp.Deflate.
func (c *ClientHandshake) verifyNegotiation(resp *Response) error {
	h := resp.Header
	var deflate *frame.DeflateParams
	exts := h[hExtensions]
	if len(exts) > 1 {
		return badResponse("repeated Sec-WebSocket-Extensions")
	}
	parsed, err := ParseExtensions(exts)
	if err != nil {
		return badResponse("%v", err)
	}
	offers := c.deflateOffers()
	for _, e := range parsed {
		if !strings.EqualFold(e.Name, DeflateExtension) || len(offers) == 0 {
			return badResponse("server accepted extension %q, which was not offered", e.Name)
		}
		if deflate != nil {
			// RFC 7692 §5: the server accepts at most one offer.
			return badResponse("server listed %s twice", DeflateExtension)
		}
		deflate, err = acceptOffers(offers, e)
		if err != nil {
			return badResponse("%v", err)
		}
	}

	var proto string
	switch ps := h[hProtocol]; {
	case len(ps) > 1:
		return badResponse("repeated Sec-WebSocket-Protocol")
	case len(ps) == 1:
		proto = trimOWS(ps[0])
		if !slices.Contains(c.Protocols, proto) {
			return badResponse("server chose subprotocol %q, which was not offered", proto)
		}
	}

	resp.Subprotocol = proto
	resp.Extensions = parsed
	resp.Deflate = deflate
	return nil
}

// readErrorBody reads the start of a non-101 response's body into
// resp.Body, at most MaxErrorBody bytes, finding its length as RFC 7230
// §3.3.3 says: none for 1xx, 204 and 304; chunked when the last transfer
// coding is chunked; otherwise until the connection closes when there is
// a Transfer-Encoding or no Content-Length; else Content-Length bytes (an
// invalid Content-Length makes the length unknown: nothing is read). Read
// errors, the deadline's among them, end the body early: it only
// decorates the error, and what arrived is kept.
func readErrorBody(br *bufio.Reader, resp *Response) {
	code := resp.StatusCode
	if code < 200 || code == 204 || code == 304 {
		return
	}
	var body []byte
	complete := false
	switch te := splitList(resp.Header[hTransferEnc]); {
	case len(te) > 0 && strings.EqualFold(te[len(te)-1], "chunked"):
		body, complete = readChunked(br, MaxErrorBody)
	case len(te) > 0:
		body, complete = readUntilClose(br, MaxErrorBody)
	default:
		cl := resp.Header[hContentLength]
		if len(cl) == 0 {
			body, complete = readUntilClose(br, MaxErrorBody)
			break
		}
		n, ok := contentLength(cl)
		if !ok {
			resp.BodyTruncated = true // the length is unknown; nothing read
			return
		}
		buf := make([]byte, min(n, MaxErrorBody))
		k, _ := io.ReadFull(br, buf)
		body, complete = buf[:k], int64(k) == n
	}
	if len(body) > 0 {
		resp.Body = body
	}
	resp.BodyTruncated = !complete
}

// contentLength parses Content-Length values (RFC 7230 §3.3.2): digits
// only; repeated values, or a comma-separated list, must all agree.
func contentLength(values []string) (int64, bool) {
	n := int64(-1)
	for _, v := range values {
		for elem := range strings.SplitSeq(v, ",") {
			elem = trimOWS(elem)
			if elem == "" || strings.TrimLeft(elem, "0123456789") != "" {
				return 0, false
			}
			m, err := strconv.ParseInt(elem, 10, 64)
			if err != nil || (n >= 0 && m != n) {
				return 0, false
			}
			n = m
		}
	}
	return n, n >= 0
}

// readUntilClose reads until EOF, keeping at most limit bytes; complete
// says that EOF came before more than limit bytes did.
func readUntilClose(br *bufio.Reader, limit int) (body []byte, complete bool) {
	buf := make([]byte, limit+1)
	k, err := io.ReadFull(br, buf)
	if k > limit {
		return buf[:limit], false
	}
	return buf[:k], errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// readChunked decodes the chunked transfer coding (RFC 7230 §4.1) by
// hand, keeping at most limit bytes of data: chunk-size in hex, optional
// chunk extensions after ";", CRLF, the data, CRLF; a zero size ends the
// body (the trailer is not read). complete says the last chunk was seen.
// A malformed chunk ends the body where it is.
func readChunked(br *bufio.Reader, limit int) (body []byte, complete bool) {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return body, false
		}
		sizeStr, _, _ := strings.Cut(string(line), ";")
		sizeStr = trimOWS(strings.TrimRight(sizeStr, "\r\n"))
		size, err := strconv.ParseUint(sizeStr, 16, 63)
		if err != nil || sizeStr == "" {
			return body, false
		}
		if size == 0 {
			return body, true
		}
		room := limit - len(body)
		take := int(min(size, uint64(room)))
		start := len(body)
		body = append(body, make([]byte, take)...)
		k, err := io.ReadFull(br, body[start:])
		body = body[:start+k]
		if err != nil || uint64(take) < size {
			return body, false
		}
		if crlf, err := br.ReadSlice('\n'); err != nil || trimOWS(strings.TrimRight(string(crlf), "\r\n")) != "" {
			return body, false
		}
	}
}
