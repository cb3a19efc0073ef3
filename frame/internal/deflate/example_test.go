package deflate_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/ws6455/ws6455/frame/internal/deflate"
)

// Writing a whole message (RFC 7692 §7.2.1): the payload goes into one
// frame with RSV1 set, or is split into several.
func ExampleCompressor_AppendCompress() {
	c := deflate.NewCompressor(deflate.BestSpeed, 15) // peer allows 2^15
	payload := c.AppendCompress(nil, []byte("Hello"))
	fmt.Printf("% x\n", payload)
	// With context takeover the next message can refer to this one.
	payload = c.AppendCompress(payload[:0], []byte("Hello"))
	fmt.Printf("% x\n", payload)
	// Output:
	// f2 48 cd c9 c9 07 00
	// 02 13 00 00
}

// Writing a message of unknown length: each call returns the compressed
// bytes ready so far (possibly none), which can go out as a frame (the first
// with RSV1, the rest continuation frames); the final call ends the message.
func ExampleCompressor_AppendCompressPart() {
	c := deflate.NewCompressor(deflate.DefaultCompression, 10)
	var frames [][]byte
	buf := make([]byte, 0, 4096)
	for _, part := range []string{`{"event":"tick","n":1}`, `{"event":"tick","n":2}`, `{"event":"tick","n":3}`} {
		if out := c.AppendCompressPart(buf[:0], []byte(part), false); len(out) > 0 {
			frames = append(frames, bytes.Clone(out))
		}
	}
	frames = append(frames, bytes.Clone(c.AppendCompressPart(buf[:0], nil, true)))

	d := deflate.NewDecompressor(10)
	var msg []byte
	for i, f := range frames {
		msg, _ = d.Decompress(msg, f, i == len(frames)-1, 1<<20)
	}
	fmt.Println(string(msg))
	// Output:
	// {"event":"tick","n":1}{"event":"tick","n":2}{"event":"tick","n":3}
}

// Reading (RFC 7692 §7.2.2): frames of a message arrive in pieces; each
// piece goes in as it comes, the last one marked. The output can be checked
// (for UTF-8, say) as it appears.
func ExampleDecompressor_Decompress() {
	d := deflate.NewDecompressor(15)
	pieces := [][]byte{{0xf2, 0x48, 0xcd}, {0xc9, 0xc9, 0x07, 0x00}} // RFC 7692 §7.2.3.1
	var msg []byte
	for i, p := range pieces {
		start := len(msg)
		var err error
		msg, err = d.Decompress(msg, p, i == len(pieces)-1, 16<<20)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("new output: %q\n", msg[start:])
	}
	// Output:
	// new output: "He"
	// new output: "llo"
}

// An io.Reader over one compressed message: DecompressTo fills p and says
// how much input it took; the rest stays with the caller for the next call.
func ExampleDecompressor_DecompressTo() {
	c := deflate.NewCompressor(6, 15)
	payload := c.AppendCompress(nil, bytes.Repeat([]byte("ws6455 "), 1000))

	d := deflate.NewDecompressor(15)
	p := make([]byte, 1024) // output bounded by the caller's buffer
	total := 0
	for {
		n, used, err := d.DecompressTo(p, payload, true, 16<<20)
		total += n
		payload = payload[used:]
		if err == io.EOF {
			break
		}
		if errors.Is(err, deflate.ErrTooLarge) || errors.Is(err, deflate.ErrCorrupt) {
			fmt.Println(err)
			return
		}
	}
	fmt.Println(total, "bytes")
	// Output:
	// 7000 bytes
}
