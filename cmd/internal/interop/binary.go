package interop

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ws6455/ws6455/cmd/internal/serve"
	"github.com/ws6455/ws6455/server"
)

// Binary is the command under test as a binary, for the tests that must
// watch a process start (the re-execution of serve.Reexec, exit codes):
// the file named by the environment variable binEnv when it is set, else
// the package in the test's working directory (cmd/NAME) built into a
// temporary directory as name. It skips in -short mode when it would
// build, and when there is no go command.
func Binary(t testing.TB, name, binEnv string) string {
	t.Helper()
	if bin := os.Getenv(binEnv); bin != "" {
		return bin
	}
	if testing.Short() {
		t.Skipf("builds the %s binary; skipped in -short mode", name)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build %s: %v", name, err)
	}
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	cmd.Env = CleanEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, out)
	}
	return bin
}

// CleanEnv is the environment without GODEBUG and serve.ReexecEnv, the
// marker of a re-executed process: the environment a binary started by a
// person has (the tests themselves run re-executed with
// GODEBUG=http2xconnect=1).
func CleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "GODEBUG" && k != serve.ReexecEnv {
			env = append(env, kv)
		}
	}
	return env
}

// StartBinary starts the binary bin (name is for messages) with env and
// args, its stdout and stderr in the returned Buffer. When the test ends
// the process gets SIGINT, as a person's Ctrl-C, and the test fails
// unless it exits cleanly within 30 s (it is killed then).
func StartBinary(t testing.TB, name, bin string, env []string, args ...string) *Buffer {
	t.Helper()
	out := &Buffer{}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v\n%s", name, err, out)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Errorf("%s still running 30s after SIGINT\n%s", name, out)
		}
	})
	return out
}

// EnsureXConnect is for a TestMain: unless net/http already advertises
// RFC 8441 §3's SETTINGS_ENABLE_CONNECT_PROTOCOL, it re-executes the test
// binary with GODEBUG=http2xconnect=1, as the binaries re-execute
// themselves (serve.Reexec, which does not return when it succeeds):
// net/http reads the variable once, at start. If it cannot, it says so
// on stderr, and the HTTP/2 tests fail.
func EnsureXConnect(name string) {
	if server.ExtendedConnectEnabled() {
		return
	}
	err := serve.Reexec(slog.New(slog.NewTextHandler(io.Discard, nil)))
	fmt.Fprintf(os.Stderr, "%s tests: no re-execution with GODEBUG=http2xconnect=1 (%v): the HTTP/2 tests will fail\n", name, err)
}
