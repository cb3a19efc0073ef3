package handshake

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"testing"

	"github.com/ws6455/ws6455/frame"
)

// Several permessage-deflate offers in one request (RFC 7692 §5): "A
// client MAY offer multiple PMCE choices to the server by including
// multiple elements in the Sec-WebSocket-Extensions header... The order
// of elements is important as it specifies the client's preference."

// threeOffers are the offers of these tests: offer 2 is the only one that
// the answer offer2Answer accepts (offer 1 asked for
// server_no_context_takeover, which the answer lacks; offer 3 omitted
// client_max_window_bits, which the answer has).
var threeOffers = []DeflateOffer{
	{ServerNoContextTakeover: true, ServerMaxWindowBits: 9},
	{ClientNoContextTakeover: true, ServerMaxWindowBits: 12},
	{OmitClientMaxWindowBits: true},
}

// threeOffersField is threeOffers on the wire, in order, in one field.
const threeOffersField = "permessage-deflate; client_max_window_bits; server_no_context_takeover; server_max_window_bits=9, " +
	"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=12, " +
	"permessage-deflate"

const offer2Answer = "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9"

// offer2Params are offer 2's parameters under offer2Answer: the server's
// window from the answer, the client's window capped by the answer, and
// client_no_context_takeover, which offer 2 promised.
var offer2Params = frame.DeflateParams{ClientNoContextTakeover: true, ServerMaxWindowBits: 10, ClientMaxWindowBits: 9}

// TestCompressionOffers_Request_RFC7692_5 checks that the offers go out in
// order as the elements of one Sec-WebSocket-Extensions field, over
// HTTP/1.1 (AppendRequest) and HTTP/2 (ExtendedConnectHeader), that an
// offer can leave out client_max_window_bits, that Compression is a
// one-element CompressionOffers, and that the two cannot be combined.
func TestCompressionOffers_Request_RFC7692_5(t *testing.T) {
	const key = "AQIDBAUGBwgJCgsMDQ4PEC=="
	hs := ClientHandshake{URL: mustURL(t, "ws://h/"), Key: key, CompressionOffers: threeOffers}
	req, err := hs.AppendRequest(nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(req), "Sec-WebSocket-Extensions:"); n != 1 {
		t.Errorf("%d Sec-WebSocket-Extensions fields in %q", n, req)
	}
	if !strings.Contains(string(req), "\r\nSec-WebSocket-Extensions: "+threeOffersField+"\r\n") {
		t.Errorf("request %q lacks the offers %q", req, threeOffersField)
	}
	// Our own server reads the three offers back, in order.
	r, err := ReadRequest(bufio.NewReader(bytes.NewReader(req)), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Extensions) != 3 {
		t.Fatalf("server parsed %d offers: %+v", len(r.Extensions), r.Extensions)
	}
	for i, o := range threeOffers {
		if got, want := r.Extensions[i].String(), o.Extension().String(); got != want {
			t.Errorf("offer %d parsed as %q, want %q", i+1, got, want)
		}
	}

	_, h, err := hs.ExtendedConnectHeader()
	if err != nil {
		t.Fatal(err)
	}
	if got := h[hExtensions]; len(got) != 1 || got[0] != threeOffersField {
		t.Errorf("HTTP/2 Sec-WebSocket-Extensions %q, want [%q]", got, threeOffersField)
	}

	// Compression is shorthand for a list of one.
	one := ClientHandshake{URL: hs.URL, Key: key, Compression: &threeOffers[2]}
	list := ClientHandshake{URL: hs.URL, Key: key, CompressionOffers: threeOffers[2:]}
	a, errA := one.AppendRequest(nil)
	b, errB := list.AppendRequest(nil)
	if errA != nil || errB != nil || !bytes.Equal(a, b) || !strings.Contains(string(a), "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n") {
		t.Errorf("Compression %q (%v) differs from CompressionOffers %q (%v)", a, errA, b, errB)
	}

	bad := map[string]ClientHandshake{
		"both set":           {URL: hs.URL, Key: key, Compression: &DeflateOffer{}, CompressionOffers: threeOffers},
		"bad bits in list":   {URL: hs.URL, Key: key, CompressionOffers: []DeflateOffer{{}, {ServerMaxWindowBits: 16}}},
		"omit and set bits":  {URL: hs.URL, Key: key, CompressionOffers: []DeflateOffer{{OmitClientMaxWindowBits: true, ClientMaxWindowBits: 10}}},
		"omit and set (one)": {URL: hs.URL, Key: key, Compression: &DeflateOffer{OmitClientMaxWindowBits: true, ClientMaxWindowBits: 10}},
	}
	for name, hs := range bad {
		if b, err := hs.AppendRequest(nil); err == nil {
			t.Errorf("%s: AppendRequest built %q", name, b)
		}
		if _, h, err := hs.ExtendedConnectHeader(); err == nil {
			t.Errorf("%s: ExtendedConnectHeader built %v", name, h)
		}
	}
}

// TestCompressionOffers_Verify_RFC7692_5_7_1 runs the client's checks of
// the server's answer to several offers, over HTTP/1.1 (Verify on a 101)
// and HTTP/2 (VerifyExtendedConnect on a 200): an answer is good if it is
// a valid acceptance of any one offer (§5, §7.1), and the parameters are
// that offer's.
func TestCompressionOffers_Verify_RFC7692_5_7_1(t *testing.T) {
	const bad = "bad"
	tests := []struct {
		name   string
		offers []DeflateOffer
		exts   []string // Sec-WebSocket-Extensions fields of the answer
		want   any      // *frame.DeflateParams (nil: declined) or bad
	}{
		{"declined", threeOffers, nil, (*frame.DeflateParams)(nil)},
		{"offer 2 only", threeOffers, []string{offer2Answer}, &offer2Params},
		// A valid acceptance of all three: offer 2's promise of
		// client_no_context_takeover holds (see acceptOffers).
		{"offers 1, 2 and 3", threeOffers, []string{"permessage-deflate; server_no_context_takeover; server_max_window_bits=8"},
			&frame.DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 8}},
		// §7.1.2.1: server_max_window_bits may be sent unasked: offer 2
		// of these two, not offer 1, whose server_no_context_takeover is
		// missing.
		{"second of two", []DeflateOffer{threeOffers[0], threeOffers[2]}, []string{"permessage-deflate; server_max_window_bits=11"},
			&frame.DeflateParams{ServerMaxWindowBits: 11}},
		// §7.1.2.2: "If a received extension negotiation offer doesn't
		// have the client_max_window_bits extension parameter, the
		// corresponding extension negotiation response to the offer MUST
		// NOT include the client_max_window_bits extension parameter."
		{"client_max_window_bits offered by none", []DeflateOffer{{OmitClientMaxWindowBits: true}, {OmitClientMaxWindowBits: true, ServerNoContextTakeover: true}},
			[]string{"permessage-deflate; client_max_window_bits=10"}, bad},
		{"client_max_window_bits offered by one", []DeflateOffer{{OmitClientMaxWindowBits: true}, {}},
			[]string{"permessage-deflate; client_max_window_bits=10"}, &frame.DeflateParams{ClientMaxWindowBits: 10}},
		{"server window larger than any asked", []DeflateOffer{{ServerMaxWindowBits: 9}, {ServerMaxWindowBits: 10}},
			[]string{"permessage-deflate; server_max_window_bits=11"}, bad},
		// §5: the server accepts at most one offer.
		{"two elements", threeOffers, []string{"permessage-deflate; server_no_context_takeover; server_max_window_bits=9, " + offer2Answer}, bad},
		{"two fields", threeOffers, []string{offer2Answer, offer2Answer}, bad},
		// §5: "A client MUST _Fail the WebSocket Connection_ if ... The
		// negotiation response contains an extension parameter not defined
		// for use in a response."
		{"unknown parameter", threeOffers, []string{"permessage-deflate; x_window=1"}, bad},
		{"bad value", threeOffers, []string{"permessage-deflate; server_max_window_bits=7"}, bad},
		{"repeated parameter", threeOffers, []string{"permessage-deflate; server_no_context_takeover; server_no_context_takeover"}, bad},
		{"other extension", threeOffers, []string{"x-webkit-deflate-frame"}, bad},
	}
	for _, tt := range tests {
		for _, proto := range []string{ProtoHTTP11, ProtoHTTP2} {
			t.Run(tt.name+"/"+proto, func(t *testing.T) {
				hs := &ClientHandshake{URL: mustURL(t, "ws://server.example.com/chat"), Key: "dGhlIHNhbXBsZSBub25jZQ==", CompressionOffers: tt.offers}
				h := textproto.MIMEHeader{}
				for _, v := range tt.exts {
					h.Add(hExtensions, v)
				}
				var err error
				resp := &Response{Proto: proto, Header: h}
				if proto == ProtoHTTP2 {
					resp.StatusCode = 200
					err = hs.VerifyExtendedConnect(resp)
				} else {
					resp.StatusCode = 101
					h.Set(hUpgrade, "websocket")
					h.Set(hConnection, "Upgrade")
					h.Set(hAccept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
					err = hs.Verify(resp)
				}
				if tt.want == bad {
					if !errors.Is(err, ErrBadResponse) {
						t.Fatalf("err %v, want ErrBadResponse (Deflate %+v)", err, resp.Deflate)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				want := tt.want.(*frame.DeflateParams)
				if (resp.Deflate == nil) != (want == nil) || (want != nil && *resp.Deflate != *want) {
					t.Fatalf("Deflate %+v, want %+v", resp.Deflate, want)
				}
			})
		}
	}
}

// TestAcceptOffers_Ambiguous_RFC7692_7_1: an answer that is a valid
// acceptance of several offers does not say which the server took, so
// the client keeps the promises of all of them about its own compressor
// (client_no_context_takeover §7.1.1.2, a client_max_window_bits value
// §7.1.2.2): whatever the server took, it can read what the client sends.
func TestAcceptOffers_Ambiguous_RFC7692_7_1(t *testing.T) {
	offers := []DeflateOffer{{ClientMaxWindowBits: 12}, {ClientNoContextTakeover: true, ClientMaxWindowBits: 10}, {}}
	resp := mustParseExt(t, "permessage-deflate; server_max_window_bits=13")[0]
	got, err := acceptOffers(offers, resp)
	if err != nil {
		t.Fatal(err)
	}
	want := frame.DeflateParams{ClientNoContextTakeover: true, ServerMaxWindowBits: 13, ClientMaxWindowBits: 10}
	if *got != want {
		t.Fatalf("got %+v, want %+v", *got, want)
	}
	// The error of an answer no offer takes gives each offer's reason.
	_, err = acceptOffers(offers[:2], mustParseExt(t, "permessage-deflate; client_max_window_bits=14")[0])
	if err == nil || !strings.Contains(err.Error(), "offer 1:") || !strings.Contains(err.Error(), "offer 2:") {
		t.Fatalf("err %v, want the reason of each offer", err)
	}
}

// TestDialCompressionOffers_RFC7692_5 dials a server that accepts the
// second of three offers, over HTTP/1.1 and over HTTP/2 (RFC 8441 §5):
// the request carries the three offers in order, Response.Deflate holds
// offer 2's parameters, and compressed messages then go both ways under
// them (the server compresses with a 2^10 window and expects the client's
// at most 2^9).
func TestDialCompressionOffers_RFC7692_5(t *testing.T) {
	serverParams := &frame.DeflateParams{ServerMaxWindowBits: 10, ClientMaxWindowBits: 9}
	msg := bytes.Repeat([]byte("permessage-deflate, offer 2 of 3. "), 300)

	check := func(t *testing.T, d *Dialer, url, proto string, seen func() string) {
		t.Helper()
		d.CompressionOffers = threeOffers
		c, resp, err := d.Dial(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if resp.Proto != proto {
			t.Errorf("proto %q, want %q", resp.Proto, proto)
		}
		if got := seen(); got != threeOffersField {
			t.Errorf("server saw offers %q, want %q", got, threeOffersField)
		}
		if resp.Deflate == nil || *resp.Deflate != offer2Params {
			t.Fatalf("Deflate %+v, want %+v", resp.Deflate, offer2Params)
		}
		for range 3 {
			if err := c.WriteMessage(frame.OpText, msg); err != nil {
				t.Fatal(err)
			}
			op, got, err := c.ReadMessage(nil)
			if err != nil || op != frame.OpText || !bytes.Equal(got, msg) {
				t.Fatalf("echo: %v %d bytes %v", op, len(got), err)
			}
		}
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}

	t.Run(ProtoHTTP11, func(t *testing.T) {
		var (
			mu   sync.Mutex
			offs string
		)
		addr := serveOnce(t, func(nc net.Conn) {
			br := bufio.NewReader(nc)
			req, err := ReadRequest(br, Limits{})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			offs = req.Header.Get(hExtensions)
			mu.Unlock()
			nc.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Accept: " + AcceptKey(req.Key) + "\r\nSec-WebSocket-Extensions: " + offer2Answer + "\r\n\r\n"))
			var buffered []byte
			if n := br.Buffered(); n > 0 {
				buffered, _ = br.Peek(n)
			}
			echo(frame.NewConn(nc, buffered, frame.Config{Role: frame.RoleServer, Deflate: serverParams}))
		})
		check(t, &Dialer{}, "ws://"+addr+"/", ProtoHTTP11, func() string {
			mu.Lock()
			defer mu.Unlock()
			return offs
		})
	})

	t.Run(ProtoHTTP2, func(t *testing.T) {
		s := startH2Server(t, true, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Sec-WebSocket-Extensions", offer2Answer)
			w.WriteHeader(http.StatusOK)
			rc := http.NewResponseController(w)
			rc.Flush()
			nc := &h2ServerConn{r: r.Body, w: w, rc: rc, done: make(chan struct{})}
			echo(frame.NewConn(nc, nil, frame.Config{Role: frame.RoleServer, Deflate: serverParams}))
			<-nc.done
		})
		d := s.dialer(HTTP2Require)
		defer d.CloseIdleConnections()
		check(t, d, s.URL+"/", ProtoHTTP2, func() string { return s.lastSeen().extensions })
	})
}

// TestDialCompressionOffers_Refused: a Dialer with both Compression and
// CompressionOffers fails before it connects, over either protocol.
func TestDialCompressionOffers_Refused(t *testing.T) {
	for _, mode := range []HTTP2Mode{HTTP2Off, HTTP2Require} {
		dialed := false
		d := &Dialer{
			HTTP2:             mode,
			Compression:       &DeflateOffer{},
			CompressionOffers: threeOffers,
			NetDial: func(context.Context, string, string) (net.Conn, error) {
				dialed = true
				return nil, errors.New("no network in this test")
			},
		}
		_, _, err := d.Dial(context.Background(), "ws://127.0.0.1:1/")
		if err == nil || !strings.Contains(err.Error(), "both Compression and CompressionOffers") || dialed {
			t.Errorf("%v: err %v, dialed %v", mode, err, dialed)
		}
	}
}
