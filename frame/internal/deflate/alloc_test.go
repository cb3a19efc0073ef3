package deflate

import (
	"bytes"
	"compress/flate"
	"fmt"
	"math"
	"runtime"
	"testing"
)

// Steady state allocates nothing: compressing a message into a buffer of
// CompressBound bytes, streaming one in parts, inflating into a buffer
// that is large enough, and reading through DecompressTo. Dynamic blocks
// (new decoding tables per block) are included.
func TestAllocs_ZeroPerMessage(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("instrumented build")
	}
	r := newRand(30)
	msgs := [][]byte{jsonText(r, 2000), jsonText(r, 100_000), randomBytes(r, 5000), {}}
	for _, w := range []int{8, 15} {
		for _, level := range allLevels {
			for _, ctx := range []bool{true, false} {
				name := fmt.Sprintf("w%d/level%d/context=%v", w, level, ctx)
				c := NewCompressor(level, w)
				d := NewDecompressor(w)
				out := make([]byte, 0, CompressBound(100_000))
				plain := make([]byte, 0, 100_000)
				p := make([]byte, 1000)
				i := 0
				allocs := testing.AllocsPerRun(20, func() {
					m := msgs[i%len(msgs)]
					i++
					if !ctx {
						c.Reset()
						d.Reset()
					}
					out = c.AppendCompress(out[:0], m)
					var err error
					plain, err = d.Decompress(plain[:0], out, true, -1)
					if err != nil || !bytes.Equal(plain, m) {
						t.Fatalf("%s: %v", name, err)
					}
					// The same message streamed in parts, read through
					// DecompressTo.
					if !ctx {
						c.Reset()
						d.Reset()
					}
					out = out[:0]
					for k := 0; k < len(m); k += 3000 {
						out = c.AppendCompressPart(out, m[k:min(k+3000, len(m))], false)
					}
					out = c.AppendCompressPart(out, nil, true)
					in := out
					for {
						n, used, err := d.DecompressTo(p, in, true, int64(len(m)))
						_ = n
						in = in[used:]
						if err != nil {
							break
						}
					}
				})
				if allocs != 0 {
					t.Errorf("%s: %v allocations per message", name, allocs)
				}
			}
		}
	}
	// Streams from compress/flate (its dynamic blocks differ from ours).
	payloads := stdlibCompressMessages(t, 6, msgs)
	d := NewDecompressor(15)
	plain := make([]byte, 0, 100_000)
	i := 0
	allocs := testing.AllocsPerRun(40, func() {
		var err error
		if plain, err = d.Decompress(plain[:0], payloads[i%len(payloads)], true, -1); err != nil {
			t.Fatal(err)
		}
		i++
		if i%len(payloads) == 0 {
			d.Reset()
		}
	})
	if allocs != 0 {
		t.Errorf("stdlib payloads: %v allocations per message", allocs)
	}
}

// CompressBound holds for every level and window, for data that does not
// compress, mixed data, and tiny messages, with and without context.
func TestCompressBound(t *testing.T) {
	r := newRand(31)
	var mixed []byte
	for len(mixed) < 100_000 {
		mixed = append(mixed, randomBytes(r, r.IntN(3000))...)
		mixed = append(mixed, jsonText(r, r.IntN(3000))...)
	}
	inputs := [][]byte{{}, {1}, randomBytes(r, 100), randomBytes(r, 100_000), mixed}
	for _, w := range sizedWindows() {
		for _, level := range sizedLevels() {
			c := NewCompressor(level, w)
			for _, in := range inputs {
				for range 2 {
					if out := c.AppendCompress(nil, in); len(out) > CompressBound(len(in)) {
						t.Errorf("w%d level %d: %d bytes -> %d > bound %d", w, level, len(in), len(out), CompressBound(len(in)))
					}
				}
				// Streaming: every call within its bound.
				for k := 0; k < len(in); k += 7000 {
					part := in[k:min(k+7000, len(in))]
					bound := CompressBound(c.Buffered() + len(part))
					if out := c.AppendCompressPart(nil, part, false); len(out) > bound {
						t.Errorf("w%d level %d: part -> %d > bound %d", w, level, len(out), bound)
					}
				}
				bound := CompressBound(c.Buffered())
				if out := c.AppendCompressPart(nil, nil, true); len(out) > bound {
					t.Errorf("w%d level %d: final part -> %d > bound %d", w, level, len(out), bound)
				}
			}
		}
	}
}

// heapBytes reports the bytes f allocates. TotalAlloc is process-wide, so
// any other goroutine (a parallel test, the race detector's runtime, a
// finalizer) can add to one reading but never subtract from it: the least
// of several readings is the one that measures f alone.
func heapBytes(f func()) uint64 {
	best := uint64(math.MaxUint64)
	for range 5 {
		var a, b runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&a)
		f()
		runtime.ReadMemStats(&b)
		best = min(best, b.TotalAlloc-a.TotalAlloc)
	}
	return best
}

var sink any

// Memory per Compressor and Decompressor scales with the window
// (RFC 7692 §7.1.2 lets a peer ask for a small one to save memory).
// MemorySize matches what the constructors really allocate. Run with -v
// for the table; compress/flate's sizes are shown for comparison.
func TestMemorySize_PerWindow(t *testing.T) {
	t.Logf("%-4s %12s %12s %12s %12s %12s", "w", "comp L0", "comp L1", "comp L2-9", "comp Huff", "decomp")
	for w := MinWindowBits; w <= MaxWindowBits; w++ {
		var sizes []int
		for _, level := range []int{0, 1, 6, HuffmanOnly} {
			var c *Compressor
			got := heapBytes(func() { c = NewCompressor(level, w); sink = c })
			if ms := uint64(c.MemorySize()); got > ms+ms/8 || ms > got+got/8+64 {
				t.Errorf("w%d level %d: MemorySize %d, allocated %d", w, level, ms, got)
			}
			sizes = append(sizes, c.MemorySize())
		}
		var d *Decompressor
		got := heapBytes(func() { d = NewDecompressor(w); sink = d })
		if ms := uint64(d.MemorySize()); got > ms+ms/8 || ms > got+got/8+64 {
			t.Errorf("w%d decompressor: MemorySize %d, allocated %d", w, ms, got)
		}
		sizes = append(sizes, d.MemorySize())
		t.Logf("%-4d %12d %12d %12d %12d %12d", w, sizes[0], sizes[1], sizes[2], sizes[3], sizes[4])
		if w == 8 && (sizes[2] > 24<<10 || sizes[4] > 8<<10) {
			t.Errorf("w8 is not small: compressor %d, decompressor %d", sizes[2], sizes[4])
		}
	}
	for _, level := range []int{1, 6} {
		n := heapBytes(func() { sink, _ = flate.NewWriter(nil, level) })
		t.Logf("compress/flate NewWriter level %d: %d bytes (always a 32 KiB window)", level, n)
	}
	n := heapBytes(func() { sink = flate.NewReader(bytes.NewReader(nil)) })
	t.Logf("compress/flate NewReader: %d bytes", n)
}
