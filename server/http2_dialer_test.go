package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/server/internal/wstest"
)

// Our client against our server over HTTP/2: handshake.Dialer's RFC 8441
// side (extended CONNECT on net/http's HTTP/2 client) against
// Server.ServeHTTP's (extended CONNECT on net/http's HTTP/2 server). The
// other RFC 8441 tests of this package use a minimal client of their own,
// and the Dialer's tests a minimal server, so that neither side is only
// checked against itself; this one checks that the two meet.

// countingListener counts the TCP connections accepted.
type countingListener struct {
	net.Listener
	n atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// TestDialer_RFC8441_5_AgainstServer: over h2c and over TLS with h2, ten
// Dialer dials to the Server share one TCP connection (RFC 8441 §4: each
// WebSocket is a stream), negotiate permessage-deflate and a subprotocol
// as over HTTP/1.1, echo text and a 1 MiB binary message each, and one
// closes with 1000 while the others go on; every connection ends on the
// server, and no goroutine is left.
func TestDialer_RFC8441_5_AgainstServer(t *testing.T) {
	for _, mode := range []string{"h2c", "tls"} {
		t.Run(mode, func(t *testing.T) {
			wstest.CheckGoroutines(t)
			s := &Server{Handler: HandlerFunc(echo), Logger: wstest.QuietLogger()}
			s.Upgrader.Compression = handshake.DefaultDeflateConfig()
			s.Upgrader.Protocols = []string{"chat"}
			hs := httptest.NewUnstartedServer(s)
			cl := &countingListener{Listener: hs.Listener}
			hs.Listener = cl
			hs.Config.ErrorLog = discardLogger
			d := &handshake.Dialer{
				HTTP2:       handshake.HTTP2Require,
				Protocols:   []string{"chat"},
				Compression: &handshake.DeflateOffer{},
			}
			var url string
			if mode == "tls" {
				hs.EnableHTTP2 = true
				hs.StartTLS()
				d.TLSClientConfig = &tls.Config{RootCAs: hs.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
				url = "wss" + strings.TrimPrefix(hs.URL, "https")
			} else {
				var p http.Protocols
				p.SetUnencryptedHTTP2(true)
				hs.Config.Protocols = &p
				hs.Start()
				url = "ws" + strings.TrimPrefix(hs.URL, "http")
			}
			t.Cleanup(func() {
				d.CloseIdleConnections()
				ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
				defer cancel()
				if err := s.Shutdown(ctx); err != nil {
					t.Errorf("Shutdown: %v", err)
				}
				hs.Close()
			})

			const n = 10
			conns := make([]*frame.Conn, n)
			for i := range conns {
				c, resp, err := d.Dial(context.Background(), url+"/echo")
				if err != nil {
					t.Fatalf("dial %d: %v", i, err)
				}
				if resp.Proto != handshake.ProtoHTTP2 || resp.StatusCode != 200 {
					t.Fatalf("dial %d: %s %d, want HTTP/2.0 200", i, resp.Proto, resp.StatusCode)
				}
				if got := c.Subprotocol(); got != "chat" {
					t.Fatalf("dial %d: subprotocol %q, want chat", i, got)
				}
				if ext := resp.Header.Get("Sec-WebSocket-Extensions"); !strings.HasPrefix(ext, "permessage-deflate") {
					t.Fatalf("dial %d: Sec-WebSocket-Extensions %q, want permessage-deflate accepted", i, ext)
				}
				conns[i] = c
			}
			if got := cl.n.Load(); got != 1 {
				t.Fatalf("%d WebSockets took %d TCP connections, want 1", n, got)
			}
			wstest.WaitUntil(t, wstest.Timeout, "the server to count every connection", func() bool { return s.NumConns() == n }, func() string { return fmt.Sprint(s.NumConns()) })

			// The first closes; the others echo after it, together.
			if err := conns[0].CloseWith(frame.CloseNormal, "done"); err != nil {
				t.Fatalf("close: %v", err)
			}
			big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB, compresses
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i, c := range conns[1:] {
				wg.Add(1)
				go func() {
					defer wg.Done()
					msg := fmt.Appendf(nil, "stream %d", i+1)
					for _, m := range []struct {
						op frame.Opcode
						p  []byte
					}{{frame.OpText, msg}, {frame.OpBinary, big}} {
						if err := c.WriteMessage(m.op, m.p); err != nil {
							errs <- fmt.Errorf("stream %d: write: %v", i+1, err)
							return
						}
						op, p, err := c.ReadMessage(nil)
						if err != nil || op != m.op || !bytes.Equal(p, m.p) {
							errs <- fmt.Errorf("stream %d: echo of %d bytes: got op %v, %d bytes, %v", i+1, len(m.p), op, len(p), err)
							return
						}
					}
					if err := c.CloseWith(frame.CloseNormal, ""); err != nil {
						errs <- fmt.Errorf("stream %d: close: %v", i+1, err)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			wstest.WaitUntil(t, wstest.Timeout, "every connection to end on the server", func() bool { return s.NumConns() == 0 }, func() string { return fmt.Sprint(s.NumConns()) })
		})
	}
}
