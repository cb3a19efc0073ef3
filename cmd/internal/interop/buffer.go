package interop

import (
	"bytes"
	"regexp"
	"sync"
	"testing"
	"time"
)

// Buffer collects a command's output: safe for a writing goroutine and a
// test that polls it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// WaitFor polls b until re matches what it holds and returns the match,
// or fails the test after 30 s saying what was awaited and what came.
func (b *Buffer) WaitFor(t testing.TB, re *regexp.Regexp, what string) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(b.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 30s; output:\n%s", what, b.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
