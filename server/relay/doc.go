// Package relay is a 1-to-1 chat relay over WebSockets (RFC 6455), a
// handler to mount on a server.Server: every connection is given an
// identifier by the server, and a client sends a JSON request naming
// another client's identifier to have the relay deliver a message to that
// one client. Hub is the handler; its zero value serves with the defaults:
//
//	srv := &server.Server{Handler: &relay.Hub{}}
//	log.Fatal(srv.ListenAndServe(":8080"))
//
// Under net/http, mount the Server (its ServeHTTP upgrades the request):
// mux.Handle("/chat", &server.Server{Handler: hub}). cmd/wschat runs a Hub
// with a chat page.
//
// This comment is the one full description of the protocol; cmd/wschat's
// documentation, its -h and its page refer to it.
//
// # Envelopes
//
// Every WebSocket message is one JSON object in a text message (RFC 6455
// §5.6). On connect the relay sends
//
//	{"type":"welcome","id":"mJ2ohm3R0bWVVj0NSvT8xw","max_message":65536}
//
// The id is 128 bits from crypto/rand in unpadded base64url (22
// characters): unguessable, chosen by the server alone, and never given to
// two connections. "max_message" is the longest request accepted, in
// bytes (Hub.MaxMessageSize). A client sends a message with
//
//	{"to":"<id>","ref":7,"message":"hello"}
//
// ("type":"send" may be added; "ref", a string or a number of at most 128
// bytes of JSON, is optional, chosen by the client and echoed in the
// answer). The recipient gets
//
//	{"type":"message","from":"<sender id>","message":"hello"}
//
// and the sender gets exactly one answer per request, an ack or an error:
//
//	{"type":"ack","to":"<id>","ref":7}
//	{"type":"error","code":"unknown_recipient","error":"...","to":"<id>","ref":7}
//
// # Error codes
//
// The "code" of an error envelope is one of these ("error" is a sentence
// for people; "to" and "ref" are present when known):
//
//   - bad_request (CodeBadRequest): the request is not a JSON object, has
//     a field of the wrong type, lacks "to" or "message", has an unknown
//     field or type, or came in a binary message; "error" says what was
//     wrong.
//   - too_large (CodeTooLarge): the request is longer than MaxMessageSize
//     bytes. Its ref is echoed if it comes before the long value, as in
//     the example above.
//   - unknown_recipient (CodeUnknownRecipient): no connected client has
//     that id.
//   - recipient_slow (CodeRecipientSlow): the recipient's outbound queue
//     is full; the message was not queued. Sending it again later may
//     succeed.
//   - recipient_gone (CodeRecipientGone): the recipient disconnected (or
//     was disconnected) before the message was written to its connection.
//
// The connection stays open after every error.
//
// # Presence
//
// {"type":"list","ref":1} is answered with
// {"type":"online","ids":[...],"ref":1}, the other connected ids. With
// "watch":true the client is also sent {"type":"join","id":...} and
// {"type":"leave","id":...} as clients come and go ("watch":false stops
// them). These events share the bounded queue with messages; when one
// does not fit, the client is sent a fresh {"type":"online","ids":[...],
// "resync":true} once its queue drains, so its view is never wrong for
// long. Treat events as updates to a set (a join for an id already listed
// changes nothing).
//
// # Delivery rules
//
// An ack means the relay wrote the whole message to the recipient's
// connection (handed it to the operating system) while the recipient was
// connected. It does not prove that the recipient's application read it:
// a recipient whose connection breaks right after may lose it, as with any
// transport; applications that need more have the recipient answer.
//
// No data is silently dropped: every request gets exactly one answer
// (while its sender is connected), and a message either arrives whole at
// the recipient, in one WebSocket message, or its sender is told that it
// did not (recipient_slow, recipient_gone, unknown_recipient). Messages
// from one sender to one recipient arrive in the order they were sent; a
// refused message leaves a gap that the sender knows about.
//
// # Closing
//
// When a client sends its close frame, it leaves the hub at once
// (messages to it get unknown_recipient), but the relay first writes what
// it had queued for it, the answers to its requests and the messages
// routed to it (acked to their senders as usual), and answers the close
// frame after that (RFC 6455 §5.5.1: "An endpoint MAY delay sending a
// Close frame until its current message is sent"). A script that sends a
// request and closes when its input ends gets its answer. This takes at
// most the connection's close timeout (frame.Config.CloseTimeout); what
// could not be written by then is answered recipient_gone.
//
// # Flow control
//
// Each connection has one writer goroutine draining a bounded outbound
// queue (QueueSize messages and QueueBytes bytes, not counting answers to
// its own requests). Routing a message never waits for the recipient: a
// message that does not fit is refused with recipient_slow, so a slow
// client never blocks the hub or other clients. A connection has at most
// MaxPending requests whose answers are not yet written to it; beyond
// that the relay stops reading its requests, and TCP flow control slows
// the client down.
//
// Memory per connection is bounded by QueueBytes, MaxPending answers and
// one request of MaxMessageSize being read. Longer requests are read and
// discarded in pieces, never held whole (up to the frame.Config
// MaxMessageSize of the server, beyond which the connection is failed with
// 1009).
//
// # Stuck clients
//
// A stuck connection, one on which a write has been blocked for
// StuckTimeout because the client does not read, is closed: it leaves the
// hub at once, the messages still queued for it are answered
// recipient_gone, and the relay starts the close handshake with 1008
// (policy violation, RFC 6455 §7.4.1). What is guaranteed is the end of
// the connection, within the connection's close timeout
// (frame.Config.CloseTimeout, 5 s by default) after the kick: the TCP
// connection is closed then, answered or not. The 1008 close frame can
// only follow the write that is blocked, so a client sees it only if it
// reads again before that; a client whose receive buffer stays full sees
// the connection end without a close frame (1006) when it next reads.
package relay
