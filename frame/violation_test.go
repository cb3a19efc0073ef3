package frame

// Streams a Conn must refuse: for each, a raw peer sends the bytes (and
// nothing more) and the Conn must _Fail the WebSocket Connection_
// (RFC 6455 §7.1.7): send a close frame with the right status code, close
// the TCP connection, and return a local *CloseError with that code from
// ReadMessage. Because the peer never sends more than the case's bytes,
// every case also shows that the Conn decides without waiting for the rest
// of a frame (fail fast): a header that declares a huge length is refused
// before any payload, invalid UTF-8 in the middle of a frame is refused
// while the rest of the frame is still unsent.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
)

// badStream is one stream that must fail the connection with code.
type badStream struct {
	name  string
	roles []Role               // roles of the Conn under test; nil means both
	cfg   Config               // Role is set by the runner
	wire  func(p *peer) []byte // the bytes the peer sends
	code  CloseCode
}

var bothRoles = []Role{RoleServer, RoleClient}

// runBadStreams runs every case over every transport and role.
func runBadStreams(t *testing.T, cases []badStream) {
	t.Helper()
	forEachTransport(t, func(t *testing.T, tr transport) {
		for _, bc := range cases {
			roles := bc.roles
			if roles == nil {
				roles = bothRoles
			}
			for _, role := range roles {
				t.Run(role.String()+"/"+bc.name, func(t *testing.T) {
					runBadStream(t, tr, role, bc)
				})
			}
		}
	})
}

func runBadStream(t *testing.T, tr transport, role Role, bc badStream) {
	mine, theirs := sides(t, tr, role)
	cfg := bc.cfg
	cfg.Role = role
	conn := newTestConn(t, mine, cfg)
	p := newPeer(t, theirs, role.other())
	results := readLoop(conn)
	werr := p.writeAsync(bc.wire(p))

	// The Conn's close frame arrives although the peer sent nothing after
	// the offending bytes, and then the Conn closes TCP (§7.1.1: the side
	// that fails the connection closes; for a server, first).
	// Pongs owed for pings before the violation may come first.
	p.skipPongs()
	p.expectClose(bc.code)
	p.expectEOF()
	p.nc.Close()
	for {
		r := recv(t, results)
		if r.err != nil {
			checkCloseError(t, r.err, bc.code, true)
			break
		}
	}
	waitDone(t, conn)
	<-werr // may fail: the Conn closed the connection under the writer
}

// data is the peer's frame with the given flags and payload.
func data(fin bool, op Opcode, s string) func(p *peer) []byte {
	return func(p *peer) []byte { return p.frame(fin, op, []byte(s)) }
}

// concat joins wire builders.
func concat(parts ...func(p *peer) []byte) func(p *peer) []byte {
	return func(p *peer) []byte {
		var b []byte
		for _, f := range parts {
			b = append(b, f(p)...)
		}
		return b
	}
}

// prefix keeps the first n bytes of a stream (n < 0: drop -n bytes from
// the end): the rest is never sent.
func prefix(n int, f func(p *peer) []byte) func(p *peer) []byte {
	return func(p *peer) []byte {
		b := f(p)
		if n < 0 {
			return b[:len(b)+n]
		}
		return b[:n]
	}
}

// headerOnly keeps the frame header of a stream: no payload is sent.
func headerOnly(f func(p *peer) []byte) func(p *peer) []byte {
	return func(p *peer) []byte {
		b := f(p)
		_, n, err := ParseHeader(b)
		if err != nil {
			panic(err)
		}
		return b[:n]
	}
}

// rawHeader builds a header by hand with an explicit 7-bit length field and
// extended length bytes, masked as the peer's role requires; payload bytes
// follow (masked too).
func rawHeader(b0 byte, len7 byte, ext []byte, payload []byte) func(p *peer) []byte {
	return func(p *peer) []byte {
		out := []byte{b0, len7}
		out = append(out, ext...)
		if p.role == RoleClient {
			out[1] |= 0x80
			key := [4]byte{0x11, 0x22, 0x33, 0x44}
			out = append(out, key[:]...)
			m := bytes.Clone(payload)
			maskBytewise(key, 0, m)
			return append(out, m...)
		}
		return append(out, payload...)
	}
}

func be16(n uint16) []byte { return binary.BigEndian.AppendUint16(nil, n) }
func be64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// TestReadMessage_RFC6455_5_1_ServerRejectsUnmaskedFrame: "The server MUST
// close the connection upon receiving a frame that is not masked. In this
// case, a server MAY send a Close frame with a status code of 1002".
func TestReadMessage_RFC6455_5_1_ServerRejectsUnmaskedFrame(t *testing.T) {
	unmasked := func(op Opcode, fin bool, s string) func(*peer) []byte {
		return func(*peer) []byte { return encodeFrame(Header{Fin: fin, Opcode: op}, []byte(s)) }
	}
	server := []Role{RoleServer}
	runBadStreams(t, []badStream{
		{name: "text", roles: server, wire: unmasked(OpText, true, "hi"), code: CloseProtocolError},
		{name: "binary-empty", roles: server, wire: unmasked(OpBinary, true, ""), code: CloseProtocolError},
		{name: "ping", roles: server, wire: unmasked(OpPing, true, "p"), code: CloseProtocolError},
		{name: "close", roles: server, wire: unmasked(OpClose, true, "\x03\xe8"), code: CloseProtocolError},
		{name: "continuation-after-masked-start", roles: server,
			wire: concat(data(false, OpText, "a"), unmasked(OpContinuation, true, "b")), code: CloseProtocolError},
	})
}

// TestReadMessage_RFC6455_5_1_ClientRejectsMaskedFrame: "A client MUST
// close a connection if it detects a masked frame. In this case, it MAY use
// the status code 1002".
func TestReadMessage_RFC6455_5_1_ClientRejectsMaskedFrame(t *testing.T) {
	masked := func(op Opcode, s string) func(*peer) []byte {
		return func(*peer) []byte {
			return encodeFrame(Header{Fin: true, Opcode: op, Masked: true, Mask: [4]byte{1, 2, 3, 4}}, []byte(s))
		}
	}
	client := []Role{RoleClient}
	runBadStreams(t, []badStream{
		{name: "text", roles: client, wire: masked(OpText, "hi"), code: CloseProtocolError},
		{name: "binary", roles: client, wire: masked(OpBinary, "\x00"), code: CloseProtocolError},
		{name: "pong", roles: client, wire: masked(OpPong, ""), code: CloseProtocolError},
		{name: "close", roles: client, wire: masked(OpClose, "\x03\xe8"), code: CloseProtocolError},
		// A zero masking key leaves the payload as it is, but the MASK bit
		// is what counts.
		{name: "zero-key", roles: client, wire: func(*peer) []byte {
			return encodeFrame(Header{Fin: true, Opcode: OpText, Masked: true}, []byte("hi"))
		}, code: CloseProtocolError},
	})
}

// TestReadMessage_RFC6455_5_2_ReservedOpcode: "If an unknown opcode is
// received, the receiving endpoint MUST _Fail the WebSocket Connection_."
// 0x3-0x7 are reserved non-control opcodes, 0xB-0xF reserved control ones.
func TestReadMessage_RFC6455_5_2_ReservedOpcode(t *testing.T) {
	var cases []badStream
	for op := range Opcode(16) {
		if !op.IsReserved() {
			continue
		}
		cases = append(cases,
			badStream{name: fmt.Sprintf("0x%X", byte(op)), wire: data(true, op, "x"), code: CloseProtocolError},
			badStream{name: fmt.Sprintf("0x%X-inside-fragmented", byte(op)),
				wire: concat(data(false, OpBinary, "a"), data(true, op, "")), code: CloseProtocolError},
		)
	}
	runBadStreams(t, cases)
}

// TestReadMessage_RFC6455_5_2_ReservedBits: RSV1-3 "MUST be 0 unless an
// extension is negotiated that defines meanings for non-zero values. If a
// nonzero value is received and none of the negotiated extensions defines
// the meaning of such a nonzero value, the receiving endpoint MUST _Fail
// the WebSocket Connection_."
func TestReadMessage_RFC6455_5_2_ReservedBits(t *testing.T) {
	rsv := func(fin bool, bits byte, op Opcode, s string) func(*peer) []byte {
		return func(p *peer) []byte { return p.frameRsv(fin, bits, op, []byte(s)) }
	}
	runBadStreams(t, []badStream{
		{name: "RSV1-text", wire: rsv(true, RSV1, OpText, "x"), code: CloseProtocolError},
		{name: "RSV2-binary", wire: rsv(true, RSV2, OpBinary, "x"), code: CloseProtocolError},
		{name: "RSV3-text", wire: rsv(true, RSV3, OpText, ""), code: CloseProtocolError},
		{name: "all-RSV", wire: rsv(true, RSV1|RSV2|RSV3, OpBinary, "x"), code: CloseProtocolError},
		{name: "RSV1-ping", wire: rsv(true, RSV1, OpPing, "x"), code: CloseProtocolError},
		{name: "RSV3-close", wire: rsv(true, RSV3, OpClose, "\x03\xe8"), code: CloseProtocolError},
		{name: "RSV2-continuation", wire: concat(data(false, OpText, "a"), rsv(true, RSV2, OpContinuation, "b")), code: CloseProtocolError},
		// Refused from the header alone: the payload is never sent.
		{name: "RSV1-header-only", wire: headerOnly(rsv(true, RSV1, OpBinary, "0123456789")), code: CloseProtocolError},
	})
}

// TestReadMessage_RFC6455_5_2_NonMinimalLength: "in all cases, the minimal
// number of bytes MUST be used to encode the length, for example, the
// length of a 124-byte-long string can't be encoded as the sequence 126,
// 0, 124."
func TestReadMessage_RFC6455_5_2_NonMinimalLength(t *testing.T) {
	runBadStreams(t, []badStream{
		{name: "RFC-example-126-0-124", wire: rawHeader(0x82, 126, be16(124), make([]byte, 124)), code: CloseProtocolError},
		{name: "16-bit-zero", wire: rawHeader(0x82, 126, be16(0), nil), code: CloseProtocolError},
		{name: "16-bit-125", wire: rawHeader(0x81, 126, be16(125), bytes.Repeat([]byte("a"), 125)), code: CloseProtocolError},
		{name: "64-bit-zero", wire: rawHeader(0x82, 127, be64(0), nil), code: CloseProtocolError},
		{name: "64-bit-125", wire: rawHeader(0x82, 127, be64(125), make([]byte, 125)), code: CloseProtocolError},
		{name: "64-bit-65535-header-only", wire: rawHeader(0x82, 127, be64(65535), nil), code: CloseProtocolError},
		{name: "ping-16-bit-5", wire: rawHeader(0x89, 126, be16(5), []byte("hello")), code: CloseProtocolError},
	})
}

// TestReadMessage_RFC6455_5_2_LengthTopBit: for the 64-bit length "the most
// significant bit MUST be 0".
func TestReadMessage_RFC6455_5_2_LengthTopBit(t *testing.T) {
	runBadStreams(t, []badStream{
		{name: "2^63", wire: rawHeader(0x82, 127, be64(1<<63), nil), code: CloseProtocolError},
		{name: "all-ones", wire: rawHeader(0x82, 127, be64(^uint64(0)), nil), code: CloseProtocolError},
		{name: "2^63+5", wire: rawHeader(0x81, 127, be64(1<<63+5), []byte("hello")), code: CloseProtocolError},
		// Unlimited size: the top bit is refused for itself, not as too big.
		{name: "unlimited-config", cfg: Config{MaxMessageSize: -1}, wire: rawHeader(0x82, 127, be64(1<<63|1<<20), nil), code: CloseProtocolError},
	})
}

// TestReadMessage_RFC6455_5_5_ControlFrameTooLong: "All control frames MUST
// have a payload length of 125 bytes or less and MUST NOT be fragmented."
func TestReadMessage_RFC6455_5_5_ControlFrameTooLong(t *testing.T) {
	runBadStreams(t, []badStream{
		{name: "ping-126", wire: data(true, OpPing, string(make([]byte, 126))), code: CloseProtocolError},
		{name: "pong-200", wire: data(true, OpPong, string(make([]byte, 200))), code: CloseProtocolError},
		{name: "close-126", wire: func(p *peer) []byte {
			return p.frame(true, OpClose, closePayload(1000, string(bytes.Repeat([]byte("r"), 124))))
		}, code: CloseProtocolError},
		{name: "ping-64-bit-header-only", wire: rawHeader(0x89, 127, be64(1<<20), nil), code: CloseProtocolError},
		{name: "ping-126-between-fragments", wire: concat(data(false, OpText, "a"), data(true, OpPing, string(make([]byte, 126)))), code: CloseProtocolError},
	})
}

// TestReadMessage_RFC6455_5_5_FragmentedControlFrame: control frames "MUST
// NOT be fragmented".
func TestReadMessage_RFC6455_5_5_FragmentedControlFrame(t *testing.T) {
	runBadStreams(t, []badStream{
		{name: "ping", wire: data(false, OpPing, "x"), code: CloseProtocolError},
		{name: "pong", wire: data(false, OpPong, ""), code: CloseProtocolError},
		{name: "close", wire: data(false, OpClose, "\x03\xe8"), code: CloseProtocolError},
		{name: "ping-then-continuation", wire: concat(data(false, OpPing, "a"), data(true, OpContinuation, "b")), code: CloseProtocolError},
	})
}

// TestReadMessage_RFC6455_5_4_ContinuationWithoutStart: a fragmented
// message starts with a text or binary frame; "a single message" is "one
// frame with the FIN bit clear and an opcode other than 0, followed by zero
// or more frames with the FIN bit clear and the opcode set to 0, and
// terminated by a single frame with the FIN bit set and an opcode of 0".
func TestReadMessage_RFC6455_5_4_ContinuationWithoutStart(t *testing.T) {
	runBadStreams(t, []badStream{
		{name: "fin", wire: data(true, OpContinuation, "x"), code: CloseProtocolError},
		{name: "not-fin", wire: data(false, OpContinuation, "x"), code: CloseProtocolError},
		{name: "empty", wire: data(true, OpContinuation, ""), code: CloseProtocolError},
		{name: "after-complete-message", wire: concat(data(true, OpText, "done"), data(true, OpContinuation, "x")), code: CloseProtocolError},
		{name: "after-ping", wire: concat(data(true, OpPing, ""), data(true, OpContinuation, "x")), code: CloseProtocolError},
	})
}

// TestReadMessage_RFC6455_5_4_InterleavedMessage: "the fragments of one
// message MUST NOT be interleaved between the fragments of another message
// unless an extension has been negotiated that can interpret the
// interleaving."
func TestReadMessage_RFC6455_5_4_InterleavedMessage(t *testing.T) {
	runBadStreams(t, []badStream{
		{name: "text-in-text", wire: concat(data(false, OpText, "a"), data(true, OpText, "b")), code: CloseProtocolError},
		{name: "binary-in-text", wire: concat(data(false, OpText, "a"), data(false, OpBinary, "b")), code: CloseProtocolError},
		{name: "text-in-binary-after-continuation", wire: concat(data(false, OpBinary, "a"), data(false, OpContinuation, "b"), data(true, OpText, "c")), code: CloseProtocolError},
	})
}

// TestReadMessage_RFC6455_5_5_1_ClosePayload: "If there is a body, the
// first two bytes of the body MUST be a 2-byte unsigned integer ...
// representing a status code with value /code/ defined in Section 7.4."
// A 1-byte body cannot hold one; codes that §7.4.1/§7.4.2 do not allow on
// the wire (below 1000, 1004-1006, 1015, unassigned 1016-2999, above 4999)
// fail the connection with 1002, and a reason that is not UTF-8 with 1007
// (§8.1).
func TestReadMessage_RFC6455_5_5_1_ClosePayload(t *testing.T) {
	closeFrame := func(body []byte) func(*peer) []byte {
		return func(p *peer) []byte { return p.frame(true, OpClose, body) }
	}
	cases := []badStream{
		{name: "one-byte", wire: closeFrame([]byte{0x03}), code: CloseProtocolError},
		{name: "one-byte-zero", wire: closeFrame([]byte{0x00}), code: CloseProtocolError},
	}
	for _, code := range []uint16{0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		cases = append(cases, badStream{name: fmt.Sprintf("code-%d", code), wire: closeFrame(closePayload(code, "")), code: CloseProtocolError})
	}
	for name, reason := range map[string]string{
		"reason-lone-continuation": "\x80",
		"reason-truncated":         "ok\xe2\x82",
		"reason-overlong":          "\xc0\xaf",
		"reason-surrogate":         "\xed\xa0\x80",
		"reason-FF":                "bye\xff",
	} {
		cases = append(cases, badStream{name: name, wire: closeFrame(closePayload(1000, reason)), code: CloseInvalidPayload})
	}
	runBadStreams(t, cases)
}

// TestReadMessage_RFC6455_8_1_InvalidUTF8: "When an endpoint is to
// interpret a byte stream as UTF-8 but finds that the byte stream is not,
// in fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket
// Connection_" (§5.6: text data "MUST be ... UTF-8"; §7.4.1: 1007).
func TestReadMessage_RFC6455_8_1_InvalidUTF8(t *testing.T) {
	txt := func(fin bool, s string) func(*peer) []byte { return data(fin, OpText, s) }
	cont := func(fin bool, s string) func(*peer) []byte { return data(fin, OpContinuation, s) }
	runBadStreams(t, []badStream{
		{name: "FF", wire: txt(true, "\xff"), code: CloseInvalidPayload},
		{name: "lone-continuation", wire: txt(true, "abc\x80def"), code: CloseInvalidPayload},
		{name: "overlong-slash", wire: txt(true, "\xc0\xaf"), code: CloseInvalidPayload},
		{name: "overlong-3-byte", wire: txt(true, "\xe0\x80\xaf"), code: CloseInvalidPayload},
		{name: "surrogate", wire: txt(true, "\xed\xa0\x80"), code: CloseInvalidPayload},
		{name: "above-10FFFF", wire: txt(true, "\xf4\x90\x80\x80"), code: CloseInvalidPayload},
		{name: "F5", wire: txt(true, "\xf5\x80\x80\x80"), code: CloseInvalidPayload},
		{name: "in-the-second-fragment", wire: concat(txt(false, "hello "), cont(true, "w\xffrld")), code: CloseInvalidPayload},
		// A sequence split across fragments: the start in one frame, the
		// byte that cannot continue it in the next.
		{name: "split-across-fragments", wire: concat(txt(false, "κ\xce"), cont(true, "A")), code: CloseInvalidPayload},
		{name: "split-4-byte-across-3-fragments", wire: concat(txt(false, "\xf0"), cont(false, "\x9f"), cont(true, "\x98\x41")), code: CloseInvalidPayload},
		{name: "split-with-ping-between", wire: concat(txt(false, "\xe2\x82"), data(true, OpPing, "p"), cont(true, "\xff")), code: CloseInvalidPayload},
		// A message that ends inside a sequence.
		{name: "ends-mid-sequence", wire: txt(true, "euro \xe2\x82"), code: CloseInvalidPayload},
		{name: "ends-mid-sequence-fragmented", wire: concat(txt(false, "euro "), cont(false, "\xe2"), cont(true, "\x82")), code: CloseInvalidPayload},
		{name: "ends-mid-sequence-empty-last", wire: concat(txt(false, "\xf0\x9f\x98"), cont(true, "")), code: CloseInvalidPayload},
	})
}

// TestReadMessage_RFC6455_8_1_FailFast: invalid UTF-8 fails the connection
// in the frame where it appears, before the rest of that frame arrives:
// the peer writes half a frame ending in (or just after) the invalid byte
// and nothing more, and the 1007 close still comes back. The invalid bytes
// are those the maximal-subpart rule rejects at their second byte:
// overlongs (E0 80, F0 80), surrogates (ED A0), above U+10FFFF (F4 90).
func TestReadMessage_RFC6455_8_1_FailFast(t *testing.T) {
	half := func(head string) func(*peer) []byte {
		body := head + string(bytes.Repeat([]byte("z"), 4000))
		return prefix(-(4000 - 10), data(true, OpText, body))
	}
	runBadStreams(t, []badStream{
		{name: "FF", wire: half("ok\xff"), code: CloseInvalidPayload},
		{name: "E0-80", wire: half("ok\xe0\x80"), code: CloseInvalidPayload},
		{name: "ED-A0", wire: half("\xed\xa0"), code: CloseInvalidPayload},
		{name: "F4-90", wire: half("\xf4\x90"), code: CloseInvalidPayload},
		{name: "F0-80", wire: half("\xf0\x80"), code: CloseInvalidPayload},
		{name: "C1", wire: half("abc\xc1"), code: CloseInvalidPayload},
		{name: "first-fragment-of-many", wire: prefix(-3000, concat(data(false, OpText, "x\xc0"+string(make([]byte, 3000))))), code: CloseInvalidPayload},
		{name: "continuation-half", wire: concat(data(false, OpText, "fine"), prefix(-3000, data(true, OpContinuation, "\xed\xbf"+string(bytes.Repeat([]byte("a"), 3000))))), code: CloseInvalidPayload},
		// A large frame read straight into the caller's buffer.
		{name: "large-frame", wire: prefix(-(1 << 20), data(true, OpText, string(bytes.Repeat([]byte("a"), 40000))+"\xff"+string(bytes.Repeat([]byte("b"), 1<<20)))), code: CloseInvalidPayload},
	})
}

// TestReadMessage_RFC6455_10_4_MessageTooBig: "implementations will likely
// impose implementation-specific limits on frame sizes and the total
// message size after reassembly from multiple frames" (§10.4); 1009 "a
// message that is too big for it to process" (§7.4.1). The limit applies to
// the length the header declares, before any payload is read: each case
// sends a header and nothing else, or not all of the payload.
func TestReadMessage_RFC6455_10_4_MessageTooBig(t *testing.T) {
	header := func(op Opcode, fin bool, n uint64) func(*peer) []byte {
		switch {
		case n <= 125:
			return rawHeader(byte(op)|fin2bit(fin), byte(n), nil, nil)
		case n <= 0xFFFF:
			return rawHeader(byte(op)|fin2bit(fin), 126, be16(uint16(n)), nil)
		}
		return rawHeader(byte(op)|fin2bit(fin), 127, be64(n), nil)
	}
	small := Config{MaxMessageSize: 1000}
	runBadStreams(t, []badStream{
		{name: "default-limit-2^40", wire: header(OpBinary, true, 1<<40), code: CloseMessageTooBig},
		{name: "default-limit-2^63-1", wire: header(OpText, true, 1<<63-1), code: CloseMessageTooBig},
		{name: "default-limit-16MiB+1", wire: header(OpBinary, true, DefaultMaxMessageSize+1), code: CloseMessageTooBig},
		{name: "limit-1000-frame-1001", cfg: small, wire: header(OpBinary, true, 1001), code: CloseMessageTooBig},
		{name: "limit-1000-fragments", cfg: small,
			wire: concat(data(false, OpBinary, string(make([]byte, 600))), header(OpContinuation, true, 401)), code: CloseMessageTooBig},
		{name: "limit-1000-many-fragments", cfg: small,
			wire: concat(data(false, OpText, string(bytes.Repeat([]byte("a"), 400))), data(false, OpContinuation, string(bytes.Repeat([]byte("a"), 400))), header(OpContinuation, false, 201)), code: CloseMessageTooBig},
		{name: "max-frame-100", cfg: Config{MaxFrameSize: 100}, wire: header(OpBinary, false, 101), code: CloseMessageTooBig},
		{name: "max-frame-100-continuation", cfg: Config{MaxFrameSize: 100},
			wire: concat(data(false, OpBinary, string(make([]byte, 100))), header(OpContinuation, true, 101)), code: CloseMessageTooBig},
	})
}

func fin2bit(fin bool) byte {
	if fin {
		return 0x80
	}
	return 0
}
