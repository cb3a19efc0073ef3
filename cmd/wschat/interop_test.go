package main

// Interop tests: the wschat relay against clients written by someone else.
//
//   - testdata/interop/chat-client.mjs drives it with the Node `ws` library (ids, messages,
//     acks, order, every kind of bad request, presence, clients vanishing, close codes), with
//     permessage-deflate off (the default) and on (-deflate);
//   - testdata/interop/chat-browser.mjs opens the chat page in two headless Chromium tabs that
//     chat with each other, and saves a screenshot of both side by side.
//
// They need Node.js >= 20, testdata/interop/node_modules and /usr/bin/chromium (or $CHROMIUM);
// `bash testdata/interop/install.sh` installs all three. Without them the tests skip, naming
// what is missing, unless WS6455_REQUIRE_INTEROP=1 (set by CI), which turns the skip into a
// failure. Screenshots go to $WS6455_ARTIFACTS, or to a fixed directory under os.TempDir().
//
// wschat runs inside the test process through run (so -race covers the relay too);
// WS6455_WSCHAT_BIN=path tests that binary as a separate process instead.

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

// interopSkipOrFatal skips the test, or fails it when the environment requires interop tests.
func interopSkipOrFatal(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(requireInteropEnv) == "1" {
		t.Fatalf("%s (%s=1, so this is a failure)", msg, requireInteropEnv)
	}
	t.Skip(msg)
}

// interopNode returns the node binary, or skips when node, the npm packages or the chat
// scripts are missing.
func interopNode(t *testing.T, scripts ...string) string {
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
	for _, s := range scripts {
		if _, err := os.Stat(filepath.Join(interopDir, s)); err != nil {
			t.Fatalf("interop: missing script testdata/interop/%s", s)
		}
	}
	return node
}

// interopChromium returns the Chromium binary, or skips when it is missing.
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

// chatServer is a running wschat, in this process through run or as a separate process.
type chatServer struct {
	addr  string
	addrc chan string

	mu      sync.Mutex
	log     bytes.Buffer
	partial []byte
}

// listeningRE matches the slog text handler's "msg=listening addr=127.0.0.1:PORT" line.
var listeningRE = regexp.MustCompile(`msg="?listening"?\s.*?\baddr="?([^"\s]+)"?`)

// Write collects wschat's stderr and watches it for the listening line.
func (s *chatServer) Write(p []byte) (int, error) {
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

func (s *chatServer) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// startChat runs wschat on 127.0.0.1:0 with extra flags and waits until it listens. It is
// stopped (context cancelled, or SIGINT for a process) when the test ends, and must then stop
// cleanly.
func startChat(t *testing.T, flags ...string) *chatServer {
	t.Helper()
	args := append([]string{"-addr", "127.0.0.1:0"}, flags...)
	name := "wschat " + strings.Join(args, " ")
	s := &chatServer{addrc: make(chan string, 1)}
	done := make(chan error, 1)
	var stop func()
	if bin := os.Getenv("WS6455_WSCHAT_BIN"); bin != "" {
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = io.Discard, s
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
			if err != nil && !signalExit(err) {
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
	return s
}

func signalExit(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}

// summaryRE matches the scripts' closing "N passed, M failed" line.
var summaryRE = regexp.MustCompile(`(?m)^(\d+) passed, (\d+) failed$`)

// runScript runs a script from testdata/interop with node and fails the test if it exits
// non-zero, naming the failed checks.
func runScript(t *testing.T, node string, timeout time.Duration, env []string, script string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Dir = interopDir
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
		t.Errorf("node %s: %v; failed checks:\n%s", script, err, strings.Join(failed, "\n"))
		return
	}
	if summaryRE.FindString(out.String()) == "" {
		t.Errorf("node %s printed no \"N passed, M failed\" summary", script)
	}
}

// artifactDir is where screenshots go: $WS6455_ARTIFACTS, else a fixed directory in the
// system temp dir (kept after the test; each run overwrites).
func artifactDir(t *testing.T) string {
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

// TestInterop_NodeWS_Chat: Node's ws clients use the relay: ids, messages and acks, order,
// errors that keep the connection, presence, vanishing clients, and the close handshake
// (RFC 6455 §7.4.1).
func TestInterop_NodeWS_Chat(t *testing.T) {
	node := interopNode(t, "chat-client.mjs")
	srv := startChat(t)
	runScript(t, node, 2*time.Minute, nil, "chat-client.mjs", "ws://"+srv.addr+"/ws")
}

// TestInterop_NodeWS_Chat_Deflate_RFC7692: the same with wschat -deflate, where the ws
// client's permessage-deflate offer must be accepted.
func TestInterop_NodeWS_Chat_Deflate_RFC7692(t *testing.T) {
	node := interopNode(t, "chat-client.mjs")
	srv := startChat(t, "-deflate")
	runScript(t, node, 2*time.Minute, []string{"CHAT_EXPECT_DEFLATE=1"}, "chat-client.mjs", "ws://"+srv.addr+"/ws")
}

// TestInterop_Browser_Chat: two Chromium tabs chat through the relay using the page at /,
// each message shown as delivered, then both tabs are saved side by side in a screenshot.
func TestInterop_Browser_Chat(t *testing.T) {
	node := interopNode(t, "chat-browser.mjs")
	chromium := interopChromium(t)
	srv := startChat(t)
	shot := filepath.Join(artifactDir(t), "wschat-two-tabs.png")
	runScript(t, node, 3*time.Minute, []string{"CHROMIUM=" + chromium}, "chat-browser.mjs", "http://"+srv.addr+"/", shot)
	t.Logf("screenshot: %s (phone width: %s)", shot, strings.TrimSuffix(shot, ".png")+"-mobile.png")
}
