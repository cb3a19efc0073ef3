package frame

import (
	"encoding/binary"
)

// Mask applies the masking transform of RFC 6455 §5.3 to b in place:
//
//	transformed-octet-i = original-octet-i XOR masking-key-octet-(i MOD 4)
//
// pos is the position of b[0] within the frame payload, so a payload can be
// masked in pieces as it arrives; Mask returns the position after b. Masking
// and unmasking are the same operation.
//
// The bulk of b is processed eight bytes at a time with the key widened to
// a 64-bit word and rotated to the starting position.
func Mask(key [4]byte, pos int, b []byte) int {
	end := pos + len(b)
	// Byte loop until b is aligned on the key: handles short inputs too.
	i := 0
	for ; i < len(b) && pos&3 != 0; i++ {
		b[i] ^= key[pos&3]
		pos++
	}
	if len(b)-i >= 8 {
		// pos&3 == 0 here, so the word starts with key[0].
		k32 := binary.LittleEndian.Uint32(key[:])
		k64 := uint64(k32) | uint64(k32)<<32
		for ; len(b)-i >= 64; i += 64 {
			p := b[i : i+64 : i+64]
			binary.LittleEndian.PutUint64(p[0:], binary.LittleEndian.Uint64(p[0:])^k64)
			binary.LittleEndian.PutUint64(p[8:], binary.LittleEndian.Uint64(p[8:])^k64)
			binary.LittleEndian.PutUint64(p[16:], binary.LittleEndian.Uint64(p[16:])^k64)
			binary.LittleEndian.PutUint64(p[24:], binary.LittleEndian.Uint64(p[24:])^k64)
			binary.LittleEndian.PutUint64(p[32:], binary.LittleEndian.Uint64(p[32:])^k64)
			binary.LittleEndian.PutUint64(p[40:], binary.LittleEndian.Uint64(p[40:])^k64)
			binary.LittleEndian.PutUint64(p[48:], binary.LittleEndian.Uint64(p[48:])^k64)
			binary.LittleEndian.PutUint64(p[56:], binary.LittleEndian.Uint64(p[56:])^k64)
		}
		for ; len(b)-i >= 8; i += 8 {
			p := b[i : i+8 : i+8]
			binary.LittleEndian.PutUint64(p, binary.LittleEndian.Uint64(p)^k64)
		}
	}
	for ; i < len(b); i++ {
		b[i] ^= key[(end-len(b)+i)&3]
	}
	return end
}

// maskBytewise is the plain byte loop of RFC 6455 §5.3; tests and benchmarks
// compare Mask against it.
func maskBytewise(key [4]byte, pos int, b []byte) int {
	for i := range b {
		b[i] ^= key[(pos+i)&3]
	}
	return pos + len(b)
}
