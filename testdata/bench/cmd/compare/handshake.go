//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ws6455/ws6455/testdata/bench/internal/load"
	"github.com/ws6455/ws6455/testdata/bench/internal/runner"
)

// The handshake-rate comparison (issue 12 §4: "Handshakes per second
// (connect, upgrade, one echo, close) at 10,000 connections, against every
// peer"): for each implementation, -hs-cyclers clients do load.Cycle's
// cycles back to back while -hs-held other connections, opened before the
// window, sit idle on the same server. Rounds interleave the
// implementations as the CPU comparison does, and each cell starts a fresh
// server.

// hsCell is one measurement of one implementation with held idle
// connections.
type hsCell struct {
	Impl   string
	Held   int
	Round  int
	Result load.CycleResult
}

// isPeer reports whether impl is another library (not ws6455 or one of its
// variants, not a floor): the "best peer" is chosen among these.
func isPeer(impl string) bool {
	return !strings.HasPrefix(impl, "ws6455") && !runner.IsFloor(impl)
}

func handshakes(ctx context.Context, o options) ([]hsCell, error) {
	var cells []hsCell
	o.hsTW[0] = timeWait()
	defer func() { o.hsTW[1] = timeWait() }()
	impls := o.impls
	if !o.implsSet {
		// A floor's handshake is ws6455's handshake package on a goroutine
		// per connection: run it only when asked for by name.
		impls = slices.DeleteFunc(slices.Clone(o.impls), runner.IsFloor)
	}
	total := o.hsRounds * len(o.hsHeld) * len(impls)
	for r := range o.hsRounds {
		for _, held := range o.hsHeld {
			for _, impl := range rotate(impls, r) {
				prefix := fmt.Sprintf("[%d/%d] handshakes round %d held %d %s", len(cells)+1, total, r+1, held, impl)
				profile := ""
				if o.profileDir != "" && impl == "ws6455" && r == o.hsRounds-1 {
					profile = filepath.Join(o.profileDir, fmt.Sprintf("ws6455-handshake-held%d.pprof", held))
				}
				res, err := handshakeCell(ctx, o, impl, held, profile, prefix)
				if err != nil {
					return cells, fmt.Errorf("handshakes %s held %d: %w", impl, held, err)
				}
				cells = append(cells, hsCell{Impl: impl, Held: held, Round: r + 1, Result: res})
			}
		}
	}
	return cells, nil
}

// handshakeCell starts a fresh server, opens held idle connections, runs
// the cyclers, and stops it all.
func handshakeCell(ctx context.Context, o options, impl string, held int, profile, prefix string) (load.CycleResult, error) {
	var res load.CycleResult
	srv, err := runner.Start(ctx, impl, o.run)
	if err != nil {
		return res, err
	}
	defer srv.Stop()
	if held > 0 {
		o.log.printf("%s: dialing %d idle connections", prefix, held)
		cs, err := load.DialWith(ctx, srv.URL(), held, load.DialOptions{Deflate: o.deflate})
		if err != nil {
			return res, fmt.Errorf("held connections: %w", err)
		}
		defer func() {
			o.log.printf("%s: closing %d idle connections", prefix, held)
			load.CloseAll(cs)
		}()
	}
	cfg := load.CycleConfig{
		URL: srv.URL(), Cyclers: o.hsCyclers, Size: o.hsSize, Deflate: o.deflate, Sources: o.hsSources,
		Warmup: o.warmup, Duration: o.duration, ServerPid: srv.Pid, Rate: o.hsRate,
		Progress: func(p load.Progress) {
			ph := "warmup"
			if p.Measuring {
				ph = "measure"
			}
			o.log.printf("%s: %s %.1fs %.0f handshakes/s %.1f µs/handshake", prefix, ph, p.Elapsed.Seconds(), p.Rate, p.CPUPerMsg/1e3)
		},
	}
	if profile != "" {
		// Profile the measured window only: warm up first.
		if _, err := load.Cycle(ctx, load.CycleConfig{URL: cfg.URL, Cyclers: cfg.Cyclers, Size: cfg.Size, Deflate: cfg.Deflate, Sources: cfg.Sources, Duration: o.warmup}); err != nil {
			return res, err
		}
		cfg.Warmup = 0
		if err := srv.CPUProfile(profile); err != nil {
			return res, err
		}
		defer srv.CPUProfile("")
	}
	return load.Cycle(ctx, cfg)
}

type hsAgg struct {
	rate, cpu, user, sys, util, p50, p99, up50, close50 []float64
	failed, outside                                     int64
	steps                                               map[string]int64
	first                                               string
}

func printHandshakes(o options, cells []hsCell) {
	w := o.out
	mode := "no compression"
	if o.deflate {
		mode = "permessage-deflate offered and accepted (no context takeover, level 1)"
	}
	if o.hsRate > 0 {
		mode += fmt.Sprintf(", paced to %.0f cycles/s in total", o.hsRate)
	}
	fmt.Fprintf(w, "## Handshakes per second (%d cyclers, %s echo, %s, %d rounds x %v, median)\n\n", o.hsCyclers, load.FormatSize(o.hsSize), mode, o.hsRounds, o.duration)
	fmt.Fprintf(w, "A cycle: TCP connect (from 127.0.0.1..%d), HTTP/1.1 upgrade, one echo, close handshake (client sends 1000, reads the server's 1000, waits for the server's TCP close, closes). Failed cycles are counted, never dropped.\n", o.hsSources)
	fmt.Fprintf(w, "TIME_WAIT sockets on the machine (/proc/net/sockstat) at the start of the handshake rounds: %s, at the end: %s; net.ipv4.tcp_max_tw_buckets = %s (beyond it the kernel skips TIME_WAIT for a closing socket: once full, every server's close pays the same). Open-file limit of compare: %s (the servers get the shell's ulimit -n; 10,000 held connections need more than 10,000 on each side).\n", o.hsTW[0], o.hsTW[1], sysctl("net/ipv4/tcp_max_tw_buckets"), nofile())
	fmt.Fprintf(w, "hs/s: clean cycles per second (capped by the one client core as much as by the server); hs/CPU-s: cycles per second of server CPU (1e6 / µs per handshake), what the server would do with its whole core. Ratios: ÷ ws6455 is impl / ws6455; ÷ best peer is impl / the best peer's (gobwas, gws, gorilla, coder, node) in that column, so ws6455's row against the target of 1.3.\n\n")
	for _, held := range o.hsHeld {
		m := map[string]*hsAgg{}
		var impls []string
		for _, c := range cells {
			if c.Held != held {
				continue
			}
			a := m[c.Impl]
			if a == nil {
				a = &hsAgg{steps: map[string]int64{}}
				m[c.Impl] = a
				impls = append(impls, c.Impl)
			}
			r := c.Result
			a.rate = append(a.rate, r.Rate)
			a.cpu = append(a.cpu, r.CPUPerCycle)
			a.user = append(a.user, r.UserPerCycle)
			a.sys = append(a.sys, r.SysPerCycle)
			a.util = append(a.util, 100*r.CPU.Total.Seconds()/r.Elapsed.Seconds())
			a.p50 = append(a.p50, float64(r.Latency.P50))
			a.p99 = append(a.p99, float64(r.Latency.P99))
			a.up50 = append(a.up50, float64(r.Upgrade.P50))
			a.close50 = append(a.close50, float64(r.Close.P50))
			a.failed += r.Failed()
			a.outside += r.FailuresOutside
			for k, v := range r.Failures {
				a.steps[k] += v
			}
			if a.first == "" {
				a.first = r.FirstFailure
			}
		}
		if len(impls) == 0 {
			continue
		}
		slices.SortStableFunc(impls, func(a, b string) int { return slices.Index(o.impls, a) - slices.Index(o.impls, b) })
		ref := m["ws6455"]
		perCPU := func(a *hsAgg) float64 {
			if c := median(a.cpu); c > 0 {
				return 1e9 / c
			}
			return 0
		}
		bestRate, bestCPU := "", ""
		for _, impl := range impls {
			if !isPeer(impl) {
				continue
			}
			if bestRate == "" || median(m[impl].rate) > median(m[bestRate].rate) {
				bestRate = impl
			}
			if bestCPU == "" || perCPU(m[impl]) > perCPU(m[bestCPU]) {
				bestCPU = impl
			}
		}
		ratio := func(a, b float64) string {
			if b == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f", a/b)
		}
		fmt.Fprintf(w, "### %d idle connections held open\n\n", held)
		if o.hsRate > 0 {
			fmt.Fprintf(w, "Best peer: %s by hs/CPU-s (paced: every server is offered the same hs/s, so compare the CPU).\n\n", orDash(bestCPU))
		} else {
			fmt.Fprintf(w, "Best peer: %s by hs/s, %s by hs/CPU-s.\n\n", orDash(bestRate), orDash(bestCPU))
		}
		fmt.Fprintf(w, "| impl | hs/s | ÷ ws6455 | ÷ best peer | spread (min..max) | server µs/hs | hs/CPU-s | ÷ ws6455 | ÷ best peer | spread µs (min..max) | user µs | sys µs | server core %% | p50 | p99 | upgrade p50 | close p50 | failed (window + outside) |\n")
		fmt.Fprintf(w, "|---|---:|---:|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
		for _, impl := range impls {
			a := m[impl]
			var bestR, bestC float64
			if bestRate != "" {
				bestR, bestC = median(m[bestRate].rate), perCPU(m[bestCPU])
			}
			failed := fmt.Sprintf("%d + %d", a.failed, a.outside)
			if len(a.steps) > 0 {
				var parts []string
				for _, s := range load.FailureSteps(a.steps) {
					parts = append(parts, fmt.Sprintf("%s %d", s, a.steps[s]))
				}
				failed += " (" + strings.Join(parts, ", ") + ")"
			}
			us := func(v []float64) string {
				return fmt.Sprintf("%.1f", median(v)/1e3)
			}
			d := func(v []float64) time.Duration { return time.Duration(median(v)).Round(time.Microsecond) }
			fmt.Fprintf(w, "| %s | %.0f | %s | %s | %.0f..%.0f | %s | %.0f | %s | %s | %.1f..%.1f | %s | %s | %.0f | %v | %v | %v | %v | %s |\n", impl,
				median(a.rate), ratio(median(a.rate), median(ref.rate)), ratio(median(a.rate), bestR),
				slices.Min(a.rate), slices.Max(a.rate),
				us(a.cpu), perCPU(a), ratio(perCPU(a), perCPU(ref)), ratio(perCPU(a), bestC),
				slices.Min(a.cpu)/1e3, slices.Max(a.cpu)/1e3,
				us(a.user), us(a.sys), median(a.util), d(a.p50), d(a.p99), d(a.up50), d(a.close50), failed)
		}
		fmt.Fprintln(w)
		for _, impl := range impls {
			if a := m[impl]; a.first != "" {
				fmt.Fprintf(w, "- %s, first failure: %s\n", impl, a.first)
			}
		}
		fmt.Fprintln(w)
	}
}

// timeWait returns the machine's count of TIME_WAIT sockets.
func timeWait() string {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return "?"
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "TCP:"); ok {
			f := strings.Fields(rest)
			for i := 0; i+1 < len(f); i += 2 {
				if f[i] == "tw" {
					return f[i+1]
				}
			}
		}
	}
	return "?"
}

func sysctl(name string) string {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// nofile returns this process's RLIMIT_NOFILE as the servers inherit it.
func nofile() string {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return "?"
	}
	return fmt.Sprintf("%d (hard %d)", rl.Cur, rl.Max)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
