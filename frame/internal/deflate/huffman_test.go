package deflate

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// kraft returns the Kraft sum of lens scaled by 2^15 (2^15 means complete).
func kraft(lens []uint8) int {
	s := 0
	for _, l := range lens {
		if l > 0 {
			s += 1 << (15 - l)
		}
	}
	return s
}

// RFC 1951 §3.2.2: the code lengths must form a complete prefix code no
// longer than the limit, whatever the frequencies.
func TestHuffLengths_CompleteAndLimited_RFC1951_3_2_2(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	var h huffBuilder
	for iter := range 3000 {
		n := 2 + r.IntN(numLitLen-1)
		maxBits := maxCodeBits
		if iter%3 == 0 {
			n = min(n, numCodeLen)
			maxBits = maxCLCodeBits
		}
		freq := make([]uint32, n)
		for i := range freq {
			switch r.IntN(4) {
			case 0: // unused
			case 1: // Fibonacci-like skew forces deep trees
				freq[i] = 1 << r.IntN(22)
			default:
				freq[i] = uint32(r.IntN(1000))
			}
		}
		lens := make([]uint8, n)
		h.lengths(freq, lens, maxBits)
		used := 0
		for i, l := range lens {
			if int(l) > maxBits {
				t.Fatalf("iter %d: length %d > %d", iter, l, maxBits)
			}
			if freq[i] != 0 && l == 0 {
				t.Fatalf("iter %d: used symbol %d has no code", iter, i)
			}
			if l > 0 {
				used++
			}
		}
		if used < 2 {
			t.Fatalf("iter %d: %d codes, want at least 2", iter, used)
		}
		if k := kraft(lens); k != 1<<15 {
			t.Fatalf("iter %d: Kraft sum %d/32768, want complete", iter, k)
		}
		// Optimality when no limit applies is checked against a plain
		// heap-free reference: total cost must not exceed that of any
		// permutation, in particular more frequent symbols never get
		// longer codes.
		for i := range lens {
			for j := range lens {
				if freq[i] > freq[j] && freq[j] > 0 && lens[i] > lens[j] {
					t.Fatalf("iter %d: freq %d has length %d, freq %d has %d", iter, freq[i], lens[i], freq[j], lens[j])
				}
			}
		}
	}
}

// RFC 1951 §3.2.2 canonical codes: every code, written LSB-first as the
// encoder does, decodes through the table to its symbol with its length.
func TestBuildTable_DecodesEveryCode_RFC1951_3_2_2(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	var h huffBuilder
	var sc tableScratch
	var tab []uint32
	for iter := range 2000 {
		kind, root, n := kindLitLen, uint(litRoot), numLitLen
		switch iter % 3 {
		case 1:
			kind, root, n = kindDist, distRoot, numDist
		case 2:
			kind, root, n = kindCodeLen, clRoot, numCodeLen
		}
		maxBits := maxCodeBits
		if kind == kindCodeLen {
			maxBits = maxCLCodeBits
		}
		freq := make([]uint32, n)
		for i := range freq {
			if r.IntN(3) > 0 {
				freq[i] = 1 << r.IntN(20)
			}
		}
		lens := make([]uint8, n)
		codes := make([]uint16, n)
		h.lengths(freq, lens, maxBits)
		canonicalCodes(lens, codes)
		var ok bool
		tab, ok = buildTable(tab, lens, root, kind, &sc)
		if !ok {
			t.Fatalf("iter %d: buildTable rejected a complete code", iter)
		}
		for sym, l := range lens {
			if l == 0 {
				continue
			}
			// Follow any code bits with random bits, as in a stream.
			bits := uint32(codes[sym]) | r.Uint32()<<l
			e := tab[bits&(1<<root-1)]
			if (e>>8)&opLink != 0 {
				e = tab[e>>16+(bits>>root)&(1<<((e>>8)&15)-1)]
			}
			if got := uint8(e); got != l {
				t.Fatalf("iter %d sym %d: table length %d, want %d", iter, sym, got, l)
			}
			if want := symEntry(kind, sym, uint32(l)); e != want {
				t.Fatalf("iter %d sym %d len %d: entry %#x, want %#x", iter, sym, l, e, want)
			}
		}
	}
}

// RFC 1951 §3.2.2 with the decoders' rules: oversubscribed codes and
// incomplete ones are rejected, except a single one-bit code and no code.
func TestBuildTable_RejectsBadCodes(t *testing.T) {
	var sc tableScratch
	cases := []struct {
		lens []uint8
		ok   bool
	}{
		{[]uint8{1, 1}, true},
		{[]uint8{1, 1, 1}, false},       // oversubscribed
		{[]uint8{1, 2}, false},          // incomplete
		{[]uint8{0, 1, 0}, true},        // one code of one bit
		{[]uint8{0, 2, 0}, false},       // one code of two bits
		{[]uint8{0, 0, 0}, true},        // no codes
		{[]uint8{2, 2, 2, 2}, true},     // complete
		{[]uint8{2, 2, 2, 3, 3}, true},  // complete
		{[]uint8{2, 2, 2, 3, 4}, false}, // incomplete
	}
	for _, c := range cases {
		if _, ok := buildTable(nil, c.lens, distRoot, kindDist, &sc); ok != c.ok {
			t.Errorf("lens %v: ok=%v, want %v", c.lens, ok, c.ok)
		}
	}
}

// The radix sort orders keys exactly as a comparison sort does.
func TestSortByFreq_MatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	var h huffBuilder
	for range 2000 {
		n := 1 + r.IntN(numLitLenAll)
		keys := make([]uint32, n)
		shift := r.IntN(24)
		for i := range keys {
			keys[i] = uint32(r.IntN(1<<shift+1))<<9 | uint32(i)
		}
		want := slices.Clone(keys)
		slices.Sort(want)
		h.sortByFreq(keys)
		if !slices.Equal(keys, want) {
			t.Fatalf("n=%d shift=%d: radix order differs", n, shift)
		}
	}
}
