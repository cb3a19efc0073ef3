package interop

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ws6455/ws6455/cmd/internal/serve"
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
