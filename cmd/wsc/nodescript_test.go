package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/ws6455/ws6455/cmd/internal/interop"
)

// nodeScript is a Node script from testdata/interop that runs as a peer
// for the length of a test and reports what it sees as one JSON object
// per line on stdout (events of type E), its first being
// {"event":"listening","port":N}. It exits when its stdin ends.
type nodeScript[E any] struct {
	name string

	mu     sync.Mutex
	events []E
	out    bytes.Buffer  // stderr, and stdout lines that are not events
	change chan struct{} // closed and replaced on every new event
}

// startNodeScript runs script with node (extra environment env) and waits
// for it to listen. The script ends when the test does: its stdin is
// closed, then it is killed if need be; its output is logged if the test
// failed.
func startNodeScript[E any](t *testing.T, node, script string, env ...string) *nodeScript[E] {
	t.Helper()
	s := &nodeScript[E]{name: script, change: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = interop.Dir
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &lockedWriter{mu: &s.mu, w: &s.out}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node %s: %v", script, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev E
			err := json.Unmarshal(sc.Bytes(), &ev)
			s.mu.Lock()
			fmt.Fprintln(&s.out, sc.Text())
			if err == nil {
				s.events = append(s.events, ev)
				close(s.change)
				s.change = make(chan struct{})
			}
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		cancel()
		cmd.Wait()
		if t.Failed() {
			s.mu.Lock()
			t.Logf("%s output:\n%s", script, s.out.String())
			s.mu.Unlock()
		}
	})
	return s
}

// snapshot returns the events so far.
func (s *nodeScript[E]) snapshot() []E {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]E(nil), s.events...)
}

// wait waits up to 20 s for an event matching match, and returns the
// first one; the test fails, naming what, if none comes. match sees each
// event once, in order, so it may count.
func (s *nodeScript[E]) wait(t *testing.T, what string, match func(E) bool) E {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for i := 0; ; {
		s.mu.Lock()
		for ; i < len(s.events); i++ {
			if match(s.events[i]) {
				ev := s.events[i]
				s.mu.Unlock()
				return ev
			}
		}
		change := s.change
		s.mu.Unlock()
		select {
		case <-change:
		case <-deadline:
			t.Fatalf("%s: no %s within 20 s", s.name, what)
		}
	}
}
