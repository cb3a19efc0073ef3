//go:build linux

package proc

import (
	"os"
	"testing"
	"time"
)

func TestReadCPUOfSelf(t *testing.T) {
	pid := os.Getpid()
	a, err := ReadCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(50 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	b, err := ReadCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	if d := b.Sub(a); d.Total < 10*time.Millisecond || d.Total > time.Minute {
		t.Errorf("CPU clock advanced by %v over a 50 ms busy loop (%d spins)", d.Total, x)
	}
	if b.User+b.Sys <= 0 {
		t.Errorf("no user+sys time in /proc/%d/stat: %+v", pid, b)
	}
}

func TestRSSOfSelf(t *testing.T) {
	n, err := RSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if n < 1<<20 {
		t.Errorf("RSS %d bytes: implausibly small", n)
	}
}

func TestReadCPUNoProcess(t *testing.T) {
	if _, err := ReadCPU(1 << 30); err == nil {
		t.Error("ReadCPU of a pid that cannot exist succeeded")
	}
}
