package main

import (
	"net"

	"github.com/lxzan/gws"
)

func init() { impls["gws"] = serveGws }

type gwsEcho struct{ gws.BuiltinEventHandler }

func (gwsEcho) OnPing(c *gws.Conn, p []byte) { _ = c.WritePong(p) }

func (gwsEcho) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	_ = c.WriteMessage(m.Opcode, m.Bytes())
}

// serveGws is gws's own server (its handshake on the raw connection, no
// net/http) with the echo handler of its examples, ParallelEnabled false
// (the default: messages of a connection are handled in its read loop).
func serveGws(ln net.Listener) error {
	opt := &gws.ServerOption{
		ParallelEnabled:    false,
		ReadMaxPayloadSize: 64 << 20,
	}
	if deflate {
		opt.PermessageDeflate = gws.PermessageDeflate{Enabled: true, Level: 1, Threshold: 1}
	}
	srv := gws.NewServer(gwsEcho{}, opt)
	return srv.RunListener(ln)
}
