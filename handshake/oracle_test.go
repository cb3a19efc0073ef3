package handshake

// Oracle tests: github.com/gobwas/ws, an independent implementation, must
// agree with ours on the handshake. gobwas is used in tests only.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

type rw struct {
	io.Reader
	io.Writer
}

// gobwasAnswer runs gobwas' server handshake over the request bytes and
// returns what it wrote.
func gobwasAnswer(t *testing.T, u ws.Upgrader, req string) (ws.Handshake, string, error) {
	t.Helper()
	var out bytes.Buffer
	hs, err := u.Upgrade(rw{strings.NewReader(req), &out})
	return hs, out.String(), err
}

// TestOracle_AcceptKey_RFC6455_4_2_2 compares AcceptKey with the
// Sec-WebSocket-Accept gobwas computes, for the RFC's key and random ones.
func TestOracle_AcceptKey_RFC6455_4_2_2(t *testing.T) {
	keys := []string{"dGhlIHNhbXBsZSBub25jZQ==", "AQIDBAUGBwgJCgsMDQ4PEC=="}
	for range 200 {
		keys = append(keys, NewKey())
	}
	for _, key := range keys {
		hs := &ClientHandshake{URL: mustURL(t, "ws://example.com/"), Key: key}
		req, err := hs.AppendRequest(nil)
		if err != nil {
			t.Fatal(err)
		}
		_, out, err := gobwasAnswer(t, ws.Upgrader{}, string(req))
		if err != nil {
			t.Fatalf("gobwas rejects our request %q: %v", req, err)
		}
		resp, err := ReadResponse(bufio.NewReader(strings.NewReader(out)), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get("Sec-WebSocket-Accept"); got != AcceptKey(key) {
			t.Fatalf("key %q: gobwas %q, ours %q", key, got, AcceptKey(key))
		}
		if err := hs.Verify(resp); err != nil {
			t.Fatalf("we reject gobwas' answer %q: %v", out, err)
		}
	}
}

// randomValidRequest builds a valid opening handshake with random but
// legal variations that both implementations must accept: header order
// and name case, token-list forms of Connection, whitespace, extra fields,
// subprotocol and extension offers.
func randomValidRequest(r *rand.Rand) (req string, want map[string]string) {
	mixCase := func(s string) string {
		b := []byte(s)
		for i, c := range b {
			if r.IntN(2) == 0 {
				if 'a' <= c && c <= 'z' {
					b[i] = c - 32
				} else if 'A' <= c && c <= 'Z' {
					b[i] = c + 32
				}
			}
		}
		return string(b)
	}
	ows := func() string { return []string{"", " ", "  ", "\t", " \t"}[r.IntN(5)] }
	target := []string{"/", "/chat", "/a/b/c?x=1&y=two", "/%7Euser/ws", "/ws?token=abc.def-ghi"}[r.IntN(5)]
	host := []string{"example.com", "example.com:8080", "127.0.0.1:9001", "[::1]:443", "a-b.c.example"}[r.IntN(5)]
	key := NewKey()
	conn := []string{"Upgrade", "upgrade", "keep-alive, Upgrade", "Upgrade, keep-alive", "keep-alive,Upgrade"}[r.IntN(5)]
	fields := []string{
		mixCase("Host") + ":" + ows() + host + ows(),
		mixCase("Upgrade") + ":" + ows() + mixCase("websocket") + ows(),
		mixCase("Connection") + ":" + ows() + conn + ows(),
		mixCase("Sec-WebSocket-Key") + ":" + ows() + key + ows(),
		mixCase("Sec-WebSocket-Version") + ":" + ows() + "13" + ows(),
	}
	want = map[string]string{"target": target, "host": host, "key": key}
	if r.IntN(2) == 0 {
		protos := []string{"chat", "superchat", "v2.proto", "mqtt"}
		r.Shuffle(len(protos), func(i, j int) { protos[i], protos[j] = protos[j], protos[i] })
		n := 1 + r.IntN(len(protos))
		// Spaces only inside the list: gobwas' list scanner refuses HTAB
		// there, although RFC 7230 OWS allows it (ours accepts both, see
		// TestReadRequest_RFC6455_4_2_1).
		sep := []string{",", ", ", " , "}[r.IntN(3)]
		fields = append(fields, mixCase("Sec-WebSocket-Protocol")+":"+ows()+strings.Join(protos[:n], sep)+ows())
		want["protocols"] = strings.Join(protos[:n], ",")
	}
	if r.IntN(2) == 0 {
		fields = append(fields, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
	}
	for i := range r.IntN(4) {
		fields = append(fields, fmt.Sprintf("X-Extra-%d:%sv%d%s", i, ows(), r.Int(), ows()))
	}
	if r.IntN(2) == 0 {
		fields = append(fields, "Origin: http://"+host)
	}
	r.Shuffle(len(fields), func(i, j int) { fields[i], fields[j] = fields[j], fields[i] })
	return "GET " + target + " HTTP/1.1\r\n" + strings.Join(fields, "\r\n") + "\r\n\r\n", want
}

// TestOracle_RequestParsing_RFC6455_4_2_1: on valid requests, gobwas and
// ReadRequest agree on acceptance, request-URI, Host, the other header
// fields, the chosen subprotocol and the accept key.
func TestOracle_RequestParsing_RFC6455_4_2_1(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	serverProtos := []string{"mqtt", "chat"}
	for i := range 500 {
		req, want := randomValidRequest(r)

		var gURI, gHost string
		gHeaders := map[string][]string{}
		gu := ws.Upgrader{
			OnRequest: func(uri []byte) error { gURI = string(uri); return nil },
			OnHost:    func(h []byte) error { gHost = string(h); return nil },
			OnHeader: func(k, v []byte) error {
				ck := canonicalKey(string(k))
				gHeaders[ck] = append(gHeaders[ck], string(v))
				return nil
			},
			Protocol: func(p []byte) bool { return slices.Contains(serverProtos, string(p)) },
		}
		ghs, gout, gerr := gobwasAnswer(t, gu, req)

		ours, err := ReadRequest(bufio.NewReader(strings.NewReader(req)), Limits{})
		if gerr != nil || err != nil {
			t.Fatalf("#%d %q\ngobwas: %v\nours: %v", i, req, gerr, err)
		}
		if ours.Target != gURI || ours.Target != want["target"] {
			t.Fatalf("#%d target ours %q gobwas %q", i, ours.Target, gURI)
		}
		if ours.Host != gHost || ours.Host != want["host"] {
			t.Fatalf("#%d host ours %q gobwas %q", i, ours.Host, gHost)
		}
		if ours.Key != want["key"] || strings.Join(ours.Protocols, ",") != want["protocols"] {
			t.Fatalf("#%d key/protocols %q %q", i, ours.Key, ours.Protocols)
		}
		for k, vs := range gHeaders {
			if !slices.Equal(ours.Header[k], vs) {
				t.Fatalf("#%d header %s: ours %q gobwas %q", i, k, ours.Header[k], vs)
			}
		}
		// gobwas picks the first client protocol the server supports;
		// ours the server's first that the client offered. Compare with the
		// same policy by handing ours a SelectProtocol.
		res, err := (&Upgrader{
			CheckOrigin: allowAll,
			SelectProtocol: func(r *Request) string {
				for _, p := range r.Protocols {
					if slices.Contains(serverProtos, p) {
						return p
					}
				}
				return ""
			},
		}).Negotiate(ours)
		if err != nil {
			t.Fatal(err)
		}
		if res.Subprotocol != ghs.Protocol {
			t.Fatalf("#%d subprotocol ours %q gobwas %q", i, res.Subprotocol, ghs.Protocol)
		}
		gresp, err := ReadResponse(bufio.NewReader(strings.NewReader(gout)), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if gresp.Header.Get("Sec-WebSocket-Accept") != res.ResponseHeader.Get("Sec-WebSocket-Accept") {
			t.Fatalf("#%d accept differs", i)
		}
	}
}

// TestOracle_GobwasDialer_OurUpgrader: gobwas' client completes the
// handshake with our server and agrees on subprotocol and extension.
func TestOracle_GobwasDialer_OurUpgrader(t *testing.T) {
	// The server's goroutine hands its Result over a channel: the client
	// can finish its handshake before Upgrade has returned.
	results := make(chan *Result, 1)
	addr := serveOnce(t, func(nc net.Conn) {
		u := &Upgrader{Protocols: []string{"v2", "v1"}, Compression: DeflateConfig{Mode: CompressionNoContextTakeover}}
		res, err := u.Upgrade(bufio.NewReader(nc), nc)
		results <- res
		if err != nil {
			t.Error(err)
			return
		}
		nc.Write(textFrame("from ws6455"))
		io.Copy(io.Discard, nc)
	})
	offer := wsflate.Parameters{ClientNoContextTakeover: true}
	d := ws.Dialer{Protocols: []string{"v1", "v2"}, Extensions: []httphead.Option{offer.Option()}}
	conn, br, hs, err := d.Dial(context.Background(), "ws://"+addr+"/x")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if hs.Protocol != "v2" {
		t.Errorf("gobwas sees protocol %q", hs.Protocol)
	}
	if len(hs.Extensions) != 1 {
		t.Fatalf("gobwas sees extensions %v", hs.Extensions)
	}
	var p wsflate.Parameters
	if err := p.Parse(hs.Extensions[0]); err != nil {
		t.Fatalf("gobwas cannot parse our response: %v", err)
	}
	var serverRes *Result
	select {
	case serverRes = <-results:
	case <-time.After(15 * time.Second):
		t.Fatal("our Upgrader did not return within 15s of gobwas' completed handshake")
	}
	if serverRes == nil {
		t.Fatal("our Upgrader returned no Result")
	}
	if !p.ServerNoContextTakeover || !p.ClientNoContextTakeover || serverRes.Deflate == nil ||
		!serverRes.Deflate.ServerNoContextTakeover || !serverRes.Deflate.ClientNoContextTakeover {
		t.Errorf("gobwas %+v, ours %+v", p, serverRes.Deflate)
	}
	var src io.Reader = conn
	if br != nil {
		src = io.MultiReader(br, conn)
	}
	f, err := ws.ReadFrame(src)
	if err != nil || string(f.Payload) != "from ws6455" {
		t.Fatalf("frame %q %v", f.Payload, err)
	}
}

// TestOracle_OurDialer_GobwasUpgrader: our client completes the handshake
// with gobwas' server, including permessage-deflate.
func TestOracle_OurDialer_GobwasUpgrader(t *testing.T) {
	addr := serveOnce(t, func(nc net.Conn) {
		ext := wsflate.Extension{Parameters: wsflate.Parameters{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ClientMaxWindowBits: 10}}
		u := ws.Upgrader{
			Protocol:  func(p []byte) bool { return string(p) == "v2" },
			Negotiate: ext.Negotiate,
		}
		if _, err := u.Upgrade(nc); err != nil {
			t.Error(err)
			return
		}
		ws.WriteFrame(nc, ws.NewTextFrame([]byte("from gobwas")))
		io.Copy(io.Discard, nc)
	})
	// gobwas declines a bare client_max_window_bits when it wants to cap
	// the client's window, so offer a value.
	d := &Dialer{Protocols: []string{"v1", "v2"}, Compression: &DeflateOffer{ClientMaxWindowBits: 12}}
	c, resp, err := d.Dial(context.Background(), "ws://"+addr+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if resp.Subprotocol != "v2" {
		t.Errorf("subprotocol %q", resp.Subprotocol)
	}
	if resp.Deflate == nil || !resp.Deflate.ServerNoContextTakeover || !resp.Deflate.ClientNoContextTakeover || resp.Deflate.ClientMaxWindowBits != 10 {
		t.Errorf("deflate %+v (extensions %v)", resp.Deflate, resp.Extensions)
	}
	if _, msg, err := c.ReadMessage(nil); err != nil || string(msg) != "from gobwas" {
		t.Fatalf("%q %v", msg, err)
	}
}
