package frame

// UTF8Validator (RFC 6455 §8.1, RFC 3629) against unicode/utf8 and against
// an independent reference for where a stream first goes wrong.

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// isProperPrefix reports whether q (1 to 3 bytes) is the beginning of the
// encoding of some Unicode scalar value but not all of it. It asks
// utf8.Valid about q followed by candidate continuation bytes rather than
// consulting any table of byte ranges: every range Unicode Table 3-7
// allows for a continuation byte (80..BF, A0..BF, 80..9F, 90..BF, 80..8F)
// holds one of the candidates.
func isProperPrefix(q []byte) bool {
	cands := []byte{0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf}
	buf := make([]byte, 0, 4)
	var try func(rest int) bool
	try = func(rest int) bool {
		if rest == 0 {
			return utf8.Valid(buf)
		}
		for _, c := range cands {
			buf = append(buf, c)
			ok := try(rest - 1)
			buf = buf[:len(buf)-1]
			if ok {
				return true
			}
		}
		return false
	}
	for total := len(q) + 1; total <= 4; total++ {
		buf = append(buf[:0], q...)
		if try(total - len(q)) {
			return true
		}
	}
	return false
}

// isComplete reports whether q is exactly one well-formed code point.
func isComplete(q []byte) bool {
	r, size := utf8.DecodeRune(q)
	return size == len(q) && size > 0 && !(r == utf8.RuneError && size == 1)
}

// firstInvalid is the reference for the "maximal subpart" rule (Unicode
// §3.9, U+FFFD substitution of maximal subparts): going from a code point
// boundary, take the longest run of bytes that is a prefix of some
// well-formed sequence; if it is a whole code point go on, if the input
// ends inside it the stream is valid so far but incomplete, otherwise the
// next byte is the first invalid one. It returns that byte's index, or -1
// with complete telling whether the input ends on a boundary.
func firstInvalid(p []byte) (idx int, complete bool) {
	i := 0
	for i < len(p) {
		if p[i] < 0x80 {
			i++
			continue
		}
		k := 0
		for k < 4 && i+k < len(p) && (isProperPrefix(p[i:i+k+1]) || isComplete(p[i:i+k+1])) {
			k++
			if isComplete(p[i : i+k]) {
				break
			}
		}
		switch {
		case k == 0:
			return i, false // cannot begin a sequence
		case isComplete(p[i : i+k]):
			i += k
		case i+k == len(p):
			return -1, false // valid so far, ends inside a code point
		default:
			return i + k, false // p[i+k] cannot continue p[i:i+k]
		}
	}
	return -1, true
}

// checkValidator feeds p to a validator in the given pieces and compares
// every result with the reference.
func checkValidator(t *testing.T, p []byte, cuts []int) {
	t.Helper()
	idx, complete := firstInvalid(p)
	if (idx < 0 && complete) != utf8.Valid(p) {
		t.Fatalf("reference disagrees with utf8.Valid on % x", p)
	}
	var v UTF8Validator
	start := 0
	rejected := -1
	for _, end := range append(cuts, len(p)) {
		n, ok := v.Write(p[start:end])
		if !ok {
			rejected = start + n
			break
		}
		if n != end-start {
			t.Fatalf("% x: Write accepted %d of %d bytes but said ok", p, n, end-start)
		}
		start = end
	}
	if rejected != idx {
		t.Fatalf("% x cut at %v: rejected at %d, first invalid byte is %d", p, cuts, rejected, idx)
	}
	if idx < 0 {
		if !v.Valid() || v.Complete() != complete {
			t.Fatalf("% x: Valid %v Complete %v, want complete %v", p, v.Valid(), v.Complete(), complete)
		}
	} else {
		if v.Valid() || v.Complete() {
			t.Fatalf("% x: still valid after rejecting", p)
		}
		// Sticky until Reset.
		if _, ok := v.Write([]byte("a")); ok {
			t.Fatalf("% x: accepted more after rejecting", p)
		}
	}
	if ValidUTF8(p) != utf8.Valid(p) {
		t.Fatalf("ValidUTF8(% x) = %v, utf8.Valid = %v", p, ValidUTF8(p), utf8.Valid(p))
	}
	v.Reset()
	if !v.Valid() || !v.Complete() {
		t.Fatal("Reset")
	}
}

// adversarial inputs: the boundaries of Unicode Table 3-7, overlongs,
// surrogates, values above U+10FFFF, truncations, bytes that never occur.
var adversarialUTF8 = []string{
	"", "a", "\x7f", "\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xc2\x80", "\xdf\xbf", "\xc2", "\xc2\x7f", "\xc2\xc0",
	"\xe0\x80\x80", "\xe0\x9f\xbf", "\xe0\xa0\x80", "\xe0\xa0", "\xe1\x80\x80", "\xec\xbf\xbf",
	"\xed\x80\x80", "\xed\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xee\x80\x80", "\xef\xbf\xbf", "\xef\xbf",
	"\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf", "\xf0\x90\x80\x80", "\xf0\x90\x80", "\xf1\x80\x80\x80", "\xf3\xbf\xbf\xbf",
	"\xf4\x80\x80\x80", "\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xf7\xbf\xbf\xbf",
	"\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80", "\xfe", "\xff", "\xfe\xfe\xff\xff",
	"κόσμε", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64",
	"\xed\xa0\x80\xed\xb0\x80", "\xef\xbf\xbe", "\xf0\x9f\x98\x80", "ab\xf0\x9f\x98", "\xe2\x82\xac\x80",
	"\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "hello\xc2world", "\xf4\x8f\xbf\xbf\xf4\x90",
	"aaaaaaaa\x80", "aaaaaaaaaaaaaaa\xe2\x82", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xff",
}

// TestUTF8Validator_RFC6455_8_1_Adversarial splits every adversarial input
// at every position, and byte by byte.
func TestUTF8Validator_RFC6455_8_1_Adversarial(t *testing.T) {
	for _, s := range adversarialUTF8 {
		p := []byte(s)
		for cut := range len(p) + 1 {
			checkValidator(t, p, []int{cut})
		}
		all := make([]int, len(p))
		for i := range all {
			all[i] = i
		}
		checkValidator(t, p, all)
		// Behind an ASCII run, so the 8-byte fast path meets the bad byte.
		q := append([]byte("0123456789abcdefg"), p...)
		checkValidator(t, q, []int{3})
	}
}

// TestUTF8Validator_RFC3629_Exhaustive checks every 1- and 2-byte input,
// and all 3- and 4-byte inputs built from the bytes around every boundary
// of Unicode Table 3-7.
func TestUTF8Validator_RFC3629_Exhaustive(t *testing.T) {
	for b0 := range 256 {
		checkValidator(t, []byte{byte(b0)}, nil)
		for b1 := range 256 {
			p := []byte{byte(b0), byte(b1)}
			checkValidator(t, p, nil)
			checkValidator(t, p, []int{1})
		}
	}
	edges := []byte{0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff}
	for _, b0 := range edges {
		for _, b1 := range edges {
			for _, b2 := range edges {
				checkValidator(t, []byte{b0, b1, b2}, []int{2})
				for _, b3 := range edges {
					p := []byte{b0, b1, b2, b3}
					checkValidator(t, p, nil)
					checkValidator(t, p, []int{1, 3})
				}
			}
		}
	}
}

// TestUTF8Validator_RFC6455_8_1_Random: random inputs, mostly made of
// pieces of valid UTF-8 with occasional damage, split at random points.
func TestUTF8Validator_RFC6455_8_1_Random(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 1))
	for range 20000 {
		p := randomUTF8ish(r, r.IntN(64))
		var cuts []int
		for c := 0; c < len(p); c += 1 + r.IntN(10) {
			cuts = append(cuts, c)
		}
		checkValidator(t, p, cuts)
	}
}

// randomUTF8ish returns about n bytes: valid code points of every length,
// ASCII runs, and now and then a random byte or a truncated sequence.
func randomUTF8ish(r *rand.Rand, n int) []byte {
	var p []byte
	for len(p) < n {
		switch r.IntN(10) {
		case 0:
			p = append(p, byte(r.Uint32()))
		case 1:
			var buf [4]byte
			k := utf8.EncodeRune(buf[:], rune(0x80+r.IntN(utf8.MaxRune-0x80)))
			p = append(p, buf[:r.IntN(k+1)]...)
		case 2, 3:
			for range r.IntN(20) {
				p = append(p, byte('a'+r.IntN(26)))
			}
		default:
			p = utf8.AppendRune(p, []rune{rune(r.IntN(0x80)), rune(0x80 + r.IntN(0x780)), rune(0x800 + r.IntN(0xF800)), rune(0x10000 + r.IntN(0x100000))}[r.IntN(4)])
		}
	}
	return p
}

// TestUTF8Validator_MaximalSubpart_RejectPosition: the validator rejects at
// the first byte that cannot continue a well-formed sequence (Unicode
// §3.9's maximal subparts): C0/C1/F5..FF at once, an overlong or surrogate
// or out-of-range lead at its second byte, a truncated sequence at the
// byte that interrupts it. That is what lets a Conn fail a text frame
// before the rest of it arrives (§8.1).
func TestUTF8Validator_MaximalSubpart_RejectPosition(t *testing.T) {
	for _, tc := range []struct {
		in  string
		idx int // -1: valid
	}{
		{"\xc0\x80", 0}, {"\xc1\xbf", 0}, {"\xf5\x80", 0}, {"\xff", 0}, {"\x80", 0},
		{"\xe0\x80\x80", 1}, {"\xe0\x9f\xbf", 1}, {"\xed\xa0\x80", 1}, {"\xf0\x8f\xbf\xbf", 1}, {"\xf4\x90\x80\x80", 1},
		{"a\xe2\x82b", 3}, {"\xe2\x82\xe2\x82\xac", 2}, {"\xf0\x9f\x98\x41", 3}, {"\xc2\x41", 1},
		{"€\x80", 3}, {"\xe2\x82", -1}, {"\xf4\x8f\xbf\xbf", -1}, {"\xed\x9f\xbf", -1},
	} {
		if got, _ := firstInvalid([]byte(tc.in)); got != tc.idx {
			t.Errorf("reference: % x rejected at %d, want %d", tc.in, got, tc.idx)
		}
		var v UTF8Validator
		n, ok := v.Write([]byte(tc.in))
		if tc.idx < 0 {
			if !ok {
				t.Errorf("% x rejected at %d", tc.in, n)
			}
		} else if ok || n != tc.idx {
			t.Errorf("% x: Write = %d, %v; want %d, false", tc.in, n, ok, tc.idx)
		}
	}
}

// RFC 6455 §8.1 with the utf8.Valid fast path: each adversarial sequence
// inside and at the end of long text (so that Write hands the bulk to
// utf8.Valid), whole and cut in two everywhere, is judged as the
// maximal-subpart reference judges it, at the same first bad byte.
func TestUTF8Validator_RFC6455_8_1_FastPathPositions(t *testing.T) {
	head := []byte(strings.Repeat("ascii and κόσμε ", 4))
	for _, s := range adversarialUTF8 {
		for _, p := range [][]byte{
			append(append(append([]byte(nil), head...), s...), "tail, long enough"...),
			append(append([]byte(nil), head...), s...),
		} {
			checkValidator(t, p, nil)
			for cut := 1; cut < len(p); cut++ {
				checkValidator(t, p, []int{cut})
			}
		}
	}
}
