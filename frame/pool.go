package frame

import (
	"math/bits"
	"sync"
)

// Buffers are pooled by power-of-two size class, so that a connection
// holds a read or write buffer only while bytes are moving: an idle
// connection holds none.
const (
	minPoolShift = 9  // 512 B
	maxPoolShift = 22 // 4 MiB
)

var bufPools [maxPoolShift + 1]sync.Pool

// getBuf returns a buffer of length at least n (rounded up to a power of
// two). Buffers larger than 4 MiB are not pooled.
func getBuf(n int) *[]byte {
	shift := minPoolShift
	if n > 1<<minPoolShift {
		shift = bits.Len(uint(n - 1))
	}
	if shift > maxPoolShift {
		b := make([]byte, n)
		return &b
	}
	if p, _ := bufPools[shift].Get().(*[]byte); p != nil {
		return p
	}
	b := make([]byte, 1<<shift)
	return &b
}

// putBuf returns a buffer obtained from getBuf to its pool.
func putBuf(p *[]byte) {
	n := cap(*p)
	if n < 1<<minPoolShift || n > 1<<maxPoolShift || n&(n-1) != 0 {
		return
	}
	*p = (*p)[:n]
	bufPools[bits.Len(uint(n))-1].Put(p)
}
