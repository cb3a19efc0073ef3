// Package wstest is the test plumbing shared by the tests of package server
// and of the handlers mounted on it (server/relay): a Server on a loopback
// listener that is shut down at the end of the test, a goroutine leak
// check, polling with a ceiling, a Dialer client, socket buffer shrinkers,
// and a raw TCP client that writes handshakes and frames by hand and reads
// back what the server sends (RawConn).
//
// Every wait is bounded by a generous ceiling (Timeout, or one the caller
// gives) and fails with a message saying what was awaited: no helper
// asserts that something happens quickly, it only refuses to hang.
//
// It is a non-test package so that both packages' tests can import it
// without copying it; only _test.go files import it.
package wstest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// Timeout bounds every wait in these tests; no test asserts that
// something happens quickly, it only refuses to hang.
const Timeout = 10 * time.Second

// WaitUntil polls cond until it holds, failing the test with what was
// awaited (and detail(), if not nil) if it still does not after ceiling.
func WaitUntil(t testing.TB, ceiling time.Duration, what string, cond func() bool, detail func() string) {
	t.Helper()
	deadline := time.Now().Add(ceiling)
	for !cond() {
		if time.Now().After(deadline) {
			msg := ""
			if detail != nil {
				msg = " (" + detail() + ")"
			}
			t.Fatalf("still waiting after %v for %s%s", ceiling, what, msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// LogRecorder is a slog.Handler that keeps the messages logged.
type LogRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (h *LogRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *LogRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *LogRecorder) WithGroup(string) slog.Handler            { return h }
func (h *LogRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.msgs = append(h.msgs, r.Message)
	h.mu.Unlock()
	return nil
}

// Logged reports whether msg was logged.
func (h *LogRecorder) Logged(msg string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Contains(h.msgs, msg)
}

// QuietLogger drops the server's log output (handler panics are expected
// in some tests).
func QuietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// CheckGoroutines fails the test if, after everything registered later
// with t.Cleanup has run (the server's Shutdown among it), more goroutines
// are left than there were when it was called. Goroutines take a moment to
// exit after the connections they serve are closed, so it retries.
func CheckGoroutines(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(Timeout)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d goroutines before the test, %d after\n%s", before, n, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// Server is what ServeLocal runs: a *server.Server, which this package
// cannot name (package server's own tests import it).
type Server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// ServeLocal runs s on a new 127.0.0.1 listener and returns its address.
// At the end of the test it shuts s down and checks that Serve returned
// errServerClosed, which is server.ErrServerClosed. A test that shuts s
// down itself may do so; the second Shutdown is harmless.
func ServeLocal(t testing.TB, s Server, errServerClosed error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		select {
		case err := <-served:
			if !errors.Is(err, errServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(Timeout):
			t.Errorf("Serve did not return after Shutdown")
		}
	})
	return ln.Addr().String()
}

// Dial opens a client connection to ws://addr/path with cfg as the
// client's frame.Config.
func Dial(t testing.TB, addr, path string, cfg frame.Config) *frame.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	d := &handshake.Dialer{FrameConfig: cfg}
	c, _, err := d.Dial(ctx, "ws://"+addr+path)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// ReadUntilClose reads and discards messages until the connection ends and
// returns the error: a *frame.CloseError for a closed connection, or
// os.ErrDeadlineExceeded if it is still open after Timeout. It may run
// in any goroutine.
func ReadUntilClose(c *frame.Conn) error {
	return ReadUntilCloseWithin(c, Timeout)
}

// ReadUntilCloseWithin is ReadUntilClose with another ceiling.
func ReadUntilCloseWithin(c *frame.Conn, ceiling time.Duration) error {
	c.NetConn().SetReadDeadline(time.Now().Add(ceiling))
	for {
		if _, _, err := c.ReadMessage(nil); err != nil {
			return err
		}
	}
}

// SmallSendBuffer shrinks the server's socket send buffer, so that a
// client that does not read fills it after a few kilobytes.
func SmallSendBuffer(c *frame.Conn) {
	if tc, ok := c.NetConn().(*net.TCPConn); ok {
		tc.SetWriteBuffer(4096)
	}
}
