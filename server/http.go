package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// This file connects the server to net/http, both ways: ServeHTTP lets a
// net/http server upgrade requests into this server's handler, and the HTTP
// fallback lets this server hand plain HTTP requests to a net/http handler.

// Upgrade runs the server's side of the handshake on a net/http request and
// returns the open connection, for programs that keep their own net/http
// server and handle connections themselves. The response is written on the
// hijacked connection, with the header fields set on w.Header() before the
// call (a Set-Cookie, say; as gorilla's Upgrade(w, r, header) and coder's
// Accept send them) next to the Upgrader's ExtraHeaders; bytes the HTTP
// server had already buffered (early frames from the client) are handed to
// the frame.Conn. On failure an HTTP error response has been written (see
// Server.HTTPError). The connection is tracked by s until
// it is closed: NumConns counts it, keepalive pings it, and s.Shutdown
// closes it with 1001 and waits for it (a small goroutine per connection
// watches for the close). After Shutdown, Upgrade closes the new
// connection with 1001 and returns ErrServerClosed.
//
// Over HTTP/2 (an RFC 8441 extended CONNECT, see ServeHTTP) nothing is
// hijacked: the connection is the request's stream, which lives only as
// long as the calling handler runs. The handler MUST NOT return before the
// connection is done, or it would end the stream under it:
//
//	c, _, err := wsServer.Upgrade(w, r)
//	if err != nil {
//		return
//	}
//	go serve(c)  // or serve it right here
//	<-c.Done()   // HTTP/2: keep the stream until the WebSocket has ended
//
// Waiting on c.Done() is harmless on HTTP/1.1, so a handler written this
// way serves both. When the peer resets the stream, or the HTTP/2
// connection is lost, reads and writes fail from then on, as after a TCP
// reset: a reading goroutine sees 1006 at once, a connection nobody reads
// ends at its next write (the keepalive ping at the latest), and its
// tracking ends with it. A handler that returns early gets the same for
// later calls, but a write in progress at that moment would race with
// net/http's end of the response: do not.
func (s *Server) Upgrade(w http.ResponseWriter, r *http.Request) (*frame.Conn, *handshake.Result, error) {
	c, res, err := s.upgrade(w, r)
	if err != nil {
		return nil, nil, err
	}
	s.startKeepalive()
	t := &tracked{c: c, lastAct: frame.PlumbingOf(c).Activity(), lastSeen: time.Now()}
	if !s.addConn(t) {
		c.CloseWith(frame.CloseGoingAway, "server shutting down")
		return nil, nil, ErrServerClosed
	}
	go func() {
		<-c.Done()
		s.removeConn(t)
	}()
	return c, res, nil
}

// upgrade is Upgrade without tracking; ServeHTTP tracks the connection
// while its handler runs.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request) (c *frame.Conn, res *handshake.Result, err error) {
	var req *handshake.Request
	defer func() {
		if s.TraceHandshake != nil {
			s.TraceHandshake(remoteAddr(r), req, res, err)
		}
	}()
	// net/http read the header block under its own, looser limits: hold
	// the handshake to the Upgrader's, as on the server's own listener.
	if err := s.Upgrader.Limits.CheckRequest(r.Method, r.RequestURI, r.Proto, r.Host, r.Header); err != nil {
		s.writeHTTPError(w, r, err)
		return nil, nil, err
	}
	req, err = handshake.NewRequestFromHeader(r.Method, r.RequestURI, r.Proto, r.Host, r.Header)
	if err != nil {
		s.writeHTTPError(w, r, err)
		return nil, nil, err
	}
	res, err = s.Upgrader.Negotiate(req)
	if err == nil {
		err = res.AddResponseHeader(w.Header())
	}
	if err != nil {
		s.writeHTTPError(w, r, err)
		return nil, nil, err
	}
	if req.HTTP2 {
		return s.acceptStream(w, r, res)
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		err := errors.New("server: the http.ResponseWriter does not support hijacking; an HTTP/1.1 WebSocket needs it")
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return nil, nil, err
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("server: hijack: %w", err)
	}
	if rc, ok := nc.(*replayConn); ok && len(rc.pending) == 0 {
		// A keep-alive connection of the HTTP fallback: its replayed
		// bytes are used up, so the socket itself is what is left, and
		// with its file descriptor in view event mode can poll it.
		nc = rc.Conn
	}
	// Whatever the HTTP server read past the request is the start of the
	// WebSocket stream.
	var buffered []byte
	if n := brw.Reader.Buffered(); n > 0 {
		buffered, _ = brw.Reader.Peek(n)
	}
	if _, err := nc.Write(res.AppendResponse(nil)); err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("server: write 101 response: %w", err)
	}
	return frame.NewConn(nc, buffered, s.frameConfig(nc, res)), res, nil
}

// acceptStream answers an RFC 8441 request with 200 and the negotiated
// fields (RFC 8441 §5; no Upgrade, Connection or Sec-WebSocket-Accept, RFC
// 9113 §8.2.2), and returns a frame.Conn over the stream.
func (s *Server) acceptStream(w http.ResponseWriter, r *http.Request, res *handshake.Result) (*frame.Conn, *handshake.Result, error) {
	h := w.Header()
	for k, vs := range res.ResponseHeader {
		// res.ResponseHeader already holds w's fields (AddResponseHeader).
		h[k] = vs
	}
	w.WriteHeader(res.Status())
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return nil, nil, fmt.Errorf("server: send the 200 of an RFC 8441 stream: %w", err)
	}
	// net/http applies the http.Server's ReadTimeout and WriteTimeout to
	// every stream from its start, as timers that would end the WebSocket
	// however alive it is: from here on the WebSocket's own timeouts
	// govern the stream (streamConn's deadlines, keepalive).
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	nc := newStreamConn(w, r)
	return frame.NewConn(nc, nil, s.frameConfig(nc, res)), res, nil
}

// ServeHTTP upgrades the request and runs s.Handler (or s.Events) on the
// connection in the calling goroutine, so a Server can be mounted in a
// net/http mux:
//
//	mux.Handle("/ws", wsServer)
//
// It serves both opening handshakes: the HTTP/1.1 upgrade of RFC 6455 §4
// (the connection is hijacked) and, on an HTTP/2 server, the extended
// CONNECT of RFC 8441 (the WebSocket runs on the request's stream; see
// ExtendedConnectEnabled for the GODEBUG setting net/http needs). Over
// HTTP/2, ServeHTTP returns when the WebSocket connection has ended, and
// its return is what closes the stream (END_STREAM, RFC 8441 §5).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, res, err := s.upgrade(w, r)
	if err != nil {
		s.logger().Debug("upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	s.serveConn(c, res)
	if _, ok := c.NetConn().(*streamConn); ok {
		// On an HTTP/2 stream the handler must outlive the connection:
		// returning ends the stream, and w may not be used after.
		// serveConn has closed c or is closing it (a close handshake
		// bounded by CloseTimeout), and c is done once its streamConn is
		// closed and no call uses it. (A hijacked connection needs no
		// wait: in event mode it may stay open, served by the poller.)
		<-c.Done()
	}
}

// remoteAddr is r's client address as a net.Addr, for TraceHandshake.
func remoteAddr(r *http.Request) net.Addr {
	if a, err := net.ResolveTCPAddr("tcp", r.RemoteAddr); err == nil {
		return a
	}
	return &net.TCPAddr{}
}

// IsWebSocketUpgrade reports whether r asks to be upgraded to a WebSocket
// connection (RFC 6455 §4.2.1 items 3 and 4: an Upgrade field with the
// "websocket" token and a Connection field with the "upgrade" token, both
// ASCII case-insensitive and in comma lists over any number of lines), or
// is an RFC 8441 extended CONNECT for one (HTTP/2, method CONNECT,
// :protocol "websocket"), so that a net/http handler can serve a page and
// a WebSocket on one path. It does not validate the rest of the
// handshake: Upgrade and ServeHTTP do.
func IsWebSocketUpgrade(r *http.Request) bool {
	if r.ProtoMajor == 2 && r.Method == http.MethodConnect {
		return strings.EqualFold(r.Header.Get(":protocol"), "websocket")
	}
	return hasToken(r.Header["Upgrade"], "websocket") && hasToken(r.Header["Connection"], "upgrade")
}

// hasToken reports whether a comma-separated list field holds token.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// writeHTTPError answers a refused handshake on the net/http adapter,
// through s.HTTPError if it is set.
func (s *Server) writeHTTPError(w http.ResponseWriter, r *http.Request, err error) {
	var re *handshake.RequestError
	status := http.StatusBadRequest
	if errors.As(err, &re) {
		status = re.Status
		for k, vs := range re.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
	}
	if r.ProtoMajor == 1 {
		// Not on HTTP/2: there net/http takes "Connection: close" as a
		// request to shut the whole connection down (GOAWAY), which
		// would end the other streams' WebSockets with it.
		w.Header().Set("Connection", "close")
	}
	if s.HTTPError != nil {
		s.HTTPError(w, r, status, err)
		return
	}
	http.Error(w, err.Error(), status)
}

// recordingConn keeps a copy of the bytes read during the handshake, so that
// a request which turns out not to be a WebSocket handshake can be replayed
// to the HTTP fallback.
type recordingConn struct {
	net.Conn
	rec []byte
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.rec = append(c.rec, p[:n]...)
	return n, err
}

// replay returns a connection that reads the recorded bytes first.
func (c *recordingConn) replay() net.Conn {
	return &replayConn{Conn: c.Conn, pending: c.rec}
}

type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// fallbackServer is a net/http server fed one connection at a time.
type fallbackServer struct {
	srv *http.Server
	ln  *chanListener
}

func (s *Server) serveFallback(nc net.Conn) {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		nc.Close()
		return
	}
	if s.fallback == nil {
		ln := &chanListener{ch: make(chan net.Conn), done: make(chan struct{}), addr: nc.LocalAddr()}
		// Keep-alive requests on the same connection may be upgrades too:
		// route those back to us through the adapter.
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
				// Upgraded, the connection is served in a goroutine of
				// its own, as if it had come straight from the
				// listener: net/http's serving goroutine (whose stack
				// has grown) and its per-connection state end here,
				// instead of staying under an idle connection.
				c, res, err := s.upgrade(w, r)
				if err != nil {
					s.logger().Debug("upgrade failed", "remote", r.RemoteAddr, "err", err)
					return
				}
				go s.serveConn(c, res)
				return
			}
			s.HTTP.ServeHTTP(w, r)
		})
		// IdleTimeout bounds a keep-alive connection waiting for its next
		// request like the WebSocket idle timeout (-1, none, means the
		// same to net/http).
		// MaxHeaderBytes: net/http stops reading a header block near
		// the Upgrader's limit (it allows itself 4 KiB more), and upgrade
		// applies the exact limits (Limits.CheckRequest).
		s.fallback = &fallbackServer{srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: durationOr(s.HandshakeTimeout, DefaultHandshakeTimeout),
			IdleTimeout:       durationOr(s.IdleTimeout, DefaultIdleTimeout),
			MaxHeaderBytes:    s.Upgrader.Limits.MaxHeaderBlock(),
			ErrorLog:          slog.NewLogLogger(s.logger().Handler(), slog.LevelDebug),
		}, ln: ln}
		go s.fallback.srv.Serve(ln)
	}
	ln := s.fallback.ln
	s.mu.Unlock()
	select {
	case ln.ch <- nc:
	case <-ln.done:
		nc.Close()
	}
}

// chanListener is a net.Listener whose connections come from a channel.
type chanListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

var _ io.Reader = (*replayConn)(nil)
