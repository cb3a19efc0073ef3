package main

import (
	"bytes"
	"context"
	"net"
	"net/http"

	"github.com/coder/websocket"
)

func init() { impls["coder"] = serveCoder }

// serveCoder: coder/websocket behind net/http, compression disabled. Each
// message is read with Reader into a reused buffer and sent with Write,
// which sends one frame (Writer's Close would add an empty final frame).
func serveCoder(ln net.Listener) error {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode := websocket.CompressionDisabled
		if deflate {
			mode = websocket.CompressionNoContextTakeover
		}
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
			CompressionMode:      mode,
			CompressionThreshold: 1,
			InsecureSkipVerify:   true,
		})
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(-1)
		ctx := context.Background()
		var buf bytes.Buffer
		for {
			typ, rd, err := c.Reader(ctx)
			if err != nil {
				return
			}
			buf.Reset()
			if _, err := buf.ReadFrom(rd); err != nil {
				return
			}
			if err := c.Write(ctx, typ, buf.Bytes()); err != nil {
				return
			}
		}
	})
	return (&http.Server{Handler: h}).Serve(ln)
}
