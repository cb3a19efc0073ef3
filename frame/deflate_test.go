package frame

import (
	"bytes"
	"fmt"
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
