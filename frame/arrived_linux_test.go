//go:build linux

package frame

import (
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// waitArrived waits until at least n bytes are queued in the receive
// buffer of c's socket (FIONREAD), or, with n < 0, until the socket is
// readable at all (bytes, EOF or an error: what a recv with MSG_PEEK
// sees). Loopback delivers a write almost at once, but not in the same
// instant, and on a busy machine not within any fixed time: tests that
// need the bytes there before they call TryReadMessage wait for them here,
// failing after testTimeout with what they waited for.
func waitArrived(t testing.TB, c *Conn, n int) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		got, readable := 0, false
		c.raw.Control(func(fd uintptr) {
			var q int32
			if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&q))); e == 0 {
				got = int(q)
			}
			var b [1]byte
			readable = peekPending(fd, b[:])
		})
		if (n < 0 && readable) || (n >= 0 && got >= n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, %d bytes have arrived in the socket (readable: %v), want %d", testTimeout, got, readable, n)
		}
		time.Sleep(time.Millisecond)
	}
}
