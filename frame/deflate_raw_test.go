package frame

import (
	"bytes"
	"compress/flate"
	"io"
	"strings"
	"testing"
)

// TestDeflate_RFC7692_6_1_IncompressibleSentRaw: with context takeover in
// both directions (RFC 7692 §7.1.1), a message that does not get smaller
// is sent uncompressed, RSV1 clear (§6.1), and stays out of the sender's
// window, as it stays out of the receiver's: compress/flate, reading every
// compressed message as one stream with one window, decodes all of them,
// including a repeat of a text message sent after a raw one (which refers
// back across it), and a repeat of the raw message is raw again (had it
// entered our window it would have become a back-reference the peer cannot
// resolve). The other direction: our reader, fed by a compress/flate
// writer with its window kept across messages, decodes a compressed
// message sent after a raw one.
func TestDeflate_RFC7692_6_1_IncompressibleSentRaw(t *testing.T) {
	text := []byte(strings.Repeat("context takeover keeps the window between messages; ", 40))
	random := pattern(3000, 9)
	msgs := [][]byte{text, random, text, random, append(bytes.Clone(text), "the end"...)}
	raw := []bool{false, true, false, true, false}

	t.Run("ours-to-compress/flate", func(t *testing.T) {
		snc, cnc := tcpPair(t)
		c := NewConn(cnc, nil, Config{Role: RoleClient, Deflate: &DeflateParams{}, CompressMinSize: -1})
		t.Cleanup(func() { c.CloseNow() })
		pr := newPeer(t, snc, RoleServer)
		var stream []byte
		var compressed [][]byte
		for i, m := range msgs {
			if err := c.WriteMessage(OpBinary, m); err != nil {
				t.Fatal(err)
			}
			f := pr.next()
			if f.err != nil {
				t.Fatalf("message %d: %v", i, f.err)
			}
			if gotRaw := f.Rsv&RSV1 == 0; gotRaw != raw[i] {
				t.Fatalf("message %d (%d bytes): sent with RSV1 %v, want %v", i, len(m), !gotRaw, !raw[i])
			}
			if raw[i] {
				if !bytes.Equal(f.payload, m) {
					t.Fatalf("message %d: raw payload differs", i)
				}
				continue
			}
			stream = append(append(stream, f.payload...), 0x00, 0x00, 0xff, 0xff) // §7.2.2
			compressed = append(compressed, m)
			if i == 2 && len(f.payload) > len(text)/20 {
				t.Errorf("text after a raw message: %d bytes compressed, want back-references to the first (window kept)", len(f.payload))
			}
		}
		fr := flate.NewReader(bytes.NewReader(stream))
		for i, m := range compressed {
			got := make([]byte, len(m))
			if _, err := io.ReadFull(fr, got); err != nil || !bytes.Equal(got, m) {
				t.Fatalf("compressed message %d: compress/flate decodes %q..., %v", i, trunc(got), err)
			}
		}
	})

	t.Run("compress/flate-to-ours", func(t *testing.T) {
		snc, cnc := tcpPair(t)
		s := NewConn(snc, nil, Config{Role: RoleServer, Deflate: &DeflateParams{}})
		t.Cleanup(func() { s.CloseNow() })
		pr := newPeer(t, cnc, RoleClient)
		var buf bytes.Buffer
		fw, _ := flate.NewWriter(&buf, flate.BestSpeed)
		ch := readLoop(s)
		for i, m := range msgs {
			if raw[i] {
				if err := pr.send(true, OpBinary, m); err != nil {
					t.Fatal(err)
				}
			} else {
				buf.Reset()
				fw.Write(m)
				fw.Flush()
				p := bytes.TrimSuffix(buf.Bytes(), []byte{0x00, 0x00, 0xff, 0xff})
				if err := pr.write(pr.frameRsv(true, RSV1, OpBinary, p)); err != nil {
					t.Fatal(err)
				}
			}
			expectMessage(t, ch, OpBinary, m)
		}
	})
}
