//go:build !linux

package frame

import (
	"testing"
	"time"
)

// waitArrived: see arrived_linux_test.go. Elsewhere the event tests skip
// (no file descriptor) or this falls back to a pause.
func waitArrived(t testing.TB, c *Conn, n int) { time.Sleep(50 * time.Millisecond) }
