package server

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// This file serves WebSockets over HTTP/2 (RFC 8441) through net/http.
//
// # The flow
//
// A client that has an HTTP/2 connection to the server, and has seen the
// server's SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (RFC 8441 §3), opens a
// WebSocket on a new stream with an extended CONNECT (§4-§5):
//
//	HEADERS  :method CONNECT, :protocol websocket, :scheme https,
//	         :path /chat, :authority example.com,
//	         sec-websocket-version 13, origin ..., sec-websocket-protocol ...
//	HEADERS  :status 200, sec-websocket-protocol chat     (server)
//	DATA ... RFC 6455 frames, both ways, on that stream
//
// net/http calls the handler with r.Method "CONNECT", r.Proto "HTTP/2.0"
// and r.Header[":protocol"]; ServeHTTP and Upgrade check the request with
// the same handshake code as HTTP/1.1 (handshake.NewRequestFromHeader,
// Upgrader.Negotiate), answer 200, and run a frame.Conn over the stream
// through streamConn: reads from r.Body, writes to the ResponseWriter
// followed by a flush. (An HTTP/2 stream is full duplex in net/http as it
// is; http.ResponseController.EnableFullDuplex concerns HTTP/1 only.) Many
// WebSockets share one TCP connection this way, each on its own stream,
// each with its own frame.Conn, limits, keepalive and Shutdown handling,
// exactly as on HTTP/1.1.
//
// # Closing (RFC 8441 §5 next to RFC 6455 §7.1.1)
//
// RFC 6455 §7.1.1: after the close handshake "the server MUST close the
// underlying TCP connection immediately", and the client waits for that
// close. RFC 8441 §5 maps the TCP close onto the stream: "Orderly TCP-level
// closures are represented as END_STREAM flags"; "RST exceptions are
// represented with the RST_STREAM frame with the CANCEL error code". So:
//
//   - frame.Conn closing its net.Conn (after the close handshake, after a
//     failure, on a timeout) closes the streamConn, which makes ServeHTTP
//     return; net/http then ends the response with END_STREAM, and resets
//     the request half with RST_STREAM NO_ERROR if the client has not ended
//     it yet (RFC 9113 §8.1 allows a server that has answered to do so).
//     The TCP connection stays up for the other streams: it belongs to the
//     http.Server, which closes it (IdleTimeout, Shutdown) by its rules.
//   - If a write is blocked when the streamConn is closed (the peer stopped
//     reading, HTTP/2 flow control holds the write), no END_STREAM can pass
//     it: the stream is reset instead (net/http's write deadline sends
//     RST_STREAM INTERNAL_ERROR), as closing a socket under a blocked write
//     resets TCP.
//   - A client's END_STREAM reads as io.EOF, its RST_STREAM (CANCEL) as a
//     read error: either ends the frame.Conn with 1006 (RFC 6455 §7.1.5),
//     as a TCP FIN or RST without a close frame does.
//
// # Limits
//
// A stream has no file descriptor: event mode (Server.Events) serves it
// with a goroutine that loops over ReadMessage (the same callbacks), never
// with epoll. Deadlines reach net/http through http.ResponseController,
// which implements them on a stream as timers that act when they fire: a
// write deadline resets the stream, a read deadline ends the request body
// for good, whether or not a call is in progress. streamConn keeps a
// socket's meaning on top (see deadline): a deadline only fails calls
// made after it passed, and can be moved; only a call that is still
// blocked when its deadline comes ends the stream's reading (or the
// stream), since net/http cannot resume a stream after that. The
// http.Server's own ReadTimeout and WriteTimeout, which net/http applies
// to each stream from its start, are lifted once the WebSocket is open:
// the WebSocket's timeouts (frame.Config, keepalive) govern it from then
// on. And net/http's HTTP/2 server advertises the setting only with
// GODEBUG=http2xconnect=1: see ExtendedConnectEnabled.

// streamConn is a net.Conn over the stream of an RFC 8441 request: Read
// reads the request body, Write writes the response and flushes it.
//
// It may be used only while the handler that received the request runs;
// Close makes sure no call is still using w or the body when it returns,
// so the handler may return right after it (as ServeHTTP does when the
// frame.Conn is done).
type streamConn struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	body  io.ReadCloser
	ctx   context.Context
	laddr net.Addr
	raddr net.Addr
	stop  func() bool // stops the context.AfterFunc

	mu       sync.Mutex
	closed   bool
	active   int           // calls in progress that use w or body
	reading  int           // of which Reads
	writing  int           // of which Writes
	idle     chan struct{} // closed when closed and active == 0
	rdExpire bool          // a read deadline passed in a Read: the body is gone
	rdl, wdl deadline
}

// deadline is a read or write deadline with socket semantics, over
// net/http's stream timers, which act when they fire: the read timer ends
// the request body for good, the write timer resets the stream, whether
// or not a call is in progress. A socket's deadline fails only the calls
// made while it has passed, and can be moved after. So the deadline is
// kept here; a call made after it has passed fails with
// os.ErrDeadlineExceeded without touching the stream, and the timer, armed
// only while a call runs, hands net/http a past deadline if that call is
// still blocked when the deadline comes (which ends the stream's reading,
// or the stream, for good: the one thing a stream cannot do is resume
// after that).
type deadline struct {
	t     time.Time   // zero: none
	timer *time.Timer // armed while a call runs with t set
}

// errReadDeadlineGone is what reads return after a read deadline has
// passed once: net/http closed the request body then, so unlike a socket
// the stream cannot be read again with a later deadline.
var errReadDeadlineGone = errors.New("server: the HTTP/2 stream's read deadline passed; net/http ended its request body (RFC 8441 stream)")

func newStreamConn(w http.ResponseWriter, r *http.Request) *streamConn {
	s := &streamConn{
		w:     w,
		rc:    http.NewResponseController(w),
		body:  r.Body,
		ctx:   r.Context(),
		raddr: remoteAddr(r),
		idle:  make(chan struct{}),
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		s.laddr = a
	} else {
		s.laddr = &net.TCPAddr{}
	}
	// net/http cancels the request's context when the stream ends under
	// us (RST_STREAM from the peer, the TCP connection lost) and when the
	// handler returns. From then on w must not be touched: close.
	s.stop = context.AfterFunc(s.ctx, func() { s.Close() })
	return s
}

// Kinds of calls, for enter and leave.
const (
	callOther = iota // deadline changes
	callRead
	callWrite
)

// enter starts a call that uses w or the body. It fails once closed, and
// for a Read or Write whose deadline has passed; otherwise it arms that
// deadline's timer.
func (s *streamConn) enter(kind int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return net.ErrClosed
	}
	var d *deadline
	switch kind {
	case callRead:
		if s.rdExpire {
			return errReadDeadlineGone
		}
		d = &s.rdl
	case callWrite:
		d = &s.wdl
	}
	if d != nil && !d.t.IsZero() {
		wait := time.Until(d.t)
		if wait <= 0 {
			return os.ErrDeadlineExceeded
		}
		if d.timer == nil {
			d.timer = time.AfterFunc(wait, func() { s.expire(kind) })
		} else {
			d.timer.Reset(wait)
		}
	}
	s.active++
	switch kind {
	case callRead:
		s.reading++
	case callWrite:
		s.writing++
	}
	return nil
}

func (s *streamConn) leave(kind int) {
	s.mu.Lock()
	s.active--
	switch kind {
	case callRead:
		s.reading--
	case callWrite:
		s.writing--
	}
	if s.closed && s.active == 0 {
		close(s.idle)
	}
	s.mu.Unlock()
}

// expire runs when a deadline's timer fires: if a call of that kind is
// still running and the deadline (which may have moved) has passed, it
// makes net/http end the call, with a deadline in the past.
func (s *streamConn) expire(kind int) {
	s.mu.Lock()
	d, busy := &s.rdl, s.reading > 0
	if kind == callWrite {
		d, busy = &s.wdl, s.writing > 0
	}
	if s.closed || !busy || d.t.IsZero() || time.Now().Before(d.t) {
		s.mu.Unlock()
		return
	}
	s.active++ // keeps w usable: Close waits for this call too
	s.mu.Unlock()
	defer s.leave(callOther)
	if kind == callRead {
		s.rc.SetReadDeadline(time.Unix(1, 0))
	} else {
		s.rc.SetWriteDeadline(time.Unix(1, 0))
	}
}

func (s *streamConn) Read(p []byte) (int, error) {
	if err := s.enter(callRead); err != nil {
		return 0, err
	}
	defer s.leave(callRead)
	n, err := s.body.Read(p)
	if err != nil {
		s.mu.Lock()
		if s.closed {
			err = net.ErrClosed // Close broke the read
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			s.rdExpire = true
		}
		s.mu.Unlock()
	}
	return n, err
}

func (s *streamConn) Write(p []byte) (int, error) {
	if err := s.enter(callWrite); err != nil {
		return 0, err
	}
	defer s.leave(callWrite)
	n, err := s.w.Write(p)
	if err == nil {
		// Each Write is a frame or a batch of frames that the peer
		// waits for: send it now, as a socket write would.
		err = s.rc.Flush()
	}
	return n, err
}

// Close ends the stream for this side: a blocked Read returns at once, a
// blocked Write is ended by resetting the stream, and Close returns when
// no call uses the stream any more, so that the handler may return (which
// sends END_STREAM). It may be called more than once (the context's
// AfterFunc and frame.Conn may both close): every call returns only when
// no call uses the stream.
func (s *streamConn) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.idle
		return nil
	}
	s.closed = true
	writing := s.writing > 0
	if s.active == 0 {
		close(s.idle)
	}
	for _, d := range []*deadline{&s.rdl, &s.wdl} {
		if d.timer != nil {
			d.timer.Stop()
		}
	}
	s.mu.Unlock()
	s.stop()
	s.body.Close() // breaks a Read blocked in the body
	if writing && s.ctx.Err() == nil {
		// The handler still runs (its context is live), so w may be
		// used: a past write deadline makes net/http reset the stream,
		// which ends the blocked Write.
		s.rc.SetWriteDeadline(time.Unix(1, 0))
	}
	<-s.idle
	return nil
}

func (s *streamConn) LocalAddr() net.Addr  { return s.laddr }
func (s *streamConn) RemoteAddr() net.Addr { return s.raddr }

func (s *streamConn) SetDeadline(t time.Time) error {
	if err := s.SetReadDeadline(t); err != nil {
		return err
	}
	return s.SetWriteDeadline(t)
}

// SetReadDeadline and SetWriteDeadline keep the deadline (see deadline);
// a call in progress is held to the new one.
func (s *streamConn) SetReadDeadline(t time.Time) error {
	return s.setDeadline(callRead, t)
}

func (s *streamConn) SetWriteDeadline(t time.Time) error {
	return s.setDeadline(callWrite, t)
}

func (s *streamConn) setDeadline(kind int, t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return net.ErrClosed
	}
	d, busy := &s.rdl, s.reading > 0
	if kind == callWrite {
		d, busy = &s.wdl, s.writing > 0
	}
	d.t = t
	if !busy {
		return nil // armed by the next call
	}
	if t.IsZero() {
		if d.timer != nil {
			d.timer.Stop()
		}
		return nil
	}
	if d.timer == nil {
		d.timer = time.AfterFunc(time.Until(t), func() { s.expire(kind) })
	} else {
		d.timer.Reset(time.Until(t))
	}
	return nil
}

// ExtendedConnectEnabled reports whether net/http's HTTP/2 server, in this
// process, accepts RFC 8441 extended CONNECT requests: whether it sends
// SETTINGS_ENABLE_CONNECT_PROTOCOL (0x8) = 1 (RFC 8441 §3) in its first
// SETTINGS frame. Only then do browsers open WebSockets over HTTP/2; without
// it they use HTTP/1.1 (a connection of their own per WebSocket), and a
// request carrying :protocol is reset with PROTOCOL_ERROR before any
// handler runs.
//
// Go 1.26's net/http advertises the setting only if the environment
// variable GODEBUG contains http2xconnect=1 when the process starts (net/http
// reads it in its init; a //go:debug directive or os.Setenv later has no
// effect). It is off by default because the setting is per connection,
// hence for every handler of the process: a browser that sees it sends its
// WebSockets as extended CONNECT to any path, and a handler that only
// knows the HTTP/1.1 upgrade (hijacking) then fails them, where over
// HTTP/1.1 they would have worked (golang/go#71128). So it is an opt-in
// for the whole program: turn it on when every WebSocket endpoint the
// process serves can take an extended CONNECT, as this package's
// ServeHTTP and Upgrade can.
//
// The answer comes from net/http itself, once per process: an in-memory
// connection (net.Pipe) is served by an http.Server that speaks only
// unencrypted HTTP/2, sent the client preface and an empty SETTINGS frame,
// and its first SETTINGS frame is read. So the answer stays right if a
// future Go changes the default. The probe is bounded by a 5 s deadline,
// its goroutines all end, and if it fails the answer is false.
func ExtendedConnectEnabled() bool { return extendedConnect() }

var extendedConnect = sync.OnceValue(probeExtendedConnect)

// settingEnableConnectProtocol is SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC
// 8441 §3, registered in RFC 9113's settings registry).
const settingEnableConnectProtocol = 0x8

// probeExtendedConnect asks net/http's HTTP/2 server for its first
// SETTINGS frame (RFC 9113 §3.4: the server's connection preface).
func probeExtendedConnect() bool {
	cli, srvConn := net.Pipe()
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Protocols: &protos,
		Handler:   http.NotFoundHandler(),
		ErrorLog:  discardLogger,
	}
	ln := &oneConnListener{c: srvConn, done: make(chan struct{})}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
	wrote := make(chan struct{})
	defer func() {
		cli.Close()
		srv.Close()
		<-served
		<-wrote
	}()
	cli.SetDeadline(time.Now().Add(5 * time.Second))
	go func() {
		defer close(wrote)
		// RFC 9113 §3.4: the client preface is the magic string and a
		// SETTINGS frame (here empty: length 0, type 4, flags 0, stream 0).
		cli.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"))
	}()
	var hdr [9]byte
	for range 8 { // the server's SETTINGS comes first; allow a few others
		if _, err := io.ReadFull(cli, hdr[:]); err != nil {
			return false
		}
		length := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		typ, flags := hdr[3], hdr[4]
		if length > 1<<14 {
			return false
		}
		payload := make([]byte, length)
		if _, err := io.ReadFull(cli, payload); err != nil {
			return false
		}
		if typ != 0x4 || flags&0x1 != 0 { // not SETTINGS, or an ACK
			continue
		}
		for p := payload; len(p) >= 6; p = p[6:] {
			id, val := binary.BigEndian.Uint16(p), binary.BigEndian.Uint32(p[2:])
			if id == settingEnableConnectProtocol {
				return val == 1
			}
		}
		return false
	}
	return false
}

var discardLogger = log.New(io.Discard, "", 0)

// oneConnListener hands out one connection, then blocks until closed.
type oneConnListener struct {
	mu   sync.Mutex
	c    net.Conn
	done chan struct{}
	once sync.Once
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	c := l.c
	l.c = nil
	l.mu.Unlock()
	if c != nil {
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }
