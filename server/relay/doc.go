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
//
// # Several nodes
//
// A relay can run as several nodes (processes, machines) joined by a NATS
// server or cluster (https://nats.io): JoinNATS makes a Hub a node, and
// cmd/wschat does it with -nats. A client connects to any node and talks
// to clients on every node; without JoinNATS the Hub is a single relay
// and nothing here applies. The protocol above holds across nodes, with
// these definitions:
//
//   - Ids are made as above (128 random bits) by the node that serves the
//     client. They are unique across the nodes with overwhelming
//     probability (among a billion ids, the chance that any two are equal is
//     about 10⁻²¹); a node checks its own ids only.
//   - An ack for a message to a client on another node means the
//     recipient's node queued the message for that connection (in a
//     single relay it means written). If the recipient disconnects after
//     that, the message may be lost, as can one written just before a
//     disconnect.
//   - unknown_recipient means that no node has the id: NATS found no
//     subscriber for it, and presence does not list it on another node.
//   - recipient_slow and recipient_gone mean what they mean above, decided
//     by the recipient's node.
//   - Messages from one sender to one recipient arrive in order: a node
//     asks the recipient's node and waits for its answer before it reads
//     the sender's next request, so one connection's requests to other
//     nodes are answered one at a time.
//   - Presence is cluster-wide: the online list names the clients of
//     every node, and watchers are sent the joins and leaves of every
//     node. A join or leave on another node arrives one NATS hop later:
//     a client of node B appears in node A's list shortly after its
//     welcome, not at the same moment.
//
// Two error codes concern the bus alone; after either the connection
// stays open and the message may be sent again:
//
//   - bus_unavailable (CodeBusUnavailable): the recipient is not on this
//     node and the message was not handed to the recipient's node, because
//     this node's NATS connection is down, or presence lists the recipient
//     on a node that NATS cannot reach now (a node cut off from NATS, or
//     dead and not yet dropped). The message was not delivered.
//   - bus_timeout (CodeBusTimeout): the message may have been sent on
//     NATS but the recipient's node did not answer within
//     NodeConfig.RemoteTimeout (5 s by default), or this node's NATS
//     connection was closed while it waited: NATS or a node failed
//     meanwhile. The message may or may not have been queued; this is the
//     one answer that does not tell the message's fate.
//
// # Subjects
//
// Every subject starts with NodeConfig.Prefix ("wschat" by default); the
// nodes of one relay share it. Nodes trust each other: NATS credentials
// are the boundary.
//
//	wschat.client.<id>          request/reply: a message for client <id>
//	wschat.presence             publish: joins, leaves, heartbeats, byes
//	wschat.node.<node>.ids      request/reply: a node's snapshot of its ids
//
// The node serving a client subscribes to wschat.client.<id> from its
// connect (before its welcome is written) to its leave. A sender's node
// sends the recipient's envelope, {"type":"message","from":...}, as the
// request's data; the recipient's node queues it and answers "ack",
// "recipient_slow" or "recipient_gone" in plain text. NATS's "no
// responders" answer means no node has the id. Client ids are checked to
// be 22 base64url characters before they are put in a subject.
//
// On wschat.presence each node publishes JSON events, in order on its
// one NATS connection:
//
//	{"node":"<node id>","name":"node1","seq":41,"op":"join","id":"<client id>"}
//	{"node":"<node id>","name":"node1","seq":42,"op":"leave","id":"<client id>"}
//	{"node":"<node id>","name":"node1","seq":42,"op":"hb","clients":330}
//	{"node":"<node id>","name":"node1","seq":0,"op":"bye"}
//
// seq counts the node's joins and leaves. A node applies another's join
// or leave whose seq follows the last it applied. On a gap (a lost
// event, a node it has not heard of, a heartbeat whose seq differs from
// its own count) it asks that node for its snapshot on
// wschat.node.<node>.ids, {"seq":42,"ids":[...]}, replaces what it knew,
// tells its watchers the difference as joins and leaves, and goes on
// from that seq. A failed request is retried at the next heartbeat.
//
// # Faults across nodes
//
//   - A node leaves (JoinNATS's Node.Leave, wschat's shutdown): it
//     publishes "bye" and the others drop its clients from presence at
//     once (watchers get leaves); its clients are then closed with 1001.
//   - A node dies or is cut off from NATS: the others drop its clients
//     from presence when it has been silent for NodeConfig.DeadAfter,
//     checked every NodeConfig.Heartbeat, so within DeadAfter + Heartbeat
//     (3 s + 1 s by default) of its last heartbeat. Meanwhile a message to
//     one of its clients gets bus_unavailable when NATS has already dropped
//     the dead node's subscriptions (at once when its TCP connection
//     closes), or bus_timeout when the node stopped answering with its
//     connection open; after the drop, unknown_recipient.
//   - NATS is unreachable or restarts: a message to a client on another
//     node gets bus_unavailable at once (a node's connection does not
//     buffer while it is down: NATSOptions), or bus_timeout if it was in
//     flight; messages between clients of one node go on as in a single
//     relay. The node reconnects by itself, every 250 ms, forever, and
//     NATS's client library renews its subscriptions; once the nodes are
//     back, messages flow again. If NATS was down longer than DeadAfter,
//     each node dropped the others' clients from presence and lists them
//     again from their snapshots when their heartbeats return.
//   - A slow recipient on another node: recipient_slow, decided by its
//     node as in a single relay (the message was not queued).
//
// No fault makes a node ack a message that was not queued, and no
// message is delivered twice: nothing is retried.
package relay
