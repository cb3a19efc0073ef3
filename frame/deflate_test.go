package frame

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
)

// deflatePair returns a server and client Conn over loopback TCP with the
// given negotiated permessage-deflate parameters.
func deflatePair(t *testing.T, p DeflateParams, maxMsg int64) (*Conn, *Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); ch <- c }()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc := <-ch
	s := NewConn(sc, nil, Config{Role: RoleServer, Deflate: &p, MaxMessageSize: maxMsg, CompressMinSize: -1})
	c := NewConn(cc, nil, Config{Role: RoleClient, Deflate: &p, MaxMessageSize: maxMsg, CompressMinSize: -1})
	t.Cleanup(func() { s.CloseNow(); c.CloseNow() })
	return s, c
}

func deflatePayloads() [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 200_000)
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	text := []byte(strings.Repeat(`{"user":"ada","event":"message","body":"hello, world"} `, 3000))
	return [][]byte{nil, []byte("a"), []byte("Hello"), text[:1000], text, random[:3000], random}
}

// TestDeflate_RFC7692_RoundTripEveryParameter sends messages both ways over
// every combination of context takeover and window bits, whole, fragmented
// and streamed, and checks they arrive intact.
func TestDeflate_RFC7692_RoundTripEveryParameter(t *testing.T) {
	payloads := deflatePayloads()
	for _, snct := range []bool{false, true} {
		for _, cnct := range []bool{false, true} {
			for _, bits := range []int{0, 8, 9, 12, 15} {
				p := DeflateParams{ServerNoContextTakeover: snct, ClientNoContextTakeover: cnct, ServerMaxWindowBits: bits, ClientMaxWindowBits: bits}
				t.Run(fmt.Sprintf("snct=%v,cnct=%v,bits=%d", snct, cnct, bits), func(t *testing.T) {
					s, c := deflatePair(t, p, -1)
					go func() {
						var buf []byte
						for {
							op, msg, err := s.ReadMessage(buf)
							if err != nil {
								return
							}
							buf = msg
							switch len(msg) % 3 {
							case 0:
								s.WriteMessage(op, msg)
							case 1:
								s.WriteFragmented(op, msg, 1000)
							default:
								w, _ := s.NextWriter(op)
								for len(msg) > 0 {
									n := min(len(msg), 777)
									w.Write(msg[:n])
									msg = msg[n:]
								}
								w.Close()
							}
						}
					}()
					for round := 0; round < 2; round++ {
						for i, want := range payloads {
							op := OpBinary
							if i < 5 {
								op = OpText
							}
							var err error
							if i%2 == 0 {
								err = c.WriteMessage(op, want)
							} else {
								err = c.WriteFragmented(op, want, 500)
							}
							if err != nil {
								t.Fatal(err)
							}
							gotOp, got, err := c.ReadMessage(nil)
							if err != nil || gotOp != op || !bytes.Equal(got, want) {
								t.Fatalf("payload %d: op %v len %d err %v", i, gotOp, len(got), err)
							}
						}
					}
				})
			}
		}
	}
}

// TestDeflate_RFC7692_BombStoppedWith1009: the limit applies to the
// inflated size, checked while inflating.
func TestDeflate_RFC7692_BombStoppedWith1009(t *testing.T) {
	s, c := deflatePair(t, DeflateParams{}, 0)
	s.maxMsg = 1 << 20
	bomb := make([]byte, 64<<20) // zeros: compresses about 1000:1
	go c.WriteMessage(OpBinary, bomb)
	_, _, err := s.ReadMessage(nil)
	if CloseStatus(err) != CloseMessageTooBig {
		t.Fatalf("err = %v, want 1009", err)
	}
}

// TestDeflate_RFC7692_7_1_1_IdleConnHoldsNoContext: a connection holds a
// compressor only while it compresses a message and a decompressor only
// while it inflates one; between messages both are back in their pools,
// whichever way the message was written (WriteMessage, WriteFragmented,
// NextWriter) or read (ReadMessage, NextReader). Without context takeover
// (RFC 7692 §7.1.1.1, §7.1.1.2) nothing else is kept; with it, the
// direction keeps its window's bytes, at most 2^bits (§7.1.2).
func TestDeflate_RFC7692_7_1_1_IdleConnHoldsNoContext(t *testing.T) {
	msg := []byte(strings.Repeat(`{"id":1,"type":"message","text":"hello, idle world"} `, 20))
	for _, p := range []DeflateParams{
		{ServerNoContextTakeover: true, ClientNoContextTakeover: true},
		{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 9, ClientMaxWindowBits: 10},
		{ServerNoContextTakeover: true},
		{ClientNoContextTakeover: true},
		{},
		{ServerMaxWindowBits: 8, ClientMaxWindowBits: 9},
	} {
		t.Run(fmt.Sprintf("%+v", p), func(t *testing.T) {
			s, c := deflatePair(t, p, -1)
			// Each check runs in this goroutine after the message was
			// read whole, so that no Conn is in use while its fields are
			// inspected.
			check := func(step string) {
				t.Helper()
				for _, side := range []struct {
					name           string
					conn           *Conn
					sendNC, recvNC bool
				}{
					{"server", s, p.ServerNoContextTakeover, p.ClientNoContextTakeover},
					{"client", c, p.ClientNoContextTakeover, p.ServerNoContextTakeover},
				} {
					if side.conn.defl.c != nil || side.conn.infl.d != nil {
						t.Errorf("%s: %s holds a compressor (%v) or a decompressor (%v) between messages", step, side.name, side.conn.defl.c != nil, side.conn.infl.d != nil)
					}
					if kept := len(side.conn.defl.hist) > 0; kept == side.sendNC {
						t.Errorf("%s: %s keeps its compressor's history: %v, want %v", step, side.name, kept, !side.sendNC)
					}
					if kept := len(side.conn.infl.hist) > 0; kept == side.recvNC {
						t.Errorf("%s: %s keeps its decompressor's history: %v, want %v", step, side.name, kept, !side.recvNC)
					}
					for _, h := range []struct {
						hist []byte
						bits int
					}{{side.conn.defl.hist, side.conn.defl.bits}, {side.conn.infl.hist, side.conn.infl.bits}} {
						if cap(h.hist) > 1<<h.bits {
							t.Errorf("%s: %s keeps %d bytes of history for a %d-byte window", step, side.name, cap(h.hist), 1<<h.bits)
						}
					}
				}
			}
			readWhole := func(r *Conn, stream bool) {
				t.Helper()
				var got []byte
				if stream {
					_, rd, err := r.NextReader()
					if err != nil {
						t.Fatal(err)
					}
					if got, err = io.ReadAll(rd); err != nil {
						t.Fatal(err)
					}
				} else {
					var err error
					if _, got, err = r.ReadMessage(nil); err != nil {
						t.Fatal(err)
					}
				}
				if !bytes.Equal(got, msg) {
					t.Fatalf("got %d bytes, want %d", len(got), len(msg))
				}
			}
			writes := []struct {
				name  string
				write func(w *Conn) error
			}{
				{"WriteMessage", func(w *Conn) error { return w.WriteMessage(OpText, msg) }},
				{"WriteFragmented", func(w *Conn) error { return w.WriteFragmented(OpText, msg, 100) }},
				{"NextWriter", func(w *Conn) error {
					wr, err := w.NextWriter(OpText)
					if err != nil {
						return err
					}
					wr.Write(msg[:100])
					wr.Write(msg[100:])
					return wr.Close()
				}},
			}
			for i, wr := range writes {
				stream := i%2 == 1
				if err := wr.write(c); err != nil {
					t.Fatal(err)
				}
				readWhole(s, stream)
				if err := wr.write(s); err != nil {
					t.Fatal(err)
				}
				readWhole(c, !stream)
				check(wr.name)
			}
		})
	}
}
