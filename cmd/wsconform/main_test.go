package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ws6455/ws6455/cmd/wsconform/internal/autobahn"
	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// startEcho serves an echo server built on the project's own stack
// (handshake.Upgrader and frame.Conn) on 127.0.0.1 until the test ends.
// When binaryEcho is set it echoes every message as binary (a broken
// server).
func startEcho(t testing.TB, binaryEcho bool) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				br := bufio.NewReader(nc)
				u := handshake.Upgrader{}
				if _, err := u.Upgrade(br, nc); err != nil {
					return
				}
				var buffered []byte
				if n := br.Buffered(); n > 0 {
					p, _ := br.Peek(n)
					buffered = append(buffered, p...)
				}
				c := frame.NewConn(nc, buffered, frame.Config{Role: frame.RoleServer})
				var buf []byte
				for {
					op, msg, err := c.ReadMessage(buf)
					if err != nil {
						return
					}
					if binaryEcho {
						op = frame.OpBinary
					}
					if c.WriteMessage(op, msg) != nil {
						return
					}
					buf = msg
				}
			}()
		}
	}()
	return "ws://" + l.Addr().String() + "/"
}

func TestRun_ReportsAndExitStatus(t *testing.T) {
	url := startEcho(t, false)
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run([]string{"-url", url, "-agent", "Echo Test/1.0", "-cases", "1.1.1,2.1,3.1,6.4.1", "-outdir", dir}, &stdout, &stderr, false)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}
	var idx map[string]map[string]struct {
		Behavior        string `json:"behavior"`
		BehaviorClose   string `json:"behaviorClose"`
		RemoteCloseCode *int   `json:"remoteCloseCode"`
		ReportFile      string `json:"reportfile"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	cases := idx["Echo Test/1.0"]
	if len(cases) != 4 || cases["3.1"].Behavior != "OK" || cases["3.1"].RemoteCloseCode == nil || *cases["3.1"].RemoteCloseCode != 1002 {
		t.Fatalf("index.json: %s", b)
	}
	if cases["1.1.1"].ReportFile != "echo_test_1_0_case_1_1_1.json" {
		t.Errorf("report file %q", cases["1.1.1"].ReportFile)
	}
	for _, f := range []string{"index.html", "echo_test_1_0_case_1_1_1.json", "echo_test_1_0_case_6_4_1.html"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	var res autobahn.Result
	b, _ = os.ReadFile(filepath.Join(dir, "echo_test_1_0_case_2_1.json"))
	if err := json.Unmarshal(b, &res); err != nil || res.ID != "2.1" || len(res.Wirelog) == 0 || !strings.Contains(res.HTTPRequest, "Sec-WebSocket-Key") {
		t.Errorf("case report: %v %+v", err, res.ID)
	}
	if !strings.Contains(stdout.String(), "Total") || !strings.Contains(stderr.String(), "case 6.4.1") {
		t.Errorf("summary/progress missing:\n%s\n%s", &stdout, &stderr)
	}
}

func TestRun_FailureExitStatus(t *testing.T) {
	url := startEcho(t, true)
	var stdout, stderr bytes.Buffer
	code := run([]string{"-url", url, "-cases", "1.1.1", "-outdir", t.TempDir()}, &stdout, &stderr, false)
	if code != 1 || !strings.Contains(stdout.String(), "1.1.1 FAILED/") {
		t.Errorf("exit %d\n%s\n%s", code, &stdout, &stderr)
	}
}

func TestRun_UsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},                                    // no server
		{"-url", "http://x"},                  // bad scheme
		{"-url", "ws://x", "-cases", "1.9.9"}, // unknown case
		{"stray"},
	} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb, false); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	// An unreachable server ends the run with status 2 and still writes
	// the index.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run([]string{"-url", "ws://" + addr, "-cases", "1.1.1", "-outdir", dir}, &out, &errb, false); code != 2 {
		t.Errorf("unreachable: exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
		t.Error(err)
	}
}

func TestSpec_ExcludeAndCleanName(t *testing.T) {
	s := &Spec{ExcludeAgentCases: map[string][]string{"ws*": {"9.*", "6.4.1"}}}
	if !s.agentExcluded("ws6455", "9.1.1") || !s.agentExcluded("ws6455", "6.4.1") || s.agentExcluded("ws6455", "6.4.10") || s.agentExcluded("other", "9.1.1") {
		t.Error("exclude-agent-cases")
	}
	if got := cleanForFilename(" AutobahnServer/0.8 (x) "); got != "autobahnserver_0_8__x" {
		t.Error(got)
	}
}

// TestFullRunAgainstFrameConn runs all of sections 1-10 against the
// frame.Conn echo server when WSCONFORM_FULL is set, writing the reports to
// $WSCONFORM_OUT (default a temporary directory).
func TestFullRunAgainstFrameConn(t *testing.T) {
	if os.Getenv("WSCONFORM_FULL") == "" {
		t.Skip("set WSCONFORM_FULL=1")
	}
	dir := os.Getenv("WSCONFORM_OUT")
	if dir == "" {
		dir = t.TempDir()
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"-url", startEcho(t, false), "-agent", "frame.Conn", "-outdir", dir}, &stdout, &stderr, false)
	t.Logf("exit %d\n%s", code, &stdout)
}
