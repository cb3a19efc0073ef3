package server

import (
	"errors"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// EventHandler serves connections in event mode, the alternative to
// Handler for servers with many connections that are mostly idle: an echo
// service, a notification fan-out. The server calls the handler when
// something happens instead of giving each connection a goroutine that
// waits in ReadMessage.
//
// On Linux, a connection without input has no goroutine at all. Event
// loops, one per P (Server.EventLoops), each wait on an edge-triggered
// epoll set for their share of the idle sockets; when bytes arrive, the
// loop's goroutine reads the messages that are there, calls OnMessage for
// each and writes the answers, inline (run to completion), and goes on
// with the next ready connection. An idle connection costs its frame.Conn
// and the kernel's socket, no goroutine stack and no buffer. A
// request-response exchange costs one read and one write system call per
// message (no read that fails with EAGAIN). Elsewhere, and for
// connections without a file descriptor (TLS, and WebSockets on HTTP/2
// streams, RFC 8441), each connection gets a goroutine that loops over
// ReadMessage: the same callbacks, the usual cost.
//
// The blocking rule: a connection that keeps its loop busy for longer
// than 10 ms (a callback that blocks, a write to a peer that does not
// read, a message whose bytes arrive slowly) is moved off the loop. A
// watchdog notices it within 10 ms more and gives the loop a new
// goroutine, which serves the loop's other connections; the old goroutine
// finishes that one connection's input, as a worker would, and ends. So a
// blocked callback delays the other connections of its loop by at most
// about 20 ms (plus scheduling), and never stalls them. A handler whose
// callbacks block often pays for a goroutine start each time; for it,
// Server.EventLoops < 0 hands every wakeup to a worker goroutine instead.
//
// Fairness: a loop serves its ready connections in turns of about one
// read buffer each (4 KiB of payload, or 64 messages), so a peer that
// pipelines a deep burst, or keeps writing while it reads its echoes,
// shares its loop with the others instead of holding it until its socket
// is empty; small answers to a turn's messages (up to 1 KiB in all) still
// leave in one write. testdata/bench/RESULTS.md measures it ("Pipelined
// fairness").
//
// Calls for one connection never overlap: OnOpen comes first, then
// OnMessage for each message in order, then OnClose once. Calls for
// different connections run concurrently. A callback may write to its
// connection (or any other), close it, or hand it to other goroutines; it
// should not block for long, since the connection reads nothing meanwhile.
// A panic in a callback closes that connection with 1011.
type EventHandler interface {
	// OnOpen is called once after the opening handshake.
	OnOpen(c *frame.Conn, hs *handshake.Result)
	// OnMessage is called for each data message (RFC 6455 §5.6). msg is
	// valid only during the call: its memory is reused afterwards.
	OnMessage(c *frame.Conn, op frame.Opcode, msg []byte)
	// OnClose is called once when the connection has ended, with the
	// *frame.CloseError that ended it (the peer's close frame, the code we
	// failed it with, or 1006).
	OnClose(c *frame.Conn, err error)
}

// evConn is a connection served in event mode.
type evConn struct {
	t    *tracked
	h    EventHandler
	fd   int32 // registered with the poller; -1 if not
	loop *loop // the poller's loop it is registered with

	// state: evIdle (no goroutine; the poller starts one on the next
	// event), evRunning (a goroutine reads), evPending (an event came
	// while a goroutine was reading: it must try the socket again).
	state    atomic.Int32
	finished atomic.Bool
}

const (
	evIdle int32 = iota
	evRunning
	evPending
)

// msgBufPool holds the message buffers of running event goroutines.
var msgBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooledMsgBuf: larger message buffers are dropped, not pooled. The
// pool holds only the buffers of workers that are running; the garbage
// collector empties it of the rest.
const maxPooledMsgBuf = 4 << 20

// serveEvents serves c, tracked as t, in event mode with e, t's evConn,
// running; it runs in the handshake goroutine and returns when c is idle
// (registered with the poller) or closed.
func (s *Server) serveEvents(c *frame.Conn, res *handshake.Result, t *tracked, e *evConn) {
	e.t, e.h = t, s.Events // t.ev, e.fd and e.state are set (serveConn)
	if !s.callback(e, func() { e.h.OnOpen(c, res) }) {
		return
	}
	p := s.eventPoller()
	if p == nil || !frame.PlumbingOf(c).CanTryRead() {
		// No poller here (not Linux), or no file descriptor (TLS, an
		// HTTP/2 stream): a goroutine per connection, the same callbacks.
		s.runEvents(e, false, false)
		return
	}
	if err := p.add(e); err != nil {
		s.logger().Debug("event poller: falling back to a goroutine", "err", err)
		s.runEvents(e, false, false)
		return
	}
	// A closed socket leaves the epoll set without an event: when c ends
	// while idle (a failed write, a close timeout, Shutdown's forced
	// close, another goroutine's CloseNow), nobody would notice. AfterDone
	// does.
	frame.PlumbingOf(c).AfterDone(func() {
		if e.state.CompareAndSwap(evIdle, evRunning) {
			s.finishEvents(e, nil)
		}
	})
	// Bytes may have come with the handshake, or arrived before the
	// registration: read once now.
	s.runEvents(e, true, false)
}

// wake is called by the poller when e's socket became readable: it
// serves e in this goroutine (inline, for one turn) or hands it to a
// worker, unless a goroutine is serving e already. It reports whether e's
// turn ended with input left: then e stays running, and the loop must
// serve it again (runEvents with readable false, turn true).
func (s *Server) wake(e *evConn, inline bool) (more bool) {
	for {
		switch e.state.Load() {
		case evIdle:
			if e.state.CompareAndSwap(evIdle, evRunning) {
				if inline {
					return s.runEvents(e, true, true)
				}
				s.dispatch(e)
				return false
			}
		case evRunning:
			if e.state.CompareAndSwap(evRunning, evPending) {
				return false
			}
		default: // evPending: already noted
			return false
		}
	}
}

// A turn is what an event loop serves of one connection before it goes on
// with the other connections that are ready: messages until their
// payloads add up to turnBytes (but at least turnMinMessages messages), or
// turnMessages messages, whichever comes first. A connection with input
// left is served again after the others,
// before the loop waits. So a client that pipelines a deep burst, or keeps
// writing while its echoes are read, does not hold its loop; and small
// answers to a turn's messages still leave in one write
// (frame.Plumbing.TryReadMessage holds them, up to 1 KiB). About one
// read buffer (frame.DefaultBufferSize) per turn, as a goroutine per
// connection would read: 4 messages of 1 KiB, 64 of 16 bytes.
//
// Large messages get turnMinMessages a turn: 4 of 16 KiB, not one. With a
// single large message a turn, a loop under pipelined load wrote each
// connection one echo per round, and the server's system time per 16 KiB
// echo rose 1.8x: the writes went to a different socket each time and
// woke the peer's reader for each one (in the kernel, most of the extra
// time was in the wake-up path, _raw_spin_unlock_irqrestore). Measured in
// testdata/bench/RESULTS.md, "Pipelined fairness" and "Turns".
const (
	turnBytes       = 4 << 10
	turnMinMessages = 4
	turnMessages    = 64
)

// runEvents reads the messages that have arrived on e and calls OnMessage
// for each, then returns with e idle, or finishes e when it has ended. With
// blocking (no poller) it reads until the connection ends. With turn, it
// stops at the end of a turn (see turnBytes) and reports more if e has
// input left: e is still running, the answers held back are sent, and the
// caller serves it again later (with readable false).
func (s *Server) runEvents(e *evConn, readable, turn bool) (more bool) {
	bp := msgBufPool.Get().(*[]byte)
	more = s.readEvents(e, readable, turn, bp)
	if cap(*bp) <= maxPooledMsgBuf {
		msgBufPool.Put(bp)
	}
	return more
}

// maxIdleWorkers bounds the event workers kept waiting for work; more run
// while there is more work, and end when it is done.
const maxIdleWorkers = 64

// dispatch hands e, which has input, to an idle worker, or starts one.
// Workers are reused rather than a goroutine started per event, because a
// new goroutine's small stack would grow (and be copied) on every event.
func (s *Server) dispatch(e *evConn) {
	select {
	case s.work <- e:
	default:
		go s.worker(e)
	}
}

// worker serves connections that have input, one at a time, until it
// finds maxIdleWorkers others idle when it becomes idle, or the poller
// stops.
func (s *Server) worker(e *evConn) {
	for {
		// The message buffer goes back to the pool between connections,
		// so that a waiting worker holds none, and a large one is reused
		// by the next worker instead of regrown message after message.
		s.runEvents(e, true, false)
		if s.idleWorkers.Add(1) > maxIdleWorkers {
			s.idleWorkers.Add(-1)
			return
		}
		select {
		case e = <-s.work:
			s.idleWorkers.Add(-1)
		case <-s.workStop:
			s.idleWorkers.Add(-1)
			return
		}
	}
}

// readEvents is runEvents with its message buffer, which it may grow
// (*bp is the grown buffer when it returns).
func (s *Server) readEvents(e *evConn, readable, turn bool, bp *[]byte) (more bool) {
	c := e.t.c
	poll := e.fd >= 0
	turn = turn && poll
	msgs, bytes := 0, 0
	for {
		if turn && (msgs == turnMessages || bytes >= turnBytes && msgs >= turnMinMessages) {
			if e.state.Load() == evPending || frame.PlumbingOf(c).HasInput() {
				// End of the turn, with input left. The answers held
				// back for the rest of the burst go now, not at the next
				// turn; a write that fails has failed c, which the next
				// turn finds.
				_ = frame.PlumbingOf(c).Flush()
				return true
			}
			msgs, bytes = 0, 0 // nothing left: the read below goes idle
		}
		var op frame.Opcode
		var msg []byte
		var err error
		if poll {
			op, msg, err = frame.PlumbingOf(c).TryReadMessage(*bp, readable)
		} else {
			op, msg, err = c.ReadMessage(*bp)
		}
		readable = false
		if err == frame.ErrWouldBlock {
			if e.state.CompareAndSwap(evRunning, evIdle) {
				// If c ended while we ran, AfterDone's function may have
				// found e running and left it to us.
				select {
				case <-c.Done():
					if e.state.CompareAndSwap(evIdle, evRunning) {
						s.finishEvents(e, nil)
					}
				default:
				}
				return false
			}
			// An event came while we read: the socket may have more.
			e.state.Store(evRunning)
			readable = true
			continue
		}
		if err != nil {
			s.finishEvents(e, err)
			return false
		}
		*bp = msg[:0]
		msgs++
		bytes += len(msg)
		if !s.callback(e, func() { e.h.OnMessage(c, op, msg) }) {
			return false
		}
	}
}

// callback runs f, turning a panic into a 1011 close and finishing e. It
// reports whether e is still open.
func (s *Server) callback(e *evConn, f func()) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			c := e.t.c
			s.logger().Error("handler panic; closing connection with 1011",
				"remote", c.NetConn().RemoteAddr(), "panic", v, "stack", string(debug.Stack()))
			c.CloseWith(frame.CloseInternalError, "internal error")
			s.finishEvents(e, c.Err())
			ok = false
		}
	}()
	f()
	return true
}

// finishEvents ends e once: it unregisters it, calls OnClose, and makes
// sure the connection is closed. The connection is closed before OnClose
// in every case but one: after the peer's close frame on a connection
// with frame.Conn.SetCloseHandler, OnClose may still write (what it has
// queued for the peer), and the close reply follows when it returns.
func (s *Server) finishEvents(e *evConn, err error) {
	if !e.finished.CompareAndSwap(false, true) {
		return
	}
	c := e.t.c
	var ce *frame.CloseError
	replyDeferred := errors.As(err, &ce) && !ce.Local && ce.Code != frame.CloseAbnormal && c.Err() == nil
	if !replyDeferred {
		c.CloseNow()
	}
	if p := s.poller.Load(); p != nil && e.fd >= 0 {
		p.remove(e)
	}
	if err == nil {
		err = c.Err()
	}
	func() {
		defer func() {
			if v := recover(); v != nil {
				s.logger().Error("OnClose panic", "panic", v, "stack", string(debug.Stack()))
			}
		}()
		e.h.OnClose(c, err)
	}()
	if replyDeferred {
		c.Close() // answers the peer's close; bounded by CloseTimeout
	}
	s.removeConn(e.t)
}

// eventPoller returns the server's poller, starting it on first use; nil
// where there is none (not Linux, or it failed to start: then connections
// get a goroutine each).
func (s *Server) eventPoller() *poller {
	if p := s.poller.Load(); p != nil {
		return p
	}
	s.pollerMu.Lock()
	defer s.pollerMu.Unlock()
	if p := s.poller.Load(); p != nil {
		return p
	}
	if s.pollerErr != nil || s.closing.Load() {
		return nil
	}
	s.work = make(chan *evConn)
	s.workStop = make(chan struct{})
	p, err := newPoller(s)
	if err != nil {
		s.pollerErr = err
		s.logger().Debug("event mode without a poller: a goroutine per connection", "err", err)
		return nil
	}
	s.poller.Store(p)
	return p
}

// stopPoller stops the poller once the server is closing.
func (s *Server) stopPoller() {
	s.pollerMu.Lock()
	defer s.pollerMu.Unlock()
	if p := s.poller.Load(); p != nil {
		p.stop()
		close(s.workStop)
		s.poller.Store(nil)
		s.pollerErr = ErrServerClosed
	}
}
