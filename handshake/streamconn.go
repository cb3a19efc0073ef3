package handshake

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// streamConn is a net.Conn over one HTTP/2 stream of an RFC 8441
// WebSocket, on the client's side: what it writes goes out in DATA frames
// of the request body, what it reads comes from the DATA frames of the
// response body.
//
// Closing maps to the stream as RFC 8441 §5 maps TCP to it: CloseWrite
// ends the request body with END_STREAM (a FIN); Close ends the request
// body too, then closes the response body, which resets the stream with
// RST_STREAM(CANCEL) if the server has not ended its side yet (as closing
// a socket with data still coming resets TCP), and cancels the request.
// A server's END_STREAM reads as io.EOF; its RST_STREAM as an error.
//
// Deadlines: a reader goroutine moves the response body into Read one
// chunk at a time (it reads the next chunk only when Read has consumed
// the last, so the HTTP/2 flow-control window, not a buffer here, holds
// back a fast server), and Read waits for a chunk, the end of the stream
// or the read deadline, whichever comes first; a read that times out
// loses nothing. A write cannot be taken back once the HTTP/2 client has
// part of it, so a write deadline that passes during a Write aborts the
// stream (RST_STREAM) and the Write returns a timeout: the connection is
// then broken, as a TCP connection is after a write timeout in practice.
// A deadline already past when Write starts fails it before anything is
// written, and the stream is unharmed.
type streamConn struct {
	pw     *io.PipeWriter
	body   io.ReadCloser
	cancel context.CancelFunc
	local  net.Addr
	remote net.Addr
	reused bool // the stream went on an HTTP/2 connection that was already open

	// Reading. The reader goroutine sends chunks and waits for ack
	// before reading the next; eof is closed after rerr is set.
	rmu    sync.Mutex
	cur    []byte // owned by Read, under rmu
	chunks chan []byte
	ack    chan struct{}
	eof    chan struct{}
	rerr   error
	rdl    deadline

	// Writing.
	wmu       sync.Mutex // serializes Write and CloseWrite
	wstate    sync.Mutex // guards the fields below
	wdeadline time.Time
	wtimer    *time.Timer // armed while a Write is in progress
	wTimedOut bool
	wClosed   bool

	closeOnce sync.Once
	closed    chan struct{}
	done      chan struct{} // the reader goroutine has ended
}

func newStreamConn(pw *io.PipeWriter, body io.ReadCloser, cancel context.CancelFunc, local, remote net.Addr) *streamConn {
	if local == nil {
		local = streamAddr{}
	}
	if remote == nil {
		remote = streamAddr{}
	}
	c := &streamConn{
		pw:     pw,
		body:   body,
		cancel: cancel,
		local:  local,
		remote: remote,
		chunks: make(chan []byte),
		ack:    make(chan struct{}, 1),
		eof:    make(chan struct{}),
		closed: make(chan struct{}),
		done:   make(chan struct{}),
	}
	c.rdl.init()
	go c.readLoop()
	return c
}

// streamReadSize is the size of the reader goroutine's buffer.
const streamReadSize = 32 << 10

func (c *streamConn) readLoop() {
	defer close(c.done)
	buf := make([]byte, streamReadSize)
	for {
		n, err := c.body.Read(buf)
		if n > 0 {
			select {
			case c.chunks <- buf[:n]:
			case <-c.closed:
				return
			}
			select {
			case <-c.ack:
			case <-c.closed:
				return
			}
		}
		if err != nil {
			c.rerr = err
			close(c.eof)
			return
		}
	}
}

func (c *streamConn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// Read reads the server's DATA frames. io.EOF means the server ended the
// stream (END_STREAM, RFC 8441 §5: the TCP FIN of RFC 6455).
func (c *streamConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	for c.cur == nil {
		if c.isClosed() {
			return 0, net.ErrClosed
		}
		select {
		case b := <-c.chunks:
			c.cur = b
		case <-c.eof:
			return 0, c.rerr
		case <-c.rdl.wait():
			return 0, os.ErrDeadlineExceeded
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
	n := copy(p, c.cur)
	c.cur = c.cur[n:]
	if len(c.cur) == 0 {
		c.cur = nil
		c.ack <- struct{}{} // never blocks: one chunk is out at a time
	}
	return n, nil
}

// errWriteTimeout ends the request body when a write deadline passes
// during a Write.
var errWriteTimeout = errors.New("handshake: HTTP/2 stream aborted: write deadline passed")

// Write sends p in DATA frames. It returns once the HTTP/2 client has
// taken all of p (it blocks while the server's flow-control window is
// closed).
func (c *streamConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.isClosed() {
		return 0, net.ErrClosed
	}
	c.wstate.Lock()
	switch {
	case c.wClosed:
		c.wstate.Unlock()
		return 0, errors.New("handshake: write after CloseWrite")
	case c.wTimedOut:
		c.wstate.Unlock()
		return 0, os.ErrDeadlineExceeded
	case !c.wdeadline.IsZero() && !time.Now().Before(c.wdeadline):
		c.wstate.Unlock()
		return 0, os.ErrDeadlineExceeded
	}
	c.wtimer = time.AfterFunc(time.Hour, c.writeTimeout)
	if c.wdeadline.IsZero() {
		c.wtimer.Stop()
	} else {
		c.wtimer.Reset(time.Until(c.wdeadline))
	}
	c.wstate.Unlock()

	n, err := c.pw.Write(p)

	c.wstate.Lock()
	c.wtimer.Stop()
	c.wtimer = nil
	timedOut := c.wTimedOut
	c.wstate.Unlock()
	switch {
	case timedOut:
		return n, os.ErrDeadlineExceeded
	case err != nil && c.isClosed():
		return n, net.ErrClosed
	}
	return n, err
}

// writeTimeout runs when the write deadline passes during a Write.
func (c *streamConn) writeTimeout() {
	c.wstate.Lock()
	c.wTimedOut = true
	c.wstate.Unlock()
	c.pw.CloseWithError(errWriteTimeout) // the client resets the stream
	c.cancel()
}

// CloseWrite ends the request body: END_STREAM, the FIN of RFC 8441 §5.
// Reading goes on until the server ends its side.
func (c *streamConn) CloseWrite() error {
	c.wstate.Lock()
	c.wClosed = true
	c.wstate.Unlock()
	return c.pw.Close()
}

// Close ends the stream (see streamConn) and releases the reader
// goroutine. It does not wait for the server.
func (c *streamConn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		err = nil
		close(c.closed)
		c.pw.Close()
		c.body.Close()
		c.cancel()
		c.rdl.set(time.Time{})
	})
	return err
}

func (c *streamConn) LocalAddr() net.Addr  { return c.local }
func (c *streamConn) RemoteAddr() net.Addr { return c.remote }

func (c *streamConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *streamConn) SetReadDeadline(t time.Time) error {
	if c.isClosed() {
		return net.ErrClosed
	}
	c.rdl.set(t)
	return nil
}

func (c *streamConn) SetWriteDeadline(t time.Time) error {
	if c.isClosed() {
		return net.ErrClosed
	}
	c.wstate.Lock()
	defer c.wstate.Unlock()
	c.wdeadline = t
	if c.wtimer != nil {
		if t.IsZero() {
			c.wtimer.Stop()
		} else {
			c.wtimer.Reset(time.Until(t))
		}
	}
	return nil
}

// streamAddr stands in for an address the HTTP/2 client did not report.
type streamAddr struct{}

func (streamAddr) Network() string { return "http2" }
func (streamAddr) String() string  { return "http2-stream" }

// deadline is a settable deadline whose channel is closed when it
// passes.
type deadline struct {
	mu    sync.Mutex
	gen   uint64
	timer *time.Timer
	ch    chan struct{}
	fired bool
}

func (d *deadline) init() { d.ch = make(chan struct{}) }

// set moves the deadline to t; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if d.fired {
		d.ch = make(chan struct{})
		d.fired = false
	}
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.ch)
		d.fired = true
		return
	}
	gen := d.gen
	d.timer = time.AfterFunc(dur, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.gen == gen && !d.fired {
			close(d.ch)
			d.fired = true
		}
	})
}

// wait returns a channel closed when the deadline passes.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ch
}
