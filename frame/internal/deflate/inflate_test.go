package deflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"runtime"
	"testing"
)

func hexBytes(b ...byte) []byte { return b }

// RFC 7692 §7.2.3.1: "Hello" compressed into one fixed-Huffman block is
// f2 48 cd c9 c9 07 00; our compressor produces exactly these bytes.
func TestVector_Hello_RFC7692_7_2_3_1(t *testing.T) {
	want := hexBytes(0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00)
	for _, level := range []int{HuffmanOnly, 1, 5, 9} {
		if got := NewCompressor(level, 15).AppendCompress(nil, []byte("Hello")); !bytes.Equal(got, want) {
			t.Errorf("level %d: % x, want % x", level, got, want)
		}
	}
	got, err := NewDecompressor(15).Decompress(nil, want, true, -1)
	if err != nil || string(got) != "Hello" {
		t.Fatalf("got %q, %v", got, err)
	}
	// RFC 7692 §7.2.3.1, fragmented: the same payload split over two
	// frames, f2 48 cd | c9 c9 07 00.
	d := NewDecompressor(15)
	out, err := d.Decompress(nil, want[:3], false, -1)
	if err != nil {
		t.Fatal(err)
	}
	out, err = d.Decompress(out, want[3:], true, -1)
	if err != nil || string(out) != "Hello" {
		t.Fatalf("fragmented: %q, %v", out, err)
	}
}

// RFC 7692 §7.2.3.2: with context takeover, a second "Hello" refers back
// to the first: f2 00 11 00 00 (a length-5, distance-5 match).
func TestVector_SharingWindow_RFC7692_7_2_3_2(t *testing.T) {
	d := NewDecompressor(15)
	first, err := d.Decompress(nil, hexBytes(0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00), true, -1)
	if err != nil || string(first) != "Hello" {
		t.Fatal(first, err)
	}
	second, err := d.Decompress(nil, hexBytes(0xf2, 0x00, 0x11, 0x00, 0x00), true, -1)
	if err != nil || string(second) != "Hello" {
		t.Fatalf("second message: %q, %v", second, err)
	}
	// Our own encoding of the second message is a match too, and
	// decodes the same way.
	c := NewCompressor(1, 15)
	c.AppendCompress(nil, []byte("Hello"))
	p := c.AppendCompress(nil, []byte("Hello"))
	if len(p) >= 7 {
		t.Errorf("second Hello is %d bytes: no match used", len(p))
	}
}

// RFC 7692 §7.2.3.3: "Hello" in a stored block is
// 00 05 00 fa ff 48 65 6c 6c 6f 00; level 0 produces exactly that.
func TestVector_NoCompression_RFC7692_7_2_3_3(t *testing.T) {
	want := hexBytes(0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00)
	if got := NewCompressor(NoCompression, 15).AppendCompress(nil, []byte("Hello")); !bytes.Equal(got, want) {
		t.Errorf("% x, want % x", got, want)
	}
	got, err := NewDecompressor(15).Decompress(nil, want, true, -1)
	if err != nil || string(got) != "Hello" {
		t.Fatalf("%q, %v", got, err)
	}
}

// RFC 7692 §7.2.3.4: a message ending in a BFINAL block; the 00 00 ff ff
// the receiver appends then lies after the end of the stream and is
// ignored, and the next message starts a new stream.
func TestVector_BFinal_RFC7692_7_2_3_4(t *testing.T) {
	d := NewDecompressor(15)
	for range 3 {
		got, err := d.Decompress(nil, hexBytes(0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00), true, -1)
		if err != nil || string(got) != "Hello" {
			t.Fatalf("%q, %v", got, err)
		}
	}
	// The same with the sender's own 00 00 ff ff left in after the final
	// block, as some senders do.
	got, err := d.Decompress(nil, hexBytes(0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00, 0x00, 0xff, 0xff), true, -1)
	if err != nil || string(got) != "Hello" {
		t.Fatalf("%q, %v", got, err)
	}
}

// RFC 7692 §7.2.3.5: two DEFLATE blocks in one message, the first ended by
// a sync flush whose 00 00 ff ff stays in the payload.
func TestVector_TwoBlocks_RFC7692_7_2_3_5(t *testing.T) {
	p := hexBytes(0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00)
	got, err := NewDecompressor(15).Decompress(nil, p, true, -1)
	if err != nil || string(got) != "Hello" {
		t.Fatalf("%q, %v", got, err)
	}
	// AppendFlush makes the same shape.
	c := NewCompressor(1, 15)
	out := c.AppendCompressPart(nil, []byte("He"), false)
	out = c.AppendFlush(out)
	if !bytes.HasSuffix(out, []byte{0, 0, 0xff, 0xff}) {
		t.Fatalf("AppendFlush output % x", out)
	}
	out = c.AppendCompressPart(out, []byte("llo"), true)
	if got, err := NewDecompressor(15).Decompress(nil, out, true, -1); err != nil || string(got) != "Hello" {
		t.Fatalf("%q, %v", got, err)
	}
}

// RFC 7692 §7.2.3.6: an empty message compresses to the single byte 00
// (an empty stored block, its LEN/NLEN removed). An empty payload is
// accepted as an empty message too.
func TestVector_EmptyMessage_RFC7692_7_2_3_6(t *testing.T) {
	for _, level := range allLevels {
		c := NewCompressor(level, 15)
		for range 2 {
			if got := c.AppendCompress(nil, nil); !bytes.Equal(got, []byte{0}) {
				t.Errorf("level %d: % x, want 00", level, got)
			}
		}
	}
	d := NewDecompressor(15)
	for _, p := range [][]byte{{0x00}, {}} {
		got, err := d.Decompress(nil, p, true, -1)
		if err != nil || len(got) != 0 {
			t.Fatalf("% x: %q, %v", p, got, err)
		}
	}
	n, used, err := d.DecompressTo(make([]byte, 10), nil, true, -1)
	if n != 0 || used != 0 || err != io.EOF {
		t.Fatalf("DecompressTo on empty payload: %d %d %v", n, used, err)
	}
}

// RFC 7692 §7.2.2: after the appended tail the stream must be at a block
// boundary; a payload cut inside a block, or one whose sender did not
// strip its own 00 00 ff ff, fails.
func TestMessageEnd_MustBeBlockBoundary_RFC7692_7_2_2(t *testing.T) {
	full := NewCompressor(6, 15).AppendCompress(nil, jsonText(newRand(20), 5000))
	for _, p := range [][]byte{
		full[:len(full)/2],
		append(bytes.Clone(full), 0x00, 0x00, 0xff, 0xff),
		hexBytes(0xf2, 0x48, 0xcd),
	} {
		_, err := NewDecompressor(15).Decompress(nil, p, true, -1)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("% x...: err = %v, want ErrCorrupt", p[:min(8, len(p))], err)
		}
	}
}

// The limit counts inflated bytes per message: exactly limit passes, one
// byte less fails with ErrTooLarge, whichever API and chunking is used.
func TestLimit_ExactAndOneLess(t *testing.T) {
	msg := jsonText(newRand(21), 100_000)
	p := NewCompressor(6, 15).AppendCompress(nil, msg)
	n := int64(len(msg))
	for _, chunk := range []int{1, 100, len(p)} {
		d := NewDecompressor(15)
		for range 2 { // the limit is per message
			got, err := inflateChunks(d, p, func() int { return chunk }, n)
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("limit = size: %v", err)
			}
			d.Reset()
		}
		got, err := inflateChunks(d, p, func() int { return chunk }, n-1)
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("limit = size-1: err = %v", err)
		}
		if int64(len(got)) > n {
			t.Fatalf("output %d beyond limit", len(got))
		}
		// Sticky until Reset.
		if _, err := d.Decompress(nil, []byte{0}, true, -1); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("after error: %v", err)
		}
		d.Reset()
		if _, err := d.Decompress(nil, []byte{0}, true, -1); err != nil {
			t.Fatalf("after Reset: %v", err)
		}
	}
	d := NewDecompressor(15)
	buf := make([]byte, 1000)
	var total int64
	for in := p; ; {
		k, used, err := d.DecompressTo(buf, in, true, n-1)
		total += int64(k)
		in = in[used:]
		if err != nil {
			if !errors.Is(err, ErrTooLarge) || total > n-1 {
				t.Fatalf("DecompressTo: %v after %d bytes", err, total)
			}
			break
		}
	}
	if _, err := NewDecompressor(15).Decompress(nil, p, true, 0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("limit 0: %v", err)
	}
}

// bomb returns the start of a DEFLATE stream whose every further zero byte
// inflates to 4*258 = 1032 bytes, the most DEFLATE allows: a dynamic block
// in which the length-258 symbol (285) and distance 1 (symbol 0) each
// have a one-bit code 0, after a literal 0 to copy from.
func bomb() []byte {
	var w bitWriter
	w.writeBits(2<<1, 3) // BFINAL=0, dynamic
	w.writeBits(286-257, 5)
	w.writeBits(2-1, 5)
	// Code length code: lengths 0..2 and 18 (zero runs) used; in the
	// transmission order 16 17 18 0 8 7 9 6 10 5 11 4 12 3 13 2 14 1 15.
	clLen := map[int]uint32{18: 2, 0: 2, 1: 2, 2: 2}
	w.writeBits(19-4, 4)
	for _, sym := range codeLenOrder {
		w.writeBits(clLen[int(sym)], 3)
	}
	// Canonical code-length code (all length 2): 0->00 1->01 2->10 18->11,
	// sent MSB first, so reversed for the LSB-first writer.
	cl := func(sym int) {
		code := map[int]uint32{0: 0, 1: 2, 2: 1, 18: 3}[sym]
		w.writeBits(code, 2)
	}
	// Literal/length lengths: 0:2, 1..255:0, 256:2, 257..284:0, 285:1.
	cl(2)
	cl(18)
	w.writeBits(138-11, 7)
	cl(18)
	w.writeBits(117-11, 7)
	cl(2)
	cl(18)
	w.writeBits(28-11, 7)
	cl(1)
	// Distance lengths: 0:1, 1:1.
	cl(1)
	cl(1)
	// Canonical literal/length code: 285 -> 0, 0 -> 10, 256 -> 11.
	w.writeBits(1, 2) // literal 0: code 10, reversed 01
	w.align()
	return w.out
}

// A small input that inflates to far more than the limit stops with
// ErrTooLarge as soon as the limit is passed: output and memory stay
// bounded by the limit and the window, however much input follows.
func TestBomb_StopsAtLimit(t *testing.T) {
	head := bomb()
	zeros := make([]byte, 64<<10) // each chunk: 64 Ki * 1032 = 67 MB
	// The stream is valid: compress/flate inflates it to zeros.
	std, err := io.ReadAll(io.LimitReader(flate.NewReader(io.MultiReader(bytes.NewReader(head), bytes.NewReader(zeros[:2000]))), 1<<20))
	if err != nil || len(std) != 1<<20 || bytes.Count(std, []byte{0}) != len(std) {
		t.Fatalf("bomb is not what it should be: %d bytes, %v", len(std), err)
	}
	const limit = 1 << 20
	d := NewDecompressor(15)
	dst := make([]byte, 0, limit+1<<16)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	out, err := d.Decompress(dst, head, false, limit)
	if err != nil {
		t.Fatal(err)
	}
	fed := len(head)
	for i := 0; err == nil && i < 16; i++ { // 16 chunks would be 1 GB
		out, err = d.Decompress(out, zeros, false, limit)
		fed += len(zeros)
	}
	runtime.ReadMemStats(&ms1)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if fed > len(head)+len(zeros) {
		t.Errorf("fed %d bytes before the limit hit", fed)
	}
	if len(out) > limit {
		t.Errorf("%d bytes delivered, limit %d", len(out), limit)
	}
	if grew := ms1.TotalAlloc - ms0.TotalAlloc; grew > 64<<10 {
		t.Errorf("allocated %d bytes while inflating", grew)
	}

	// Through DecompressTo with a small buffer the work also stops at the
	// limit, and only limit+1 bytes were inflated.
	d = NewDecompressor(15)
	p := make([]byte, 4096)
	var total int64
	in := append(bytes.Clone(head), zeros...)
	for {
		n, used, err := d.DecompressTo(p, in, false, limit)
		total += int64(n)
		in = in[used:]
		if err != nil {
			if !errors.Is(err, ErrTooLarge) {
				t.Fatal(err)
			}
			break
		}
		if used == 0 && n == 0 {
			t.Fatal("no progress")
		}
	}
	if d.msgOut != limit+1 || total > limit {
		t.Errorf("inflated %d, delivered %d, limit %d", d.msgOut, total, limit)
	}
	// In a compressed byte count, the bomb used about limit/1032 bytes.
	if consumed := len(head) + len(zeros) - len(in); consumed > limit/1032+64 {
		t.Errorf("consumed %d input bytes", consumed)
	}
}

// Distances are checked against the negotiated window (RFC 7692 §7.1.2)
// and against the data actually seen.
func TestDistance_BeyondWindowOrHistory(t *testing.T) {
	// compress/flate uses a 32 KiB window: a repeat 1000 bytes back is
	// fine for a 1024-byte window, not for a 512-byte one.
	block := randomBytes(newRand(22), 1000)
	p := stdlibCompressMessages(t, 6, [][]byte{append(bytes.Clone(block), block...)})[0]
	if _, err := NewDecompressor(10).Decompress(nil, p, true, -1); err != nil {
		t.Fatalf("w10: %v", err)
	}
	_, err := NewDecompressor(9).Decompress(nil, p, true, -1)
	if !errors.Is(err, ErrCorrupt) || err != errDistWindow {
		t.Fatalf("w9: err = %v, want distance beyond window", err)
	}
	// Fixed block: literal 'a', then length 3 distance 2 (only 1 byte of
	// history): 1 01 header, 'a' = 0x61 -> 8-bit code 0x91, ...
	var w bitWriter
	w.writeBits(1<<1, 3)
	w.writeBits(uint32(fixedLitCodes['a']), 8)
	w.writeBits(uint32(fixedLitCodes[257]), 7) // length 3
	w.writeBits(uint32(fixedDistCode[1]), 5)   // distance 2
	w.writeBits(uint32(fixedLitCodes[256]), 7)
	w.writeBits(0, 3)
	w.align()
	if _, err := NewDecompressor(15).Decompress(nil, w.out, true, -1); err != errDistance {
		t.Fatalf("distance before the data: err = %v", err)
	}
}

// Malformed streams give ErrCorrupt (the specific errors are values).
func TestCorrupt_SpecificErrors_RFC1951(t *testing.T) {
	cases := []struct {
		name string
		p    []byte
		want error
	}{
		{"reserved block type", hexBytes(0x06), errBlockType},
		{"stored NLEN", hexBytes(0x00, 0x05, 0x00, 0xfa, 0xfe, 'H', 'e', 'l', 'l', 'o'), errStoredLen},
		{"HLIT 30", hexBytes(0x04|30<<3, 0x00, 0x00), errCounts},
		{"HDIST 31", hexBytes(0x04, 0x1f, 0x00), errCounts},
		{"fixed symbol 286", fixedSym(286), errSymbol},
		{"fixed distance 30", fixedDist30(), errSymbol},
	}
	for _, c := range cases {
		_, err := NewDecompressor(15).Decompress(nil, c.p, true, -1)
		if err != c.want || !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

func fixedSym(sym int) []byte {
	var w bitWriter
	w.writeBits(1<<1, 3)
	w.writeBits(uint32(fixedLitCodes[sym]), uint(fixedLitLens[sym]))
	w.writeBits(0, 32)
	w.align()
	return w.out
}

func fixedDist30() []byte {
	var w bitWriter
	w.writeBits(1<<1, 3)
	w.writeBits(uint32(fixedLitCodes['a']), 8)
	w.writeBits(uint32(fixedLitCodes[257]), 7)
	w.writeBits(uint32(fixedDistCode[30]), 5)
	w.writeBits(0, 32)
	w.align()
	return w.out
}

// Corrupt input never panics or hangs, and errors are ErrCorrupt (or
// ErrTooLarge with a limit): bit flips, truncations, insertions and random
// bytes, fed in chunks, at several windows.
func TestCorrupt_NeverPanics(t *testing.T) {
	r := newRand(23)
	var valid [][]byte
	for _, level := range allLevels {
		c := NewCompressor(level, 15)
		valid = append(valid, c.AppendCompress(nil, jsonText(r, 3000)), c.AppendCompress(nil, randomBytes(r, 500)))
	}
	valid = append(valid, stdlibCompressMessages(t, 9, [][]byte{jsonText(r, 20000)})...)
	iters := 20000
	if testing.Short() {
		iters = 2000
	}
	for i := range iters {
		p := bytes.Clone(valid[r.IntN(len(valid))])
		switch r.IntN(5) {
		case 0:
			for range 1 + r.IntN(4) {
				p[r.IntN(len(p))] ^= 1 << r.IntN(8)
			}
		case 1:
			p = p[:r.IntN(len(p))]
		case 2:
			k := r.IntN(len(p))
			p = append(p[:k], append(randomBytes(r, 1+r.IntN(8)), p[k:]...)...)
		case 3:
			p = randomBytes(r, r.IntN(200))
		case 4:
			p[r.IntN(len(p))] = byte(r.Uint32())
		}
		w := 8 + r.IntN(8)
		d := NewDecompressor(w)
		limit := int64(-1)
		if r.IntN(2) == 0 {
			limit = int64(r.IntN(5000))
		}
		got, err := inflateChunks(d, p, func() int { return 1 + r.IntN(50) }, limit)
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("iteration %d: unexpected error %v", i, err)
		}
		if limit >= 0 && int64(len(got)) > limit {
			t.Fatalf("iteration %d: %d bytes past limit %d", i, len(got), limit)
		}
	}
}

// DecompressTo delivers output in pieces no larger than p, keeps unread
// output in the window, consumes input only as it can, and reports io.EOF
// when the message has been delivered whole; the next call starts the
// next message.
func TestDecompressTo_BoundedOutputAndEOF(t *testing.T) {
	r := newRand(24)
	msgs := [][]byte{jsonText(r, 200_000), {}, []byte("x"), randomBytes(r, 70_000), jsonText(r, 1000)}
	for _, w := range []int{8, 15} {
		c := NewCompressor(4, w)
		d := NewDecompressor(w)
		for i, m := range msgs {
			p := c.AppendCompress(nil, m)
			got, err := readAllTo(d, p, 1+i*997%5000, 1+i*31%3000)
			if err != nil || !bytes.Equal(got, m) {
				t.Fatalf("w%d message %d: %v (%d bytes, want %d)", w, i, err, len(got), len(m))
			}
		}
	}
	// A one-byte p: every call yields at most one byte.
	c := NewCompressor(6, 15)
	msg := jsonText(r, 3000)
	p := c.AppendCompress(nil, msg)
	d := NewDecompressor(15)
	one := make([]byte, 1)
	var out []byte
	in := p
	for calls := 0; ; calls++ {
		n, used, err := d.DecompressTo(one, in, true, -1)
		if n > 1 {
			t.Fatal("more than len(p)")
		}
		out = append(out, one[:n]...)
		in = in[used:]
		if err == io.EOF {
			break
		}
		if err != nil || calls > 10*len(msg) {
			t.Fatal(err, calls)
		}
	}
	if !bytes.Equal(out, msg) || len(in) != 0 {
		t.Fatalf("one-byte reads: %d bytes, %d input left", len(out), len(in))
	}
	// A zero-length p reads nothing and returns at once.
	if n, used, err := d.DecompressTo(nil, p, true, -1); n != 0 || used != 0 || err != nil {
		t.Fatalf("empty p: %d %d %v", n, used, err)
	}
}
