package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ws6455/ws6455/cmd/wsconform/internal/autobahn"
	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// startFuzzServer runs a -serve fuzzer for the cases the patterns select
// on 127.0.0.1 until the test ends; it returns the base URL and the server.
func startFuzzServer(t testing.TB, outdir string, patterns ...string) (string, *fuzzServer) {
	t.Helper()
	ids, unmatched := autobahn.Resolve(patterns, nil)
	if len(unmatched) > 0 {
		t.Fatalf("unmatched %v", unmatched)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newFuzzServer(ids, &Spec{}, patientOptions(autobahn.RoleServer), outdir, true, io.Discard)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "ws://" + ln.Addr().String(), s
}

// patientOptions are Autobahn's defaults with the close handshake
// timeouts raised from 1 s to 30 s. They are ceilings for a conforming
// peer (the project's own client here), which answers at once; on a busy
// machine (flake-hunt, a loaded CI runner) 1 s was sometimes not enough
// for it to be scheduled, and case 1.2.1 came out OK/UNCLEAN.
func patientOptions(role autobahn.Role) autobahn.Options {
	o := autobahn.DefaultOptions(role)
	o.OpenHandshakeTimeout = 30 * time.Second
	o.CloseHandshakeTimeout = 30 * time.Second
	o.ServerConnectionDropTimeout = 30 * time.Second
	return o
}

// runAgent runs the project's client (handshake.Dialer d and frame.Conn)
// through every case of the fuzzing server at base with wsconform
// -client's agent, the way Autobahn's client test harnesses drive a
// library, and returns the cases run.
func runAgent(t testing.TB, base, agent string, d *handshake.Dialer) []agentCase {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	a := &clientAgent{base: base, agent: agent, dialer: d, include: []string{"*"}, statusWait: 10 * time.Minute}
	total, ran, err := a.run(ctx, nil, nil)
	if err != nil {
		t.Fatalf("client agent: %v", err)
	}
	if len(ran) != total {
		t.Fatalf("client agent ran %d of %d cases", len(ran), total)
	}
	return ran
}

type indexJSON map[string]map[string]struct {
	Behavior      string `json:"behavior"`
	BehaviorClose string `json:"behaviorClose"`
	ReportFile    string `json:"reportfile"`
}

func readIndex(t testing.TB, dir string) indexJSON {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx indexJSON
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	return idx
}

// The project's client (handshake.Dialer, frame.Conn), run by wsconform
// -client -strict, against the fuzzer as server (wsconform -serve,
// Autobahn's fuzzingserver mode), sections 1 to 10: every case OK, or
// INFORMATIONAL where RFC 6455 leaves the choice open, for the behavior
// and for the closing behavior, as wstest would judge them. The reports
// go to $WS6455_ARTIFACTS/autobahn-client when that is set (.ci/run sets
// it), else to a temporary directory; the summary is logged. Under -short
// the heaviest cases of section 9 (messages of 4 MiB and more, 9.3/9.4 in
// up to 65536 fragments) are left out.
func TestServe_ProjectClient_Sections1to10(t *testing.T) {
	dir := t.TempDir()
	if a := os.Getenv("WS6455_ARTIFACTS"); a != "" {
		dir = filepath.Join(a, "autobahn-client")
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	patterns := []string{"1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*"}
	var exclude []string
	if testing.Short() {
		exclude = []string{"9.1.4", "9.1.5", "9.1.6", "9.2.4", "9.2.5", "9.2.6", "9.3.*", "9.4.*"}
	}
	ids, _ := autobahn.Resolve(patterns, exclude)
	base, s := startFuzzServer(t, dir, ids...)
	start := time.Now()
	// wsconform -client as a user runs it, strict: exit status 0 means
	// every behavior the server reported is OK or INFORMATIONAL.
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-client", base, "-agent", "ws6455 client", "-strict"}, &stdout, &stderr, false); code != 0 {
		t.Errorf("wsconform -client: exit %d\n%s\n%s", code, &stdout, &stderr)
	}
	took := time.Since(start)
	if !strings.Contains(stdout.String(), fmt.Sprintf("ws6455 client (client, against %s): %d cases", base, len(ids))) {
		t.Errorf("wsconform -client summary:\n%s", &stdout)
	}
	res := s.snapshot()["ws6455 client"]
	t.Logf("reports in %s\n%s", dir, summary("ws6455 client", "client of "+base, res, ids, took, true))
	idx := readIndex(t, dir)["ws6455 client"]
	if len(idx) != len(ids) {
		t.Fatalf("index.json has %d cases, want %d", len(idx), len(ids))
	}
	for _, id := range ids {
		r := res[id]
		if r == nil {
			t.Errorf("case %s: no result", id)
			continue
		}
		if (r.Behavior != autobahn.OK && r.Behavior != autobahn.Informational) || (r.BehaviorClose != autobahn.OK && r.BehaviorClose != autobahn.Informational) {
			t.Errorf("case %s: %s / %s (%s / %s)", id, r.Behavior, r.BehaviorClose, r.Result, r.ResultClose)
		}
		if !r.IsServer || idx[id].Behavior != string(r.Behavior) {
			t.Errorf("case %s: report %+v", id, idx[id])
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
		t.Error(err)
	}
}

// Sections 12 and 13 in reverse: the fuzzer answers the client's offers
// with Autobahn's accept rules, and the project's client, which offers
// permessage-deflate, echoes compressed messages.
func TestServe_ProjectClient_Compression_RFC7692(t *testing.T) {
	ids := []string{"12.1.1", "12.2.1", "13.2.1", "13.5.1", "13.7.1"}
	dir := t.TempDir()
	base, s := startFuzzServer(t, dir, ids...)
	runAgent(t, base, "deflate client", &handshake.Dialer{Compression: &handshake.DeflateOffer{}})
	res := s.snapshot()["deflate client"]
	// The index shows the duration and Autobahn's [incoming/outgoing]
	// compression ratios; the case page the traffic statistics.
	if html, _ := os.ReadFile(filepath.Join(dir, "index.html")); !regexp.MustCompile(`\d+ ms \[\d\.\d{3}/\d\.\d{3}\]`).Match(html) {
		t.Error("index.html shows no compression ratios")
	}
	if html, _ := os.ReadFile(filepath.Join(dir, "deflate_client_case_13_5_1.html")); !bytes.Contains(html, []byte("outgoingCompressionRatio")) {
		t.Error("case page shows no traffic statistics")
	}
	want := map[string]string{
		"12.1.1": "permessage-deflate\r\n",
		"12.2.1": "permessage-deflate\r\n",
		"13.2.1": "permessage-deflate; client_no_context_takeover\r\n",
		"13.5.1": "permessage-deflate; client_no_context_takeover; client_max_window_bits=9\r\n",
		"13.7.1": "permessage-deflate; client_no_context_takeover; client_max_window_bits=9\r\n",
	}
	for _, id := range ids {
		r := res[id]
		if r == nil || r.Behavior != autobahn.OK || r.BehaviorClose != autobahn.OK {
			t.Errorf("case %s: %+v", id, r)
			continue
		}
		if !strings.Contains(r.HTTPResponse, "Sec-WebSocket-Extensions: "+want[id]) {
			t.Errorf("case %s: response\n%s", id, r.HTTPResponse)
		}
	}
	// A client that offers nothing gets UNIMPLEMENTED.
	base, s = startFuzzServer(t, t.TempDir(), "12.1.1")
	runAgent(t, base, "plain client", &handshake.Dialer{})
	if r := s.snapshot()["plain client"]["12.1.1"]; r == nil || r.Behavior != autobahn.Unimplemented {
		t.Errorf("no offer: %+v %v", r, s.snapshot())
	}
}

// The URIs of Autobahn's fuzzingserver, their answers and refusals.
func TestServe_Commands(t *testing.T) {
	dir := t.TempDir()
	base, s := startFuzzServer(t, dir, "1.1.1", "2.1", "7.1.1")
	ctx := context.Background()
	d := &handshake.Dialer{}
	read := func(path string) string {
		t.Helper()
		c, _, err := d.Dial(ctx, base+path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		defer c.CloseNow()
		_, msg, err := c.ReadMessage(nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if _, _, err := c.ReadMessage(nil); frame.CloseStatus(err) != frame.CloseNormal {
			t.Errorf("%s: then %v, want a normal close", path, err)
		}
		return string(msg)
	}
	if got := read("/getCaseCount"); got != "3" {
		t.Errorf("getCaseCount %q", got)
	}
	if got := read("/getCaseInfo?case=2"); !strings.Contains(got, `"id":"2.1"`) || !strings.Contains(got, `"description"`) {
		t.Errorf("getCaseInfo %q", got)
	}
	// getCaseStatus waits for the case to have run.
	status := make(chan string, 1)
	go func() {
		c, _, err := d.Dial(ctx, base+"/getCaseStatus?casetuple=7.1.1&agent=a")
		if err != nil {
			status <- err.Error()
			return
		}
		defer c.CloseNow()
		_, msg, _ := c.ReadMessage(nil)
		status <- string(msg)
	}()
	c, _, err := d.Dial(ctx, base+"/runCase?casetuple=7.1.1&agent=a")
	if err != nil {
		t.Fatal(err)
	}
	for {
		op, msg, err := c.ReadMessage(nil)
		if err != nil || c.WriteMessage(op, msg) != nil {
			break
		}
	}
	c.CloseNow()
	select {
	case got := <-status:
		if got != `{"behavior":"OK"}` {
			t.Errorf("getCaseStatus %q", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("getCaseStatus did not answer")
	}
	if r := s.snapshot()["a"]["7.1.1"]; r == nil || r.Case != 3 {
		t.Errorf("case number in the report: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "a_case_7_1_1.json")); err != nil {
		t.Error(err)
	}

	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/runCase?case=1", 400},         // no agent
		{"/runCase?case=4&agent=a", 404}, // no such case
		{"/runCase?case=x&agent=a", 400}, // not a number
		{"/runCase?casetuple=9.9&agent=a", 400},
		{"/updateReports", 400}, // no agent
		{"/getCaseInfo", 400},   // no case
		{"/elsewhere", 404},
		{"/runCase?case=1&case=2&agent=a", 400},
	} {
		_, _, err := d.Dial(ctx, base+tc.path)
		var se *handshake.StatusError
		if !errors.As(err, &se) || se.StatusCode != tc.status {
			t.Errorf("%s: %v, want HTTP %d", tc.path, err, tc.status)
		}
	}

	// /updateReports writes the index; /stopServer ends serve.
	c, _, err = d.Dial(ctx, base+"/updateReports?agent=a")
	if err != nil {
		t.Fatal(err)
	}
	for _, _, err = c.ReadMessage(nil); err == nil; _, _, err = c.ReadMessage(nil) {
	}
	c.CloseNow()
	if idx := readIndex(t, dir); idx["a"]["7.1.1"].Behavior != "OK" {
		t.Errorf("index %+v", idx)
	}
	if html, _ := os.ReadFile(filepath.Join(dir, "index.html")); !bytes.Contains(html, []byte("fuzzingserver")) {
		t.Error("index.html does not say fuzzingserver")
	}
	c, _, err = d.Dial(ctx, base+"/stopServer")
	if err != nil {
		t.Fatal(err)
	}
	c.ReadMessage(nil)
	c.CloseNow()
	select {
	case <-s.stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("not stopped")
	}
}

// wsconform -serve end to end through run: it listens, serves until
// interrupted... here until /stopServer, then writes the index and prints
// the summary.
func TestRun_Serve(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"-serve", addr, "-cases", "1.1.1,1.2.1", "-outdir", dir, "-strict"}, &stdout, &stderr, false)
	}()
	d := &handshake.Dialer{}
	var c *frame.Conn
	for range 100 {
		if c, _, err = d.Dial(context.Background(), "ws://"+addr+"/getCaseCount"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	c.CloseNow()
	runAgent(t, "ws://"+addr, "cli", d)
	if c, _, err = d.Dial(context.Background(), "ws://"+addr+"/stopServer"); err != nil {
		t.Fatal(err)
	}
	c.ReadMessage(nil)
	c.CloseNow()
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(stdout.String(), "cli (client of ws://") || !strings.Contains(stdout.String(), "Total") {
			t.Errorf("exit %d\n%s\n%s", code, &stdout, &stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run -serve did not return")
	}
	if idx := readIndex(t, dir); len(idx["cli"]) != 2 {
		t.Errorf("index %+v", idx)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"-serve", addr, "-url", "ws://x"}, &out, &errb, false); code != 2 {
		t.Errorf("-serve with -url: exit %d", code)
	}
}

// wsconform -client picks cases by pattern among the fuzzing server's
// (asking /getCaseInfo), warns about a pattern that matches none of them,
// echoes through the cases, and prints the behaviors the server reports.
func TestRun_Client(t *testing.T) {
	dir := t.TempDir()
	base, s := startFuzzServer(t, dir, "1.1.1", "1.1.2", "2.1", "7.1.1")
	var stdout, stderr bytes.Buffer
	code := run([]string{"-client", base, "-agent", "picky", "-cases", "1.1.*,8.*,7.1.1", "-exclude", "1.1.2", "-strict"}, &stdout, &stderr, false)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, &stdout, &stderr)
	}
	if !strings.Contains(stderr.String(), `case pattern "8.*" matches no case`) {
		t.Errorf("no warning about 8.*:\n%s", &stderr)
	}
	res := s.snapshot()["picky"]
	if len(res) != 2 || res["1.1.1"] == nil || res["7.1.1"] == nil {
		t.Errorf("cases run: %v", res)
	}
	if out := stdout.String(); !strings.Contains(out, "picky (client, against "+base+"): 2 cases") || !strings.Contains(out, "Reports: written by the fuzzing server") {
		t.Errorf("summary:\n%s", out)
	}
	if idx := readIndex(t, dir)["picky"]; len(idx) != 2 {
		t.Errorf("/updateReports: index %+v", idx)
	}

	// No case selected, a bad URL, two modes at once: usage errors.
	for _, args := range [][]string{
		{"-client", base, "-cases", "8.*"},
		{"-client", "http://" + strings.TrimPrefix(base, "ws://")},
		{"-client", base, "-url", base},
	} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb, false); code != 2 {
			t.Errorf("%q: exit %d, want 2\n%s", args, code, &errb)
		}
	}
}
