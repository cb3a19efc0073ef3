package handshake

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// RequestError is a client opening handshake that the server refuses. It
// carries the HTTP status to answer with (RFC 6455 §4.2.1: "return an HTTP
// response with an appropriate error code (such as 400 Bad Request)"), the
// short reason that becomes the text/plain body, and any header fields that
// the answer needs, such as "Sec-WebSocket-Version: 13" on a 426 (RFC 6455
// §4.2.2 step 4, /version/) or "Allow: GET" on a 405.
//
// Use errors.As, or HTTPStatus, to get at it; WriteResponse sends it.
type RequestError struct {
	// Status is the HTTP status code to answer with: 400, 403, 405, 414,
	// 426, 431, 500 or 505.
	Status int
	// Reason is a short human readable explanation, sent as the body.
	Reason string
	// Header holds extra header fields for the error response (canonical
	// keys), or nil.
	Header map[string][]string
	// Err is the underlying error, if any (for example io.ErrUnexpectedEOF).
	Err error
}

func (e *RequestError) Error() string {
	var b strings.Builder
	b.WriteString("handshake: ")
	b.WriteString(strconv.Itoa(e.Status))
	if t := StatusText(e.Status); t != "" {
		b.WriteByte(' ')
		b.WriteString(t)
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *RequestError) Unwrap() error { return e.Err }

// HTTPStatus returns the HTTP status carried by a *RequestError in err's
// chain, or 0 when there is none (for example a network error, after which
// no response should be written).
func HTTPStatus(err error) int {
	var re *RequestError
	if errors.As(err, &re) {
		return re.Status
	}
	return 0
}

func reqErr(status int, format string, args ...any) *RequestError {
	return &RequestError{Status: status, Reason: fmt.Sprintf(format, args...)}
}

// ErrBadResponse is wrapped by every error that rejects a server's opening
// handshake that answered 101 but broke a rule of RFC 6455 §4.1 (or RFC 7692
// §5/§7.1 for permessage-deflate). The client MUST _Fail the WebSocket
// Connection_ in that case.
var ErrBadResponse = errors.New("handshake: bad server handshake")

func badResponse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadResponse, fmt.Sprintf(format, args...))
}

// StatusError is returned by the client when the server answers with a
// status other than 101 (RFC 6455 §4.1 step 1: "If the status code
// received from the server is not 101, the client handles the response per
// HTTP procedures"). Redirects (3xx) are not followed: the error names the
// Location instead. The Dialer returns the same *Response beside the
// error.
//
// Error gives the status line, a hint for the common refusals and the
// start of the body, e.g.
//
//	handshake: server answered "HTTP/1.1 401 Unauthorized": send credentials in an Authorization header (WWW-Authenticate: Bearer): "token expired"
type StatusError struct {
	// StatusLine is the status line as received, e.g.
	// "HTTP/1.1 403 Forbidden".
	StatusLine string
	// StatusCode is the numeric status.
	StatusCode int
	// Location is the Location header of a 3xx answer, if any.
	Location string
	// Response is the whole answer: Response.Header holds its header
	// fields, Response.Body the start of its body (at most MaxErrorBody
	// bytes, BodyTruncated if there was more).
	Response *Response
}

// maxErrorText bounds the body bytes quoted in StatusError.Error.
const maxErrorText = 200

func (e *StatusError) Error() string {
	var b strings.Builder
	b.WriteString("handshake: server answered ")
	b.WriteString(strconv.Quote(e.StatusLine))
	var h map[string][]string
	if e.Response != nil {
		h = e.Response.Header
	}
	get := func(k string) string {
		if v := h[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	switch code := e.StatusCode; {
	case code >= 300 && code < 400:
		b.WriteString(": redirects are not followed")
		if e.Location != "" {
			b.WriteString(" (Location: ")
			b.WriteString(e.Location)
			b.WriteByte(')')
		}
		return b.String()
	case code >= 200 && code < 300:
		b.WriteString(": the server did not switch protocols (is the URL a WebSocket endpoint?)")
	case code == 401:
		b.WriteString(": send credentials in an Authorization header")
		if v := get("Www-Authenticate"); v != "" {
			b.WriteString(" (WWW-Authenticate: ")
			b.WriteString(v)
			b.WriteByte(')')
		}
	case code == 404:
		b.WriteString(": nothing at this path; check the URL")
	case code == 426:
		// RFC 6455 §4.4: the server lists the versions it speaks.
		if v := get(hVersion); v != "" && trimOWS(v) != "13" {
			b.WriteString(": the server speaks Sec-WebSocket-Version ")
			b.WriteString(v)
			b.WriteString(", this client 13 (RFC 6455 §4.4)")
		}
	case code == 429 || code == 503:
		if v := get("Retry-After"); v != "" {
			b.WriteString(": retry after ")
			b.WriteString(v)
		}
	}
	if e.Response != nil {
		body := bytes.TrimSpace(e.Response.Body)
		more := e.Response.BodyTruncated
		if len(body) > maxErrorText {
			n := maxErrorText
			for n > 0 && !utf8.RuneStart(body[n]) {
				n-- // cut before a character, not inside one
			}
			body, more = body[:n], true
		}
		if len(body) > 0 {
			b.WriteString(": ")
			b.WriteString(strconv.Quote(string(body)))
			if more {
				b.WriteString("...")
			}
		}
	}
	return b.String()
}

// StatusText returns the reason phrase for the HTTP status codes this
// package writes or commonly meets, or "" for others.
func StatusText(code int) string {
	switch code {
	case 101:
		return "Switching Protocols"
	case 200:
		return "OK"
	case 301:
		return "Moved Permanently"
	case 302:
		return "Found"
	case 307:
		return "Temporary Redirect"
	case 308:
		return "Permanent Redirect"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 407:
		return "Proxy Authentication Required"
	case 408:
		return "Request Timeout"
	case 414:
		return "URI Too Long"
	case 426:
		return "Upgrade Required"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 505:
		return "HTTP Version Not Supported"
	}
	return ""
}
