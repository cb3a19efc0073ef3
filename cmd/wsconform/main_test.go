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

// Without arguments, or with a bad flag, wsconform says what is missing in
// a line or two and points to -h, instead of printing the whole help.
func TestRun_ShortUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"-nosuchflag"}, {"stray"}, {"-url", "ws://x", "-serve", ":0"}} {
		var out, errb bytes.Buffer
		code := run(args, &out, &errb, false)
		msg := errb.String()
		if code != 2 || !strings.HasSuffix(msg, "run wsconform -h for help\n") || strings.Count(msg, "\n") > 2 || out.Len() != 0 {
			t.Errorf("%q: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, &out, msg)
		}
	}
	var out, errb bytes.Buffer
	if code := run(nil, &out, &errb, false); !strings.Contains(errb.String(), "-url ws://HOST:PORT") {
		t.Errorf("no arguments: exit %d, %q does not say what is missing", code, &errb)
	}
	out.Reset()
	if code := run([]string{"-h"}, &out, &errb, false); code != 0 || !strings.Contains(out.String(), "-client URL") {
		t.Errorf("-h: exit %d\n%s", code, &out)
	}
}

// As with wstest, a case pattern that matches nothing ("8.*": there is no
// section 8) selects nothing, with a warning that names it; only an empty
// selection is an error.
func TestRun_UnmatchedPatternWarns(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-list", "-cases", "8.*,1.1.1", "-exclude", "11.*"}, &out, &errb, false); code != 0 {
		t.Fatalf("exit %d\n%s", code, &errb)
	}
	if got := strings.Fields(out.String()); len(got) == 0 || got[0] != "1.1.1" || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("selected:\n%s", &out)
	}
	if e := errb.String(); !strings.Contains(e, `warning: case pattern "8.*" matches no case`) || !strings.Contains(e, `warning: exclusion pattern "11.*" matches no case`) {
		t.Errorf("warnings:\n%s", e)
	}
	for _, args := range [][]string{
		{"-list", "-cases", "8.*"},
		{"-list", "-cases", "8.*,11.*"},
		{"-list", "-cases", "1.1.1", "-exclude", "1.*"},
	} {
		out.Reset()
		errb.Reset()
		if code := run(args, &out, &errb, false); code != 2 || !strings.Contains(errb.String(), "no case selected") {
			t.Errorf("%q: exit %d\n%s", args, code, &errb)
		}
	}
}

// Without -outdir (and no spec outdir) the reports go under the system's
// temporary directory, not into the current directory, and the run says
// where.
func TestRun_DefaultOutdir(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	url := startEcho(t, false)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-url", url, "-cases", "1.1.1"}, &stdout, &stderr, false); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, &stdout, &stderr)
	}
	dir := filepath.Join(tmp, "wsconform-reports", "servers")
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
		t.Error(err)
	}
	if !strings.Contains(stdout.String(), "Reports: "+filepath.Join(dir, "index.html")) {
		t.Errorf("the run does not say where the reports are:\n%s", &stdout)
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
