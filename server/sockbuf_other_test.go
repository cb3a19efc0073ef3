//go:build !unix

package server

import "syscall"

// smallReceiveBuffer: see sockbuf_unix_test.go; elsewhere the default
// buffers are used.
func smallReceiveBuffer(n int) func(_, _ string, rc syscall.RawConn) error { return nil }
