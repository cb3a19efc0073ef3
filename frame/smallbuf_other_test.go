//go:build !unix

package frame

import (
	"net"
	"testing"
)

// tcpPairSmallBuffers falls back to default buffers where socket options
// are not at hand.
func tcpPairSmallBuffers(t testing.TB, n int) (server, client net.Conn) {
	return tcpPair(t)
}
