package main

// Interop tests: the real wsecho binary against peers written by someone else.
//
//   - testdata/interop/ws-client.mjs drives it with the Node `ws` library (echo of text, binary,
//     1 MiB and fragmented messages, ping/pong, close code echo, invalid close codes, and
//     permessage-deflate on and off);
//   - testdata/interop/browser.mjs opens the playground page in headless Chromium and uses it
//     the way a person would, then saves a screenshot.
//
// They need Node.js >= 20, testdata/interop/node_modules and /usr/bin/chromium (or $CHROMIUM);
// `bash testdata/interop/install.sh` installs all three. Without them the tests skip, saying
// what is missing, unless WS6455_REQUIRE_INTEROP=1 (set by CI), which turns the skip into a
// failure. Screenshots go to $WS6455_ARTIFACTS, or to a fixed directory under os.TempDir().
//
// wsecho runs inside the test process through run (so -race covers the server too);
// WS6455_WSECHO_BIN=path tests that binary as a separate process instead.

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

const requireInteropEnv = "WS6455_REQUIRE_INTEROP"

// interopDir is testdata/interop, from this package's directory.
var interopDir = filepath.Join("..", "..", "testdata", "interop")

// interopSkipOrFatal skips the test with msg, or fails it when the environment requires interop tests.
func interopSkipOrFatal(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(requireInteropEnv) == "1" {
		t.Fatalf("%s (%s=1, so this is a failure)", msg, requireInteropEnv)
	}
	t.Skip(msg)
}

// interopNode returns the node binary, or skips when node or the npm packages are missing.
func interopNode(t *testing.T) string {
	t.Helper()
	if testing.Short() && os.Getenv(requireInteropEnv) != "1" {
		t.Skip("interop: skipped in -short mode")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		interopSkipOrFatal(t, "interop: missing node (Node.js >= 20) in PATH; install it and the test packages with: bash testdata/interop/install.sh")
	}
	for _, pkg := range []string{"ws", "playwright-core"} {
		if _, err := os.Stat(filepath.Join(interopDir, "node_modules", pkg, "package.json")); err != nil {
			interopSkipOrFatal(t, "interop: missing testdata/interop/node_modules/%s; install with: (cd testdata/interop && npm ci), or bash testdata/interop/install.sh", pkg)
		}
	}
	return node
}

// interopChromium returns the Chromium binary browser.mjs will use, or skips when it is missing.
func interopChromium(t *testing.T) string {
	t.Helper()
	p := os.Getenv("CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if st, err := os.Stat(p); err != nil || st.IsDir() {
		interopSkipOrFatal(t, "interop: missing Chromium at %s; install with: apt-get install -y chromium (or bash testdata/interop/install.sh), or set CHROMIUM", p)
	}
	return p
}

// interopServer is a running wsecho: in this test process through run, or as a separate process
// when $WS6455_WSECHO_BIN names a binary.
type interopServer struct {
	addr  string      // host:port it listens on
	addrc chan string // receives addr from the "msg=listening" log line

	mu      sync.Mutex
	log     bytes.Buffer // everything it wrote to stderr
	partial []byte       // the unfinished last line
}

// interopListeningRE matches the slog text handler's "msg=listening addr=127.0.0.1:PORT" line.
var interopListeningRE = regexp.MustCompile(`msg="?listening"?\s.*?\baddr="?([^"\s]+)"?`)

// Write collects wsecho's stderr and watches it for the listening line.
func (s *interopServer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log.Write(p)
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		if m := interopListeningRE.FindSubmatch(s.partial[:i]); m != nil {
			select {
			case s.addrc <- string(m[1]):
			default:
			}
		}
		s.partial = s.partial[i+1:]
	}
	return len(p), nil
}

func (s *interopServer) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// startInteropServer runs wsecho on 127.0.0.1:0 with extra flags and waits for it to log its
// address. It is stopped (context cancelled, or SIGINT for a process) when the test ends.
func startInteropServer(t *testing.T, flags ...string) *interopServer {
	t.Helper()
	args := append([]string{"-addr", "127.0.0.1:0"}, flags...)
	name := "wsecho " + strings.Join(args, " ")
	s := &interopServer{addrc: make(chan string, 1)}
	done := make(chan error, 1) // run's or the process's result
	var stop func()

	if bin := os.Getenv("WS6455_WSECHO_BIN"); bin != "" {
		cmd := exec.Command(bin, args...)
		cmd.Stdout = io.Discard
		cmd.Stderr = s
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", bin, err)
		}
		go func() { done <- cmd.Wait() }()
		stop = func() { _ = cmd.Process.Signal(os.Interrupt) }
		name = bin + " " + strings.Join(args, " ")
	} else {
		ctx, cancel := context.WithCancel(context.Background())
		go func() { done <- run(ctx, args, io.Discard, s) }()
		stop = cancel
	}

	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil && !interopSignalExit(err) {
				t.Errorf("%s: stopped with error: %v", name, err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("%s: still running 15s after it was told to stop", name)
		}
		if t.Failed() {
			t.Logf("%s: stderr:\n%s", name, s.Log())
		}
	})

	select {
	case s.addr = <-s.addrc:
	case err := <-done:
		done <- err
		t.Fatalf("%s: ended before listening: %v\nstderr:\n%s", name, err, s.Log())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: logged no \"msg=listening addr=...\" line within 30s; stderr:\n%s", name, s.Log())
	}
	t.Logf("%s: listening on %s", name, s.addr)
	return s
}

func interopSignalExit(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}

// interopHasFlag reports whether wsecho -h lists the flag (for flags that may arrive later).
func interopHasFlag(name string) bool {
	var out bytes.Buffer
	if bin := os.Getenv("WS6455_WSECHO_BIN"); bin != "" {
		cmd := exec.Command(bin, "-h")
		cmd.Stdout, cmd.Stderr = &out, &out
		_ = cmd.Run()
	} else {
		_ = run(context.Background(), []string{"-h"}, &out, &out)
	}
	return regexp.MustCompile(`(?m)^\s*-` + regexp.QuoteMeta(name) + `\b`).Match(out.Bytes())
}

// interopSummaryRE matches the scripts' closing "N passed, M failed[, K skipped]" line.
var interopSummaryRE = regexp.MustCompile(`(?m)^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$`)

// runInteropScript runs a script from testdata/interop with node and fails the test if it exits
// non-zero, naming each failed check.
func runInteropScript(t *testing.T, node string, timeout time.Duration, env []string, script string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Dir = interopDir
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
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
	if interopSummaryRE.FindString(out.String()) == "" {
		t.Errorf("node %s printed no \"N passed, M failed\" summary", script)
	}
}

// interopArtifactDir is where screenshots go: $WS6455_ARTIFACTS, else a fixed directory in the
// system temp dir (kept after the test so the pictures can be looked at; each run overwrites).
func interopArtifactDir(t *testing.T) string {
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

// TestInterop_NodeWS_RFC6455 runs the Node ws client checks against wsecho with its default
// flags: messages (RFC 6455 §5.6), fragmentation (§5.4), ping/pong (§5.5.2-3), close codes
// (§7.4) and permessage-deflate (RFC 7692). Set WS_REQUIRE_DEFLATE=1 to make a server that
// declines compression fail instead of skip those checks.
func TestInterop_NodeWS_RFC6455(t *testing.T) {
	node := interopNode(t)
	srv := startInteropServer(t)
	runInteropScript(t, node, 3*time.Minute, nil, "ws-client.mjs", "ws://"+srv.addr+"/")
}

// TestInterop_NodeWS_GoroutineMode runs the same checks against wsecho -mode goroutines (a
// goroutine per connection, server.Handler); the default is event mode (server.EventHandler).
func TestInterop_NodeWS_GoroutineMode(t *testing.T) {
	node := interopNode(t)
	srv := startInteropServer(t, "-mode", "goroutines")
	runInteropScript(t, node, 3*time.Minute, nil, "ws-client.mjs", "ws://"+srv.addr+"/")
}

// TestInterop_NodeWS_DeflateOff_RFC7692 runs the same checks against wsecho -deflate=false:
// an offer of permessage-deflate must be declined (RFC 7692 §5).
func TestInterop_NodeWS_DeflateOff_RFC7692(t *testing.T) {
	node := interopNode(t)
	if !interopHasFlag("deflate") {
		t.Skip("interop: wsecho has no -deflate flag yet")
	}
	srv := startInteropServer(t, "-deflate=false")
	runInteropScript(t, node, 3*time.Minute, []string{"WS_EXPECT_DEFLATE=0", "WS_REQUIRE_DEFLATE=0"},
		"ws-client.mjs", "ws://"+srv.addr+"/")
}

// TestInterop_Browser drives the playground page (GET /) in headless Chromium: connect, text
// and binary echoes shown in the log, close with 4001 + reason, and a full-page screenshot.
func TestInterop_Browser(t *testing.T) {
	node := interopNode(t)
	chromium := interopChromium(t)
	srv := startInteropServer(t)
	shot := filepath.Join(interopArtifactDir(t), "wsecho-playground.png")
	runInteropScript(t, node, 3*time.Minute, []string{"CHROMIUM=" + chromium},
		"browser.mjs", "http://"+srv.addr+"/", shot)
	t.Logf("screenshot: %s (phone width: %s)", shot, strings.TrimSuffix(shot, ".png")+"-mobile.png")
}
