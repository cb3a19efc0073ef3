// Command wschat is a 1-to-1 chat relay over WebSockets (RFC 6455) built on
// ws6455's server/relay, with a chat page at /. Every connection gets an id
// from the server (128 random bits); a client sends {"to":"<id>",
// "message":"..."} and the relay delivers it to that one client, then
// tells the sender whether it did.
//
// Usage:
//
//	wschat [-addr :8080] [-queue 256] [-stuck-timeout 10s] [-max-message 65536] ...
//
// The address defaults to :8080, or :$PORT when PORT is set. Open
// http://localhost:8080/ in two browser tabs, paste one tab's id into the
// other (or pick it from the Online list) and chat. WebSocket clients
// connect to ws://host:port/ws (any path is served by the relay).
//
// # Protocol
//
// Every message is a JSON object in a text message:
//
//	server → client  {"type":"welcome","id":"<your id>","max_message":65536}
//	client → server  {"to":"<id>","ref":1,"message":"hi"}     ref optional, string or number
//	server → peer    {"type":"message","from":"<sender id>","message":"hi"}
//	server → client  {"type":"ack","to":"<id>","ref":1}       written to the peer's connection
//	server → client  {"type":"error","code":"...","error":"...","to":"<id>","ref":1}
//	client → server  {"type":"list","watch":true,"ref":2}
//	server → client  {"type":"online","ids":[...],"ref":2}   then {"type":"join"|"leave","id":...}
//
// Error codes: bad_request (with what was wrong), too_large,
// unknown_recipient, recipient_slow (the peer's queue is full: not
// queued), recipient_gone (the peer left before the message was written to
// it). Every request gets exactly one answer and the connection stays
// open. A client that does not read for -stuck-timeout while the relay
// has something to write to it is closed with 1008. The full rules are in
// the documentation of package server/relay.
//
// It logs with log/slog and shuts down gracefully on SIGINT or SIGTERM:
// every connection gets a 1001 "going away" close frame.
package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"

	"github.com/ws6455/ws6455/cmd/internal/serve"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/server"
	"github.com/ws6455/ws6455/server/relay"
)

//go:embed static
var static embed.FS

func main() { serve.Main("wschat", run) }

const usageProtocol = `
Protocol (JSON objects in text messages; see the server/relay docs for every rule):
  on connect      <- {"type":"welcome","id":"<your id>","max_message":65536}
  send            -> {"to":"<id>","ref":1,"message":"hi"}        ("ref" optional: string or number)
  the peer gets   <- {"type":"message","from":"<your id>","message":"hi"}
  you get one of  <- {"type":"ack","to":"<id>","ref":1}
                  <- {"type":"error","code":"<code>","error":"<what>","to":"<id>","ref":1}
  presence        -> {"type":"list","watch":true}
                  <- {"type":"online","ids":[...]}, then {"type":"join","id":...} / {"type":"leave","id":...}

  Error codes: bad_request (says what was wrong), too_large (over -max-message),
  unknown_recipient, recipient_slow (peer's queue full: not queued, retry later),
  recipient_gone (peer left before the message was written to it).

Delivery rules:
  - ids are 128 random bits from crypto/rand (22 base64url characters), chosen by the server.
  - ack = the whole message was written to the recipient's connection. Every request gets
    exactly one answer; nothing is dropped silently; per sender and recipient, in order.
  - Each connection has a bounded queue (-queue messages, -queue-bytes bytes); a full queue
    refuses new messages (recipient_slow) and never blocks the sender or anyone else.
  - A connection with a write blocked for -stuck-timeout (its client does not read) is
    closed with 1008 (policy violation); messages still queued for it: recipient_gone.
  - Bad requests are answered with an error and the connection stays open.
`

// run starts the relay and blocks until ctx ends, then shuts down.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("wschat", flag.ContinueOnError)
	fl.SetOutput(stderr)
	addr := fl.String("addr", serve.DefaultAddr(), "`address` to listen on (host:port); default :8080 or :$PORT")
	queue := fl.Int("queue", relay.DefaultQueueSize, "`messages` that may wait to be written to one connection")
	queueBytes := fl.Int("queue-bytes", relay.DefaultQueueBytes, "`bytes` of messages that may wait to be written to one connection")
	maxPending := fl.Int("max-pending", relay.DefaultMaxPending, "`requests` of one connection whose answers are not yet written to it; beyond, its requests wait")
	maxMsg := fl.Int("max-message", relay.DefaultMaxMessageSize, "largest request accepted, in `bytes` of JSON; larger ones are answered too_large")
	stuck := fl.Duration("stuck-timeout", relay.DefaultStuckTimeout, "close a connection with 1008 when a write to it stays blocked this long")
	deflate := fl.Bool("deflate", false, "accept permessage-deflate compression (RFC 7692); costs memory per connection")
	anyOrigin := fl.Bool("any-origin", false, "accept browser connections from pages of any Origin (default: same origin only)")
	logLevel := fl.String("log", "info", "log `level`: debug (joins and leaves), info, warn, error")
	fl.Usage = func() {
		w := fl.Output()
		fmt.Fprintf(w, "wschat: a 1-to-1 chat relay over WebSockets (RFC 6455) with a chat page at /\n\n")
		fmt.Fprintf(w, "Usage: wschat [flags]\n\nFlags:\n")
		fl.PrintDefaults()
		fmt.Fprint(w, usageProtocol)
		fmt.Fprintf(w, "\nExamples:\n  wschat                        listen on :8080; open http://localhost:8080/ in two tabs\n  wschat -addr 127.0.0.1:9002   WebSocket clients connect to ws://127.0.0.1:9002/ws\n")
	}
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see wschat -h)", fl.Arg(0))
	}
	for name, v := range map[string]int{"queue": *queue, "queue-bytes": *queueBytes, "max-pending": *maxPending, "max-message": *maxMsg} {
		if v <= 0 {
			return fmt.Errorf("-%s must be positive", name)
		}
	}
	if *stuck <= 0 {
		return errors.New("-stuck-timeout must be positive")
	}
	log, err := serve.Logger(stderr, *logLevel)
	if err != nil {
		return err
	}

	sub, err := fs.Sub(static, "static")
	if err != nil {
		return err
	}
	hub := &relay.Hub{
		QueueSize:      *queue,
		QueueBytes:     *queueBytes,
		MaxPending:     *maxPending,
		MaxMessageSize: *maxMsg,
		StuckTimeout:   *stuck,
		Logger:         log,
	}
	srv := &server.Server{
		Handler: hub,
		HTTP:    http.FileServerFS(sub),
		Logger:  log,
	}
	if *anyOrigin {
		srv.Upgrader.CheckOrigin = func(*handshake.Request) bool { return true }
	}
	if *deflate {
		srv.Upgrader.Compression = handshake.DeflateConfig{Mode: handshake.CompressionFull}
	}
	ln, err := serve.Listen(*addr)
	if err != nil {
		return err
	}
	log.Info("listening", "addr", ln.Addr().String(), "page", "http://"+ln.Addr().String()+"/",
		"queue", *queue, "stuck_timeout", *stuck, "max_message", *maxMsg, "deflate", *deflate)
	return serve.Run(ctx, log, srv, ln)
}
