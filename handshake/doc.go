// Package handshake implements the WebSocket opening handshake of RFC 6455
// §4, for servers and clients, and the negotiation of the permessage-deflate
// extension of RFC 7692 §5 and §7.1. It reads and writes HTTP/1.1 by hand
// over a bufio.Reader and an io.Writer, without net/http's message I/O, so
// the same code serves a raw net.Listener and (through
// NewRequestFromHeader) an http.Handler. (The client imports net/http for
// its cookie jar, see Dialer.Jar, and for its HTTP/2 client, see
// Dialer.HTTP2.)
//
// # The handshake on the wire
//
// A WebSocket connection starts as an HTTP/1.1 request that asks to switch
// protocols (RFC 6455 §1.3, §4.1). The RFC's own example:
//
//	GET /chat HTTP/1.1
//	Host: server.example.com
//	Upgrade: websocket
//	Connection: Upgrade
//	Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
//	Origin: http://example.com
//	Sec-WebSocket-Protocol: chat, superchat
//	Sec-WebSocket-Version: 13
//
// The request MUST be a GET of HTTP/1.1 or later, name a Host, carry the
// "websocket" token in Upgrade and the "Upgrade" token in Connection, a
// Sec-WebSocket-Key that is the base64 of 16 random bytes, and
// Sec-WebSocket-Version 13 (§4.2.1). Origin is sent by browsers; the
// subprotocols are offered most preferred first.
//
// The server proves it read the request by hashing the key: SHA-1 of the
// key followed by the GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", in
// base64 (§4.2.2 step 5.4, AcceptKey). It accepts with:
//
//	HTTP/1.1 101 Switching Protocols
//	Upgrade: websocket
//	Connection: Upgrade
//	Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
//	Sec-WebSocket-Protocol: chat
//
// and from the end of that header block on, both sides speak WebSocket
// frames (package frame). Any other status refuses: 400 for a malformed
// request, 403 for an origin the server does not trust (§10.2), 426 with
// "Sec-WebSocket-Version: 13" for another protocol version (§4.4).
//
// The client checks the answer (§4.1): status 101, Upgrade and Connection
// as above, the Sec-WebSocket-Accept it expects for its key, and that any
// subprotocol or extension the server picked is one it offered. Otherwise
// it MUST _Fail the WebSocket Connection_.
//
// # Over HTTP/2 (RFC 8441)
//
// HTTP/2 has no Upgrade and no 101 (RFC 9113 §8.2.2, §8.6). RFC 8441 opens
// a WebSocket on one stream of an HTTP/2 connection instead, with an
// extended CONNECT, once the server has sent SETTINGS_ENABLE_CONNECT_PROTOCOL
// = 1 (§3). The example of RFC 8441 §5.1:
//
//	:method = CONNECT
//	:protocol = websocket
//	:scheme = https
//	:path = /chat
//	:authority = server.example.com
//	sec-websocket-protocol = chat, superchat
//	sec-websocket-extensions = permessage-deflate
//	sec-websocket-version = 13
//	origin = http://www.example.com
//
// answered by
//
//	:status = 200
//	sec-websocket-protocol = chat
//
// There is no key and no accept hash (§5: :protocol supersedes them).
// Origin, Sec-WebSocket-Version, Sec-WebSocket-Protocol and
// Sec-WebSocket-Extensions mean what they mean in RFC 6455, so
// NewRequestFromHeader, Request.Validate and Upgrader.Negotiate handle both
// versions with the same rules; Request.HTTP2 and Result.Status tell them
// apart. From the 200 on, the stream's DATA frames carry RFC 6455 frames,
// and the stream stands for the TCP connection: END_STREAM for its orderly
// close, RST_STREAM (CANCEL) for a reset (§5). Package server serves such
// requests from a net/http server.
//
// # Extensions
//
// Sec-WebSocket-Extensions offers extensions with parameters (§9.1), e.g.
//
//	Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits
//
// The server answers with the extensions it accepts, each from the client's
// list, with parameters that the extension's own rules allow. For
// permessage-deflate (RFC 7692) those are the *_no_context_takeover and
// *_max_window_bits parameters: NegotiateDeflate picks the first acceptable
// offer under a DeflateConfig, DeflateOffer.Accept checks the answer on the
// client. Both yield a frame.DeflateParams for the connection.
//
// # Server side
//
// ReadRequest parses and validates a request under Limits; Upgrader.Upgrade
// adds the origin check, subprotocol choice and extension negotiation, and
// writes the 101 (or an error response). The parsing, validation,
// negotiation and response building are separate pure steps (ReadRequest or
// NewRequestFromHeader, Request.Validate, Upgrader.Negotiate,
// Result.AppendResponse) for callers that need them apart.
//
// # Client side
//
// Dialer.Dial connects (directly or through an HTTP CONNECT proxy, with TLS
// for wss://), sends the request built by ClientHandshake.AppendRequest,
// reads the answer with ReadResponse, verifies it with
// ClientHandshake.Verify and returns a *frame.Conn. DialHeader adds request
// header fields for one call; Dialer.Jar sends and keeps cookies.
// Dialer.Compression offers permessage-deflate, and
// Dialer.CompressionOffers several offers in order of preference (RFC
// 7692 §5), of which the server accepts at most one. DialRaw
// stops before frame.NewConn and returns the bytes read past the 101. A
// refusal comes back as a *StatusError with the *Response: its status,
// header fields and the start of its body.
//
// # WebSocket over HTTP/2
//
// RFC 8441 runs a WebSocket on one stream of an HTTP/2 connection: the
// client sends an extended CONNECT (":method CONNECT", ":protocol
// websocket", Sec-WebSocket-Version 13 and the usual offers, but no
// Sec-WebSocket-Key, Upgrade or Connection) to a server that advertised
// SETTINGS_ENABLE_CONNECT_PROTOCOL, and the server accepts with 200. The
// frames are RFC 6455's; END_STREAM replaces the TCP FIN and RST_STREAM
// the TCP RST. Dialer.HTTP2 selects it (HTTP2Prefer falls back to
// HTTP/1.1, HTTP2Require fails with ErrExtendedConnectUnsupported);
// dials to one server then share one HTTP/2 connection.
// ClientHandshake.ExtendedConnectHeader and VerifyExtendedConnect are the
// request and the checks, for callers with their own HTTP/2 client.
//
// Errors carry what the other side should be told: a *RequestError has the
// HTTP status a server answers with; a *StatusError is a server's non-101
// answer; ErrBadResponse marks a 101 that breaks the rules.
package handshake
