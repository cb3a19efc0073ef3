package deflate

import (
	"bytes"
	"compress/flate"
	"io"
	"testing"
)

// dynamicSize is the exact size in bits of a dynamic block (RFC 1951
// §3.2.7) of the literals p, as writeBlock computes it.
func dynamicSize(b *blockWriter, p []byte) int {
	clear(b.litFreq[:])
	clear(b.distFreq[:])
	for _, c := range p {
		b.litFreq[c]++
	}
	b.litFreq[endOfBlock] = 1
	bits := 3 + b.buildDynamic()
	for sym, f := range b.litFreq {
		bits += int(f) * int(b.litLens[sym])
	}
	for sym, f := range b.distFreq {
		bits += int(f) * int(b.distLens[sym])
	}
	return bits
}

// dynamicAtLeast is a lower bound: never more than the size of the
// dynamic block it stands for, for random bytes, text, and skewed or
// nearly constant bytes, from 1 byte to the largest block it takes.
// Otherwise writeBlock would store a block that a dynamic code makes
// smaller.
func TestDynamicAtLeast_IsALowerBound_RFC1951_3_2_7(t *testing.T) {
	r := newRand(21)
	b := new(blockWriter)
	kinds := []struct {
		name string
		gen  func(n int) []byte
	}{
		{"random", func(n int) []byte { return randomBytes(r, n) }},
		{"json", func(n int) []byte { return jsonText(r, n) }},
		{"skewed", func(n int) []byte {
			p := randomBytes(r, n)
			for i := range p {
				p[i] &= byte(r.IntN(256)) // biased towards few bits set
			}
			return p
		}},
		{"constant", func(n int) []byte { return bytes.Repeat([]byte{'a' + byte(r.IntN(26))}, n) }},
	}
	tight := 0
	for _, k := range kinds {
		name, gen := k.name, k.gen
		for _, n := range []int{1, 2, 3, 7, 16, 64, 100, 128, 200, 500, 1000, 1500, len(xlog2x) - 2} {
			for range 20 {
				p := gen(n)
				exact := dynamicSize(b, p)
				bound := b.dynamicAtLeast()
				if bound > exact {
					t.Fatalf("%s, %d bytes: bound %d bits > dynamic block %d bits", name, n, bound, exact)
				}
				if name == "random" && n == 128 && 8*n+35 <= bound {
					tight++
				}
			}
		}
	}
	// The point of the bound: 128 random bytes are seen to be cheaper
	// stored (8n + 35 bits at most) without building a code, nearly always.
	if tight < 18 {
		t.Errorf("bound proves stored cheaper for %d of 20 random 128-byte blocks, want at least 18", tight)
	}
}

// At level 1, short messages of random bytes are stored (RFC 1951
// §3.2.4: 5 bytes of framing and the bytes, then the sync flush's header
// byte) from 128 bytes on, and never take more below that (where the
// fixed code can win); they decode with compress/flate. Short text still
// compresses.
func TestFastLevel_ShortRandomMessagesAreStored(t *testing.T) {
	r := newRand(22)
	c := NewCompressor(1, 15)
	for _, n := range []int{16, 64, 128, 300, 1000} {
		for range 10 {
			msg := randomBytes(r, n)
			out := c.AppendCompress(nil, msg)
			if len(out) > n+6 || n >= 128 && len(out) != n+6 {
				t.Errorf("%d random bytes: %d compressed, want %d (a stored block, and the sync flush's header byte)", n, len(out), n+6)
			}
			got, err := io.ReadAll(flate.NewReader(bytes.NewReader(append(out, 0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff))))
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("%d random bytes: compress/flate: %v", n, err)
			}
			c.Reset()
		}
		text := jsonText(r, n)
		if out := c.AppendCompress(nil, text); n >= 128 && len(out) >= n {
			t.Errorf("%d bytes of text: %d compressed", n, len(out))
		}
		c.Reset()
	}
}
