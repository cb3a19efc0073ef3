package deflate

import (
	"bytes"
	"fmt"
	"testing"
)

// testMessages is a sequence that exercises context takeover: empty and
// one-byte messages, text that repeats earlier messages, random bytes that
// do not compress, and text again after them.
func testMessages(seed uint64, large int) [][]byte {
	r := newRand(seed)
	text := jsonText(r, 20000)
	return [][]byte{
		{},
		{'x'},
		[]byte("Hello"),
		[]byte("Hello"),
		text[:3000],
		text,
		randomBytes(r, 5000),
		{},
		text[1000:9000], // refers back across the random message
		jsonText(r, large),
		randomBytes(r, large/3),
		bytes.Repeat([]byte{0}, 70000), // long runs: maximal matches
		[]byte("Hello"),
	}
}

// RFC 7692 §7.2.1/§7.2.2 round trip at every window size and level, with
// context takeover: each message decodes with our Decompressor (fed in
// uneven chunks) and with compress/flate (the stream of all messages), and
// no back-reference reaches beyond 2^windowBits (RFC 7692 §7.1.2.1).
func TestRoundTrip_AllWindowsLevels_RFC7692_7_2(t *testing.T) {
	msgs := testMessages(1, 100_000)
	sizes := make([]int, len(msgs))
	for i, m := range msgs {
		sizes[i] = len(m)
	}
	maxDist := windowChecker(t)
	for w := MinWindowBits; w <= MaxWindowBits; w++ {
		for _, level := range allLevels {
			t.Run(fmt.Sprintf("w%d/level%d", w, level), func(t *testing.T) {
				c := NewCompressor(level, w)
				d := NewDecompressor(w)
				chunk := 1
				payloads := make([][]byte, len(msgs))
				for i, m := range msgs {
					payloads[i] = c.AppendCompress(nil, m)
					got, err := inflateChunks(d, payloads[i], func() int { chunk = chunk*7%1000 + 1; return chunk }, -1)
					if err != nil {
						t.Fatalf("message %d: %v", i, err)
					}
					if !bytes.Equal(got, m) {
						t.Fatalf("message %d: got %d bytes, want %d", i, len(got), len(m))
					}
				}
				std, err := stdlibInflateMessages(payloads, sizes)
				if err != nil {
					t.Fatalf("compress/flate: %v", err)
				}
				for i := range msgs {
					if !bytes.Equal(std[i], msgs[i]) {
						t.Fatalf("compress/flate message %d differs", i)
					}
				}
			})
		}
		if w < 15 && maxDist() > 1<<w {
			t.Fatalf("distance %d > window", maxDist())
		}
	}
}

// The window bound is exercised, not just respected: with data whose
// repeats are further back than the window, matches reach the window's
// edge and no further.
func TestWindowBound_DistancesReachButNeverPassWindow_RFC7692_7_1_2_1(t *testing.T) {
	r := newRand(2)
	for w := MinWindowBits; w <= MaxWindowBits; w++ {
		size := 1 << w
		// A random block of exactly the window size, repeated: every
		// repeat is at distance 2^w exactly. Then one of 1.5 windows:
		// repeats at 1.5*2^w must not be used.
		exact := bytes.Repeat(randomBytes(r, size), 4)
		far := bytes.Repeat(randomBytes(r, size+size/2), 4)
		for _, level := range []int{1, 2, 4, 9} {
			maxDist := windowChecker(t)
			c := NewCompressor(level, w)
			d := NewDecompressor(w)
			for _, m := range [][]byte{exact, far} {
				p := c.AppendCompress(nil, m)
				got, err := d.Decompress(nil, p, true, -1)
				if err != nil || !bytes.Equal(got, m) {
					t.Fatalf("w%d level %d: %v", w, level, err)
				}
			}
			if maxDist() != size {
				t.Errorf("w%d level %d: longest distance %d, want exactly %d", w, level, maxDist(), size)
			}
			c.Reset()
			// Matches would shrink it to about a quarter; Huffman coding
			// alone saves a few percent on short random data.
			if p := c.AppendCompress(nil, far); len(p) < len(far)*9/10 {
				t.Errorf("w%d level %d: data repeating only beyond the window compressed to %d of %d", w, level, len(p), len(far))
			}
		}
	}
}

// RFC 7692 §7.1.1: with context takeover a repeated message shrinks to a
// few bytes; after Reset (no_context_takeover) it is as large as the first
// time and decodes with a Decompressor that was reset too. A message that
// refers to history the receiver has dropped is rejected.
func TestContextTakeover_VersusReset_RFC7692_7_1_1(t *testing.T) {
	msg := jsonText(newRand(3), 2000)
	for w := MinWindowBits; w <= MaxWindowBits; w++ {
		for _, level := range []int{1, 4, 9} {
			c := NewCompressor(level, w)
			first := c.AppendCompress(nil, msg)
			again := c.AppendCompress(nil, msg[len(msg)-200:])
			if w >= 8 && len(again) > 20 {
				t.Errorf("w%d level %d: repeat with context is %d bytes", w, level, len(again))
			}
			d := NewDecompressor(w)
			if _, err := d.Decompress(nil, first, true, -1); err != nil {
				t.Fatal(err)
			}
			d.Reset()
			if _, err := d.Decompress(nil, again, true, -1); err == nil || !isCorrupt(err) {
				t.Errorf("w%d level %d: reference to dropped history: err = %v, want ErrCorrupt", w, level, err)
			}

			c.Reset()
			d.Reset()
			for i := range 5 {
				p := c.AppendCompress(nil, msg)
				if !bytes.Equal(p, first) {
					t.Fatalf("w%d level %d: message %d after Reset differs from the first", w, level, i)
				}
				got, err := d.Decompress(nil, p, true, -1)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("w%d level %d: %v", w, level, err)
				}
				c.Reset()
				d.Reset()
			}
		}
	}
}

// Many small messages with context takeover, as a chat connection sends:
// the window slides across message boundaries many times.
func TestContextTakeover_ManyMessages(t *testing.T) {
	r := newRand(4)
	for _, w := range []int{8, 10, 15} {
		for _, level := range []int{1, 3, 6} {
			c := NewCompressor(level, w)
			d := NewDecompressor(w)
			var in, out int
			var payloads [][]byte
			var sizes []int
			var msgs [][]byte
			for i := range 400 {
				m := jsonText(r, 50+r.IntN(400))
				if i%50 == 0 {
					m = randomBytes(r, 300)
				}
				p := c.AppendCompress(nil, m)
				got, err := d.Decompress(nil, p, true, -1)
				if err != nil || !bytes.Equal(got, m) {
					t.Fatalf("w%d level %d message %d: %v", w, level, i, err)
				}
				in += len(m)
				out += len(p)
				payloads, sizes, msgs = append(payloads, p), append(sizes, len(m)), append(msgs, m)
			}
			std, err := stdlibInflateMessages(payloads, sizes)
			if err != nil {
				t.Fatal(err)
			}
			for i := range msgs {
				if !bytes.Equal(std[i], msgs[i]) {
					t.Fatalf("compress/flate message %d differs", i)
				}
			}
			t.Logf("w%d level %d: %d -> %d bytes (%.1f%%)", w, level, in, out, 100*float64(out)/float64(in))
		}
	}
}

// Messages of several MiB: the window slides many times within a message,
// blocks are split by the token buffer, stored blocks by 65535.
func TestRoundTrip_LargeMessages(t *testing.T) {
	if reduced() {
		t.Skip("large messages: not under -short or -race")
	}
	r := newRand(5)
	text := jsonText(r, 6<<20)
	rnd := randomBytes(r, 3<<20)
	for _, w := range []int{8, 15} {
		for _, level := range []int{0, 1, 6} {
			c := NewCompressor(level, w)
			d := NewDecompressor(w)
			for _, m := range [][]byte{text, rnd} {
				p := c.AppendCompress(nil, m)
				got, err := d.Decompress(nil, p, true, -1)
				if err != nil || !bytes.Equal(got, m) {
					t.Fatalf("w%d level %d: %v", w, level, err)
				}
				std, err := stdlibInflateMessages([][]byte{p}, []int{len(m)})
				if err != nil || !bytes.Equal(std[0], m) {
					t.Fatalf("w%d level %d: compress/flate: %v", w, level, err)
				}
			}
		}
	}
}

// Streaming: a message compressed in parts of any size, with AppendFlush
// in the middle, decodes to the message; the bytes AppendCompressPart
// returns can be sent as they come (every prefix of the payload decodes to a
// prefix of the message).
func TestStreaming_PartsAndFlush(t *testing.T) {
	r := newRand(6)
	msg := jsonText(r, 300_000)
	msg = append(msg, randomBytes(r, 50_000)...)
	for _, w := range []int{8, 12, 15} {
		for _, level := range sizedLevels() {
			c := NewCompressor(level, w)
			d := NewDecompressor(w)
			for round := range 3 {
				var payload []byte
				var got []byte
				var err error
				rest := msg
				flushed := false
				for len(rest) > 0 {
					n := min(len(rest), 1+r.IntN(20000))
					if round == 0 {
						n = min(len(rest), 1+r.IntN(10))
						if len(msg)-len(rest) > 5000 {
							n = len(rest)
						}
					}
					before := len(payload)
					payload = c.AppendCompressPart(payload, rest[:n], false)
					rest = rest[n:]
					if !flushed && len(msg)-len(rest) > 100_000 {
						payload = c.AppendFlush(payload)
						flushed = true
						// After a flush, everything so far decodes.
						got, err = d.Decompress(got, payload[before:], false, -1)
						if err != nil {
							t.Fatal(err)
						}
						if !bytes.Equal(got, msg[:len(msg)-len(rest)]) {
							t.Fatalf("w%d level %d: after AppendFlush got %d bytes, want %d", w, level, len(got), len(msg)-len(rest))
						}
						continue
					}
					got, err = d.Decompress(got, payload[before:], false, -1)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, msg[:len(got)]) {
						t.Fatalf("w%d level %d: partial output is not a prefix", w, level)
					}
				}
				before := len(payload)
				payload = c.AppendCompressPart(payload, nil, true)
				got, err = d.Decompress(got, payload[before:], true, -1)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("w%d level %d round %d: %v (%d bytes, want %d)", w, level, round, err, len(got), len(msg))
				}
			}
		}
	}
}

// AppendCompress is AppendCompressPart with final set, and appends to dst.
func TestAppendCompress_AppendsToDst(t *testing.T) {
	msg := jsonText(newRand(7), 5000)
	for _, level := range allLevels {
		a := NewCompressor(level, 15).AppendCompress([]byte("prefix"), msg)
		b := NewCompressor(level, 15).AppendCompressPart(nil, msg, true)
		if !bytes.HasPrefix(a, []byte("prefix")) || !bytes.Equal(a[6:], b) {
			t.Errorf("level %d: AppendCompress and AppendCompressPart(final) differ", level)
		}
	}
}

func TestNewCompressor_Arguments(t *testing.T) {
	if c := NewCompressor(DefaultCompression, 0); c.WindowBits() != 15 || c.Level() != 5 {
		t.Errorf("defaults: window %d level %d", c.WindowBits(), c.Level())
	}
	for _, bad := range [][2]int{{1, 7}, {1, 16}, {10, 15}, {-3, 15}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewCompressor(%d, %d) did not panic", bad[0], bad[1])
				}
			}()
			NewCompressor(bad[0], bad[1])
		}()
	}
	if d := NewDecompressor(0); d.WindowBits() != 15 {
		t.Errorf("default decompressor window %d", d.WindowBits())
	}
	for _, bad := range []int{7, 16} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewDecompressor(%d) did not panic", bad)
				}
			}()
			NewDecompressor(bad)
		}()
	}
}

// Level 1 on incompressible data (RFC 1951 §3.2.4): a long random run is
// written as stored blocks straight away (emitRun), at most 5 bytes of
// framing per 65,535 bytes plus the flush; the result inflates to the
// input; and the stored bytes stay in the window, so that a repeat of them
// in the next message, with context takeover (RFC 7692 §7.1.1), becomes
// back-references. Text of the same size still compresses.
func TestFastLevel_IncompressibleRunsAreStored_RFC7692_7_2(t *testing.T) {
	r := newRand(11)
	for _, n := range []int{4096, 20000, 70000, 200000} {
		rnd := randomBytes(r, n)
		c := NewCompressor(1, 15)
		d := NewDecompressor(15)
		first := c.AppendCompress(nil, rnd)
		if bound := n + 5*(n/65535+1) + 16; len(first) > bound {
			t.Errorf("%d random bytes: %d compressed, want at most %d (stored)", n, len(first), bound)
		}
		got, err := d.Decompress(nil, first, true, -1)
		if err != nil || !bytes.Equal(got, rnd) {
			t.Fatalf("%d random bytes: round trip: %v", n, err)
		}
		if n <= 20000 { // within the 32 KiB window
			again := c.AppendCompress(nil, rnd)
			if len(again) > n/10 {
				t.Errorf("%d random bytes again: %d compressed, want back-references into the stored copy", n, len(again))
			}
			got, err := d.Decompress(nil, again, true, -1)
			if err != nil || !bytes.Equal(got, rnd) {
				t.Fatalf("%d random bytes again: round trip: %v", n, err)
			}
		}
		text := jsonText(r, n)
		if p := NewCompressor(1, 15).AppendCompress(nil, text); len(p) > n/2 {
			t.Errorf("%d bytes of text: %d compressed", n, len(p))
		}
	}
}
