package deflate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrTooLarge is returned when a message inflates to more bytes than the
// limit given for it. Inflation stops as soon as the limit is passed, so a
// "decompression bomb" costs at most limit+1 bytes of work past the input it
// took, and no memory beyond the window. frame.Conn closes with 1009
// (RFC 6455 §7.4.1, "message too big").
var ErrTooLarge = errors.New("deflate: decompressed message exceeds the size limit")

// ErrCorrupt matches (with errors.Is) every error about malformed
// compressed data: a bad block header or code, a distance beyond the window
// or before the start of the data, or a message that does not end at a
// block boundary.
var ErrCorrupt = errors.New("deflate: corrupt compressed data")

type corruptError struct{ msg string }

func (e *corruptError) Error() string        { return "deflate: corrupt compressed data: " + e.msg }
func (e *corruptError) Is(target error) bool { return target == ErrCorrupt }

// The corrupt-data errors are values, so that even failing costs no
// allocation.
var (
	errBlockType   = &corruptError{"reserved block type 3"}
	errStoredLen   = &corruptError{"stored block length does not match its complement"}
	errCounts      = &corruptError{"too many literal/length or distance codes"}
	errCodeLenCode = &corruptError{"invalid code length code"}
	errRepeat      = &corruptError{"code length repeat with nothing to repeat or past the end"}
	errLitLenCode  = &corruptError{"invalid literal/length code"}
	errDistCode    = &corruptError{"invalid distance code"}
	errNoEOB       = &corruptError{"block has no end-of-block code"}
	errSymbol      = &corruptError{"invalid literal/length or distance symbol"}
	errDistance    = &corruptError{"distance reaches before the start of the window"}
	errDistWindow  = &corruptError{"distance larger than the negotiated window"}
	errMsgEnd      = &corruptError{"message does not end at a block boundary"}
	errStall       = errors.New("deflate: internal error: decoder stalled")
)

// Decompressor states: where the next bits of input belong.
const (
	stHeader    uint8 = iota // 3-bit block header (BFINAL, BTYPE)
	stStoredLen              // LEN and NLEN of a stored block
	stStored                 // the bytes of a stored block
	stDynHeader              // HLIT, HDIST, HCLEN of a dynamic block
	stCLLens                 // the 3-bit lengths of the code length code
	stLens                   // the literal/length and distance code lengths
	stData                   // Huffman-coded literals and matches
	stDone                   // after a block with BFINAL set
)

// syncTail is what RFC 7692 §7.2.2 has the receiver append to a message
// before inflating it: the LEN/NLEN of the empty stored block that the
// sender's sync flush ended with and then removed (§7.2.1).
var syncTail = [4]byte{0x00, 0x00, 0xff, 0xff}

// A Decompressor inflates permessage-deflate messages (RFC 7692 §7.2.2).
// Input is pushed in chunks of any size, as frames arrive; output comes out
// in chunks as it is produced, so that a caller can check UTF-8 or stop
// early without ever holding a whole message.
//
// It keeps the last 2^windowBits bytes of output in a ring buffer, which is
// both the LZ77 window that back-references copy from and the staging area
// for output. windowBits is the window of the peer's compressor, as
// negotiated (RFC 7692 §7.1.2): a distance larger than that, or larger than
// the output so far, is an error. With context takeover the window carries
// over to the next message; call Reset between messages otherwise.
//
// Memory: 2^windowBits bytes of window plus about 7 KiB of decoding
// tables and state (see MemorySize). In steady state nothing is allocated.
//
// A Decompressor is not safe for concurrent use; frame.Conn owns one per
// connection and uses it from its reading goroutine.
type Decompressor struct {
	win     []byte // ring buffer of 2^wbits bytes
	wpos    int    // next write position in win
	rpos    int    // win[rpos:wpos] is output not yet delivered
	wrapped bool   // win holds a full window of history

	bits  uint64 // input bits not yet used, LSB first
	nbits uint

	state    uint8
	final    bool // the current block has BFINAL set
	stored   int  // bytes left in the current stored block
	copyLen  int  // bytes left of an interrupted match copy
	copyDist int

	nlit, ndist, nclen, idx int
	lens                    [numLitLenAll + numDistAll]uint8
	clTable                 []uint32
	lit, dist               []uint32 // current tables: fixed or litBuf/distBuf
	litBuf, distBuf         []uint32
	sc                      tableScratch

	// Per message.
	msgIn   int64 // compressed bytes consumed
	msgOut  int64 // bytes inflated
	tailFed int   // bytes of syncTail consumed
	ended   bool  // the message is complete (output may remain in win)
	eof     bool  // DecompressTo reported io.EOF for it

	err error // sticky until Reset
}

// NewDecompressor returns a Decompressor for a peer compressing with a
// window of 2^windowBits bytes (8 to 15; 0 means 15). It panics on other
// values.
func NewDecompressor(windowBits int) *Decompressor {
	if windowBits == 0 {
		windowBits = MaxWindowBits
	}
	if windowBits < MinWindowBits || windowBits > MaxWindowBits {
		panic(fmt.Sprintf("deflate: window bits %d out of range 8..15", windowBits))
	}
	d := &Decompressor{win: make([]byte, 1<<windowBits)}
	// The most entries a literal/length table with a 9-bit root can need
	// is 852 (zlib's ENOUGH_LENS); distance tables start at 400 and grow
	// if a stream ever needs more.
	d.litBuf = make([]uint32, 0, 852)
	d.distBuf = make([]uint32, 0, 400)
	d.clTable = make([]uint32, 0, 1<<clRoot)
	return d
}

// MemorySize reports the bytes the Decompressor holds.
func (d *Decompressor) MemorySize() int {
	return len(d.win) + 4*(cap(d.litBuf)+cap(d.distBuf)+cap(d.clTable)) + int(sizeofDecompressorStruct)
}

// WindowBits reports the window size the Decompressor accepts.
func (d *Decompressor) WindowBits() int {
	n := 0
	for 1<<n < len(d.win) {
		n++
	}
	return n
}

// Reset forgets the window and any error, and makes the next input the
// start of a new message. frame.Conn calls it after each message when the
// peer announced it does not keep its context (RFC 7692 §7.1.1), and may
// call it to reuse a Decompressor after an error.
func (d *Decompressor) Reset() {
	d.wpos, d.rpos, d.wrapped = 0, 0, false
	d.err = nil
	d.resetStream()
}

func (d *Decompressor) resetStream() {
	d.bits, d.nbits = 0, 0
	d.state, d.final, d.stored, d.copyLen = stHeader, false, 0, 0
	d.msgIn, d.msgOut, d.tailFed, d.ended, d.eof = 0, 0, 0, false, false
}

// Decompress inflates in, the next chunk of a message's compressed payload,
// and appends all the output it yields to dst. Set last for the chunk that
// ends the message (it may be empty): the Decompressor then appends the
// 0x00 0x00 0xff 0xff that the sender removed (RFC 7692 §7.2.2) and checks
// that the message ends at a block boundary; the next call starts a new
// message. A message with no payload bytes at all is accepted as empty.
//
// limit bounds the inflated size of the whole message (negative: no
// bound); past it Decompress returns ErrTooLarge at once. Errors are
// sticky until Reset. The bytes appended before an error are not to be
// trusted.
//
// To validate output as it appears, look at the appended part,
// out[len(dst):], after each call. To bound the output of a call, use
// DecompressTo.
func (d *Decompressor) Decompress(dst, in []byte, last bool, limit int64) ([]byte, error) {
	if d.err != nil {
		return dst, d.err
	}
	if d.eof {
		d.resetStream()
	}
	for {
		n, more, err := d.pump(in, last, limit)
		in = in[n:]
		dst = append(dst, d.win[d.rpos:d.wpos]...)
		d.rpos = d.wpos
		if err != nil {
			d.err = err
			return dst, err
		}
		if !more {
			break
		}
	}
	if d.ended {
		d.resetStream()
	}
	return dst, nil
}

// DecompressTo is Decompress with output bounded by len(p), for a reader:
// it writes at most len(p) bytes to p and consumes only as much of in as it
// can (consumed bytes; keep the rest, in[consumed:], and pass it again).
// Output that is ready but does not fit waits in the window for the next
// call. When the message has ended (last set, all of in consumed) and all
// its output has been delivered, DecompressTo returns io.EOF, possibly
// together with n > 0. The call after that starts a new message.
func (d *Decompressor) DecompressTo(p, in []byte, last bool, limit int64) (n, consumed int, err error) {
	if d.err != nil {
		return 0, 0, d.err
	}
	if d.eof {
		d.resetStream()
	}
	if last && d.msgIn == 0 && d.tailFed == 0 && d.state == stHeader && d.nbits == 0 && d.rpos == d.wpos {
		if n, ok := d.storedMessage(p, in, limit); ok {
			return n, len(in), io.EOF
		}
	}
	for {
		k := copy(p[n:], d.win[d.rpos:d.wpos])
		d.rpos += k
		n += k
		if d.rpos < d.wpos || n == len(p) && !d.ended {
			return n, consumed, nil
		}
		if d.ended {
			d.eof = true
			return n, consumed, io.EOF
		}
		m, more, err := d.pump(in[consumed:], last, limit)
		consumed += m
		if err != nil {
			d.err = err
			return n, consumed, err
		}
		if !more && d.rpos == d.wpos && !d.ended {
			return n, consumed, nil
		}
	}
}

// storedMessage is DecompressTo's shortcut for a whole message, given in
// one call, that is one stored block (RFC 1951 §3.2.4) and the sync flush
// that ends every message (RFC 7692 §7.2.1), of which only the first byte
// is left: [BFINAL=0 BTYPE=00, padding] [LEN] [NLEN] [LEN bytes] [BFINAL=0
// BTYPE=00, padding]. That is how zlib and our level 1 send a message
// that does not compress. If in is exactly that and the bytes fit in p,
// the limit and the window (without wrapping), they are copied to p and to
// the window, the Decompressor is left as the state machine would leave
// it, and storedMessage reports true; otherwise it does nothing, and the
// state machine decodes the message, reporting any error.
func (d *Decompressor) storedMessage(p, in []byte, limit int64) (int, bool) {
	if len(in) < 6 || in[0]&7 != 0 {
		return 0, false
	}
	n := int(binary.LittleEndian.Uint16(in[1:3]))
	if binary.LittleEndian.Uint16(in[3:5]) != ^uint16(n) || len(in) != 5+n+1 || in[5+n]&7 != 0 ||
		n > len(p) || limit >= 0 && int64(n) > limit || d.wpos+n >= len(d.win) {
		return 0, false
	}
	data := in[5 : 5+n]
	copy(d.win[d.wpos:], data) // the history a later message may refer to
	d.wpos += n
	d.rpos = d.wpos
	copy(p, data)
	d.msgIn, d.msgOut, d.tailFed = int64(len(in)), int64(n), len(syncTail)
	d.ended, d.eof = true, true
	return n, true
}

// pump inflates into the window until the window is full of undelivered
// output (more is true: deliver win[rpos:wpos], then call again), or it
// needs input that in does not have. It returns how much of in it
// consumed. With last set it goes on with syncTail after in, and then marks
// the message ended if the stream is at a block boundary.
func (d *Decompressor) pump(in []byte, last bool, limit int64) (used int, more bool, err error) {
	for !d.ended {
		if d.wpos == len(d.win) {
			if d.rpos < d.wpos {
				return used, true, nil
			}
			d.wpos, d.rpos, d.wrapped = 0, 0, true
		}
		// Input for this round: the rest of in, then (for the last
		// chunk) the tail; none when both are used up, to decode what is
		// left in the bit buffer.
		var src []byte
		tail := false
		switch {
		case used < len(in):
			src = in[used:]
		case !last:
		case d.msgIn == 0 && d.tailFed == 0 && d.state == stHeader && d.nbits == 0:
			// RFC 7692 §7.2.3.6 compresses an empty message to the
			// single byte 0x00; an empty payload is accepted as well.
			d.ended = true
			return used, false, nil
		case d.tailFed < len(syncTail) && d.state != stDone:
			src, tail = syncTail[d.tailFed:], true
		}

		outEnd := len(d.win)
		if limit >= 0 {
			if room := limit - d.msgOut; room < int64(outEnd-d.wpos) {
				outEnd = d.wpos + int(room) + 1 // one byte more shows it is too large
			}
		}
		start := d.wpos
		n, err := d.inflate(src, outEnd)
		if tail {
			d.tailFed += n
		} else {
			used += n
			d.msgIn += int64(n)
		}
		d.msgOut += int64(d.wpos - start)
		if limit >= 0 && d.msgOut > limit {
			// Checked first: inflate may have gone on to find an error
			// after the last byte it was allowed to write.
			d.wpos-- // the byte past the limit is not delivered
			return used, false, ErrTooLarge
		}
		if err != nil {
			return used, false, err
		}
		if d.wpos == outEnd {
			continue // out of output space, not of input
		}
		// inflate stopped for want of input, having consumed all of src.
		switch {
		case used < len(in):
			// Not reached: inflate consumes all its input unless the
			// output is full. Should a change break that, fail rather
			// than spin.
			return used, false, errStall
		case !last:
			return used, false, nil
		case d.state != stDone && d.tailFed < len(syncTail):
			// Next round feeds the tail.
		case d.state != stDone && (d.state != stHeader || d.nbits != 0):
			return used, false, errMsgEnd
		default:
			d.ended = true
		}
	}
	return used, false, nil
}

// inflate runs the state machine over in, writing output to win[wpos:outEnd].
// It stops when it needs more input than in has (having consumed all of
// it), when the output space is full, or on an error, and returns how many
// bytes of in it consumed. Every decoding step is all-or-nothing: it looks
// at the bits it needs and consumes them only when all of them are there,
// so a step cut by the end of a chunk is simply retried with the next one.
func (d *Decompressor) inflate(in []byte, outEnd int) (int, error) {
	ip := 0
	bits, nbits := d.bits, d.nbits
	var err error

	// refill tops the bit buffer up to at least 56 bits, or as far as the
	// input goes. With 8 bytes available it loads them in one read: the
	// bytes past the 56..63 bits it counts are loaded again by the next
	// refill, to the same positions.
	refill := func() {
		if len(in)-ip >= 8 {
			bits |= binary.LittleEndian.Uint64(in[ip:]) << nbits
			ip += int((63 - nbits) >> 3)
			nbits |= 56
			return
		}
		for nbits <= 56 && ip < len(in) {
			bits |= uint64(in[ip]) << nbits
			ip++
			nbits += 8
		}
	}

loop:
	for {
		switch d.state {
		case stHeader:
			refill()
			if nbits < 3 {
				break loop
			}
			d.final = bits&1 != 0
			typ := (bits >> 1) & 3
			bits >>= 3
			nbits -= 3
			switch typ {
			case 0: // stored: the rest of this byte is padding
				drop := nbits & 7
				bits >>= drop
				nbits -= drop
				d.state = stStoredLen
			case 1:
				d.lit, d.dist = fixedLitTable, fixedDistTable
				d.state = stData
			case 2:
				d.state = stDynHeader
			default:
				err = errBlockType
				break loop
			}

		case stStoredLen:
			refill()
			if nbits < 32 {
				break loop
			}
			n, nn := uint16(bits), uint16(bits>>16)
			bits >>= 32
			nbits -= 32
			if nn != ^n {
				err = errStoredLen
				break loop
			}
			d.stored = int(n)
			d.state = stStored

		case stStored:
			for d.stored > 0 && nbits >= 8 {
				if d.wpos == outEnd {
					break loop
				}
				d.win[d.wpos] = byte(bits)
				d.wpos++
				bits >>= 8
				nbits -= 8
				d.stored--
			}
			// If bytes remain, the bit buffer is empty now (stored data is
			// byte aligned) but may still hold look-ahead from a 64-bit
			// refill; the bytes are taken from in directly, so drop it.
			if d.stored > 0 {
				bits = 0
			}
			for d.stored > 0 {
				if d.wpos == outEnd || ip == len(in) {
					break loop
				}
				n := copy(d.win[d.wpos:min(outEnd, d.wpos+d.stored)], in[ip:])
				d.wpos += n
				ip += n
				d.stored -= n
			}
			d.endBlock()

		case stDynHeader:
			refill()
			if nbits < 14 {
				break loop
			}
			d.nlit = 257 + int(bits&31)
			d.ndist = 1 + int((bits>>5)&31)
			d.nclen = 4 + int((bits>>10)&15)
			bits >>= 14
			nbits -= 14
			if d.nlit > numLitLen || d.ndist > numDist {
				err = errCounts
				break loop
			}
			clear(d.lens[:numCodeLen])
			d.idx = 0
			d.state = stCLLens

		case stCLLens:
			for d.idx < d.nclen {
				refill()
				if nbits < 3 {
					break loop
				}
				d.lens[codeLenOrder[d.idx]] = uint8(bits & 7)
				bits >>= 3
				nbits -= 3
				d.idx++
			}
			var ok bool
			d.clTable, ok = buildTable(d.clTable, d.lens[:numCodeLen], clRoot, kindCodeLen, &d.sc)
			if !ok {
				err = errCodeLenCode
				break loop
			}
			d.idx = 0
			d.state = stLens

		case stLens:
			total := d.nlit + d.ndist
			for d.idx < total {
				refill()
				e := d.clTable[bits&(1<<clRoot-1)]
				n := uint(e & 0xff)
				if n > nbits {
					break loop
				}
				if (e>>8)&opBad != 0 {
					err = errCodeLenCode
					break loop
				}
				sym := e >> 16
				if sym < 16 {
					d.lens[d.idx] = uint8(sym)
					d.idx++
					bits >>= n
					nbits -= n
					continue
				}
				var rep int
				var v uint8
				var need uint
				switch sym {
				case 16:
					need, rep = n+2, 3+int((bits>>n)&3)
					if d.idx == 0 {
						err = errRepeat
						break loop
					}
					v = d.lens[d.idx-1]
				case 17:
					need, rep = n+3, 3+int((bits>>n)&7)
				default:
					need, rep = n+7, 11+int((bits>>n)&127)
				}
				if need > nbits {
					break loop
				}
				if d.idx+rep > total {
					err = errRepeat
					break loop
				}
				bits >>= need
				nbits -= need
				for range rep {
					d.lens[d.idx] = v
					d.idx++
				}
			}
			if d.lens[endOfBlock] == 0 {
				err = errNoEOB
				break loop
			}
			var ok1, ok2 bool
			d.litBuf, ok1 = buildTable(d.litBuf, d.lens[:d.nlit], litRoot, kindLitLen, &d.sc)
			d.distBuf, ok2 = buildTable(d.distBuf, d.lens[d.nlit:total], distRoot, kindDist, &d.sc)
			if !ok1 {
				err = errLitLenCode
				break loop
			}
			if !ok2 {
				err = errDistCode
				break loop
			}
			d.lit, d.dist = d.litBuf, d.distBuf
			d.state = stData

		case stData:
			d.bits, d.nbits = bits, nbits
			var done bool
			ip, done, err = d.decodeData(in, ip, outEnd)
			bits, nbits = d.bits, d.nbits
			if !done || err != nil {
				break loop
			}

		case stDone:
			// Input after the final block (such as the tail this
			// decompressor appended) is ignored.
			ip = len(in)
			bits, nbits = 0, 0
			break loop
		}
	}
	d.bits, d.nbits = bits&(1<<nbits-1), nbits
	return ip, err
}

func (d *Decompressor) endBlock() {
	if d.final {
		d.state = stDone
	} else {
		d.state = stHeader
	}
}

// decodeData decodes literals and matches until the end of the block
// (done), the end of the input or of the output space, or an error.
func (d *Decompressor) decodeData(in []byte, ip, outEnd int) (_ int, done bool, err error) {
	win := d.win
	wpos := d.wpos
	bits, nbits := d.bits, d.nbits
	lit, dist := d.lit, d.dist
	wsize := len(win)

	length, distance := d.copyLen, d.copyDist
	d.copyLen = 0
	for {
		if length > 0 {
			// Copy a match of length bytes from distance bytes back. The
			// source may wrap around the ring; when it overlaps the
			// destination (distance < length) the copy is done in
			// rounds that each repeat the bytes written so far, which
			// is what LZ77 means by an overlapping match.
			for length > 0 {
				if wpos == outEnd {
					d.copyLen, d.copyDist = length, distance
					break
				}
				src := wpos - distance
				if src < 0 {
					src += wsize
				}
				n := min(length, outEnd-wpos)
				if src >= wpos {
					// The source is older data further on in the ring
					// (or, at distance wsize, the very byte about to be
					// overwritten), so a forward copy is right.
					n = min(n, wsize-src)
					copy(win[wpos:wpos+n], win[src:src+n])
				} else if wpos-src >= n {
					copy(win[wpos:wpos+n], win[src:src+n])
				} else {
					for k := 0; k < n; {
						k += copy(win[wpos+k:wpos+n], win[src:wpos+k])
					}
				}
				wpos += n
				length -= n
			}
			if length > 0 {
				break
			}
		}
		if wpos == outEnd {
			break
		}

		// Refill.
		if len(in)-ip >= 8 {
			bits |= binary.LittleEndian.Uint64(in[ip:]) << nbits
			ip += int((63 - nbits) >> 3)
			nbits |= 56
		} else {
			for nbits <= 56 && ip < len(in) {
				bits |= uint64(in[ip]) << nbits
				ip++
				nbits += 8
			}
		}

		e := lit[bits&(1<<litRoot-1)]
		if (e>>8)&opLink != 0 {
			e = lit[e>>16+uint32(bits>>litRoot)&(1<<((e>>8)&15)-1)]
		}
		n := uint(e & 0xff)
		if n > nbits {
			break
		}
		op := (e >> 8) & 0xff
		if op == opLit {
			win[wpos] = byte(e >> 16)
			wpos++
			bits >>= n
			nbits -= n
			continue
		}
		if op&opBase == 0 {
			if op == opEOB {
				bits >>= n
				nbits -= n
				done = true
				break
			}
			err = errSymbol
			break
		}
		// A length: extra bits, then a distance code and its extra bits.
		// Up to 15+5+15+13 = 48 bits, all present after the refill
		// unless the input ran out.
		extra := uint(op & 15)
		need := n + extra
		l := int(e>>16) + int((bits>>n)&(1<<extra-1))
		db := bits >> need
		de := dist[db&(1<<distRoot-1)]
		if (de>>8)&opLink != 0 {
			de = dist[de>>16+uint32(db>>distRoot)&(1<<((de>>8)&15)-1)]
		}
		dn := uint(de & 0xff)
		if need+dn > nbits {
			break
		}
		dop := (de >> 8) & 0xff
		if dop&opBase == 0 {
			err = errSymbol
			break
		}
		dextra := uint(dop & 15)
		if need+dn+dextra > nbits {
			break
		}
		dv := int(de>>16) + int((db>>dn)&(1<<dextra-1))
		if dv > wsize {
			err = errDistWindow
			break
		}
		if !d.wrapped && dv > wpos {
			err = errDistance
			break
		}
		bits >>= need + dn + dextra
		nbits -= need + dn + dextra
		length, distance = l, dv
	}
	d.wpos = wpos
	d.bits, d.nbits = bits, nbits
	if done {
		d.endBlock()
	}
	return ip, done, err
}

// HistoryLen reports how many bytes of window the next message may refer
// to: the last bytes inflated, at most 2^windowBits, none before the last
// Reset.
func (d *Decompressor) HistoryLen() int {
	if d.wrapped {
		return len(d.win)
	}
	return d.wpos
}

// AppendHistory appends the window's bytes (see HistoryLen), oldest first,
// to dst. Between messages with context takeover (RFC 7692 §7.1.1) they
// are all the state a Decompressor carries to the next message: a
// connection may keep just these bytes while idle, return the
// Decompressor to a pool, and later continue with SetHistory on any
// Decompressor of the same window size. Call it only between messages.
func (d *Decompressor) AppendHistory(dst []byte) []byte {
	if d.wrapped {
		dst = append(dst, d.win[d.wpos:]...)
	}
	return append(dst, d.win[:d.wpos]...)
}

// SetHistory resets the Decompressor and makes h (its last 2^windowBits
// bytes, if longer) the window the next message may refer to.
func (d *Decompressor) SetHistory(h []byte) {
	d.Reset()
	if len(h) > len(d.win) {
		h = h[len(h)-len(d.win):]
	}
	n := copy(d.win, h)
	d.wpos, d.rpos = n, n
	if n == len(d.win) {
		d.wpos, d.rpos, d.wrapped = 0, 0, true
	}
}
