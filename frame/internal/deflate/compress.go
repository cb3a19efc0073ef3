package deflate

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
)

// Compression levels. Levels 1 to 9 trade speed for size as in zlib;
// the level changes how hard the LZ77 stage searches for matches, never the
// format.
const (
	// HuffmanOnly skips LZ77: every byte is a literal, coded with a
	// Huffman code fitted to the block. Useful for data with skewed byte
	// frequencies but no repeats.
	HuffmanOnly = -2
	// DefaultCompression is a balance between speed and size (level 5).
	DefaultCompression = -1
	// NoCompression emits stored blocks: the payload is framed, not
	// compressed. It needs no window and almost no memory.
	NoCompression = 0
	// BestSpeed uses a single hash probe per position and skips ahead
	// quickly through data that does not compress.
	BestSpeed = 1
	// BestCompression follows long hash chains and defers every match by
	// one byte to see whether a longer one starts there (lazy matching).
	BestCompression = 9
)

// Window sizes allowed by RFC 7692 §7.1.2: 2^8 to 2^15 bytes.
const (
	MinWindowBits = 8
	MaxWindowBits = 15
)

type matchMode uint8

const (
	modeStored matchMode = iota
	modeHuffman
	modeFast
	modeGreedy
	modeLazy
)

// levelConfig tunes the match search, with zlib's meaning of the fields:
// stop searching at a match of nice bytes, follow at most chain hash chain
// links (a quarter of that once the previous match is already good), and
// only look for a better match after one shorter than lazy. For greedy
// levels lazy instead bounds the matches whose inner positions are hashed.
type levelConfig struct {
	mode                    matchMode
	good, lazy, nice, chain int
}

var levels = [10]levelConfig{
	0: {mode: modeStored},
	1: {mode: modeFast},
	2: {modeGreedy, 4, 8, 16, 8},
	3: {modeGreedy, 4, 16, 32, 24},
	4: {modeLazy, 4, 4, 16, 16},
	5: {modeLazy, 8, 16, 32, 32},
	6: {modeLazy, 8, 16, 128, 128},
	7: {modeLazy, 8, 32, 128, 256},
	8: {modeLazy, 32, 128, 258, 1024},
	9: {modeLazy, 32, 258, 258, 4096},
}

// Token encoding: a literal is its byte value (< 256); a match is
// 1<<31 | (length-3)<<16 | (distance-1).
const tokenMatch = 1 << 31

func matchToken(length, dist int) uint32 {
	return tokenMatch | uint32(length-minMatch)<<16 | uint32(dist-1)
}

// A Compressor turns WebSocket messages into permessage-deflate payloads
// (RFC 7692 §7.2.1). Its LZ77 stage never refers further back than
// 2^windowBits bytes, so a peer that asked for a smaller window
// (client_max_window_bits / server_max_window_bits, RFC 7692 §7.1.2) can
// decode it with a window of exactly that size.
//
// Memory: the window buffer holds the last 2^windowBits bytes of history
// plus room for new input (max(2^windowBits, 4 KiB)), the hash head table
// has 2^(windowBits+1) 16-bit entries, levels 2 to 9 add a 16-bit hash
// chain link per window byte, and a block buffers up to
// max(2048, min(16384, room/2)) 4-byte tokens. See MemorySize.
//
// A Compressor is not safe for concurrent use; frame.Conn owns one per
// connection and uses it under its write lock.
type Compressor struct {
	cfg   levelConfig
	level int
	wbits uint
	wsize int // 2^wbits: the farthest distance a match may have
	wmask int

	// buf[:end] is the window: bytes before pos are already tokenized
	// (the history matches refer to), bytes from pos on wait for
	// tokenizing. Bytes before validStart must not be referred to (they
	// precede the last Reset). The current block covers
	// buf[blockStart:pos].
	buf        []byte
	pos, end   int
	blockStart int
	validStart int

	// Hash chains: head[h] is the most recent position whose next four
	// bytes hash to h; prev[p&wmask] is the position before p with the
	// same hash. Positions are absolute (buffer offset + base, base being
	// how far the buffer has slid) and stored modulo 2^16: the distance
	// from position s back to an entry e is uint16(s+base-e), exact for
	// every entry less than 64 KiB old, so sliding the buffer never
	// rewrites the tables. Entries are only hints: a candidate is used
	// only if it lies in the window, after validStart, and its bytes
	// match, so older entries (or ones left from before a Reset) cost
	// nothing but a comparison.
	head      []uint16
	prev      []uint16
	hashShift uint
	base      int

	tokens []uint32
	bw     bitWriter
	blk    *blockWriter // scratch for building blocks; nil at level 0
}

// NewCompressor returns a Compressor for the given level (HuffmanOnly,
// DefaultCompression, or 0 to 9) whose matches reach back at most
// 2^windowBits bytes (8 to 15; 0 means 15). It panics on other values:
// they are programming errors, not peer input.
func NewCompressor(level, windowBits int) *Compressor {
	if windowBits == 0 {
		windowBits = MaxWindowBits
	}
	if windowBits < MinWindowBits || windowBits > MaxWindowBits {
		panic(fmt.Sprintf("deflate: window bits %d out of range 8..15", windowBits))
	}
	if level == DefaultCompression {
		level = 5
	}
	if level < HuffmanOnly || level > BestCompression {
		panic(fmt.Sprintf("deflate: invalid compression level %d", level))
	}
	c := &Compressor{level: level, wbits: uint(windowBits)}
	c.wsize = 1 << windowBits
	c.wmask = c.wsize - 1
	switch {
	case level == HuffmanOnly:
		c.cfg = levelConfig{mode: modeHuffman}
	default:
		c.cfg = levels[level]
	}
	if c.cfg.mode == modeStored {
		return c
	}
	c.blk = new(blockWriter)
	room := max(c.wsize, 4096)
	c.tokens = make([]uint32, 0, max(2048, min(16384, room/2)))
	if c.cfg.mode == modeHuffman {
		// No history is ever referred to; the buffer only stages input
		// so that a block can fall back to being stored.
		c.buf = make([]byte, room)
		return c
	}
	c.buf = make([]byte, c.wsize+room)
	hashBits := windowBits + 1
	c.head = make([]uint16, 1<<hashBits)
	c.hashShift = uint(32 - hashBits)
	if c.cfg.mode != modeFast {
		c.prev = make([]uint16, c.wsize)
	}
	return c
}

// CompressBound returns the most bytes AppendCompress can append for an
// n-byte message, so a caller can size its buffer once. Data that does not
// compress is sent in stored blocks, which cost 5 bytes per block; blocks
// hold at least about a thousand bytes, so the bound is n + n/128 + 32.
// For AppendCompressPart, bound a call by CompressBound(c.Buffered()+len(p)).
func CompressBound(n int) int { return n + n>>7 + 32 }

// Buffered reports how many bytes of the current message the Compressor
// holds that it has not yet emitted as compressed output.
func (c *Compressor) Buffered() int { return c.end - c.blockStart }

// Level reports the compression level (DefaultCompression resolved).
func (c *Compressor) Level() int { return c.level }

// WindowBits reports the window size the Compressor was made for.
func (c *Compressor) WindowBits() int { return int(c.wbits) }

// MemorySize reports the bytes the Compressor holds: its buffers and
// tables, and about 6 KiB of scratch for building Huffman codes (none at
// level 0).
func (c *Compressor) MemorySize() int {
	n := len(c.buf) + 2*len(c.head) + 2*len(c.prev) + 4*cap(c.tokens) + int(sizeofCompressorStruct)
	if c.blk != nil {
		n += int(sizeofBlockWriter)
	}
	return n
}

// Reset forgets the history, so the next message refers to nothing sent
// before it. frame.Conn calls it after each message when "no context
// takeover" was negotiated for our direction (RFC 7692 §7.1.1). It must not
// be called in the middle of a message. It is O(1): the hash tables keep
// their stale hints, which are checked against the data before use.
func (c *Compressor) Reset() {
	c.pos, c.end, c.blockStart, c.validStart = 0, 0, 0, 0
	c.tokens = c.tokens[:0]
	c.bw.bits, c.bw.nbits = 0, 0
}

// AppendCompress appends the permessage-deflate payload of the whole
// message p to dst and returns the extended slice.
//
// RFC 7692 §7.2.1: the message is compressed into DEFLATE blocks with
// BFINAL unset, ended by a sync flush (an empty stored block, whose
// aligned LEN/NLEN are the bytes 0x00 0x00 0xff 0xff), and those four
// bytes are then removed; the receiver puts them back (§7.2.2). With
// context takeover the blocks may refer to earlier messages; call Reset
// between messages otherwise.
//
// In steady state (dst with enough capacity) it does not allocate.
func (c *Compressor) AppendCompress(dst, p []byte) []byte {
	return c.AppendCompressPart(dst, p, true)
}

// AppendCompressPart compresses the next part p of a message whose length
// is not known in advance and appends the compressed bytes that are ready
// to dst. Input is buffered until a block is worth emitting, so a call may
// append nothing; every byte it appends can be sent at once, for example as
// a continuation frame. When final is set the message ends: all buffered
// input is emitted and the payload is finished as AppendCompress does
// (sync flush, trailing 0x00 0x00 0xff 0xff removed).
func (c *Compressor) AppendCompressPart(dst, p []byte, final bool) []byte {
	c.bw.out = dst
	if c.cfg.mode == modeStored {
		c.storedPart(p)
	} else {
		for len(p) > 0 {
			if c.end == len(c.buf) {
				c.slide()
			}
			n := copy(c.buf[c.end:], p)
			c.end += n
			p = p[n:]
			if len(p) > 0 || !final {
				c.deflate(false)
			}
			// Otherwise the message's last bytes are buffered: flush
			// tokenizes them in one pass, with no maxMatch bytes held
			// back to form a short block of their own.
		}
	}
	if final {
		c.flush()
		out := c.bw.out
		if n := len(out); n < 4 || binary.BigEndian.Uint32(out[n-4:]) != 0x0000ffff {
			panic("deflate: sync flush did not end with 00 00 ff ff")
		}
		c.bw.out = out[:len(out)-4]
	} else {
		c.flushBytes()
	}
	out := c.bw.out
	c.bw.out = nil
	return out
}

// AppendFlush emits everything written so far in the current message,
// ending with a sync flush whose 0x00 0x00 0xff 0xff stays in the payload,
// so that the peer can decode all of it before the message ends
// (RFC 7692 §7.2.3.5 shows such a payload of two blocks). The message
// continues; finish it with AppendCompressPart(dst, nil, true).
func (c *Compressor) AppendFlush(dst []byte) []byte {
	c.bw.out = dst
	c.flush()
	out := c.bw.out
	c.bw.out = nil
	return out
}

// flush tokenizes all buffered input, writes the open block and a sync
// flush (an empty stored block), leaving the output byte aligned.
func (c *Compressor) flush() {
	if c.cfg.mode != modeStored {
		c.deflate(true)
		c.writeBlock(c.pos)
	}
	c.bw.writeBits(0, 3) // BFINAL=0, BTYPE=00: stored
	c.bw.align()
	c.bw.out = append(c.bw.out, 0x00, 0x00, 0xff, 0xff) // LEN=0, NLEN=^0
}

// flushBytes moves the complete bytes waiting in the bit writer to the
// output, so that a streaming caller gets everything it can send.
func (c *Compressor) flushBytes() {
	for c.bw.nbits >= 8 {
		c.bw.out = append(c.bw.out, byte(c.bw.bits))
		c.bw.bits >>= 8
		c.bw.nbits -= 8
	}
}

// storedPart writes p as stored blocks (level 0). Stored blocks start on a
// byte boundary, so nothing is ever pending in the bit writer.
func (c *Compressor) storedPart(p []byte) {
	for len(p) > 0 {
		n := min(len(p), maxStored)
		c.writeStored(p[:n])
		p = p[n:]
	}
}

// writeStored writes one stored block (RFC 1951 §3.2.4): the 3-bit header,
// padding to a byte boundary, LEN and its complement NLEN, then the bytes.
func (c *Compressor) writeStored(p []byte) {
	c.bw.writeBits(0, 3)
	c.bw.align()
	c.bw.out = binary.LittleEndian.AppendUint16(c.bw.out, uint16(len(p)))
	c.bw.out = binary.LittleEndian.AppendUint16(c.bw.out, ^uint16(len(p)))
	c.bw.out = append(c.bw.out, p...)
}

// slide makes room at the end of the buffer by dropping all but the last
// wsize bytes before pos. The open block is written first if its bytes
// would be dropped (a block must stay available to be stored verbatim).
func (c *Compressor) slide() {
	if c.cfg.mode == modeHuffman {
		c.writeBlock(c.pos)
		n := copy(c.buf, c.buf[c.pos:c.end])
		c.pos, c.end, c.blockStart = 0, n, 0
		return
	}
	delta := c.pos - c.wsize
	if delta <= 0 {
		panic("deflate: slide without progress")
	}
	if c.blockStart < delta {
		c.writeBlock(c.pos)
	}
	copy(c.buf, c.buf[delta:c.end])
	c.pos -= delta
	c.end -= delta
	c.blockStart -= delta
	c.validStart = max(c.validStart-delta, 0)
	c.base = (c.base + delta) & 0xffff
}

// deflate tokenizes buffered input. Unless flushing it leaves the last
// maxMatch bytes for later, so that a match is never cut short just
// because the rest of the data has not been written yet.
func (c *Compressor) deflate(flush bool) {
	limit := c.end
	if !flush {
		limit -= maxMatch
	}
	if c.pos >= limit {
		return
	}
	switch c.cfg.mode {
	case modeHuffman:
		for p := c.pos; p < limit; p++ {
			c.emitLit(p)
		}
		c.pos = limit
	case modeFast:
		c.deflateFast(limit)
	case modeGreedy:
		c.deflateGreedy(limit)
	case modeLazy:
		c.deflateLazy(limit)
	}
}

func load32(b []byte, i int) uint32 { return binary.LittleEndian.Uint32(b[i:]) }

// hashMul is the multiplier of the 4-byte hash (Knuth's multiplicative
// hashing; the top bits of the product are the hash).
const hashMul = 0x1e35a7bd

func (c *Compressor) hash(u uint32) uint32 { return (u * hashMul) >> c.hashShift }

// matchLen returns the length of the common prefix of a and b,
// len(a) <= len(b), comparing eight bytes at a time.
func matchLen(a, b []byte) int {
	n := 0
	for len(a)-n >= 8 {
		x := binary.LittleEndian.Uint64(a[n:]) ^ binary.LittleEndian.Uint64(b[n:])
		if x != 0 {
			return n + bits.TrailingZeros64(x)>>3
		}
		n += 8
	}
	for n < len(a) && a[n] == b[n] {
		n++
	}
	return n
}

// emitLit adds the literal at buf[p], writing out the block first if the
// token buffer is full.
func (c *Compressor) emitLit(p int) {
	if len(c.tokens) == cap(c.tokens) {
		c.writeBlock(p)
	}
	c.tokens = append(c.tokens, uint32(c.buf[p]))
}

// emitLits adds the literals buf[from:to].
func (c *Compressor) emitLits(from, to int) {
	for from < to {
		if len(c.tokens) == cap(c.tokens) {
			c.writeBlock(from)
		}
		n := min(to-from, cap(c.tokens)-len(c.tokens))
		for _, b := range c.buf[from : from+n] {
			c.tokens = append(c.tokens, uint32(b))
		}
		from += n
	}
}

// emitMatch adds a back-reference for the match at position p.
func (c *Compressor) emitMatch(p, length, dist int) {
	if len(c.tokens) == cap(c.tokens) {
		c.writeBlock(p)
	}
	c.tokens = append(c.tokens, matchToken(length, dist))
}

// deflateFast is level 1: one candidate per position from a hash table of
// the most recent position per 4-byte hash, greedy matches, and a stride
// that grows with the stretch without matches: 1 + (bytes since the last
// match)/64, so the first 64 bytes after a match are all probed and the
// probes then thin out geometrically (about 64·ln(n/64) probes for n bytes
// that never match, 510 for 64 KiB, where a step growing by one every 32
// misses took 2,000). That makes incompressible data cheap; compressible
// data, where matches come every few bytes, never gets far into the
// stretch. compress/flate's level 1 grows its stride the same way, by
// 1/32 of the distance; 1/64 finds more of the matches in short text.
//
// A probe that finds nothing is the hot path on data that does not
// compress: the fields it reads are copied to locals (the stores to head
// could alias them otherwise, so the compiler would load them from c at
// every probe), and the hash's shift is masked to compile to a bare shift.
func (c *Compressor) deflateFast(limit int) {
	const skipLog = 6
	buf, head := c.buf, c.head
	hashEnd := min(limit, c.end-3) // positions with four bytes to hash
	lit := c.pos                   // first byte not yet emitted
	s := c.pos
	base, wsize, validStart := c.base, c.wsize, c.validStart
	shift := c.hashShift & 31 // hashShift < 32
	for s < hashEnd {
		cur := binary.LittleEndian.Uint32(buf[s : s+4])
		h := (cur * hashMul) >> shift
		abs := uint16(s + base)
		dist := int(abs - head[h])
		head[h] = abs
		if cand := s - dist; uint(dist-1) < uint(wsize) && cand >= validStart && binary.LittleEndian.Uint32(buf[cand:cand+4]) == cur {
			maxLen := min(maxMatch, c.end-s)
			l := 4 + matchLen(buf[s+4:s+maxLen], buf[cand+4:])
			c.emitRun(lit, s)
			c.emitMatch(s, l, dist)
			s += l
			// A match that goes on at the same distance past maxMatch
			// bytes (a repeat of a long stretch, such as an earlier
			// message sent again under context takeover) is followed
			// here, not left to the hash table, which holds few
			// positions of a stretch the stride went through quickly.
			for l == maxMatch && s < hashEnd && load32(buf, s) == load32(buf, s-dist) {
				maxLen := min(maxMatch, c.end-s)
				l = 4 + matchLen(buf[s+4:s+maxLen], buf[s-dist+4:])
				c.emitMatch(s, l, dist)
				s += l
			}
			lit = s
			// Index the last two positions of the match so that the
			// data that follows can refer to it.
			if s+3 <= c.end {
				head[c.hash(load32(buf, s-2))] = uint16(s - 2 + c.base)
				head[c.hash(load32(buf, s-1))] = uint16(s - 1 + c.base)
			}
			continue
		}
		s += 1 + (s-lit)>>skipLog
	}
	if lit < limit {
		if limit == c.end && c.storeShortRun(lit, limit) {
			// Flushing: the run is the whole block (see storeShortRun).
		} else {
			c.emitRun(lit, limit)
		}
		lit = limit
	}
	c.pos = lit
}

// storeShortRun handles a run of literals buf[from:to], shorter than
// emitRun's minimum, that is a whole block: the block starts with it and
// ends with it, because the message (or the flush) ends there. That is
// what a short message of random bytes becomes. If the block's costs,
// bounded from one pass over the bytes, show that writeBlock would store
// it, it is written as a stored block at once, without a token per byte,
// and storeShortRun reports true; otherwise it does nothing. The output is
// the same either way: stored only when stored costs no more than the
// fixed code (computed exactly) and than a lower bound on the dynamic
// code (RFC 1951 §3.2.4, §3.2.6, §3.2.7).
func (c *Compressor) storeShortRun(from, to int) bool {
	run := c.buf[from:to]
	if len(run) >= emitRunMin || len(c.tokens) != 0 || c.blockStart != from {
		return false
	}
	b := c.blk
	// The literal counts are free until writeBlock, which clears them.
	hist := (*[256]uint32)(b.litFreq[:256])
	clear(hist[:])
	var used [5]uint64 // symbols 0..256 with a nonzero count
	used[endOfBlock>>6] = 1 << (endOfBlock & 63)
	pairs := 0
	for _, v := range run {
		f := hist[v]
		hist[v] = f + 1
		pairs += int(f) // Σ f² = 2·Σ(counts before each increment) + n
		used[v>>6] |= 1 << (v & 63)
	}
	high := 0 // literals 144..255: 9 bits in the fixed code
	for i := 144; i < 256; i += 4 {
		high += int(hist[i] + hist[i+1] + hist[i+2] + hist[i+3])
	}
	n := len(run)
	pad := (8 - (c.bw.pendingBits()+3)&7) & 7
	storedBits := 3 + int(pad) + 32 + 8*n
	// The fixed code (RFC 1951 §3.2.6): 8 bits for literals 0..143, 9 for
	// 144..255, 7 for the end of block.
	if fixedBits := 3 + 8*n + high + 7; storedBits > fixedBits {
		return false
	}
	if literalsAtLeast(n, 2*pairs+n, &used) < storedBits {
		return false
	}
	c.writeStoredBlocks(run)
	c.blockStart = to
	return true
}

// literalsAtLeast returns a lower bound on the size in bits of a dynamic
// block (RFC 1951 §3.2.7) of n literals whose counts f have Σ f² = sq and
// use the symbols in used (bit s for symbol s, the end-of-block symbol 256
// included), computed in constant time, a cheaper and looser cousin of
// dynamicAtLeast:
//
//   - 3 bits of block header, 14 of HLIT, HDIST and HCLEN, and at least
//     four 3-bit code length code lengths;
//   - the data: a prefix code takes at least N·H bits for N symbols of
//     Shannon entropy H, and H is at least the collision entropy
//     log2(N²/Σ f²) (Jensen's inequality), which needs only Σ f²;
//   - the code lengths of symbols 0..256, at least min(l, 4) bits for a
//     run of l used or l unused symbols (see runBits).
func literalsAtLeast(n, sq int, used *[5]uint64) int {
	N := float64(n + 1) // the end-of-block symbol, used once
	data := N * math.Log2(N*N/float64(sq+1))
	// -1: math.Log2 is not exact to the last bit.
	return 3 + 14 + 3*4 + runsAtLeast(used) + int(data) - 1
}

// runsAtLeast returns Σ min(l, 4) over the runs of used and of unused
// symbols among 0..256 in used, with word operations: a run of length l
// counts once for each j = 1..min(l, 4), at its start s if symbols s+1 to
// s+j-1 continue it.
func runsAtLeast(used *[5]uint64) int {
	// same bit s: symbol s is of the same kind (used or not) as s-1.
	var same [6]uint64
	carry := uint64(0)
	for i, u := range used {
		same[i] = ^(u ^ (u<<1 | carry))
		carry = u >> 63
	}
	same[0] &^= 1 // symbol 0 starts a run
	same[4] &= 1  // symbol 256 is the last
	total := 0
	for i := range 5 {
		starts := ^same[i]
		if i == 4 {
			starts &= 1
		}
		s1 := same[i]>>1 | same[i+1]<<63
		s2 := same[i]>>2 | same[i+1]<<62
		s3 := same[i]>>3 | same[i+1]<<61
		total += bits.OnesCount64(starts) + bits.OnesCount64(starts&s1) +
			bits.OnesCount64(starts&s1&s2) + bits.OnesCount64(starts&s1&s2&s3)
	}
	return total
}

// emitRunMin is the shortest run emitRun may store at once.
const emitRunMin = 1024

// emitRun adds the literals buf[from:to] for deflateFast. A long run that
// starts a block and looks incompressible (a flat byte histogram on a
// sample: random or already compressed data) is
// written out at once as stored blocks, without a token per byte and the
// block's cost computation, which writeBlock would end in the same choice
// (see flat). This is what makes BestSpeed cheap on data that does not
// compress. The sample is about 1,024 bytes, spread over the run; a run
// shorter than 2 KiB is counted whole.
func (c *Compressor) emitRun(from, to int) {
	const minRun = emitRunMin
	if to-from >= minRun && len(c.tokens) == 0 && c.blockStart == from {
		// The block's literal counts are free until writeBlock (no
		// tokens are pending): use them, not 1 KiB of stack.
		hist := (*[256]uint32)(c.blk.litFreq[:256])
		clear(hist[:])
		run := c.buf[from:to]
		stride := len(run) / minRun
		n := 0
		if stride == 1 {
			countBytes(hist, run)
			n = len(run)
		} else {
			countSampled(hist, run, stride)
			n = (len(run) + stride - 1) / stride
		}
		if flatCounts(hist, n) {
			c.writeStoredBlocks(run)
			c.blockStart = to
			return
		}
	}
	c.emitLits(from, to)
}

// countBytes adds one to hist[b] for every byte b of p. It is the byte
// histogram of emitRun's incompressibility test, the one pass over a
// random message's bytes that the match search does not make: sixteen
// bytes a step, each a load and an increment, without loop overhead or
// bounds checks per byte.
func countBytes(hist *[256]uint32, p []byte) {
	for len(p) >= 16 {
		w := (*[16]byte)(p)
		hist[w[0]]++
		hist[w[1]]++
		hist[w[2]]++
		hist[w[3]]++
		hist[w[4]]++
		hist[w[5]]++
		hist[w[6]]++
		hist[w[7]]++
		hist[w[8]]++
		hist[w[9]]++
		hist[w[10]]++
		hist[w[11]]++
		hist[w[12]]++
		hist[w[13]]++
		hist[w[14]]++
		hist[w[15]]++
		p = p[16:]
	}
	for _, b := range p {
		hist[b]++
	}
}

// countSampled adds one to hist[p[i]] for every i that is a multiple of
// stride (stride >= 1): (len(p)+stride-1)/stride bytes, four a step.
func countSampled(hist *[256]uint32, p []byte, stride int) {
	s1, s2, s3 := stride, 2*stride, 3*stride
	i := 0
	for ; i+s3 < len(p); i += 4 * stride {
		hist[p[i]]++
		hist[p[i+s1]]++
		hist[p[i+s2]]++
		hist[p[i+s3]]++
	}
	for ; i < len(p); i += stride {
		hist[p[i]]++
	}
}

// flatCounts is flat(hist[:], n) for counts that sum to n, from Σ f²
// alone. With Σ f = n, flat's sum Σ (256f - n)² is 65536·Σ f² - 256·n², so
// it is below flat's limit 512·256·n exactly when 256·Σ f² - n² < 512·n:
// the same decision, without a division or a branch per symbol.
func flatCounts(hist *[256]uint32, n int) bool {
	var s0, s1, s2, s3 uint64
	for i := 0; i < len(hist); i += 8 {
		f := hist[i : i+8 : i+8]
		s0 += uint64(f[0])*uint64(f[0]) + uint64(f[4])*uint64(f[4])
		s1 += uint64(f[1])*uint64(f[1]) + uint64(f[5])*uint64(f[5])
		s2 += uint64(f[2])*uint64(f[2]) + uint64(f[6])*uint64(f[6])
		s3 += uint64(f[3])*uint64(f[3]) + uint64(f[7])*uint64(f[7])
	}
	sq := int64(s0 + s1 + s2 + s3)
	nn := int64(n)
	return 256*sq-nn*nn < 512*nn
}

// insert adds position p to the hash chains and returns the buffer
// position the previous head of its chain stands for (p itself if none).
func (c *Compressor) insert(p int) int {
	h := c.hash(load32(c.buf, p))
	abs := uint16(p + c.base)
	e := c.head[h]
	c.prev[int(abs)&c.wmask] = e
	c.head[h] = abs
	return p - int(abs-e)
}

// findMatch follows the hash chain from cand looking for the longest match
// for position s that is longer than best. It returns length 0 if there is
// none. Candidates are checked to be inside the window (s-cand <= wsize),
// after the last Reset, and before s; the chain ends where it stops going
// further back, which is where stale links begin.
func (c *Compressor) findMatch(s, cand, best, chain int) (length, dist int) {
	buf := c.buf
	maxLen := min(maxMatch, c.end-s)
	if best >= maxLen {
		return 0, 0
	}
	nice := min(c.cfg.nice, maxLen)
	minCand := max(s-c.wsize, c.validStart)
	win := buf[s : s+maxLen]
	sAbs := uint16(s + c.base)
	for cand >= minCand && cand < s {
		if buf[cand+best] == win[best] {
			if l := matchLen(win, buf[cand:]); l > best {
				best, length, dist = l, l, s-cand
				if l >= nice {
					break
				}
			}
		}
		chain--
		if chain <= 0 {
			break
		}
		next := s - int(sAbs-c.prev[(cand+c.base)&c.wmask])
		if next >= cand {
			break // not further back: a stale link
		}
		cand = next
	}
	return length, dist
}

// deflateGreedy is levels 2 and 3: hash chains, and the longest match found
// at a position is taken at once.
func (c *Compressor) deflateGreedy(limit int) {
	hashEnd := c.end - 3
	s := c.pos
	for s < limit {
		if s >= hashEnd {
			c.emitLit(s)
			s++
			continue
		}
		cand := c.insert(s)
		l, d := c.findMatch(s, cand, 3, c.cfg.chain)
		if l == 0 {
			c.emitLit(s)
			s++
			continue
		}
		c.emitMatch(s, l, d)
		end := s + l
		if l <= c.cfg.lazy {
			for p := s + 1; p < min(end, hashEnd); p++ {
				c.insert(p)
			}
		}
		s = end
	}
	c.pos = s
}

// deflateLazy is levels 4 to 9 (zlib's "lazy evaluation"): after finding a
// match at s-1 it also searches at s, and emits the match at s-1 only if the
// one at s is not longer; otherwise buf[s-1] becomes a literal and the
// longer match is considered in turn.
func (c *Compressor) deflateLazy(limit int) {
	cfg := &c.cfg
	hashEnd := c.end - 3
	s := c.pos
	prevLen, prevDist := 0, 0
	pending := false // buf[s-1] is not yet emitted
	for s < limit {
		curLen, curDist := 0, 0
		if s < hashEnd {
			cand := c.insert(s)
			if prevLen < cfg.lazy {
				chain := cfg.chain
				if prevLen >= cfg.good {
					chain >>= 2
				}
				curLen, curDist = c.findMatch(s, cand, max(prevLen, 3), chain)
			}
		}
		if prevLen >= 4 && curLen <= prevLen {
			c.emitMatch(s-1, prevLen, prevDist)
			end := s - 1 + prevLen
			for p := s + 1; p < min(end, hashEnd); p++ {
				c.insert(p)
			}
			s = end
			prevLen, pending = 0, false
			continue
		}
		if pending {
			c.emitLit(s - 1)
		}
		pending = true
		prevLen, prevDist = curLen, curDist
		s++
	}
	if pending {
		if prevLen >= 4 {
			c.emitMatch(s-1, prevLen, prevDist)
			end := s - 1 + prevLen
			for p := s + 1; p < min(end, hashEnd); p++ {
				c.insert(p)
			}
			s = end
		} else {
			c.emitLit(s - 1)
		}
	}
	c.pos = s
}

// HistoryLen reports how many bytes of history the next message may refer
// to: the last bytes compressed, at most 2^windowBits, none before the last
// Reset. It is 0 at level 0 and with HuffmanOnly, which refer to nothing.
func (c *Compressor) HistoryLen() int {
	if c.cfg.mode == modeStored || c.cfg.mode == modeHuffman {
		return 0
	}
	return c.pos - max(c.validStart, c.pos-c.wsize)
}

// AppendHistory appends the history (see HistoryLen) to dst. Between
// messages with context takeover (RFC 7692 §7.1.1) it is all the state a
// Compressor carries from one message to the next: a connection may keep
// just these bytes while idle, put the Compressor back in a pool, and
// later continue with SetHistory on any Compressor of the same level and
// window. Call it only between messages.
func (c *Compressor) AppendHistory(dst []byte) []byte {
	return append(dst, c.buf[c.pos-c.HistoryLen():c.pos]...)
}

// SetHistory resets the Compressor and makes h (its last 2^windowBits
// bytes, if longer) the history the next message may refer to, as if h
// had just been compressed, the way zlib's deflateSetDictionary does: the
// bytes are copied into the window and the hash tables are rebuilt over
// them, which costs time in proportion to len(h).
func (c *Compressor) SetHistory(h []byte) {
	c.Reset()
	if c.cfg.mode == modeStored || c.cfg.mode == modeHuffman {
		return
	}
	if len(h) > c.wsize {
		h = h[len(h)-c.wsize:]
	}
	n := copy(c.buf, h)
	c.pos, c.end, c.blockStart = n, n, n
	for p := 0; p+4 <= n; p++ {
		if c.cfg.mode == modeFast {
			c.head[c.hash(load32(c.buf, p))] = uint16(p + c.base)
		} else {
			c.insert(p)
		}
	}
}
