package deflate

import "encoding/binary"

// bitWriter packs DEFLATE's bit fields into bytes. RFC 1951 §3.1.1: data
// elements are packed starting with the least significant bit of each byte;
// Huffman codes are sent most significant bit first, which is why the
// encoder keeps every code bit-reversed and can then write all fields the
// same way, LSB first.
//
// Whole 32-bit words are appended to out as soon as they are complete; up
// to 31 bits wait in bits until the next write or flush.
type bitWriter struct {
	out   []byte
	bits  uint64
	nbits uint
}

// writeBits appends the low n bits of v, n <= 32.
func (w *bitWriter) writeBits(v uint32, n uint) {
	w.bits |= uint64(v) << w.nbits
	w.nbits += n
	if w.nbits >= 32 {
		w.out = binary.LittleEndian.AppendUint32(w.out, uint32(w.bits))
		w.bits >>= 32
		w.nbits -= 32
	}
}

// align pads with zero bits to a byte boundary and appends every complete
// byte, leaving nothing pending.
func (w *bitWriter) align() {
	for w.nbits > 0 {
		w.out = append(w.out, byte(w.bits))
		w.bits >>= 8
		w.nbits -= min(w.nbits, 8)
	}
	w.bits = 0
}

// pendingBits reports how many bits wait for a byte boundary.
func (w *bitWriter) pendingBits() uint { return w.nbits }
