package deflate

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"testing"
)

// TestHistory_RFC7692_7_1_1_ContextMovesBetweenInstances: with context
// takeover (RFC 7692 §7.1.1) the state carried from one message to the
// next is the window's bytes. A sender that keeps only AppendHistory
// between messages and continues each message on another Compressor with
// SetHistory must produce a stream that a continuous Decompressor of the
// same window (which rejects any distance beyond it) and compress/flate
// decode; a receiver that does the same with Decompressors must decode a
// continuous Compressor's stream.
func TestHistory_RFC7692_7_1_1_ContextMovesBetweenInstances(t *testing.T) {
	msgs := benchMsgs[:200]
	msgs = append(msgs, benchData["json"][:100_000], []byte("x"), nil, benchData["random"][:40_000], benchMsgs[7])
	for _, level := range []int{1, 2, 5, 9, HuffmanOnly, 0} {
		for _, bits := range []int{8, 9, 12, 15} {
			t.Run(fmt.Sprintf("L%d/w%d", level, bits), func(t *testing.T) {
				cont := NewCompressor(level, bits)
				moved := [2]*Compressor{NewCompressor(level, bits), NewCompressor(level, bits)}
				contD := NewDecompressor(bits)
				movedD := [2]*Decompressor{NewDecompressor(bits), NewDecompressor(bits)}
				var sendHist, recvHist []byte
				var stream bytes.Buffer
				contSize, movedSize := 0, 0
				for i, m := range msgs {
					a := cont.AppendCompress(nil, m)
					c := moved[i%2]
					c.SetHistory(sendHist)
					b := c.AppendCompress(nil, m)
					sendHist = c.AppendHistory(sendHist[:0])
					if c.HistoryLen() > 1<<bits {
						t.Fatalf("message %d: history %d beyond the window", i, c.HistoryLen())
					}
					contSize += len(a)
					movedSize += len(b)
					stream.Write(b)
					stream.Write(syncTail[:])

					got, err := contD.Decompress(nil, b, true, -1)
					if err != nil || !bytes.Equal(got, m) {
						t.Fatalf("message %d: moved compressor's output: %v (got %d bytes, want %d)", i, err, len(got), len(m))
					}
					d := movedD[i%2]
					d.SetHistory(recvHist)
					got, err = d.Decompress(nil, a, true, -1)
					if err != nil || !bytes.Equal(got, m) {
						t.Fatalf("message %d: moved decompressor: %v (got %d bytes, want %d)", i, err, len(got), len(m))
					}
					recvHist = d.AppendHistory(recvHist[:0])
					if !bytes.Equal(recvHist, contD.AppendHistory(nil)) {
						t.Fatalf("message %d: histories differ", i)
					}
				}
				plain, err := io.ReadAll(io.LimitReader(flate.NewReader(&stream), 1<<30))
				if err != nil && err != io.ErrUnexpectedEOF {
					t.Fatalf("compress/flate: %v", err)
				}
				if want := bytes.Join(msgs, nil); !bytes.Equal(plain, want) {
					t.Fatalf("compress/flate decoded %d bytes, want %d", len(plain), len(want))
				}
				t.Logf("compressed: continuous %d B, moved between instances %d B (%.3f)", contSize, movedSize, float64(movedSize)/float64(contSize))
			})
		}
	}
}

// BenchmarkContextTakeover: the CPU cost of keeping only the window
// between messages (SetHistory and AppendHistory around each message, as
// frame.Conn does under context takeover) against a Compressor kept whole,
// for small JSON messages at level 1.
//
//	go test -run - -bench ContextTakeover ./frame/internal/deflate/
func BenchmarkContextTakeover(b *testing.B) {
	msgs := benchMsgs[:256]
	for _, bits := range []int{15, 10} {
		for _, moved := range []bool{false, true} {
			name := fmt.Sprintf("w%d/kept-whole", bits)
			if moved {
				name = fmt.Sprintf("w%d/window-only", bits)
			}
			b.Run(name, func(b *testing.B) {
				c := NewCompressor(1, bits)
				var hist, out []byte
				b.SetBytes(int64(totalLen(msgs) / len(msgs)))
				i := 0
				for b.Loop() {
					m := msgs[i%len(msgs)]
					i++
					if moved {
						c.SetHistory(hist)
					}
					out = c.AppendCompress(out[:0], m)
					if moved {
						hist = c.AppendHistory(hist[:0])
					}
				}
			})
		}
	}
}
