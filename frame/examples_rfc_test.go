package frame

import (
	"bytes"
	"io"
	"slices"
	"testing"
)

// TestExamples_RFC6455_5_7 checks every example of RFC 6455 §5.7, byte for
// byte: the header decodes to what the RFC says, encodes back to the same
// bytes, the payload unmasks to the text, and a Conn of the right role
// reads the message (unmasked frames are what a client receives, masked
// ones what a server receives). The masked pong is reproduced exactly by
// WriteFrame with the RFC's key, and a client Conn answers the RFC's ping.
func TestExamples_RFC6455_5_7(t *testing.T) {
	bin256 := pattern(256, 256)
	bin64k := pattern(65536, 65536)
	type frameEx struct {
		wire    []byte
		h       Header
		payload []byte
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	examples := []struct {
		name   string
		frames []frameEx
		reader Role   // the role that receives these frames
		op     Opcode // the message they make, if any
		msg    []byte
	}{
		{"single-frame-unmasked-text", []frameEx{
			{hexBytes("81 05 48 65 6c 6c 6f"), Header{Fin: true, Opcode: OpText, Length: 5}, []byte("Hello")},
		}, RoleClient, OpText, []byte("Hello")},
		{"single-frame-masked-text", []frameEx{
			{hexBytes("81 85 37 fa 21 3d 7f 9f 4d 51 58"), Header{Fin: true, Opcode: OpText, Masked: true, Mask: key, Length: 5}, []byte("Hello")},
		}, RoleServer, OpText, []byte("Hello")},
		{"fragmented-unmasked-text", []frameEx{
			{hexBytes("01 03 48 65 6c"), Header{Opcode: OpText, Length: 3}, []byte("Hel")},
			{hexBytes("80 02 6c 6f"), Header{Fin: true, Opcode: OpContinuation, Length: 2}, []byte("lo")},
		}, RoleClient, OpText, []byte("Hello")},
		{"unmasked-ping", []frameEx{
			{hexBytes("89 05 48 65 6c 6c 6f"), Header{Fin: true, Opcode: OpPing, Length: 5}, []byte("Hello")},
		}, RoleClient, 0, nil},
		{"masked-pong", []frameEx{
			{hexBytes("8a 85 37 fa 21 3d 7f 9f 4d 51 58"), Header{Fin: true, Opcode: OpPong, Masked: true, Mask: key, Length: 5}, []byte("Hello")},
		}, RoleServer, 0, nil},
		{"256-bytes-binary", []frameEx{
			{slices.Concat(hexBytes("82 7e 01 00"), bin256), Header{Fin: true, Opcode: OpBinary, Length: 256}, bin256},
		}, RoleClient, OpBinary, bin256},
		{"64KiB-binary", []frameEx{
			{slices.Concat(hexBytes("82 7f 00 00 00 00 00 01 00 00"), bin64k), Header{Fin: true, Opcode: OpBinary, Length: 65536}, bin64k},
		}, RoleClient, OpBinary, bin64k},
	}
	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			var stream []byte
			for _, f := range ex.frames {
				h, n, err := ParseHeader(f.wire)
				if err != nil || h != f.h {
					t.Fatalf("ParseHeader: %+v %v, want %+v", h, err, f.h)
				}
				if enc := AppendHeader(nil, h); !bytes.Equal(enc, f.wire[:n]) {
					t.Fatalf("AppendHeader: % x, want % x", enc, f.wire[:n])
				}
				p := bytes.Clone(f.wire[n:])
				if h.Masked {
					Mask(h.Mask, 0, p)
				}
				if !bytes.Equal(p, f.payload) {
					t.Fatalf("payload %q, want %q", trunc(p), trunc(f.payload))
				}
				stream = append(stream, f.wire...)
			}
			forEachTransport(t, func(t *testing.T, tr transport) {
				_, p, msgs := rawConnPair(t, tr, ex.reader, Config{})
				go p.write(stream)
				switch {
				case ex.msg != nil:
					expectMessage(t, msgs, ex.op, ex.msg)
				case ex.frames[0].h.Opcode == OpPing:
					// Answered with a masked pong carrying "Hello".
					f := p.expectFrame(OpPong, []byte("Hello"))
					if !f.Masked {
						t.Fatal("a client's pong must be masked")
					}
				default: // the pong: nothing to answer, reading goes on
					go p.send(true, OpText, []byte("next"))
					expectMessage(t, msgs, OpText, []byte("next"))
				}
			})
		})
	}

	// The masked pong, sent by a client with the RFC's key, is exactly the
	// RFC's bytes.
	s, c := pipePair(t)
	cli := newTestConn(t, c, Config{Role: RoleClient})
	go cli.writeRawFrame(Header{Fin: true, Opcode: OpPong, Masked: true, Mask: key}, []byte("Hello"))
	got := make([]byte, 11)
	if _, err := io.ReadFull(s, got); err != nil {
		t.Fatal(err)
	}
	if want := hexBytes("8a 85 37 fa 21 3d 7f 9f 4d 51 58"); !bytes.Equal(got, want) {
		t.Fatalf("masked pong % x, want % x", got, want)
	}
}
