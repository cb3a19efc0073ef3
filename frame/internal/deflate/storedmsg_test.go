package deflate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// storedPayload is a message as one stored block and the first byte of
// the sync flush's empty stored block (RFC 7692 §7.2.1), with the given
// padding bits (ignored by decoders) in both header bytes.
func storedPayload(msg []byte, pad byte) []byte {
	p := []byte{pad << 3}
	p = binary.LittleEndian.AppendUint16(p, uint16(len(msg)))
	p = binary.LittleEndian.AppendUint16(p, ^uint16(len(msg)))
	p = append(p, msg...)
	return append(p, pad<<3)
}

// DecompressTo's shortcut for a message that is one stored block
// (storedMessage) leaves the Decompressor as the state machine does: the
// same bytes out, and the same window, so that a later message that refers
// to it, under context takeover (RFC 7692 §7.1.1), decodes the same. The
// twin is Decompress, which has no shortcut.
func TestDecompressTo_StoredMessage_SameAsStateMachine_RFC7692_7_2_2(t *testing.T) {
	r := newRand(41)
	for _, w := range []int{8, 9, 15} {
		c := NewCompressor(1, w)
		fast, slow := NewDecompressor(w), NewDecompressor(w)
		buf := make([]byte, 70_000)
		for i := range 60 {
			var msg, payload []byte
			switch i % 3 {
			case 0: // level 1's output for random bytes: stored
				msg = randomBytes(r, []int{0, 1, 128, 300, 1 << w}[i/3%5])
				payload = c.AppendCompress(nil, msg)
			case 1: // by hand, with padding bits set
				msg = randomBytes(r, r.IntN(200))
				payload = storedPayload(msg, byte(i))
				c.SetHistory(append(fast.AppendHistory(nil), msg...))
			default: // text that refers to the history
				msg = jsonText(r, 500)
				payload = c.AppendCompress(nil, msg)
			}
			n, used, err := fast.DecompressTo(buf, payload, true, -1)
			if err != io.EOF || used != len(payload) || !bytes.Equal(buf[:n], msg) {
				t.Fatalf("w%d message %d: DecompressTo %d bytes, used %d of %d, %v", w, i, n, used, len(payload), err)
			}
			got, err := slow.Decompress(nil, payload, true, -1)
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("w%d message %d: Decompress: %v", w, i, err)
			}
			if !bytes.Equal(fast.AppendHistory(nil), slow.AppendHistory(nil)) {
				t.Fatalf("w%d message %d: windows differ (%d and %d bytes)", w, i, fast.HistoryLen(), slow.HistoryLen())
			}
		}
	}
}

// Where the shortcut does not apply, the state machine decides, with its
// errors: a corrupt NLEN (RFC 1951 §3.2.4), a message over the limit, a
// p too small for it, or more input after the block.
func TestDecompressTo_StoredMessage_EdgesGoToStateMachine(t *testing.T) {
	msg := bytes.Repeat([]byte("0123456789"), 20)
	good := storedPayload(msg, 0)
	buf := make([]byte, 1000)

	bad := bytes.Clone(good)
	bad[3] ^= 1 // NLEN is not LEN's complement
	if _, _, err := NewDecompressor(15).DecompressTo(buf, bad, true, -1); !errors.Is(err, ErrCorrupt) {
		t.Errorf("bad NLEN: %v, want ErrCorrupt", err)
	}
	if _, _, err := NewDecompressor(15).DecompressTo(buf, good, true, int64(len(msg)-1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("limit one less: %v, want ErrTooLarge", err)
	}
	if n, _, err := NewDecompressor(15).DecompressTo(buf, good, true, int64(len(msg))); err != io.EOF || n != len(msg) {
		t.Errorf("limit exact: %d, %v", n, err)
	}
	d := NewDecompressor(15)
	small := make([]byte, 7)
	var out []byte
	in := good
	for {
		n, used, err := d.DecompressTo(small, in, true, -1)
		out = append(out, small[:n]...)
		in = in[used:]
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out, msg) {
		t.Errorf("7-byte p: %q", out)
	}
	// A fixed block after the stored one: "a" (RFC 1951 §3.2.6), then
	// the sync flush.
	two := append(good[:len(good)-1:len(good)-1], 0x4a, 0x04, 0x00)
	n, _, err := NewDecompressor(15).DecompressTo(buf, two, true, -1)
	if err != io.EOF || string(buf[:n]) != string(msg)+"a" {
		t.Errorf("stored then fixed: %q, %v", buf[:n], err)
	}
	// Two stored blocks (zlib's for a message over 64 KiB).
	twoStored := append(good[:len(good)-1:len(good)-1], storedPayload([]byte("xyz"), 0)...)
	n, _, err = NewDecompressor(15).DecompressTo(buf, twoStored, true, -1)
	if err != io.EOF || string(buf[:n]) != string(msg)+"xyz" {
		t.Errorf("two stored blocks: %q, %v", buf[:n], err)
	}
	// An invalid block type (RFC 1951 §3.2.3) in the last byte.
	badEnd := bytes.Clone(good)
	badEnd[len(badEnd)-1] = 0x06
	if _, _, err := NewDecompressor(15).DecompressTo(buf, badEnd, true, -1); !errors.Is(err, ErrCorrupt) {
		t.Errorf("block type 3 at the end: %v, want ErrCorrupt", err)
	}
	// BFINAL set on the stored block: not the shortcut's format.
	fin := bytes.Clone(good)
	fin[0] |= 1
	n, _, err = NewDecompressor(15).DecompressTo(buf, fin, true, -1)
	if err != io.EOF || !bytes.Equal(buf[:n], msg) {
		t.Errorf("BFINAL: %d bytes, %v", n, err)
	}
}
