//go:build linux

// Command wsload is a WebSocket load generator for echo servers. It opens
// N connections (ws6455's client, the same for every server), sends binary
// messages of size S one at a time per connection (ping-pong) or with K in
// flight (pipelined), and reports echoes per second, round-trip latency
// p50/p99/max, per-connection fairness and — given the server's pid — the
// SERVER's CPU time per echoed message, read from the kernel before and after
// the measured window. A progress line is kept on stderr.
//
// Usage:
//
//	wsload -url ws://127.0.0.1:9001/ -pid 1234 [-conns 50] [-size 1KiB] [-inflight 1] [-duration 3s]
//	wsload -impl gobwas [-server-cpus 0] ...   (starts cmd/echoserver itself)
//	wsload -impl ws6455 -mode handshake [-conns 64] [-held 10000] [-size 16]
//
// -mode handshake measures the handshake rate instead (issue 12 §4): each
// of -conns clients does cycles back to back (TCP connect, HTTP/1.1
// upgrade, one echo of -size bytes, the close handshake with the server
// closing TCP first), while -held other connections sit idle on the server;
// it reports clean cycles per second, the server's CPU per handshake, cycle
// latency, and every failed cycle by the step that failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/ws6455/ws6455/testdata/bench/internal/load"
	"github.com/ws6455/ws6455/testdata/bench/internal/runner"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "wsload:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("wsload", flag.ContinueOnError)
	fl.SetOutput(stderr)
	url := fl.String("url", "", "WebSocket `URL` of a running echo server")
	pid := fl.Int("pid", 0, "`pid` of the server process, to measure its CPU time (0: not measured)")
	impl := fl.String("impl", "", "start this echo server instead of -url: "+strings.Join(runner.All, ", "))
	echoBin := fl.String("echoserver", "", "built cmd/echoserver `binary` for -impl (default: go build it)")
	serverCPUs := fl.String("server-cpus", "", "with -impl: taskset CPU `list` for the server, e.g. 0")
	conns := fl.Int("conns", 50, "number of connections")
	sizeStr := fl.String("size", "1KiB", "message `size`: 16, 128B, 1KiB, 64k, 1MiB")
	inflight := fl.Int("inflight", 1, "messages in flight per connection: 1 = ping-pong, K > 1 = pipelined")
	mode := fl.String("mode", "", "pingpong (same as -inflight 1), pipelined (-inflight 16 unless set), or handshake (-conns clients cycling: connect, upgrade, one echo, close)")
	held := fl.Int("held", 0, "-mode handshake: idle connections held open on the server during the cycles")
	sources := fl.Int("sources", 16, "-mode handshake: connect from 127.0.0.1 .. 127.0.0.N in turn")
	warmup := fl.Duration("warmup", 500*time.Millisecond, "load before the measured window")
	duration := fl.Duration("duration", 3*time.Second, "measured window")
	count := fl.Int64("n", 0, "end the window after this many echoes instead of -duration")
	rate := fl.Float64("rate", 0, "pace ping-pong connections to this many `msgs/s` in total, or -mode handshake to this many cycles/s (0: as fast as echoes return)")
	quiet := fl.Bool("q", false, "no progress line")
	deflate := fl.Bool("deflate", false, "offer permessage-deflate (no context takeover), and start -impl with -deflate")
	payload := fl.String("payload", "random", "message contents: random or text (compressible log lines)")
	fl.Usage = func() {
		o := fl.Output()
		fmt.Fprintf(o, "wsload: WebSocket echo load generator; reports msgs/s, latency and server CPU ns per message\n\n")
		fmt.Fprintf(o, "Usage: wsload -url ws://HOST:PORT/ -pid PID [flags]\n       wsload -impl NAME [flags]\n\nFlags:\n")
		fl.PrintDefaults()
		fmt.Fprintf(o, "\nExamples:\n  wsload -impl ws6455 -server-cpus 0 -size 16 -conns 50\n  wsload -url ws://127.0.0.1:9001/ -pid $(pgrep -n echoserver) -mode pipelined -conns 100 -inflight 16\n  wsload -impl ws6455 -server-cpus 0 -mode handshake -conns 64 -held 10000\n")
	}
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see wsload -h)", fl.Arg(0))
	}
	size, err := load.ParseSize(*sizeStr)
	if err != nil {
		return fmt.Errorf("-size: %w", err)
	}
	switch *mode {
	case "", "pingpong", "ping-pong":
		if *mode != "" {
			*inflight = 1
		}
	case "pipelined":
		if *inflight <= 1 {
			*inflight = 16
		}
	case "handshake":
		if !flagSet(fl, "size") {
			size = 16
		}
	default:
		return fmt.Errorf("-mode: want pingpong, pipelined or handshake, not %q", *mode)
	}
	if (*url == "") == (*impl == "") {
		return errors.New("give exactly one of -url and -impl (see wsload -h)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	if *impl != "" {
		bin := *echoBin
		if bin == "" && *impl != "node" {
			dir, err := os.MkdirTemp("", "wsload")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			if bin, err = runner.BuildEchoServer(dir); err != nil {
				return err
			}
		}
		root, _ := runner.ModuleDir()
		ro := runner.Options{EchoServer: bin, NodeDir: filepath.Join(root, "node"), CPUs: *serverCPUs}
		if *deflate {
			ro.ExtraArgs = []string{"-deflate"}
		}
		srv, err := runner.Start(ctx, *impl, ro)
		if err != nil {
			return err
		}
		defer srv.Stop()
		*url, *pid = srv.URL(), srv.Pid
		fmt.Fprintf(stderr, "wsload: started %s (pid %d) at %s\n", *impl, srv.Pid, srv.Addr)
	}

	prog := newProgressLine(stderr, *quiet)
	if *mode == "handshake" {
		return runHandshakes(ctx, stdout, prog, *url, *pid, *held, load.CycleConfig{
			URL: *url, Cyclers: *conns, Size: size, Deflate: *deflate, Sources: *sources,
			Warmup: *warmup, Duration: *duration, Cycles: *count, ServerPid: *pid, Rate: *rate,
		})
	}
	prog.printf("dialing %d connections to %s", *conns, *url)
	cs, err := load.DialWith(ctx, *url, *conns, load.DialOptions{Deflate: *deflate})
	if err != nil {
		prog.done()
		return err
	}
	defer load.CloseAll(cs)
	modeName := "ping-pong"
	if *inflight > 1 {
		modeName = fmt.Sprintf("pipelined x%d", *inflight)
	}
	res, err := load.Run(ctx, cs, load.Config{
		Size: size, InFlight: *inflight, Warmup: *warmup, Duration: *duration, Messages: *count, Rate: *rate,
		ServerPid: *pid, Payload: *payload,
		Progress: func(p load.Progress) {
			ph := "warmup "
			if p.Measuring {
				ph = "measure"
			}
			cpu := ""
			if p.CPUPerMsg > 0 {
				cpu = fmt.Sprintf("  server %.0f ns/msg", p.CPUPerMsg)
			}
			prog.printf("%s %5.1fs  %9d msgs  %9.0f msg/s%s", ph, p.Elapsed.Seconds(), p.Messages, p.Rate, cpu)
		},
	})
	prog.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "url=%s conns=%d size=%s mode=%s window=%.2fs\n", *url, *conns, load.FormatSize(size), modeName, res.Elapsed.Seconds())
	fmt.Fprintf(stdout, "messages     %d\n", res.Messages)
	fmt.Fprintf(stdout, "rate         %.0f msg/s\n", res.Rate)
	fmt.Fprintf(stdout, "latency      p50 %v  p99 %v  max %v\n", res.Latency.P50, res.Latency.P99, res.Latency.Max)
	fmt.Fprintf(stdout, "fairness     jain %.3f  min/max per conn %d/%d\n", res.Jain, res.MinConn, res.MaxConn)
	fmt.Fprintf(stdout, "wire         %.3f bytes read per payload byte (%s payload, deflate %v)\n", res.WireRatio, *payload, *deflate)
	if *pid != 0 {
		fmt.Fprintf(stdout, "server cpu   %.0f ns/msg  (user %.0f, sys %.0f; %.1f%% of one core)\n",
			res.CPUPerMsg, res.UserPerMsg, res.SysPerMsg, 100*res.CPU.Total.Seconds()/res.Elapsed.Seconds())
	}
	return nil
}

// runHandshakes is -mode handshake.
func runHandshakes(ctx context.Context, stdout io.Writer, prog *progressLine, url string, pid, held int, cfg load.CycleConfig) error {
	if held > 0 {
		prog.printf("dialing %d idle connections to %s", held, url)
		cs, err := load.DialWith(ctx, url, held, load.DialOptions{Deflate: cfg.Deflate})
		if err != nil {
			prog.done()
			return err
		}
		defer load.CloseAll(cs)
	}
	cfg.Progress = func(p load.Progress) {
		ph := "warmup "
		if p.Measuring {
			ph = "measure"
		}
		cpu := ""
		if p.CPUPerMsg > 0 {
			cpu = fmt.Sprintf("  server %.1f µs/handshake", p.CPUPerMsg/1e3)
		}
		prog.printf("%s %5.1fs  %9d cycles  %8.0f handshakes/s%s", ph, p.Elapsed.Seconds(), p.Messages, p.Rate, cpu)
	}
	res, err := load.Cycle(ctx, cfg)
	prog.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "url=%s cyclers=%d held=%d size=%s deflate=%v sources=%d window=%.2fs\n", url, cfg.Cyclers, held, load.FormatSize(cfg.Size), cfg.Deflate, cfg.Sources, res.Elapsed.Seconds())
	fmt.Fprintf(stdout, "cycles       %d clean\n", res.Cycles)
	fmt.Fprintf(stdout, "rate         %.0f handshakes/s\n", res.Rate)
	fmt.Fprintf(stdout, "latency      cycle p50 %v  p99 %v  max %v\n", res.Latency.P50, res.Latency.P99, res.Latency.Max)
	fmt.Fprintf(stdout, "             upgrade p50 %v  p99 %v; close p50 %v  p99 %v\n", res.Upgrade.P50, res.Upgrade.P99, res.Close.P50, res.Close.P99)
	fmt.Fprintf(stdout, "failed       %d in the window, %d outside", res.Failed(), res.FailuresOutside)
	for _, s := range load.FailureSteps(res.Failures) {
		fmt.Fprintf(stdout, "; %s %d", s, res.Failures[s])
	}
	fmt.Fprintln(stdout)
	if res.FirstFailure != "" {
		fmt.Fprintf(stdout, "first failure %s\n", res.FirstFailure)
	}
	if pid != 0 {
		fmt.Fprintf(stdout, "server cpu   %.1f µs/handshake  (user %.1f, sys %.1f; %.1f%% of one core)\n",
			res.CPUPerCycle/1e3, res.UserPerCycle/1e3, res.SysPerCycle/1e3, 100*res.CPU.Total.Seconds()/res.Elapsed.Seconds())
	}
	return nil
}

// flagSet reports whether the flag was given on the command line.
func flagSet(fl *flag.FlagSet, name string) bool {
	set := false
	fl.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// progressLine keeps one status line on stderr: rewritten in place on a
// terminal, a line per second otherwise.
type progressLine struct {
	w     io.Writer
	tty   bool
	off   bool
	last  time.Time
	width int
}

func newProgressLine(w io.Writer, off bool) *progressLine {
	p := &progressLine{w: w, off: off}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progressLine) printf(format string, args ...any) {
	if p.off {
		return
	}
	s := fmt.Sprintf(format, args...)
	if p.tty {
		pad := max(p.width-len(s), 0)
		fmt.Fprintf(p.w, "\r%s%s", s, strings.Repeat(" ", pad))
		p.width = len(s)
		return
	}
	if time.Since(p.last) >= time.Second {
		fmt.Fprintln(p.w, s)
		p.last = time.Now()
	}
}

func (p *progressLine) done() {
	if p.tty && !p.off && p.width > 0 {
		fmt.Fprint(p.w, "\r"+strings.Repeat(" ", p.width)+"\r")
		p.width = 0
	}
}
