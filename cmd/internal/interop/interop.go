// Package interop is the test harness the commands' interop tests share:
// finding Node.js, its npm packages and Chromium (skipping, or failing
// under WS6455_REQUIRE_INTEROP=1, when one is missing), running one of the
// commands on a loopback port, running a script from testdata/interop and
// judging its output, and where screenshots go. Only tests import it.
//
// The tools come from `bash testdata/interop/install.sh`; CI (.ci/run) runs
// it and sets WS6455_REQUIRE_INTEROP=1, so that nothing is skipped there.
package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RequireEnv, set to 1, turns a skip for a missing tool into a failure.
const RequireEnv = "WS6455_REQUIRE_INTEROP"

// Dir is testdata/interop from a command's package directory (cmd/NAME),
// where `go test` runs its tests.
var Dir = filepath.Join("..", "..", "testdata", "interop")

// SkipOrFatal skips the test with the message, or fails it when
// RequireEnv is 1.
func SkipOrFatal(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s (%s=1, so this is a failure)", msg, RequireEnv)
	}
	t.Skip(msg)
}

// Node returns the node binary after checking that the npm packages are
// installed in Dir/node_modules and that the scripts exist; it skips (see
// SkipOrFatal) when node or a package is missing, and in -short mode.
func Node(t testing.TB, packages []string, scripts ...string) string {
	t.Helper()
	if testing.Short() && os.Getenv(RequireEnv) != "1" {
		t.Skip("interop: skipped in -short mode")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		SkipOrFatal(t, "interop: missing node (Node.js >= 20) in PATH; install it and the test packages with: bash testdata/interop/install.sh")
	}
	for _, pkg := range packages {
		if _, err := os.Stat(filepath.Join(Dir, "node_modules", pkg, "package.json")); err != nil {
			SkipOrFatal(t, "interop: missing testdata/interop/node_modules/%s; install with: (cd testdata/interop && npm ci), or bash testdata/interop/install.sh", pkg)
		}
	}
	for _, s := range scripts {
		if _, err := os.Stat(filepath.Join(Dir, s)); err != nil {
			t.Fatalf("interop: missing script testdata/interop/%s", s)
		}
	}
	return node
}

// Chromium returns Debian's Chromium (/usr/bin/chromium, or $CHROMIUM), or
// skips when it is missing.
func Chromium(t testing.TB) string {
	t.Helper()
	p := os.Getenv("CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if st, err := os.Stat(p); err != nil || st.IsDir() {
		SkipOrFatal(t, "interop: missing Chromium at %s; install with: apt-get install -y chromium (or bash testdata/interop/install.sh), or set CHROMIUM", p)
	}
	return p
}

// RunFunc is a command's run function: it serves until ctx ends.
type RunFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// Server is a command running on a loopback port for a test.
type Server struct {
	Addr string // host:port it listens on

	addrc    chan string
	label    string
	stop     func()
	stopOnce sync.Once
	done     chan error // the run's or the process's result, once
	waited   bool
	err      error

	mu      sync.Mutex
	log     bytes.Buffer // everything it wrote to stderr
	partial []byte       // the unfinished last line
}

// listeningRE matches the slog text handler's "msg=listening addr=127.0.0.1:PORT" line.
var listeningRE = regexp.MustCompile(`msg="?listening"?\s.*?\baddr="?([^"\s]+)"?`)

// Write collects the command's stderr and watches it for the listening line.
func (s *Server) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log.Write(p)
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		if m := listeningRE.FindSubmatch(s.partial[:i]); m != nil {
			select {
			case s.addrc <- string(m[1]):
			default:
			}
		}
		s.partial = s.partial[i+1:]
	}
	return len(p), nil
}

// Log returns what the command wrote to stderr so far.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// StartServer runs the command name on 127.0.0.1:0 with extra flags and
// waits until it logs its address. It runs in the test process through run
// (so -race covers it), or, when the environment variable binEnv names a
// binary, as a separate process. When the test ends it is stopped (ctx
// cancelled, or SIGINT) and must stop cleanly within 15 s.
func StartServer(t testing.TB, name, binEnv string, run RunFunc, flags ...string) *Server {
	t.Helper()
	args := append([]string{"-addr", "127.0.0.1:0"}, flags...)
	s := &Server{addrc: make(chan string, 1), done: make(chan error, 1), label: name + " " + strings.Join(args, " ")}
	if bin := os.Getenv(binEnv); binEnv != "" && bin != "" {
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = io.Discard, s
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", bin, err)
		}
		go func() { s.done <- cmd.Wait() }()
		s.stop = func() { _ = cmd.Process.Signal(os.Interrupt) }
		s.label = bin + " " + strings.Join(args, " ")
	} else {
		ctx, cancel := context.WithCancel(context.Background())
		go func() { s.done <- run(ctx, args, io.Discard, s) }()
		s.stop = cancel
	}
	t.Cleanup(func() {
		if err := s.Wait(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("%s: stderr:\n%s", s.label, s.Log())
		}
	})
	select {
	case s.Addr = <-s.addrc:
	case err := <-s.done:
		s.done <- err
		t.Fatalf("%s: ended before listening: %v\nstderr:\n%s", s.label, err, s.Log())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: logged no \"msg=listening addr=...\" line within 30s; stderr:\n%s", s.label, s.Log())
	}
	t.Logf("%s: listening on %s", s.label, s.Addr)
	return s
}

// Stop tells the server to shut down (as SIGINT does) without waiting.
func (s *Server) Stop() { s.stopOnce.Do(s.stop) }

// Wait stops the server and waits up to 15 s for it to end; it returns an
// error unless it ended cleanly (or by the signal). Only the test's
// goroutine may call it.
func (s *Server) Wait() error {
	s.Stop()
	if !s.waited {
		s.waited = true
		select {
		case err := <-s.done:
			if err != nil && !signalExit(err) {
				s.err = fmt.Errorf("%s: stopped with error: %w", s.label, err)
			}
		case <-time.After(15 * time.Second):
			s.err = fmt.Errorf("%s: still running 15s after it was told to stop", s.label)
		}
	}
	return s.err
}

// signalExit reports whether a process ended because of a signal (the
// SIGINT that stopped it).
func signalExit(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}

// summaryRE matches the scripts' closing "N passed, M failed[, K skipped]" line.
var summaryRE = regexp.MustCompile(`(?m)^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$`)

// RunScript runs a script from Dir with node and fails the test if it
// exits non-zero (naming the first failed checks) or prints no summary.
func RunScript(t testing.TB, node string, timeout time.Duration, env []string, script string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Dir = Dir
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("node %s %s:\n%s", script, strings.Join(args, " "), out.String())
	if ctx.Err() != nil {
		t.Fatalf("node %s: no result within %v", script, timeout)
	}
	var failed []string
	for line := range strings.Lines(out.String()) {
		if strings.HasPrefix(line, "FAIL ") {
			failed = append(failed, strings.TrimSpace(line))
		}
	}
	if err != nil {
		more := ""
		if len(failed) > 5 {
			more = fmt.Sprintf("\n(and %d more)", len(failed)-5)
			failed = failed[:5]
		}
		t.Errorf("node %s: %v; failed checks:\n%s%s", script, err, strings.Join(failed, "\n"), more)
		return
	}
	if summaryRE.FindString(out.String()) == "" {
		t.Errorf("node %s printed no \"N passed, M failed\" summary", script)
	}
}

// ArtifactDir is where screenshots go: $WS6455_ARTIFACTS, else a fixed
// directory in the system temp dir (kept after the test so the pictures
// can be looked at; each run overwrites).
func ArtifactDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("WS6455_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "ws6455-interop-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}
