package main

import (
	"net"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/server"
)

func init() { impls["ws6455"] = serveWS6455 }

// serveWS6455 is cmd/wsecho's echo: server.Server with its defaults, and
// ReadMessage into a reused buffer followed by WriteMessage.
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
	return srv.Serve(ln)
}
