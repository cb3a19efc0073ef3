package frame

import (
	"errors"
	"io"
	"net"
	"os"
	"slices"
)

// This file is the receive path: TCP bytes → frame headers (§5.2) →
// unmasked payload (§5.3) → messages reassembled from fragments (§5.4),
// with control frames (§5.5) handled in between, UTF-8 checked as it
// arrives (§8.1) and limits enforced (§10.4).

// acquireRead makes sure a read buffer is held.
func (c *Conn) acquireRead(need int) {
	if c.rbufp == nil {
		c.rbufp = getBuf(max(c.rbufSize, need))
		c.rbuf = *c.rbufp
		c.r, c.w = 0, 0
	}
}

// releaseRead returns the read buffer to its pool if it holds no unread
// bytes, so an idle connection keeps no buffer.
func (c *Conn) releaseRead() {
	if c.rbufp != nil && c.r == c.w {
		putBuf(c.rbufp)
		c.rbufp, c.rbuf = nil, nil
		c.r, c.w = 0, 0
	}
}

// waitCallback is handed to syscall.RawConn.Read. Its first call peeks at
// the socket: if bytes are pending it ends the wait at once, otherwise it
// returns false, which parks the goroutine in the runtime's poller until
// the socket is readable; the next call ends the wait. The peek replaces
// the read that would have failed with EAGAIN, so waiting this way costs no
// extra system call, and no buffer is held while the connection is idle.
//
// (Returning false without peeking would be wrong: RawConn.Read clears the
// poller's readiness flag before calling us, so bytes that arrived since
// the last read would go unnoticed until more arrived.)
func (c *Conn) waitCallback(fd uintptr) bool {
	if c.waitArmed {
		c.waitArmed = false
		return peekPending(fd, c.peek[:])
	}
	return true
}

// waitReadable blocks until the socket has data (or an error or deadline).
func (c *Conn) waitReadable() error {
	c.waitArmed = true
	if c.waitFn == nil {
		// A method value is an allocation: made once, and only by a
		// Conn that waits (an event loop's may never need to).
		c.waitFn = c.waitCallback
	}
	return c.raw.Read(c.waitFn)
}

// fill reads until at least need bytes are buffered (need <= 139: a header
// plus a control payload).
func (c *Conn) fill(need int) error {
	empty := 0
	for c.w-c.r < need {
		c.flushHeld() // never wait for the peer with answers held back
		// A frame is incomplete (part of a header is buffered, or a
		// message has begun): this wait counts against the progress
		// rule. Otherwise the reader is between messages.
		if c.w > c.r || c.inMessage {
			if err := c.progressStart(); err != nil {
				return err
			}
		} else {
			c.progressEnd()
		}
		n, free, err := c.fillOnce(need)
		c.progressStop()
		if err != nil {
			return err
		}
		c.w += n
		c.mayHaveMore = n == free
		if n > 0 {
			c.activity.Add(uint64(n))
			continue
		}
		if err == nil {
			// (0, nil) means nothing happened (io.Reader), not EOF:
			// net.Pipe returns it for an empty write.
			if empty++; empty < maxEmptyReads {
				continue
			}
			err = io.ErrNoProgress
		}
		return err
	}
	return nil
}

// fillOnce makes room for need bytes and reads once into the buffer, first
// waiting for readability without holding the buffer when the last read
// emptied the socket. It returns the bytes read and the room there was.
func (c *Conn) fillOnce(need int) (n, free int, err error) {
	if c.raw != nil && !c.mayHaveMore {
		c.releaseRead()
		if err := c.waitReadable(); err != nil {
			return 0, 0, err
		}
	}
	c.acquireRead(need)
	if c.r == c.w {
		c.r, c.w = 0, 0
	} else if len(c.rbuf)-c.r < need {
		c.w = copy(c.rbuf, c.rbuf[c.r:c.w])
		c.r = 0
	}
	free = len(c.rbuf) - c.w
	n, err = c.nc.Read(c.rbuf[c.w:])
	if n > 0 {
		err = nil // the bytes count; an error comes back on the next read
	}
	return n, free, err
}

// maxEmptyReads bounds consecutive (0, nil) reads, as bufio does.
const maxEmptyReads = 100

// readDirect reads payload bytes straight into p, bypassing the buffer; it
// is used for large payloads when nothing is buffered.
func (c *Conn) readDirect(p []byte) (int, error) {
	c.flushHeld()
	if err := c.progressStart(); err != nil { // always inside a message
		return 0, err
	}
	n, err := c.readDirectOnce(p)
	c.progressStop()
	c.mayHaveMore = n == len(p)
	if n > 0 {
		c.activity.Add(uint64(n))
		return n, nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return 0, err
}

// readDirectOnce waits for readability if the socket was emptied, then
// reads into p.
func (c *Conn) readDirectOnce(p []byte) (int, error) {
	if c.raw != nil && !c.mayHaveMore {
		c.releaseRead()
		if err := c.waitReadable(); err != nil {
			return 0, err
		}
	}
	n, err := c.nc.Read(p)
	for empty := 1; n == 0 && err == nil && empty < maxEmptyReads; empty++ {
		n, err = c.nc.Read(p) // (0, nil): nothing happened; see fill
	}
	return n, err
}

// skip discards n payload bytes.
func (c *Conn) skip(n int64) error {
	for n > 0 {
		if c.w == c.r {
			if err := c.fill(1); err != nil {
				return err
			}
		}
		k := int(min(n, int64(c.w-c.r)))
		c.r += k
		n -= int64(k)
		c.remaining -= int64(k)
	}
	return nil
}

// readHeaderRaw reads and consumes one frame header; for a control frame it
// first makes sure the whole payload is buffered too, so that a read
// deadline never leaves a half-consumed control frame behind.
func (c *Conn) readHeaderRaw() (Header, error) {
	if err := c.fill(2); err != nil {
		return Header{}, err
	}
	size := 2
	switch c.rbuf[c.r+1] & 0x7F {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	if c.rbuf[c.r+1]&0x80 != 0 {
		size += 4
	}
	if opcode := Opcode(c.rbuf[c.r] & 0x0F); opcode.IsControl() {
		if l := int(c.rbuf[c.r+1] & 0x7F); l <= MaxControlPayload {
			size += l
		}
	}
	if err := c.fill(size); err != nil {
		return Header{}, err
	}
	h, n, err := ParseHeader(c.rbuf[c.r:c.w])
	if err != nil {
		return h, err
	}
	c.r += n
	return h, nil
}

// ioError turns an error from the socket into the read error. A deadline
// is not fatal: nothing was consumed, and the caller may extend the
// deadline and read again. Anything else ends the connection: without a
// close frame that is status 1006 (RFC 6455 §7.1.5).
func (c *Conn) ioError(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if c.progressExpired() {
			// The progress rule (progress.go) cut a read inside a
			// frame or message.
			return c.fail(violation(ClosePolicyViolation, "message arrived too slowly"))
		}
		return err
	}
	if c.readErr != nil {
		return c.readErr
	}
	if ce := c.closeErr.Load(); ce != nil {
		// This end closed the connection under the reader: a write
		// failed, the close handshake timed out, or CloseNow.
		return c.terminate(ce)
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return c.terminate(&CloseError{Code: CloseAbnormal, Err: err})
}

// protocolError fails the connection with the code carried by err.
func (c *Conn) protocolError(err error) error {
	var pe *ProtocolError
	if errors.As(err, &pe) {
		return c.fail(pe)
	}
	return c.ioError(err)
}

func violation(code CloseCode, reason string) *ProtocolError {
	return &ProtocolError{Code: code, Reason: reason}
}

// nextFrame reads frames until the header of the next data frame of the
// message stream, handling control frames on the way (RFC 6455 §5.4:
// "Control frames MAY be injected in the middle of a fragmented message").
func (c *Conn) nextFrame() error {
	for {
		h, err := c.readHeaderRaw()
		if err != nil {
			return c.protocolError(err)
		}
		// From here on the payload of h is what is left to read, also if
		// the frame is refused: failing the connection skips it while it
		// waits for the peer's close frame.
		c.hdr, c.remaining, c.maskPos = h, h.Length, 0
		allowed := byte(0)
		if c.infl != nil {
			allowed = RSV1
		}
		if h.Opcode.IsControl() {
			allowed = 0 // RFC 7692 §6.1: RSV1 is never set on control frames
		}
		if err := h.Validate(allowed); err != nil {
			return c.protocolError(err)
		}
		// RFC 6455 §5.1: "The server MUST close the connection upon
		// receiving a frame that is not masked" and "A client MUST close a
		// connection if it detects a masked frame."
		if c.role == RoleServer && !h.Masked {
			return c.fail(violation(CloseProtocolError, "client frame is not masked"))
		}
		if c.role == RoleClient && h.Masked {
			return c.fail(violation(CloseProtocolError, "server frame is masked"))
		}
		if h.Opcode.IsControl() {
			if err := c.readControl(h); err != nil {
				return err
			}
			if !c.inMessage {
				c.progressEnd() // a control frame between messages is complete
			}
			if c.tryMode && !c.inMessage && c.r == c.w {
				// TryReadMessage between messages, and the control frame
				// (a pong, say) was all that is buffered: never block
				// for the next frame; TryReadMessage decides whether to
				// try the socket again or go idle.
				c.releaseRead()
				return ErrWouldBlock
			}
			continue
		}
		if !c.inMessage {
			if h.Opcode == OpContinuation {
				// §5.4: a fragmented message begins with a text or binary
				// frame; a continuation with nothing to continue is an error.
				return c.fail(violation(CloseProtocolError, "continuation frame with no message to continue"))
			}
			c.inMessage = true
			c.msgOp = h.Opcode
			c.msgLen = 0
			c.compressed = h.Rsv&RSV1 != 0
			c.utf8.Reset()
			if c.compressed {
				c.infl.begin()
			}
		} else {
			if h.Opcode != OpContinuation {
				// §5.4: "fragments of one message MUST NOT be interleaved
				// between fragments of another message".
				return c.fail(violation(CloseProtocolError, "new data frame before the fragmented message ended"))
			}
			if h.Rsv&RSV1 != 0 {
				// RFC 7692 §6.1: RSV1 is set on the first frame only.
				return c.fail(violation(CloseProtocolError, "RSV1 set on a continuation frame"))
			}
		}
		// RFC 6455 §10.4: limits on frame and message size; 1009 is the
		// code for "a message that is too big for it to process" (§7.4.1).
		if h.Length > c.maxFrame {
			return c.fail(violation(CloseMessageTooBig, "frame larger than the limit"))
		}
		if !c.compressed && h.Length > c.maxMsg-c.msgLen {
			return c.fail(violation(CloseMessageTooBig, "message larger than the limit"))
		}
		if c.cfg.Trace != nil {
			c.traceData(h)
		}
		return nil
	}
}

// traceData reports an inbound data frame header with a preview of the
// payload bytes that arrived with it.
func (c *Conn) traceData(h Header) {
	var preview [64]byte
	n := copy(preview[:], c.rbuf[c.r:c.w])
	n = int(min(int64(n), h.Length))
	if h.Masked {
		Mask(h.Mask, 0, preview[:n])
	}
	c.cfg.Trace(c, Inbound, h, preview[:n])
}

// readControl handles a control frame whose payload is already buffered.
func (c *Conn) readControl(h Header) error {
	n := int(h.Length)
	p := c.ctrl[:n]
	copy(p, c.rbuf[c.r:c.r+n])
	c.r += n
	c.remaining = 0
	if h.Masked {
		Mask(h.Mask, 0, p)
	}
	if c.cfg.Trace != nil {
		c.cfg.Trace(c, Inbound, h, p)
	}
	switch h.Opcode {
	case OpPing:
		c.onPing(p)
		// §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a
		// Pong frame in response, unless it already received a Close
		// frame." The pong carries the ping's payload (§5.5.3). A write
		// that fails here fails the connection (writeErr), and the next
		// read reports it.
		c.queuePong(p)
	case OpPong:
		// §5.5.3: an unsolicited pong is allowed and needs no answer.
		c.onPong(p)
	case OpClose:
		return c.readClose(p)
	}
	return nil
}

// readClose handles the peer's close frame (RFC 6455 §5.5.1, §7.1.2-§7.1.4).
func (c *Conn) readClose(p []byte) error {
	code, reason, err := ParseClosePayload(p)
	if err != nil {
		return c.protocolError(err)
	}
	ce := &CloseError{Code: code, Reason: string(reason)}
	c.peerClose.CompareAndSwap(nil, ce)
	if h := c.closeH.Load(); h != nil && !c.closeSent.Load() {
		// A close handler: the application sends what it still has, then
		// answers with Close, within CloseTimeout (beginClose). Reads are
		// over: what follows a close frame is not data (§5.5.1).
		(*h)(code, ce.Reason)
		c.beginClose()
		c.readErr = ce
		c.progressEnd()
		c.r, c.w = 0, 0
		c.releaseRead()
		c.releaseDeflate()
		return ce
	}
	// §5.5.1: "If an endpoint receives a Close frame and did not previously
	// send a Close frame, the endpoint MUST send a Close frame in response.
	// (When sending a Close frame in response, the endpoint typically echos
	// the status code it received.)" A close frame without a body is
	// answered without one.
	c.WriteClose(echoCode(code), ce.Reason)
	if c.role == RoleClient {
		// §7.1.1: the server closes the TCP connection first; the client
		// waits for that, within the close timeout.
		c.awaitTCPClose()
	}
	return c.terminate(ce)
}

// readData reads payload bytes of the current message into p. It returns
// io.EOF at the end of the message. Each chunk is unmasked and, for text,
// checked as UTF-8 as soon as it arrives, so invalid text fails the
// connection in the frame where it appears.
func (c *Conn) readData(p []byte) (int, error) {
	if c.compressed {
		return c.readInflated(p)
	}
	for {
		if c.remaining == 0 {
			if c.hdr.Fin {
				return 0, c.endMessage()
			}
			if err := c.nextFrame(); err != nil {
				return 0, err
			}
			continue
		}
		if len(p) == 0 {
			return 0, nil
		}
		n := int(min(int64(len(p)), c.remaining))
		if avail := c.w - c.r; avail > 0 {
			n = min(n, avail)
			copy(p[:n], c.rbuf[c.r:c.r+n])
			c.r += n
		} else if n >= c.rbufSize/2 {
			m, err := c.readDirect(p[:n])
			if err != nil {
				return 0, c.ioError(err)
			}
			n = m
		} else {
			if err := c.fill(1); err != nil {
				return 0, c.ioError(err)
			}
			continue
		}
		q := p[:n]
		if c.hdr.Masked {
			c.maskPos = Mask(c.hdr.Mask, c.maskPos, q)
		}
		c.remaining -= int64(n)
		c.msgLen += int64(n)
		if c.msgOp == OpText {
			// §8.1: invalid UTF-8 fails the connection with 1007.
			if _, ok := c.utf8.Write(q); !ok {
				return 0, c.fail(violation(CloseInvalidPayload, "invalid UTF-8 in text message"))
			}
		}
		return n, nil
	}
}

// endMessage finishes the message after its final frame.
func (c *Conn) endMessage() error {
	if c.msgOp == OpText && !c.utf8.Complete() {
		return c.fail(violation(CloseInvalidPayload, "text message ends inside a UTF-8 sequence"))
	}
	c.inMessage = false
	c.progressEnd()
	return io.EOF
}

// beginMessage skips what is left of an unfinished message and reads up to
// the first data frame of the next one.
func (c *Conn) beginMessage() (Opcode, error) {
	if c.readErr != nil {
		return 0, c.readErr
	}
	if c.isDone() {
		// Closed by this end (a failed write, CloseNow, a close
		// timeout): nothing still buffered is delivered.
		return 0, c.ioError(net.ErrClosed)
	}
	for c.inMessage {
		if _, err := c.readData(c.ctrl[:]); err != nil {
			if err == io.EOF {
				break
			}
			return 0, err
		}
	}
	if err := c.nextFrame(); err != nil {
		return 0, err
	}
	return c.msgOp, nil
}

// ReadMessage reads the next data message (RFC 6455 §5.6), reassembling its
// fragments (§5.4) and answering control frames that arrive meanwhile. It
// appends the payload to dst[:0] and returns the result; pass the previous
// result as dst to read without allocating. Text messages are valid UTF-8.
//
// When the connection ends, the error is a *CloseError: the peer's close
// code after a close handshake, the code we failed the connection with
// (Local), or 1006 when TCP ended without a close frame. A read deadline
// (os.ErrDeadlineExceeded) that passes while no message has begun (idle,
// or inside the first frame's header) is not fatal: move the deadline and
// call again. One that passes inside a message fails the connection with
// 1008, because this whole-message call cannot resume the message and
// skipping its rest would drop it silently; NextReader's reader resumes.
func (c *Conn) ReadMessage(dst []byte) (Opcode, []byte, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.readMessage(dst)
}

// readMessage is ReadMessage with rmu held.
func (c *Conn) readMessage(dst []byte) (Opcode, []byte, error) {
	dst = dst[:0]
	if c.r == c.w && c.raw != nil && !c.mayHaveMore && c.readErr == nil {
		// Idle between messages: park here, high in the call stack, with
		// no buffer held, so that an idle connection's goroutine uses
		// little stack and the garbage collector can shrink it.
		c.progressEnd()
		c.releaseRead()
		c.flushHeld()
		if err := c.waitReadable(); err != nil {
			return 0, dst, c.ioError(err)
		}
		c.mayHaveMore = true // readable now: read without peeking again
	}
	op, err := c.beginMessage()
	if err != nil {
		return 0, dst, err
	}
	for {
		if len(dst) == cap(dst) && (c.compressed || c.remaining > 0 || !c.hdr.Fin) {
			dst = c.grow(dst)
		}
		n, err := c.readData(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err != nil {
			if err == io.EOF {
				c.releaseRead()
				return op, dst, nil
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// The message has begun and a whole-message read cannot
				// resume it: the next call would have to skip its rest,
				// losing it without the peer knowing. Fail the
				// connection instead, so the peer learns that the
				// message was not taken. (NextReader's reader resumes
				// after a deadline.)
				return op, dst, c.fail(violation(ClosePolicyViolation, "read deadline passed in the middle of a message"))
			}
			return op, dst, err
		}
	}
}

// grow makes room in dst for more of the message. Memory follows the
// bytes that really arrived, never the length a header claims (a peer may
// declare 16 MiB and send one byte): dst grows by what it holds already
// (doubling) or by what is buffered, whichever is more, with at least 512
// bytes, and never by more than the rest of an uncompressed frame.
func (c *Conn) grow(dst []byte) []byte {
	want := max(int64(len(dst)), int64(c.w-c.r), 512)
	if !c.compressed && c.remaining > 0 {
		want = min(want, c.remaining)
	}
	return slices.Grow(dst, int(want))
}

// NextReader returns the type of the next data message and a reader of its
// payload, which returns io.EOF at the end of the message. The reader is
// valid until the next call to NextReader or ReadMessage, which skip what
// was not read of it.
func (c *Conn) NextReader() (Opcode, io.Reader, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	op, err := c.beginMessage()
	if err != nil {
		return 0, nil, err
	}
	return op, &c.mr, nil
}

// messageReader is the io.Reader returned by NextReader.
type messageReader struct{ c *Conn }

func (r *messageReader) Read(p []byte) (int, error) {
	c := r.c
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if !c.inMessage {
		if c.readErr != nil {
			return 0, c.readErr
		}
		return 0, io.EOF
	}
	n, err := c.readData(p)
	if err == io.EOF {
		c.releaseRead()
	}
	return n, err
}
