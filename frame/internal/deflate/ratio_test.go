package deflate

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"os"
	"slices"
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
