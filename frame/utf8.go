package frame

import (
	"encoding/binary"
	"unicode/utf8"
)

// UTF8Validator checks that a byte stream is well-formed UTF-8 (RFC 3629)
// while it arrives in arbitrary pieces, as RFC 6455 §8.1 requires of text
// messages ("When an endpoint is to interpret a byte stream as UTF-8 but
// finds that the byte stream is not, in fact, a valid UTF-8 stream, that
// endpoint MUST _Fail the WebSocket Connection_"). A fragment boundary may
// fall inside a code point.
//
// It is a deterministic automaton over the well-formed byte sequences of
// Unicode Table 3-7, so it rejects a stream at the first byte that cannot
// begin or continue any valid sequence: overlong forms (C0, E0 80), UTF-16
// surrogates (ED A0..BF) and code points above U+10FFFF (F4 90) fail at
// their second byte, not when the sequence ends. That is what lets a
// receiver fail fast, in the very frame where the bad byte appears.
//
// The zero value is ready to use, in the state "between code points".
type UTF8Validator struct {
	state uint8
}

// Automaton states.
const (
	u8Accept uint8 = iota // between code points
	u8Need1               // one continuation byte 80..BF to go
	u8Need2               // two to go
	u8Need3               // three to go
	u8E0                  // after E0: next must be A0..BF (no overlongs)
	u8ED                  // after ED: next must be 80..9F (no surrogates)
	u8F0                  // after F0: next must be 90..BF (no overlongs)
	u8F4                  // after F4: next must be 80..8F (<= U+10FFFF)
	u8Reject              // invalid; sticky
)

// Byte classes.
const (
	c00to7F = iota
	c80to8F
	c90to9F
	cA0toBF
	cC2toDF
	cE0
	cE1toEF // E1..EC, EE, EF
	cED
	cF0
	cF1toF3
	cF4
	cInvalid // C0, C1, F5..FF
	numClasses
)

var (
	u8Class [256]uint8
	u8Next  [u8Reject + 1][numClasses]uint8
)

func init() {
	for b := 0; b < 256; b++ {
		var c uint8
		switch {
		case b <= 0x7F:
			c = c00to7F
		case b <= 0x8F:
			c = c80to8F
		case b <= 0x9F:
			c = c90to9F
		case b <= 0xBF:
			c = cA0toBF
		case b <= 0xC1:
			c = cInvalid
		case b <= 0xDF:
			c = cC2toDF
		case b == 0xE0:
			c = cE0
		case b == 0xED:
			c = cED
		case b <= 0xEF:
			c = cE1toEF
		case b == 0xF0:
			c = cF0
		case b <= 0xF3:
			c = cF1toF3
		case b == 0xF4:
			c = cF4
		default:
			c = cInvalid
		}
		u8Class[b] = c
	}
	for s := range u8Next {
		for c := range u8Next[s] {
			u8Next[s][c] = u8Reject
		}
	}
	a := &u8Next[u8Accept]
	a[c00to7F] = u8Accept
	a[cC2toDF] = u8Need1
	a[cE0] = u8E0
	a[cE1toEF] = u8Need2
	a[cED] = u8ED
	a[cF0] = u8F0
	a[cF1toF3] = u8Need3
	a[cF4] = u8F4
	for _, c := range []int{c80to8F, c90to9F, cA0toBF} {
		u8Next[u8Need1][c] = u8Accept
		u8Next[u8Need2][c] = u8Need1
		u8Next[u8Need3][c] = u8Need2
	}
	u8Next[u8E0][cA0toBF] = u8Need1
	u8Next[u8ED][c80to8F] = u8Need1
	u8Next[u8ED][c90to9F] = u8Need1
	u8Next[u8F0][c90to9F] = u8Need2
	u8Next[u8F0][cA0toBF] = u8Need2
	u8Next[u8F4][c80to8F] = u8Need2
}

// Write feeds p to the validator. It returns the number of bytes of p
// accepted and false if p[n] is the first byte that makes the stream
// invalid; once invalid, the validator stays invalid until Reset.
func (v *UTF8Validator) Write(p []byte) (n int, ok bool) {
	s := v.state
	i := 0
	bulk := len(p) >= 16
	for i < len(p) {
		if s == u8Accept {
			if bulk {
				// Once between code points (at once, or after the end
				// of a sequence begun in an earlier piece), the bulk of
				// p up to its last code point boundary goes to
				// utf8.Valid, which is several times faster than this
				// byte-at-a-time automaton and accepts exactly the same
				// sequences (RFC 3629). If the bulk is valid, only an
				// incomplete sequence at the end is left for the
				// automaton; if not, the automaton goes on over the rest
				// to find the first bad byte, so the position reported
				// is the same.
				bulk = false
				if b := i + lastBoundary(p[i:]); utf8.Valid(p[i:b]) {
					i = b
					if i == len(p) {
						break
					}
				}
			}
			// ASCII fast path: eight bytes at a time.
			for len(p)-i >= 8 && binary.LittleEndian.Uint64(p[i:])&0x8080808080808080 == 0 {
				i += 8
			}
			if i == len(p) {
				break
			}
		}
		s = u8Next[s][u8Class[p[i]]]
		if s == u8Reject {
			v.state = s
			return i, false
		}
		i++
	}
	v.state = s
	return len(p), true
}

// Valid reports whether the stream so far is valid, possibly ending inside a
// code point that later bytes may complete.
func (v *UTF8Validator) Valid() bool { return v.state != u8Reject }

// Complete reports whether the stream so far is valid and ends on a code
// point boundary: the check made when a text message's final frame ends.
func (v *UTF8Validator) Complete() bool { return v.state == u8Accept }

// Reset returns the validator to its initial state.
func (v *UTF8Validator) Reset() { v.state = u8Accept }

// ValidUTF8 reports whether p is well-formed UTF-8; it uses the same
// automaton as UTF8Validator.
func ValidUTF8(p []byte) bool {
	var v UTF8Validator
	_, ok := v.Write(p)
	return ok && v.Complete()
}

// lastBoundary returns the index where the last, incomplete UTF-8 sequence
// of p begins, or len(p) if p ends on what is, by its length, a complete
// sequence (whether its bytes are valid is utf8.Valid's business).
func lastBoundary(p []byte) int {
	j := len(p) - 1
	for back := 0; j > 0 && back < 3 && p[j]&0xC0 == 0x80; back++ {
		j--
	}
	var need int
	switch c := p[j]; {
	case c < 0xC0:
		return len(p) // ASCII, or a stray continuation byte: not a lead
	case c < 0xE0:
		need = 2
	case c < 0xF0:
		need = 3
	default:
		need = 4
	}
	if j+need > len(p) {
		return j
	}
	return len(p)
}
