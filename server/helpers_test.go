package server

// Test plumbing of the server tests that only they use: a Server on a
// loopback listener (wstest.ServeLocal with the Server's own log muted),
// an echo handler, and checks on a dialed connection. What the tests of
// the handlers mounted on a Server need too is in internal/wstest.

import (
	"errors"
	"testing"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/server/internal/wstest"
)

// echo sends every message back with its own opcode until the connection
// ends.
func echo(c *frame.Conn, _ *handshake.Result) {
	for {
		op, p, err := c.ReadMessage(nil)
		if err != nil {
			return
		}
		if err := c.WriteMessage(op, p); err != nil {
			return
		}
	}
}

// serveLocal runs s on a new 127.0.0.1 listener and returns its address.
// At the end of the test it shuts s down and checks that Serve returned
// ErrServerClosed. A test that shuts s down itself may do so; the second
// Shutdown is harmless.
func serveLocal(t testing.TB, s *Server) string {
	t.Helper()
	if s.Logger == nil {
		s.Logger = wstest.QuietLogger()
	}
	return wstest.ServeLocal(t, s, ErrServerClosed)
}

// roundTrip sends msg and expects it back.
func roundTrip(t testing.TB, c *frame.Conn, msg string) {
	t.Helper()
	if err := c.WriteMessage(frame.OpText, []byte(msg)); err != nil {
		t.Fatalf("WriteMessage: %v", err)
	}
	c.NetConn().SetReadDeadline(time.Now().Add(wstest.Timeout))
	op, p, err := c.ReadMessage(nil)
	c.NetConn().SetReadDeadline(time.Time{})
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	if op != frame.OpText || string(p) != msg {
		t.Fatalf("echo: got %v %q, want text %q", op, p, msg)
	}
}

// expectCloseCode reads until the connection ends and checks that the
// peer closed it with code.
func expectCloseCode(t testing.TB, c *frame.Conn, code frame.CloseCode) {
	t.Helper()
	err := wstest.ReadUntilClose(c)
	var ce *frame.CloseError
	if !errors.As(err, &ce) || ce.Code != code || ce.Local {
		t.Fatalf("connection ended with %v, want the peer's close code %v", err, code)
	}
}
