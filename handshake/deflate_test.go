package handshake

import (
	"fmt"
	"testing"

	"github.com/ws6455/ws6455/frame"
)

func mustParseExt(t *testing.T, s string) []Extension {
	t.Helper()
	exts, err := ParseExtensions([]string{s})
	if err != nil {
		t.Fatalf("ParseExtensions(%q): %v", s, err)
	}
	return exts
}

// TestNegotiateDeflate_RFC7692_5_7_1 covers the server's choice for every
// parameter of RFC 7692 §7.1, the decline rules of §5 (unknown, repeated
// or malformed parameters decline that offer only) and multiple offers.
func TestNegotiateDeflate_RFC7692_5_7_1(t *testing.T) {
	full := DeflateConfig{Mode: CompressionFull}
	nct := DeflateConfig{Mode: CompressionNoContextTakeover}
	const none = "<declined>"
	tests := []struct {
		name   string
		cfg    DeflateConfig
		offers string
		want   string // response element, or none
		params frame.DeflateParams
	}{
		{"plain", full, "permessage-deflate", "permessage-deflate", frame.DeflateParams{}},
		{"off", DeflateConfig{}, "permessage-deflate", none, frame.DeflateParams{}},
		{"no offer", full, "", none, frame.DeflateParams{}},
		{"other extension", full, "x-webkit-deflate-frame", none, frame.DeflateParams{}},
		{"name case", full, "PerMessage-Deflate", "permessage-deflate", frame.DeflateParams{}},

		// §7.1.1.1 server_no_context_takeover: honored when offered.
		{"7.1.1.1 offered", full, "permessage-deflate; server_no_context_takeover",
			"permessage-deflate; server_no_context_takeover", frame.DeflateParams{ServerNoContextTakeover: true}},
		{"7.1.1.1 with value", full, "permessage-deflate; server_no_context_takeover=1", none, frame.DeflateParams{}},
		{"7.1.1.1 quoted value", full, `permessage-deflate; server_no_context_takeover="x"`, none, frame.DeflateParams{}},
		{"7.1.1.1 repeated", full, "permessage-deflate; server_no_context_takeover; server_no_context_takeover", none, frame.DeflateParams{}},
		{"7.1.1.1 name case", full, "permessage-deflate; Server_No_Context_Takeover",
			"permessage-deflate; server_no_context_takeover", frame.DeflateParams{ServerNoContextTakeover: true}},

		// §7.1.1.2 client_no_context_takeover: echoed.
		{"7.1.1.2 offered", full, "permessage-deflate; client_no_context_takeover",
			"permessage-deflate; client_no_context_takeover", frame.DeflateParams{ClientNoContextTakeover: true}},
		{"7.1.1.2 with value", full, "permessage-deflate; client_no_context_takeover=true", none, frame.DeflateParams{}},
		{"7.1.1.2 repeated", full, "permessage-deflate; client_no_context_takeover; client_no_context_takeover", none, frame.DeflateParams{}},

		// §7.1.2.1 server_max_window_bits: value 8..15 required; answered
		// with the same or a smaller value.
		{"7.1.2.1 8", full, "permessage-deflate; server_max_window_bits=8",
			"permessage-deflate; server_max_window_bits=8", frame.DeflateParams{ServerMaxWindowBits: 8}},
		{"7.1.2.1 15", full, "permessage-deflate; server_max_window_bits=15",
			"permessage-deflate; server_max_window_bits=15", frame.DeflateParams{ServerMaxWindowBits: 15}},
		{"7.1.2.1 quoted", full, `permessage-deflate; server_max_window_bits="10"`,
			"permessage-deflate; server_max_window_bits=10", frame.DeflateParams{ServerMaxWindowBits: 10}},
		{"7.1.2.1 no value", full, "permessage-deflate; server_max_window_bits", none, frame.DeflateParams{}},
		{"7.1.2.1 7", full, "permessage-deflate; server_max_window_bits=7", none, frame.DeflateParams{}},
		{"7.1.2.1 16", full, "permessage-deflate; server_max_window_bits=16", none, frame.DeflateParams{}},
		{"7.1.2.1 leading zero", full, "permessage-deflate; server_max_window_bits=09", none, frame.DeflateParams{}},
		{"7.1.2.1 not a number", full, "permessage-deflate; server_max_window_bits=ten", none, frame.DeflateParams{}},
		{"7.1.2.1 sign", full, "permessage-deflate; server_max_window_bits=+9", none, frame.DeflateParams{}},
		{"7.1.2.1 repeated", full, "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10", none, frame.DeflateParams{}},
		{"7.1.2.1 capped by server", DeflateConfig{Mode: CompressionFull, ServerMaxWindowBits: 10}, "permessage-deflate; server_max_window_bits=12",
			"permessage-deflate; server_max_window_bits=10", frame.DeflateParams{ServerMaxWindowBits: 10}},
		{"7.1.2.1 below server cap", DeflateConfig{Mode: CompressionFull, ServerMaxWindowBits: 10}, "permessage-deflate; server_max_window_bits=9",
			"permessage-deflate; server_max_window_bits=9", frame.DeflateParams{ServerMaxWindowBits: 9}},
		{"7.1.2.1 server cap unasked", DeflateConfig{Mode: CompressionFull, ServerMaxWindowBits: 11}, "permessage-deflate",
			"permessage-deflate; server_max_window_bits=11", frame.DeflateParams{ServerMaxWindowBits: 11}},
		{"7.1.2.1 server cap 15 unasked", DeflateConfig{Mode: CompressionFull, ServerMaxWindowBits: 15}, "permessage-deflate",
			"permessage-deflate", frame.DeflateParams{}},

		// §7.1.2.2 client_max_window_bits: optional value 8..15; in the
		// response only if offered.
		{"7.1.2.2 no value", full, "permessage-deflate; client_max_window_bits", "permessage-deflate", frame.DeflateParams{}},
		{"7.1.2.2 value echoed", full, "permessage-deflate; client_max_window_bits=10",
			"permessage-deflate; client_max_window_bits=10", frame.DeflateParams{ClientMaxWindowBits: 10}},
		{"7.1.2.2 7", full, "permessage-deflate; client_max_window_bits=7", none, frame.DeflateParams{}},
		{"7.1.2.2 16", full, "permessage-deflate; client_max_window_bits=16", none, frame.DeflateParams{}},
		{"7.1.2.2 leading zero", full, "permessage-deflate; client_max_window_bits=010", none, frame.DeflateParams{}},
		{"7.1.2.2 repeated", full, "permessage-deflate; client_max_window_bits; client_max_window_bits=10", none, frame.DeflateParams{}},
		{"7.1.2.2 server asks", DeflateConfig{Mode: CompressionFull, ClientMaxWindowBits: 10}, "permessage-deflate; client_max_window_bits",
			"permessage-deflate; client_max_window_bits=10", frame.DeflateParams{ClientMaxWindowBits: 10}},
		{"7.1.2.2 server asks less", DeflateConfig{Mode: CompressionFull, ClientMaxWindowBits: 10}, "permessage-deflate; client_max_window_bits=12",
			"permessage-deflate; client_max_window_bits=10", frame.DeflateParams{ClientMaxWindowBits: 10}},
		{"7.1.2.2 client already less", DeflateConfig{Mode: CompressionFull, ClientMaxWindowBits: 10}, "permessage-deflate; client_max_window_bits=9",
			"permessage-deflate; client_max_window_bits=9", frame.DeflateParams{ClientMaxWindowBits: 9}},
		{"7.1.2.2 server cannot ask", DeflateConfig{Mode: CompressionFull, ClientMaxWindowBits: 10}, "permessage-deflate",
			"permessage-deflate", frame.DeflateParams{}},

		// §5: unknown parameters decline the offer.
		{"5 unknown param", full, "permessage-deflate; foo", none, frame.DeflateParams{}},
		{"5 unknown param with value", full, "permessage-deflate; mem_level=9", none, frame.DeflateParams{}},

		// Multiple offers: the first acceptable one wins.
		{"offers skip bad", full, "permessage-deflate; foo, permessage-deflate; server_max_window_bits=10",
			"permessage-deflate; server_max_window_bits=10", frame.DeflateParams{ServerMaxWindowBits: 10}},
		{"offers first wins", full, "permessage-deflate; server_max_window_bits=10, permessage-deflate",
			"permessage-deflate; server_max_window_bits=10", frame.DeflateParams{ServerMaxWindowBits: 10}},
		{"offers skip other ext", full, "x-webkit-deflate-frame, permessage-deflate; client_no_context_takeover",
			"permessage-deflate; client_no_context_takeover", frame.DeflateParams{ClientNoContextTakeover: true}},
		{"offers all bad", full, "permessage-deflate; server_max_window_bits=1, permessage-deflate; x", none, frame.DeflateParams{}},
		// Autobahn 12.x/13.x accept7-style list.
		{"offers autobahn", full, "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=9, " +
			"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover, " +
			"permessage-deflate; client_no_context_takeover; client_max_window_bits",
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9",
			frame.DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 9}},

		// CompressionNoContextTakeover adds both no_context_takeover params.
		{"nct plain", nct, "permessage-deflate",
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
			frame.DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true}},
		{"nct with bits", nct, "permessage-deflate; server_max_window_bits=10; client_max_window_bits=11",
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11",
			frame.DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 10, ClientMaxWindowBits: 11}},
		{"nct still declines bad", nct, "permessage-deflate; client_max_window_bits=0", none, frame.DeflateParams{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			offers, err := ParseExtensions([]string{tt.offers})
			if err != nil {
				t.Fatal(err)
			}
			resp, params, ok := NegotiateDeflate(offers, tt.cfg)
			if tt.want == none {
				if ok || params != nil {
					t.Fatalf("accepted: %v %+v", resp, params)
				}
				return
			}
			if !ok || params == nil {
				t.Fatalf("declined, want %q", tt.want)
			}
			if got := resp.String(); got != tt.want {
				t.Errorf("response %q, want %q", got, tt.want)
			}
			if *params != tt.params {
				t.Errorf("params %+v, want %+v", *params, tt.params)
			}
		})
	}
}

// TestNegotiateDeflate_Autobahn13 checks the offers of Autobahn section 13
// (server_max_window_bits 8..15, with and without no_context_takeover, and
// client_max_window_bits without a value): all must be accepted with the
// window echoed, and the answer must pass a client's checks.
func TestNegotiateDeflate_Autobahn13(t *testing.T) {
	for bits := 8; bits <= 15; bits++ {
		for _, nct := range []bool{false, true} {
			offer := DeflateOffer{ServerNoContextTakeover: nct, ClientNoContextTakeover: true, ServerMaxWindowBits: bits}
			for _, mode := range []CompressionMode{CompressionFull, CompressionNoContextTakeover} {
				resp, params, ok := NegotiateDeflate([]Extension{offer.Extension()}, DeflateConfig{Mode: mode})
				if !ok || params.ServerMaxWindowBits != bits {
					t.Fatalf("offer %q mode %v: ok=%v params=%+v", offer.Extension(), mode, ok, params)
				}
				got, err := offer.Accept(resp)
				if err != nil || *got != *params {
					t.Fatalf("offer %q mode %v: client sees %+v, %v; server %+v", offer.Extension(), mode, got, err, params)
				}
			}
		}
	}
}

func TestDeflateOffer_Extension_RFC7692_7_1(t *testing.T) {
	tests := []struct {
		offer DeflateOffer
		want  string
	}{
		{DeflateOffer{}, "permessage-deflate; client_max_window_bits"},
		{DeflateOffer{ClientMaxWindowBits: 12}, "permessage-deflate; client_max_window_bits=12"},
		{DeflateOffer{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 9},
			"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=9"},
		{DeflateOffer{OmitClientMaxWindowBits: true}, "permessage-deflate"},
		{DeflateOffer{OmitClientMaxWindowBits: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 10},
			"permessage-deflate; client_no_context_takeover; server_max_window_bits=10"},
	}
	for _, tt := range tests {
		if got := tt.offer.Extension().String(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.offer, got, tt.want)
		}
	}
	if (DeflateOffer{ServerMaxWindowBits: 7}).Validate() == nil || (DeflateOffer{ClientMaxWindowBits: 16}).Validate() == nil {
		t.Error("Validate accepts bad window bits")
	}
	if (DeflateOffer{OmitClientMaxWindowBits: true, ClientMaxWindowBits: 10}).Validate() == nil {
		t.Error("Validate accepts client_max_window_bits both omitted and set")
	}
}

// TestDeflateOffer_Accept_RFC7692_5_7_1 covers the client's checks of a
// server's response.
func TestDeflateOffer_Accept_RFC7692_5_7_1(t *testing.T) {
	const fail = "fail"
	tests := []struct {
		name  string
		offer DeflateOffer
		resp  string
		want  any // frame.DeflateParams or fail
	}{
		{"plain", DeflateOffer{}, "permessage-deflate", frame.DeflateParams{}},
		{"wrong name", DeflateOffer{}, "x-deflate", fail},

		// §7.1.1.1: the server may add server_no_context_takeover; must
		// agree when asked.
		{"7.1.1.1 unasked", DeflateOffer{}, "permessage-deflate; server_no_context_takeover", frame.DeflateParams{ServerNoContextTakeover: true}},
		{"7.1.1.1 asked", DeflateOffer{ServerNoContextTakeover: true}, "permessage-deflate; server_no_context_takeover", frame.DeflateParams{ServerNoContextTakeover: true}},
		{"7.1.1.1 asked ignored", DeflateOffer{ServerNoContextTakeover: true}, "permessage-deflate", fail},
		{"7.1.1.1 value", DeflateOffer{}, "permessage-deflate; server_no_context_takeover=1", fail},

		// §7.1.1.2: the server may always send client_no_context_takeover.
		{"7.1.1.2 unasked", DeflateOffer{}, "permessage-deflate; client_no_context_takeover", frame.DeflateParams{ClientNoContextTakeover: true}},
		{"7.1.1.2 promised", DeflateOffer{ClientNoContextTakeover: true}, "permessage-deflate", frame.DeflateParams{ClientNoContextTakeover: true}},
		{"7.1.1.2 value", DeflateOffer{}, `permessage-deflate; client_no_context_takeover="a"`, fail},

		// §7.1.2.1: server_max_window_bits <= what we asked; present if asked.
		{"7.1.2.1 unasked", DeflateOffer{}, "permessage-deflate; server_max_window_bits=12", frame.DeflateParams{ServerMaxWindowBits: 12}},
		{"7.1.2.1 same", DeflateOffer{ServerMaxWindowBits: 10}, "permessage-deflate; server_max_window_bits=10", frame.DeflateParams{ServerMaxWindowBits: 10}},
		{"7.1.2.1 smaller", DeflateOffer{ServerMaxWindowBits: 10}, "permessage-deflate; server_max_window_bits=8", frame.DeflateParams{ServerMaxWindowBits: 8}},
		{"7.1.2.1 larger", DeflateOffer{ServerMaxWindowBits: 10}, "permessage-deflate; server_max_window_bits=11", fail},
		{"7.1.2.1 missing", DeflateOffer{ServerMaxWindowBits: 10}, "permessage-deflate", fail},
		{"7.1.2.1 no value", DeflateOffer{}, "permessage-deflate; server_max_window_bits", fail},
		{"7.1.2.1 16", DeflateOffer{}, "permessage-deflate; server_max_window_bits=16", fail},
		{"7.1.2.1 quoted", DeflateOffer{}, `permessage-deflate; server_max_window_bits="9"`, frame.DeflateParams{ServerMaxWindowBits: 9}},

		// §7.1.2.2: client_max_window_bits needs a value in a response, no
		// larger than ours.
		{"7.1.2.2 value", DeflateOffer{}, "permessage-deflate; client_max_window_bits=9", frame.DeflateParams{ClientMaxWindowBits: 9}},
		{"7.1.2.2 no value", DeflateOffer{}, "permessage-deflate; client_max_window_bits", fail},
		{"7.1.2.2 7", DeflateOffer{}, "permessage-deflate; client_max_window_bits=7", fail},
		{"7.1.2.2 smaller than ours", DeflateOffer{ClientMaxWindowBits: 12}, "permessage-deflate; client_max_window_bits=10", frame.DeflateParams{ClientMaxWindowBits: 10}},
		{"7.1.2.2 larger than ours", DeflateOffer{ClientMaxWindowBits: 12}, "permessage-deflate; client_max_window_bits=13", fail},
		{"7.1.2.2 ours kept", DeflateOffer{ClientMaxWindowBits: 12}, "permessage-deflate", frame.DeflateParams{ClientMaxWindowBits: 12}},
		// §7.1.2.2: "If a received extension negotiation offer doesn't
		// have the client_max_window_bits extension parameter, the
		// corresponding extension negotiation response to the offer MUST
		// NOT include the client_max_window_bits extension parameter."
		{"7.1.2.2 not offered", DeflateOffer{OmitClientMaxWindowBits: true}, "permessage-deflate; client_max_window_bits=10", fail},
		{"7.1.2.2 not offered 15", DeflateOffer{OmitClientMaxWindowBits: true}, "permessage-deflate; client_max_window_bits=15", fail},
		{"7.1.2.2 not offered, absent", DeflateOffer{OmitClientMaxWindowBits: true}, "permessage-deflate; server_max_window_bits=10",
			frame.DeflateParams{ServerMaxWindowBits: 10}},

		// §5: unknown or repeated parameters fail the connection.
		{"5 unknown", DeflateOffer{}, "permessage-deflate; foo", fail},
		{"5 repeated", DeflateOffer{}, "permessage-deflate; server_no_context_takeover; server_no_context_takeover", fail},
		{"5 repeated bits", DeflateOffer{}, "permessage-deflate; client_max_window_bits=9; client_max_window_bits=9", fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exts := mustParseExt(t, tt.resp)
			got, err := tt.offer.Accept(exts[0])
			if tt.want == fail {
				if err == nil {
					t.Fatalf("accepted %q as %+v", tt.resp, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *got != tt.want.(frame.DeflateParams) {
				t.Fatalf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

// TestDeflate_RoundTrip: for every offer and server policy, the server's
// answer passes the client's checks and both ends agree on the parameters.
func TestDeflate_RoundTrip_RFC7692_7_1(t *testing.T) {
	bitsChoices := []int{0, 8, 10, 15}
	n := 0
	for _, snct := range []bool{false, true} {
		for _, cnct := range []bool{false, true} {
			for _, sb := range bitsChoices {
				// -1: OmitClientMaxWindowBits.
				for _, cb := range append([]int{-1}, bitsChoices...) {
					offer := DeflateOffer{ServerNoContextTakeover: snct, ClientNoContextTakeover: cnct, ServerMaxWindowBits: sb, ClientMaxWindowBits: max(cb, 0), OmitClientMaxWindowBits: cb < 0}
					for _, mode := range []CompressionMode{CompressionFull, CompressionNoContextTakeover} {
						for _, csb := range bitsChoices {
							for _, ccb := range bitsChoices {
								cfg := DeflateConfig{Mode: mode, ServerMaxWindowBits: csb, ClientMaxWindowBits: ccb}
								name := fmt.Sprintf("%+v/%+v", offer, cfg)
								resp, sp, ok := NegotiateDeflate([]Extension{offer.Extension()}, cfg)
								if !ok {
									t.Fatalf("%s: declined", name)
								}
								cp, err := offer.Accept(resp)
								if err != nil {
									t.Fatalf("%s: client rejects %q: %v", name, resp, err)
								}
								if *cp != *sp {
									t.Fatalf("%s: client %+v, server %+v", name, *cp, *sp)
								}
								n++
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d combinations", n)
}

// TestDefaultDeflateConfig_RFC7692_7_1_1_2: the default policy answers
// every offer browsers and common clients send with both
// *_no_context_takeover parameters. RFC 7692 §7.1.1.2 lets the server send
// client_no_context_takeover although the client did not offer it, and
// §7.1.1.1 lets it add server_no_context_takeover; no window bits are
// asked, so client_max_window_bits stays unused (§7.1.2.2).
func TestDefaultDeflateConfig_RFC7692_7_1_1_2(t *testing.T) {
	want := frame.DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
	for _, offer := range []string{
		"permessage-deflate",                         // Firefox, Safari
		"permessage-deflate; client_max_window_bits", // Chromium, Node's ws
		"permessage-deflate; client_no_context_takeover",
		"permessage-deflate; server_max_window_bits=10; client_max_window_bits",
	} {
		resp, params, ok := NegotiateDeflate(mustParseExt(t, offer), DefaultDeflateConfig())
		if !ok {
			t.Fatalf("%q declined", offer)
		}
		got := *params
		got.ServerMaxWindowBits = 0 // the client's own cap, echoed
		if got != want {
			t.Errorf("%q: params %+v, want %+v", offer, *params, want)
		}
		// The client checks the answer as our Dialer does.
		if _, err := (DeflateOffer{}).Accept(resp); err != nil && offer == "permessage-deflate; client_max_window_bits" {
			t.Errorf("%q: our client rejects the answer: %v", offer, err)
		}
	}
}
