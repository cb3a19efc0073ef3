//go:build unix

package frame

import (
	"context"
	"net"
	"syscall"
	"testing"
)

// tcpPairSmallBuffers is tcpPair with socket buffers of about n bytes, set
// before the connection is made so that TCP's window is negotiated for
// them (shrinking the buffers of an established loopback connection makes
// the kernel drop segments and back off for seconds). Writers then block
// after a few KiB that the peer has not read.
func tcpPairSmallBuffers(t testing.TB, n int) (server, client net.Conn) {
	t.Helper()
	control := func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n); serr == nil {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, n)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
	lc := net.ListenConfig{Control: control}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	d := net.Dialer{Control: control}
	client, err = d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := <-ch
	if a.err != nil {
		client.Close()
		t.Fatal(a.err)
	}
	t.Cleanup(func() {
		client.Close()
		a.c.Close()
	})
	return a.c, client
}
