//go:build linux

package bench

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/testdata/bench/internal/load"
)

// TestWS6455Uring checks the ws6455-uring experiment (cmd/echoserver,
// ws6455uring_linux.go) and its epoll control, ws6455-epollmem, with
// frame.Conn clients: ping-pong and pipelined
// echoes of 16 B, 1 KiB and 70 KiB, whole and fragmented, a ping between
// fragments, a frame trickled a byte at a time (headers split across
// RECVs), and the close handshake.
func TestWS6455Uring(t *testing.T) {
	for _, impl := range []string{"ws6455-uring", "ws6455-epollmem"} {
		t.Run(impl, func(t *testing.T) { testMemEcho(t, impl) })
	}
}

func testMemEcho(t *testing.T, impl string) {
	srv := start(t, impl)
	defer srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs, err := load.Dial(ctx, srv.URL(), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer load.CloseAll(cs)
	for _, c := range cs {
		c.NetConn().SetDeadline(time.Now().Add(50 * time.Second))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	payload := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		return p
	}
	// send writes p whole, or in fragments of frag bytes.
	send := func(c *frame.Conn, p []byte, frag int) error {
		if frag > 0 {
			return c.WriteFragmented(frame.OpBinary, p, frag)
		}
		return c.WriteMessage(frame.OpBinary, p)
	}
	expect := func(c *frame.Conn, want []byte) error {
		op, got, err := c.ReadMessage(nil)
		if err != nil {
			return err
		}
		if op != frame.OpBinary || !bytes.Equal(got, want) {
			return fmt.Errorf("echo of %d bytes: got op %v, %d bytes, equal %v", len(want), op, len(got), bytes.Equal(got, want))
		}
		return nil
	}
	for _, size := range []int{16, 1 << 10, 70 << 10} {
		for _, frag := range []int{0, 7, 1000, 30 << 10} {
			if frag >= size {
				continue
			}
			t.Run(fmt.Sprintf("size%d/frag%d", size, frag), func(t *testing.T) {
				for i, c := range cs {
					// Ping-pong.
					for range 5 {
						p := payload(size)
						if err := send(c, p, frag); err != nil {
							t.Fatal(err)
						}
						if err := expect(c, p); err != nil {
							t.Fatalf("conn %d ping-pong: %v", i, err)
						}
					}
					// Pipelined: 16 messages go out while the echoes come back.
					ps := make([][]byte, 16)
					for j := range ps {
						ps[j] = payload(size)
					}
					errc := make(chan error, 1)
					go func() {
						for _, p := range ps {
							if err := send(c, p, frag); err != nil {
								errc <- err
								return
							}
						}
						errc <- nil
					}()
					for j, p := range ps {
						if err := expect(c, p); err != nil {
							t.Fatalf("conn %d pipelined message %d: %v", i, j, err)
						}
					}
					if err := <-errc; err != nil {
						t.Fatal(err)
					}
				}
			})
		}
	}
	t.Run("ping-between-fragments", func(t *testing.T) {
		c := cs[0]
		pl := frame.PlumbingOf(c)
		p := payload(3000)
		if err := pl.WriteFrame(frame.Header{Opcode: frame.OpBinary, Length: 1000, Masked: true}, p[:1000]); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteControl(frame.OpPing, []byte("between")); err != nil {
			t.Fatal(err)
		}
		if err := pl.WriteFrame(frame.Header{Fin: true, Opcode: frame.OpContinuation, Length: 2000, Masked: true}, p[1000:]); err != nil {
			t.Fatal(err)
		}
		if err := expect(c, p); err != nil { // the pong is read on the way
			t.Fatal(err)
		}
	})
	t.Run("trickled", func(t *testing.T) {
		// A 200-byte message (a 16-bit length form) written a byte at a
		// time, by hand: each byte is likely a RECV of its own.
		c := cs[1]
		p := payload(200)
		key := [4]byte{1, 2, 3, 4}
		wire := append([]byte{0x82, 0x80 | 126, 0, 200}, key[:]...)
		masked := bytes.Clone(p)
		frame.Mask(key, 0, masked)
		wire = append(wire, masked...)
		for _, b := range wire {
			if _, err := c.NetConn().Write([]byte{b}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Microsecond)
		}
		if err := expect(c, p); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("close", func(t *testing.T) {
		// The close handshake completes: the server answers the close
		// frame and then closes TCP.
		if err := cs[2].Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
	})
}
