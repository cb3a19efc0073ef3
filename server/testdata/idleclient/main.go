// Command idleclient is the client side of the server package's idle
// memory test (TestIdleMemory). It opens -n WebSocket connections to
// -addr, sends -msgs messages on each and checks the echoes, so that every
// connection has carried traffic, then prints "ready" and keeps the
// connections open and idle until its standard input is closed.
//
// It runs in a process of its own so that the memory of the clients is
// not counted in the server's.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

func main() {
	addr := flag.String("addr", "", "server `host:port`")
	n := flag.Int("n", 1000, "number of connections")
	msgs := flag.Int("msgs", 4, "messages echoed on each connection before it goes idle")
	size := flag.Int("size", 300, "size of the largest message, in bytes")
	conc := flag.Int("conc", 32, "connections opened in parallel")
	flag.Parse()
	if err := run(*addr, *n, *msgs, *size, *conc); err != nil {
		fmt.Fprintln(os.Stderr, "idleclient:", err)
		os.Exit(1)
	}
}

func run(addr string, n, msgs, size, conc int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	if lim.Cur < uint64(n)+64 {
		return fmt.Errorf("RLIMIT_NOFILE is %d, too low for %d connections", lim.Cur, n)
	}
	d := &handshake.Dialer{HandshakeTimeout: 30 * time.Second}
	conns := make([]*frame.Conn, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range conc {
		wg.Go(func() {
			var buf []byte
			for {
				i := int(next.Add(1)) - 1
				if i >= n || firstErr.Load() != nil {
					return
				}
				c, _, err := d.Dial(context.Background(), "ws://"+addr+"/")
				if err != nil {
					firstErr.CompareAndSwap(nil, fmt.Errorf("connection %d: %w", i, err))
					return
				}
				conns[i] = c
				for m := range msgs {
					// Sizes vary from small to size, text and binary.
					l := size >> (msgs - 1 - m)
					p := bytes.Repeat([]byte{byte('a' + m)}, l)
					op := frame.OpText
					if m%2 == 1 {
						op = frame.OpBinary
					}
					if err := c.WriteMessage(op, p); err != nil {
						firstErr.CompareAndSwap(nil, fmt.Errorf("connection %d: write: %w", i, err))
						return
					}
					gop, got, err := c.ReadMessage(buf)
					buf = got
					if err != nil || gop != op || !bytes.Equal(got, p) {
						firstErr.CompareAndSwap(nil, fmt.Errorf("connection %d: bad echo (%v)", i, err))
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return err
	}
	fmt.Println("ready", n)
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.CloseNow()
	}
	return nil
}
