// Package server runs WebSocket endpoints on a net.Listener: the accept
// loop, the opening handshake under a deadline (RFC 6455 §4.2), connection
// tracking, keepalive pings with an idle timeout, handler panics turned
// into a 1011 close, and a graceful Shutdown that sends 1001 "going away"
// to every connection (§7.4.1) and waits for the close handshakes. An
// adapter serves the same handler from a net/http server.
//
// A connection's life:
//
//	accept → handshake deadline → read request (handshake.ReadRequest)
//	       → 101 Switching Protocols (or an HTTP error, or the HTTP fallback)
//	       → frame.Conn → Handler.ServeWS → close handshake → TCP close
//
// Two ways to serve a connection:
//
//   - Handler (server.go): a goroutine per connection that loops over
//     frame.Conn.ReadMessage. The simplest model to write and to read; an
//     idle connection costs its goroutine's stack (4 KiB) and about 3.7 KB
//     of heap.
//   - Events (event.go, epoll_linux.go): OnOpen, OnMessage, OnClose
//     callbacks. On Linux an idle connection has no goroutine: event loops
//     (one per P, each an edge-triggered epoll set) read a connection only
//     while its bytes are there (frame.Plumbing.TryReadMessage), call
//     OnMessage and write the answer inline, coalescing small answers to
//     a burst of pipelined messages (up to 1 KiB) into one write. A connection that keeps
//     its loop busy for more than 10 ms is moved off the loop, so a
//     callback that blocks delays only its own connection. About 2.5 KB
//     per idle connection. cmd/wsecho uses it.
//
// Over HTTP/2 (RFC 8441): mounted in a net/http server that speaks HTTP/2
// (TLS with ALPN "h2", or cleartext with http.Protocols), ServeHTTP and
// Upgrade also accept the extended CONNECT with which browsers open a
// WebSocket on a stream of the HTTP/2 connection they already have, once
// the server advertised SETTINGS_ENABLE_CONNECT_PROTOCOL. The stream
// replaces the TCP connection: the same frame.Conn, limits, keepalive,
// event callbacks and Shutdown apply, and END_STREAM and RST_STREAM stand
// for TCP's FIN and RST (RFC 8441 §5). net/http advertises the setting only
// with GODEBUG=http2xconnect=1 at process start; ExtendedConnectEnabled
// reports whether it does, and explains why it is off by default. http2.go
// has the details (the flow, the close rules, the limits: a stream has no
// file descriptor, so event mode serves it with a goroutine; its deadlines
// go through http.ResponseController).
package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// Handler serves one WebSocket connection. ServeWS runs in the
// connection's own goroutine and owns reading; it may hand writing to other
// goroutines (frame.Conn writes are safe concurrently). When ServeWS
// returns, the server closes the connection with 1000 if it is still open.
// A panic in ServeWS closes that connection with 1011 and is logged; the
// process goes on.
type Handler interface {
	ServeWS(c *frame.Conn, hs *handshake.Result)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(c *frame.Conn, hs *handshake.Result)

// ServeWS calls f(c, hs).
func (f HandlerFunc) ServeWS(c *frame.Conn, hs *handshake.Result) { f(c, hs) }

// Defaults for the zero values of Server's fields. As everywhere in
// ws6455, 0 means the default and -1 means none (the README's "Limits and
// defaults" table lists them all). The handshake deadline is shorter than
// a Dialer's (handshake.DefaultHandshakeTimeout, 30 s) on purpose: a server
// bounds what an idle or slow client can hold, a client waits for a slow
// network.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultPingInterval     = 30 * time.Second
	DefaultIdleTimeout      = 75 * time.Second
	DefaultShutdownCode     = frame.CloseGoingAway
)

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown or
// Close.
var ErrServerClosed = errors.New("server: closed")

// Server accepts WebSocket connections. Set its fields before Serve; they
// must not change afterwards. The zero value serves nothing useful (no
// Handler) but is otherwise valid.
type Server struct {
	// Handler serves each connection after a successful handshake.
	Handler Handler

	// Events, if set, serves each connection in event mode instead of
	// Handler: no goroutine waits on an idle connection (see
	// EventHandler). Set Handler or Events, not both; Events wins.
	Events EventHandler

	// EventLoops is the number of event mode's loops on Linux, each an
	// epoll set whose goroutine reads its connections, calls OnMessage
	// and writes inline (see EventHandler). 0 means one per P
	// (runtime.GOMAXPROCS). A negative value selects one loop that hands
	// each readable connection to a worker goroutine instead: a little
	// more CPU per message, for handlers whose callbacks often block.
	EventLoops int

	// Upgrader runs the opening handshake: origin policy, subprotocols,
	// permessage-deflate, header limits.
	Upgrader handshake.Upgrader

	// Config is the template for each connection's frame.Config (limits,
	// buffers, timeouts, hooks), with frame's defaults for its zero
	// fields. Role, Deflate and Subprotocol are set per connection.
	Config frame.Config

	// HTTP, if set, serves requests that are not WebSocket handshakes (no
	// "Upgrade" header) on the same port, through a net/http server: a
	// page, a health check. Without it such requests are refused like
	// any invalid handshake (400 Bad Request, RFC 6455 §4.2.2).
	HTTP http.Handler

	// HandshakeTimeout bounds the time from accept to the end of the 101
	// response. 0 means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration

	// PingInterval: a connection from which nothing arrived for this long
	// is sent a ping (RFC 6455 §5.5.2), which a live peer answers.
	// 0 means DefaultPingInterval; -1 disables pings.
	PingInterval time.Duration

	// IdleTimeout: a connection from which nothing, not even a pong,
	// arrived for this long is closed with 1001. It also bounds how long
	// a keep-alive connection of the HTTP fallback waits for its next
	// request. 0 means DefaultIdleTimeout; -1 disables it.
	IdleTimeout time.Duration

	// TraceHandshake, if set, is called after each opening handshake
	// (RFC 6455 §4.2) has been answered, on the server's listener and on
	// the net/http adapter alike: with the request (nil if it could not be
	// parsed), and the result (nil if the handshake was refused, err then
	// says why, and handshake.HTTPStatus(err) with what status). Tools
	// that teach the protocol (wsecho -trace) print it; per-frame tracing
	// is Config.Trace.
	TraceHandshake func(remote net.Addr, req *handshake.Request, res *handshake.Result, err error)

	// HTTPError, if set, writes the error response of a refused handshake
	// on the net/http adapter (ServeHTTP, Upgrade), as gorilla's
	// Upgrader.Error does: status is the HTTP status (400, 403, 426, 431,
	// ...) and reason says what was wrong. Without it the response is
	// plain text with the reason, plus the headers RFC 6455 asks for
	// (Sec-WebSocket-Version with 426, Allow with 405). On the server's own
	// listener the handshake package writes the response.
	HTTPError func(w http.ResponseWriter, r *http.Request, status int, reason error)

	// Logger receives connection errors and panics; nil means
	// slog.Default().
	Logger *slog.Logger

	mu          sync.Mutex
	listeners   map[net.Listener]struct{}
	conns       map[*tracked]struct{}
	pending     map[net.Conn]struct{} // in the handshake
	closing     atomic.Bool
	keepalive   sync.Once
	stopKA      chan struct{}
	fallback    *fallbackServer
	nconns      atomic.Int64
	poller      atomic.Pointer[poller] // event mode on Linux, started on first use
	pollerMu    sync.Mutex
	pollerErr   error
	work        chan *evConn  // event mode: to idle workers
	workStop    chan struct{} // closed when the poller stops
	idleWorkers atomic.Int32

	// testLoopBudget replaces loopBudget (the event loops' watchdog) in
	// tests that must hold a loop still for a while.
	testLoopBudget time.Duration
}

// tracked is a connection in the Handler phase.
type tracked struct {
	c        *frame.Conn
	lastAct  uint64    // keepalive loop only
	lastSeen time.Time // keepalive loop only
	pinged   bool      // keepalive loop only
	ev       *evConn   // event mode only
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func durationOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// ListenAndServe listens on the TCP address addr (see Listen) and calls
// Serve.
func (s *Server) ListenAndServe(addr string) error {
	ln, err := s.Listen(addr)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return s.Serve(ln)
}

// Listen announces on the local TCP address addr, for Serve. Unless both
// PingInterval and IdleTimeout are disabled, the connections it accepts
// have no TCP keep-alive: the server's own pings (RFC 6455 §5.5.2) and
// idle timeout find dead peers already, and TCP's probes (Go turns them on
// for every accepted connection, every 15 s) would only add work: four
// setsockopt calls per accepted connection, and probes on every idle one.
// Serve accepts from any listener; this is the one ListenAndServe uses.
func (s *Server) Listen(addr string) (net.Listener, error) {
	var lc net.ListenConfig
	if s.PingInterval >= 0 || s.IdleTimeout >= 0 {
		lc.KeepAlive = -1
	}
	return lc.Listen(context.Background(), "tcp", addr)
}

// Serve accepts connections on l, each served in its own goroutine, until l
// is closed or the server is shut down; then it returns ErrServerClosed. A
// failing Accept (for example out of file descriptors) is retried with a
// backoff from 5 ms to 1 s instead of spinning.
func (s *Server) Serve(l net.Listener) error {
	if !s.track(l) {
		l.Close()
		return ErrServerClosed
	}
	defer s.untrack(l)
	s.startKeepalive()
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return ErrServerClosed
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.logger().Warn("accept failed; retrying", "err", err, "backoff", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		go s.serveNetConn(nc)
	}
}

// addTo adds k to the set *m, under mu, unless the server is closing:
// listeners, connections in their handshake and open connections are all
// tracked this way, so that Shutdown and Close find every one of them.
func addTo[K comparable](s *Server, m *map[K]struct{}, k K) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	if *m == nil {
		*m = make(map[K]struct{})
	}
	(*m)[k] = struct{}{}
	return true
}

// removeFrom deletes k from the set *m, under mu.
func removeFrom[K comparable](s *Server, m *map[K]struct{}, k K) {
	s.mu.Lock()
	delete(*m, k)
	s.mu.Unlock()
}

func (s *Server) track(l net.Listener) bool { return addTo(s, &s.listeners, l) }
func (s *Server) untrack(l net.Listener)    { removeFrom(s, &s.listeners, l) }

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// serveNetConn runs the handshake on a raw connection, then the handler.
func (s *Server) serveNetConn(nc net.Conn) {
	if !s.addPending(nc) {
		nc.Close()
		return
	}
	nc.SetDeadline(time.Now().Add(durationOr(s.HandshakeTimeout, DefaultHandshakeTimeout)))
	var src net.Conn = nc
	var rec *recordingConn
	if s.HTTP != nil {
		rec = &recordingConn{Conn: nc}
		src = rec
	}
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(src)
	req, err := handshake.ReadRequest(br, s.Upgrader.Limits)
	var res *handshake.Result
	if err == nil {
		res, err = s.Upgrader.UpgradeRequest(req, nc)
	} else if req != nil && rec != nil && req.Header.Get("Upgrade") == "" {
		// Not a WebSocket handshake: a plain HTTP request for the fallback.
		s.removePending(nc)
		br.Reset(nil)
		readerPool.Put(br)
		nc.SetDeadline(time.Time{})
		s.serveFallback(rec.replay())
		return
	} else if handshake.HTTPStatus(err) != 0 {
		var re *handshake.RequestError
		if errors.As(err, &re) {
			re.WriteResponse(nc)
		}
	}
	if s.TraceHandshake != nil && (req != nil || handshake.HTTPStatus(err) != 0) {
		s.TraceHandshake(nc.RemoteAddr(), req, res, err)
	}
	var buffered []byte
	if err == nil {
		buffered, _ = br.Peek(br.Buffered())
	}
	var c *frame.Conn
	if err == nil {
		nc.SetDeadline(time.Time{})
		c = frame.NewConn(nc, buffered, s.frameConfig(nc, res))
	}
	br.Reset(nil)
	readerPool.Put(br)
	if err != nil {
		if handshake.HTTPStatus(err) != 0 {
			s.logger().Debug("handshake refused", "remote", nc.RemoteAddr(), "err", err)
			// Still pending, so Shutdown cuts the linger short.
			closeAfterResponse(nc)
		} else {
			nc.Close()
		}
		s.removePending(nc)
		return
	}
	s.removePending(nc)
	s.serveConn(c, res)
}

// responseLinger bounds how long closeAfterResponse reads on.
const responseLinger = time.Second

// closeAfterResponse closes a connection after an HTTP error response, in
// stages as RFC 7230 §6.6 advises: a FIN after the response, then read and
// discard what the client is still sending (the rest of an oversized
// header block, a body) until it closes its side or responseLinger
// passes. Closing at once with unread bytes would make TCP send a reset,
// which can destroy the response before the client reads it.
func closeAfterResponse(nc net.Conn) {
	if cw, ok := nc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		nc.SetReadDeadline(time.Now().Add(responseLinger))
		var buf [512]byte
		for {
			if _, err := nc.Read(buf[:]); err != nil {
				break
			}
		}
	}
	nc.Close()
}

// frameConfig builds the per-connection frame.Config.
func (s *Server) frameConfig(nc net.Conn, res *handshake.Result) frame.Config {
	cfg := s.Config
	cfg.Role = frame.RoleServer
	cfg.Deflate = res.Deflate
	cfg.Subprotocol = res.Subprotocol
	return cfg
}

// serveConn runs the handler on an open connection and closes it after.
func (s *Server) serveConn(c *frame.Conn, res *handshake.Result) {
	// Serve starts the keepalive loop; a Server used only through
	// ServeHTTP needs it too.
	s.startKeepalive()
	var t *tracked
	var e *evConn
	if s.Events != nil {
		// An event-mode connection needs both for its whole life: one
		// allocation.
		te := new(struct {
			t tracked
			e evConn
		})
		t, e = &te.t, &te.e
	} else {
		t = new(tracked)
	}
	t.c, t.lastAct, t.lastSeen = c, frame.PlumbingOf(c).Activity(), time.Now()
	if e != nil {
		// Running from the start (the zero state is idle), so that no
		// one who finds t among the connections takes it for idle before
		// serveEvents has registered it with a loop.
		t.ev, e.fd = e, -1
		e.state.Store(evRunning)
	}
	if !s.addConn(t) {
		c.CloseWith(frame.CloseGoingAway, "server shutting down")
		return
	}
	if e != nil {
		s.serveEvents(c, res, t, e)
		return
	}
	defer func() {
		if v := recover(); v != nil {
			s.logger().Error("handler panic; closing connection with 1011",
				"remote", c.NetConn().RemoteAddr(), "panic", v, "stack", string(debug.Stack()))
			c.CloseWith(frame.CloseInternalError, "internal error")
		} else {
			c.Close()
		}
		s.removeConn(t)
	}()
	if s.Handler == nil {
		return
	}
	s.Handler.ServeWS(c, res)
}

func (s *Server) addPending(nc net.Conn) bool { return addTo(s, &s.pending, nc) }
func (s *Server) removePending(nc net.Conn)   { removeFrom(s, &s.pending, nc) }

func (s *Server) addConn(t *tracked) bool {
	// Counted first: Shutdown waits for NumConns to reach 0, so a
	// connection in the set must never be missing from the count.
	s.nconns.Add(1)
	if !addTo(s, &s.conns, t) {
		s.nconns.Add(-1)
		return false
	}
	return true
}

func (s *Server) removeConn(t *tracked) {
	removeFrom(s, &s.conns, t)
	s.nconns.Add(-1)
}

// NumConns returns the number of open WebSocket connections.
func (s *Server) NumConns() int { return int(s.nconns.Load()) }

// startKeepalive starts the single goroutine that pings idle connections
// and closes dead ones. One loop for all connections costs no timer per
// connection and no clock read per frame: it compares each connection's
// byte counter (frame.Plumbing.Activity) with the previous sample.
func (s *Server) startKeepalive() {
	ping := durationOr(s.PingInterval, DefaultPingInterval)
	idle := durationOr(s.IdleTimeout, DefaultIdleTimeout)
	if ping < 0 && idle < 0 {
		return
	}
	s.keepalive.Do(func() {
		tick := ping
		if tick < 0 || (idle > 0 && idle < tick) {
			tick = idle
		}
		tick = max(tick/4, 10*time.Millisecond)
		s.mu.Lock()
		if s.closing.Load() {
			s.mu.Unlock()
			return
		}
		s.stopKA = make(chan struct{})
		stop := s.stopKA
		s.mu.Unlock()
		go s.keepaliveLoop(tick, ping, idle, stop)
	})
}

func (s *Server) keepaliveLoop(tick, ping, idle time.Duration, stop chan struct{}) {
	t := time.NewTicker(tick)
	defer t.Stop()
	var toPing, toClose []*frame.Conn
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			toPing, toClose = toPing[:0], toClose[:0]
			s.mu.Lock()
			for tc := range s.conns {
				if act := frame.PlumbingOf(tc.c).Activity(); act != tc.lastAct {
					tc.lastAct, tc.lastSeen, tc.pinged = act, now, false
					continue
				}
				quiet := now.Sub(tc.lastSeen)
				switch {
				case idle > 0 && quiet >= idle:
					toClose = append(toClose, tc.c)
				case ping > 0 && quiet >= ping && !tc.pinged:
					tc.pinged = true
					toPing = append(toPing, tc.c)
				}
			}
			s.mu.Unlock()
			for _, c := range toPing {
				go c.WriteControl(frame.OpPing, nil)
			}
			for _, c := range toClose {
				go c.CloseWith(frame.CloseGoingAway, "idle timeout")
			}
		}
	}
}

// Shutdown stops accepting, sends a close frame with 1001 "going away" to
// every open connection (RFC 6455 §7.4.1) and waits until their close
// handshakes finish and their handlers return, or until ctx ends; then it
// closes whatever is left and returns ctx.Err(). Connections upgraded
// through ServeHTTP are included (http.Server.Shutdown does not track
// hijacked connections), and so are WebSockets on HTTP/2 streams (RFC
// 8441): each gets its 1001, and its ServeHTTP returns, which ends its
// stream. The HTTP/2 connections that carried them belong to the
// http.Server, which keeps serving other requests on them until its own
// Shutdown or Close.
//
// Bounds: every connection is sent its close frame at once and
// concurrently, so a peer that does not read (whose close frame waits
// behind a full socket or a blocked writer) delays only itself. Each
// close handshake ends within the connections' CloseTimeout, answered or
// not (frame.Config.CloseTimeout); Shutdown returns when the last one has
// ended, or at ctx's deadline, whichever is first, after closing the
// connections that are left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	for l := range s.listeners {
		l.Close()
	}
	for nc := range s.pending {
		nc.Close()
	}
	conns := make([]*frame.Conn, 0, len(s.conns))
	for t := range s.conns {
		conns = append(conns, t.c)
	}
	if s.stopKA != nil {
		close(s.stopKA)
		s.stopKA = nil
	}
	fb := s.fallback
	s.mu.Unlock()
	if fb != nil {
		go fb.srv.Shutdown(ctx)
	}
	// A goroutine each: WriteClose may block (for at most CloseTimeout)
	// on a connection whose peer stopped reading, and one such peer must
	// not hold back the close frames of all the others. The goroutines
	// of healthy connections end as soon as their frame is written.
	for _, c := range conns {
		go c.WriteClose(frame.CloseGoingAway, "server shutting down")
	}
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for s.nconns.Load() > 0 {
		select {
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		case <-poll.C:
		}
	}
	s.stopPoller()
	return nil
}

// Close closes the listeners and every connection at once, without close
// handshakes.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closing.Store(true)
	for l := range s.listeners {
		l.Close()
	}
	for nc := range s.pending {
		nc.Close()
	}
	for t := range s.conns {
		t.c.CloseNow()
	}
	if s.stopKA != nil {
		close(s.stopKA)
		s.stopKA = nil
	}
	fb := s.fallback
	s.mu.Unlock()
	if fb != nil {
		fb.srv.Close()
	}
	s.stopPoller()
	return nil
}
