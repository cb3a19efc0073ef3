package deflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// jsonText returns about n bytes of JSON lines like a chat or telemetry
// WebSocket service sends: repeated keys, a small vocabulary, numbers.
func jsonText(r *rand.Rand, n int) []byte {
	users := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter"}
	events := []string{"message", "typing", "presence", "join", "leave", "reaction", "edit", "delete", "heartbeat", "ack"}
	words := []string{"the", "deploy", "is", "done", "can", "you", "check", "latency", "on", "eu-west", "please", "looks", "good", "to", "me", "ship", "it", "after", "lunch", "tests", "are", "green", "again", "retry", "with", "backoff", "ping", "pong", "websocket", "frame", "compression", "window", "context", "takeover"}
	b := make([]byte, 0, n+512)
	for len(b) < n {
		u := r.IntN(len(users))
		text := make([]byte, 0, 80)
		for i := range 3 + r.IntN(10) {
			if i > 0 {
				text = append(text, ' ')
			}
			text = append(text, words[r.IntN(len(words))]...)
		}
		b = fmt.Appendf(b, `{"id":%d,"type":%q,"user":{"name":%q,"id":%d,"online":%t},"ts":"2025-11-%02dT%02d:%02d:%02d.%03dZ","room":"room-%d","text":%q,"score":%.3f,"tags":["%s","%s"]}`+"\n",
			1_000_000+r.IntN(9_000_000), events[r.IntN(len(events))], users[u], 1000+u, r.IntN(2) == 0,
			1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1000), r.IntN(50), text,
			r.Float64()*100, words[r.IntN(len(words))], words[r.IntN(len(words))])
	}
	return b[:n]
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// stdlibInflateMessages decodes permessage-deflate payloads with
// compress/flate, the way RFC 7692 §7.2.2 says: each payload gets
// 0x00 0x00 0xff 0xff appended, and the messages form one DEFLATE stream
// (context takeover), ended here by a final empty stored block.
func stdlibInflateMessages(payloads [][]byte, sizes []int) ([][]byte, error) {
	var stream []byte
	for _, p := range payloads {
		stream = append(stream, p...)
		stream = append(stream, 0x00, 0x00, 0xff, 0xff)
	}
	stream = append(stream, 0x01, 0x00, 0x00, 0xff, 0xff)
	fr := flate.NewReader(bytes.NewReader(stream))
	out := make([][]byte, len(sizes))
	for i, n := range sizes {
		out[i] = make([]byte, n)
		if _, err := io.ReadFull(fr, out[i]); err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
	}
	if n, err := fr.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		return nil, fmt.Errorf("after the messages: %d bytes, %v", n, err)
	}
	return out, nil
}

// stdlibCompressMessages compresses messages with compress/flate as a
// permessage-deflate sender with context takeover does: one stream, a sync
// flush after each message, the trailing 0x00 0x00 0xff 0xff removed.
func stdlibCompressMessages(t testing.TB, level int, msgs [][]byte) [][]byte {
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range msgs {
		buf.Reset()
		fw.Write(m)
		fw.Flush()
		p := bytes.Clone(buf.Bytes())
		if !bytes.HasSuffix(p, []byte{0, 0, 0xff, 0xff}) {
			t.Fatalf("stdlib sync flush does not end with 00 00 ff ff: %x", p)
		}
		out = append(out, p[:len(p)-4])
	}
	return out
}

// inflateChunks decodes one message with d, fed in chunks of the sizes
// chunk returns, the last chunk marked last.
func inflateChunks(d *Decompressor, payload []byte, chunk func() int, limit int64) ([]byte, error) {
	var out []byte
	var err error
	for len(payload) > 0 {
		n := min(max(chunk(), 0), len(payload))
		out, err = d.Decompress(out, payload[:n], false, limit)
		if err != nil {
			return out, err
		}
		payload = payload[n:]
	}
	return d.Decompress(out, nil, true, limit)
}

var allLevels = []int{HuffmanOnly, NoCompression, 1, 2, 3, 4, 5, 6, 7, 8, 9}

// windowChecker installs testTokenHook to record the largest distance and
// check lengths. It returns a function reporting the maximum distance seen.
func windowChecker(t testing.TB) func() int {
	maxDist := 0
	testTokenHook = func(c *Compressor, toks []uint32) {
		for _, tok := range toks {
			if tok < 256 {
				continue
			}
			if tok&tokenMatch == 0 {
				t.Fatalf("bad token %#x", tok)
			}
			l, d := int(tok>>16&0xff)+minMatch, int(tok&0xffff)+1
			if d > c.wsize {
				t.Fatalf("window %d: distance %d beyond 2^%d", c.wsize, d, c.wbits)
			}
			if l < minMatch || l > maxMatch {
				t.Fatalf("length %d", l)
			}
			maxDist = max(maxDist, d)
		}
	}
	t.Cleanup(func() { testTokenHook = nil })
	return func() int { return maxDist }
}

func isCorrupt(err error) bool { return errors.Is(err, ErrCorrupt) }

// readAllTo decodes one message with DecompressTo, as an io.Reader would:
// p of size psize, input handed over in chunks of size chunk.
func readAllTo(d *Decompressor, payload []byte, psize, chunk int) ([]byte, error) {
	var out []byte
	p := make([]byte, psize)
	for {
		in := payload[:min(chunk, len(payload))]
		last := len(in) == len(payload)
		n, used, err := d.DecompressTo(p, in, last, -1)
		out = append(out, p[:n]...)
		payload = payload[used:]
		if err == io.EOF {
			if len(payload) != 0 {
				return out, fmt.Errorf("EOF with %d bytes of input left", len(payload))
			}
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if n == 0 && used == 0 && !last {
			return out, fmt.Errorf("no progress")
		}
	}
}

// reduced reports whether to run the heavy tests at a smaller size: under
// -short, and under -race (this package starts no goroutines, so the race
// detector only slows the plain loops down).
func reduced() bool { return testing.Short() || raceEnabled }

// sizedLevels and sizedWindows are all levels and windows, or a spread of
// them when reduced.
func sizedLevels() []int {
	if reduced() {
		return []int{HuffmanOnly, NoCompression, 1, 4, 9}
	}
	return allLevels
}

func sizedWindows() []int {
	if reduced() {
		return []int{8, 12, 15}
	}
	return []int{8, 9, 10, 11, 12, 13, 14, 15}
}
