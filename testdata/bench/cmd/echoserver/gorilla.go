package main

import (
	"bytes"
	"net"
	"net/http"
	"sync"

	"github.com/gorilla/websocket"
)

func init() { impls["gorilla"] = serveGorilla }

// serveGorilla: gorilla/websocket behind net/http. Each message is read
// with NextReader into a reused buffer and sent with WriteMessage, which a
// server writes as one frame (header and payload in one writev) without
// copying. The write buffer comes from a pool, as gorilla's docs advise
// for many connections, so an idle connection holds none.
func serveGorilla(ln net.Listener) error {
	up := websocket.Upgrader{
		WriteBufferPool:   &sync.Pool{},
		CheckOrigin:       func(*http.Request) bool { return true },
		EnableCompression: deflate, // no context takeover, level 1 (its default)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		var buf bytes.Buffer
		for {
			op, rd, err := c.NextReader()
			if err != nil {
				return
			}
			buf.Reset()
			if _, err := buf.ReadFrom(rd); err != nil {
				return
			}
			if err := c.WriteMessage(op, buf.Bytes()); err != nil {
				return
			}
		}
	})
	return (&http.Server{Handler: h}).Serve(ln)
}
