package main

import (
	"net"
	"sync"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

func init() { impls["ws6455-cork"] = serveWS6455Cork }

// serveWS6455Cork is an experiment, not a peer: ws6455 with its writes
// corked. frame.Conn runs over corkConn, which keeps small writes in a
// buffer and sends them in one system call just before the next read (or
// when 16 KiB are pending), the way a frame.Conn could flush its echoes only
// when its read buffer runs dry. It shows what write coalescing saves when
// clients pipeline; in ping-pong it makes the same system calls as ws6455.
// (corkConn hides the file descriptor, so frame.Conn reads without its
// park-before-read and holds its read buffer while idle.)
func serveWS6455Cork(ln net.Listener) error {
	var up handshake.Upgrader
	cfg := frame.Config{MaxMessageSize: -1, WriteTimeout: 30 * time.Second}
	for {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			c := leanHandshake(&up, nc, cfg)
			if c == nil {
				return
			}
			c.NetConn().SetDeadline(time.Time{})
			cc := frame.NewConn(&corkConn{Conn: c.NetConn()}, nil, cfg)
			go leanEcho(cc, false)
		}()
	}
}

// corkConn buffers writes until the next Read.
type corkConn struct {
	net.Conn
	mu  sync.Mutex
	buf []byte
}

const corkMax = 16 << 10

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buf)+len(p) > corkMax {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > corkMax {
			return c.Conn.Write(p)
		}
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

func (c *corkConn) flushLocked() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}

func (c *corkConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	err := c.flushLocked()
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *corkConn) Close() error {
	c.mu.Lock()
	c.flushLocked()
	c.mu.Unlock()
	return c.Conn.Close()
}
