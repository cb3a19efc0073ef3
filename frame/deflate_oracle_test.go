package frame_test

import (
	"bufio"
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// The gobwas/ws wsflate package is the test-only oracle for permessage-
// deflate (RFC 7692): its helpers compress with the standard library's
// compress/flate without context takeover, so these tests negotiate
// server_no_context_takeover and client_no_context_takeover.

func oraclePayloads() [][]byte {
	r := rand.New(rand.NewPCG(7, 7))
	random := make([]byte, 100_000)
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	text := []byte(strings.Repeat("permessage-deflate compresses text that repeats itself. ", 2000))
	return [][]byte{[]byte("Hello"), text[:300], text, random[:2000], random}
}

// TestDeflateOracle_RFC7692_GobwasClientOurServer: a gobwas client with
// wsflate talks to our Upgrader and Conn.
func TestDeflateOracle_RFC7692_GobwasClientOurServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		br := bufio.NewReader(nc)
		u := handshake.Upgrader{Compression: handshake.DeflateConfig{Mode: handshake.CompressionFull}}
		res, err := u.Upgrade(br, nc)
		if err != nil || res.Deflate == nil {
			nc.Close()
			return
		}
		buffered, _ := br.Peek(br.Buffered())
		c := frame.NewConn(nc, buffered, frame.Config{Deflate: res.Deflate, CompressMinSize: -1})
		var buf []byte
		for {
			op, msg, err := c.ReadMessage(buf)
			if err != nil {
				return
			}
			buf = msg
			c.WriteMessage(op, msg)
		}
	}()

	ext := wsflate.Extension{Parameters: wsflate.DefaultParameters}
	d := ws.Dialer{Extensions: []httphead.Option{ext.Parameters.Option()}, Timeout: 5 * time.Second}
	conn, br, hs, err := d.Dial(context.Background(), "ws://"+ln.Addr().String()+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if len(hs.Extensions) != 1 || string(hs.Extensions[0].Name) != "permessage-deflate" {
		t.Fatalf("extensions negotiated: %v", hs.Extensions)
	}
	var rd interface {
		Read([]byte) (int, error)
	} = conn
	if br != nil {
		rd = br
	}
	for i, p := range oraclePayloads() {
		f, err := wsflate.CompressFrame(ws.NewBinaryFrame(p))
		if err != nil {
			t.Fatal(err)
		}
		f = ws.MaskFrameInPlace(f)
		if err := ws.WriteFrame(conn, f); err != nil {
			t.Fatal(err)
		}
		got, err := ws.ReadFrame(rd)
		if err != nil {
			t.Fatalf("payload %d: read: %v", i, err)
		}
		// RFC 7692 §6.1: what does not get smaller ("Hello", random
		// bytes) is echoed uncompressed, RSV1 clear; text compressed.
		wantRaw := i == 0 || i >= 3 // "Hello", random[:2000], random
		if !got.Header.Fin || (got.Header.Rsv&0x4 == 0) != wantRaw {
			t.Fatalf("payload %d: echo header %+v: want FIN, and RSV1 (compressed) %v", i, got.Header, !wantRaw)
		}
		plain := got
		if !wantRaw {
			if len(got.Payload) >= len(p) {
				t.Errorf("payload %d: %d bytes compressed to %d", i, len(p), len(got.Payload))
			}
			if plain, err = wsflate.DecompressFrame(got); err != nil {
				t.Fatalf("payload %d: gobwas cannot inflate our frame: %v", i, err)
			}
		}
		if !bytes.Equal(plain.Payload, p) {
			t.Fatalf("payload %d: echo differs (%d bytes, want %d)", i, len(plain.Payload), len(p))
		}
	}
}

// TestDeflateOracle_RFC7692_OurClientGobwasServer: our Dialer and Conn
// against a gobwas server with wsflate.
func TestDeflateOracle_RFC7692_OurClientGobwasServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		ext := wsflate.Extension{Parameters: wsflate.DefaultParameters}
		u := ws.Upgrader{Negotiate: ext.Negotiate}
		if _, err := u.Upgrade(nc); err != nil {
			return
		}
		if _, ok := ext.Accepted(); !ok {
			return
		}
		for {
			f, err := ws.ReadFrame(nc)
			if err != nil || f.Header.OpCode == ws.OpClose {
				return
			}
			f = ws.UnmaskFrameInPlace(f)
			if f.Header.Rsv&0x4 != 0 {
				if f, err = wsflate.DecompressFrame(f); err != nil {
					return
				}
			}
			out, err := wsflate.CompressFrame(ws.NewFrame(f.Header.OpCode, true, f.Payload))
			if err != nil {
				return
			}
			if err := ws.WriteFrame(nc, out); err != nil {
				return
			}
		}
	}()
	d := handshake.Dialer{
		Compression: &handshake.DeflateOffer{ServerNoContextTakeover: true, ClientNoContextTakeover: true},
		FrameConfig: frame.Config{CompressMinSize: -1},
	}
	c, resp, err := d.Dial(context.Background(), "ws://"+ln.Addr().String()+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if resp.Deflate == nil {
		t.Fatal("permessage-deflate not negotiated with gobwas")
	}
	for i, p := range oraclePayloads() {
		if err := c.WriteMessage(frame.OpBinary, p); err != nil {
			t.Fatal(err)
		}
		op, got, err := c.ReadMessage(nil)
		if err != nil || op != frame.OpBinary || !bytes.Equal(got, p) {
			t.Fatalf("payload %d: op %v len %d (want %d) err %v", i, op, len(got), len(p), err)
		}
	}
}
