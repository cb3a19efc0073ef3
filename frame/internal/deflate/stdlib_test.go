package deflate

import (
	"bytes"
	"compress/flate"
	"fmt"
	"testing"
)

// What compress/flate sends as a permessage-deflate peer (every level, sync
// flush per message, context takeover, trailing 00 00 ff ff removed per
// RFC 7692 §7.2.1) inflates correctly with our Decompressor, fed whole,
// in uneven chunks, and through DecompressTo with a small buffer.
func TestStdlibToOurs_AllLevels_RFC7692_7_2_2(t *testing.T) {
	msgs := testMessages(11, 200_000)
	for level := -2; level <= 9; level++ {
		t.Run(fmt.Sprintf("level%d", level), func(t *testing.T) {
			payloads := stdlibCompressMessages(t, level, msgs)
			whole := NewDecompressor(15)
			chunked := NewDecompressor(15)
			reader := NewDecompressor(15)
			size := 0
			for i, p := range payloads {
				got, err := whole.Decompress(nil, p, true, -1)
				if err != nil || !bytes.Equal(got, msgs[i]) {
					t.Fatalf("message %d whole: %v", i, err)
				}
				got, err = inflateChunks(chunked, p, func() int { size = (size*5 + 3) % 700; return size }, -1)
				if err != nil || !bytes.Equal(got, msgs[i]) {
					t.Fatalf("message %d chunked: %v", i, err)
				}
				got, err = readAllTo(reader, p, 100+i*37, 333)
				if err != nil || !bytes.Equal(got, msgs[i]) {
					t.Fatalf("message %d DecompressTo: %v (%d bytes, want %d)", i, err, len(got), len(msgs[i]))
				}
			}
		})
	}
}

// What we send inflates with compress/flate, at every level and window,
// including streamed messages (checked in the round-trip tests too; this
// one mixes streamed and whole messages in one context).
func TestOursToStdlib_StreamedAndWhole(t *testing.T) {
	msgs := testMessages(12, 100_000)
	sizes := make([]int, len(msgs))
	for i, m := range msgs {
		sizes[i] = len(m)
	}
	for w := MinWindowBits; w <= MaxWindowBits; w++ {
		for _, level := range allLevels {
			c := NewCompressor(level, w)
			payloads := make([][]byte, len(msgs))
			for i, m := range msgs {
				if i%2 == 0 {
					payloads[i] = c.AppendCompress(nil, m)
					continue
				}
				var p []byte
				for len(m) > 0 {
					n := min(len(m), 1000+i*500)
					p = c.AppendCompressPart(p, m[:n], false)
					m = m[n:]
				}
				payloads[i] = c.AppendCompressPart(p, nil, true)
			}
			std, err := stdlibInflateMessages(payloads, sizes)
			if err != nil {
				t.Fatalf("w%d level %d: %v", w, level, err)
			}
			for i := range msgs {
				if !bytes.Equal(std[i], msgs[i]) {
					t.Fatalf("w%d level %d: message %d differs", w, level, i)
				}
			}
		}
	}
}

// RFC 7692 §7.2.3.4: a sender may end each message with a BFINAL block
// instead of a sync flush. Each message is then a complete DEFLATE stream;
// with context takeover the next stream may still refer to the previous
// messages (compress/flate's NewWriterDict produces exactly that).
func TestBFinalMessages_RFC7692_7_2_3_4(t *testing.T) {
	msgs := testMessages(13, 50_000)
	d := NewDecompressor(15)
	var history []byte
	for i, m := range msgs {
		var buf bytes.Buffer
		dict := history[max(0, len(history)-32768):]
		fw, _ := flate.NewWriterDict(&buf, 6, dict)
		fw.Write(m)
		fw.Close()
		got, err := d.Decompress(nil, buf.Bytes(), true, -1)
		if err != nil || !bytes.Equal(got, m) {
			t.Fatalf("message %d: %v", i, err)
		}
		history = append(history, m...)
	}
}
