package frame

// Oracle tests: github.com/gobwas/ws, an independent implementation (used in
// tests only), must read what we write and write what we read, frame by
// frame and connection by connection. Where the two disagree, the test
// says which one RFC 6455 backs.

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// toGobwas converts a header; gobwas keeps the RSV bits shifted down (RSV1
// is 4), we keep them in their wire positions.
func toGobwas(h Header) ws.Header {
	return ws.Header{Fin: h.Fin, Rsv: h.Rsv >> 4, OpCode: ws.OpCode(h.Opcode), Masked: h.Masked, Mask: h.Mask, Length: h.Length}
}

func fromGobwas(h ws.Header) Header {
	return Header{Fin: h.Fin, Rsv: h.Rsv << 4, Opcode: Opcode(h.OpCode), Masked: h.Masked, Mask: h.Mask, Length: h.Length}
}

// oracleLengths are the payload lengths around every boundary of the §5.2
// length encoding.
var oracleLengths = []int64{0, 1, 2, 124, 125, 126, 127, 128, 65534, 65535, 65536, 65537, 100_000}

// randomHeader returns a header with random flags, any opcode, and a
// length from oracleLengths (or, with long, up to 2^63-1).
func randomHeader(r *rand.Rand, long bool) Header {
	h := Header{
		Fin:    r.IntN(2) == 0,
		Rsv:    byte(r.IntN(8)) << 4,
		Opcode: Opcode(r.IntN(16)),
		Masked: r.IntN(2) == 0,
		Length: oracleLengths[r.IntN(len(oracleLengths))],
	}
	if long && r.IntN(3) == 0 {
		h.Length = r.Int64()
	}
	if h.Masked {
		h.Mask = [4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}
	}
	return h
}

// TestOracle_OursReadByGobwas_RFC6455_5_2: frames built with AppendHeader
// and Mask are read back by gobwas with the same header and, after
// gobwas unmasks them, the same payload; the header bytes equal those
// gobwas writes for the same header.
func TestOracle_OursReadByGobwas_RFC6455_5_2(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		h := randomHeader(r, i%2 == 0)
		wire := AppendHeader(nil, h)
		var gw bytes.Buffer
		if err := ws.WriteHeader(&gw, toGobwas(h)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(wire, gw.Bytes()) {
			t.Fatalf("%+v: ours % x, gobwas % x", h, wire, gw.Bytes())
		}
		if h.Length > 1<<20 {
			gh, err := ws.ReadHeader(bytes.NewReader(wire))
			if err != nil || fromGobwas(gh) != h {
				t.Fatalf("%+v: gobwas read %+v %v", h, gh, err)
			}
			continue
		}
		payload := pattern(int(h.Length), uint64(i))
		masked := bytes.Clone(payload)
		if h.Masked {
			Mask(h.Mask, 0, masked)
		}
		f, err := ws.ReadFrame(bytes.NewReader(append(wire, masked...)))
		if err != nil {
			t.Fatalf("%+v: gobwas: %v", h, err)
		}
		if fromGobwas(f.Header) != h {
			t.Fatalf("gobwas read %+v, wrote %+v", f.Header, h)
		}
		if f.Header.Masked {
			ws.Cipher(f.Payload, f.Header.Mask, 0)
		}
		if !bytes.Equal(f.Payload, payload) {
			t.Fatalf("%+v: payload differs after gobwas unmasks it", h)
		}
	}
}

// TestOracle_GobwasReadByOurs_RFC6455_5_2: frames written by gobwas
// (WriteFrame of a frame masked with MaskFrameWith, WriteHeader) are read
// by ReadHeader and ParseHeader with the same fields, and Mask recovers the
// payload.
func TestOracle_GobwasReadByOurs_RFC6455_5_2(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 3000 {
		want := randomHeader(r, false)
		payload := pattern(int(want.Length), uint64(i))
		f := ws.NewFrame(ws.OpCode(want.Opcode), want.Fin, payload)
		f.Header.Rsv = want.Rsv >> 4
		if want.Masked {
			f = ws.MaskFrameWith(f, want.Mask)
		}
		var buf bytes.Buffer
		if err := ws.WriteFrame(&buf, f); err != nil {
			t.Fatal(err)
		}
		wire := buf.Bytes()
		h, n, err := ParseHeader(wire)
		if err != nil || h != want || n != HeaderSize(want) {
			t.Fatalf("ParseHeader: %+v %d %v, want %+v", h, n, err, want)
		}
		rd := bytes.NewReader(wire)
		if h, err = ReadHeader(rd); err != nil || h != want {
			t.Fatalf("ReadHeader: %+v %v", h, err)
		}
		got, _ := io.ReadAll(rd)
		if h.Masked {
			Mask(h.Mask, 0, got)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("%+v: payload differs", want)
		}
	}
	// Headers only, any length gobwas can write.
	for range 3000 {
		want := randomHeader(r, true)
		var buf bytes.Buffer
		if err := ws.WriteHeader(&buf, toGobwas(want)); err != nil {
			t.Fatal(err)
		}
		if h, n, err := ParseHeader(buf.Bytes()); err != nil || h != want || n != buf.Len() {
			t.Fatalf("%+v: %+v %d %v", want, h, n, err)
		}
	}
}

// TestOracle_NonMinimalLength_RFC6455_5_2: the two disagree here, and the
// RFC sides with us. §5.2 says "the minimal number of bytes MUST be used
// to encode the length, for example, the length of a 124-byte-long string
// can't be encoded as the sequence 126, 0, 124"; gobwas' ReadHeader does
// not check it and accepts such headers, while ParseHeader refuses them
// with 1002. On the 64-bit length's most significant bit both refuse.
func TestOracle_NonMinimalLength_RFC6455_5_2(t *testing.T) {
	for _, wire := range []string{"81 7e 00 7c", "82 7e 00 00", "82 7f 00 00 00 00 00 00 00 7d", "82 7f 00 00 00 00 00 00 ff ff"} {
		b := hexBytes(wire)
		if _, err := ws.ReadHeader(bytes.NewReader(b)); err != nil {
			t.Errorf("gobwas now refuses % x (%v): update this test's comment", b, err)
		}
		if _, _, err := ParseHeader(b); !errors.Is(err, ErrNonMinimalLength) {
			t.Errorf("ParseHeader(% x): %v", b, err)
		}
	}
	top := hexBytes("82 7f 80 00 00 00 00 00 00 01")
	if _, err := ws.ReadHeader(bytes.NewReader(top)); !errors.Is(err, ws.ErrHeaderLengthMSB) {
		t.Errorf("gobwas on the top bit: %v", err)
	}
	if _, _, err := ParseHeader(top); !errors.Is(err, ErrLengthTopBit) {
		t.Errorf("ParseHeader on the top bit: %v", err)
	}
}

// TestOracle_CheckHeader_RFC6455_5_1_5_2_5_5: Header.Validate plus the
// masking rule a Conn applies (§5.1) refuse exactly the headers gobwas'
// CheckHeader refuses, on both sides, with no extension (continuation
// frames are checked in the "inside a fragmented message" state, where
// both allow them; which opcodes may follow which is Conn's business).
func TestOracle_CheckHeader_RFC6455_5_1_5_2_5_5(t *testing.T) {
	for op := range Opcode(16) {
		for rsv := range byte(8) {
			for _, fin := range []bool{false, true} {
				for _, masked := range []bool{false, true} {
					for _, l := range []int64{0, 125, 126, 70000} {
						h := Header{Fin: fin, Rsv: rsv << 4, Opcode: op, Masked: masked, Length: l}
						for _, role := range bothRoles {
							ours := h.Validate(0) == nil && masked == (role == RoleServer)
							state := ws.StateServerSide
							if role == RoleClient {
								state = ws.StateClientSide
							}
							if op == OpContinuation {
								state = state.Set(ws.StateFragmented)
							}
							theirs := ws.CheckHeader(toGobwas(h), state) == nil
							if ours != theirs {
								t.Errorf("%v reading %+v: ours ok=%v, gobwas ok=%v", role, h, ours, theirs)
							}
						}
					}
				}
			}
		}
	}
}

// TestOracle_CloseCodes_RFC6455_7_4: ValidOnWire against gobwas'
// CheckCloseFrameData for all 65536 codes. They disagree in two places:
//   - 1012-1014 (service restart, try again later, bad gateway): valid for
//     us, "not defined in spec" for gobwas. RFC 6455 §7.4.2 reserves
//     1000-2999 for this protocol "and extensions specified in a permanent
//     and readily available public specification", and these three are
//     registered in the IANA close code registry that §11.7 creates, so a
//     receiver should accept them: we follow the registry.
//   - 5000-65535: gobwas accepts them, we fail the connection with 1002.
//     §7.4.2 defines ranges only up to 4999 (0-999 "not used", 1000-2999
//     protocol, 3000-3999 libraries and frameworks, 4000-4999 private use);
//     a code outside every range has no meaning an endpoint may send, the
//     same reasoning that makes 0-999 invalid, and the Autobahn suite
//     (case 7.9.x) treats them as invalid too.
func TestOracle_CloseCodes_RFC6455_7_4(t *testing.T) {
	for c := range 1 << 16 {
		ours := CloseCode(c).ValidOnWire()
		theirs := ws.CheckCloseFrameData(ws.StatusCode(c), "") == nil
		disagree := (c >= 1012 && c <= 1014) || c >= 5000
		if (ours != theirs) != disagree {
			t.Errorf("code %d: ours %v, gobwas %v", c, ours, theirs)
		}
	}
}

// TestOracle_Mask_RFC6455_5_3: Mask equals gobwas' Cipher for random
// payloads, keys and offsets.
func TestOracle_Mask_RFC6455_5_3(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for range 5000 {
		n := r.IntN(3000)
		key := [4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}
		off := r.IntN(1000)
		a := pattern(n, r.Uint64())
		b := bytes.Clone(a)
		Mask(key, off, a)
		ws.Cipher(b, key, off)
		if !bytes.Equal(a, b) {
			t.Fatalf("n %d offset %d key %x", n, off, key)
		}
	}
}

// echoServer reads messages from a server Conn and writes each back until
// the connection ends; it returns the read error.
func echoServer(c *Conn) <-chan error {
	ch := make(chan error, 1)
	go func() {
		var buf []byte
		for {
			op, p, err := c.ReadMessage(buf)
			if err != nil {
				ch <- err
				return
			}
			buf = p
			if err := c.WriteMessage(op, p); err != nil {
				ch <- err
				return
			}
		}
	}()
	return ch
}

// noEmptyWrites drops zero-length writes, which gobwas makes for an empty
// payload: over net.Pipe such a write waits for a Read on the other side,
// which a Conn busy writing its echo never makes.
type noEmptyWrites struct{ net.Conn }

func (c noEmptyWrites) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	return c.Conn.Write(b)
}

// TestOracle_GobwasClientOurServer: a gobwas client on the raw connection
// talks to a server Conn that echoes: text and binary of every length
// class, fragmented messages (gobwas' Writer with a small buffer), a ping
// answered with its payload, and the close handshake for valid and
// invalid codes.
func TestOracle_GobwasClientOurServer(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		t.Run("messages", func(t *testing.T) {
			s, nc := tr.pair(t)
			c := noEmptyWrites{nc}
			srv := newTestConn(t, s, Config{})
			ended := echoServer(srv)
			for i, n := range oracleLengths {
				op, p := ws.OpBinary, pattern(int(n), uint64(i))
				if i%2 == 0 {
					op, p = ws.OpText, textPattern(int(n), uint64(i))
				}
				if err := wsutil.WriteClientMessage(c, op, p); err != nil {
					t.Fatal(err)
				}
				got, gop, err := wsutil.ReadServerData(c)
				if err != nil || gop != op || !bytes.Equal(got, p) {
					t.Fatalf("echo of %d bytes: %v %d bytes %v", n, gop, len(got), err)
				}
			}
			// Fragmented by gobwas: frames of its 64-byte buffer.
			text := []byte(strings.Repeat("κόσμε fragmented ", 50))
			w := wsutil.NewWriterSize(c, ws.StateClientSide, ws.OpText, 64)
			if _, err := w.Write(text); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if got, op, err := wsutil.ReadServerData(c); err != nil || op != ws.OpText || !bytes.Equal(got, text) {
				t.Fatalf("fragmented echo: %v %v", op, err)
			}
			// Ping: the pong carries the same payload, unmasked.
			if err := ws.WriteFrame(c, ws.MaskFrame(ws.NewPingFrame([]byte("are you there")))); err != nil {
				t.Fatal(err)
			}
			f, err := ws.ReadFrame(c)
			if err != nil || f.Header.OpCode != ws.OpPong || f.Header.Masked || string(f.Payload) != "are you there" {
				t.Fatalf("pong: %+v %q %v", f.Header, f.Payload, err)
			}
			// Close: echoed, then the server closes TCP.
			if err := ws.WriteFrame(c, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusGoingAway, "bye")))); err != nil {
				t.Fatal(err)
			}
			f, err = ws.ReadFrame(c)
			if err != nil || f.Header.OpCode != ws.OpClose {
				t.Fatalf("close echo: %+v %v", f.Header, err)
			}
			if code, _ := ws.ParseCloseFrameData(f.Payload); code != ws.StatusGoingAway {
				t.Fatalf("close echo code %d", code)
			}
			if _, err := ws.ReadFrame(c); err != io.EOF {
				t.Fatalf("after the close: %v, want EOF", err)
			}
			checkCloseError(t, <-ended, CloseGoingAway, false)
		})
		for _, tc := range []struct {
			code ws.StatusCode
			want CloseCode // our answer
		}{
			{1000, 1000}, {1003, 1003}, {1011, 1011}, {3000, 3000}, {4999, 4999},
			{1005, CloseProtocolError}, {1004, CloseProtocolError}, {999, CloseProtocolError}, {5000, CloseProtocolError},
		} {
			t.Run("close-"+itoa(int(tc.code)), func(t *testing.T) {
				s, c := tr.pair(t)
				srv := newTestConn(t, s, Config{})
				ended := echoServer(srv)
				if err := ws.WriteFrame(c, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(tc.code, "")))); err != nil {
					t.Fatal(err)
				}
				f, err := ws.ReadFrame(c)
				if err != nil || f.Header.OpCode != ws.OpClose {
					t.Fatalf("answer: %+v %v", f.Header, err)
				}
				if code, _ := ws.ParseCloseFrameData(f.Payload); CloseCode(code) != tc.want {
					t.Fatalf("answered %d, want %d", code, tc.want)
				}
				c.Close()
				<-ended
			})
		}
	})
}

// TestOracle_OurClientGobwasServer: a client Conn talks to a gobwas echo
// server (wsutil.ReadClientData answers pings and closes and checks
// masking and UTF-8): every write method, a ping whose pong comes back
// with the same payload, and the close handshake started by the client.
func TestOracle_OurClientGobwasServer(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		s, c := tr.pair(t)
		served := make(chan error, 1)
		go func() {
			defer s.Close()
			for {
				p, op, err := wsutil.ReadClientData(s)
				if err != nil {
					served <- err
					return
				}
				if err := wsutil.WriteServerMessage(s, op, p); err != nil {
					served <- err
					return
				}
			}
		}()
		pongs := make(chan string, 1)
		cli := newTestConn(t, c, Config{Role: RoleClient, OnPong: func(p []byte) { pongs <- string(p) }})
		msgs := readLoop(cli)
		for i, n := range oracleLengths {
			p := textPattern(int(n), uint64(i))
			if err := cli.WriteMessage(OpText, p); err != nil {
				t.Fatal(err)
			}
			expectMessage(t, msgs, OpText, p)
		}
		big := pattern(200_000, 1)
		if err := cli.WriteFragmented(OpBinary, big, 1000); err != nil {
			t.Fatal(err)
		}
		expectMessage(t, msgs, OpBinary, big)
		w, _ := cli.NextWriter(OpText)
		io.WriteString(w, "streamed ")
		io.WriteString(w, strings.Repeat("€", 3000))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		expectMessage(t, msgs, OpText, []byte("streamed "+strings.Repeat("€", 3000)))
		if err := cli.WriteControl(OpPing, []byte("hello gobwas")); err != nil {
			t.Fatal(err)
		}
		if got := <-pongs; got != "hello gobwas" {
			t.Fatalf("pong %q", got)
		}
		waitReading(cli)
		if err := cli.CloseWith(CloseNormal, "done"); err != nil {
			t.Fatal(err)
		}
		var ce wsutil.ClosedError
		if err := <-served; !errors.As(err, &ce) || ce.Code != ws.StatusNormalClosure || ce.Reason != "done" {
			t.Fatalf("gobwas server ended with %v", err)
		}
		// gobwas echoes the code without the reason.
		checkCloseError(t, recv(t, msgs).err, CloseNormal, false)
		waitDone(t, cli)
	})
}
