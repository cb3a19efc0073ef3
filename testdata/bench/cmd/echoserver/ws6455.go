package main

import (
	"net"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/server"
)

func init() {
	impls["ws6455"] = serveWS6455Events
	impls["ws6455-workers"] = func(ln net.Listener) error { return serveWS6455EventsWith(ln, -1) }
	impls["ws6455-goroutine"] = serveWS6455
}

// echoEvents is cmd/wsecho's default echo: event mode, OnMessage writes
// the message back.
type echoEvents struct{}

func (echoEvents) OnOpen(*frame.Conn, *handshake.Result) {}
func (echoEvents) OnMessage(c *frame.Conn, op frame.Opcode, msg []byte) {
	c.WriteMessage(op, msg)
}
func (echoEvents) OnClose(*frame.Conn, error) {}

// serveWS6455Events is server.Server with its defaults in event mode
// (server.EventHandler): on Linux no goroutine per idle connection, and
// run-to-completion loops, one per P.
func serveWS6455Events(ln net.Listener) error { return serveWS6455EventsWith(ln, 0) }

// serveWS6455EventsWith is event mode with Server.EventLoops = loops
// (ws6455-workers: -1, one loop that hands each wakeup to a worker).
func serveWS6455EventsWith(ln net.Listener, loops int) error {
	srv := &server.Server{
		Events:     echoEvents{},
		EventLoops: loops,
		Config:     frame.Config{MaxMessageSize: -1},
	}
	setDeflate(srv)
	return srv.Serve(ln)
}

// serveWS6455 is cmd/wsecho -mode goroutines: server.Server with its
// defaults, a goroutine per connection, ReadMessage into a reused buffer
// followed by WriteMessage.
func serveWS6455(ln net.Listener) error {
	srv := &server.Server{
		Handler: server.HandlerFunc(func(c *frame.Conn, _ *handshake.Result) {
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
		}),
		Config: frame.Config{MaxMessageSize: -1},
	}
	setDeflate(srv)
	return srv.Serve(ln)
}

// setDeflate turns permessage-deflate on for -deflate: no context
// takeover, level 1, every message compressed.
func setDeflate(srv *server.Server) {
	if deflate {
		srv.Upgrader.Compression = handshake.DeflateConfig{Mode: handshake.CompressionNoContextTakeover}
		srv.Config.CompressionLevel = 1
		srv.Config.CompressMinSize = -1
	}
}
