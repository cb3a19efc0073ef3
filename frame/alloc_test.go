package frame

// "Steady-state reading and writing of messages must not allocate": once a
// Conn is warmed up (pools filled, the caller's buffer grown), reading a
// message into the previous result and writing a message cost no
// allocation, in both roles, for small and 64 KiB messages, over loopback
// TCP. testing.AllocsPerRun counts mallocs of the whole process, so the
// goroutine on the other end is measured too.

import (
	"fmt"
	"io"
	"runtime/debug"
	"testing"
)

const allocRuns = 200

// noGC turns the garbage collector off for the test: a collection empties
// sync.Pools (after two cycles), and refilling them is not steady state.
func noGC(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	old := debug.SetGCPercent(-1)
	t.Cleanup(func() { debug.SetGCPercent(old) })
}

var allocSizes = []struct {
	name string
	n    int
}{{"16B", 16}, {"125B", 125}, {"4KiB", 4096}, {"64KiB", 64 << 10}}

// allocPair returns a loopback pair with the reader and writer roles.
func allocPair(t *testing.T, readerRole Role) (reader, writer *Conn) {
	srv, cli := connPair(t, transports[0], Config{}, Config{})
	if readerRole == RoleServer {
		return srv, cli
	}
	return cli, srv
}

// TestAllocs_ReadMessage: ReadMessage into the previous result, and into
// a caller's buffer of exactly the message's size, allocates nothing.
func TestAllocs_ReadMessage(t *testing.T) {
	noGC(t)
	for _, role := range bothRoles {
		for _, sz := range allocSizes {
			for _, exact := range []bool{false, true} {
				name := role.String() + "/" + sz.name
				if exact {
					name += "/exact-cap"
				}
				t.Run(name, func(t *testing.T) {
					reader, writer := allocPair(t, role)
					msg := textPattern(sz.n, 1)
					const warm = 5
					go func() {
						for range warm + allocRuns + 1 {
							if writer.WriteMessage(OpText, msg) != nil {
								return
							}
						}
					}()
					var buf []byte
					if exact {
						buf = make([]byte, 0, sz.n)
					}
					read := func() {
						dst := buf
						_, p, err := reader.ReadMessage(dst)
						if err != nil || len(p) != sz.n {
							t.Fatalf("ReadMessage: %d bytes, %v", len(p), err)
						}
						if !exact {
							buf = p
						}
					}
					for range warm {
						read()
					}
					if a := testing.AllocsPerRun(allocRuns, read); a != 0 {
						t.Errorf("%v allocations per ReadMessage (and the peer's WriteMessage)", a)
					}
				})
			}
		}
	}
}

// TestAllocs_WriteMessage: WriteMessage allocates nothing, masked (client)
// or not (server, including the writev path for large frames).
func TestAllocs_WriteMessage(t *testing.T) {
	noGC(t)
	for _, role := range bothRoles {
		for _, sz := range allocSizes {
			t.Run(role.String()+"/"+sz.name, func(t *testing.T) {
				reader, writer := allocPair(t, role.other())
				msg := pattern(sz.n, 2)
				const warm = 5
				done := make(chan struct{})
				go func() {
					defer close(done)
					var buf []byte
					for range warm + allocRuns + 1 {
						_, p, err := reader.ReadMessage(buf)
						if err != nil {
							return
						}
						buf = p
					}
				}()
				write := func() {
					if err := writer.WriteMessage(OpBinary, msg); err != nil {
						t.Fatal(err)
					}
				}
				for range warm {
					write()
				}
				if a := testing.AllocsPerRun(allocRuns, write); a != 0 {
					t.Errorf("%v allocations per WriteMessage (and the peer's ReadMessage)", a)
				}
				<-done
			})
		}
	}
}

// TestAllocs_Streaming: NextWriter/NextReader, fragmented messages (1024
// fragments of 64 bytes: nothing is kept per fragment) and ping/pong
// between messages allocate nothing either.
func TestAllocs_Streaming(t *testing.T) {
	noGC(t)
	for _, role := range bothRoles {
		t.Run(role.String(), func(t *testing.T) {
			reader, writer := allocPair(t, role)
			msg := textPattern(64<<10, 3)
			const warm = 3
			go func() {
				for range warm + allocRuns + 1 {
					if writer.WriteFragmented(OpText, msg, 64) != nil {
						return
					}
					if writer.WriteControl(OpPing, msg[:10]) != nil {
						return
					}
					w, err := writer.NextWriter(OpBinary)
					if err != nil {
						return
					}
					w.Write(msg[:1000])
					w.Write(msg[1000:])
					if w.Close() != nil {
						return
					}
				}
			}()
			var buf []byte
			chunk := make([]byte, 4096)
			step := func() {
				_, p, err := reader.ReadMessage(buf)
				if err != nil || len(p) != len(msg) {
					t.Fatalf("ReadMessage: %d %v", len(p), err)
				}
				buf = p
				_, r, err := reader.NextReader()
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for {
					k, err := r.Read(chunk)
					n += k
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				if n != len(msg) {
					t.Fatalf("streamed %d bytes", n)
				}
			}
			for range warm {
				step()
			}
			if a := testing.AllocsPerRun(allocRuns, step); a != 0 {
				t.Errorf("%v allocations per fragmented+streamed message pair with a ping", a)
			}
		})
	}
}

// TestAllocs_Compressed_RFC7692: a compressed echo in steady state (a
// message written, then read into the previous result, in both
// directions) allocates nothing, with and without context takeover (RFC
// 7692 §7.1.1) and with small windows: compressors and decompressors come
// from pools, and a connection's kept history stops growing at its window.
func TestAllocs_Compressed_RFC7692(t *testing.T) {
	noGC(t)
	for _, p := range []DeflateParams{
		{ServerNoContextTakeover: true, ClientNoContextTakeover: true},
		{},
		{ServerMaxWindowBits: 9, ClientMaxWindowBits: 10},
	} {
		for _, sz := range allocSizes[1:] {
			t.Run(fmt.Sprintf("%+v/%s", p, sz.name), func(t *testing.T) {
				s, c := deflatePair(t, p, -1)
				msg := textPattern(sz.n, 1)
				var sbuf, cbuf []byte
				echo := func() {
					if err := c.WriteMessage(OpText, msg); err != nil {
						t.Fatal(err)
					}
					_, got, err := s.ReadMessage(sbuf)
					if err != nil {
						t.Fatal(err)
					}
					sbuf = got
					if err := s.WriteMessage(OpText, got); err != nil {
						t.Fatal(err)
					}
					if _, cbuf, err = c.ReadMessage(cbuf); err != nil {
						t.Fatal(err)
					}
				}
				for range 100 { // history at its full size, pools filled
					echo()
				}
				if n := testing.AllocsPerRun(allocRuns, echo); n != 0 {
					t.Errorf("%.2f allocations per compressed echo, want 0", n)
				}
			})
		}
	}
}
