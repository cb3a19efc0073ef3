// Command pipeclient is the client side of the server package's
// pipelining benchmark (BenchmarkPipelining with WS6455_PIPE_PROCESS=1):
// -conns connections each write -msgs binary messages of -size bytes
// back-to-back, without waiting, while a reader per connection checks that
// the echoes come back in order and notes each one's latency (send to
// echo). It prints one line of results:
//
//	ok <echoes/s> <p50> <p90> <p99> <max> <first done> <last done> <min progress> <median progress>
//
// with durations in microseconds; progress is, per connection, the share
// of its sent messages echoed at the moment the first connection was done.
// It runs in a process of its own so that the clients do not compete with
// the server for the Go scheduler of one process.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

func main() {
	addr := flag.String("addr", "", "server `host:port`")
	conns := flag.Int("conns", 50, "connections")
	msgs := flag.Int("msgs", 1000, "messages per connection")
	size := flag.Int("size", 32, "message size in bytes (at least 16)")
	flag.Parse()
	if err := run(*addr, *conns, *msgs, max(*size, 16)); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
}

func run(addr string, conns, msgs, size int) error {
	d := &handshake.Dialer{}
	cs := make([]*frame.Conn, conns)
	for i := range cs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, _, err := d.Dial(ctx, "ws://"+addr+"/")
		cancel()
		if err != nil {
			return err
		}
		defer c.CloseNow()
		c.NetConn().SetDeadline(time.Now().Add(time.Minute))
		cs[i] = c
	}
	var (
		mu        sync.Mutex
		firstDone bool
		share     []float64
		lat       = make([][]time.Duration, conns)
		done      = make([]time.Duration, conns)
		sent      = make([]atomic.Int64, conns)
		received  = make([]atomic.Int64, conns)
		errOnce   sync.Once
		firstErr  error
		wg        sync.WaitGroup
	)
	fail := func(err error) { errOnce.Do(func() { firstErr = err }) }
	start := time.Now()
	for i, c := range cs {
		wg.Go(func() {
			p := make([]byte, size)
			for seq := range msgs {
				binary.LittleEndian.PutUint64(p, uint64(seq))
				binary.LittleEndian.PutUint64(p[8:], uint64(time.Since(start)))
				if err := c.WriteMessage(frame.OpBinary, p); err != nil {
					fail(fmt.Errorf("conn %d: write: %w", i, err))
					return
				}
				sent[i].Add(1)
				if seq%16 == 15 {
					runtime.Gosched()
				}
			}
		})
		wg.Go(func() {
			l := make([]time.Duration, 0, msgs)
			var buf []byte
			for seq := range msgs {
				_, p, err := c.ReadMessage(buf)
				now := time.Since(start)
				buf = p
				if err != nil || len(p) != size || binary.LittleEndian.Uint64(p) != uint64(seq) {
					fail(fmt.Errorf("conn %d: bad echo %d: %v", i, seq, err))
					return
				}
				l = append(l, now-time.Duration(binary.LittleEndian.Uint64(p[8:])))
				received[i].Add(1)
			}
			done[i] = time.Since(start)
			lat[i] = l
			mu.Lock()
			if !firstDone {
				firstDone = true
				for k := range conns {
					share = append(share, float64(received[k].Load())/float64(max(sent[k].Load(), 1)))
				}
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return firstErr
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	slices.Sort(done)
	slices.Sort(share)
	pct := func(p float64) int64 { return all[min(len(all)-1, int(p*float64(len(all))))].Microseconds() }
	fmt.Printf("ok %.0f %d %d %d %d %d %d %.2f %.2f\n", float64(len(all))/elapsed.Seconds(),
		pct(0.5), pct(0.9), pct(0.99), pct(1), done[0].Microseconds(), done[len(done)-1].Microseconds(),
		share[0], share[len(share)/2])
	return nil
}
