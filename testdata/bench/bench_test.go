//go:build linux

// Package bench holds the side-by-side benchmarks of ws6455's echo server
// and its peers. Each implementation runs as its own process (cmd/echoserver
// or node/echo.mjs) so that its CPU time can be read from the kernel; the
// load is ws6455's client in this process.
//
//	cd testdata/bench
//	taskset -c 1 go test -run XXX -bench . -benchtime 20000x -count 3 -server-cpus 0
//
// Each benchmark reports srv-ns/msg, the server's CPU time per echoed
// message, next to msgs/s and the latency p99. -count N repeats the whole
// set, so the implementations alternate (A B C ... A B C ...) and the
// noise of a shared machine spreads over all of them. cmd/compare does the
// same with rounds and prints the ratios to ws6455.
package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/testdata/bench/internal/load"
	"github.com/ws6455/ws6455/testdata/bench/internal/runner"
)

var (
	flagImpls      = flag.String("impls", strings.Join(runner.All, ","), "implementations to benchmark")
	flagSizes      = flag.String("sizes", "16,128,1KiB,16KiB,64KiB", "message sizes")
	flagConns      = flag.Int("conns", 50, "connections per benchmark")
	flagInFlight   = flag.Int("inflight", 1, "messages in flight per connection (1 = ping-pong)")
	flagServerCPUs = flag.String("server-cpus", "", "taskset CPU list for the servers, e.g. 0")
)

var (
	echoBin string
	mu      sync.Mutex
	servers = map[string]*liveServer{}
)

type liveServer struct {
	srv   *runner.Server
	conns []*frame.Conn
}

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "bench")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	echoBin, err = runner.BuildEchoServer(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	for _, s := range servers {
		load.CloseAll(s.conns)
		s.srv.Stop()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func nodeDir(tb testing.TB) string {
	root, err := runner.ModuleDir()
	if err != nil {
		tb.Fatal(err)
	}
	d := filepath.Join(root, "node")
	if _, err := exec.LookPath("node"); err != nil {
		tb.Skip("node not installed")
	}
	if _, err := os.Stat(filepath.Join(d, "node_modules", "ws")); err != nil {
		tb.Skip("node/node_modules missing: run npm ci in testdata/bench/node")
	}
	return d
}

func start(tb testing.TB, impl string, extra ...string) *runner.Server {
	o := runner.Options{EchoServer: echoBin, CPUs: *flagServerCPUs, ExtraArgs: extra}
	if impl == "node" {
		o.NodeDir = nodeDir(tb)
	}
	srv, err := runner.Start(context.Background(), impl, o)
	if err != nil {
		tb.Fatal(err)
	}
	return srv
}

// TestEchoServers checks that every echo server, and every floor server,
// echoes empty, small and large messages byte for byte.
func TestEchoServers(t *testing.T) {
	for _, impl := range append(runner.All, runner.Floors...) {
		t.Run(impl, func(t *testing.T) {
			srv := start(t, impl)
			defer srv.Stop()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cs, err := load.Dial(ctx, srv.URL(), 2)
			if err != nil {
				t.Fatal(err)
			}
			defer load.CloseAll(cs)
			for _, size := range []int{0, 16, 125, 126, 65535, 65536, 300000} {
				if _, err := load.Run(ctx, cs, load.Config{Size: size, Messages: 20}); err != nil {
					t.Fatalf("size %d: %v", size, err)
				}
			}
			if _, err := srv.MemStats(); err != nil {
				t.Fatalf("memstats: %v", err)
			}
		})
	}
}

// TestEchoServersDeflate checks every server that the -deflate comparison
// runs: it accepts permessage-deflate, echoes byte for byte, and really
// compresses (text comes back in well under its size on the wire, random
// bytes in about their size).
func TestEchoServersDeflate(t *testing.T) {
	for _, impl := range runner.All {
		if impl == "gobwas" {
			continue // no -deflate in cmd/echoserver
		}
		t.Run(impl, func(t *testing.T) {
			srv := start(t, impl, "-deflate")
			defer srv.Stop()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cs, err := load.DialWith(ctx, srv.URL(), 2, load.DialOptions{Deflate: true})
			if err != nil {
				t.Fatal(err)
			}
			defer load.CloseAll(cs)
			for _, size := range []int{1, 125, 4096, 65536, 300000} {
				for _, payload := range []string{"text", "random"} {
					res, err := load.Run(ctx, cs, load.Config{Size: size, Messages: 20, Payload: payload})
					if err != nil {
						t.Fatalf("size %d %s: %v", size, payload, err)
					}
					if size >= 4096 && payload == "text" && res.WireRatio > 0.6 {
						t.Errorf("size %d text: %.2f bytes on the wire per payload byte: not compressed", size, res.WireRatio)
					}
				}
			}
		})
	}
}

// TestHandshakeCycles checks the handshake-rate mode (issue 12 §4, cmd/compare
// -hs-rounds, wsload -mode handshake) against every echo server: 300 cycles
// of connect, opening handshake (RFC 6455 §4.1), one 16-byte echo and close
// handshake, 4 at a time from 4 source addresses, every one clean: the echo
// matched, the server's close frame carried 1000 (§7.4.1), and the server
// closed TCP first (§7.1.1). With -deflate, 100 cycles more on every server
// that compresses, each required to accept permessage-deflate.
func TestHandshakeCycles(t *testing.T) {
	for _, impl := range append(runner.All, runner.Floors...) {
		for _, deflate := range []bool{false, true} {
			if deflate && (impl == "gobwas" || runner.IsFloor(impl)) {
				continue // no -deflate in cmd/echoserver
			}
			name, n := impl, int64(300)
			var extra []string
			if deflate {
				name, n, extra = impl+"/deflate", 100, []string{"-deflate"}
			}
			t.Run(name, func(t *testing.T) {
				srv := start(t, impl, extra...)
				defer srv.Stop()
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				res, err := load.Cycle(ctx, load.CycleConfig{
					URL: srv.URL(), Cyclers: 4, Size: 16, Deflate: deflate, Sources: 4,
					Cycles: n, Timeout: 20 * time.Second, ServerPid: srv.Pid,
				})
				if err != nil {
					t.Fatal(err)
				}
				if f := res.Failed() + res.FailuresOutside; f > 0 {
					t.Fatalf("%d failed cycles %v (%d outside the window); first: %s", f, res.Failures, res.FailuresOutside, res.FirstFailure)
				}
				if res.Cycles != n {
					t.Fatalf("%d clean cycles in the window, want %d", res.Cycles, n)
				}
				if res.Latency.Count != uint64(n) || res.CPUPerCycle <= 0 {
					t.Fatalf("%d latencies for %d cycles, server CPU %.0f ns per cycle", res.Latency.Count, n, res.CPUPerCycle)
				}
			})
		}
	}
}

// server returns the running server of impl with its connections, started
// on first use and kept for the rest of the run.
func server(b *testing.B, impl string) *liveServer {
	mu.Lock()
	defer mu.Unlock()
	if s := servers[impl]; s != nil {
		return s
	}
	srv := start(b, impl)
	cs, err := load.Dial(context.Background(), srv.URL(), *flagConns)
	if err != nil {
		srv.Stop()
		b.Fatal(err)
	}
	s := &liveServer{srv: srv, conns: cs}
	servers[impl] = s
	return s
}

// BenchmarkEcho: one op is one echoed message (all connections together).
func BenchmarkEcho(b *testing.B) {
	for sz := range strings.SplitSeq(*flagSizes, ",") {
		size, err := load.ParseSize(sz)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("size="+load.FormatSize(size), func(b *testing.B) {
			for impl := range strings.SplitSeq(*flagImpls, ",") {
				b.Run("impl="+impl, func(b *testing.B) {
					s := server(b, impl)
					b.ResetTimer()
					res, err := load.Run(context.Background(), s.conns, load.Config{
						Size: size, InFlight: *flagInFlight, Messages: int64(b.N), ServerPid: s.srv.Pid,
					})
					b.StopTimer()
					if err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(res.CPUPerMsg, "srv-ns/msg")
					b.ReportMetric(res.Rate, "msgs/s")
					b.ReportMetric(float64(res.Latency.P99.Microseconds()), "p99-µs")
				})
			}
		})
	}
}
