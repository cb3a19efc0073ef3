//go:build !unix

package wstest

import "syscall"

// SmallReceiveBuffer: see sockbuf_unix.go; elsewhere the default
// buffers are used.
func SmallReceiveBuffer(n int) func(_, _ string, rc syscall.RawConn) error { return nil }
