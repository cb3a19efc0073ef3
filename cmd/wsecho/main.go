// Command wsecho is a WebSocket echo server (RFC 6455) built on ws6455. It
// echoes every message with its own type (text stays text, binary stays
// binary), answers pings, echoes close codes, and serves a playground page
// at / where a person can connect, send messages and watch the events.
//
// Usage:
//
//	wsecho [-addr :8080] [-trace] [-deflate] [-max-message 16777216] [-mode events]
//
// The address defaults to :8080, or :$PORT when PORT is set. With -trace
// every frame read and written is printed in an annotated form, so a
// learner can watch the protocol on the wire. It logs with log/slog and
// shuts down gracefully on SIGINT or SIGTERM: every connection gets a
// 1001 "going away" close frame.
//
// By default it serves in event mode (server.EventHandler): an idle
// connection holds no goroutine and no buffer, which is what an echo
// service with many quiet clients wants. -mode goroutines serves with a
// goroutine per connection (server.Handler) instead, the simpler model
// to read; both echo alike.
package main

import (
	"context"
	"embed"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ws6455/ws6455/cmd/internal/serve"
	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/server"
)

//go:embed static
var static embed.FS

func main() { serve.Main("wsecho", run) }

// run starts the server and blocks until ctx ends, then shuts down.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("wsecho", flag.ContinueOnError)
	fl.SetOutput(stderr)
	addr := fl.String("addr", serve.DefaultAddr(), "`address` to listen on (host:port); default :8080 or :$PORT")
	trace := fl.Bool("trace", false, "print every frame read and written (to stdout)")
	deflate := fl.Bool("deflate", true, "accept permessage-deflate compression (RFC 7692)")
	maxMsg := fl.Int64("max-message", frame.DefaultMaxMessageSize, "largest message accepted, in `bytes` (after decompression); -1 for no limit")
	origins := fl.Bool("any-origin", true, "accept browser connections from any Origin (the echo service is public); false enforces same-origin")
	logLevel := fl.String("log", "info", "log `level`: debug, info, warn, error")
	mode := fl.String("mode", "events", "serving `model`: events (no goroutine per idle connection) or goroutines (one per connection)")
	fl.Usage = func() {
		fmt.Fprintf(fl.Output(), "wsecho: a WebSocket echo server (RFC 6455) with a playground page at /\n\n")
		fmt.Fprintf(fl.Output(), "Usage: wsecho [flags]\n\nFlags:\n")
		fl.PrintDefaults()
		fmt.Fprintf(fl.Output(), "\nExamples:\n  wsecho                       listen on :8080, open http://localhost:8080/\n  wsecho -addr 127.0.0.1:9001  for the conformance runner: wsconform -url ws://127.0.0.1:9001\n  wsecho -trace                print every frame\n")
	}
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see wsecho -h)", fl.Arg(0))
	}
	log, err := serve.Logger(stderr, *logLevel)
	if err != nil {
		return err
	}

	sub, err := fs.Sub(static, "static")
	if err != nil {
		return err
	}
	srv := &server.Server{
		Config: frame.Config{MaxMessageSize: *maxMsg},
		HTTP:   http.FileServerFS(sub),
		Logger: log,
	}
	switch *mode {
	case "events":
		srv.Events = echoEvents{log}
	case "goroutines":
		srv.Handler = server.HandlerFunc(echo)
	default:
		return fmt.Errorf("-mode %q: want events or goroutines", *mode)
	}
	if *origins {
		srv.Upgrader.CheckOrigin = func(*handshake.Request) bool { return true }
	}
	if *deflate {
		srv.Upgrader.Compression = handshake.DeflateConfig{Mode: handshake.CompressionFull}
	}
	if *trace {
		var mu sync.Mutex
		srv.Trace = func(remote net.Addr, dir frame.Direction, h frame.Header, p []byte) {
			line := frame.FormatFrame(dir, h, p)
			mu.Lock()
			fmt.Fprintf(stdout, "%s %s %s\n", time.Now().Format("15:04:05.000"), remote, line)
			mu.Unlock()
		}
	}
	ln, err := serve.Listen(*addr)
	if err != nil {
		return err
	}
	log.Info("listening", "addr", ln.Addr().String(), "page", "http://"+ln.Addr().String()+"/", "deflate", *deflate, "mode", *mode)
	return serve.Run(ctx, log, srv, ln)
}

// echo sends every message back with its own opcode (RFC 6455 §5.6) until
// the connection closes. The buffer is reused, so echoing allocates
// nothing once it has grown to the largest message.
func echo(c *frame.Conn, _ *handshake.Result) {
	var buf []byte
	for {
		op, msg, err := c.ReadMessage(buf)
		if err != nil {
			return
		}
		buf = msg
		if err := c.WriteMessage(op, msg); err != nil {
			return
		}
	}
}

// echoEvents is echo in event mode: the server calls OnMessage for each
// message that arrives, and no goroutine waits between messages.
type echoEvents struct{ log *slog.Logger }

func (echoEvents) OnOpen(*frame.Conn, *handshake.Result) {}

// OnMessage sends the message back with its own opcode (RFC 6455 §5.6).
// msg is the server's reused buffer, so echoing allocates nothing.
func (echoEvents) OnMessage(c *frame.Conn, op frame.Opcode, msg []byte) {
	c.WriteMessage(op, msg) // an error ends the connection; OnClose follows
}

func (e echoEvents) OnClose(c *frame.Conn, err error) {
	e.log.Debug("connection closed", "remote", c.NetConn().RemoteAddr(), "code", int(frame.CloseStatus(err)), "err", err)
}
