//go:build linux

package server

// Measurements of the fault bounds with the default settings, for the
// README and testdata/bench/RESULTS.md. They log numbers and assert
// nothing about time (timing belongs in measurements, not in pass/fail
// tests); they run only when asked:
//
//	WS6455_FAULTMEASURE=1 go test -run TestMeasure -v ./server
//
// TestMeasureShutdown: 500 healthy clients and 3 that stopped reading
// (the server's writes to them are blocked), Shutdown with a 2 s context:
// when the healthy clients get their 1001, when Shutdown returns, when the
// stuck clients see their TCP connection closed.
// TestMeasureFaultBounds: with the server's defaults, how long until a
// client that never reads is disconnected, and until a client that
// trickles a frame is cut.

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/server/internal/wstest"
)

func measureOnly(t *testing.T) {
	if os.Getenv("WS6455_FAULTMEASURE") == "" {
		t.Skip("a measurement: set WS6455_FAULTMEASURE=1 to run it")
	}
}

// quantiles formats the median, p99 and max of ds.
func quantiles(ds []time.Duration) string {
	slices.Sort(ds)
	q := func(p float64) time.Duration { return ds[min(len(ds)-1, int(p*float64(len(ds))))] }
	return fmt.Sprintf("median %v, p99 %v, max %v", q(0.5).Round(time.Millisecond), q(0.99).Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
}

func TestMeasureShutdown(t *testing.T) {
	measureOnly(t)
	raiseNoFile(t, 2200)
	forEachMode(t, func(t *testing.T, s *Server, h *faultHandler) {
		addr := serveLocal(t, s)
		const healthy, stuck = 500, 3
		stuckClients := dialStuck(t, addr, stuck)
		// The moment each healthy client reads the server's close frame
		// (its Trace hook), and the moment its close handshake is over
		// (its read returns, after the server closed TCP).
		var start time.Time
		var startOnce sync.WaitGroup
		startOnce.Add(1)
		closeFrame := make(chan time.Duration, healthy)
		clients := make([]*frame.Conn, healthy)
		for i := range clients {
			clients[i] = wstest.Dial(t, addr, "/", frame.Config{Trace: func(_ *frame.Conn, dir frame.Direction, h frame.Header, _ []byte) {
				if dir == frame.Inbound && h.Opcode == frame.OpClose {
					startOnce.Wait()
					closeFrame <- time.Since(start)
				}
			}})
			roundTrip(t, clients[i], "hello")
		}
		time.Sleep(500 * time.Millisecond) // the stuck writers block

		got := make(chan time.Duration, healthy)
		for _, c := range clients {
			go func() {
				err := wstest.ReadUntilClose(c)
				startOnce.Wait()
				if frame.CloseStatus(err) != frame.CloseGoingAway {
					t.Errorf("healthy client: %v", err)
				}
				got <- time.Since(start)
			}()
		}
		stuckEnd := make(chan time.Duration, stuck)
		for _, r := range stuckClients {
			go func() {
				r.Conn.SetReadDeadline(time.Now().Add(time.Minute))
				io.Copy(io.Discard, r.Conn)
				startOnce.Wait()
				stuckEnd <- time.Since(start)
			}()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start = time.Now()
		startOnce.Done()
		err := s.Shutdown(ctx)
		returned := time.Since(start)
		var cf, hd, sd []time.Duration
		for range healthy {
			hd = append(hd, <-got)
			cf = append(cf, <-closeFrame)
		}
		for range stuck {
			sd = append(sd, <-stuckEnd)
		}
		t.Logf("Shutdown(2 s) with %d healthy and %d stuck clients (defaults: WriteTimeout 30 s, CloseTimeout 5 s):", healthy, stuck)
		t.Logf("  healthy clients read the 1001 close frame after: %s", quantiles(cf))
		t.Logf("  healthy clients' close handshakes were over (TCP closed) after: %s", quantiles(hd))
		t.Logf("  Shutdown returned after %v: %v", returned.Round(time.Millisecond), err)
		t.Logf("  stuck clients saw TCP closed after: %s", quantiles(sd))
	}, stuckHandler)
}

func TestMeasureFaultBounds(t *testing.T) {
	measureOnly(t)
	var lines []string
	forEachMode(t, func(t *testing.T, s *Server, h *faultHandler) {
		mode := "handler"
		if s.Events != nil {
			mode = "events"
		}
		addr := serveLocal(t, s)

		// A client that sends 1 MiB messages and never reads the echoes.
		r := dialRawSmall(t, addr)
		r.Upgrade(addr, "/", nil)
		start := time.Now()
		done := flood(r.Conn, wstest.ClientFrame(true, frame.OpBinary, make([]byte, 1<<20)), 2*time.Minute)
		err := h.nextWithin(t, 2*time.Minute, "a client that never reads to be disconnected")
		lines = append(lines, fmt.Sprintf("%s: a client that never reads (1 MiB messages) was disconnected after %v (%v)",
			mode, time.Since(start).Round(time.Millisecond), err))
		<-done

		// A client that sends a 64 KiB frame's header and then one byte
		// every 2 s.
		r = wstest.DialRaw(t, addr)
		r.Upgrade(addr, "/", nil)
		r.Conn.SetDeadline(time.Now().Add(2 * time.Minute))
		f := wstest.ClientFrame(true, frame.OpBinary, make([]byte, 64<<10))
		start = time.Now()
		stop := make(chan struct{})
		go func() {
			for i := range f {
				if _, err := r.Conn.Write(f[i : i+1]); err != nil {
					return
				}
				if i > 8 {
					select {
					case <-stop:
						return
					case <-time.After(2 * time.Second):
					}
				}
			}
		}()
		err = h.nextWithin(t, 2*time.Minute, "a client that trickles a frame to be cut")
		close(stop)
		lines = append(lines, fmt.Sprintf("%s: a client sending 1 byte every 2 s was cut after %v (%v)",
			mode, time.Since(start).Round(time.Millisecond), err))
	}, func() *faultHandler { return newFaultHandler(nil) })
	t.Logf("with the server's defaults (WriteTimeout 30 s, MessageTimeout 20 s + 1 s/KiB):\n  %s", strings.Join(lines, "\n  "))
}
