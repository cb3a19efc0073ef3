package autobahn

import (
	"bufio"
	"bytes"
	"compress/flate"
	"io"
	"math/rand/v2"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// RFC 7692 §5: the offers go out as Autobahn's PerMessageDeflateOffer
// writes them (its getExtensionString), one element per offer.
func TestDeflateOffer_AutobahnHeaders_RFC7692_5(t *testing.T) {
	base := "permessage-deflate; client_no_context_takeover; client_max_window_bits"
	want := map[string]string{
		"12.1.1":  base,
		"12.5.18": base,
		"13.1.1":  base,
		"13.2.1":  base + "; server_no_context_takeover",
		"13.3.1":  base + "; server_max_window_bits=9",
		"13.4.1":  base + "; server_max_window_bits=15",
		"13.5.1":  base + "; server_no_context_takeover; server_max_window_bits=9",
		"13.6.1":  base + "; server_no_context_takeover; server_max_window_bits=15",
		"13.7.1":  base + "; server_no_context_takeover; server_max_window_bits=9, " + base + "; server_no_context_takeover, " + base,
	}
	for id, w := range want {
		if got := offersHeader(Lookup(id).DeflateOffers); got != w {
			t.Errorf("case %s offers %q, want %q", id, got, w)
		}
	}
	for _, d := range Cases() {
		if pmce := strings.HasPrefix(d.ID, "12.") || strings.HasPrefix(d.ID, "13."); pmce != (len(d.DeflateOffers) > 0) {
			t.Errorf("case %s: offers %v", d.ID, d.DeflateOffers)
		}
	}
}

// RFC 7692 §5, §7.1: the server's answer must be a valid acceptance of one
// of the offers; no answer means it declined them all.
func TestNegotiateDeflate_RFC7692_7_1(t *testing.T) {
	def := []DeflateOffer{autobahnOffer(false, 0)}
	ctx9 := []DeflateOffer{autobahnOffer(true, 9)}
	multi := Lookup("13.7.1").DeflateOffers
	tests := []struct {
		name   string
		offers []DeflateOffer
		header []string
		want   *frame.DeflateParams // nil with ok: declined
		err    string               // substring of the error, "" for none
	}{
		{"declined", def, nil, nil, ""},
		{"plain", def, []string{"permessage-deflate"}, &frame.DeflateParams{}, ""},
		{"client nct", def, []string{"permessage-deflate; client_no_context_takeover"}, &frame.DeflateParams{ClientNoContextTakeover: true}, ""},
		{"client bits", def, []string{"permessage-deflate; client_max_window_bits=10"}, &frame.DeflateParams{ClientMaxWindowBits: 10}, ""},
		{"server bits unasked", def, []string{"permessage-deflate; server_max_window_bits=12"}, &frame.DeflateParams{ServerMaxWindowBits: 12}, ""},
		{"server nct unasked", def, []string{"permessage-deflate; server_no_context_takeover"}, &frame.DeflateParams{ServerNoContextTakeover: true}, ""},
		{"case-insensitive", def, []string{"Permessage-Deflate; Client_No_Context_Takeover"}, &frame.DeflateParams{ClientNoContextTakeover: true}, ""},
		{"asked 9 got 9", ctx9, []string{"permessage-deflate; server_no_context_takeover; server_max_window_bits=9"}, &frame.DeflateParams{ServerNoContextTakeover: true, ServerMaxWindowBits: 9}, ""},
		{"asked 9 got 8", ctx9, []string{"permessage-deflate; server_no_context_takeover; server_max_window_bits=8"}, &frame.DeflateParams{ServerNoContextTakeover: true, ServerMaxWindowBits: 8}, ""},
		{"asked 9 got 10", ctx9, []string{"permessage-deflate; server_no_context_takeover; server_max_window_bits=10"}, nil, "exceeds"},
		{"asked 9 got none", ctx9, []string{"permessage-deflate; server_no_context_takeover"}, nil, "ignored server_max_window_bits"},
		{"asked nct got none", ctx9, []string{"permessage-deflate; server_max_window_bits=9"}, nil, "ignored server_no_context_takeover"},
		{"multi: third offer", multi, []string{"permessage-deflate"}, &frame.DeflateParams{}, ""},
		{"multi: second offer", multi, []string{"permessage-deflate; server_no_context_takeover"}, &frame.DeflateParams{ServerNoContextTakeover: true}, ""},
		{"unknown param", def, []string{"permessage-deflate; foo"}, nil, "not a valid acceptance"},
		{"bits without value", def, []string{"permessage-deflate; client_max_window_bits"}, nil, "not a valid acceptance"},
		{"bits 16", def, []string{"permessage-deflate; server_max_window_bits=16"}, nil, "not a valid acceptance"},
		{"repeated param", def, []string{"permessage-deflate; client_no_context_takeover; client_no_context_takeover"}, nil, "not a valid acceptance"},
		{"twice", def, []string{"permessage-deflate, permessage-deflate"}, nil, "multiple occurrence"},
		{"two header lines", def, []string{"permessage-deflate", "permessage-deflate"}, nil, "more than once"},
		{"other extension", def, []string{"x-webkit-deflate-frame"}, nil, "did not request"},
		{"malformed", def, []string{"permessage-deflate;;"}, nil, "malformed"},
		{"nothing offered", nil, []string{"permessage-deflate"}, nil, "did not request"},
	}
	for _, tc := range tests {
		got, err := negotiateDeflate(tc.header, tc.offers)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want one with %q", tc.name, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want):
			t.Errorf("%s: params %+v, want %+v", tc.name, got, tc.want)
		}
	}
	// An offer without client_max_window_bits must not get it back
	// (RFC 7692 §7.1.2.2).
	bare := []DeflateOffer{{AcceptNoContextTakeover: true}}
	if _, err := negotiateDeflate([]string{"permessage-deflate; client_max_window_bits=9"}, bare); err == nil {
		t.Error("client_max_window_bits accepted for an offer without it")
	}
}

func TestPayloads_SizeKindDeterminism(t *testing.T) {
	for _, ps := range payloadSets {
		a, b := ps.gen(ps.size), ps.gen(ps.size)
		if len(a) != ps.size || !bytes.Equal(a, b) {
			t.Errorf("%s: %d bytes (want %d), deterministic %v", ps.key, len(a), ps.size, bytes.Equal(a, b))
		}
		if !ps.binary && !utf8.Valid(a) {
			t.Errorf("%s: text payload is not UTF-8", ps.key)
		}
	}
	if !utf8.Valid(payloadSets[2].gen(payloadSets[2].size)) {
		t.Error("the verse is UTF-8 text (sent as binary, as Autobahn's pg2229.txt)")
	}
}

// Text payloads are sliced by code points, wrapping around the end, as
// Autobahn's sendOne slices the decoded text.
func TestPayloadSlice_CodePointsAndWrap(t *testing.T) {
	ps := &payloadSet{key: "t", binary: false, gen: func(int) []byte { return []byte("aä€😀b") }}
	if _, err := ps.load(); err != nil {
		t.Fatal(err)
	}
	if ps.units() != 5 {
		t.Fatalf("units %d", ps.units())
	}
	cases := []struct {
		from, to int
		want     string
	}{{0, 2, "aä"}, {1, 4, "ä€😀"}, {3, 1, "😀ba"}, {4, 4, "baä€😀"}}
	for _, c := range cases {
		if got := string(ps.slice(c.from, c.to)); got != c.want {
			t.Errorf("slice(%d, %d) = %q, want %q", c.from, c.to, got, c.want)
		}
	}
	bin := &payloadSet{key: "b", binary: true, gen: func(int) []byte { return []byte("abcdef") }}
	bin.load()
	if got := string(bin.slice(4, 2)); got != "efab" {
		t.Errorf("binary wrap %q", got)
	}
}

// The codec's compressed messages inflate on the other side with the same
// parameters, with and without context takeover, and its decompressor
// rejects data that is not DEFLATE (RFC 7692 §7.2).
func TestDeflateCodec_RoundTrip_RFC7692_7_2(t *testing.T) {
	for _, p := range []frame.DeflateParams{
		{},
		{ClientNoContextTakeover: true, ServerNoContextTakeover: true},
		{ClientMaxWindowBits: 9, ServerMaxWindowBits: 10},
	} {
		client, server := newDeflateCodec(p, RoleClient), newDeflateCodec(p, RoleServer)
		data, _ := payloadSets[0].load()
		for i := range 20 {
			msg := data[i*300 : i*300+1000]
			c, err := client.compress(msg)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := server.decompress(bytes.Clone(c))
			if err != nil || !bytes.Equal(plain, msg) {
				t.Fatalf("%+v message %d: %v", p, i, err)
			}
			c, _ = server.compress(msg)
			if plain, err = client.decompress(bytes.Clone(c)); err != nil || !bytes.Equal(plain, msg) {
				t.Fatalf("%+v message %d back: %v", p, i, err)
			}
		}
	}
	c := newDeflateCodec(frame.DeflateParams{}, RoleClient)
	if _, err := c.decompress([]byte{0xff, 0xff, 0xff, 0xff}); err == nil {
		t.Fatal("garbage inflated")
	}
	if _, err := c.decompress([]byte{0x02, 0x00}); err == nil {
		t.Fatal("a broken codec must stay broken")
	}
}

// The fuzzer's side of permessage-deflate rests on compress/flate, not on
// the engine of the implementation under test, wherever the window allows
// (RFC 7692 §7.1.2): it always inflates with compress/flate, and compresses
// with it when its own window is 15 bits. Under context takeover
// (§7.2.2) compress/flate gets the last 32 KiB as its dictionary, across
// messages larger and smaller than the window. A smaller window of the
// peer is still enforced: frame.Conn's inflater runs too and rejects a
// reference beyond it.
func TestDeflateCodec_CompressFlate_RFC7692_7_1_2(t *testing.T) {
	for _, tc := range []struct {
		p        frame.DeflateParams
		role     Role
		std, dec bool
	}{
		{frame.DeflateParams{}, RoleClient, true, false},
		{frame.DeflateParams{ClientMaxWindowBits: 15, ServerMaxWindowBits: 15}, RoleClient, true, false},
		{frame.DeflateParams{ClientMaxWindowBits: 9}, RoleClient, false, false},
		{frame.DeflateParams{ServerMaxWindowBits: 9}, RoleClient, true, true},
		{frame.DeflateParams{ServerMaxWindowBits: 9}, RoleServer, false, false},
		{frame.DeflateParams{ClientMaxWindowBits: 9}, RoleServer, true, true},
	} {
		c := newDeflateCodec(tc.p, tc.role)
		if (c.std != nil) != tc.std || (c.enc != nil) == tc.std || (c.dec != nil) != tc.dec {
			t.Errorf("%+v as %v: compress/flate compresses %v (want %v), frame.Conn checks the window %v (want %v)", tc.p, tc.role, c.std != nil, tc.std, c.dec != nil, tc.dec)
		}
	}

	// Messages of 1 KiB to 48 KiB, so that the dictionary is sometimes
	// one message and sometimes many, compressed by compress/flate with
	// context takeover and inflated by the codec.
	data, _ := payloadSets[0].load()
	var stream bytes.Buffer
	w, _ := flate.NewWriter(&stream, flate.BestCompression)
	c := newDeflateCodec(frame.DeflateParams{}, RoleClient)
	off := 0
	for i, n := range []int{1 << 10, 48 << 10, 3 << 10, 20 << 10, 20 << 10, 1 << 10, 40 << 10} {
		msg := data[off : off+n]
		off += n / 3 // overlap: matches reach into earlier messages
		stream.Reset()
		w.Write(msg)
		w.Flush()
		payload := bytes.TrimSuffix(stream.Bytes(), syncTail)
		got, err := c.decompress(bytes.Clone(payload))
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("message %d (%d bytes): %v", i, n, err)
		}
		if len(c.hist) != min(len(c.hist), windowSize) {
			t.Fatalf("history of %d bytes", len(c.hist))
		}
	}

	// 600 random bytes twice: the second copy refers 600 bytes back,
	// beyond a 2^9 window.
	rnd := make([]byte, 600)
	rand.NewChaCha8([32]byte{7}).Read(rnd)
	stream.Reset()
	w.Reset(&stream)
	w.Write(append(bytes.Clone(rnd), rnd...))
	w.Flush()
	far := bytes.TrimSuffix(stream.Bytes(), syncTail)
	if _, err := newDeflateCodec(frame.DeflateParams{}, RoleClient).decompress(bytes.Clone(far)); err != nil {
		t.Fatalf("window 15: %v", err)
	}
	if _, err := newDeflateCodec(frame.DeflateParams{ServerMaxWindowBits: 9}, RoleClient).decompress(bytes.Clone(far)); err == nil {
		t.Error("a reference beyond server_max_window_bits=9 was accepted")
	}

	// RFC 7692 §7.2.3.4: a message ending in a block with BFINAL set.
	if got, err := newDeflateCodec(frame.DeflateParams{}, RoleClient).decompress([]byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}); err != nil || string(got) != "Hello" {
		t.Errorf("BFINAL message: %q, %v", got, err)
	}
}

// deflateServer is an echo server on the project's stack with
// permessage-deflate, or with a handshake answer written by hand.
type deflateServer struct {
	mode     handshake.CompressionMode
	response string              // if set: the Sec-WebSocket-Extensions answer, written by hand
	params   frame.DeflateParams // with response: what the server really uses
	corrupt  bool                // change the first byte of every echo
	garbage  bool                // answer every message with RSV1 and bytes that are not DEFLATE
}

func (s deflateServer) start(t testing.TB) string {
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
				s.serve(nc)
			}()
		}
	}()
	return "ws://" + l.Addr().String() + "/"
}

func (s deflateServer) serve(nc net.Conn) {
	nc.SetDeadline(time.Now().Add(time.Minute))
	br := bufio.NewReader(nc)
	var params *frame.DeflateParams
	if s.response == "" {
		u := handshake.Upgrader{Compression: handshake.DeflateConfig{Mode: s.mode}}
		res, err := u.Upgrade(br, nc)
		if err != nil {
			return
		}
		params = res.Deflate
	} else {
		tp := textproto.NewReader(br)
		if _, err := tp.ReadLine(); err != nil {
			return
		}
		h, err := tp.ReadMIMEHeader()
		if err != nil {
			return
		}
		io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+
			handshake.AcceptKey(h.Get("Sec-WebSocket-Key"))+"\r\nSec-WebSocket-Extensions: "+s.response+"\r\n\r\n")
		params = &s.params
	}
	buffered, _ := br.Peek(br.Buffered())
	c := frame.NewConn(nc, bytes.Clone(buffered), frame.Config{Role: frame.RoleServer, Deflate: params, CompressMinSize: -1})
	var buf []byte
	for {
		op, msg, err := c.ReadMessage(buf)
		if err != nil {
			return
		}
		buf = msg
		switch {
		case s.garbage:
			err = frame.PlumbingOf(c).WriteFrame(frame.Header{Fin: true, Rsv: frame.RSV1, Opcode: op, Length: 4}, []byte{0xff, 0xfe, 0xfd, 0xfc})
		case s.corrupt:
			msg[0] ^= 0x01
			fallthrough
		default:
			err = c.WriteMessage(op, msg)
		}
		if err != nil {
			return
		}
	}
}

// Sections 12 and 13 against servers with permessage-deflate: each payload
// kind, each offer, fragmented messages; then the verdicts for servers that
// decline, answer wrongly, or echo wrong or undecodable data.
func TestPMCE_Cases_RFC7692(t *testing.T) {
	full := deflateServer{mode: handshake.CompressionFull}.start(t)
	// Each case is 1000 round trips: a few, to keep the test short. (Case
	// patterns match by prefix: "12.*.1" would select 12.1.10 too.)
	res := runCases(t, full, "12.1.1", "12.2.1", "13.3.1", "13.7.1", "12.1.11")
	for id, r := range res {
		checkVerdicts(t, res, id, OK, OK)
		if r.TrafficStats == nil || r.Result != "Ok, received all echo'ed messages in time." {
			t.Errorf("case %s: %q, traffic stats %v", id, r.Result, r.TrafficStats)
			continue
		}
		ts := r.TrafficStats.(map[string]any)
		if ts["outgoingWebSocketMessages"] != int64(1000) || ts["incomingWebSocketMessages"] != int64(1000) {
			t.Errorf("case %s: traffic %v", id, ts)
		}
		// Compressed both ways: fewer octets in frames than in messages
		// (the JSON and HTML payloads compress well even in 16-byte
		// messages once the window holds earlier ones).
		if ps := r.ID[:4]; ps == "12.1" || ps == "13.1" {
			if in := ts["incomingCompressionRatio"].(float64); in >= 1 {
				t.Errorf("case %s: incoming compression ratio %.3f", id, in)
			}
		}
		if !r.ReportCompressionRatio || !r.ReportTime {
			t.Errorf("case %s: report switches", id)
		}
	}
	if got := res["12.1.11"].TxFrameStats["0"]; got == 0 {
		t.Error("12.1.11 sent no continuation frames")
	}
	if !strings.Contains(res["13.7.1"].HTTPRequest, "Sec-WebSocket-Extensions: "+offersHeader(Lookup("13.7.1").DeflateOffers)+"\r\n") {
		t.Errorf("13.7.1 request:\n%s", res["13.7.1"].HTTPRequest)
	}

	nct := deflateServer{mode: handshake.CompressionNoContextTakeover}.start(t)
	res = runCases(t, nct, "13.6.1")
	checkVerdicts(t, res, "13.6.1", OK, OK)

	// RFC 7692 §5: declining is allowed; Autobahn calls it UNIMPLEMENTED.
	off := deflateServer{mode: handshake.CompressionOff}.start(t)
	res = runCases(t, off, "12.2.1", "13.7.1")
	for id, r := range res {
		checkVerdicts(t, res, id, Unimplemented, OK)
		if r.TxFrameStats["2"]+r.TxFrameStats["1"] != 0 {
			t.Errorf("case %s sent data without compression", id)
		}
	}

	// Answers that accept no offer fail the opening handshake.
	for _, tc := range []struct{ id, response string }{
		{"13.3.1", "permessage-deflate; server_max_window_bits=10"},
		{"13.2.1", "permessage-deflate"},
		{"12.1.1", "permessage-deflate; x=1"},
		{"12.1.1", "permessage-deflate; client_max_window_bits"},
		{"12.1.1", "x-webkit-deflate-frame"},
	} {
		url := deflateServer{response: tc.response}.start(t)
		res = runCases(t, url, tc.id)
		checkVerdicts(t, res, tc.id, Failed, Failed)
		if r := res[tc.id]; !strings.Contains(r.ResultClose, "never completed") || r.WasNotCleanReason == nil {
			t.Errorf("%s with %q: %s / %v", tc.id, tc.response, r.ResultClose, r.WasNotCleanReason)
		}
	}

	corrupt := deflateServer{mode: handshake.CompressionFull, corrupt: true}.start(t)
	res = runCases(t, corrupt, "12.2.1")
	checkVerdicts(t, res, "12.2.1", Failed, OK)
	if r := res["12.2.1"]; !strings.Contains(r.Result, "contents differs") {
		t.Errorf("corrupt echo: %s", r.Result)
	}

	garbage := deflateServer{mode: handshake.CompressionFull, garbage: true}.start(t)
	res = runCases(t, garbage, "12.1.1")
	// The fuzzer fails the connection with 1007 and the server echoes the
	// code: WRONG CODE for the close.
	checkVerdicts(t, res, "12.1.1", Failed, WrongCode)
	if r := res["12.1.1"]; !strings.HasPrefix(r.Result, "Could not decompress") || !r.FailedByMe || r.LocalCloseCode == nil || *r.LocalCloseCode != 1007 {
		t.Errorf("undecodable echo: %s, failedByMe %v, local code %v", r.Result, r.FailedByMe, r.LocalCloseCode)
	}

	// A server that announces a 512-byte window but compresses with 32 KiB:
	// its back references reach beyond the window the fuzzer keeps
	// (RFC 7692 §7.1.2.1).
	wide := deflateServer{response: "permessage-deflate; server_max_window_bits=9", params: frame.DeflateParams{}}.start(t)
	res = runCases(t, wide, "13.3.2")
	checkVerdicts(t, res, "13.3.2", Failed, WrongCode)
	if r := res["13.3.2"]; !strings.Contains(r.Result, "window") {
		t.Errorf("window violation: %s", r.Result)
	}
}

// The fuzzer as the server answers offers with Autobahn's accept rules
// (its SERVER_ACCEPT functions) and PerMessageDeflateOfferAccept's
// parameter order (RFC 7692 §7.1).
func TestServerDeflate_AutobahnAcceptRules_RFC7692_7_1(t *testing.T) {
	exts := func(offers []DeflateOffer) []handshake.Extension {
		out := make([]handshake.Extension, len(offers))
		for i, o := range offers {
			out[i] = o.Extension()
		}
		return out
	}
	tests := []struct {
		id     string
		offers []handshake.Extension
		want   string
		params frame.DeflateParams
	}{
		{"12.3.1", exts(Lookup("12.3.1").DeflateOffers), "permessage-deflate", frame.DeflateParams{}},
		{"13.1.1", exts(Lookup("13.1.1").DeflateOffers), "permessage-deflate", frame.DeflateParams{}},
		{"13.2.1", exts(Lookup("13.2.1").DeflateOffers), "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
			frame.DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true}},
		{"13.3.1", exts(Lookup("13.3.1").DeflateOffers), "permessage-deflate; server_max_window_bits=9; client_max_window_bits=9",
			frame.DeflateParams{ServerMaxWindowBits: 9, ClientMaxWindowBits: 9}},
		{"13.4.1", exts(Lookup("13.4.1").DeflateOffers), "permessage-deflate; server_max_window_bits=15; client_max_window_bits=15",
			frame.DeflateParams{ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}},
		{"13.6.1", exts(Lookup("13.6.1").DeflateOffers), "permessage-deflate; server_no_context_takeover; server_max_window_bits=15; client_no_context_takeover; client_max_window_bits=15",
			frame.DeflateParams{ServerNoContextTakeover: true, ServerMaxWindowBits: 15, ClientNoContextTakeover: true, ClientMaxWindowBits: 15}},
		{"13.7.1", exts(Lookup("13.7.1").DeflateOffers), "permessage-deflate; server_no_context_takeover; server_max_window_bits=9; client_no_context_takeover; client_max_window_bits=9",
			frame.DeflateParams{ServerNoContextTakeover: true, ServerMaxWindowBits: 9, ClientNoContextTakeover: true, ClientMaxWindowBits: 9}},
		// accept7 falls back to accept2 when no offer takes window bits.
		{"13.7.1", []handshake.Extension{{Name: "permessage-deflate"}}, "permessage-deflate; client_no_context_takeover",
			frame.DeflateParams{ClientNoContextTakeover: true}},
		// accept3 needs an offer with client_max_window_bits.
		{"13.3.1", []handshake.Extension{{Name: "permessage-deflate"}}, "", frame.DeflateParams{}},
		// Other extensions are ignored; other cases decline.
		{"12.1.1", []handshake.Extension{{Name: "x-webkit-deflate-frame"}}, "", frame.DeflateParams{}},
		{"1.1.1", exts(Lookup("13.1.1").DeflateOffers), "", frame.DeflateParams{}},
	}
	for _, tc := range tests {
		resp, p, err := ServerDeflate(Lookup(tc.id), tc.offers)
		if err != nil || resp != tc.want || (p == nil) != (tc.want == "") || (p != nil && *p != tc.params) {
			t.Errorf("%s %v: %q %+v %v, want %q %+v", tc.id, tc.offers, resp, p, err, tc.want, tc.params)
		}
	}
	for _, bad := range []string{"server_max_window_bits=7", "server_max_window_bits", "client_max_window_bits=16", "x", "server_no_context_takeover=1", "client_no_context_takeover; client_no_context_takeover"} {
		exts, err := handshake.ParseExtensions([]string{"permessage-deflate; " + bad})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := ServerDeflate(Lookup("12.1.1"), exts); err == nil {
			t.Errorf("offer %q accepted", bad)
		}
	}
}
