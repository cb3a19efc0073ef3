package main

import (
	"strings"
	"testing"

	"github.com/ws6455/ws6455/cmd/internal/h2test"
)

// TestMain runs the tests with GODEBUG=http2xconnect=1, which net/http's
// HTTP/2 server needs to accept RFC 8441 extended CONNECT (see h2test).
func TestMain(m *testing.M) { h2test.Main(m) }

// RFC 8441 §5: --http2=require opens the WebSocket on an HTTP/2 stream:
// the server sees an extended CONNECT with :protocol websocket, and the
// echo comes back; over h2c (ws://) and TLS (wss://).
func TestHTTP2Require_RFC8441_5(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		s := &h2test.Server{Protocols: []string{"chat.v1"}}
		s.Start(t, useTLS)
		args := []string{"--http2=require", "-v", "-s", "chat.v1", "--compress", "-x", "over h2"}
		if useTLS {
			args = append(args, "-k")
		}
		r := wsc(t, nil, append(args, s.URL+"/room?x=1")...)
		wantExit(t, r, exitOK)
		if r.stdout != "over h2\n" {
			t.Errorf("stdout %q", r.stdout)
		}
		reqs := s.Requests()
		if len(reqs) != 1 || reqs[0].Method != "CONNECT" || reqs[0].Protocol != "websocket" || reqs[0].Path != "/room?x=1" || reqs[0].Header.Get("Sec-Websocket-Key") != "" {
			t.Fatalf("server saw %+v", reqs)
		}
		scheme := "http"
		if useTLS {
			scheme = "https"
		}
		for _, want := range []string{
			"RFC 8441", "> :method: CONNECT", "> :protocol: websocket", "> :scheme: " + scheme,
			"> :path: /room?x=1", "> sec-websocket-version: 13", "> sec-websocket-protocol: chat.v1",
			"> sec-websocket-extensions: permessage-deflate", "< :status: 200",
			"< sec-websocket-protocol: chat.v1", "subprotocol=chat.v1", "compression=true",
		} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("tls=%v: -v output lacks %q", useTLS, want)
			}
		}
		if strings.Contains(r.stderr, "Sec-WebSocket-Key") {
			t.Errorf("-v shows a Sec-WebSocket-Key, which RFC 8441 §5 drops")
		}
	}
}

// --http2 (prefer) says which protocol it used: HTTP/2 where the server
// offers RFC 8441, HTTP/1.1 where it does not; --http2=require fails
// against the latter with exit 3 and says what the server lacks.
func TestHTTP2PreferNote_RFC8441_3(t *testing.T) {
	s := &h2test.Server{}
	s.Start(t, false)
	r := wsc(t, nil, "--http2", "-x", "a", s.URL+"/")
	wantExit(t, r, exitOK)
	if !strings.Contains(r.stderr, "connected over HTTP/2") || r.stdout != "a\n" {
		t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
	}

	h1 := startServer(t, nil) // ws6455's server on a raw listener: HTTP/1.1 only
	r = wsc(t, nil, "--http2", "-x", "b", h1.url("/"))
	wantExit(t, r, exitOK)
	if !strings.Contains(r.stderr, "connected over HTTP/1.1") || r.stdout != "b\n" {
		t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	h1.event(t)

	r = wsc(t, nil, "--http2=require", "-x", "c", h1.url("/"))
	wantExit(t, r, exitHandshake)
	for _, want := range []string{"HTTP/2", "--http2=prefer"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}

	wantExit(t, wsc(t, nil, "--http2=sometimes", s.URL), exitUsage)
}
