package frame

import (
	"encoding/binary"
	"errors"
	"io"
	"time"
)

// This file is the send path: messages → frames (§5.2, §5.4) → masked
// payload for clients (§5.3) → one write per frame (or writev for large
// server frames, so the payload is never copied).

// maskChunk bounds the buffer a client masks large payloads through.
const maskChunk = 64 << 10

// writeErr handles the result of a write to the socket; wmu is held. A
// write that failed or timed out may have left half a frame on the wire,
// after which nothing more can be sent, not even a close frame: the
// connection is failed at once (RFC 6455 §7.1.7 lets an endpoint drop the
// connection when it cannot go on). Its TCP connection is closed, which
// ends a read blocked on it, and Err and the reader report 1006 (Local)
// with the write error. Every later write returns the same error.
func (c *Conn) writeErr(err error) error {
	if err != nil && c.werr == nil {
		c.werr = err
		c.abort(&CloseError{Code: CloseAbnormal, Local: true, Err: &WriteError{Err: err}})
	}
	return err
}

// WriteError is the cause (CloseError.Err) of a 1006 when a write failed
// or timed out and the connection was failed because of it.
type WriteError struct{ Err error }

func (e *WriteError) Error() string { return "frame: write failed: " + e.Err.Error() }
func (e *WriteError) Unwrap() error { return e.Err }

// newMask returns a fresh masking key: RFC 6455 §5.3 "The masking key needs
// to be unpredictable; thus, the masking key MUST be derived from a strong
// source of entropy". The ChaCha8 generator is seeded from crypto/rand when
// the Conn is created, so no system call is made per frame.
func (c *Conn) newMask() (k [4]byte) {
	binary.LittleEndian.PutUint32(k[:], uint32(c.rng.Uint64()))
	return k
}

// writeFrame writes one frame; the caller must not hold wmu.
func (c *Conn) writeFrame(fin bool, rsv byte, op Opcode, p []byte) error {
	c.wmu.Lock()
	defer c.unlockWrite()
	if c.werr != nil {
		return c.werr
	}
	if c.closeSent.Load() {
		return ErrCloseSent
	}
	h := Header{Fin: fin, Rsv: rsv, Opcode: op, Length: int64(len(p))}
	if c.role == RoleClient {
		// §5.1: "a client MUST mask all frames that it sends to the server".
		h.Masked = true
		h.Mask = c.newMask()
	}
	return c.writeHeaderPayload(h, p)
}

// unlockWrite releases wmu, then sends the pong the reader left pending
// while wmu was held (see queuePong).
func (c *Conn) unlockWrite() {
	c.wmu.Unlock()
	for c.pongPending.Load() && c.wmu.TryLock() {
		c.writePendingPong()
		c.wmu.Unlock()
	}
}

// queuePong answers a ping (RFC 6455 §5.5.2) from the reading goroutine
// without waiting for the write lock: if a writer holds it, possibly
// blocked on a peer that is itself blocked sending us its pong, the reader
// would stop reading and both ends would stall. The pong is then sent by
// whoever releases the lock next, right after the frame in progress ("as
// soon as is practical"); a newer ping's payload replaces an unsent one,
// which §5.5.3 allows ("MAY elect to send a Pong frame for only the most
// recently processed Ping frame").
func (c *Conn) queuePong(p []byte) {
	c.pongMu.Lock()
	c.pongLen = copy(c.pongIn[:], p)
	c.pongPending.Store(true)
	c.pongMu.Unlock()
	if c.wmu.TryLock() {
		c.writePendingPong()
		c.unlockWrite()
	}
}

// writePendingPong sends the pending pong, if any; wmu is held.
func (c *Conn) writePendingPong() {
	c.pongMu.Lock()
	if !c.pongPending.Load() {
		c.pongMu.Unlock()
		return
	}
	p := c.pongOut[:copy(c.pongOut[:], c.pongIn[:c.pongLen])]
	c.pongPending.Store(false)
	c.pongMu.Unlock()
	if c.werr != nil || c.closeSent.Load() {
		return
	}
	h := Header{Fin: true, Opcode: OpPong, Length: int64(len(p))}
	if c.role == RoleClient {
		h.Masked = true
		h.Mask = c.newMask()
	}
	c.writeHeaderPayload(h, p)
}

// writeHeaderPayload writes a frame; wmu is held. A client frame's payload
// is masked in a copy: p is never modified.
func (c *Conn) writeHeaderPayload(h Header, p []byte) error {
	if ud := c.userWD.Load(); ud != 0 {
		// A deadline set through StreamConn: the earlier of it and
		// WriteTimeout, set for every frame while it is in force.
		dl := time.Unix(0, ud)
		if c.writeTimeout > 0 {
			if t := time.Now().Add(c.writeTimeout); t.Before(dl) {
				dl = t
			}
		}
		c.wdeadline = time.Time{} // refreshed below once it is cleared
		c.nc.SetWriteDeadline(dl)
	} else if c.writeTimeout > 0 {
		if now := time.Now(); c.wdeadline.Sub(now) < c.writeTimeout/2 {
			c.wdeadline = now.Add(c.writeTimeout)
			c.nc.SetWriteDeadline(c.wdeadline)
		}
	}
	if c.cfg.Trace != nil {
		c.cfg.Trace(c, Outbound, h, p)
	}
	total := HeaderSize(h) + len(p)
	if c.holding.Load() || len(c.held) > 0 {
		return c.writeHeld(h, p, total)
	}
	return c.writeNow(h, p, total)
}

// writeNow sends a frame of total bytes (header and payload); wmu is held.
func (c *Conn) writeNow(h Header, p []byte, total int) error {
	if !h.Masked {
		if total <= c.wbufSize {
			bp := getBuf(total)
			b := AppendHeader((*bp)[:0], h)
			b = append(b, p...)
			_, err := c.nc.Write(b)
			putBuf(bp)
			return c.writeErr(err)
		}
		// Large payload: header and payload in one writev, no copy.
		c.iov[0], c.iov[1] = AppendHeader(c.hdrOut[:0], h), p
		c.bufs = c.iov[:]
		_, err := c.bufs.WriteTo(c.nc)
		c.iov[0], c.iov[1] = nil, nil
		return c.writeErr(err)
	}
	bp := getBuf(min(total, max(c.wbufSize, maskChunk)))
	buf := *bp
	b := AppendHeader(buf[:0], h)
	pos := 0
	for {
		n := min(len(p), len(buf)-len(b))
		start := len(b)
		b = append(b, p[:n]...)
		pos = Mask(h.Mask, pos, b[start:])
		p = p[n:]
		if _, err := c.nc.Write(b); err != nil {
			putBuf(bp)
			return c.writeErr(err)
		}
		if len(p) == 0 {
			break
		}
		b = buf[:0]
	}
	putBuf(bp)
	return nil
}

// maxHeld bounds the bytes of frames held by holdWrites before they are
// sent anyway; a frame larger than that is never held. Small answers are
// where one system call per answer costs most (64 echoes of 16 bytes in
// one write), and holding larger ones bought little CPU but cost
// latency and fairness: with 16 KiB, 100 connections x 16 pipelined 1 KiB
// echoes had a p99 of 16-19 ms against 8-9 ms with 1 KiB, and the smallest
// connection's share was 0.79-0.84 of the largest's against 0.98-0.99
// (testdata/bench/RESULTS.md, "Turns in the event loops").
const maxHeld = 1 << 10

// holdWrites makes writes hold small frames in a buffer instead of sending
// each in a system call of its own, until flushHeld. TryReadMessage holds
// when it returns a message and more input is already buffered: small
// echoes of a burst of pipelined messages then leave in one write (up to
// maxHeld bytes each), sent when the burst has been read (see flushHeld's
// callers).
func (c *Conn) holdWrites() { c.holding.Store(true) }

// flushHeld sends the held frames and stops holding. The reader calls it
// before it reads from the socket or reports ErrWouldBlock, so a peer never
// waits for an answer held back while we wait for the peer.
func (c *Conn) flushHeld() {
	if !c.holding.Load() && !c.hasHeld.Load() {
		return
	}
	c.wmu.Lock()
	c.holding.Store(false)
	if len(c.held) > 0 {
		c.sendHeld()
	}
	c.unlockWrite()
}

// flush: see Plumbing.Flush.
func (c *Conn) flush() error {
	c.flushHeld()
	c.wmu.Lock()
	defer c.unlockWrite() // sends a pong queued meanwhile
	return c.werr
}

// sendHeld writes the held frames and releases the buffer; wmu is held.
func (c *Conn) sendHeld() error {
	var err error
	if c.werr == nil {
		_, err = c.nc.Write(c.held)
		c.writeErr(err)
	} else {
		err = c.werr
	}
	putBuf(c.heldp)
	c.heldp, c.held = nil, nil
	c.hasHeld.Store(false)
	return err
}

// writeHeld is writeHeaderPayload while frames are held, or some are
// still pending; wmu is held. A small frame joins the held ones, and is
// sent with them right away unless it is a data frame and writes are still
// held; a large one is sent after them. Order is kept either way.
func (c *Conn) writeHeld(h Header, p []byte, total int) error {
	if total <= c.wbufSize && len(c.held)+total <= maxHeld {
		if c.heldp == nil {
			c.heldp = getBuf(maxHeld)
			c.held = (*c.heldp)[:0]
		}
		start := len(c.held)
		c.held = AppendHeader(c.held, h)
		c.held = append(c.held, p...)
		if h.Masked {
			Mask(h.Mask, 0, c.held[start+HeaderSize(h):])
		}
		if c.holding.Load() && !h.Opcode.IsControl() {
			c.hasHeld.Store(true)
			return nil
		}
		return c.sendHeld()
	}
	if len(c.held) > 0 {
		if err := c.sendHeld(); err != nil {
			return err
		}
	}
	return c.writeNow(h, p, total)
}

// WriteMessage writes p as one message of type op (OpText or OpBinary) in a
// single frame, compressed when permessage-deflate is on, p is not tiny
// and compressing makes it smaller (RFC 7692 §6.1). Text must be valid
// UTF-8 (RFC 6455 §5.6); it is not checked here.
func (c *Conn) WriteMessage(op Opcode, p []byte) error {
	if op != OpText && op != OpBinary {
		return ErrBadOpcode
	}
	c.dataMu.Lock()
	defer c.dataMu.Unlock()
	if c.defl != nil && c.defl.wants(len(p)) {
		return c.defl.writeMessage(c, op, p, 0)
	}
	return c.writeFrame(true, 0, op, p)
}

// WriteFragmented writes p as one message of type op split into frames of at
// most fragmentSize payload bytes (RFC 6455 §5.4): the first frame carries
// op, the others are continuation frames, and the last has FIN set. Control
// frames sent meanwhile by other goroutines go between the fragments.
func (c *Conn) WriteFragmented(op Opcode, p []byte, fragmentSize int) error {
	if op != OpText && op != OpBinary {
		return ErrBadOpcode
	}
	if fragmentSize <= 0 {
		return errors.New("frame: fragment size must be positive")
	}
	c.dataMu.Lock()
	defer c.dataMu.Unlock()
	if c.defl != nil && c.defl.wants(len(p)) {
		return c.defl.writeMessage(c, op, p, fragmentSize)
	}
	return c.writeFragments(op, 0, p, fragmentSize)
}

// writeFragments writes p as frames of at most size bytes; dataMu is held.
func (c *Conn) writeFragments(op Opcode, rsv byte, p []byte, size int) error {
	for {
		n := min(len(p), size)
		last := n == len(p)
		if err := c.writeFrame(last, rsv, op, p[:n]); err != nil {
			return err
		}
		if last {
			return nil
		}
		p = p[n:]
		op, rsv = OpContinuation, 0
	}
}

// NextWriter returns a writer for a message of type op whose length need not
// be known in advance: data is sent in frames of up to the write buffer
// size as the buffer fills, and Close sends the final frame. Other data
// messages wait until Close; control frames do not. The writer must be
// closed, unless a Write failed: a failed write ends the connection
// (every later write fails the same way), so the writer releases itself
// then, and Close only returns the error again. Other writers are never
// left waiting for a Close that an error path forgot.
func (c *Conn) NextWriter(op Opcode) (io.WriteCloser, error) {
	if op != OpText && op != OpBinary {
		return nil, ErrBadOpcode
	}
	c.dataMu.Lock()
	w := &c.mw
	if w.err != nil {
		// A message writer failed before: the connection cannot send
		// data again. Refusing here also keeps a late Close on that
		// writer from closing a new message of another goroutine.
		c.dataMu.Unlock()
		return nil, w.err
	}
	w.op, w.rsv, w.n, w.open = op, 0, 0, true
	w.bufp = getBuf(c.wbufSize)
	if c.defl != nil {
		w.rsv = RSV1
		c.defl.beginStream()
	}
	return w, nil
}

// messageWriter is the io.WriteCloser returned by NextWriter.
type messageWriter struct {
	c    *Conn
	op   Opcode
	rsv  byte
	bufp *[]byte
	n    int
	open bool
	err  error // the write error that released the writer (see fail)
}

var errWriterClosed = errors.New("frame: message writer already closed")

func (w *messageWriter) Write(p []byte) (int, error) {
	if !w.open {
		return 0, errWriterClosed
	}
	if w.c.defl != nil {
		n, err := w.c.defl.streamWrite(w, p)
		if err != nil {
			w.fail(err)
		}
		return n, err
	}
	total := len(p)
	buf := *w.bufp
	for len(p) > 0 {
		if w.n == len(buf) {
			if err := w.flush(false); err != nil {
				w.fail(err)
				return total - len(p), err
			}
		}
		k := copy(buf[w.n:], p)
		w.n += k
		p = p[k:]
	}
	return total, nil
}

// flush sends the buffered bytes as one frame.
func (w *messageWriter) flush(fin bool) error {
	err := w.c.writeFrame(fin, w.rsv, w.op, (*w.bufp)[:w.n])
	w.op, w.rsv, w.n = OpContinuation, 0, 0
	return err
}

// fail releases the writer after a write failed. The error is sticky (the
// connection was failed, or a close frame was sent), so the message can
// never be finished: holding dataMu until the caller's Close would only
// make every other writer wait on an error path that may not call it.
func (w *messageWriter) fail(err error) {
	if w.c.defl != nil {
		w.c.defl.dropStream()
	}
	putBuf(w.bufp)
	w.bufp, w.open, w.n, w.err = nil, false, 0, err
	w.c.dataMu.Unlock()
}

// Close sends the final frame of the message and releases the writer.
func (w *messageWriter) Close() error {
	if !w.open {
		if w.err != nil {
			return w.err
		}
		return errWriterClosed
	}
	var err error
	if w.c.defl != nil {
		err = w.c.defl.streamClose(w)
	} else {
		err = w.flush(true)
	}
	putBuf(w.bufp)
	w.bufp, w.open, w.err = nil, false, err
	w.c.dataMu.Unlock()
	return err
}

// writeControl sends a control frame (RFC 6455 §5.5).
func (c *Conn) writeControl(op Opcode, p []byte) error {
	if len(p) > MaxControlPayload {
		return ErrControlTooLong
	}
	return c.writeFrame(true, 0, op, p)
}

// WriteClose sends a close frame with code and reason (RFC 6455 §5.5.1)
// unless one was sent already, and then refuses data writes. It does not
// wait for the peer: the reading goroutine receives the peer's close frame
// and closes the connection. It starts the close handshake's clock,
// though: CloseTimeout from now the TCP connection is closed, answered or
// not (see CloseWith), so WriteClose itself never blocks longer than that,
// even behind a write stuck on a peer that does not read. A zero code
// sends a close frame without a body. The reason is cut to fit the
// 125-byte control frame limit.
func (c *Conn) WriteClose(code CloseCode, reason string) error {
	c.beginClose()
	c.wmu.Lock()
	defer c.unlockWrite()
	if c.closeSent.Load() {
		return nil
	}
	if c.werr != nil {
		return c.werr
	}
	p := AppendClosePayload(c.ctrlOut[:0], code, reason)
	h := Header{Fin: true, Opcode: OpClose, Length: int64(len(p))}
	if c.role == RoleClient {
		h.Masked = true
		h.Mask = c.newMask()
	}
	c.closeSent.Store(true)
	return c.writeHeaderPayload(h, p)
}

// writeRawFrame: see Plumbing.WriteFrame.
func (c *Conn) writeRawFrame(h Header, payload []byte) error {
	h.Length = int64(len(payload))
	c.wmu.Lock()
	defer c.unlockWrite()
	if c.werr != nil {
		return c.werr
	}
	return c.writeHeaderPayload(h, payload)
}
