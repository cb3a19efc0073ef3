//go:build linux

package load

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// faultyEcho serves a WebSocket echo (gobwas/ws's low-level API) that gets
// one thing wrong, to show that Cycle counts each kind of failed cycle
// instead of hiding it:
//
//   - "mismatch": the echo's last byte is flipped;
//   - "code": the server answers the client's close 1000 with 1001;
//   - "noclose": a correct close frame, but the server leaves TCP open
//     until the client closes it (not the order of RFC 6455 §7.1.1);
//   - "": a correct server.
func faultyEcho(t *testing.T, fault string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(20 * time.Second))
				if _, err := ws.Upgrade(nc); err != nil {
					return
				}
				for {
					h, err := ws.ReadHeader(nc)
					if err != nil {
						return
					}
					p := make([]byte, h.Length)
					if _, err := io.ReadFull(nc, p); err != nil {
						return
					}
					ws.Cipher(p, h.Mask, 0)
					h.Masked = false
					if h.OpCode == ws.OpClose {
						if fault == "code" {
							p = ws.NewCloseFrameBody(ws.StatusGoingAway, "")
							h.Length = int64(len(p))
						}
					} else if fault == "mismatch" && len(p) > 0 {
						p[len(p)-1] ^= 1
					}
					if ws.WriteHeader(nc, h) != nil {
						return
					}
					if _, err := nc.Write(p); err != nil {
						return
					}
					if h.OpCode == ws.OpClose {
						if fault == "noclose" {
							io.Copy(io.Discard, nc) // until the client closes
						}
						return
					}
				}
			})
		}
	})
	return "ws://" + ln.Addr().String() + "/"
}

// TestCycleCountsFailures_RFC6455_7_1_1: a clean server gives clean cycles;
// each faulty one gives failed cycles of the step that went wrong, every
// one of them counted, and no clean cycle.
func TestCycleCountsFailures_RFC6455_7_1_1(t *testing.T) {
	for _, tc := range []struct{ fault, step string }{
		{"", ""},
		{"mismatch", StepMatch},
		{"code", StepCode},
		{"noclose", StepTCP},
	} {
		t.Run("fault="+tc.fault, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			n, closeTimeout := int64(20), 20*time.Second
			if tc.fault == "noclose" {
				// Each cycle waits this long for a FIN that never comes: long
				// enough that the server's close frame (which must come first)
				// is not late even on a busy machine.
				n, closeTimeout = 8, 3*time.Second
			}
			res, err := Cycle(ctx, CycleConfig{
				URL: faultyEcho(t, tc.fault), Cyclers: 4, Size: 16, Sources: 2, Cycles: n,
				Timeout: 20 * time.Second, CloseTimeout: closeTimeout,
			})
			if err != nil {
				t.Fatal(err)
			}
			if tc.step == "" {
				if res.Cycles != n || res.Failed()+res.FailuresOutside != 0 {
					t.Fatalf("clean server: %d clean cycles, failures %v + %d outside (%s); want %d clean", res.Cycles, res.Failures, res.FailuresOutside, res.FirstFailure, n)
				}
				return
			}
			if res.Cycles != 0 || res.Failures[tc.step] != n || res.Failed() != n {
				t.Fatalf("%d clean cycles, failures %v (first: %s); want %d failures at %q and none clean", res.Cycles, res.Failures, res.FirstFailure, n, tc.step)
			}
		})
	}
}
