package deflate

import "math/bits"

// huffBuilder computes length-limited Huffman code lengths from symbol
// frequencies. It keeps its scratch space so that building the codes of a
// block does not allocate.
//
// A Huffman code gives frequent symbols short bit strings and rare symbols
// long ones; it is the optimal prefix code for the given frequencies. DEFLATE
// transmits only the code lengths (RFC 1951 §3.2.2): both sides derive the
// same "canonical" code from them, assigning consecutive codes to the
// symbols of each length in symbol order. DEFLATE caps code lengths at 15
// bits (7 for the code length code), so when the optimal code is deeper we
// flatten it, giving up a little optimality.
type huffBuilder struct {
	sorted [numLitLenAll]uint32 // freq<<9 | symbol, ascending
	tmp    [numLitLenAll]uint32 // radix sort scratch
	work   [numLitLenAll]uint32 // Moffat-Katajainen working array
	count  [maxCodeBits + 2]int32
	// radix is sortByFreq's digit count, here rather than on the stack:
	// a connection's goroutine that once compressed keeps the stack it
	// grew to, so the compressor's frames stay small.
	radix [256]uint16
}

// lengths fills lens[i] with the code length of symbol i for the
// frequencies freq (len(lens) == len(freq) <= 288), no code longer than
// maxBits. Symbols with zero frequency get length 0. To keep every decoder
// happy, at least two symbols always get a code (zlib's decoders reject a
// lone one-bit code in some versions): when fewer than two are used, the
// lowest unused symbols are added as dummies.
func (h *huffBuilder) lengths(freq []uint32, lens []uint8, maxBits int) {
	n := 0
	for sym, f := range freq {
		lens[sym] = 0
		if f != 0 {
			h.sorted[n] = min(f, 1<<23-1)<<9 | uint32(sym)
			n++
		}
	}
	for sym := 0; n < 2; sym++ {
		if freq[sym] == 0 {
			h.sorted[n] = 1<<9 | uint32(sym) // weight 1: a dummy never sent
			n++
		}
	}
	s := h.sorted[:n]
	h.sortByFreq(s)

	// Moffat and Katajainen, "In-place calculation of minimum-redundancy
	// codes" (1995): with the weights sorted ascending, build the tree
	// with two queues (leaves, and internal nodes which are created in
	// ascending weight order), then turn parent pointers into depths and
	// depths of internal nodes into leaf depths, all in one array.
	a := h.work[:n]
	for i, v := range s {
		a[i] = v >> 9
	}
	a[0] += a[1]
	root, leaf := 0, 2
	for next := 1; next < n-1; next++ {
		if leaf >= n || a[root] < a[leaf] {
			a[next] = a[root]
			a[root] = uint32(next)
			root++
		} else {
			a[next] = a[leaf]
			leaf++
		}
		if leaf >= n || (root < next && a[root] < a[leaf]) {
			a[next] += a[root]
			a[root] = uint32(next)
			root++
		} else {
			a[next] += a[leaf]
			leaf++
		}
	}
	a[n-2] = 0
	for next := n - 3; next >= 0; next-- {
		a[next] = a[a[next]] + 1
	}
	avail, used, depth := 1, 0, uint32(0)
	r, next := n-2, n-1
	for avail > 0 {
		for r >= 0 && a[r] == depth {
			used++
			r--
		}
		for avail > used {
			a[next] = depth
			next--
			avail--
		}
		avail, used = 2*used, 0
		depth++
	}
	// a[i] is now the code length of the i-th lightest symbol, and a is
	// non-increasing.

	clear(h.count[:])
	for _, l := range a {
		h.count[min(int(l), maxCodeBits+1)]++
	}
	if a[0] > uint32(maxBits) {
		limitCounts(h.count[:], maxBits)
	}
	// Hand out the lengths again: the longest to the lightest symbols.
	i := 0
	for l := maxCodeBits + 1; l > 0; l-- {
		for range h.count[l] {
			lens[s[i]&511] = uint8(l)
			i++
		}
	}
}

// sortByFreq sorts keys freq<<9|symbol, which arrive in symbol order, into
// ascending order: a stable LSD radix sort on the frequency, one pass per
// byte of the largest frequency. It produces what slices.Sort would (ties
// stay in symbol order) in a fraction of the time, which matters because
// every block builds two or three codes.
func (h *huffBuilder) sortByFreq(s []uint32) {
	var maxFreq uint32
	for _, k := range s {
		maxFreq = max(maxFreq, k>>9)
	}
	src, dst := s, h.tmp[:len(s)]
	for shift := uint(9); maxFreq>>(shift-9) != 0; shift += 8 {
		count := &h.radix
		*count = [256]uint16{}
		for _, k := range src {
			count[byte(k>>shift)]++
		}
		pos := uint16(0)
		for i, c := range count {
			count[i] = pos
			pos += c
		}
		for _, k := range src {
			b := byte(k >> shift)
			dst[count[b]] = k
			count[b]++
		}
		src, dst = dst, src
	}
	if &src[0] != &s[0] {
		copy(s, src)
	}
}

// limitCounts rewrites count (count[l] = number of codes of length l; the
// last slot collects everything longer than maxCodeBits) so that no code is
// longer than maxBits while the Kraft sum stays exactly 1. Overlong codes
// are first cut to maxBits, which oversubscribes the code; each step then
// takes one maxBits code away and splits a shorter leaf into two leaves one
// level deeper, which gives back exactly one maxBits slot. Only the count
// per length changes; the caller reassigns lengths by frequency order.
func limitCounts(count []int32, maxBits int) {
	for l := maxBits + 1; l < len(count); l++ {
		count[maxBits] += count[l]
		count[l] = 0
	}
	var total uint64
	for l := 1; l <= maxBits; l++ {
		total += uint64(count[l]) << (maxBits - l)
	}
	for total > 1<<maxBits {
		count[maxBits]--
		for l := maxBits - 1; l > 0; l-- {
			if count[l] > 0 {
				count[l]--
				count[l+1] += 2
				break
			}
		}
		total--
	}
}

// canonicalCodes assigns the canonical Huffman code of RFC 1951 §3.2.2 to
// code lengths lens and stores each code bit-reversed in codes, ready for
// the LSB-first bit writer.
func canonicalCodes(lens []uint8, codes []uint16) {
	var count, next [maxCodeBits + 1]uint16
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	code := uint16(0)
	for l := 1; l <= maxCodeBits; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	for sym, l := range lens {
		if l == 0 {
			codes[sym] = 0
			continue
		}
		codes[sym] = bits.Reverse16(next[l]) >> (16 - l)
		next[l]++
	}
}
