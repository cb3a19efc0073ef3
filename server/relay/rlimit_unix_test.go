//go:build unix

package relay

import (
	"syscall"
	"testing"
)

// raiseFDLimit raises this process's RLIMIT_NOFILE soft limit to at least
// need (up to the hard limit) and skips the test if that is not enough:
// a thousand loopback connections take two thousand descriptors, one per
// end.
func raiseFDLimit(t testing.TB, need uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("getrlimit: %v", err)
	}
	if lim.Cur >= need {
		return
	}
	lim.Cur = min(max(need, lim.Cur), lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("setrlimit(RLIMIT_NOFILE, %d): %v", lim.Cur, err)
	}
	if lim.Cur < need {
		t.Skipf("RLIMIT_NOFILE hard limit is %d; this test needs %d descriptors (raise it with ulimit -Hn)", lim.Max, need)
	}
}
