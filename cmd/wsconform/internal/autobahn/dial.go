package autobahn

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// The client side of the opening handshake (RFC 6455 §4.1) comes from the
// handshake package (request building and response checks); the runner
// does its own dialing so that it can tell "server unreachable" (which ends
// a run) from "handshake failed" (which fails one case), and so that it
// keeps the raw request and response for the report.

// Target is a server to test.
type Target struct {
	URL *url.URL
	// ServerName overrides the TLS server name (Autobahn's "hostname"
	// server option, for SNI).
	ServerName string
	// TLSConfig, if not nil, configures TLS for wss:// (cloned per case;
	// ServerName applies over it): RootCAs, InsecureSkipVerify...
	TLSConfig *tls.Config
	// HTTP2 runs each case's opening handshake as an RFC 8441 extended
	// CONNECT on a new HTTP/2 connection (see dial_http2.go).
	HTTP2 bool
}

// ParseTarget parses a ws:// or wss:// URL.
func ParseTarget(raw string) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Target{}, err
	}
	switch u.Scheme {
	case "ws", "wss":
	default:
		return Target{}, fmt.Errorf("url %q: scheme must be ws or wss", raw)
	}
	if u.Hostname() == "" {
		return Target{}, fmt.Errorf("url %q: no host", raw)
	}
	if u.Fragment != "" {
		return Target{}, fmt.Errorf("url %q: a WebSocket URL has no fragment (RFC 6455 §3)", raw)
	}
	return Target{URL: u}, nil
}

func (t Target) hostPort() string {
	port := t.URL.Port()
	if port == "" {
		port = "80"
		if t.URL.Scheme == "wss" {
			port = "443"
		}
	}
	return net.JoinHostPort(t.URL.Hostname(), port)
}

// errConnect marks a failure to open the TCP (or TLS) connection, which
// ends the run against this server, as in Autobahn.
type errConnect struct{ err error }

func (e *errConnect) Error() string { return "connect: " + e.err.Error() }
func (e *errConnect) Unwrap() error { return e.err }

// IsConnectError reports whether err from RunClientCase means the server
// could not be reached at all.
func IsConnectError(err error) bool {
	var ce *errConnect
	return errors.As(err, &ce)
}

func dialTCP(ctx context.Context, t Target, opts Options) (net.Conn, error) {
	d := net.Dialer{Timeout: opts.OpenHandshakeTimeout}
	nc, err := d.DialContext(ctx, "tcp", t.hostPort())
	if err != nil {
		return nil, &errConnect{err}
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(opts.TCPNoDelay)
	}
	if t.URL.Scheme == "wss" {
		cfg := t.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if t.ServerName != "" {
			cfg.ServerName = t.ServerName
		} else if cfg.ServerName == "" {
			cfg.ServerName = t.URL.Hostname()
		}
		tc := tls.Client(nc, cfg)
		if opts.OpenHandshakeTimeout > 0 {
			tc.SetDeadline(time.Now().Add(opts.OpenHandshakeTimeout))
		}
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, &errConnect{err}
		}
		tc.SetDeadline(time.Time{})
		nc = tc
	}
	return nc, nil
}

// handshakeResult is a completed client handshake.
type handshakeResult struct {
	request  string
	response string
	server   string // the Server header
	buffered []byte // bytes read past the response
	// deflate are the permessage-deflate parameters in force, nil if
	// the server declined (or nothing was offered).
	deflate *frame.DeflateParams
}

// handshakeError is a rejected or failed opening handshake.
type handshakeError struct {
	reason   string
	timeout  bool
	request  string
	response string
}

func (e *handshakeError) Error() string { return "opening handshake: " + e.reason }

// recorder keeps the bytes read through it.
type recorder struct {
	r   io.Reader
	buf []byte
}

func (rc *recorder) Read(p []byte) (int, error) {
	n, err := rc.r.Read(p)
	rc.buf = append(rc.buf, p[:n]...)
	return n, err
}

// requestHeader holds the request's header fields besides the handshake's
// own, as Autobahn's client sends them (over HTTP/1.1 and HTTP/2 alike):
// no-cache, and the spec's User-Agent, Origin and extra headers.
func requestHeader(opts Options) map[string][]string {
	hdr := map[string][]string{
		"Pragma":        {"no-cache"},
		"Cache-Control": {"no-cache"},
	}
	if opts.UserAgent != "" {
		hdr["User-Agent"] = []string{opts.UserAgent}
	}
	if opts.Origin != "" {
		hdr["Origin"] = []string{opts.Origin}
	}
	for k, v := range opts.Headers {
		hdr[k] = []string{v}
	}
	return hdr
}

// clientHandshake sends the upgrade request (RFC 6455 §4.1) and checks the
// response with handshake.ClientHandshake.Verify: HTTP 101, "Upgrade:
// websocket", a Connection header with the "upgrade" token, exactly one
// correct Sec-WebSocket-Accept, and a subprotocol only if one was offered.
// These are the checks of Autobahn's client too. offers are the
// permessage-deflate offers (sections 12 and 13), sent as Autobahn sends
// them; the server may accept one of them or decline all; any other
// extension in the response fails the handshake (see negotiateDeflate).
func clientHandshake(nc net.Conn, t Target, opts Options, offers []DeflateOffer) (*handshakeResult, error) {
	hdr := requestHeader(opts)
	hs := &handshake.ClientHandshake{URL: t.URL, Key: handshake.NewKey(), Protocols: opts.Protocols, Header: hdr}
	reqBytes, err := hs.AppendRequest(nil)
	if err != nil {
		return nil, &handshakeError{reason: err.Error()}
	}
	if len(offers) > 0 {
		// Autobahn's offers go in as it writes them, last, before the
		// blank line that ends the request (ClientHandshake.CompressionOffers
		// would write the same field, but before the other fields). The
		// HTTP/2 request (http2Handshake) carries the same field value.
		exts := make([]handshake.Extension, len(offers))
		for i, o := range offers {
			exts[i] = o.Extension()
		}
		reqBytes = append(reqBytes[:len(reqBytes)-2], "Sec-WebSocket-Extensions: "+handshake.FormatExtensions(exts)+"\r\n\r\n"...)
	}
	req := string(reqBytes)

	rec := &recorder{r: nc}
	br := bufio.NewReaderSize(rec, 4096)
	response := func() string { return string(rec.buf[:len(rec.buf)-br.Buffered()]) }
	fail := func(err error) error {
		return &handshakeError{reason: err.Error(), timeout: isTimeout(err), request: req, response: response()}
	}
	if opts.OpenHandshakeTimeout > 0 {
		nc.SetDeadline(time.Now().Add(opts.OpenHandshakeTimeout))
		defer nc.SetDeadline(time.Time{})
	}
	if _, err := nc.Write(reqBytes); err != nil {
		return nil, fail(err)
	}
	resp, err := handshake.ReadResponse(br, handshake.Limits{})
	if err != nil {
		return nil, fail(err)
	}
	var deflate *frame.DeflateParams
	if len(offers) > 0 {
		// Verify knows nothing of these offers: the extensions are
		// checked here, the rest by Verify.
		exts := resp.Header.Values("Sec-WebSocket-Extensions")
		resp.Header.Del("Sec-WebSocket-Extensions")
		if err := hs.Verify(resp); err != nil {
			return nil, fail(err)
		}
		if deflate, err = negotiateDeflate(exts, offers); err != nil {
			return nil, fail(err)
		}
	} else if err := hs.Verify(resp); err != nil {
		return nil, fail(err)
	}
	buffered, _ := br.Peek(br.Buffered())
	return &handshakeResult{
		request:  req,
		response: response(),
		server:   resp.Header.Get("Server"),
		buffered: bytes.Clone(buffered),
		deflate:  deflate,
	}, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
