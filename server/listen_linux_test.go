//go:build linux

package server

import (
	"syscall"
	"testing"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/server/internal/wstest"
)

// Server.Listen (and so ListenAndServe) accepts connections without TCP
// keep-alive while the server pings and times out idle connections itself
// (RFC 6455 §5.5.2), and with Go's default keep-alive when both are off:
// then TCP's probes are the only way to find a peer that vanished.
func TestListen_TCPKeepAliveOnlyWithoutPings_RFC6455_5_5_2(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ping, idle time.Duration
		want       bool
	}{
		{"defaults", 0, 0, false},
		{"pings only", 0, -1, false},
		{"idle timeout only", -1, 0, false},
		{"neither", -1, -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan int, 1)
			s := &Server{PingInterval: tc.ping, IdleTimeout: tc.idle, Handler: HandlerFunc(func(c *frame.Conn, _ *handshake.Result) {
				rc, err := c.NetConn().(syscall.Conn).SyscallConn()
				if err != nil {
					t.Error(err)
					got <- -1
					return
				}
				v := -1
				rc.Control(func(fd uintptr) { v, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) })
				if err != nil {
					t.Error(err)
				}
				got <- v
			})}
			ln, err := s.Listen("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go s.Serve(ln)
			t.Cleanup(func() { s.Close() })
			c := wstest.Dial(t, ln.Addr().String(), "/", frame.Config{})
			defer c.CloseNow()
			select {
			case v := <-got:
				if (v == 1) != tc.want {
					t.Errorf("SO_KEEPALIVE = %d on the accepted connection; want keep-alive %v", v, tc.want)
				}
			case <-time.After(wstest.Timeout):
				t.Fatalf("the handler did not run within %v", wstest.Timeout)
			}
		})
	}
}
