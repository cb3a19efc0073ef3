//go:build unix

package wstest

import "syscall"

// SmallReceiveBuffer is a net.Dialer.Control function that sets the socket
// receive buffer to n bytes before the connection is made, so that TCP's
// window is negotiated for it: shrinking it on an established loopback
// connection makes the kernel drop segments and crawl in retransmission
// backoff, so that a server's writes to a client that does not read
// neither block nor progress in any predictable way.
func SmallReceiveBuffer(n int) func(_, _ string, rc syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
		}); err != nil {
			return err
		}
		return serr
	}
}
