package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ws6455/ws6455/cmd/internal/h2test"
	"github.com/ws6455/ws6455/cmd/wsconform/internal/autobahn"
	"github.com/ws6455/ws6455/frame"
)

// TestMain runs the tests with GODEBUG=http2xconnect=1, which net/http's
// HTTP/2 server needs to accept RFC 8441 extended CONNECT (see h2test).
func TestMain(m *testing.M) { h2test.Main(m) }

// runHTTP2 runs wsconform -http2 -strict against s for cases and returns
// the exit status, the output and the index.
func runHTTP2(t *testing.T, url, cases string, extra ...string) (int, string, map[string]map[string]map[string]any, string) {
	t.Helper()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := append([]string{"-url", url, "-http2", "-strict", "-agent", "h2echo", "-cases", cases, "-outdir", dir}, extra...)
	code := run(args, &stdout, &stderr, false)
	t.Logf("wsconform %s => %d\n%s\n%s", strings.Join(args, " "), code, &stdout, &stderr)
	var index map[string]map[string]map[string]any
	if b, err := os.ReadFile(filepath.Join(dir, "index.json")); err == nil {
		json.Unmarshal(b, &index)
	}
	return code, stdout.String(), index, dir
}

// RFC 8441 §5: wsconform -http2 runs the cases over an extended CONNECT
// on a new HTTP/2 connection each; against a correct echo over h2c all of
// them pass strictly, each case used its own connection, and the report
// shows the HTTP/2 request.
func TestHTTP2_Strict_RFC8441_5(t *testing.T) {
	s := &h2test.Server{}
	s.Start(t, false)
	const cases = "1.*,2.*,3.*,4.*,5.*,6.1.*,6.4.*,7.*,9.1.1,9.2.1,10.*,12.1.1,12.1.2,12.1.3,13.1.1"
	code, stdout, index, dir := runHTTP2(t, s.URL+"/", cases)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	ids, _ := autobahn.Resolve(strings.Split(cases, ","), nil)
	got := index["h2echo"]
	if len(got) != len(ids) {
		t.Fatalf("index has %d cases, want %d", len(got), len(ids))
	}
	for id, r := range got {
		b, bc := r["behavior"], r["behaviorClose"]
		okB := b == "OK" || b == "INFORMATIONAL"
		okC := bc == "OK" || bc == "INFORMATIONAL"
		if !okB || !okC {
			t.Errorf("case %s: %v / %v", id, b, bc)
		}
	}
	if n, want := int(s.Accepts.Load()), len(ids); n != want {
		t.Errorf("the server accepted %d connections for %d cases, want one per case", n, want)
	}
	reqs := s.Requests()
	if len(reqs) != len(ids) || reqs[0].Method != "CONNECT" || reqs[0].Protocol != "websocket" {
		t.Errorf("server saw %d requests, first %+v", len(reqs), reqs[0])
	}
	rep, err := os.ReadFile(filepath.Join(dir, "h2echo_case_1_1_1.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{":method: CONNECT", ":protocol: websocket", ":scheme: http", "sec-websocket-version: 13", ":status: 200"} {
		if !bytes.Contains(rep, []byte(want)) {
			t.Errorf("case report lacks %q", want)
		}
	}
	if !strings.Contains(stdout, "h2echo") {
		t.Errorf("no summary")
	}
}

// -http2 over TLS (ALPN h2) with -insecure for the test certificate; and
// 13.7 runs: its three permessage-deflate offers (RFC 7692 §5) go out in
// one sec-websocket-extensions field, in Autobahn's order and spelling
// (the HTTP/1.1 request's field value), the server accepts one, and the
// cases pass.
func TestHTTP2_TLS_Insecure_SeveralOffers_RFC7692_5(t *testing.T) {
	s := &h2test.Server{}
	s.Start(t, true)
	code, stdout, index, dir := runHTTP2(t, s.URL+"/", "1.1.*,7.1.*,13.7.1,13.7.2,13.7.18", "-insecure")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if len(index["h2echo"]) != 8+6+3 {
		t.Errorf("%d cases in the index, want 17", len(index["h2echo"]))
	}
	for _, id := range []string{"13.7.1", "13.7.2", "13.7.18"} {
		r := index["h2echo"][id]
		if r["behavior"] != "OK" || r["behaviorClose"] != "OK" {
			t.Errorf("case %s: %v / %v", id, r["behavior"], r["behaviorClose"])
		}
	}
	if strings.Contains(stdout, "not run") {
		t.Errorf("summary says cases were not run")
	}
	offers := "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=9, " +
		"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover, " +
		"permessage-deflate; client_no_context_takeover; client_max_window_bits"
	// The server got the field as one value...
	seen := 0
	for _, r := range s.Requests() {
		if v := r.Header.Values("Sec-Websocket-Extensions"); len(v) == 1 && v[0] == offers {
			seen++
		}
	}
	if seen != 3 {
		t.Errorf("the server saw the three offers in %d requests, want 3 (13.7.1, 13.7.2, 13.7.18)", seen)
	}
	// ...and the case report shows it.
	rep, err := os.ReadFile(filepath.Join(dir, "h2echo_case_13_7_1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cr struct {
		HTTPRequest  string `json:"httpRequest"`
		HTTPResponse string `json:"httpResponse"`
	}
	if err := json.Unmarshal(rep, &cr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cr.HTTPRequest, "\r\nsec-websocket-extensions: "+offers+"\r\n") {
		t.Errorf("case 13.7.1's request does not show the offers:\n%s", cr.HTTPRequest)
	}
	// h2test's server accepts with CompressionFull: the first offer.
	if !strings.Contains(cr.HTTPResponse, "sec-websocket-extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9") {
		t.Errorf("case 13.7.1's response:\n%s", cr.HTTPResponse)
	}

	// Without -insecure the test certificate is refused: the server is
	// unreachable, exit 2.
	code, _, _, _ = runHTTP2(t, s.URL+"/", "1.1.1")
	if code != 2 {
		t.Errorf("exit %d without -insecure, want 2", code)
	}
}

// A server that speaks HTTP/2 but not RFC 8441 (here: HTTP/1.1 only, so
// h2c fails) stops the run with exit 2 and a message naming the setting.
func TestHTTP2_ServerWithoutRFC8441(t *testing.T) {
	url := startEcho(t, false)
	code, _, _, _ := runHTTP2(t, url, "1.1.1")
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	var stdout, stderr bytes.Buffer
	run([]string{"-url", url, "-http2", "-cases", "1.1.1", "-outdir", t.TempDir()}, &stdout, &stderr, false)
	if !strings.Contains(stderr.String(), "SETTINGS_ENABLE_CONNECT_PROTOCOL") {
		t.Errorf("stderr %q does not name the setting", stderr.String())
	}
	// -h documents -http2, -insecure and -cacert.
	stdout.Reset()
	run([]string{"-h"}, &stdout, &stderr, false)
	for _, want := range []string{"-http2", "RFC 8441", "13.7", "-insecure", "-cacert"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("-h lacks %q", want)
		}
	}
	// -http2 with -serve is a usage error.
	if code := run([]string{"-serve", "127.0.0.1:0", "-http2"}, &stdout, &stderr, false); code != 2 {
		t.Errorf("-serve -http2: exit %d", code)
	}
}

// RFC 8441 §5: a server that has sent its last frames and ended its side
// resets the stream too (net/http does, RST_STREAM NO_ERROR, when the
// handler returns with the request body unread). The runner's next write
// then fails at once; it must still read what the server sent before.
// Here the server answers case 3.4 (an echo, then the close 1002 for the
// RSV frame) as soon as the stream opens and returns, so the reset races
// with the runner's one-byte writes. Before the fix the runner closed the
// stream on the failed write and lost the echo in about 5 of 100 runs
// (NON-STRICT, as CI once saw against the echo server under load);
// every run must be OK.
func TestHTTP2_ResetAfterResponse_EchoKept_RFC8441_5(t *testing.T) {
	const runs = 300
	for i := range runs {
		s := &h2test.Server{Handle: func(c *frame.Conn, _ *http.Request) {
			c.WriteMessage(frame.OpText, []byte("Hello, world!"))
			c.WriteClose(frame.CloseProtocolError, "")
		}}
		s.Start(t, false)
		dir := t.TempDir()
		var stdout, stderr bytes.Buffer
		code := run([]string{"-url", s.URL + "/", "-http2", "-strict", "-agent", "h2echo", "-cases", "3.4", "-outdir", dir}, &stdout, &stderr, false)
		if code != 0 {
			t.Fatalf("run %d of %d: exit %d\n%s\n%s", i+1, runs, code, &stdout, &stderr)
		}
		s.Close()
	}
}
