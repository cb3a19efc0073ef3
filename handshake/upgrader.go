package handshake

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/ws6455/ws6455/frame"
)

// Upgrader runs the server's side of the opening handshake (RFC 6455
// §4.2). Its zero value accepts same-origin (or Origin-less) clients with no
// subprotocol and no compression. An Upgrader is safe for concurrent use if
// its fields are not changed.
type Upgrader struct {
	// Limits bound the request's header block; zero fields take the
	// defaults (8 KiB, 100 header lines).
	Limits Limits

	// CheckOrigin decides whether to accept the request's Origin (RFC 6455
	// §4.2.2 step 4, §10.2); false answers 403 Forbidden. nil means
	// SameOrigin.
	CheckOrigin func(r *Request) bool

	// Protocols are the subprotocols the server speaks, in the server's
	// order of preference: the first of them that the client offered is
	// chosen (§4.2.2 /subprotocol/). Ignored when SelectProtocol is set.
	Protocols []string
	// SelectProtocol, if set, chooses the subprotocol: it returns one of
	// r.Protocols, or "" for none. Any other answer fails the handshake
	// with 500, since §4.2.2 forbids answering with a protocol the client
	// did not offer.
	SelectProtocol func(r *Request) string

	// Compression is the permessage-deflate policy (RFC 7692). The zero
	// value declines every offer; DefaultDeflateConfig() accepts them
	// without context takeover, so that idle connections hold no
	// compression state (see CompressionMode for the trade-off).
	Compression DeflateConfig

	// ExtraHeaders are added to the 101 response (for example Set-Cookie).
	// They may not name Upgrade, Connection or a Sec-WebSocket-* field, and
	// values may not contain CR or LF: such a configuration fails every
	// handshake with 500.
	ExtraHeaders map[string][]string
}

// Result is an accepted handshake.
type Result struct {
	// Request is the client's handshake.
	Request *Request
	// Subprotocol is the subprotocol agreed, or "" for none.
	Subprotocol string
	// Deflate are the permessage-deflate parameters agreed, or nil when the
	// extension is not in use. Pass it to frame.Config.Deflate.
	Deflate *frame.DeflateParams
	// ResponseHeader are the header fields of the 101 response (or of
	// the 200 on an HTTP/2 stream, see Status), under canonical keys.
	ResponseHeader textproto.MIMEHeader
}

// SameOrigin is the default origin policy: a request without an Origin
// header (not a browser, §4.2.1 item 7) is accepted; otherwise the host of
// the Origin must equal the Host header, ignoring ASCII case and the
// default port of the origin's scheme. "null" and unparsable origins are
// refused.
func SameOrigin(r *Request) bool {
	if r.Origin == "" {
		return true
	}
	scheme, host, ok := originHost(r.Origin)
	if !ok {
		return false
	}
	defPort := ""
	switch strings.ToLower(scheme) {
	case "http", "ws":
		defPort = ":80"
	case "https", "wss":
		defPort = ":443"
	}
	strip := func(h string) string {
		if defPort != "" && strings.HasSuffix(h, defPort) {
			return h[:len(h)-len(defPort)]
		}
		return h
	}
	return strings.EqualFold(strip(host), strip(r.Host))
}

// originHost returns the scheme and host (with its port, if any) of an
// Origin value, as url.Parse finds them; ok is false if url.Parse fails or
// finds no host ("null", RFC 6454 §7.3). A browser's origin, scheme "://"
// host [":" port] with a plain host name or IPv4 address (RFC 6454 §6.2),
// is split here without url.Parse's allocation (FuzzOriginHost checks
// that both agree).
func originHost(origin string) (scheme, host string, ok bool) {
	if s, h, found := strings.Cut(origin, "://"); found && isLetters(s) && plainHostPort(h) {
		return s, h, true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return "", "", false
	}
	return u.Scheme, u.Host, true
}

func isLetters(s string) bool {
	for i := range len(s) {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return s != ""
}

// plainHostPort reports whether hp is a host name or IPv4 address
// (letters, digits, dots, hyphens) with an optional port of one or more
// digits.
func plainHostPort(hp string) bool {
	h, port, hasPort := strings.Cut(hp, ":")
	if h == "" || (hasPort && port == "") {
		return false
	}
	for i := range len(h) {
		if c := h[i]; !('a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	for i := range len(port) {
		if c := port[i]; c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Upgrade reads the client's opening handshake from br, checks it (RFC 6455
// §4.2.1) and negotiates (Negotiate), then writes the server's handshake to
// w: the 101 response of §4.2.2 step 5, or an HTTP error response with a
// short text/plain body, Content-Length and "Connection: close".
//
// On success the WebSocket connection is OPEN: frames from the client may
// already sit in br (pass br's buffered bytes to frame.NewConn). On failure
// the error is returned after the error response was written (if the
// failure was the request's; network errors write nothing), and the caller
// should close the connection.
//
// Upgrade sets no deadlines: the caller bounds the handshake's time on the
// connection.
func (u *Upgrader) Upgrade(br *bufio.Reader, w io.Writer) (*Result, error) {
	req, err := ReadRequest(br, u.Limits)
	if err != nil {
		if HTTPStatus(err) != 0 {
			writeRequestError(w, err)
		}
		return nil, err
	}
	return u.UpgradeRequest(req, w)
}

// UpgradeRequest is Upgrade for a request that has already been read and
// validated (by ReadRequest, NewRequestFromHeader or Request.Validate). It
// negotiates and writes the 101 response, or an error response.
//
// It writes HTTP/1.1: an RFC 8441 request (req.HTTP2) is answered on its
// HTTP/2 stream instead (server.Server.ServeHTTP does that), so for one
// UpgradeRequest writes a 500 and returns its error.
func (u *Upgrader) UpgradeRequest(req *Request, w io.Writer) (*Result, error) {
	if req.HTTP2 {
		err := reqErr(500, "an HTTP/2 request is answered on its stream, not with an HTTP/1.1 response")
		writeRequestError(w, err)
		return nil, err
	}
	res, err := u.Negotiate(req)
	if err != nil {
		writeRequestError(w, err)
		return nil, err
	}
	bp := responseBufPool.Get().(*[]byte)
	*bp = res.AppendResponse((*bp)[:0])
	_, err = w.Write(*bp)
	if cap(*bp) <= maxPooledResponse {
		responseBufPool.Put(bp)
	}
	if err != nil {
		return nil, fmt.Errorf("handshake: write response: %w", err)
	}
	return res, nil
}

// responseBufPool holds the buffers the 101 responses are formatted in
// (about 130 bytes, more with a subprotocol, an extension or
// ExtraHeaders); larger than maxPooledResponse, one is left to the
// garbage collector.
var responseBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

const maxPooledResponse = 4 << 10

func writeRequestError(w io.Writer, err error) {
	var re *RequestError
	if errors.As(err, &re) {
		re.WriteResponse(w)
		return
	}
	WriteErrorResponse(w, 500, nil, "internal error")
}

// Negotiate decides the server's answer to a validated request without any
// I/O: it checks the origin (403 if refused), chooses the subprotocol,
// negotiates permessage-deflate (RFC 7692) and builds the response header.
// Errors are *RequestError values (403, or 500 for a bad configuration).
//
// HTTP/1.1 and HTTP/2 requests go through the same checks and choices
// (RFC 8441 §5 keeps Origin, Sec-WebSocket-Protocol and
// Sec-WebSocket-Extensions as RFC 6455 has them); only the response header
// differs. For HTTP/1.1 it is that of the 101 (Upgrade, Connection,
// Sec-WebSocket-Accept and the negotiated fields); for HTTP/2 (req.HTTP2)
// it has the negotiated fields only, to go with a 200 (Result.Status):
// RFC 8441 §5 drops Sec-WebSocket-Accept, and RFC 9113 §8.2.2 forbids the
// connection-specific Upgrade and Connection.
func (u *Upgrader) Negotiate(req *Request) (*Result, error) {
	if (req.Key == "" && !req.HTTP2) || req.Version != 13 {
		return nil, reqErr(500, "request not validated")
	}
	check := u.CheckOrigin
	if check == nil {
		check = SameOrigin
	}
	if !check(req) {
		return nil, reqErr(403, "origin %q not allowed", req.Origin)
	}
	// One allocation holds the Result and the values of the response
	// fields the handshake sets: each is a one-element slice of vals.
	a := new(struct {
		res  Result
		vals [5]string
	})
	res := &a.res
	res.Request = req
	if u.SelectProtocol != nil {
		p := u.SelectProtocol(req)
		if p != "" && !slices.Contains(req.Protocols, p) {
			return nil, reqErr(500, "selected subprotocol %q was not offered", p)
		}
		res.Subprotocol = p
	} else {
		for _, p := range u.Protocols {
			if slices.Contains(req.Protocols, p) {
				res.Subprotocol = p
				break
			}
		}
	}
	if err := u.Compression.validate(); err != nil {
		return nil, reqErr(500, "%v", err)
	}
	var ext Extension
	if resp, params, ok := NegotiateDeflate(req.Extensions, u.Compression); ok {
		ext, res.Deflate = resp, params
	}

	h := make(textproto.MIMEHeader, 5+len(u.ExtraHeaders))
	field := func(i int, k, v string) {
		a.vals[i] = v
		h[k] = a.vals[i : i+1 : i+1] // full slice: an append copies
	}
	if !req.HTTP2 {
		// RFC 6455 §4.2.2 step 5: the 101's Upgrade, Connection and
		// Sec-WebSocket-Accept fields.
		field(0, hUpgrade, "websocket")
		field(1, hConnection, "Upgrade")
		field(2, hAccept, AcceptKey(req.Key))
	}
	if res.Subprotocol != "" {
		field(3, hProtocol, res.Subprotocol)
	}
	if res.Deflate != nil {
		field(4, hExtensions, ext.String())
	}
	for k, vs := range u.ExtraHeaders {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if !isToken(k) || reservedResponseHeader(ck) {
			return nil, reqErr(500, "ExtraHeaders may not set %q", k)
		}
		for _, v := range vs {
			if !validFieldValueString(v) {
				return nil, reqErr(500, "ExtraHeaders[%q] has an invalid value", k)
			}
			h[ck] = append(h[ck], v)
		}
	}
	res.ResponseHeader = h
	return res, nil
}

// Status is the status code that accepts the handshake: 101 Switching
// Protocols on HTTP/1.1 (RFC 6455 §4.2.2), 200 on an HTTP/2 stream (RFC
// 8441 §5: "a 2xx response"; HTTP/2 has no 101, RFC 9113 §8.6).
func (r *Result) Status() int {
	if r.Request != nil && r.Request.HTTP2 {
		return 200
	}
	return 101
}

// AddResponseHeader adds header fields to the 101 response, as
// Upgrader.ExtraHeaders does: for example those a net/http handler set on
// its ResponseWriter before upgrading (a Set-Cookie). The fields of the
// handshake itself (Upgrade, Connection, Sec-WebSocket-*) and of a body
// (Content-Length, Transfer-Encoding) may not be set this way: a *RequestError
// with status 500 says which. Values must be valid field values (no CR or
// LF).
func (r *Result) AddResponseHeader(header map[string][]string) error {
	for k, vs := range header {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if !isToken(k) || reservedResponseHeader(ck) {
			return reqErr(500, "the 101 response may not set %q (the handshake sets it)", k)
		}
		for _, v := range vs {
			if !validFieldValueString(v) {
				return reqErr(500, "response header %q has an invalid value", k)
			}
			r.ResponseHeader[ck] = append(r.ResponseHeader[ck], v)
		}
	}
	return nil
}

func reservedResponseHeader(ck string) bool {
	switch ck {
	case hUpgrade, hConnection, hContentLength, hTransferEnc:
		return true
	}
	return strings.HasPrefix(ck, "Sec-Websocket-")
}

// wireName spells the handshake's header fields as RFC 6455 does.
func wireName(ck string) string {
	switch ck {
	case hAccept:
		return "Sec-WebSocket-Accept"
	case hProtocol:
		return "Sec-WebSocket-Protocol"
	case hExtensions:
		return "Sec-WebSocket-Extensions"
	case hVersion:
		return "Sec-WebSocket-Version"
	case hKey:
		return "Sec-WebSocket-Key"
	}
	return ck
}

// AppendResponse appends the 101 response of RFC 6455 §4.2.2 step 5 to dst:
// the status line, then Upgrade, Connection, Sec-WebSocket-Accept,
// Sec-WebSocket-Protocol and Sec-WebSocket-Extensions (each once, as
// §11.3 requires) and the other fields of ResponseHeader sorted by name.
// It is HTTP/1.1 only: an HTTP/2 result is sent as Status and
// ResponseHeader on the request's stream.
func (r *Result) AppendResponse(dst []byte) []byte {
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\n"...)
	return appendHeaderBlock(dst, r.ResponseHeader, responseFieldsFirst[:])
}

// responseFieldsFirst are the 101's fields of RFC 6455 §4.2.2 step 5, in
// the order AppendResponse writes them.
var responseFieldsFirst = [...]string{hUpgrade, hConnection, hAccept, hProtocol, hExtensions}

// appendHeaderBlock writes h's fields, those in first first and in that
// order, the rest sorted, then the empty line.
func appendHeaderBlock(dst []byte, h map[string][]string, first []string) []byte {
	field := func(k string) {
		for _, v := range h[k] {
			dst = append(dst, wireName(k)...)
			dst = append(dst, ": "...)
			dst = append(dst, v...)
			dst = append(dst, "\r\n"...)
		}
	}
	for _, k := range first {
		field(k)
	}
	var restBuf [8]string // the usual few other fields: no allocation
	rest := restBuf[:0]
	for k := range h {
		if !slices.Contains(first, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	for _, k := range rest {
		field(k)
	}
	return append(dst, "\r\n"...)
}

// WriteResponse writes e as an HTTP error response (see WriteErrorResponse).
func (e *RequestError) WriteResponse(w io.Writer) error {
	return WriteErrorResponse(w, e.Status, e.Header, e.Reason)
}

// WriteErrorResponse writes an HTTP/1.1 error response that refuses a
// handshake: the status line, the fields of header (canonical keys; values
// with CR or LF are dropped), "Content-Type: text/plain; charset=utf-8",
// Content-Length, "Connection: close", and msg plus a newline as the body.
// The caller should close the connection afterwards.
func WriteErrorResponse(w io.Writer, status int, header map[string][]string, msg string) error {
	_, err := w.Write(AppendErrorResponse(nil, status, header, msg))
	return err
}

// AppendErrorResponse appends what WriteErrorResponse writes.
func AppendErrorResponse(dst []byte, status int, header map[string][]string, msg string) []byte {
	if status < 100 || status > 999 {
		status = 500
	}
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, StatusText(status)...)
	dst = append(dst, "\r\n"...)
	h := make(map[string][]string, len(header)+3)
	for k, vs := range header {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if !isToken(k) || ck == hContentLength || ck == hConnection || ck == hTransferEnc || ck == "Content-Type" {
			continue
		}
		for _, v := range vs {
			if validFieldValueString(v) {
				h[ck] = append(h[ck], v)
			}
		}
	}
	body := strings.ToValidUTF8(msg, "?") + "\n"
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h[hContentLength] = []string{strconv.Itoa(len(body))}
	h[hConnection] = []string{"close"}
	dst = appendHeaderBlock(dst, h, nil)
	return append(dst, body...)
}
