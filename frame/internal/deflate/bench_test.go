package deflate

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"testing"
)

// Benchmarks compare with compress/flate in the same run. Inputs: 1 MiB of
// JSON lines (compressible text) and 1 MiB of random bytes, as one message;
// and a stream of 1000 JSON messages of 100..2000 bytes with context
// takeover, the shape of a chat or telemetry connection. Metrics: MB/s of
// uncompressed data, and "%size" = compressed/uncompressed*100.
//
//	go test -run '^$' -bench . -benchtime 20x ./frame/internal/deflate/

var benchData = func() map[string][]byte {
	r := newRand(99)
	return map[string][]byte{
		"json":   jsonText(r, 1<<20),
		"random": randomBytes(r, 1<<20),
	}
}()

var benchMsgs = func() [][]byte {
	r := newRand(98)
	msgs := make([][]byte, 1000)
	for i := range msgs {
		msgs[i] = jsonText(r, 100+r.IntN(1900))
	}
	return msgs
}()

func totalLen(msgs [][]byte) int {
	n := 0
	for _, m := range msgs {
		n += len(m)
	}
	return n
}

var benchWindows = []int{8, 10, 12, 15}
var benchLevels = []int{1, 5, 9}

func BenchmarkCompress(b *testing.B) {
	for _, name := range []string{"json", "random"} {
		data := benchData[name]
		for _, level := range benchLevels {
			b.Run(fmt.Sprintf("%s/stdlib/L%d", name, level), func(b *testing.B) {
				var buf bytes.Buffer
				buf.Grow(len(data) + 1024)
				fw, _ := flate.NewWriter(&buf, level)
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					buf.Reset()
					fw.Reset(&buf)
					fw.Write(data)
					fw.Flush()
				}
				b.ReportMetric(100*float64(buf.Len()-4)/float64(len(data)), "%size")
			})
			for _, w := range benchWindows {
				b.Run(fmt.Sprintf("%s/ours/L%d/w%d", name, level, w), func(b *testing.B) {
					c := NewCompressor(level, w)
					out := make([]byte, 0, len(data)+1024)
					b.SetBytes(int64(len(data)))
					for b.Loop() {
						c.Reset()
						out = c.AppendCompress(out[:0], data)
					}
					b.ReportMetric(100*float64(len(out))/float64(len(data)), "%size")
				})
			}
		}
	}
}

func BenchmarkCompressMessages(b *testing.B) {
	total := totalLen(benchMsgs)
	for _, level := range benchLevels {
		b.Run(fmt.Sprintf("stdlib/L%d", level), func(b *testing.B) {
			var buf bytes.Buffer
			fw, _ := flate.NewWriter(&buf, level)
			var size int
			b.SetBytes(int64(total))
			for b.Loop() {
				fw.Reset(&buf)
				size = 0
				for _, m := range benchMsgs {
					buf.Reset()
					fw.Write(m)
					fw.Flush()
					size += buf.Len() - 4
				}
			}
			b.ReportMetric(100*float64(size)/float64(total), "%size")
		})
		for _, w := range benchWindows {
			b.Run(fmt.Sprintf("ours/L%d/w%d", level, w), func(b *testing.B) {
				c := NewCompressor(level, w)
				out := make([]byte, 0, 4096)
				var size int
				b.SetBytes(int64(total))
				for b.Loop() {
					c.Reset()
					size = 0
					for _, m := range benchMsgs {
						out = c.AppendCompress(out[:0], m)
						size += len(out)
					}
				}
				b.ReportMetric(100*float64(size)/float64(total), "%size")
			})
		}
	}
}

// BenchmarkDecompress inflates the same compress/flate (level 6) stream
// with both decoders, then our own output per window.
func BenchmarkDecompress(b *testing.B) {
	for _, name := range []string{"json", "random"} {
		data := benchData[name]
		payload := stdlibCompressMessages(b, 6, [][]byte{data})[0]
		b.Run(name+"/stdlib", func(b *testing.B) {
			stream := append(bytes.Clone(payload), 0, 0, 0xff, 0xff)
			out := make([]byte, len(data))
			fr := flate.NewReader(nil)
			br := bytes.NewReader(nil)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				br.Reset(stream)
				fr.(flate.Resetter).Reset(br, nil)
				if _, err := io.ReadFull(fr, out); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/ours/w15", func(b *testing.B) {
			d := NewDecompressor(15)
			out := make([]byte, 0, len(data))
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				d.Reset()
				var err error
				if out, err = d.Decompress(out[:0], payload, true, -1); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, w := range benchWindows {
			p := NewCompressor(6, w).AppendCompress(nil, data)
			b.Run(fmt.Sprintf("%s/ours/own-L6/w%d", name, w), func(b *testing.B) {
				d := NewDecompressor(w)
				out := make([]byte, 0, len(data))
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					d.Reset()
					var err error
					if out, err = d.Decompress(out[:0], p, true, -1); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkDecompressMessages(b *testing.B) {
	total := totalLen(benchMsgs)
	payloads := stdlibCompressMessages(b, 6, benchMsgs)
	b.Run("stdlib", func(b *testing.B) {
		// compress/flate has no message API: one stream, read message
		// by message.
		var stream []byte
		for _, p := range payloads {
			stream = append(append(stream, p...), 0, 0, 0xff, 0xff)
		}
		out := make([]byte, 4096)
		fr := flate.NewReader(nil)
		br := bytes.NewReader(nil)
		b.SetBytes(int64(total))
		for b.Loop() {
			br.Reset(stream)
			fr.(flate.Resetter).Reset(br, nil)
			for _, m := range benchMsgs {
				if _, err := io.ReadFull(fr, out[:len(m)]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("ours/w15", func(b *testing.B) {
		d := NewDecompressor(15)
		out := make([]byte, 0, 4096)
		b.SetBytes(int64(total))
		for b.Loop() {
			d.Reset()
			for _, p := range payloads {
				var err error
				if out, err = d.Decompress(out[:0], p, true, -1); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
