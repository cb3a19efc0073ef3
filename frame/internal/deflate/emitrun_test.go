package deflate

import "testing"

// countBytes, unrolled sixteen bytes a step, counts what a byte loop counts
// at every length and starting offset, so no byte of a run is missed or
// counted twice.
func TestCountBytes_AgreesWithByteLoop(t *testing.T) {
	r := newRand(61)
	data := randomBytes(r, 300)
	for off := range 17 {
		for n := 0; off+n <= len(data); n++ {
			var got, want [256]uint32
			got[7] = 3 // counts add to what is there
			want[7] = 3
			countBytes(&got, data[off:off+n])
			for _, b := range data[off : off+n] {
				want[b]++
			}
			if got != want {
				t.Fatalf("offset %d, %d bytes: counts differ", off, n)
			}
		}
	}
}

// flatCounts decides what flat decides for every histogram, from Σ f²
// alone: flat histograms (random bytes), skewed ones (hex, base64, 7-bit
// text), and ones built to sit next to flat's limit.
func TestFlatCounts_AgreesWithFlat(t *testing.T) {
	r := newRand(62)
	agree := func(name string, hist *[256]uint32, n int) {
		t.Helper()
		if got, want := flatCounts(hist, n), flat(hist[:], n); got != want {
			t.Fatalf("%s, %d bytes: flatCounts %v, flat %v", name, n, got, want)
		}
	}
	nearLimit := 0
	rounds := 20000
	if reduced() {
		rounds = 2000
	}
	for i := range rounds {
		var hist [256]uint32
		n := []int{1, 100, 1024, 2047, 4096}[i%5]
		alphabet := []int{256, 256, 240, 224, 192, 128, 64, 16}[i/5%8]
		for range n {
			hist[r.IntN(alphabet)]++
		}
		agree("sampled", &hist, n)
		// Move counts one at a time towards or away from flat until the
		// decision changes, checking both sides of the limit.
		was := flat(hist[:], n)
		for range 64 {
			a, b := r.IntN(256), r.IntN(256)
			if hist[a] == 0 {
				continue
			}
			hist[a]--
			hist[b]++
			agree("moved", &hist, n)
			if flat(hist[:], n) != was {
				nearLimit++
				break
			}
		}
	}
	if nearLimit == 0 {
		t.Fatal("no histogram crossed flat's limit: the test does not reach it")
	}
}

// countSampled counts the bytes at every stride-th position from the
// first, as a strided byte loop does, for every stride and length around
// its four-a-step loop's bound; emitRun's sample size
// (len+stride-1)/stride is the number of bytes it counts.
func TestCountSampled_AgreesWithStridedLoop(t *testing.T) {
	r := newRand(63)
	data := randomBytes(r, 200)
	for stride := 1; stride <= 9; stride++ {
		for n := 0; n <= len(data); n++ {
			var got, want [256]uint32
			countSampled(&got, data[:n], stride)
			count := 0
			for i := 0; i < n; i += stride {
				want[data[i]]++
				count++
			}
			if got != want {
				t.Fatalf("stride %d, %d bytes: counts differ", stride, n)
			}
			if sum, size := sumCounts(&got), (n+stride-1)/stride; sum != count || size != count {
				t.Fatalf("stride %d, %d bytes: %d counted, sample size %d, want %d", stride, n, sum, size, count)
			}
		}
	}
}

func sumCounts(hist *[256]uint32) int {
	n := 0
	for _, f := range hist {
		n += int(f)
	}
	return n
}
