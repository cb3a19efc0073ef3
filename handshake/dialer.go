package handshake

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http" // only for the cookie jar: see Dialer.Jar
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/ws6455/ws6455/frame"
)

// DefaultHandshakeTimeout bounds a Dialer's whole handshake (proxy, TLS and
// WebSocket) when Dialer.HandshakeTimeout is 0.
const DefaultHandshakeTimeout = 30 * time.Second

// Dialer opens client connections: it runs RFC 6455 §4.1 from the TCP
// connection (through an HTTP proxy if configured, §4.1 "Proxy Usage") and
// TLS for wss:// (with SNI) to the verified 101 response.
//
// The zero Dialer connects directly, offers no subprotocol and no
// compression, and uses DefaultHandshakeTimeout. A Dialer is safe for
// concurrent use if its fields are not changed.
type Dialer struct {
	// Header holds extra request header fields: Origin, Cookie,
	// Authorization... (see ClientHandshake.Header).
	Header map[string][]string
	// Protocols are the subprotocols offered, most preferred first.
	Protocols []string
	// Compression, if not nil, offers permessage-deflate with these
	// parameters; &DeflateOffer{} is a plain offer. It is shorthand for a
	// CompressionOffers of one element; setting both is an error.
	Compression *DeflateOffer
	// CompressionOffers are several permessage-deflate offers, most
	// preferred first (RFC 7692 §5; see ClientHandshake.CompressionOffers):
	// Response.Deflate holds the parameters of the one the server accepted.
	CompressionOffers []DeflateOffer
	// TLSClientConfig configures TLS for wss:// (cloned per dial; ServerName
	// defaults to the URL's host, which also sets SNI as §4.1 requires).
	TLSClientConfig *tls.Config
	// HandshakeTimeout bounds the whole dial. 0 => DefaultHandshakeTimeout;
	// negative => only the context bounds it.
	HandshakeTimeout time.Duration
	// NetDial opens the TCP connection (to the server or the proxy). nil
	// uses a net.Dialer.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Proxy returns the HTTP proxy for a ws:// or wss:// URL, or nil for a
	// direct connection. nil means no proxy; ProxyFromEnvironment reads
	// HTTP_PROXY, HTTPS_PROXY and NO_PROXY. The connection is tunnelled with
	// CONNECT; userinfo in the proxy URL becomes Proxy-Authorization: Basic.
	Proxy func(*url.URL) (*url.URL, error)
	// Limits bound the response header block.
	Limits Limits
	// Jar, if not nil, keeps cookies (RFC 6265) across dials, as
	// gorilla/websocket's Dialer.Jar does: the jar's cookies for the URL
	// are sent in the request's Cookie field (after any Cookie value of
	// Header, in one field as RFC 6265 §5.4 asks), and the Set-Cookie
	// fields of the answer are stored in the jar: those of a verified 101
	// (RFC 6455 §4.1, _Cookies Set During the Server's Opening
	// Handshake_) and of any other status, which the client handles "per
	// HTTP procedures" (§4.1 step 1); not those of a 101 that fails
	// verification. The jar is given the URL with ws:// as http:// and
	// wss:// as https://, the schemes a jar knows (net/http/cookiejar
	// sends Secure cookies only to https URLs and to localhost). A jar
	// must be safe for concurrent use, as http.CookieJar requires.
	//
	// The jar is why this package imports net/http: for the http.CookieJar
	// and http.Cookie types, and for RFC 6265's Set-Cookie parsing and
	// Cookie formatting (http.ParseSetCookie, Cookie.String). The HTTP
	// messages themselves are still read and written by hand.
	Jar http.CookieJar
	// HTTP2 selects WebSocket over HTTP/2 (RFC 8441): HTTP2Off (the
	// default) dials HTTP/1.1 only; HTTP2Prefer tries an HTTP/2 extended
	// CONNECT first and falls back to HTTP/1.1 when the server does not
	// offer it; HTTP2Require fails instead (ErrExtendedConnectUnsupported).
	// Response.Proto says which protocol carried the handshake.
	//
	// wss:// negotiates HTTP/2 in TLS ALPN ("h2"); ws:// uses HTTP/2 with
	// prior knowledge (h2c, RFC 9113 §3.3), which only servers set up for
	// it speak. Proxy, NetDial, TLSClientConfig, Header, Jar, Protocols,
	// Compression, CompressionOffers and HandshakeTimeout apply as over
	// HTTP/1.1 (an HTTP/2 connection goes through the proxy's CONNECT
	// tunnel). Of Limits, MaxHeaderBytes bounds the response's header list
	// (announced as SETTINGS_MAX_HEADER_LIST_SIZE, which counts 32 bytes
	// more per field); net/http's HTTP/2 client applies its own other
	// limits.
	//
	// Dials over HTTP/2 to the same host and port share the Dialer's
	// HTTP/2 connection, one stream per WebSocket, as browsers do; a new
	// connection is opened when none can take another stream. Connections
	// without a WebSocket close after 90 s idle, or at once with
	// CloseIdleConnections. Each Dialer (a copy too) has its own
	// connections. The TLS configuration and the proxy are those of the
	// dial that opened the connection.
	HTTP2 HTTP2Mode
	// FrameConfig configures the frame.Conn that Dial returns. Its Role is
	// forced to frame.RoleClient and its Deflate to the negotiated
	// parameters.
	FrameConfig frame.Config
}

// DefaultDialer uses the proxy settings of the environment.
var DefaultDialer = &Dialer{Proxy: ProxyFromEnvironment}

// Dial opens a WebSocket connection to rawURL (ws:// or wss://) and wraps
// it in a frame.Conn configured by d.FrameConfig and the negotiated
// permessage-deflate parameters. ctx bounds the handshake only; cancelling
// it later does not affect the connection.
//
// The *Response is returned whenever the server answered, also with an
// error: when it refused with a status other than 101, the error is a
// *StatusError and the Response holds the status, header fields and the
// start of the body (see DialRaw).
func (d *Dialer) Dial(ctx context.Context, rawURL string) (*frame.Conn, *Response, error) {
	return d.DialHeader(ctx, rawURL, nil)
}

// DialHeader is Dial with request header fields for this call only, as
// gorilla/websocket's Dialer.Dial(url, requestHeader) and
// coder/websocket's DialOptions.HTTPHeader take them (an http.Header can
// be passed as is). They are merged over d.Header by name, compared
// case-insensitively: a name in header replaces the Dialer's values for
// it, and a name with no values (nil or empty) removes the Dialer's
// field; other names of d.Header are kept. The rules of
// ClientHandshake.Header apply to the result. header is not modified.
func (d *Dialer) DialHeader(ctx context.Context, rawURL string, header map[string][]string) (*frame.Conn, *Response, error) {
	nc, buffered, resp, err := d.DialRawHeader(ctx, rawURL, header)
	if err != nil {
		return nil, resp, err
	}
	cfg := d.FrameConfig
	cfg.Role = frame.RoleClient
	cfg.Deflate = resp.Deflate
	cfg.Subprotocol = resp.Subprotocol
	return frame.NewConn(nc, buffered, cfg), resp, nil
}

// DialRaw runs the opening handshake and returns the connection, the bytes
// the server sent after its 101 response (already frames; feed them to the
// frame reader before reading nc), and the verified response.
//
// On a non-101 answer the error is a *StatusError and the response is
// returned too, with its header fields and the start of its body
// (Response.Body, at most MaxErrorBody bytes, read within the handshake's
// deadline); a 101 that fails verification wraps ErrBadResponse. In every
// error case the connection is closed.
func (d *Dialer) DialRaw(ctx context.Context, rawURL string) (net.Conn, []byte, *Response, error) {
	return d.DialRawHeader(ctx, rawURL, nil)
}

// DialRawHeader is DialRaw with request header fields for this call only,
// merged over d.Header as DialHeader describes.
func (d *Dialer) DialRawHeader(ctx context.Context, rawURL string, header map[string][]string) (net.Conn, []byte, *Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("handshake: %w", err)
	}
	if err := checkURL(u); err != nil {
		return nil, nil, nil, err
	}
	hs := &ClientHandshake{
		URL:               u,
		Key:               NewKey(),
		Protocols:         d.Protocols,
		Compression:       d.Compression,
		CompressionOffers: d.CompressionOffers,
		Header:            mergeHeader(d.Header, header),
	}
	var jarURL *url.URL
	if d.Jar != nil {
		jarURL = cookieURL(u)
		hs.Header = addCookies(hs.Header, d.Jar.Cookies(jarURL))
	}
	reqBytes, err := hs.AppendRequest(nil)
	if err != nil {
		return nil, nil, nil, err
	}

	timeout := d.HandshakeTimeout
	if timeout == 0 {
		timeout = DefaultHandshakeTimeout
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}

	var nc net.Conn
	switch d.HTTP2 {
	case HTTP2Off:
	case HTTP2Prefer, HTTP2Require:
		sc, resp, fb, err := d.dialHTTP2(ctx, u, hs, jarURL)
		if fb == nil {
			return sc, nil, resp, err
		}
		nc = fb.conn // a TLS connection on which ALPN chose HTTP/1.1, or nil
	default:
		return nil, nil, nil, fmt.Errorf("handshake: unknown %v", d.HTTP2)
	}
	return d.dialHTTP1(ctx, u, hs, jarURL, reqBytes, nc)
}

// dialHTTP1 runs RFC 6455 §4.1 over nc, or over a connection it opens
// when nc is nil.
func (d *Dialer) dialHTTP1(ctx context.Context, u *url.URL, hs *ClientHandshake, jarURL *url.URL, reqBytes []byte, nc net.Conn) (net.Conn, []byte, *Response, error) {
	pre := nc != nil
	if !pre {
		var err error
		nc, err = d.connect(ctx, u)
		if err != nil {
			return nil, nil, nil, ctxErr(ctx, err)
		}
	}
	// From here on, ctx's deadline and cancellation interrupt blocked I/O.
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	// A deadline in the past on the TCP connection unblocks any read or
	// write on it, TLS included. (raw, not nc: nc is replaced below.)
	raw := nc
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (net.Conn, []byte, *Response, error) {
		stop()
		nc.Close()
		return nil, nil, nil, ctxErr(ctx, err)
	}

	if u.Scheme == "wss" && !pre {
		cfg := d.TLSClientConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(fmt.Errorf("handshake: TLS: %w", err))
		}
		nc = tc
	}

	if _, err := nc.Write(reqBytes); err != nil {
		return fail(fmt.Errorf("handshake: write request: %w", err))
	}
	br := bufio.NewReaderSize(nc, 4096)
	resp, err := ReadResponse(br, d.Limits)
	if err != nil {
		return fail(err)
	}
	if resp.StatusCode != 101 {
		readErrorBody(br, resp)
	}
	err = hs.Verify(resp)
	if d.Jar != nil && (err == nil || resp.StatusCode != 101) {
		if cs := setCookies(resp); len(cs) > 0 {
			d.Jar.SetCookies(jarURL, cs)
		}
	}
	if err != nil {
		stop()
		nc.Close()
		return nil, nil, resp, err
	}
	if !stop() {
		// ctx ended while we finished: the deadline may already be broken.
		nc.Close()
		return nil, nil, nil, fmt.Errorf("handshake: %w", context.Cause(ctx))
	}
	nc.SetDeadline(time.Time{})
	var buffered []byte
	if n := br.Buffered(); n > 0 {
		p, _ := br.Peek(n)
		buffered = append([]byte(nil), p...)
	}
	return nc, buffered, resp, nil
}

// ctxErr prefers the context's error when the context is done, since an I/O
// error then is only its symptom. A connection deadline copied from ctx can
// fire a moment before ctx itself reports DeadlineExceeded; such a timeout
// counts as the context's.
func ctxErr(ctx context.Context, err error) error {
	cause := context.Cause(ctx)
	if cause == nil {
		var ne net.Error
		if dl, ok := ctx.Deadline(); ok && errors.As(err, &ne) && ne.Timeout() && !time.Now().Before(dl) {
			cause = context.DeadlineExceeded
		}
	}
	if cause != nil && !errors.Is(err, cause) {
		return fmt.Errorf("handshake: %w (%v)", cause, err)
	}
	return err
}

func (d *Dialer) netDial(ctx context.Context, addr string) (net.Conn, error) {
	if d.NetDial != nil {
		return d.NetDial(ctx, "tcp", addr)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, "tcp", addr)
}

// connect opens the TCP connection to the server, directly or through the
// proxy (RFC 6455 §4.1 steps 3 and 4).
func (d *Dialer) connect(ctx context.Context, u *url.URL) (net.Conn, error) {
	target := hostPort(u)
	var proxy *url.URL
	if d.Proxy != nil {
		p, err := d.Proxy(u)
		if err != nil {
			return nil, fmt.Errorf("handshake: proxy: %w", err)
		}
		proxy = p
	}
	if proxy == nil {
		nc, err := d.netDial(ctx, target)
		if err != nil {
			return nil, fmt.Errorf("handshake: dial: %w", err)
		}
		return nc, nil
	}
	return d.dialProxy(ctx, proxy, target)
}

// mergeHeader returns base with over's fields merged in by canonical name
// (a name in over replaces base's values; one with no values deletes
// base's), without modifying either. With nothing to merge it returns base
// itself.
func mergeHeader(base, over map[string][]string) map[string][]string {
	if len(over) == 0 {
		return base
	}
	m := make(map[string][]string, len(base)+len(over))
	for k, vs := range base {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		m[ck] = append(m[ck], vs...)
	}
	replaced := make(map[string]bool, len(over))
	for k, vs := range over {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if !replaced[ck] {
			// The first spelling of this name in over replaces base's
			// values; later spellings ("cookie" and "Cookie") add to them.
			delete(m, ck)
			replaced[ck] = true
		}
		if len(vs) > 0 {
			m[ck] = append(m[ck], vs...)
		}
	}
	return m
}

// cookieURL is the URL under which a cookie jar files a WebSocket URL's
// cookies: ws:// as http://, wss:// as https:// (a jar knows HTTP's
// schemes only, and keeps Secure cookies for https).
func cookieURL(u *url.URL) *url.URL {
	ju := *u
	ju.Scheme = "http"
	if u.Scheme == "wss" {
		ju.Scheme = "https"
	}
	return &ju
}

// addCookies returns header with cookies appended to its Cookie field, all
// in one field value separated by "; " (RFC 6265 §5.4: a user agent MUST
// NOT attach more than one Cookie header field). header is not modified.
func addCookies(header map[string][]string, cookies []*http.Cookie) map[string][]string {
	if len(cookies) == 0 {
		return header
	}
	var pairs []string
	m := make(map[string][]string, len(header)+1)
	for k, vs := range header {
		if textproto.CanonicalMIMEHeaderKey(k) == "Cookie" {
			pairs = append(pairs, vs...)
			continue
		}
		m[k] = vs
	}
	for _, c := range cookies {
		// Only name and value travel in a Cookie field; String sanitizes
		// them, and gives "" for an invalid name.
		if s := (&http.Cookie{Name: c.Name, Value: c.Value, Quoted: c.Quoted}).String(); s != "" {
			pairs = append(pairs, s)
		}
	}
	if len(pairs) > 0 {
		m["Cookie"] = []string{strings.Join(pairs, "; ")}
	}
	return m
}

// setCookies parses the response's Set-Cookie fields (RFC 6265 §4.1),
// skipping those that do not parse.
func setCookies(resp *Response) []*http.Cookie {
	var cs []*http.Cookie
	for _, line := range resp.Header["Set-Cookie"] {
		if c, err := http.ParseSetCookie(line); err == nil {
			cs = append(cs, c)
		}
	}
	return cs
}
