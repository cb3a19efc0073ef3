//go:build unix

package frame

import "syscall"

// canWaitRaw: on Unix a Conn waits for readability through
// syscall.RawConn, holding no buffer while idle.
const canWaitRaw = true

// peekPending reports whether the socket fd has bytes (or an error or EOF)
// to read, without consuming them. EAGAIN means nothing is pending yet.
func peekPending(fd uintptr, b []byte) bool {
	_, _, err := syscall.Recvfrom(int(fd), b, syscall.MSG_PEEK)
	return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK
}

// rawRead reads from the socket fd once, without blocking (the runtime
// keeps its sockets non-blocking).
func rawRead(fd uintptr, b []byte) (int, error) { return syscall.Read(int(fd), b) }
