package handshake

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// reexecMarker is set in the environment of the test binary that TestMain
// starts again with GODEBUG=http2xconnect=1.
const reexecMarker = "WS6455_HANDSHAKE_TEST_REEXEC"

// TestMain makes sure the test binary runs with GODEBUG=http2xconnect=1,
// which net/http reads once, at start-up, to let its HTTP/2 server
// advertise SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3): the RFC 8441
// tests serve extended CONNECT with net/http. When the variable lacks it,
// TestMain runs the same binary again with it appended, with the same
// arguments, and exits with that run's status. Tests that need a server
// without the setting start a child process without it (see
// startNoXConnectServer).
func TestMain(m *testing.M) {
	if os.Getenv(noXConnectEnv) != "" {
		noXConnectServer()
	}
	if !hasXConnect(os.Getenv("GODEBUG")) && os.Getenv(reexecMarker) == "" {
		exe, err := os.Executable()
		if err == nil {
			cmd := exec.Command(exe, os.Args[1:]...)
			cmd.Env = append(os.Environ(), "GODEBUG="+joinGODEBUG(os.Getenv("GODEBUG"), "http2xconnect=1"), reexecMarker+"=1")
			cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
			err = cmd.Run()
			if ee, ok := err.(*exec.ExitError); ok {
				os.Exit(ee.ExitCode())
			}
			if err == nil {
				os.Exit(0)
			}
		}
		os.Stderr.WriteString("handshake test: cannot re-run with GODEBUG=http2xconnect=1: " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func hasXConnect(godebug string) bool {
	for kv := range strings.SplitSeq(godebug, ",") {
		if strings.TrimSpace(kv) == "http2xconnect=1" {
			return true
		}
	}
	return false
}

func joinGODEBUG(old, add string) string {
	if strings.TrimSpace(old) == "" {
		return add
	}
	return old + "," + add
}
