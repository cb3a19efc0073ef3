package handshake

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"weak"
)

// WebSocket over HTTP/2 (RFC 8441).
//
// A server that advertises SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3)
// accepts an "extended CONNECT" request (§4) whose :protocol
// pseudo-header names the protocol to run on the stream. For WebSocket
// (§5) the request is
//
//	:method = CONNECT
//	:protocol = websocket
//	:scheme = https
//	:path = /chat
//	:authority = server.example.com
//	sec-websocket-protocol = chat, superchat
//	sec-websocket-version = 13
//	origin = http://www.example.com
//
// with no Sec-WebSocket-Key, Upgrade or Connection: the :protocol
// pseudo-header replaces them. The server accepts with :status 200 (and
// Sec-WebSocket-Protocol and Sec-WebSocket-Extensions as in RFC 6455) and
// no Sec-WebSocket-Accept. From then on the stream's DATA frames carry the
// WebSocket frames of RFC 6455 §5 unchanged, in both directions. Closing
// the stream replaces closing TCP (§5): END_STREAM is the orderly close
// (TCP FIN), RST_STREAM the abrupt one (TCP RST).
//
// The Dialer runs this on the standard library's HTTP/2 client (the copy
// of golang.org/x/net/http2 bundled in net/http), over connections it
// opens itself (so Proxy, NetDial and TLSClientConfig apply as for
// HTTP/1.1), and hands back the stream as a net.Conn.

// HTTP2Mode selects whether a Dialer opens WebSockets over HTTP/2 (RFC
// 8441) or HTTP/1.1 (RFC 6455 §4).
type HTTP2Mode uint8

const (
	// HTTP2Off dials HTTP/1.1 only, as browsers did before RFC 8441 and
	// as gorilla/websocket and coder/websocket do. The default.
	HTTP2Off HTTP2Mode = iota
	// HTTP2Prefer tries HTTP/2 extended CONNECT first and falls back to
	// HTTP/1.1 when the server does not offer it: for wss:// when TLS
	// ALPN does not pick "h2" (the same TLS connection then carries the
	// HTTP/1.1 handshake) or when the server did not advertise
	// SETTINGS_ENABLE_CONNECT_PROTOCOL (a new connection is opened); for
	// ws:// (HTTP/2 with prior knowledge, "h2c") also when the HTTP/2
	// attempt fails on the connection it opened, which is what a server
	// that does not speak h2c makes it do (at the cost of a second
	// connection; a server that neither answers nor closes the connection
	// on the HTTP/2 preface holds the dial until HandshakeTimeout, with no
	// fallback). Response.Proto tells which was used: "HTTP/2.0" or
	// "HTTP/1.1". This is what a browser does (browsers use HTTP/2 over
	// TLS only).
	HTTP2Prefer
	// HTTP2Require dials HTTP/2 only; when the server does not offer
	// extended CONNECT the dial fails with an error that wraps
	// ErrExtendedConnectUnsupported.
	HTTP2Require
)

func (m HTTP2Mode) String() string {
	switch m {
	case HTTP2Off:
		return "off"
	case HTTP2Prefer:
		return "prefer"
	case HTTP2Require:
		return "require"
	}
	return "HTTP2Mode(" + strconv.Itoa(int(m)) + ")"
}

// ErrExtendedConnectUnsupported is wrapped by the error of a dial with
// HTTP2Require when the server does not accept WebSocket over HTTP/2: it
// did not negotiate "h2" in TLS ALPN, or it speaks HTTP/2 but did not
// advertise SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3; net/http's own
// error, "extended connect not supported by peer", is wrapped too). Go's
// net/http server advertises the setting only when the environment
// variable GODEBUG contains http2xconnect=1 when the server's process
// starts.
var ErrExtendedConnectUnsupported = errors.New("handshake: the server does not accept WebSocket over HTTP/2 (RFC 8441): it must speak HTTP/2 and advertise SETTINGS_ENABLE_CONNECT_PROTOCOL (for a Go net/http server, start it with GODEBUG=http2xconnect=1)")

// Proto values of a Response.
const (
	ProtoHTTP11 = "HTTP/1.1"
	ProtoHTTP2  = "HTTP/2.0"
)

// ExtendedConnectHeader returns the header fields of the RFC 8441 §5
// request that c describes, for an HTTP/2 client: ":protocol: websocket",
// Sec-WebSocket-Version 13, the Sec-WebSocket-Protocol and
// Sec-WebSocket-Extensions offers and Header's fields, checked as
// AppendRequest checks them; and the :authority (the URL's host, or
// Header's Host). The method is CONNECT, :scheme is https for wss:// and
// http for ws://, :path is the URL's path and query. Key is not used:
// RFC 8441 §5 drops Sec-WebSocket-Key and Sec-WebSocket-Accept.
func (c *ClientHandshake) ExtendedConnectHeader() (authority string, header http.Header, err error) {
	host, extra, err := c.check()
	if err != nil {
		return "", nil, err
	}
	h := make(http.Header, len(extra)+4)
	for k, vs := range extra {
		h[k] = vs
	}
	h[":protocol"] = []string{"websocket"}
	h[hVersion] = []string{"13"}
	if len(c.Protocols) > 0 {
		h[hProtocol] = []string{strings.Join(c.Protocols, ", ")}
	}
	if offers := c.deflateOffers(); len(offers) > 0 {
		h[hExtensions] = []string{string(appendOffers(nil, offers))}
	}
	return host, h, nil
}

// VerifyExtendedConnect checks a server's answer to an RFC 8441 extended
// CONNECT: status 200 (RFC 8441 §5; any other status yields a
// *StatusError), then the extensions and subprotocol as Verify checks
// them (RFC 6455 §4.1 steps 5 and 6, RFC 7692 §5). There is no
// Sec-WebSocket-Accept to check, and no Upgrade or Connection.
func (c *ClientHandshake) VerifyExtendedConnect(resp *Response) error {
	if resp.StatusCode != 200 {
		return &StatusError{
			StatusLine: resp.StatusLine,
			StatusCode: resp.StatusCode,
			Location:   resp.Header.Get(hLocation),
			Response:   resp,
		}
	}
	return c.verifyNegotiation(resp)
}

// h2client is a Dialer's HTTP/2 machinery: an http.Transport whose bundled
// HTTP/2 client keeps the Dialer's HTTP/2 connections, so that dials to
// the same server share one connection (one stream each).
type h2client struct {
	t1 *http.Transport
	mu sync.Mutex
	// rt are the HTTP/2 round trippers for "https" and "http", known
	// after the first connection of each kind was handed to the
	// transport.
	rt map[string]http.RoundTripper
}

// h2clients maps each Dialer (weakly: a Dialer that is collected takes
// its entry and its idle connections with it) to its h2client. A copy of
// a Dialer is another Dialer, with its own connections.
var h2clients sync.Map // weak.Pointer[Dialer] -> *h2client

func (d *Dialer) h2() (*h2client, error) {
	key := weak.Make(d)
	if v, ok := h2clients.Load(key); ok {
		return v.(*h2client), nil
	}
	p := new(http.Protocols)
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(true)
	c := &h2client{
		t1: &http.Transport{
			Protocols:          p,
			IdleConnTimeout:    90 * time.Second,
			DisableCompression: true,
			// HTTP/2's SETTINGS_MAX_HEADER_LIST_SIZE.
			MaxResponseHeaderBytes: int64(d.Limits.resolved().MaxHeaderBytes),
		},
		rt: map[string]http.RoundTripper{},
	}
	// CloseIdleConnections sets up the transport's HTTP/2 client, which
	// fills TLSNextProto with the hand-off functions used below.
	c.t1.CloseIdleConnections()
	if c.t1.TLSNextProto["h2"] == nil {
		return nil, errors.New("handshake: net/http's HTTP/2 client is disabled (GODEBUG http2client=0?)")
	}
	v, loaded := h2clients.LoadOrStore(key, c)
	if !loaded {
		runtime.AddCleanup(d, func(k weak.Pointer[Dialer]) {
			if v, ok := h2clients.LoadAndDelete(k); ok {
				v.(*h2client).t1.CloseIdleConnections()
			}
		}, key)
	}
	return v.(*h2client), nil
}

// CloseIdleConnections closes the Dialer's HTTP/2 connections that carry
// no WebSocket (see HTTP2); the WebSockets open on the others go on.
// Idle connections also close by themselves after 90 seconds.
// HTTP/1.1 connections are never shared, so there is nothing to close for
// them.
func (d *Dialer) CloseIdleConnections() {
	if v, ok := h2clients.Load(weak.Make(d)); ok {
		v.(*h2client).t1.CloseIdleConnections()
	}
}

// unencryptedConn hands a cleartext connection to net/http's HTTP/2
// client in the *tls.Conn it expects, the way net/http itself does for
// HTTP/2 with prior knowledge (Protocols.SetUnencryptedHTTP2): the HTTP/2
// code unwraps it with UnencryptedNetConn and never uses it as TLS.
type unencryptedConn struct {
	net.Conn
}

func (c unencryptedConn) UnencryptedNetConn() net.Conn { return c.Conn }

// isNoCachedConn recognizes the HTTP/2 client's "no cached connection"
// error, by the marker method net/http and x/net/http2 use for it.
func isNoCachedConn(err error) bool {
	_, ok := err.(interface{ IsHTTP2NoCachedConnError() })
	return ok
}

// isExtendedConnectRefused recognizes net/http's error for a server that
// did not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL. The error is not
// exported; its text is checked by this package's tests.
func isExtendedConnectRefused(err error) bool {
	return err != nil && strings.Contains(err.Error(), "extended connect not supported by peer")
}

// h2fallback tells the HTTP/1.1 dial to take over: conn, if not nil, is a
// TLS connection on which ALPN chose HTTP/1.1.
type h2fallback struct {
	conn net.Conn
}

// dialHTTP2 runs RFC 8441 §4-§5 for u on one of d's HTTP/2 connections,
// opening one when none can take a new stream. With HTTP2Prefer it
// returns a non-nil fallback (and no error) when HTTP/1.1 should be used
// instead.
func (d *Dialer) dialHTTP2(ctx context.Context, u *url.URL, hs *ClientHandshake, jarURL *url.URL) (net.Conn, *Response, *h2fallback, error) {
	authority, header, err := hs.ExtendedConnectHeader()
	if err != nil {
		return nil, nil, nil, err
	}
	if _, ok := header["User-Agent"]; !ok {
		// As over HTTP/1.1, no User-Agent unless the caller sets one
		// (net/http would add "Go-http-client/2.0").
		header["User-Agent"] = []string{""}
	}
	c, err := d.h2()
	if err != nil {
		return nil, nil, nil, err
	}
	scheme := "https"
	if u.Scheme == "ws" {
		scheme = "http"
	}
	addr := hostPort(u)
	prefer := d.HTTP2 == HTTP2Prefer

	// The stream lives on after the handshake: its context is not ctx,
	// which only bounds the handshake (see the AfterFunc below).
	sctx, scancel := context.WithCancel(context.WithoutCancel(ctx))
	var (
		local, remote net.Addr
		reused        bool
	)
	sctx = httptrace.WithClientTrace(sctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			local, remote, reused = info.Conn.LocalAddr(), info.Conn.RemoteAddr(), info.Reused
		},
	})
	stop := context.AfterFunc(ctx, scancel)
	fail := func(err error) (net.Conn, *Response, *h2fallback, error) {
		stop()
		scancel()
		return nil, nil, nil, ctxErr(ctx, err)
	}

	newRequest := func() (*http.Request, *io.PipeWriter) {
		pr, pw := io.Pipe()
		req := &http.Request{
			Method: "CONNECT",
			URL:    &url.URL{Scheme: scheme, Host: addr, Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery},
			Host:   authority,
			Header: header.Clone(),
			Body:   pr,
			// ContentLength 0 with a Body: unknown length, no
			// content-length field, DATA frames until END_STREAM.
		}
		if req.URL.Path == "" {
			req.URL.Path = "/"
		}
		return req.WithContext(sctx), pw
	}

	var (
		resp  *http.Response
		pw    *io.PipeWriter
		fresh bool // the stream went on a connection this dial opened
	)
	c.mu.Lock()
	rt := c.rt[scheme]
	c.mu.Unlock()
	if rt != nil {
		var req *http.Request
		req, pw = newRequest()
		resp, err = rt.RoundTrip(req)
		if err != nil {
			pw.Close()
		}
	}
	if rt == nil || isNoCachedConn(err) {
		// No connection can take the stream: open one.
		fresh = true
		var nc net.Conn
		nc, err = d.connect(ctx, u)
		if err != nil {
			return fail(err)
		}
		if scheme == "https" {
			cfg := d.TLSClientConfig.Clone()
			if cfg == nil {
				cfg = &tls.Config{}
			}
			if cfg.ServerName == "" {
				cfg.ServerName = u.Hostname()
			}
			// http/1.1 is offered with Require too, so that a server
			// without h2 completes TLS and the error can say why (a
			// server that knows neither protocol fails the TLS
			// handshake with no_application_protocol).
			cfg.NextProtos = []string{"h2", "http/1.1"}
			tc := tls.Client(nc, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				nc.Close()
				return fail(fmt.Errorf("handshake: TLS: %w", err))
			}
			if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
				if prefer {
					stop()
					scancel()
					return nil, nil, &h2fallback{conn: tc}, nil
				}
				tc.Close()
				if p == "" {
					p = "none"
				}
				return fail(fmt.Errorf("%w: TLS ALPN chose %s, not h2", ErrExtendedConnectUnsupported, p))
			}
			nc = tc
		}
		var hand *tls.Conn
		if tc, ok := nc.(*tls.Conn); ok {
			hand = tc
		} else {
			hand = tls.Client(unencryptedConn{nc}, nil)
		}
		key := "h2"
		if scheme == "http" {
			key = "unencrypted_http2"
		}
		next := c.t1.TLSNextProto[key]
		if next == nil {
			nc.Close()
			return fail(fmt.Errorf("handshake: this Go's net/http has no HTTP/2 hand-off for %s", key))
		}
		// The transport keeps the connection in its pool under addr
		// (or closes it, if another dial added one meanwhile). The round
		// tripper it returns serves every connection of the pool; it is
		// kept once a request went through (a failed hand-off returns one
		// that only reports the failure).
		rt = next(addr, hand)
		var req *http.Request
		req, pw = newRequest()
		resp, err = rt.RoundTrip(req)
		if err != nil {
			pw.Close()
		} else {
			c.mu.Lock()
			c.rt[scheme] = rt
			c.mu.Unlock()
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return fail(err)
		}
		// A new h2c connection that fails before any answer is what a
		// server that does not speak HTTP/2 with prior knowledge causes
		// (it reads the connection preface as a bad HTTP/1.1 request).
		noH2C := scheme == "http" && fresh
		refused := isExtendedConnectRefused(err)
		if prefer && (refused || noH2C) {
			stop()
			scancel()
			return nil, nil, &h2fallback{}, nil
		}
		switch {
		case refused:
			return fail(fmt.Errorf("%w: %w", ErrExtendedConnectUnsupported, err))
		case noH2C:
			return fail(fmt.Errorf("%w: HTTP/2 with prior knowledge (h2c) failed on a new connection; does the server speak h2c? %w", ErrExtendedConnectUnsupported, err))
		}
		return fail(fmt.Errorf("handshake: HTTP/2: %w", err))
	}

	r := &Response{
		StatusLine: resp.Proto + " " + resp.Status,
		Proto:      resp.Proto,
		StatusCode: resp.StatusCode,
		Header:     textproto.MIMEHeader(resp.Header),
	}
	if resp.Status == "" || !strings.HasPrefix(resp.Status, strconv.Itoa(resp.StatusCode)) {
		r.StatusLine = resp.Proto + " " + strconv.Itoa(resp.StatusCode)
		if t := StatusText(resp.StatusCode); t != "" {
			r.StatusLine += " " + t
		}
	}
	if resp.StatusCode != 200 {
		// The start of the body explains the refusal; reading it is
		// bounded by ctx (its end cancels the stream).
		buf := make([]byte, MaxErrorBody+1)
		n, rerr := io.ReadFull(resp.Body, buf)
		if n > 0 {
			r.Body = buf[:min(n, MaxErrorBody)]
		}
		r.BodyTruncated = n > MaxErrorBody || (rerr != nil && !errors.Is(rerr, io.EOF) && !errors.Is(rerr, io.ErrUnexpectedEOF))
	}
	err = hs.VerifyExtendedConnect(r)
	if d.Jar != nil && (err == nil || resp.StatusCode != 200) {
		if cs := setCookies(r); len(cs) > 0 {
			d.Jar.SetCookies(jarURL, cs)
		}
	}
	if err != nil {
		pw.Close()
		resp.Body.Close()
		stop()
		scancel()
		return nil, r, nil, err
	}
	if !stop() {
		// ctx ended as the answer came: the stream is being cancelled.
		pw.Close()
		resp.Body.Close()
		scancel()
		return nil, nil, nil, fmt.Errorf("handshake: %w", context.Cause(ctx))
	}
	sc := newStreamConn(pw, resp.Body, scancel, local, remote)
	sc.reused = reused
	return sc, r, nil, nil
}
