package deflate

import (
	"encoding/base64"
	"encoding/hex"
	"testing"
)

// Level 1 keeps messages of few distinct bytes compressed even when they
// hold no repeats for the match search to find: hex and base64 of random
// bytes have no matches but a Huffman code fitted to their 16 or 64
// symbols (RFC 1951 §3.2.7) takes 4 or 6 bits a byte, so they must not be
// stored (§3.2.4) as random bytes are. This is what emitRun's and
// storeShortRun's byte counts are for; without them every such message
// would go out at its full size.
func TestFastLevel_HexAndBase64StayCompressed_RFC1951_3_2_7(t *testing.T) {
	r := newRand(64)
	for _, n := range []int{128, 1000, 1 << 10, 4 << 10, 16 << 10, 64 << 10} {
		raw := randomBytes(r, n)
		hx := []byte(hex.EncodeToString(raw))[:n]
		b64 := []byte(base64.StdEncoding.EncodeToString(raw))[:n]
		// The largest output allowed, a fraction of n: 4 and 6 bits a
		// byte and the code, which at 128 bytes costs about as much as
		// the data; random bytes are stored, 5 bytes a block and the
		// sync flush's first byte over n (RFC 7692 §7.2.1).
		hexMost, b64Most := 0.56, 0.80
		if n < 1000 {
			hexMost, b64Most = 0.70, 0.99
		}
		cases := []struct {
			name string
			msg  []byte
			most float64
			over int
		}{
			{"hex", hx, hexMost, 0},
			{"base64", b64, b64Most, 0},
			{"random", raw, 1, 5*(n/maxStored+1) + 1},
		}
		for _, tc := range cases {
			c := NewCompressor(BestSpeed, 15)
			out := c.AppendCompress(nil, tc.msg)
			if limit := int(tc.most*float64(n)) + tc.over; len(out) > limit {
				t.Errorf("%s, %d bytes: compressed to %d, want at most %d", tc.name, n, len(out), limit)
			}
			d := NewDecompressor(15)
			got, err := d.Decompress(nil, out, true, -1)
			if err != nil || string(got) != string(tc.msg) {
				t.Fatalf("%s, %d bytes: round trip failed: %v", tc.name, n, err)
			}
			t.Logf("%s, %d bytes: %d (%.3f)", tc.name, n, len(out), float64(len(out))/float64(n))
		}
	}
}
