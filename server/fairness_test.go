package server

// Fair service when clients pipeline: many connections each write a burst
// of small messages back-to-back without waiting for the echoes. Every
// connection must get all its echoes, in order (RFC 6455 §5.6, §6.1: a
// message stream is ordered); the latency figures are logged and reported
// by the benchmark, never asserted.
//
//	go test -run TestPipelining -v ./server
//	go test -run '^$' -bench Pipelining -benchtime 5x ./server

import (
	"encoding/binary"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/server/internal/wstest"
)

// pipelineResult is what one round of the pipelining scenario measured.
type pipelineResult struct {
	conns, msgs int
	elapsed     time.Duration
	latencies   []time.Duration // send to echo received, all messages
	finished    []time.Duration // when each connection got its last echo
	// progress of each connection (echoes received, messages sent) at
	// the moment the first connection received all of its echoes.
	progressAtFirst, sentAtFirst []int
}

// runPipelining opens conns connections to addr; each writes msgs messages
// of size bytes as fast as it can while another goroutine reads the
// echoes, checks their order and notes each one's latency.
func runPipelining(tb testing.TB, addr string, conns, msgs, size int) pipelineResult {
	tb.Helper()
	size = max(size, 16)
	clients := make([]*frame.Conn, conns)
	for i := range clients {
		clients[i] = wstest.Dial(tb, addr, "/", frame.Config{})
	}
	res := pipelineResult{
		conns:           conns,
		msgs:            msgs,
		finished:        make([]time.Duration, conns),
		progressAtFirst: make([]int, conns),
		sentAtFirst:     make([]int, conns),
	}
	sent := make([]atomic.Int64, conns)
	lat := make([][]time.Duration, conns)
	received := make([]int, conns) // under mu
	var mu sync.Mutex
	firstDone := false
	errs := make(chan error, 2*conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i, c := range clients {
		c.NetConn().SetDeadline(time.Now().Add(wstest.Timeout))
		wg.Go(func() { // writer
			p := make([]byte, size)
			for seq := range msgs {
				binary.LittleEndian.PutUint64(p[0:], uint64(seq))
				binary.LittleEndian.PutUint64(p[8:], uint64(time.Since(start)))
				if err := c.WriteMessage(frame.OpBinary, p); err != nil {
					errs <- fmt.Errorf("conn %d: write %d: %w", i, seq, err)
					return
				}
				sent[i].Add(1)
				// Independent clients write at the same time; in one
				// process, let the other writers run too.
				if seq%16 == 15 {
					runtime.Gosched()
				}
			}
		})
		wg.Go(func() { // reader
			l := make([]time.Duration, 0, msgs)
			var buf []byte
			for seq := range msgs {
				op, p, err := c.ReadMessage(buf)
				now := time.Since(start)
				buf = p
				if err != nil {
					errs <- fmt.Errorf("conn %d: echo %d of %d: %w", i, seq, msgs, err)
					return
				}
				if op != frame.OpBinary || len(p) != size {
					errs <- fmt.Errorf("conn %d: echo %d: %v, %d bytes", i, seq, op, len(p))
					return
				}
				if got := binary.LittleEndian.Uint64(p); got != uint64(seq) {
					errs <- fmt.Errorf("conn %d: echo %d carries sequence number %d: out of order", i, seq, got)
					return
				}
				l = append(l, now-time.Duration(binary.LittleEndian.Uint64(p[8:])))
				mu.Lock()
				received[i]++
				if seq == msgs-1 && !firstDone {
					firstDone = true
					copy(res.progressAtFirst, received)
					for k := range sent {
						res.sentAtFirst[k] = int(sent[k].Load())
					}
				}
				mu.Unlock()
			}
			lat[i] = l
			res.finished[i] = time.Since(start)
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	close(errs)
	for err := range errs {
		tb.Error(err)
	}
	for _, c := range clients {
		c.NetConn().SetDeadline(time.Time{})
		c.Close()
	}
	for _, l := range lat {
		res.latencies = append(res.latencies, l...)
	}
	slices.Sort(res.latencies)
	return res
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

func (r pipelineResult) log(tb testing.TB) {
	tb.Helper()
	fin := slices.Clone(r.finished)
	slices.Sort(fin)
	prog := slices.Clone(r.progressAtFirst)
	slices.Sort(prog)
	// Echoes received as a share of messages sent, per connection.
	share := make([]float64, len(prog))
	for i := range r.progressAtFirst {
		share[i] = float64(r.progressAtFirst[i]) / float64(max(r.sentAtFirst[i], 1))
	}
	slices.Sort(share)
	tb.Logf("pipelining: %d connections × %d messages in %v (%.0f echoes/s), race detector: %v",
		r.conns, r.msgs, r.elapsed.Round(time.Millisecond), float64(r.conns*r.msgs)/r.elapsed.Seconds(), raceEnabled)
	tb.Logf("  echo latency: p50 %v, p90 %v, p99 %v, max %v",
		percentile(r.latencies, 0.50), percentile(r.latencies, 0.90), percentile(r.latencies, 0.99), percentile(r.latencies, 1))
	tb.Logf("  connection finished after: first %v, median %v, last %v",
		fin[0].Round(time.Microsecond), fin[len(fin)/2].Round(time.Microsecond), fin[len(fin)-1].Round(time.Microsecond))
	if len(prog) > 0 {
		tb.Logf("  when the first connection finished, the connections had received: min %d, median %d of %d echoes; echoes/sent: min %.2f, median %.2f",
			prog[0], prog[len(prog)/2], r.msgs, share[0], share[len(share)/2])
	}
}

// RFC 6455 §5.6 with pipelining clients: 50 connections each write 1,000
// small messages back-to-back; every connection gets all of its echoes,
// in order. Latency and progress are logged.
func TestPipelining_Fairness_RFC6455_5_6(t *testing.T) {
	wstest.CheckGoroutines(t)
	conns, msgs := 50, 1000
	if testing.Short() {
		conns, msgs = 20, 200
	}
	addr := serveLocal(t, &Server{Handler: HandlerFunc(echo)})
	r := runPipelining(t, addr, conns, msgs, 32)
	r.log(t)
}

// BenchmarkPipelining runs the scenario of TestPipelining_Fairness once per
// iteration and reports echo latency percentiles: "in-process" with the
// clients in the test process, "client-process" with the clients in a
// separate process (testdata/pipeclient), so that they do not share the
// server's Go scheduler. Use -benchtime Nx.
func BenchmarkPipelining(b *testing.B) {
	const conns, msgs, size = 50, 1000, 32
	b.Run("in-process", func(b *testing.B) {
		addr := serveLocal(b, &Server{Handler: HandlerFunc(echo)})
		var all []time.Duration
		var n int
		for b.Loop() {
			r := runPipelining(b, addr, conns, msgs, size)
			r.log(b)
			all = append(all, r.latencies...)
			n += r.conns * r.msgs
		}
		slices.Sort(all)
		b.ReportMetric(float64(percentile(all, 0.50).Microseconds()), "p50-µs")
		b.ReportMetric(float64(percentile(all, 0.99).Microseconds()), "p99-µs")
		b.ReportMetric(float64(percentile(all, 1).Microseconds()), "max-µs")
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "echoes/s")
	})
	b.Run("client-process", func(b *testing.B) {
		goTool, err := exec.LookPath("go")
		if err != nil {
			b.Skip("no go command to build the client:", err)
		}
		client := filepath.Join(b.TempDir(), "pipeclient")
		if out, err := exec.Command(goTool, "build", "-o", client, "./testdata/pipeclient").CombinedOutput(); err != nil {
			b.Fatalf("building the client: %v\n%s", err, out)
		}
		// The server notes how many messages it has echoed on each
		// connection, and takes a snapshot when a connection is done.
		var mu sync.Mutex
		var served []*int
		var snapshot []int
		h := HandlerFunc(func(c *frame.Conn, _ *handshake.Result) {
			n := new(int)
			mu.Lock()
			served = append(served, n)
			mu.Unlock()
			for {
				op, p, err := c.ReadMessage(nil)
				if err != nil || c.WriteMessage(op, p) != nil {
					return
				}
				mu.Lock()
				if *n++; *n == msgs && snapshot == nil {
					for _, k := range served {
						snapshot = append(snapshot, *k)
					}
				}
				mu.Unlock()
			}
		})
		addr := serveLocal(b, &Server{Handler: h})
		var p50, p99, pmax, rate, minShare, serverMin []float64
		for b.Loop() {
			mu.Lock()
			served, snapshot = nil, nil
			mu.Unlock()
			out, err := exec.Command(client, "-addr", addr, "-conns", strconv.Itoa(conns),
				"-msgs", strconv.Itoa(msgs), "-size", strconv.Itoa(size)).Output()
			if err != nil {
				b.Fatalf("client: %v: %s", err, out)
			}
			var r struct {
				rate                            float64
				p50, p90, p99, max, first, last int64
				minShare, medianShare           float64
			}
			if _, err := fmt.Sscanf(string(out), "ok %g %d %d %d %d %d %d %g %g", &r.rate, &r.p50, &r.p90, &r.p99,
				&r.max, &r.first, &r.last, &r.minShare, &r.medianShare); err != nil {
				b.Fatalf("client output %q: %v", out, err)
			}
			b.Logf("client process: %d×%d: %.0f echoes/s; latency p50 %dµs p90 %dµs p99 %dµs max %dµs; connections done from %dµs to %dµs; echoed/sent when the first was done: min %.2f median %.2f",
				conns, msgs, r.rate, r.p50, r.p90, r.p99, r.max, r.first, r.last, r.minShare, r.medianShare)
			mu.Lock()
			slices.Sort(snapshot)
			b.Logf("  server side: echoes done per connection when the first connection had all %d: min %d, median %d",
				msgs, snapshot[0], snapshot[len(snapshot)/2])
			serverMin = append(serverMin, float64(snapshot[0])/msgs)
			mu.Unlock()
			p50, p99, pmax = append(p50, float64(r.p50)), append(p99, float64(r.p99)), append(pmax, float64(r.max))
			rate, minShare = append(rate, r.rate), append(minShare, r.minShare)
		}
		median := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
		b.ReportMetric(median(p50), "p50-µs")
		b.ReportMetric(median(p99), "p99-µs")
		b.ReportMetric(median(pmax), "max-µs")
		b.ReportMetric(median(rate), "echoes/s")
		b.ReportMetric(median(minShare), "min-progress")
		b.ReportMetric(median(serverMin), "server-min-progress")
	})
}
