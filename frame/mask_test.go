package frame

// The masking transform of RFC 6455 §5.3: the word-at-a-time Mask against
// the byte loop maskBytewise.

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestMask_RFC6455_5_3 compares Mask with maskBytewise at every length
// 0..300, every starting position 0..7 and random keys, on sub-slices at
// every alignment, and checks that bytes around the slice are untouched.
func TestMask_RFC6455_5_3(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 3))
	keys := [][4]byte{{0, 0, 0, 0}, {0xff, 0xff, 0xff, 0xff}, {0x37, 0xfa, 0x21, 0x3d}}
	for range 5 {
		keys = append(keys, [4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
	}
	backing := make([]byte, 300+16)
	for i := range backing {
		backing[i] = byte(r.Uint32())
	}
	for _, key := range keys {
		for n := range 301 {
			for pos := range 8 {
				for align := range 8 {
					got := bytes.Clone(backing)
					want := bytes.Clone(backing)
					end := Mask(key, pos, got[align:align+n])
					wantEnd := maskBytewise(key, pos, want[align:align+n])
					if end != wantEnd || end != pos+n {
						t.Fatalf("key %x n %d pos %d: returned %d, want %d", key, n, pos, end, wantEnd)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("key %x n %d pos %d align %d: differs from the byte loop", key, n, pos, align)
					}
				}
			}
		}
	}
}

// TestMask_RFC6455_5_3_Pieces: masking a payload in pieces, passing the
// returned position on, equals masking it whole (how a Conn unmasks a frame
// that arrives in several reads); masking twice restores the input.
func TestMask_RFC6455_5_3_Pieces(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for range 500 {
		n := r.IntN(5000)
		orig := pattern(n, r.Uint64())
		key := [4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}
		whole := bytes.Clone(orig)
		Mask(key, 0, whole)
		pieces := bytes.Clone(orig)
		pos := 0
		for rest := pieces; len(rest) > 0; {
			k := min(len(rest), r.IntN(200))
			pos = Mask(key, pos, rest[:k])
			rest = rest[k:]
		}
		if !bytes.Equal(pieces, whole) || pos != n {
			t.Fatalf("n %d: piecewise masking differs", n)
		}
		Mask(key, 0, whole)
		if !bytes.Equal(whole, orig) {
			t.Fatalf("n %d: masking twice is not the identity", n)
		}
	}
}

// TestMask_RFC6455_5_7_Example: the masked "Hello" of §5.7.
func TestMask_RFC6455_5_7_Example(t *testing.T) {
	b := []byte("Hello")
	Mask([4]byte{0x37, 0xfa, 0x21, 0x3d}, 0, b)
	if want := []byte{0x7f, 0x9f, 0x4d, 0x51, 0x58}; !bytes.Equal(b, want) {
		t.Fatalf("% x, want % x", b, want)
	}
}

// TestMask_LargePositions: pos may be any non-negative int; only pos mod 4
// matters.
func TestMask_LargePositions(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	for _, pos := range []int{1 << 20, 1<<40 + 3, 1<<62 + 1} {
		a, b := pattern(100, 1), pattern(100, 1)
		Mask(key, pos, a)
		Mask(key, pos%4, b)
		if !bytes.Equal(a, b) {
			t.Fatalf("pos %d", pos)
		}
	}
}
