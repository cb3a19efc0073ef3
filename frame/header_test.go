package frame

// The frame header codec of RFC 6455 §5.2 and the per-frame rules of
// Header.Validate (§5.2, §5.5).

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

func hexBytes(s string) []byte {
	var b []byte
	for f := range strings.FieldsSeq(s) {
		var v byte
		fmt.Sscanf(f, "%02x", &v)
		b = append(b, v)
	}
	return b
}

// TestParseHeader_RFC6455_5_2 decodes headers byte by byte as the §5.2
// diagram lays them out.
func TestParseHeader_RFC6455_5_2(t *testing.T) {
	cases := []struct {
		name string
		wire string
		h    Header
		err  error
	}{
		{"text-fin-5", "81 05", Header{Fin: true, Opcode: OpText, Length: 5}, nil},
		{"masked-text", "81 85 37 fa 21 3d", Header{Fin: true, Opcode: OpText, Length: 5, Masked: true, Mask: [4]byte{0x37, 0xfa, 0x21, 0x3d}}, nil},
		{"continuation-not-fin", "00 00", Header{Opcode: OpContinuation}, nil},
		{"rsv-bits", "f2 01", Header{Fin: true, Rsv: RSV1 | RSV2 | RSV3, Opcode: OpBinary, Length: 1}, nil},
		{"rsv1", "c1 00", Header{Fin: true, Rsv: RSV1, Opcode: OpText}, nil},
		{"rsv2", "22 00", Header{Rsv: RSV2, Opcode: OpBinary}, nil},
		{"rsv3", "9a 00", Header{Fin: true, Rsv: RSV3, Opcode: OpPong}, nil},
		{"reserved-opcode-parses", "8f 00", Header{Fin: true, Opcode: 0xF}, nil},
		{"7-bit-125", "82 7d", Header{Fin: true, Opcode: OpBinary, Length: 125}, nil},
		{"16-bit-126", "82 7e 00 7e", Header{Fin: true, Opcode: OpBinary, Length: 126}, nil},
		{"16-bit-256", "82 7e 01 00", Header{Fin: true, Opcode: OpBinary, Length: 256}, nil},
		{"16-bit-65535", "82 7e ff ff", Header{Fin: true, Opcode: OpBinary, Length: 65535}, nil},
		{"64-bit-65536", "82 7f 00 00 00 00 00 01 00 00", Header{Fin: true, Opcode: OpBinary, Length: 65536}, nil},
		{"64-bit-max", "82 7f 7f ff ff ff ff ff ff ff", Header{Fin: true, Opcode: OpBinary, Length: 1<<63 - 1}, nil},
		{"64-bit-masked", "82 ff 00 00 00 00 00 01 00 00 01 02 03 04", Header{Fin: true, Opcode: OpBinary, Length: 65536, Masked: true, Mask: [4]byte{1, 2, 3, 4}}, nil},
		// §5.2: "the minimal number of bytes MUST be used to encode the
		// length, for example, the length of a 124-byte-long string can't
		// be encoded as the sequence 126, 0, 124."
		{"RFC-non-minimal-126-0-124", "81 7e 00 7c", Header{}, ErrNonMinimalLength},
		{"non-minimal-16-bit-0", "82 7e 00 00", Header{}, ErrNonMinimalLength},
		{"non-minimal-16-bit-125", "82 7e 00 7d", Header{}, ErrNonMinimalLength},
		{"non-minimal-64-bit-0", "82 7f 00 00 00 00 00 00 00 00", Header{}, ErrNonMinimalLength},
		{"non-minimal-64-bit-125", "82 7f 00 00 00 00 00 00 00 7d", Header{}, ErrNonMinimalLength},
		{"non-minimal-64-bit-65535", "82 7f 00 00 00 00 00 00 ff ff", Header{}, ErrNonMinimalLength},
		// §5.2: "the most significant bit MUST be 0".
		{"top-bit", "82 7f 80 00 00 00 00 00 00 00", Header{}, ErrLengthTopBit},
		{"top-bit-all-ones", "82 ff ff ff ff ff ff ff ff ff 01 02 03 04", Header{}, ErrLengthTopBit},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wire := hexBytes(tc.wire)
			h, n, err := ParseHeader(append(wire, "payload"...))
			if tc.err != nil {
				if !errors.Is(err, tc.err) || CloseStatus(err) != CloseProtocolError {
					t.Fatalf("err %v, want %v (1002)", err, tc.err)
				}
				// ReadHeader reports the same error.
				if _, err := ReadHeader(bytes.NewReader(wire)); !errors.Is(err, tc.err) {
					t.Fatalf("ReadHeader: %v", err)
				}
				return
			}
			if err != nil || n != len(wire) || h != tc.h {
				t.Fatalf("ParseHeader = %+v, %d, %v; want %+v, %d", h, n, err, tc.h, len(wire))
			}
			if HeaderSize(h) != len(wire) {
				t.Fatalf("HeaderSize = %d, want %d", HeaderSize(h), len(wire))
			}
			if got := AppendHeader(nil, h); !bytes.Equal(got, wire) {
				t.Fatalf("AppendHeader = % x, want % x", got, wire)
			}
			// Every proper prefix is short, not an error.
			for i := range len(wire) {
				if _, n, err := ParseHeader(wire[:i]); n != 0 || !IsShortHeader(err) {
					t.Fatalf("prefix %d: n=%d err=%v", i, n, err)
				}
			}
			rh, err := ReadHeader(bytes.NewReader(wire))
			if err != nil || rh != tc.h {
				t.Fatalf("ReadHeader = %+v, %v", rh, err)
			}
		})
	}
}

// TestAppendHeader_RFC6455_5_2_RoundTrip: every combination of flags,
// opcodes, masks and lengths around the encoding boundaries survives
// AppendHeader → ParseHeader, with the minimal encoding.
func TestAppendHeader_RFC6455_5_2_RoundTrip(t *testing.T) {
	lengths := []int64{0, 1, 124, 125, 126, 127, 65534, 65535, 65536, 65537, 1 << 32, 1<<63 - 1}
	r := rand.New(rand.NewPCG(1, 1))
	for op := range Opcode(16) {
		for rsv := range byte(8) {
			for _, fin := range []bool{false, true} {
				for _, masked := range []bool{false, true} {
					for _, l := range lengths {
						h := Header{Fin: fin, Rsv: rsv << 4, Opcode: op, Masked: masked, Length: l}
						if masked {
							h.Mask = [4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}
						}
						b := AppendHeader([]byte("prefix"), h)
						wire := b[len("prefix"):]
						want := 2
						switch {
						case l > 65535:
							want += 8
						case l > 125:
							want += 2
						}
						if masked {
							want += 4
						}
						if len(wire) != want || HeaderSize(h) != want {
							t.Fatalf("%+v: %d bytes, HeaderSize %d, want %d", h, len(wire), HeaderSize(h), want)
						}
						got, n, err := ParseHeader(wire)
						if err != nil || n != want || got != h {
							t.Fatalf("%+v: parsed %+v %d %v", h, got, n, err)
						}
						var buf bytes.Buffer
						if err := WriteHeader(&buf, h); err != nil || !bytes.Equal(buf.Bytes(), wire) {
							t.Fatalf("WriteHeader: % x %v", buf.Bytes(), err)
						}
					}
				}
			}
		}
	}
}

// TestAppendHeader_NegativeLength panics rather than encode garbage.
func TestAppendHeader_NegativeLength(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	AppendHeader(nil, Header{Length: -1})
}

// TestReadHeader reads exactly the header's bytes, never the payload, and
// tells a clean EOF from one inside a header.
func TestReadHeader(t *testing.T) {
	wire := hexBytes("82 fe 01 00 0a 0b 0c 0d")
	r := bytes.NewReader(append(bytes.Clone(wire), "PAYLOAD"...))
	h, err := ReadHeader(r)
	if err != nil || h.Length != 256 || h.Mask != [4]byte{10, 11, 12, 13} {
		t.Fatal(h, err)
	}
	if rest, _ := io.ReadAll(r); string(rest) != "PAYLOAD" {
		t.Fatalf("ReadHeader consumed payload: left %q", rest)
	}
	if _, err := ReadHeader(bytes.NewReader(nil)); err != io.EOF {
		t.Fatalf("empty: %v", err)
	}
	for i := 1; i < len(wire); i++ {
		if _, err := ReadHeader(bytes.NewReader(wire[:i])); err != io.ErrUnexpectedEOF {
			t.Fatalf("cut at %d: %v", i, err)
		}
	}
}

// TestHeaderValidate_RFC6455_5_2_5_5 checks the per-frame rules.
func TestHeaderValidate_RFC6455_5_2_5_5(t *testing.T) {
	for op := range Opcode(16) {
		for rsv := range byte(8) {
			for _, fin := range []bool{false, true} {
				for _, l := range []int64{0, 125, 126, 1 << 20} {
					for _, allowed := range []byte{0, RSV1} {
						h := Header{Fin: fin, Rsv: rsv << 4, Opcode: op, Length: l}
						// §5.2: unknown opcodes and RSV bits without an
						// extension fail; §5.5: control frames are final
						// and at most 125 bytes.
						ok := h.Rsv&^allowed == 0 && !op.IsReserved() &&
							(!op.IsControl() || (fin && l <= MaxControlPayload))
						err := h.Validate(allowed)
						if (err == nil) != ok {
							t.Fatalf("%+v allowed %x: %v, want ok=%v", h, allowed, err, ok)
						}
						if err != nil && CloseStatus(err) != CloseProtocolError {
							t.Fatalf("%+v: status %v", h, CloseStatus(err))
						}
					}
				}
			}
		}
	}
}

// TestOpcode_RFC6455_5_2 checks the opcode classes and names of §5.2 and
// §11.8.
func TestOpcode_RFC6455_5_2(t *testing.T) {
	names := map[Opcode]string{0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}
	for op := range Opcode(16) {
		_, known := names[op]
		if op.IsReserved() == known {
			t.Errorf("%#x: IsReserved %v", byte(op), op.IsReserved())
		}
		if op.IsControl() != (op >= 8) || op.IsData() != (op < 8) {
			t.Errorf("%#x: IsControl %v IsData %v", byte(op), op.IsControl(), op.IsData())
		}
		want := names[op]
		if !known {
			want = fmt.Sprintf("reserved(0x%x)", byte(op))
		}
		if op.String() != want {
			t.Errorf("%#x: %q, want %q", byte(op), op.String(), want)
		}
	}
}
