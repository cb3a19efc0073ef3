//go:build linux

// Command compare runs ws6455's echo server and its peers (gobwas/ws,
// lxzan/gws, gorilla/websocket, coder/websocket, Node's ws) under the same
// load in the same run, interleaved round by round (A B C D E F, A B C D E F,
// ...) so that the noise of a shared machine spreads over all of them, and
// prints ratios to ws6455:
//
//   - server CPU time per echoed message at each message size (the median
//     over rounds; ratio = peer / ws6455, so 1.25 means ws6455 uses 20% less);
//   - idle memory per connection after traffic (heap+stack after GC, and RSS);
//   - fairness under pipelining: latency p99 and Jain's index with
//     100 connections x 16 messages in flight;
//   - with -hs-rounds, handshakes per second (connect, upgrade, one echo,
//     close) and server CPU per handshake, with and without 10,000 idle
//     connections held open (handshake.go).
//
// Run it pinned: the load on one CPU, the servers (-server-cpus) on another:
//
//	cd testdata/bench && go build -o /tmp/bench/ ./cmd/... &&
//	taskset -c 1 /tmp/bench/compare -server-cpus 0 -echoserver /tmp/bench/echoserver
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ws6455/ws6455/testdata/bench/internal/load"
	"github.com/ws6455/ws6455/testdata/bench/internal/proc"
	"github.com/ws6455/ws6455/testdata/bench/internal/runner"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

type options struct {
	impls      []string
	sizes      []int
	rounds     int
	conns      int
	inflight   int
	rate       float64
	warmup     time.Duration
	duration   time.Duration
	memConns   int
	memSize    int
	memMsgs    int
	fairConns  int
	fairK      int
	fairSize   int
	fairRounds int
	profileDir string
	deflate    bool // permessage-deflate on every server and client
	hsRounds   int  // handshake-rate comparison (handshake.go)
	hsCyclers  int
	hsHeld     []int
	hsSize     int
	hsSources  int
	hsRate     float64
	implsSet   bool       // -impls was given
	hsTW       *[2]string // TIME_WAIT sockets at the start and end of the handshake rounds
	payload    string     // load.Config.Payload
	run        runner.Options
	out        io.Writer
	log        *statusLine
}

// cell is one measurement of one implementation at one size.
type cell struct {
	Impl   string
	Size   int
	Round  int
	Result load.Result
}

func run(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("compare", flag.ContinueOnError)
	fl.SetOutput(stderr)
	impls := fl.String("impls", strings.Join(append(runner.All, runner.Floors...), ","), "implementations, comma-separated; ws6455 is the reference; the floor-* servers give the \"/ floor\" columns")
	sizes := fl.String("sizes", "16,128,1KiB,16KiB,64KiB", "message sizes, comma-separated (e.g. add 1MiB)")
	rounds := fl.Int("rounds", 3, "rounds of the CPU comparison; each round runs every implementation at every size (0 skips it)")
	conns := fl.Int("conns", 50, "connections for the CPU comparison")
	inflight := fl.Int("inflight", 1, "messages in flight per connection in the CPU comparison (1 = ping-pong)")
	rate := fl.Float64("rate", 0, "pace the ping-pong CPU comparison to this many `msgs/s` in total, the same for every server (0: closed loop, as fast as echoes return)")
	warmup := fl.Duration("warmup", 300*time.Millisecond, "load before each measured window")
	duration := fl.Duration("duration", 1500*time.Millisecond, "measured window of each cell")
	memConns := fl.Int("mem-conns", 5000, "idle connections for the memory test (0 skips it)")
	memSize := fl.String("mem-size", "1KiB", "message size of the traffic before the memory test")
	memMsgs := fl.Int("mem-msgs", 4, "messages each connection echoes before going idle")
	fairConns := fl.Int("fair-conns", 100, "connections for the pipelined fairness test (0 skips it)")
	fairK := fl.Int("fair-inflight", 16, "messages in flight per connection in the fairness test")
	fairSize := fl.String("fair-size", "1KiB", "message size in the fairness test")
	fairRounds := fl.Int("fair-rounds", 2, "rounds of the fairness test")
	serverCPUs := fl.String("server-cpus", "", "taskset CPU `list` for the servers, e.g. 0 (run compare itself under taskset -c 1)")
	echoBin := fl.String("echoserver", "", "built cmd/echoserver `binary` (default: go build it into a temporary directory)")
	nodeDir := fl.String("node-dir", "", "`directory` with echo.mjs and node_modules (default: node/ in the module)")
	profileDir := fl.String("profile", "", "write a CPU profile of ws6455's server for each size (last round), and a heap profile of every Go server with its idle connections, into `dir`")
	jsonOut := fl.String("json", "", "also write every raw measurement to this JSON `file`")
	deflate := fl.Bool("deflate", false, "permessage-deflate (RFC 7692) on every server and client: no context takeover, level 1, every message compressed; gobwas is left out (default -impls: every other one)")
	hsRounds := fl.Int("hs-rounds", 0, "rounds of the handshake-rate comparison (issue 12 §4: connect, upgrade, one echo, close); 0 skips it")
	hsCyclers := fl.Int("hs-cyclers", 64, "concurrent clients doing handshake cycles back to back")
	hsHeld := fl.String("hs-held", "0,10000", "idle connections held open on the server during the handshake cycles, comma-separated: one table each")
	hsSize := fl.String("hs-size", "16", "message size of the one echo of each handshake cycle")
	hsRate := fl.Float64("hs-rate", 0, "pace the handshake cycles to this many `cycles/s` in total, the same for every server (0: closed loop)")
	hsSources := fl.Int("hs-sources", 16, "handshake cycles connect from 127.0.0.1 .. 127.0.0.N in turn (more 4-tuples for the server's TIME_WAIT)")
	payload := fl.String("payload", "random", "message contents: random (incompressible) or text (log lines, compress about 3:1)")
	fl.Usage = func() {
		o := fl.Output()
		fmt.Fprintf(o, "compare: ws6455 vs gobwas/ws, gws, gorilla, coder and Node ws echo servers, interleaved; prints ratios to ws6455\n\n")
		fmt.Fprintf(o, "Usage: taskset -c 1 compare -server-cpus 0 [flags]\n\nFlags:\n")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return err
	}
	o := options{
		rounds: *rounds, conns: *conns, inflight: *inflight, rate: *rate, warmup: *warmup, duration: *duration,
		memConns: *memConns, memMsgs: *memMsgs, fairConns: *fairConns, fairK: *fairK, fairRounds: *fairRounds,
		profileDir: *profileDir, deflate: *deflate, payload: *payload, out: stdout, log: newStatusLine(stderr),
		hsRounds: *hsRounds, hsCyclers: *hsCyclers, hsSources: *hsSources, hsRate: *hsRate, hsTW: new([2]string),
	}
	implList := *impls
	o.implsSet = flagSet(fl, "impls")
	if *deflate && !flagSet(fl, "impls") {
		implList = strings.Join(slices.DeleteFunc(strings.Split(implList, ","), func(s string) bool {
			return s == "gobwas" || runner.IsFloor(s) // no permessage-deflate there
		}), ",")
	}
	for name := range strings.SplitSeq(implList, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(runner.All, name) && !runner.IsFloor(name) && !slices.Contains(runner.Experiments, name) {
			return fmt.Errorf("-impls: unknown %q (have %s)", name, strings.Join(append(runner.All, runner.Floors...), ", "))
		}
		o.impls = append(o.impls, name)
	}
	if !slices.Contains(o.impls, "ws6455") {
		return errors.New("-impls must include ws6455, the reference of the ratios")
	}
	for s := range strings.SplitSeq(*sizes, ",") {
		n, err := load.ParseSize(s)
		if err != nil {
			return fmt.Errorf("-sizes: %w", err)
		}
		o.sizes = append(o.sizes, n)
	}
	for s := range strings.SplitSeq(*hsHeld, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 {
			return fmt.Errorf("-hs-held: bad count %q", s)
		}
		o.hsHeld = append(o.hsHeld, n)
	}
	var err error
	if o.hsSize, err = load.ParseSize(*hsSize); err != nil {
		return fmt.Errorf("-hs-size: %w", err)
	}
	if o.memSize, err = load.ParseSize(*memSize); err != nil {
		return fmt.Errorf("-mem-size: %w", err)
	}
	if o.fairSize, err = load.ParseSize(*fairSize); err != nil {
		return fmt.Errorf("-fair-size: %w", err)
	}
	root, rootErr := runner.ModuleDir()
	o.run = runner.Options{EchoServer: *echoBin, NodeDir: *nodeDir, CPUs: *serverCPUs}
	if o.deflate {
		o.run.ExtraArgs = append(o.run.ExtraArgs, "-deflate")
	}
	if o.run.NodeDir == "" && rootErr == nil {
		o.run.NodeDir = filepath.Join(root, "node")
	}
	if o.run.EchoServer == "" {
		dir, err := os.MkdirTemp("", "compare")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.log.printf("building cmd/echoserver")
		if o.run.EchoServer, err = runner.BuildEchoServer(dir); err != nil {
			return err
		}
	}
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	fmt.Fprintf(o.out, "# ws6455 vs peers: %s\n\n", time.Now().Format(time.RFC3339))
	fmt.Fprintf(o.out, "command: compare %s\n", strings.Join(args, " "))
	fmt.Fprintf(o.out, "machine: %d CPUs visible; servers pinned to %q; load process affinity %q; load average at start %s\n\n", numCPU(), *serverCPUs, selfAffinity(), loadAvg())
	defer func() { fmt.Fprintf(o.out, "load average at end: %s\n", loadAvg()) }()

	raw := map[string]any{}
	if o.rounds > 0 {
		cells, err := cpuComparison(ctx, o)
		raw["cpu"] = cells
		if err != nil {
			return err
		}
		printCPU(o, cells)
	}
	if o.fairConns > 0 {
		fair, err := fairness(ctx, o)
		raw["fairness"] = fair
		if err != nil {
			return err
		}
		printFairness(o, fair)
	}
	if o.hsRounds > 0 {
		hs, err := handshakes(ctx, o)
		raw["handshakes"] = hs
		if err != nil {
			return err
		}
		printHandshakes(o, hs)
	}
	if o.memConns > 0 {
		mem, err := memory(ctx, o)
		raw["memory"] = mem
		if err != nil {
			return err
		}
		printMemory(o, mem)
	}
	o.log.done()
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(raw, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// rotate returns s rotated left by k, so each round starts with another
// implementation.
func rotate(s []string, k int) []string {
	k %= len(s)
	return append(append([]string(nil), s[k:]...), s[:k]...)
}

func cpuComparison(ctx context.Context, o options) ([]cell, error) {
	var cells []cell
	total := o.rounds * len(o.sizes) * len(o.impls)
	for r := range o.rounds {
		for _, size := range o.sizes {
			for _, impl := range rotate(o.impls, r) {
				prefix := fmt.Sprintf("[%d/%d] round %d size %s %s", len(cells)+1, total, r+1, load.FormatSize(size), impl)
				profile := ""
				if o.profileDir != "" && impl == "ws6455" && r == o.rounds-1 {
					profile = filepath.Join(o.profileDir, fmt.Sprintf("ws6455-%s.pprof", load.FormatSize(size)))
				}
				res, err := measure(ctx, o, impl, o.conns, o.inflight, o.rate, size, profile, prefix)
				if err != nil {
					return cells, fmt.Errorf("%s size %s: %w", impl, load.FormatSize(size), err)
				}
				cells = append(cells, cell{Impl: impl, Size: size, Round: r + 1, Result: res})
			}
		}
	}
	return cells, nil
}

// measure starts a fresh server, loads it, and stops it.
func measure(ctx context.Context, o options, impl string, conns, inflight int, rate float64, size int, profile, prefix string) (load.Result, error) {
	var res load.Result
	srv, err := runner.Start(ctx, impl, o.run)
	if err != nil {
		return res, err
	}
	defer srv.Stop()
	o.log.printf("%s: dialing %d", prefix, conns)
	cs, err := load.DialWith(ctx, srv.URL(), conns, load.DialOptions{Deflate: o.deflate})
	if err != nil {
		return res, err
	}
	defer load.CloseAll(cs)
	cfg := load.Config{
		Size: size, InFlight: inflight, Rate: rate, Warmup: o.warmup, Duration: o.duration, ServerPid: srv.Pid, Payload: o.payload,
		Progress: func(p load.Progress) {
			ph := "warmup"
			if p.Measuring {
				ph = "measure"
			}
			o.log.printf("%s: %s %.1fs %.0f msg/s %.0f ns/msg", prefix, ph, p.Elapsed.Seconds(), p.Rate, p.CPUPerMsg)
		},
	}
	if profile != "" {
		// Profile the measured window only: start after the warmup.
		cfg.Warmup = 0
		if _, err := load.Run(ctx, cs, load.Config{Size: size, InFlight: inflight, Rate: rate, Warmup: 0, Duration: o.warmup, Payload: o.payload}); err != nil {
			return res, err
		}
		if err := srv.CPUProfile(profile); err != nil {
			return res, err
		}
		defer srv.CPUProfile("")
	}
	return load.Run(ctx, cs, cfg)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

type agg struct {
	cpu, user, sys, rate, p99, util, wire []float64
}

func aggregate(cells []cell) map[string]map[int]*agg {
	m := map[string]map[int]*agg{}
	for _, c := range cells {
		if m[c.Impl] == nil {
			m[c.Impl] = map[int]*agg{}
		}
		a := m[c.Impl][c.Size]
		if a == nil {
			a = &agg{}
			m[c.Impl][c.Size] = a
		}
		r := c.Result
		a.cpu = append(a.cpu, r.CPUPerMsg)
		a.user = append(a.user, r.UserPerMsg)
		a.sys = append(a.sys, r.SysPerMsg)
		a.rate = append(a.rate, r.Rate)
		a.p99 = append(a.p99, float64(r.Latency.P99))
		a.util = append(a.util, 100*r.CPU.Total.Seconds()/r.Elapsed.Seconds())
		a.wire = append(a.wire, r.WireRatio)
	}
	return m
}

// writeRatioTable writes one row per implementation and one column per
// size: its median server CPU per message over ref's (ws6455, or a floor).
func writeRatioTable(w io.Writer, o options, m map[string]map[int]*agg, ref string) {
	fmt.Fprintf(w, "| impl |")
	for _, s := range o.sizes {
		fmt.Fprintf(w, " %s |", load.FormatSize(s))
	}
	fmt.Fprintf(w, "\n|---|%s\n", strings.Repeat("---:|", len(o.sizes)))
	for _, impl := range o.impls {
		fmt.Fprintf(w, "| %s/%s |", impl, ref)
		for _, s := range o.sizes {
			fmt.Fprintf(w, " %.2f |", median(m[impl][s].cpu)/median(m[ref][s].cpu))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

func printCPU(o options, cells []cell) {
	m := aggregate(cells)
	mode := "ping-pong"
	if o.rate > 0 {
		mode = fmt.Sprintf("ping-pong paced to %.0f msg/s in total", o.rate)
	}
	if o.inflight > 1 {
		mode = fmt.Sprintf("pipelined x%d", o.inflight)
	}
	if o.deflate {
		mode += fmt.Sprintf(", permessage-deflate (no context takeover, level 1), %s payload", o.payload)
	}
	w := o.out
	fmt.Fprintf(w, "## Server CPU per echoed message (%d conns, %s, %d rounds x %v, median)\n\n", o.conns, mode, o.rounds, o.duration)
	fmt.Fprintf(w, "Ratio = peer CPU / ws6455 CPU: above 1.25 means ws6455 uses at least 20%% less.\n\n")
	writeRatioTable(w, o, m, "ws6455")
	var floors []string
	for _, f := range runner.Floors {
		if m[f] != nil {
			floors = append(floors, f)
		}
	}
	for _, f := range floors {
		fmt.Fprintf(w, "Above the %s floor (server CPU / %s CPU: 1.00 is the floor itself):\n\n", f, f)
		writeRatioTable(w, o, m, f)
	}
	for _, s := range o.sizes {
		fmt.Fprintf(w, "### %s\n\n", load.FormatSize(s))
		fmt.Fprintf(w, "| impl | server ns/msg | ratio |")
		for _, f := range floors {
			fmt.Fprintf(w, " / %s |", f)
		}
		fmt.Fprintf(w, " spread (min..max) | user ns | sys ns | msg/s | msg/s ratio | p99 | server core %% | wire/payload |\n")
		fmt.Fprintf(w, "|---|---:|---:|%s---|---:|---:|---:|---:|---:|---:|---:|\n", strings.Repeat("---:|", len(floors)))
		ref := m["ws6455"][s]
		for _, impl := range o.impls {
			a := m[impl][s]
			fmt.Fprintf(w, "| %s | %.0f | %.2f |", impl, median(a.cpu), median(a.cpu)/median(ref.cpu))
			for _, f := range floors {
				fmt.Fprintf(w, " %.2f |", median(a.cpu)/median(m[f][s].cpu))
			}
			fmt.Fprintf(w, " %.0f..%.0f | %.0f | %.0f | %.0f | %.2f | %v | %.0f | %.3f |\n",
				slices.Min(a.cpu), slices.Max(a.cpu),
				median(a.user), median(a.sys), median(a.rate), median(a.rate)/median(ref.rate),
				time.Duration(median(a.p99)).Round(time.Microsecond), median(a.util), median(a.wire))
		}
		fmt.Fprintln(w)
	}
}

type fairCell struct {
	Impl   string
	Round  int
	Result load.Result
}

func fairness(ctx context.Context, o options) ([]fairCell, error) {
	var out []fairCell
	for r := range o.fairRounds {
		for _, impl := range rotate(o.impls, r) {
			prefix := fmt.Sprintf("fairness round %d %s", r+1, impl)
			res, err := measure(ctx, o, impl, o.fairConns, o.fairK, 0, o.fairSize, "", prefix)
			if err != nil {
				return out, fmt.Errorf("fairness %s: %w", impl, err)
			}
			out = append(out, fairCell{Impl: impl, Round: r + 1, Result: res})
		}
	}
	return out, nil
}

func printFairness(o options, cells []fairCell) {
	w := o.out
	fmt.Fprintf(w, "## Pipelined fairness (%d conns x %d in flight, %s, %d rounds x %v, median)\n\n", o.fairConns, o.fairK, load.FormatSize(o.fairSize), o.fairRounds, o.duration)
	fmt.Fprintf(w, "| impl | p50 | p99 | p99 ratio | max | Jain | min/max conn share | msg/s | server ns/msg | ns ratio |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	med := func(impl string, f func(load.Result) float64) float64 {
		var v []float64
		for _, c := range cells {
			if c.Impl == impl {
				v = append(v, f(c.Result))
			}
		}
		return median(v)
	}
	p99 := func(r load.Result) float64 { return float64(r.Latency.P99) }
	cpu := func(r load.Result) float64 { return r.CPUPerMsg }
	refP99, refCPU := med("ws6455", p99), med("ws6455", cpu)
	for _, impl := range o.impls {
		fmt.Fprintf(w, "| %s | %v | %v | %.2f | %v | %.3f | %.2f | %.0f | %.0f | %.2f |\n", impl,
			time.Duration(med(impl, func(r load.Result) float64 { return float64(r.Latency.P50) })).Round(time.Microsecond),
			time.Duration(med(impl, p99)).Round(time.Microsecond), med(impl, p99)/refP99,
			time.Duration(med(impl, func(r load.Result) float64 { return float64(r.Latency.Max) })).Round(time.Microsecond),
			med(impl, func(r load.Result) float64 { return r.Jain }),
			med(impl, func(r load.Result) float64 { return float64(r.MinConn) / float64(max(r.MaxConn, 1)) }),
			med(impl, func(r load.Result) float64 { return r.Rate }),
			med(impl, cpu), med(impl, cpu)/refCPU)
	}
	fmt.Fprintln(w)
}

type memCell struct {
	Impl                   string
	Conns                  int
	Before, After1, After3 runner.MemStats
	RSSBefore, RSSIdle     int64 // /proc VmRSS before connecting, and idle before any forced GC
}

// memory measures what idle connections hold after some traffic.
func memory(ctx context.Context, o options) ([]memCell, error) {
	var out []memCell
	for _, impl := range o.impls {
		if runner.IsFloor(impl) {
			continue // a 32 KiB buffer each: a floor of CPU, not of memory
		}
		prefix := fmt.Sprintf("memory %s", impl)
		c, err := memoryOne(ctx, o, impl, prefix)
		if err != nil {
			return out, fmt.Errorf("memory %s: %w", impl, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func memoryOne(ctx context.Context, o options, impl, prefix string) (memCell, error) {
	c := memCell{Impl: impl, Conns: o.memConns}
	srv, err := runner.Start(ctx, impl, o.run)
	if err != nil {
		return c, err
	}
	defer srv.Stop()
	if c.Before, err = srv.MemStats(); err != nil {
		return c, err
	}
	c.RSSBefore = c.Before.RSS
	o.log.printf("%s: dialing %d", prefix, o.memConns)
	cs, err := load.DialWith(ctx, srv.URL(), o.memConns, load.DialOptions{Deflate: o.deflate})
	if err != nil {
		return c, err
	}
	defer load.CloseAll(cs)
	o.log.printf("%s: traffic (%d x %s per conn)", prefix, o.memMsgs, load.FormatSize(o.memSize))
	if _, err := load.Run(ctx, cs, load.Config{Size: o.memSize, InFlight: 1, Messages: int64(o.memMsgs * o.memConns), Payload: o.payload}); err != nil {
		return c, err
	}
	o.log.printf("%s: idle", prefix)
	time.Sleep(time.Second)
	if c.RSSIdle, err = proc.RSS(srv.Pid); err != nil {
		return c, err
	}
	if o.profileDir != "" && impl != "node" {
		if err := srv.HeapProfile(filepath.Join(o.profileDir, impl+"-idle-heap.pprof")); err != nil {
			return c, err
		}
	}
	if c.After1, err = srv.MemStats(); err != nil {
		return c, err
	}
	srv.MemStats()
	if c.After3, err = srv.MemStats(); err != nil {
		return c, err
	}
	return c, nil
}

func printMemory(o options, cells []memCell) {
	w := o.out
	compressed := ""
	if o.deflate {
		compressed = fmt.Sprintf(" compressed (permessage-deflate, no context takeover, level 1, %s payload)", o.payload)
	}
	fmt.Fprintf(w, "## Idle memory per connection (%d conns after %d x %s echoes each%s)\n\n", o.memConns, o.memMsgs, load.FormatSize(o.memSize), compressed)
	fmt.Fprintf(w, "heap+stack: Go runtime HeapInuse+StackInuse delta after GC (Node: heapUsed+external); RSS idle: /proc VmRSS delta before any forced GC; RSS GC'd: after GC and returning freed memory to the OS. 1 GC / 3 GCs: a GC may halve an idle goroutine's stack, but only if it uses under a quarter of it counting the runtime's 800-byte nosplit reserve, so a goroutine parked in the poller never goes from 4 KiB back to 2 KiB.\n\n")
	fmt.Fprintf(w, "| impl | heap+stack B/conn (1 GC) | heap+stack B/conn (3 GCs) | ratio to ws6455 | of which heap | of which stack | RSS idle B/conn | RSS GC'd B/conn |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|\n")
	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(o.memConns) }
	hs := func(m runner.MemStats) uint64 { return m.HeapInuse + m.StackInuse }
	var ref float64
	for _, c := range cells {
		if c.Impl == "ws6455" {
			ref = per(hs(c.After3), hs(c.Before))
		}
	}
	slices.SortStableFunc(cells, func(a, b memCell) int {
		return cmp.Compare(slices.Index(o.impls, a.Impl), slices.Index(o.impls, b.Impl))
	})
	for _, c := range cells {
		h3 := per(hs(c.After3), hs(c.Before))
		fmt.Fprintf(w, "| %s | %.0f | %.0f | %.2f | %.0f | %.0f | %.0f | %.0f |\n", c.Impl,
			per(hs(c.After1), hs(c.Before)), h3, h3/ref,
			per(c.After3.HeapInuse, c.Before.HeapInuse), per(c.After3.StackInuse, c.Before.StackInuse),
			float64(c.RSSIdle-c.RSSBefore)/float64(o.memConns), float64(c.After3.RSS-c.RSSBefore)/float64(o.memConns))
	}
	fmt.Fprintln(w)
}

// loadAvg returns the 1, 5 and 15 minute load averages: other work on a
// shared machine shows here.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func numCPU() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "processor\t:")
}

func selfAffinity() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(rest)
		}
	}
	return "?"
}

// statusLine keeps one progress line on stderr: rewritten in place on a
// terminal, at most one line every 2 s otherwise.
type statusLine struct {
	w     io.Writer
	tty   bool
	last  time.Time
	width int
}

func newStatusLine(w io.Writer) *statusLine {
	s := &statusLine{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			s.tty = true
		}
	}
	return s
}

func (s *statusLine) printf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if s.tty {
		fmt.Fprintf(s.w, "\r%s%s", line, strings.Repeat(" ", max(s.width-len(line), 0)))
		s.width = len(line)
		return
	}
	if time.Since(s.last) >= 2*time.Second {
		fmt.Fprintln(s.w, line)
		s.last = time.Now()
	}
}

func (s *statusLine) done() {
	if s.tty && s.width > 0 {
		fmt.Fprint(s.w, "\r"+strings.Repeat(" ", s.width)+"\r")
	}
}

// flagSet reports whether the flag was given on the command line.
func flagSet(fl *flag.FlagSet, name string) bool {
	set := false
	fl.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
