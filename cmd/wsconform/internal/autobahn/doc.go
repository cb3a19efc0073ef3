// Package autobahn is a Go port of the test cases of the Autobahn
// WebSocket testsuite (crossbario/autobahn-testsuite, the "fuzzing" modes of
// wstest) for RFC 6455 endpoints.
//
// A case is a small program that runs on one side of a single WebSocket
// connection: it sends frames (valid or deliberately broken, whole or
// chopped into several TCP writes, with delays between them), records what
// the other side sends back, and, when the TCP connection is gone, compares
// the recorded events and the way the connection was closed with what the
// case expects. The verdicts are Autobahn's: OK, NON-STRICT, INFORMATIONAL,
// UNIMPLEMENTED or FAILED for the behavior, and OK, WRONG CODE, UNCLEAN,
// FAILED BY CLIENT or FAILED for the closing behavior.
//
// # Structure
//
//   - [Peer] is the fuzzer's end of the connection. It reproduces the parts of
//     Autobahn's WebSocketProtocol that the cases rely on: a single event
//     loop (like Twisted's reactor) that runs case callbacks, timers and
//     incoming frames one at a time; frame sending with the peer role's
//     masking rule, repeated payloads, chopped and synchronous writes; the
//     close handshake, _Fail the WebSocket Connection_ (RFC 6455 §7.1.7) by
//     sending a close frame, and dropping TCP; validation of what the other
//     side sends (RFC 6455 §5.2, §5.4, §5.5, §8.1).
//   - [Run] is one execution of one case: Autobahn's Case base class, with
//     the expected and received events, the expected close, and the verdict
//     rules of Case.onConnectionLost.
//   - [Def] describes a case (id, description, callbacks, permessage-deflate
//     offers); the registry holds them keyed by id in Autobahn's order.
//     Sections 1 to 10 and 12 to 13 (permessage-deflate, RFC 7692) are
//     defined in the cases_*.go files. With the extension negotiated, Peer
//     compresses what it sends and inflates what it receives through
//     frame.Conn's DEFLATE engine (pmce.go), keeping the framing to itself.
//
// # Roles
//
// Autobahn runs the same cases as a client against a server (fuzzingclient,
// implemented by [RunClientCase]) and as a server against a client
// (fuzzingserver). The cases only talk to [Peer], and Peer takes its role
// from [Options.Role]: a server peer does not mask, requires masked frames,
// drops TCP itself right after the close handshake and does not judge who
// dropped TCP. Running in reverse needs only an accept loop with a server
// side opening handshake that picks the case from the request URI.
package autobahn
