package frame

// Native fuzz targets. Seed corpora live in testdata/fuzz/<Name>/; run one
// with e.g. go test -run '^$' -fuzz '^FuzzReadMessage$' -fuzztime 20s ./frame

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// FuzzParseHeader: ParseHeader never panics; on input it accepts, gobwas'
// ReadHeader reads the same fields and AppendHeader gives back the same
// bytes (we accept only minimal encodings, so re-encoding is exact);
// ReadHeader agrees with ParseHeader; errors are either "need more bytes"
// or the two 1002 length errors, which gobwas agrees on except that it
// accepts non-minimal lengths (see TestOracle_NonMinimalLength_RFC6455_5_2).
func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{"81 05", "81 85 37 fa 21 3d", "82 7e 01 00", "82 7f 00 00 00 00 00 01 00 00", "81 7e 00 7c", "82 7f 80 00 00 00 00 00 00 00", "", "ff"} {
		f.Add(hexBytes(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := ParseHeader(b)
		rh, rerr := ReadHeader(bytes.NewReader(b))
		gh, gerr := ws.ReadHeader(bytes.NewReader(b))
		switch {
		case err == nil:
			if n != HeaderSize(h) || n > len(b) || n > MaxHeaderSize {
				t.Fatalf("n %d, HeaderSize %d, len %d", n, HeaderSize(h), len(b))
			}
			if enc := AppendHeader(nil, h); !bytes.Equal(enc, b[:n]) {
				t.Fatalf("re-encoded % x, parsed % x", enc, b[:n])
			}
			if rerr != nil || rh != h {
				t.Fatalf("ReadHeader %+v %v, ParseHeader %+v", rh, rerr, h)
			}
			if gerr != nil || fromGobwas(gh) != h {
				t.Fatalf("gobwas %+v %v, ours %+v", gh, gerr, h)
			}
		case IsShortHeader(err):
			if n != 0 {
				t.Fatalf("short header with n=%d", n)
			}
			if rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
				t.Fatalf("ReadHeader on a short header: %v", rerr)
			}
			if gerr != io.EOF && gerr != io.ErrUnexpectedEOF {
				t.Fatalf("gobwas on a short header: %v", gerr)
			}
		case (errors.Is(err, ErrNonMinimalLength) || errors.Is(err, ErrLengthTopBit)) && len(b) < fullHeaderSize(b):
			// ParseHeader refuses the length before the masking key has
			// arrived; the readers first read the whole header.
			if rerr != io.ErrUnexpectedEOF || gerr != io.ErrUnexpectedEOF {
				t.Fatalf("ReadHeader %v, gobwas %v", rerr, gerr)
			}
		case errors.Is(err, ErrNonMinimalLength):
			if !errors.Is(rerr, ErrNonMinimalLength) {
				t.Fatalf("ReadHeader: %v", rerr)
			}
			// gobwas reads it; the length does fit a shorter form.
			if form := b[1] & 0x7F; gerr == nil && (form == 126 && gh.Length > 125 || form == 127 && gh.Length > 0xFFFF) {
				t.Fatalf("not a non-minimal length: gobwas reads %d in form %d", gh.Length, form)
			}
		case errors.Is(err, ErrLengthTopBit):
			if !errors.Is(rerr, ErrLengthTopBit) || !errors.Is(gerr, ws.ErrHeaderLengthMSB) {
				t.Fatalf("ReadHeader %v, gobwas %v", rerr, gerr)
			}
		default:
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// fullHeaderSize is the header size that b's second byte announces.
func fullHeaderSize(b []byte) int {
	n := 2
	switch b[1] & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b[1]&0x80 != 0 {
		n += 4
	}
	return n
}

// fuzzCodes are the close codes a read may end with: any code valid on the
// wire (the peer's close, echoed), 1005 (a close without a body), 1006
// (the stream ended without a close frame).
func fuzzCodeOK(c CloseCode) bool {
	return c.ValidOnWire() || c == CloseNoStatus || c == CloseAbnormal
}

// FuzzReadMessage feeds an arbitrary byte stream to a Conn over net.Pipe
// (either role, a small message limit) and reads until the connection
// ends. Nothing panics or hangs (a read deadline bounds it: reaching it is
// a failure), every text message is valid UTF-8, no message exceeds the
// limit, and the final error is a *CloseError whose code is one a read may
// end with; when we failed the connection, 1002, 1007 or 1009.
func FuzzReadMessage(f *testing.F) {
	f.Add(false, uint16(1000), hexBytes("81 85 00 00 00 00 48 65 6c 6c 6f"))
	f.Add(true, uint16(1000), hexBytes("81 05 48 65 6c 6c 6f 88 02 03 e8"))
	f.Add(true, uint16(10), hexBytes("01 03 48 65 6c 89 00 80 02 6c 6f"))
	f.Add(false, uint16(100), hexBytes("82 7e 00 7e"))
	f.Add(true, uint16(100), hexBytes("81 02 ce ba 81 01 ff"))
	f.Fuzz(func(t *testing.T, client bool, limit uint16, data []byte) {
		role := RoleServer
		if client {
			role = RoleClient
		}
		mine, theirs := net.Pipe()
		defer theirs.Close()
		maxMsg := int64(limit) + 1
		c := NewConn(mine, nil, Config{Role: role, MaxMessageSize: maxMsg, CloseTimeout: 50 * time.Millisecond})
		defer c.CloseNow()
		go io.Copy(io.Discard, theirs) // pongs and close frames
		go func() {
			theirs.Write(data)
			theirs.Close()
		}()
		mine.SetReadDeadline(time.Now().Add(5 * time.Second))
		var buf []byte
		for {
			op, p, err := c.ReadMessage(buf)
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatal("hang: no end within the deadline")
				}
				var ce *CloseError
				if !errors.As(err, &ce) {
					t.Fatalf("error %v (%T) is not a *CloseError", err, err)
				}
				if !fuzzCodeOK(ce.Code) {
					t.Fatalf("close code %v", ce.Code)
				}
				// A pong or close reply the Conn could not write (the
				// peer closed the pipe) fails the connection: 1006 with
				// the write error.
				var we *WriteError
				writeFailed := ce.Code == CloseAbnormal && errors.As(ce.Err, &we)
				if ce.Local && ce.Code != CloseProtocolError && ce.Code != CloseInvalidPayload && ce.Code != CloseMessageTooBig && !writeFailed {
					t.Fatalf("failed with %v", err)
				}
				return
			}
			buf = p
			if int64(len(p)) > maxMsg {
				t.Fatalf("message of %d bytes over the %d limit", len(p), maxMsg)
			}
			if op == OpText && !utf8.Valid(p) {
				t.Fatalf("invalid UTF-8 text delivered: % x", p)
			}
			if op != OpText && op != OpBinary {
				t.Fatalf("message opcode %v", op)
			}
		}
	})
}

// FuzzUTF8: UTF8Validator fed in random pieces, and whole, agrees with utf8.Valid,
// and rejects at the first invalid byte of the maximal-subpart reference.
func FuzzUTF8(f *testing.F) {
	for _, s := range adversarialUTF8[:20] {
		f.Add([]byte(s), uint64(len(s)))
	}
	f.Fuzz(func(t *testing.T, p []byte, seed uint64) {
		r := rand.New(rand.NewPCG(seed, seed))
		var cuts []int
		for c := r.IntN(len(p) + 1); c < len(p); c += 1 + r.IntN(len(p)) {
			cuts = append(cuts, c)
		}
		checkValidator(t, p, cuts)
		checkValidator(t, p, nil) // whole: the utf8.Valid fast path for p of 16 bytes or more
	})
}
