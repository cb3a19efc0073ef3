package deflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// FuzzInflate feeds arbitrary bytes as one message, in chunks, to a
// Decompressor of any window, with or without a limit, through Decompress
// or DecompressTo. It must not panic or hang; the output never exceeds the
// limit; and it agrees with compress/flate: the outputs share their common
// prefix, and when ours succeeds compress/flate decodes the same bytes.
//
//	go test -run '^$' -fuzz FuzzInflate -fuzztime 20s ./frame/internal/deflate/
func FuzzInflate(f *testing.F) {
	for _, s := range inflateSeeds() {
		f.Add(s.data, s.wbits, s.chunk, s.limit, s.reader)
	}
	f.Fuzz(checkInflate)
}

func checkInflate(t *testing.T, data []byte, wbits byte, chunk uint16, limit uint32, reader bool) {
	{
		w := MinWindowBits + int(wbits%8)
		// Zero stands for "no limit", bounded here at 4 MiB so that one
		// input (up to 1032:1) cannot stall the fuzzer.
		lim := int64(4 << 20)
		if limit != 0 {
			lim = int64(limit % (1 << 20))
		}
		step := 1 + int(chunk)%4096
		d := NewDecompressor(w)
		var got []byte
		var err error
		if reader {
			got, err = fuzzReadTo(d, data, step, lim)
		} else {
			got, err = inflateChunks(d, data, func() int { return step }, lim)
		}
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("unexpected error %v", err)
		}
		if lim >= 0 && int64(len(got)) > lim {
			t.Fatalf("%d bytes out, limit %d", len(got), lim)
		}

		maxStd := lim + 1
		stream := append(bytes.Clone(data), 0x00, 0x00, 0xff, 0xff)
		std, stdErr := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(stream)), maxStd))
		k := min(len(got), len(std))
		if !bytes.Equal(got[:k], std[:k]) {
			t.Fatalf("outputs differ within the first %d bytes", k)
		}
		var corrupt flate.CorruptInputError
		switch {
		case err == nil:
			if !bytes.Equal(got, std) {
				t.Fatalf("ours: %d bytes; compress/flate: %d bytes, %v", len(got), len(std), stdErr)
			}
			if len(data) > 0 && errors.As(stdErr, &corrupt) {
				t.Fatalf("ours accepted what compress/flate calls corrupt: %v", stdErr)
			}
		case errors.Is(err, ErrTooLarge):
			if int64(len(std)) <= lim && !errors.As(stdErr, &corrupt) {
				t.Fatalf("ErrTooLarge at limit %d, compress/flate made %d bytes (%v)", lim, len(std), stdErr)
			}
		}
	}
}

func fuzzReadTo(d *Decompressor, data []byte, step int, lim int64) ([]byte, error) {
	var out []byte
	p := make([]byte, 64+step)
	for calls := 0; ; calls++ {
		in := data[:min(step, len(data))]
		n, used, err := d.DecompressTo(p, in, len(in) == len(data), lim)
		if n > len(p) || used > len(in) {
			return out, fmt.Errorf("n %d used %d", n, used)
		}
		out = append(out, p[:n]...)
		data = data[used:]
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if calls > 1<<20 {
			return out, errors.New("DecompressTo makes no progress")
		}
	}
}

// FuzzRoundTrip cuts arbitrary data into messages, compresses them with
// any level and window (whole or streamed in parts, with context takeover
// or Reset), and checks that our Decompressor and compress/flate both
// return the messages.
//
//	go test -run '^$' -fuzz FuzzRoundTrip -fuzztime 20s ./frame/internal/deflate/
func FuzzRoundTrip(f *testing.F) {
	for _, s := range roundTripSeeds() {
		f.Add(s.data, s.level, s.wbits, s.split, s.mode)
	}
	f.Fuzz(func(t *testing.T, data []byte, level int8, wbits byte, split uint16, mode byte) {
		lvl := int(uint8(level))%12 - 2
		w := MinWindowBits + int(wbits%8)
		c := NewCompressor(lvl, w)
		d := NewDecompressor(w)
		reset := mode&1 != 0
		part := 1 + int(split)%5000
		var msgs, payloads [][]byte
		var sizes []int
		for i := 0; len(data) > 0 || i == 0; i++ {
			n := min(len(data), 1+(int(split)*(i+1))%2000)
			m := data[:n]
			data = data[n:]
			var p []byte
			// checkBound checks a call's output against CompressBound of
			// what the call had to emit.
			checkBound := func(before, pending int) {
				if n := len(p) - before; n > CompressBound(pending) {
					t.Fatalf("a call emitted %d bytes > CompressBound(%d)", n, pending)
				}
			}
			if mode&2 != 0 {
				for k := 0; k < len(m); k += part {
					in := m[k:min(k+part, len(m))]
					before, pending := len(p), c.Buffered()+len(in)
					p = c.AppendCompressPart(p, in, false)
					checkBound(before, pending)
					if mode&4 != 0 && k == 0 {
						before, pending = len(p), c.Buffered()
						p = c.AppendFlush(p)
						checkBound(before, pending)
					}
				}
				before, pending := len(p), c.Buffered()
				p = c.AppendCompressPart(p, nil, true)
				checkBound(before, pending)
			} else {
				p = c.AppendCompress(nil, m)
				checkBound(0, len(m))
			}
			got, err := d.Decompress(nil, p, true, int64(len(m)))
			if err != nil || !bytes.Equal(got, m) {
				t.Fatalf("message %d (level %d w%d): %v", i, lvl, w, err)
			}
			if reset {
				c.Reset()
				d.Reset()
				std, err := stdlibInflateMessages([][]byte{p}, []int{len(m)})
				if err != nil || !bytes.Equal(std[0], m) {
					t.Fatalf("compress/flate message %d: %v", i, err)
				}
			}
			msgs, payloads, sizes = append(msgs, m), append(payloads, p), append(sizes, len(m))
		}
		if !reset {
			std, err := stdlibInflateMessages(payloads, sizes)
			if err != nil {
				t.Fatalf("compress/flate: %v", err)
			}
			for i := range msgs {
				if !bytes.Equal(std[i], msgs[i]) {
					t.Fatalf("compress/flate message %d differs", i)
				}
			}
		}
	})
}

type inflateSeed struct {
	data   []byte
	wbits  byte
	chunk  uint16
	limit  uint32
	reader bool
}

func inflateSeeds() []inflateSeed {
	r := newRand(40)
	text := jsonText(r, 3000)
	var seeds []inflateSeed
	add := func(p []byte, wbits byte, limit uint32) {
		seeds = append(seeds,
			inflateSeed{p, wbits, 0, limit, false},
			inflateSeed{p, wbits, 100, limit, true})
	}
	add(hexBytes(0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00), 7, 0)
	add(hexBytes(0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00), 7, 0)
	add(hexBytes(0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00), 7, 0)
	add(hexBytes(0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00), 7, 0)
	add(hexBytes(0x00), 0, 0)
	add(append(bomb(), make([]byte, 64)...), 7, 10000)
	for _, level := range []int{HuffmanOnly, 1, 6, 9} {
		for _, w := range []int{8, 15} {
			add(NewCompressor(level, w).AppendCompress(nil, text), byte(w-8), 0)
		}
	}
	for _, level := range []int{-2, 1, 9} {
		p := stdlibCompressMessages(nil, level, [][]byte{text})[0]
		add(p, 7, 0)
		add(p, 7, 1000)
	}
	return seeds
}

type roundTripSeed struct {
	data  []byte
	level int8
	wbits byte
	split uint16
	mode  byte
}

func roundTripSeeds() []roundTripSeed {
	r := newRand(41)
	text := jsonText(r, 5000)
	rnd := randomBytes(r, 1000)
	return []roundTripSeed{
		{[]byte("Hello"), 3, 7, 0, 0},
		{text, 3, 0, 700, 0},
		{text, 8, 2, 1234, 2},
		{text, 11, 7, 99, 6},
		{append(bytes.Clone(rnd), rnd...), 2, 0, 1500, 1},
		{bytes.Repeat([]byte{'a'}, 3000), 0, 7, 10, 3},
		{nil, 1, 1, 0, 0},
	}
}

// TestWriteFuzzCorpus regenerates the seed corpora in testdata/fuzz from
// the seeds above (run with DEFLATE_WRITE_CORPUS=1). go test runs every
// corpus file as a test case, fuzzing or not.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("DEFLATE_WRITE_CORPUS") == "" {
		t.Skip("set DEFLATE_WRITE_CORPUS=1 to rewrite testdata/fuzz")
	}
	write := func(target string, i int, lines ...string) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := "go test fuzz v1\n"
		for _, l := range lines {
			body += l + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range inflateSeeds() {
		write("FuzzInflate", i, "[]byte("+strconv.Quote(string(s.data))+")",
			fmt.Sprintf("byte(%s)", strconv.QuoteRune(rune(s.wbits))),
			fmt.Sprintf("uint16(%d)", s.chunk), fmt.Sprintf("uint32(%d)", s.limit), fmt.Sprintf("bool(%v)", s.reader))
	}
	for i, s := range roundTripSeeds() {
		write("FuzzRoundTrip", i, "[]byte("+strconv.Quote(string(s.data))+")",
			fmt.Sprintf("int8(%d)", s.level), fmt.Sprintf("byte(%s)", strconv.QuoteRune(rune(s.wbits))),
			fmt.Sprintf("uint16(%d)", s.split), fmt.Sprintf("byte(%s)", strconv.QuoteRune(rune(s.mode))))
	}
}
