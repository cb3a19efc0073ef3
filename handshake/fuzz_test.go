package handshake

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// FuzzReadRequest feeds arbitrary bytes to ReadRequest (seed corpus in
// testdata/fuzz/FuzzReadRequest). It must never panic; a rejected request
// must carry a status from the documented set whose error response our own
// client can parse; an accepted request must satisfy the invariants of
// RFC 6455 §4.2.1, survive a serialize/parse round trip unchanged, and our
// Upgrader's answer to it must pass our client's checks (§4.1, RFC 7692).
func FuzzReadRequest(f *testing.F) {
	f.Add(rfcRequest)
	f.Add(mkReq(getChat, nil, "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10; client_max_window_bits, x-foo; a=\"b\""))
	f.Add(mkReq(getChat, nil, "Sec-WebSocket-Protocol: a, b,,c", "Origin: http://server.example.com"))
	f.Add("GET / HTTP/1.0\r\n\r\n")
	f.Fuzz(func(t *testing.T, data string) {
		lim := Limits{MaxHeaderBytes: 2048, MaxLineBytes: 512, MaxHeaders: 32}
		req, err := ReadRequest(bufio.NewReaderSize(strings.NewReader(data), 32), lim)
		if err != nil {
			checkRejection(t, err)
			return
		}
		checkInvariants(t, req)

		// Round trip: write the request back and read it again.
		var b strings.Builder
		b.WriteString(req.Method + " " + req.Target + " " + req.Proto + "\r\n")
		for k, vs := range req.Header {
			for _, v := range vs {
				b.WriteString(k + ": " + v + "\r\n")
			}
		}
		b.WriteString("\r\n")
		again, err := ReadRequest(bufio.NewReader(strings.NewReader(b.String())), Limits{MaxHeaderBytes: -1, MaxLineBytes: -1, MaxHeaders: -1})
		if err != nil {
			t.Fatalf("re-reading %q: %v", b.String(), err)
		}
		again.URL, req.URL = nil, nil
		if !reflect.DeepEqual(again, req) {
			t.Fatalf("round trip:\n%+v\n%+v", req, again)
		}

		// Our server's answer passes our client's checks.
		u := &Upgrader{
			CheckOrigin:    allowAll,
			SelectProtocol: func(r *Request) string { return lastOr(r.Protocols) },
			Compression:    DeflateConfig{Mode: CompressionFull, ServerMaxWindowBits: 12, ClientMaxWindowBits: 11},
		}
		var out bytes.Buffer
		res, err := u.UpgradeRequest(req, &out)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := ReadResponse(bufio.NewReader(&out), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		hs := &ClientHandshake{Key: req.Key, Protocols: req.Protocols, Compression: acceptedOffer(req.Extensions)}
		if err := hs.Verify(resp); err != nil {
			t.Fatalf("client rejects %q: %v", out.String(), err)
		}
		if resp.Subprotocol != res.Subprotocol || !reflect.DeepEqual(resp.Deflate, res.Deflate) {
			t.Fatalf("client %q %+v, server %q %+v", resp.Subprotocol, resp.Deflate, res.Subprotocol, res.Deflate)
		}
	})
}

func lastOr(ps []string) string {
	if len(ps) == 0 {
		return ""
	}
	return ps[len(ps)-1]
}

// acceptedOffer is the first permessage-deflate offer a server can accept,
// as a DeflateOffer, or nil.
func acceptedOffer(exts []Extension) *DeflateOffer {
	for _, e := range exts {
		if !strings.EqualFold(e.Name, DeflateExtension) {
			continue
		}
		d, err := parseDeflateParams(e.Params, false)
		if err != nil {
			continue
		}
		return &DeflateOffer{
			ServerNoContextTakeover: d.serverNoContextTakeover,
			ClientNoContextTakeover: d.clientNoContextTakeover,
			ServerMaxWindowBits:     d.serverMaxWindowBits,
			ClientMaxWindowBits:     d.clientMaxWindowBits,
		}
	}
	return nil
}

func checkRejection(t *testing.T, err error) {
	t.Helper()
	var re *RequestError
	if !errors.As(err, &re) {
		// strings.Reader only fails with EOF.
		if !errors.Is(err, io.EOF) {
			t.Fatalf("untyped error %v", err)
		}
		return
	}
	switch re.Status {
	case 400, 405, 414, 426, 431, 505:
	default:
		t.Fatalf("unexpected status %d: %v", re.Status, err)
	}
	var out bytes.Buffer
	if err := re.WriteResponse(&out); err != nil {
		t.Fatal(err)
	}
	resp, err := ReadResponse(bufio.NewReader(&out), Limits{})
	if err != nil || resp.StatusCode != re.Status {
		t.Fatalf("error response %q: %v", out.String(), err)
	}
}

// FuzzParseTarget checks parseTarget against url.ParseRequestURI, the
// naive twin of its fast path: a target it accepts parses to exactly the
// URL that url.ParseRequestURI makes of it, and an origin-form target
// (RFC 6455 §3 /resource name/) that url.ParseRequestURI accepts is
// accepted unless it has a fragment, which §3 forbids.
func FuzzParseTarget(f *testing.F) {
	for _, t := range []string{"/", "/chat", "/chat?room=1", "/a?", "/a??", "//x", "/a%20b", "/a%zz", "/a b", "/é",
		"/p;x=1/$&+,:=@~._-", "/(x)*!'", "/a#b", "/a?b#c", "ws://h/a", "http://h", "ftp://h/", "*", "", "a/b", "/?", "/?\x03", "/a\x7f"} {
		f.Add(t)
	}
	f.Fuzz(func(t *testing.T, target string) {
		var got url.URL
		err := parseTarget(target, &got)
		want, werr := url.ParseRequestURI(target)
		if err == nil {
			if werr != nil {
				t.Fatalf("parseTarget(%q) accepted what url.ParseRequestURI refuses: %v", target, werr)
			}
			if !reflect.DeepEqual(&got, want) {
				t.Fatalf("parseTarget(%q) = %#v, url.ParseRequestURI: %#v", target, got, *want)
			}
			return
		}
		if werr == nil && strings.HasPrefix(target, "/") && !strings.Contains(target, "#") {
			t.Fatalf("parseTarget(%q) refused an origin-form target: %v", target, err)
		}
	})
}

// TestParseTarget_FastPath_RFC6455_3 runs FuzzParseTarget's check on a
// path and a query with each printable ASCII character, so that the set
// of characters the fast path takes as they are matches url.URL's.
func TestParseTarget_FastPath_RFC6455_3(t *testing.T) {
	fast := 0
	for c := byte(0x21); c < 0x7f; c++ {
		for _, target := range []string{"/a" + string(c) + "b", "/a?b" + string(c) + "c", "/" + string(c)} {
			var got url.URL
			err := parseTarget(target, &got)
			want, werr := url.ParseRequestURI(target)
			switch {
			case c == '#':
				if err == nil {
					t.Errorf("parseTarget(%q) accepted a fragment (RFC 6455 §3: MUST NOT be used)", target)
				}
			case (err == nil) != (werr == nil): // both refuse a bad escape ("/a%b")
				t.Errorf("parseTarget(%q): %v; url.ParseRequestURI: %v", target, err, werr)
			case err == nil && !reflect.DeepEqual(&got, want):
				t.Errorf("parseTarget(%q) = %#v, url.ParseRequestURI: %#v", target, got, *want)
			}
			if plainPath(strings.SplitN(target, "?", 2)[0]) {
				fast++
			}
		}
	}
	if fast < 150 {
		t.Errorf("only %d of the targets took the fast path", fast)
	}
}

// FuzzOriginHost checks originHost, which SameOrigin uses, against
// url.Parse, its naive twin: both must agree on whether an Origin has a
// host, and on the scheme (ignoring case) and host.
func FuzzOriginHost(f *testing.F) {
	for _, o := range []string{"http://example.com", "https://EXAMPLE.com:8443", "http://127.0.0.1:80", "null", "://bad",
		"http://[::1]:80", "http://user@host", "http://host:", "http://host:8a", "http://h/path", "HTTP://h", "1x://h",
		"http://h%41", "ws://a..b", "http://", "http:///x", "chrome-extension://abc"} {
		f.Add(o)
	}
	f.Fuzz(func(t *testing.T, origin string) {
		scheme, host, ok := originHost(origin)
		u, err := url.Parse(origin)
		wantOK := err == nil && u.Host != ""
		if ok != wantOK {
			t.Fatalf("originHost(%q) ok = %v; url.Parse: %v, %v", origin, ok, u, err)
		}
		if ok && (!strings.EqualFold(scheme, u.Scheme) || host != u.Host) {
			t.Fatalf("originHost(%q) = %q, %q; url.Parse: %q, %q", origin, scheme, host, u.Scheme, u.Host)
		}
	})
}
