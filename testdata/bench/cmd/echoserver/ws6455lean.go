package main

import (
	"bufio"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

func init() {
	impls["ws6455-lean"] = func(ln net.Listener) error { return serveWS6455Lean(ln, false) }
	impls["ws6455-nobuf"] = func(ln net.Listener) error { return serveWS6455Lean(ln, true) }
	impls["ws6455-prewait"] = func(ln net.Listener) error { leanPrewait = true; return serveWS6455Lean(ln, true) }
}

// leanPrewait: before each ReadMessage the echo loop waits for the socket
// to become readable itself, in a small stack frame (a MSG_PEEK then a park
// in the poller), so that a parked connection's stack is short enough for
// the garbage collector to shrink it to 2 KiB. It costs one more peek per
// message; it shows what parking in a small frame inside frame.Conn would
// save.
var leanPrewait bool

// serveWS6455Lean is an experiment, not a peer: ws6455's handshake and
// frame.Conn without server.Server, to measure what the server layer costs
// an idle connection. The handshake runs in the accepting goroutine's
// child, which exits after starting the echo loop in a fresh goroutine, so
// the loop's stack starts small and holds no handshake frames. With nobuf
// the echo loop keeps no message buffer between messages (it allocates one
// per message instead), to measure what the handler's reused buffer holds.
func serveWS6455Lean(ln net.Listener, nobuf bool) error {
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
			go leanEcho(c, nobuf)
		}()
	}
}

var leanReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

func leanHandshake(up *handshake.Upgrader, nc net.Conn, cfg frame.Config) *frame.Conn {
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	br := leanReaders.Get().(*bufio.Reader)
	br.Reset(nc)
	defer func() { br.Reset(nil); leanReaders.Put(br) }()
	req, err := handshake.ReadRequest(br, up.Limits)
	if err == nil {
		_, err = up.UpgradeRequest(req, nc)
	}
	if err != nil {
		nc.Close()
		return nil
	}
	nc.SetDeadline(time.Time{})
	buffered, _ := br.Peek(br.Buffered())
	return frame.NewConn(nc, buffered, cfg)
}

// leanEcho keeps its frame small (the buffer lives in e, no defer), so
// that the stack of a parked connection stays under a quarter of 4 KiB and
// the garbage collector can shrink it to 2 KiB.
func leanEcho(c *frame.Conn, nobuf bool) {
	e := &echoState{c: c, nobuf: nobuf}
	if leanPrewait {
		if sc, ok := c.NetConn().(syscall.Conn); ok {
			e.raw, _ = sc.SyscallConn()
			e.wait = func(fd uintptr) bool {
				if e.armed {
					e.armed = false
					_, _, err := syscall.Recvfrom(int(fd), e.peek[:], syscall.MSG_PEEK)
					return err != syscall.EAGAIN
				}
				return true
			}
		}
	}
	for e.once() {
	}
	c.Close()
}

type echoState struct {
	c     *frame.Conn
	buf   []byte
	nobuf bool
	raw   syscall.RawConn
	wait  func(uintptr) bool
	armed bool
	peek  [1]byte
}

//go:noinline
func (e *echoState) once() bool {
	if e.raw != nil {
		e.armed = true
		if e.raw.Read(e.wait) != nil {
			return false
		}
	}
	return e.readWrite()
}

//go:noinline
func (e *echoState) readWrite() bool {
	op, msg, err := e.c.ReadMessage(e.buf)
	if err != nil {
		return false
	}
	if err := e.c.WriteMessage(op, msg); err != nil {
		return false
	}
	if !e.nobuf {
		e.buf = msg
	}
	return true
}
