package deflate

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSpeedRatios measures ours against compress/flate in alternating
// short slices and reports the median of the per-pair speed ratios, which
// holds up on a loaded machine better than separate benchmark runs. It
// asserts nothing. Run with:
//
//	DEFLATE_RATIOS=1 go test -run TestSpeedRatios -v ./frame/internal/deflate/
func TestSpeedRatios(t *testing.T) {
	if os.Getenv("DEFLATE_RATIOS") == "" {
		t.Skip("set DEFLATE_RATIOS=1 to measure")
	}
	// mbps runs f (which processes n bytes) for about d and returns MB/s.
	mbps := func(n int, f func()) float64 {
		f()
		start := time.Now()
		iters := 0
		for time.Since(start) < 40*time.Millisecond {
			f()
			iters++
		}
		return float64(n*iters) / time.Since(start).Seconds() / 1e6
	}
	pair := func(name string, n int, std, ours func()) {
		var rs, so, ss []float64
		for range 9 {
			s := mbps(n, std)
			o := mbps(n, ours)
			rs, so, ss = append(rs, o/s), append(so, o), append(ss, s)
		}
		slices.Sort(rs)
		slices.Sort(so)
		slices.Sort(ss)
		t.Logf("%-34s stdlib %7.1f MB/s  ours %7.1f MB/s  speed ratio %.2f (range %.2f-%.2f)", name, ss[4], so[4], rs[4], rs[0], rs[8])
	}
	compress := func(data []byte, level, w int) {
		var buf bytes.Buffer
		fw, _ := flate.NewWriter(&buf, level)
		c := NewCompressor(level, w)
		out := make([]byte, 0, CompressBound(len(data)))
		std := func() { buf.Reset(); fw.Reset(&buf); fw.Write(data); fw.Flush() }
		ours := func() { c.Reset(); out = c.AppendCompress(out[:0], data) }
		std()
		ours()
		name := fmt.Sprintf("compress L%d w%d", level, w)
		pair(name, len(data), std, ours)
		t.Logf("%-34s size ours/stdlib %.3f (%.2f%% vs %.2f%%)", "", float64(len(out))/float64(buf.Len()-4),
			100*float64(len(out))/float64(len(data)), 100*float64(buf.Len()-4)/float64(len(data)))
	}
	for _, name := range []string{"json", "random"} {
		data := benchData[name]
		t.Logf("== %s, 1 MiB message", name)
		for _, level := range []int{1, 5, 9} {
			for _, w := range []int{8, 12, 15} {
				compress(data, level, w)
			}
		}
		payload := stdlibCompressMessages(t, 6, [][]byte{data})[0]
		stream := append(bytes.Clone(payload), 0, 0, 0xff, 0xff)
		plain := make([]byte, len(data))
		fr := flate.NewReader(nil)
		br := bytes.NewReader(nil)
		d := NewDecompressor(15)
		out := make([]byte, 0, len(data))
		pair("decompress (stdlib L6 stream)", len(data),
			func() { br.Reset(stream); fr.(flate.Resetter).Reset(br, nil); io.ReadFull(fr, plain) },
			func() { d.Reset(); out, _ = d.Decompress(out[:0], payload, true, -1) })
	}

	t.Logf("== 1000 JSON messages, 100..2000 bytes, context takeover")
	total := totalLen(benchMsgs)
	for _, level := range []int{1, 5, 9} {
		for _, w := range []int{8, 12, 15} {
			var buf bytes.Buffer
			fw, _ := flate.NewWriter(&buf, level)
			c := NewCompressor(level, w)
			out := make([]byte, 0, 4096)
			var stdSize, ourSize int
			pair(fmt.Sprintf("compress msgs L%d w%d", level, w), total,
				func() {
					fw.Reset(&buf)
					stdSize = 0
					for _, m := range benchMsgs {
						buf.Reset()
						fw.Write(m)
						fw.Flush()
						stdSize += buf.Len() - 4
					}
				},
				func() {
					c.Reset()
					ourSize = 0
					for _, m := range benchMsgs {
						out = c.AppendCompress(out[:0], m)
						ourSize += len(out)
					}
				})
			t.Logf("%-34s size ours/stdlib %.3f (%.2f%% vs %.2f%%)", "", float64(ourSize)/float64(stdSize),
				100*float64(ourSize)/float64(total), 100*float64(stdSize)/float64(total))
		}
	}
	payloads := stdlibCompressMessages(t, 6, benchMsgs)
	var stream []byte
	for _, p := range payloads {
		stream = append(append(stream, p...), 0, 0, 0xff, 0xff)
	}
	plain := make([]byte, 4096)
	fr := flate.NewReader(nil)
	br := bytes.NewReader(nil)
	d := NewDecompressor(15)
	out := make([]byte, 0, 4096)
	pair("decompress msgs (stdlib L6)", total,
		func() {
			br.Reset(stream)
			fr.(flate.Resetter).Reset(br, nil)
			for _, m := range benchMsgs {
				io.ReadFull(fr, plain[:len(m)])
			}
		},
		func() {
			d.Reset()
			for _, p := range payloads {
				out, _ = d.Decompress(out[:0], p, true, -1)
			}
		})
}

// TestContextTakeoverRatios measures what each permessage-deflate choice
// costs in compression: context takeover or not (RFC 7692 §7.1.1) and the
// window size (§7.1.2), at levels 1 (frame.Conn's default) and 5, for a
// stream of small JSON messages (one chat event each, 150-400 bytes) and
// for large text (64 KiB messages). The ratio is compressed bytes over
// message bytes (smaller is better); "held" is what one direction keeps
// between messages: with context takeover the Compressor whole (its
// MemorySize) on the sending side, and the 2^bits window on the receiving
// side; without it nothing, the state being pooled. It asserts nothing.
//
//	DEFLATE_RATIOS=1 go test -run TestContextTakeoverRatios -v ./frame/internal/deflate/
func TestContextTakeoverRatios(t *testing.T) {
	if os.Getenv("DEFLATE_RATIOS") == "" {
		t.Skip("set DEFLATE_RATIOS=1 to measure")
	}
	r := newRand(7)
	var small [][]byte
	for line := range bytes.Lines(jsonText(r, 256<<10)) {
		if len(line) > 1 {
			small = append(small, bytes.TrimSuffix(line, []byte("\n")))
		}
	}
	small = small[1 : len(small)-1] // whole lines only
	large := jsonText(newRand(8), 1<<20)
	var big [][]byte
	for len(large) > 0 {
		k := min(len(large), 64<<10)
		big = append(big, large[:k])
		large = large[k:]
	}
	prose := func(n int) []byte {
		words := strings.Fields("the server may ask the client to reset its compressor after every message even when the client did not offer it and a browser that offered compression with context takeover then compresses every message on its own which costs some ratio on small messages and almost nothing on large ones")
		rr := newRand(9)
		b := make([]byte, 0, n+16)
		for len(b) < n {
			b = append(b, words[rr.IntN(len(words))]...)
			b = append(b, ' ')
		}
		return b[:n]
	}
	var text [][]byte
	for range 16 {
		text = append(text, prose(64<<10))
	}
	ratio := func(msgs [][]byte, level, bits int, takeover bool) (float64, int) {
		c := NewCompressor(level, bits)
		d := NewDecompressor(bits)
		in, out := 0, 0
		var buf, plain []byte
		for _, m := range msgs {
			if !takeover {
				c.Reset()
				d.Reset()
			}
			buf = c.AppendCompress(buf[:0], m)
			var err error
			plain, err = d.Decompress(plain[:0], buf, true, -1)
			if err != nil || !bytes.Equal(plain, m) {
				t.Fatalf("round trip failed: %v", err)
			}
			in += len(m)
			out += len(buf)
		}
		held := 0
		if takeover {
			held = c.MemorySize()
		}
		return float64(out) / float64(in), held
	}
	for _, set := range []struct {
		name string
		msgs [][]byte
	}{
		{fmt.Sprintf("small JSON messages (%d, %d B on average)", len(small), totalLen(small)/len(small)), small},
		{"large JSON text (16 x 64 KiB)", big},
		{"large prose text (16 x 64 KiB)", text},
	} {
		t.Logf("== %s", set.name)
		for _, level := range []int{1, 5} {
			for _, takeover := range []bool{true, false} {
				for _, bits := range []int{15, 12, 10, 9} {
					q, held := ratio(set.msgs, level, bits, takeover)
					mode := "no context takeover"
					if takeover {
						mode = "context takeover   "
					}
					t.Logf("L%d %s w%-2d ratio %.3f  held between messages: compressor %6d B, decompressor window %5d B",
						level, mode, bits, q, held, map[bool]int{true: 1 << bits}[takeover])
				}
			}
		}
	}
}
