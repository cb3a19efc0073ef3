package deflate

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// blockWriter holds the scratch space for turning a block of tokens into
// bits: symbol frequencies, the Huffman codes built from them, and the
// run-length coded code lengths of a dynamic block header.
type blockWriter struct {
	hb       huffBuilder
	litFreq  [numLitLen]uint32
	distFreq [numDist]uint32
	litLens  [numLitLen]uint8
	distLens [numDist]uint8
	litCodes [numLitLen]uint16
	dstCodes [numDist]uint16
	clFreq   [numCodeLen]uint32
	clLens   [numCodeLen]uint8
	clCodes  [numCodeLen]uint16
	seq      [numLitLen + numDist]uint8 // HLIT+HDIST code lengths, one sequence
	rle      [numLitLen + numDist]uint16
	nrle     int
	nlit     int // HLIT+257: literal/length code lengths sent
	ndist    int // HDIST+1: distance code lengths sent
	hclen    int // HCLEN+4: code length code lengths sent
}

const (
	sizeofCompressorStruct = unsafe.Sizeof(Compressor{})
	sizeofBlockWriter      = unsafe.Sizeof(blockWriter{})
)

// The fixed Huffman code of RFC 1951 §3.2.6, bit-reversed for writing.
var (
	fixedLitLens  [numLitLenAll]uint8
	fixedLitCodes [numLitLenAll]uint16
	fixedDistLens [numDistAll]uint8
	fixedDistCode [numDistAll]uint16
)

func initFixedCodes() {
	for i := range fixedLitLens {
		switch {
		case i < 144:
			fixedLitLens[i] = 8
		case i < 256:
			fixedLitLens[i] = 9
		case i < 280:
			fixedLitLens[i] = 7
		default:
			fixedLitLens[i] = 8
		}
	}
	for i := range fixedDistLens {
		fixedDistLens[i] = 5
	}
	canonicalCodes(fixedLitLens[:], fixedLitCodes[:])
	canonicalCodes(fixedDistLens[:], fixedDistCode[:])
}

// testTokenHook, when set by a test, sees every block's tokens before they
// are written (to check, independently of any decoder, that no distance
// exceeds the window).
var testTokenHook func(c *Compressor, tokens []uint32)

// writeBlock writes the tokens gathered so far, which cover
// buf[blockStart:blockEnd], as one block of whichever type is smallest:
//
//   - stored (RFC 1951 §3.2.4): the raw bytes, 5 bytes of framing per
//     65535; best for data that does not compress, such as random bytes;
//   - fixed Huffman (§3.2.6): a code defined by the RFC, no header; best for
//     short blocks, where a code table would cost more than it saves;
//   - dynamic Huffman (§3.2.7): codes built from this block's symbol
//     frequencies, sent as a compact header; best for everything else.
//
// The cost of each is computed exactly, in bits, before anything is
// written. BFINAL is never set: permessage-deflate keeps the stream open
// across messages (RFC 7692 §7.2.1).
func (c *Compressor) writeBlock(blockEnd int) {
	toks := c.tokens
	raw := c.buf[c.blockStart:blockEnd]
	c.blockStart = blockEnd
	if len(toks) == 0 && len(raw) == 0 {
		return
	}
	if testTokenHook != nil {
		testTokenHook(c, toks)
	}
	b := c.blk
	clear(b.litFreq[:])
	clear(b.distFreq[:])
	extra := 0
	for _, t := range toks {
		if t < 256 {
			b.litFreq[t]++
			continue
		}
		ls := lenSym[(t>>16)&0xff]
		b.litFreq[257+int(ls)]++
		ds := distCode(t & 0xffff)
		b.distFreq[ds]++
		extra += int(lenExtra[ls]) + int(distExtra[ds])
	}
	b.litFreq[endOfBlock] = 1

	if c.cfg.mode == modeFast && len(toks) == len(raw) && len(raw) >= 1024 && flat(b.litFreq[:256], len(raw)) {
		// BestSpeed on data that does not compress (random or already
		// compressed bytes): only literals, in nearly equal numbers.
		// Store the block without building codes that cannot pay off.
		c.writeStoredBlocks(raw)
		c.tokens = c.tokens[:0]
		return
	}

	// Fixed code cost.
	fixedBits := 3 + extra
	for sym, f := range b.litFreq[:] {
		fixedBits += int(f) * int(fixedLitLens[sym])
	}
	for _, f := range b.distFreq[:] {
		fixedBits += int(f) * 5
	}

	// Stored cost: the first header is padded to a byte boundary, each
	// further one takes a byte; LEN and NLEN take 4 bytes per block.
	nstored := max(1, (len(raw)+maxStored-1)/maxStored)
	pad := (8 - (c.bw.pendingBits()+3)&7) & 7
	storedBits := 3 + int(pad) + (nstored-1)*8 + nstored*32 + 8*len(raw)

	if storedBits <= fixedBits && len(toks) == len(raw) && len(toks)+1 < len(xlog2x) && b.dynamicAtLeast() >= storedBits {
		// A short block of literals that no code can shrink (random
		// bytes, a short message): stored, the choice the exact costs
		// below would make, without building a dynamic code that
		// costs more than the rest of the block's work together.
		c.writeStoredBlocks(raw)
		c.tokens = c.tokens[:0]
		return
	}

	// Dynamic code cost: header plus data.
	dynBits := 3 + extra + b.buildDynamic()
	for sym, f := range b.litFreq[:] {
		dynBits += int(f) * int(b.litLens[sym])
	}
	for sym, f := range b.distFreq[:] {
		dynBits += int(f) * int(b.distLens[sym])
	}

	switch {
	case storedBits <= fixedBits && storedBits <= dynBits:
		c.writeStoredBlocks(raw)
	case fixedBits <= dynBits:
		c.bw.writeBits(1<<1, 3) // BFINAL=0, BTYPE=01
		c.writeTokens(fixedLitLens[:numLitLen], fixedLitCodes[:numLitLen], fixedDistLens[:numDist], fixedDistCode[:numDist])
	default:
		c.writeDynamicHeader()
		c.writeTokens(b.litLens[:], b.litCodes[:], b.distLens[:], b.dstCodes[:])
	}
	c.tokens = c.tokens[:0]
}

// writeStoredBlocks writes raw as stored blocks of up to 65535 bytes.
func (c *Compressor) writeStoredBlocks(raw []byte) {
	for {
		n := min(len(raw), maxStored)
		c.writeStored(raw[:n])
		raw = raw[n:]
		if len(raw) == 0 {
			return
		}
	}
}

// flat reports whether the byte frequencies freq of n bytes are so close to
// uniform that no Huffman code can save more than a few dozen bytes: the
// chi-square statistic sum((f-n/256)^2 / (n/256)) is below 2*256, where
// random bytes give about 255 and text gives thousands. Near uniform, a
// Huffman code saves at most about chi-square/(2 ln 2) bits, less than the
// cost of sending the code.
func flat(freq []uint32, n int) bool {
	var sum int64
	limit := int64(512*256) * int64(n) // chi2 < 512, scaled by 256n
	for _, f := range freq {
		d := 256*int64(f) - int64(n)
		sum += d * d
		if sum >= limit {
			return false
		}
	}
	return true
}

// xlog2x[f] is f·log2(f) in units of 2^-16 bits, rounded down, for the
// entropy bound of dynamicAtLeast.
var xlog2x [2048]uint32

func initEntropyTable() {
	for f := 2; f < len(xlog2x); f++ {
		xlog2x[f] = uint32(float64(f) * math.Log2(float64(f)) * (1 << 16))
	}
}

// dynamicAtLeast returns a lower bound on the size in bits of a block of
// literals only (no matches; fewer than len(xlog2x)-1 of them) sent with a
// dynamic Huffman code (RFC 1951 §3.2.7), from the counted frequencies,
// without building the code:
//
//   - 3 bits of block header, HLIT, HDIST and HCLEN (14 bits), and at
//     least four 3-bit code length code lengths;
//   - the data: no prefix code takes fewer bits than the entropy of the
//     symbol counts, N·log2(N) - Σ f·log2(f) for N symbols (Shannon);
//   - the code lengths of the literal bytes and the end-of-block symbol,
//     run-length coded with code length symbols of at least one bit each:
//     see runBits.
//
// Lengths are nonzero exactly for the used symbols here: the end-of-block
// symbol and at least one literal are used, so lengths adds no dummy.
func (b *blockWriter) dynamicAtLeast() int {
	const mask = uint32(len(xlog2x) - 1) // counts are below len(xlog2x): no bounds check
	bits := 3 + 14 + 3*4 - 1             // -1: for the rounding of the table
	n := 0
	var sum uint64
	run, used := 0, b.litFreq[0] != 0
	for _, f := range b.litFreq[:endOfBlock+1] {
		n += int(f)
		sum += uint64(xlog2x[f&mask])
		if (f != 0) != used {
			bits += runBits(run, used)
			run, used = 0, !used
		}
		run++
	}
	bits += runBits(run, used)
	return bits + int((uint64(xlog2x[uint32(n)&mask])-sum)>>16)
}

// runBits is the fewest bits that the code lengths of a run of l symbols,
// all used (nonzero lengths) or all unused (zero), can take in a dynamic
// block's header (RFC 1951 §3.2.7), each code length symbol taking at
// least one bit. Zeros: l symbols 0, or a 17 or 18 with 3 or 7 extra
// bits, so min(l, 4). Nonzero lengths: with k repeat symbols 16 (2 extra
// bits, up to 6 entries each) and lengths for the rest,
// max(1, l-6k) + 3k, which is min(l, 4) up to l = 7 and at least (l+1)/2
// beyond.
func runBits(l int, used bool) int {
	if used && l > 7 {
		return (l + 1) / 2
	}
	return min(l, 4)
}

// buildDynamic builds the dynamic codes for the counted frequencies and the
// run-length coded header, and returns the header's size in bits (without
// the 3-bit block header).
func (b *blockWriter) buildDynamic() int {
	b.hb.lengths(b.litFreq[:], b.litLens[:], maxCodeBits)
	b.hb.lengths(b.distFreq[:], b.distLens[:], maxCodeBits)
	canonicalCodes(b.litLens[:], b.litCodes[:])
	canonicalCodes(b.distLens[:], b.dstCodes[:])

	nlit := numLitLen
	for nlit > 257 && b.litLens[nlit-1] == 0 {
		nlit--
	}
	ndist := numDist
	for ndist > 1 && b.distLens[ndist-1] == 0 {
		ndist--
	}
	n := copy(b.seq[:], b.litLens[:nlit])
	n += copy(b.seq[n:], b.distLens[:ndist])

	// RFC 1951 §3.2.7: code lengths are themselves coded with symbols
	// 0..15 (a length), 16 (repeat the previous length 3-6 times, 2 extra
	// bits), 17 (3-10 zeros, 3 extra bits) and 18 (11-138 zeros, 7 extra
	// bits). rle entries are symbol | extra<<5.
	clear(b.clFreq[:])
	b.nrle = 0
	extraBits := 0
	emit := func(sym, extra int) {
		b.rle[b.nrle] = uint16(sym | extra<<5)
		b.nrle++
		b.clFreq[sym]++
	}
	for i := 0; i < n; {
		v := b.seq[i]
		run := 1
		for i+run < n && b.seq[i+run] == v {
			run++
		}
		i += run
		if v == 0 {
			for run >= 11 {
				r := min(run, 138)
				emit(18, r-11)
				extraBits += 7
				run -= r
			}
			if run >= 3 {
				emit(17, run-3)
				extraBits += 3
				run = 0
			}
		} else {
			emit(int(v), 0)
			run--
			for run >= 3 {
				r := min(run, 6)
				emit(16, r-3)
				extraBits += 2
				run -= r
			}
		}
		for ; run > 0; run-- {
			emit(int(v), 0)
		}
	}
	b.hb.lengths(b.clFreq[:], b.clLens[:], maxCLCodeBits)
	canonicalCodes(b.clLens[:], b.clCodes[:])
	hclen := numCodeLen
	for hclen > 4 && b.clLens[codeLenOrder[hclen-1]] == 0 {
		hclen--
	}
	bits := 5 + 5 + 4 + 3*hclen + extraBits
	for sym, f := range b.clFreq {
		bits += int(f) * int(b.clLens[sym])
	}
	b.nlit, b.ndist, b.hclen = nlit, ndist, hclen
	return bits
}

// writeDynamicHeader writes the block header built by buildDynamic.
func (c *Compressor) writeDynamicHeader() {
	b := c.blk
	w := &c.bw
	w.writeBits(2<<1, 3) // BFINAL=0, BTYPE=10
	w.writeBits(uint32(b.nlit-257), 5)
	w.writeBits(uint32(b.ndist-1), 5)
	w.writeBits(uint32(b.hclen-4), 4)
	for _, sym := range codeLenOrder[:b.hclen] {
		w.writeBits(uint32(b.clLens[sym]), 3)
	}
	for _, r := range b.rle[:b.nrle] {
		sym, extra := r&31, uint32(r>>5)
		w.writeBits(uint32(b.clCodes[sym]), uint(b.clLens[sym]))
		switch sym {
		case 16:
			w.writeBits(extra, 2)
		case 17:
			w.writeBits(extra, 3)
		case 18:
			w.writeBits(extra, 7)
		}
	}
}

// writeTokens writes the block's tokens and the end-of-block symbol with the
// given codes. A match is a length symbol and its extra bits, then a
// distance symbol and its extra bits (RFC 1951 §3.2.5), two fields of at
// most 20 and 28 bits. This is the hottest loop of the writer, so the bit
// accumulator lives in local variables here: complete 32-bit words leave it
// whenever 32 bits are pending, so 28 more always fit in 64.
func (c *Compressor) writeTokens(litLens []uint8, litCodes []uint16, distLens []uint8, distCodes []uint16) {
	litLens, litCodes = litLens[:numLitLen], litCodes[:numLitLen]
	distLens, distCodes = distLens[:numDist], distCodes[:numDist]
	out, acc, n := c.bw.out, c.bw.bits, c.bw.nbits
	for _, t := range c.tokens {
		if t < 256 {
			acc |= uint64(litCodes[t]) << n
			n += uint(litLens[t])
		} else {
			l := (t >> 16) & 0xff
			ls := lenSym[l]
			sym := 257 + uint32(ls)
			acc |= (uint64(litCodes[sym]) | uint64(l+3-uint32(lenBase[ls]))<<litLens[sym]) << n
			n += uint(litLens[sym]) + uint(lenExtra[ls])
			if n >= 32 {
				out = binary.LittleEndian.AppendUint32(out, uint32(acc))
				acc >>= 32
				n -= 32
			}
			d := t & 0xffff
			ds := distCode(d) & 31
			acc |= (uint64(distCodes[ds]) | uint64(d+1-uint32(distBase[ds]))<<distLens[ds]) << n
			n += uint(distLens[ds]) + uint(distExtra[ds])
		}
		if n >= 32 {
			out = binary.LittleEndian.AppendUint32(out, uint32(acc))
			acc >>= 32
			n -= 32
		}
	}
	c.bw.out, c.bw.bits, c.bw.nbits = out, acc, n
	c.bw.writeBits(uint32(litCodes[endOfBlock]), uint(litLens[endOfBlock]))
}

const sizeofDecompressorStruct = unsafe.Sizeof(Decompressor{})
