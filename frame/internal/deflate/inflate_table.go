package deflate

import "math/bits"

// Decoding tables. A Huffman code is decoded by table lookup instead of bit
// by bit: the next root bits of input index a primary table whose entry says
// which symbol those bits start with and how many of them the code uses.
// Codes longer than root bits (rare: they belong to rare symbols) continue
// in a sub-table that the primary entry links to, indexed by the following
// bits. Each entry is a uint32:
//
//	bits 0-7   n: bits the code takes (for an invalid entry: bits looked at)
//	bits 8-15  op: what the symbol means
//	bits 16-31 value: literal byte, base length or distance, or sub-table offset
//
// Because DEFLATE packs Huffman codes most significant bit first into an
// LSB-first bit stream, the table is indexed by the code's bits reversed.
const (
	opLit  = 0x00 // literal byte (or, for the code length code, the symbol)
	opBase = 0x10 // length or distance: value is the base, low 4 bits the extra bit count
	opEOB  = 0x20 // end of block
	opLink = 0x40 // sub-table at value, low 4 bits its index width
	opBad  = 0x80 // no code, or a symbol that must not appear (286, 287, 30, 31)

	litRoot  = 9
	distRoot = 7
	clRoot   = 7
)

type tableKind uint8

const (
	kindLitLen tableKind = iota
	kindDist
	kindCodeLen
)

func entry(value uint32, op uint32, n uint32) uint32 { return value<<16 | op<<8 | n }

// symEntry is the table entry for symbol sym with a code of n bits.
func symEntry(kind tableKind, sym int, n uint32) uint32 {
	switch kind {
	case kindLitLen:
		switch {
		case sym < 256:
			return entry(uint32(sym), opLit, n)
		case sym == endOfBlock:
			return entry(0, opEOB, n)
		case sym < numLitLen:
			i := sym - 257
			return entry(uint32(lenBase[i]), opBase|uint32(lenExtra[i]), n)
		}
	case kindDist:
		if sym < numDist {
			return entry(uint32(distBase[sym]), opBase|uint32(distExtra[sym]), n)
		}
	case kindCodeLen:
		return entry(uint32(sym), opLit, n)
	}
	return entry(0, opBad, n)
}

// tableScratch is reused between table builds.
type tableScratch struct {
	sorted  [numLitLenAll]uint16 // symbols in canonical order
	maxLen  [1 << litRoot]uint8  // longest code per root prefix
	offsets [maxCodeBits + 2]uint16
}

// buildTable builds the decoding table for code lengths lens into t[:0]
// (reusing its capacity) and returns it, or ok=false if the lengths do not
// form a valid prefix code. Like zlib and compress/flate it rejects
// oversubscribed codes and incomplete ones, except a code with a single
// one-bit code, and a code with no codes at all (RFC 1951 §3.2.7 allows a
// block without distance codes: "one distance code of zero bits means that
// there are no distance codes"). Entries no code reaches decode as opBad.
func buildTable(t []uint32, lens []uint8, root uint, kind tableKind, sc *tableScratch) (_ []uint32, ok bool) {
	var count [maxCodeBits + 1]uint16
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	left := 1
	maxLen, ncodes := 0, 0
	for l := 1; l <= maxCodeBits; l++ {
		left = left<<1 - int(count[l])
		if left < 0 {
			return t, false // oversubscribed
		}
		if count[l] > 0 {
			maxLen = l
			ncodes += int(count[l])
		}
	}
	if left > 0 && ncodes > 0 && !(ncodes == 1 && maxLen == 1) {
		return t, false // incomplete
	}

	// Symbols in canonical order: by length, then by symbol.
	sc.offsets[1] = 0
	for l := 1; l < maxCodeBits; l++ {
		sc.offsets[l+1] = sc.offsets[l] + count[l]
	}
	for sym, l := range lens {
		if l != 0 {
			sc.sorted[sc.offsets[l]] = uint16(sym)
			sc.offsets[l]++
		}
	}

	size := 1 << root
	if cap(t) < size {
		t = make([]uint32, size, size+size/2)
	}
	t = t[:size]
	if left > 0 || maxLen > int(root) {
		// Entries no code reaches must decode as invalid, and the
		// primary entries of long codes must not look like links
		// before their sub-table exists. A complete code without
		// sub-tables overwrites every entry, so it skips this.
		bad := entry(0, opBad, uint32(root))
		for i := range t {
			t[i] = bad
		}
	}
	if ncodes == 0 {
		return t, true
	}

	// First pass over the long codes: the width each sub-table needs.
	rootMask := uint32(size - 1)
	if maxLen > int(root) {
		clear(sc.maxLen[:size])
		code, i := uint32(0), 0
		for l := 1; l <= maxLen; l++ {
			for range count[l] {
				if l > int(root) {
					p := bits.Reverse32(code<<(32-l)) & rootMask
					sc.maxLen[p] = uint8(l)
				}
				code++
				i++
			}
			code <<= 1
		}
	}

	// Second pass: fill entries, creating sub-tables as they are met.
	code, i := uint32(0), 0
	for l := 1; l <= maxLen; l++ {
		for range count[l] {
			sym := int(sc.sorted[i])
			rev := bits.Reverse32(code << (32 - l)) // the l code bits, reversed
			e := symEntry(kind, sym, uint32(l))
			if l <= int(root) {
				for k := rev; k < uint32(size); k += 1 << l {
					t[k] = e
				}
			} else {
				p := rev & rootMask
				link := t[p]
				if (link>>8)&0xff&opLink == 0 {
					sub := uint32(sc.maxLen[p]) - uint32(root)
					off := uint32(len(t))
					subBad := entry(0, opBad, uint32(root)+sub)
					for range 1 << sub {
						t = append(t, subBad)
					}
					link = entry(off, opLink|sub, uint32(root))
					t[p] = link
				}
				off, sub := link>>16, (link>>8)&15
				for k := rev >> root; k < 1<<sub; k += 1 << (l - int(root)) {
					t[off+k] = e
				}
			}
			code++
			i++
		}
		code <<= 1
	}
	return t, true
}

// The tables of the fixed Huffman code (RFC 1951 §3.2.6), shared.
var fixedLitTable, fixedDistTable []uint32

func initFixedTables() {
	var sc tableScratch
	var ok1, ok2 bool
	fixedLitTable, ok1 = buildTable(nil, fixedLitLens[:], litRoot, kindLitLen, &sc)
	fixedDistTable, ok2 = buildTable(nil, fixedDistLens[:], distRoot, kindDist, &sc)
	if !ok1 || !ok2 {
		panic("deflate: fixed code tables")
	}
}
