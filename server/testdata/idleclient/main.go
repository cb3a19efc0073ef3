// Command idleclient is the client side of the server package's idle
// memory test (TestIdleMemory). It opens -n WebSocket connections to
// -addr, sends -msgs messages on each and checks the echoes, so that every
// connection has carried traffic, then prints "ready" and keeps the
// connections open and idle until its standard input is closed.
//
// With -via-http each connection first sends a plain GET on the TCP
// connection and reads the answer, so the server's HTTP fallback serves it
// and the upgrade that follows arrives on a keep-alive connection. With
// -slow each connection, after its messages, sends the header of a 64 KiB
// frame and one byte of it and then nothing more: a slow sender, whose
// cost the server pays until its progress rule cuts it.
//
// It runs in a process of its own so that the memory of the clients is
// not counted in the server's.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
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
	viaHTTP := flag.Bool("via-http", false, "send a plain GET / first on each connection, then upgrade on it")
	slow := flag.Bool("slow", false, "end with a frame header and one byte of its 64 KiB payload, then nothing")
	deflate := flag.Bool("deflate", false, "offer permessage-deflate as Chromium does (\"permessage-deflate; client_max_window_bits\") and send JSON-like text, so that messages are compressed both ways")
	flag.Parse()
	if err := run(*addr, *n, *msgs, *size, *conc, *viaHTTP, *slow, *deflate); err != nil {
		fmt.Fprintln(os.Stderr, "idleclient:", err)
		os.Exit(1)
	}
}

func run(addr string, n, msgs, size, conc int, viaHTTP, slow, deflate bool) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	if lim.Cur < uint64(n)+64 {
		return fmt.Errorf("RLIMIT_NOFILE is %d, too low for %d connections", lim.Cur, n)
	}
	d := &handshake.Dialer{HandshakeTimeout: 30 * time.Second}
	if deflate {
		d.Compression = &handshake.DeflateOffer{}
	}
	if viaHTTP {
		d.NetDial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			var nd net.Dialer
			nc, err := nd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if err := plainGet(nc, addr); err != nil {
				nc.Close()
				return nil, err
			}
			return nc, nil
		}
	}
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
				c, resp, err := d.Dial(context.Background(), "ws://"+addr+"/")
				if err != nil {
					firstErr.CompareAndSwap(nil, fmt.Errorf("connection %d: %w", i, err))
					return
				}
				conns[i] = c
				if deflate && resp.Deflate == nil {
					firstErr.CompareAndSwap(nil, fmt.Errorf("connection %d: permessage-deflate not accepted", i))
					return
				}
				for m := range msgs {
					// Sizes vary from small to size, text and binary.
					l := size >> (msgs - 1 - m)
					p := bytes.Repeat([]byte{byte('a' + m)}, l)
					op := frame.OpText
					if m%2 == 1 {
						op = frame.OpBinary
					}
					if deflate {
						// Text like a chat or API message, every one
						// long enough to be compressed.
						p, op = jsonLike(i, m, max(l, 2*frame.DefaultCompressMinSize)), frame.OpText
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
				if slow {
					h := frame.Header{Fin: true, Opcode: frame.OpBinary, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: 64 << 10}
					if _, err := c.NetConn().Write(append(frame.AppendHeader(nil, h), 'x')); err != nil {
						firstErr.CompareAndSwap(nil, fmt.Errorf("connection %d: write: %w", i, err))
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

// jsonLike returns a JSON-like text message of about n bytes.
func jsonLike(conn, seq, n int) []byte {
	p := fmt.Appendf(nil, `{"conn":%d,"seq":%d,"type":"update","items":[`, conn, seq)
	for k := 0; len(p) < n-2; k++ {
		p = fmt.Appendf(p, `{"id":%d,"name":"item-%d","price":%d.%02d},`, k, k*7%13, 10+k, k*37%100)
	}
	return append(p[:len(p)-1], "]}"...)
}

// plainGet sends GET / on nc and reads the whole answer, which must keep
// the connection open, leaving nothing buffered.
func plainGet(nc net.Conn, host string) error {
	if _, err := fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", host); err != nil {
		return err
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return fmt.Errorf("GET /: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close || br.Buffered() != 0 {
		return fmt.Errorf("GET /: %s (close=%v, %d bytes more)", resp.Status, resp.Close, br.Buffered())
	}
	return nil
}
