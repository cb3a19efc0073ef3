package frame

import (
	"errors"
	"io"
	"syscall"
)

// This file is the receive path for event loops (package server's event
// mode): a connection with no input is not waited on by a goroutine at
// all. The event loop learns from the kernel (epoll on Linux) that the
// socket became readable and only then lets a goroutine read.

// ErrWouldBlock is returned by TryReadMessage when no byte of a next
// message has arrived. It is not an error of the connection: call again
// once the socket is readable.
var ErrWouldBlock = errors.New("frame: no message has arrived yet")

// canTryRead: see Plumbing.CanTryRead.
func (c *Conn) canTryRead() bool { return c.raw != nil }

// tryReadMessage: see Plumbing.TryReadMessage.
func (c *Conn) tryReadMessage(dst []byte, readable bool) (Opcode, []byte, error) {
	if c.raw == nil {
		return c.ReadMessage(dst)
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if c.r == c.w && c.readErr == nil {
			// Everything buffered has been read: send the answers held
			// back while it was (see below) before going idle or to the
			// socket.
			c.flushHeld()
			if !readable && !c.mayHaveMore {
				return 0, dst[:0], ErrWouldBlock
			}
			readable = false // this event is used up by the read below
			if err := c.tryFill(); err != nil {
				if err == ErrWouldBlock {
					return 0, dst[:0], err
				}
				return 0, dst[:0], c.ioError(err)
			}
		}
		// Bytes are buffered: this is ReadMessage without the idle wait,
		// which only happens when nothing is buffered. In tryMode, a
		// control frame that arrives alone between messages ends
		// readMessage with ErrWouldBlock (see nextFrame) instead of a
		// wait for the next frame; then the socket is tried once more
		// if the last read filled the buffer (it may hold more, and an
		// edge-triggered poller would not report those bytes again).
		c.tryMode = true
		op, msg, err := c.readMessage(dst)
		c.tryMode = false
		if err == ErrWouldBlock {
			continue
		}
		if err == nil {
			if c.r < c.w {
				// More input is already here, so the caller will be
				// back at once: hold the small frames it writes
				// meanwhile (echoes, answers) and send them together
				// when the buffered input is used up, one system call
				// for a burst of pipelined requests instead of one each.
				c.holdWrites()
			} else {
				// The last message of the burst: the next write sends
				// what is held along with itself.
				c.holding.Store(false)
			}
		}
		return op, msg, err
	}
}

// hasInput is Plumbing.HasInput.
func (c *Conn) hasInput() bool {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.readErr == nil && (c.r < c.w || c.mayHaveMore)
}

// tryFill makes one non-blocking read into a pooled buffer. It returns
// ErrWouldBlock, with the buffer released, if nothing was pending.
func (c *Conn) tryFill() error {
	c.acquireRead(0)
	c.r, c.w = 0, 0
	c.tryBuf = c.rbuf
	if c.tryFn == nil {
		c.tryFn = c.tryCallback // made once, by a Conn that an event loop reads
	}
	if err := c.raw.Read(c.tryFn); err != nil {
		c.tryBuf = nil
		c.releaseRead()
		return err
	}
	n, errno := c.tryN, c.tryErrno
	c.tryBuf = nil
	switch {
	case n > 0:
		c.w = n
		c.mayHaveMore = n == len(c.rbuf)
		c.activity.Add(uint64(n))
		return nil
	case errno == syscall.EAGAIN || errno == syscall.EWOULDBLOCK:
		c.mayHaveMore = false
		c.releaseRead()
		return ErrWouldBlock
	case errno != 0:
		c.releaseRead()
		return errno
	default: // n == 0: the peer closed its side (EOF)
		c.releaseRead()
		return io.EOF
	}
}

// tryCallback is handed to syscall.RawConn.Read by tryFill: it reads once
// and always ends the RawConn.Read (returning true), so the goroutine never
// parks in the runtime's poller.
func (c *Conn) tryCallback(fd uintptr) bool {
	for {
		n, err := rawRead(fd, c.tryBuf)
		if err == syscall.EINTR {
			continue
		}
		c.tryN = max(n, 0)
		c.tryErrno = 0
		if err != nil {
			c.tryErrno = err.(syscall.Errno)
		}
		return true
	}
}

// errNoFD is returned by rawControl on a Conn without a file descriptor.
var errNoFD = errors.New("frame: the net.Conn has no file descriptor")

// rawControl: see Plumbing.RawControl.
func (c *Conn) rawControl(f func(fd uintptr)) error {
	if c.raw == nil {
		return errNoFD
	}
	return c.raw.Control(f)
}
