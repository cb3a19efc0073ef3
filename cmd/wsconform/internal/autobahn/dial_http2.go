package autobahn

import (
	"context"
	"crypto/tls"
	"errors"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/ws6455/ws6455/handshake"
)

// WebSocket over HTTP/2 (RFC 8441). With Target.HTTP2 each case opens
// its own HTTP/2 connection (a new handshake.Dialer, whose connections
// are its own) and runs the extended CONNECT of RFC 8441 §5 on it; the
// case's frames then travel in the stream's DATA frames, byte for byte
// as they would over TCP, and the connection is closed when the case
// ends. A connection per case, rather than a stream per case on one
// shared connection, keeps the cases independent as Autobahn's TCP
// connection per case does: a case that makes the server reset the
// stream, or break the whole HTTP/2 connection, cannot touch the next
// one, and no case waits behind another's flow-control window.
//
// RFC 8441 §5 maps TCP to the stream: the server's END_STREAM is the end
// of the TCP connection the cases wait for ("the server drops TCP"), and
// the fuzzer's drop is the end of its side of the stream followed by
// RST_STREAM(CANCEL) if the server has not ended its side. A write that
// fails because the server reset the stream after its response does not
// end the case as a TCP write error does: what the server sent before
// stays readable (see writer.run). Chopped writes
// become DATA frames of the chop size. Nothing in the cases depends on
// HTTP/1.1 or on TCP itself, so they all apply: the opening handshake
// carries the same Sec-WebSocket-Extensions field over both, the
// permessage-deflate offers of sections 12 and 13 (13.7's three among
// them, RFC 7692 §5) in Autobahn's order and spelling.

// http2Handshake dials t over HTTP/2 and runs the extended CONNECT. A
// server that cannot be reached, or that does not offer RFC 8441, is a
// connect error (the run stops); a refused or invalid answer is a
// *handshakeError (the case fails).
func http2Handshake(ctx context.Context, t Target, opts Options, offers []DeflateOffer) (net.Conn, *handshakeResult, *handshake.Dialer, error) {
	hdr := requestHeader(opts)
	cfg := t.TLSConfig.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if t.ServerName != "" {
		cfg.ServerName = t.ServerName
	}
	d := &handshake.Dialer{
		HTTP2:            handshake.HTTP2Require,
		Header:           hdr,
		Protocols:        opts.Protocols,
		TLSClientConfig:  cfg,
		HandshakeTimeout: opts.OpenHandshakeTimeout,
		NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nd := net.Dialer{Timeout: opts.OpenHandshakeTimeout}
			nc, err := nd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &errConnect{err}
			}
			if tc, ok := nc.(*net.TCPConn); ok {
				tc.SetNoDelay(opts.TCPNoDelay)
			}
			return nc, nil
		},
	}
	if opts.OpenHandshakeTimeout <= 0 {
		d.HandshakeTimeout = -1
	}
	for _, o := range offers {
		// The same elements, in the same order, as the HTTP/1.1
		// request's (DeflateOffer.Extension).
		d.CompressionOffers = append(d.CompressionOffers, o.handshakeOffer())
	}
	req := http2RequestText(t, d)
	nc, _, resp, err := d.DialRaw(ctx, t.URL.String())
	if err != nil {
		d.CloseIdleConnections()
		var ce *errConnect
		var cve *tls.CertificateVerificationError
		var ae tls.AlertError
		switch {
		case errors.As(err, &ce), errors.As(err, &cve), errors.As(err, &ae),
			errors.Is(err, handshake.ErrExtendedConnectUnsupported):
			return nil, nil, nil, &errConnect{err}
		}
		he := &handshakeError{reason: err.Error(), request: req, timeout: errors.Is(err, context.DeadlineExceeded)}
		if resp != nil {
			he.response = http2ResponseText(resp)
		}
		return nil, nil, nil, he
	}
	hs := &handshakeResult{request: req, response: http2ResponseText(resp), server: resp.Header.Get("Server")}
	if len(offers) > 0 {
		// The Dialer checked the answer against the offers; the fuzzer's
		// parameters come from its own reading of it, as over HTTP/1.1.
		if hs.deflate, err = negotiateDeflate(resp.Header.Values("Sec-WebSocket-Extensions"), offers); err != nil {
			nc.Close()
			d.CloseIdleConnections()
			return nil, nil, nil, &handshakeError{reason: err.Error(), request: req, response: hs.response}
		}
	}
	return nc, hs, d, nil
}

// http2RequestText renders the extended CONNECT for the report: the
// pseudo-header fields, then the fields, one per line (HTTP/2 sends them
// HPACK-encoded in a HEADERS frame).
func http2RequestText(t Target, d *handshake.Dialer) string {
	hs := &handshake.ClientHandshake{URL: t.URL, Protocols: d.Protocols, CompressionOffers: d.CompressionOffers, Header: d.Header}
	authority, h, err := hs.ExtendedConnectHeader()
	if err != nil {
		return "(" + err.Error() + ")"
	}
	scheme := "https"
	if t.URL.Scheme == "ws" {
		scheme = "http"
	}
	path := t.URL.RequestURI()
	var b strings.Builder
	b.WriteString(":method: CONNECT\r\n:protocol: websocket\r\n:scheme: " + scheme + "\r\n:path: " + path + "\r\n:authority: " + authority + "\r\n")
	delete(h, ":protocol")
	for _, k := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[k] {
			b.WriteString(strings.ToLower(k) + ": " + v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// http2ResponseText renders the answer for the report: :status, then the
// fields.
func http2ResponseText(resp *handshake.Response) string {
	var b strings.Builder
	b.WriteString(":status: " + strconv.Itoa(resp.StatusCode) + "\r\n")
	for _, k := range slices.Sorted(maps.Keys(resp.Header)) {
		for _, v := range resp.Header[k] {
			b.WriteString(strings.ToLower(k) + ": " + v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	if len(resp.Body) > 0 {
		b.Write(resp.Body)
	}
	return b.String()
}
