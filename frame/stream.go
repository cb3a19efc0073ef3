package frame

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// StreamConn returns a net.Conn whose bytes travel as WebSocket messages of
// type op (OpBinary for a tunnel, OpText for a text protocol), like
// coder/websocket's NetConn: each Write sends one message; Read returns the
// payloads of the messages received, one after another, as one stream (a
// message boundary is not visible). It is for code that wants a net.Conn:
// a tunnel, a protocol library, an RPC framework.
//
// Ending: Read returns io.EOF once the peer has closed the connection with
// 1000 (normal closure) or 1001 (going away); any other end is returned as
// the *CloseError. A message of the other type fails the connection with
// 1003 (unsupported data, RFC 6455 §7.4.1). Close runs the close handshake
// with 1000 (Conn.Close) and returns its result.
//
// Deadlines work as on a TCP connection, with one difference that the
// framing makes unavoidable: a write that times out after part of its
// frame went out leaves the stream unparseable, so it fails the WebSocket
// connection (Config.WriteTimeout's rule). A deadline that has already
// passed when Read or Write is called returns a timeout error at once and
// leaves the connection usable, and so does a read deadline at any time
// (reading resumes where it stopped).
//
// Methods may be called from any goroutines: reads are serialised with
// each other, writes are messages written whole one after another.
func StreamConn(c *Conn, op Opcode) net.Conn {
	return &streamConn{c: c, op: op}
}

type streamConn struct {
	c  *Conn
	op Opcode

	rmu sync.Mutex
	r   io.Reader // the message being read, or nil
	eof bool      // the peer closed normally: io.EOF from now on

	readDL atomic.Int64 // unix ns; 0: none
}

// errUnexpectedType is the reason of the 1003 close.
var errUnexpectedType = errors.New("frame: StreamConn: received a message of the other type")

func (s *streamConn) Read(p []byte) (int, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	for {
		if s.eof {
			return 0, io.EOF
		}
		if dl := s.readDL.Load(); dl != 0 && time.Now().UnixNano() >= dl {
			return 0, os.ErrDeadlineExceeded
		}
		if s.r == nil {
			op, r, err := s.c.NextReader()
			if err != nil {
				return 0, s.mapErr(err)
			}
			if op != s.op {
				s.c.CloseWith(CloseUnsupportedData, fmt.Sprintf("this stream carries %v messages", s.op))
				return 0, fmt.Errorf("%w: %v", errUnexpectedType, op)
			}
			s.r = r
		}
		n, err := s.r.Read(p)
		if err == io.EOF {
			s.r = nil
			if n > 0 {
				return n, nil
			}
			continue // the next message (an empty one has no bytes)
		}
		if err != nil {
			return n, s.mapErr(err)
		}
		return n, nil
	}
}

// mapErr turns a normal closure into io.EOF, as a TCP stream ends.
func (s *streamConn) mapErr(err error) error {
	var ce *CloseError
	if errors.As(err, &ce) && !ce.Local && (ce.Code == CloseNormal || ce.Code == CloseGoingAway) {
		s.eof = true
		return io.EOF
	}
	return err
}

func (s *streamConn) Write(p []byte) (int, error) {
	if dl := s.c.userWD.Load(); dl != 0 && time.Now().UnixNano() >= dl {
		return 0, os.ErrDeadlineExceeded
	}
	if err := s.c.WriteMessage(s.op, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (s *streamConn) Close() error { return s.c.Close() }

func (s *streamConn) LocalAddr() net.Addr  { return s.c.nc.LocalAddr() }
func (s *streamConn) RemoteAddr() net.Addr { return s.c.nc.RemoteAddr() }

func (s *streamConn) SetDeadline(t time.Time) error {
	s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}

func (s *streamConn) SetReadDeadline(t time.Time) error {
	s.readDL.Store(unixNano(t))
	return s.c.nc.SetReadDeadline(t)
}

func (s *streamConn) SetWriteDeadline(t time.Time) error {
	s.c.userWD.Store(unixNano(t))
	return s.c.nc.SetWriteDeadline(t)
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
