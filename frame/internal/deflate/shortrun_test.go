package deflate

import (
	"bytes"
	"compress/flate"
	"io"
	"testing"
)

// runsAtLeastNaive is runsAtLeast's twin, one symbol at a time: Σ min(l, 4)
// over the runs of used and of unused symbols among 0..256.
func runsAtLeastNaive(used *[5]uint64) int {
	isUsed := func(s int) bool { return used[s>>6]>>(s&63)&1 != 0 }
	total, run := 0, 0
	for s := 0; s <= endOfBlock; s++ {
		if s > 0 && isUsed(s) != isUsed(s-1) {
			total += min(run, 4)
			run = 0
		}
		run++
	}
	return total + min(run, 4)
}

// runsAtLeast, the word-at-a-time count of literalsAtLeast's header bound,
// agrees with the symbol-at-a-time count, for random sets of symbols of
// every density and for runs that end or cross at word boundaries.
func TestRunsAtLeast_AgreesWithNaive(t *testing.T) {
	r := newRand(31)
	check := func(name string, used [5]uint64) {
		t.Helper()
		used[4] &= 1 // symbols 0..256 only
		if got, want := runsAtLeast(&used), runsAtLeastNaive(&used); got != want {
			t.Fatalf("%s %x: runsAtLeast %d, want %d", name, used, got, want)
		}
	}
	all := ^uint64(0)
	check("none", [5]uint64{})
	check("all", [5]uint64{all, all, all, all, 1})
	check("eob only", [5]uint64{0, 0, 0, 0, 1})
	check("alternating", [5]uint64{0x5555555555555555, 0x5555555555555555, 0xaaaaaaaaaaaaaaaa, 0x5555555555555555, 1})
	for w := range 4 {
		for _, b := range []uint{0, 1, 2, 3, 4, 60, 61, 62, 63} {
			var u [5]uint64
			u[w] = 1 << b
			check("one symbol", u)
			u[w] = ^uint64(0) << b // a run from bit b to the next words' start
			check("run to end", u)
			u[4] = 1
			check("run to end, eob", u)
		}
	}
	for range 20000 {
		var u [5]uint64
		for i := range u {
			// Sparse, dense, or in between: AND or OR of random words.
			x := r.Uint64()
			for range r.IntN(4) {
				if r.IntN(2) == 0 {
					x &= r.Uint64()
				} else {
					x |= r.Uint64()
				}
			}
			u[i] = x
		}
		check("random", u)
	}
}

// literalsAtLeast is a lower bound on a dynamic block of literals: never
// more than its exact size, for random bytes, text, hex digits, skewed and
// nearly constant bytes, at every length storeShortRun takes. Otherwise
// storeShortRun would store a block that a dynamic code makes smaller.
func TestLiteralsAtLeast_IsALowerBound_RFC1951_3_2_7(t *testing.T) {
	r := newRand(32)
	b := new(blockWriter)
	kinds := []struct {
		name string
		gen  func(n int) []byte
	}{
		{"random", func(n int) []byte { return randomBytes(r, n) }},
		{"json", func(n int) []byte { return jsonText(r, n) }},
		{"hex", func(n int) []byte {
			p := randomBytes(r, n)
			for i := range p {
				p[i] = "0123456789abcdef"[p[i]&15]
			}
			return p
		}},
		{"skewed", func(n int) []byte {
			p := randomBytes(r, n)
			for i := range p {
				p[i] &= byte(r.IntN(256))
			}
			return p
		}},
		{"constant", func(n int) []byte { return bytes.Repeat([]byte{byte(r.IntN(256))}, n) }},
	}
	proved := 0
	for _, k := range kinds {
		for _, n := range []int{1, 2, 3, 4, 7, 16, 64, 100, 127, 128, 129, 200, 255, 256, 500, emitRunMin - 1} {
			for range 20 {
				p := k.gen(n)
				exact := dynamicSize(b, p)
				var used [5]uint64
				used[4] = 1
				var hist [256]int
				sq := 0
				for _, v := range p {
					hist[v]++
					used[v>>6] |= 1 << (v & 63)
				}
				for _, f := range hist {
					sq += f * f
				}
				bound := literalsAtLeast(n, sq, &used)
				if bound > exact {
					t.Fatalf("%s, %d bytes: bound %d bits > dynamic block %d bits", k.name, n, bound, exact)
				}
				if k.name == "random" && n == 128 && bound >= 8*n+42 {
					proved++
				}
			}
		}
	}
	// The point of the bound: it shows that 128 random bytes are cheaper
	// stored (8n + 42 bits at most), nearly always.
	if proved < 18 {
		t.Errorf("bound proves stored cheaper for %d of 20 random 128-byte blocks, want at least 18", proved)
	}
}

// noRepeat reports whether p has no 4-byte sequence twice, so that level 1
// finds no match in it and it is one block of literals.
func noRepeat(p []byte) bool {
	seen := map[uint32]bool{}
	for i := 0; i+4 <= len(p); i++ {
		k := load32(p, i)
		if seen[k] {
			return false
		}
		seen[k] = true
	}
	return true
}

// A short message without repeats is one block of literals, and level 1
// writes it as the smallest of the three block types (RFC 1951 §3.2.4
// stored, §3.2.6 fixed, §3.2.7 dynamic), whether storeShortRun stores it
// at once or writeBlock weighs the costs: random bytes are stored, hex
// digits and skewed bytes get a code. It decodes with compress/flate.
func TestFastLevel_ShortLiteralBlockIsSmallestOfThree_RFC1951_3_2(t *testing.T) {
	r := newRand(33)
	b := new(blockWriter)
	c := NewCompressor(1, 15)
	gens := []func(n int) []byte{
		func(n int) []byte { return randomBytes(r, n) },
		func(n int) []byte {
			p := randomBytes(r, n)
			for i := range p {
				p[i] = "0123456789abcdef"[p[i]&15]
			}
			return p
		},
		func(n int) []byte {
			p := randomBytes(r, n)
			for i := range p {
				p[i] = 'a' + p[i]%26
			}
			return p
		},
		func(n int) []byte {
			p := randomBytes(r, n)
			for i := range p {
				p[i] &= 0x9f // 64 symbols, 9-bit ones among them
			}
			return p
		},
	}
	checked := 0
	for _, gen := range gens {
		for _, n := range []int{5, 16, 50, 100, 128, 200, 300, 700, emitRunMin - 1} {
			for range 10 {
				p := gen(n)
				if !noRepeat(p) {
					continue
				}
				checked++
				high := 0
				for _, v := range p {
					high += int(v) / 144
				}
				// The block follows nothing: its header starts at bit 0.
				stored := 3 + 5 + 32 + 8*n
				fixed := 3 + 8*n + high + 7
				best := min(stored, fixed, dynamicSize(b, p))
				// Then the sync flush's 3-bit header, padded (its
				// 00 00 ff ff is removed, RFC 7692 §7.2.1).
				want := (best + 3 + 7) / 8
				out := c.AppendCompress(nil, p)
				c.Reset()
				if len(out) > want {
					t.Fatalf("%d bytes %q...: %d compressed, want at most %d (stored %d, fixed %d bits)", n, p[:4], len(out), want, stored, fixed)
				}
				got, err := io.ReadAll(flate.NewReader(bytes.NewReader(append(out, 0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff))))
				if err != nil || !bytes.Equal(got, p) {
					t.Fatalf("%d bytes: compress/flate: %v", n, err)
				}
			}
		}
	}
	if checked < 200 {
		t.Fatalf("only %d messages without repeats", checked)
	}
}

// A short message of random bytes is stored without a token per byte
// (storeShortRun): writeBlock never sees its literals.
func TestFastLevel_ShortRandomMessageSkipsTokens(t *testing.T) {
	r := newRand(34)
	c := NewCompressor(1, 15)
	blocks := 0
	testTokenHook = func(*Compressor, []uint32) { blocks++ }
	t.Cleanup(func() { testTokenHook = nil })
	stored := 0
	for range 50 {
		p := randomBytes(r, 128)
		if !noRepeat(p) {
			continue
		}
		before := blocks
		out := c.AppendCompress(nil, p)
		c.Reset()
		if len(out) == 128+6 && blocks == before {
			stored++
		}
	}
	if stored < 45 {
		t.Errorf("%d of 50 random 128-byte messages stored without tokens, want at least 45", stored)
	}
}

// storeShortRun only stores a run that ends the block: a short part of a
// message that goes on stays buffered (its literals may share a block, and
// a code, with what follows), so a part of random bytes followed by text
// is not split into a stored block and the rest.
func TestStreaming_ShortPartIsNotStoredAlone(t *testing.T) {
	r := newRand(35)
	c := NewCompressor(1, 15)
	for _, n := range []int{maxMatch + 100, maxMatch + 128, maxMatch + 160, 600} {
		if out := c.AppendCompressPart(nil, randomBytes(r, n), false); len(out) != 0 {
			t.Errorf("%d random bytes, not final: %d bytes out, want none yet", n, len(out))
		}
		text := jsonText(r, 2000)
		out := c.AppendCompressPart(nil, text, true)
		c.Reset()
		if len(out) == 0 {
			t.Fatalf("%d random bytes and text: no output", n)
		}
	}
}
