// Command echoserver runs one WebSocket echo server, chosen by -impl, so
// that ws6455 and its peers can be measured under the same load in the
// same run. Each is that library's fastest idiomatic echo, without
// compression. It prints the listening address as its first line on stdout.
//
// Usage:
//
//	echoserver -impl ws6455|gobwas|gws|gorilla|coder [-addr 127.0.0.1:0] [-memstats] [-cpuprofile file]
//
// With -memstats it answers the line "memstats" on stdin, and SIGUSR1, with
// one line on stdout: "memstats {json}" holding runtime memory statistics
// taken after a garbage collection (see memStats). The line "quit" on stdin,
// EOF on stdin, SIGINT and SIGTERM end the process (writing the CPU profile
// first, if any). "cpuprofile start FILE" and "cpuprofile stop" on stdin
// profile just a chosen phase; "heapprofile FILE" writes the live heap after
// a garbage collection (to see what an idle connection holds).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"syscall"
)

// deflate: the servers accept permessage-deflate, all with the same
// parameters: no context takeover in either direction (the only mode
// gorilla supports) and compression level 1 (every library's default).
var deflate bool

// noDeflate lists the impls that cannot serve with -deflate.
var noDeflate = map[string]bool{"gobwas": true, "ws6455-lean": true, "ws6455-nobuf": true, "ws6455-prewait": true, "ws6455-cork": true, "ws6455-uring": true, "ws6455-epollmem": true, "floor-goroutine": true, "floor-epoll": true, "floor-uring": true}

// impls maps -impl names to servers. Each serve function runs the accept
// loop on ln until it fails.
var impls = map[string]func(ln net.Listener) error{}

func main() {
	names := make([]string, 0, len(impls))
	for n := range impls {
		names = append(names, n)
	}
	sort.Strings(names)
	impl := flag.String("impl", "ws6455", "implementation: "+strings.Join(names, ", "))
	addr := flag.String("addr", "127.0.0.1:0", "`address` to listen on")
	memstats := flag.Bool("memstats", false, `answer "memstats" on stdin and SIGUSR1 with a "memstats {json}" line on stdout`)
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to `file`")
	flag.BoolVar(&deflate, "deflate", false, "accept permessage-deflate (RFC 7692) without context takeover, level 1, compressing every message (ws6455, ws6455-goroutine, gws, gorilla, coder)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "echoserver: one WebSocket echo server per library, for benchmarks\n\nUsage: echoserver [flags]\n\nFlags:\n")
		flag.PrintDefaults()
		fmt.Fprintf(flag.CommandLine.Output(), "\nstdin commands: memstats | heapprofile FILE | cpuprofile start FILE | cpuprofile stop | quit\n")
	}
	flag.Parse()
	serve, ok := impls[*impl]
	if !ok {
		fmt.Fprintf(os.Stderr, "echoserver: unknown -impl %q (have %s)\n", *impl, strings.Join(names, ", "))
		os.Exit(2)
	}
	if deflate && noDeflate[*impl] {
		fmt.Fprintf(os.Stderr, "echoserver: -impl %s has no -deflate here (gobwas needs wsflate wiring by hand; the others are experiments)\n", *impl)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echoserver:", err)
		os.Exit(1)
	}
	var prof profiler
	if *cpuprofile != "" {
		if err := prof.start(*cpuprofile); err != nil {
			fmt.Fprintln(os.Stderr, "echoserver:", err)
			os.Exit(1)
		}
	}
	out := &syncWriter{w: bufio.NewWriter(os.Stdout)}
	out.println(ln.Addr().String())

	exit := func(code int) {
		prof.stop()
		os.Exit(code)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGUSR1)
	go func() {
		for s := range sig {
			if s == syscall.SIGUSR1 {
				if *memstats {
					out.println("memstats " + memStats())
				}
				continue
			}
			exit(0)
		}
	}()
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 0:
			case f[0] == "quit":
				exit(0)
			case f[0] == "memstats" && *memstats:
				out.println("memstats " + memStats())
			case f[0] == "cpuprofile" && len(f) == 3 && f[1] == "start":
				if err := prof.start(f[2]); err != nil {
					out.println("error " + err.Error())
				} else {
					out.println("ok")
				}
			case f[0] == "heapprofile" && len(f) == 2:
				if err := writeHeapProfile(f[1]); err != nil {
					out.println("error " + err.Error())
				} else {
					out.println("ok")
				}
			case f[0] == "cpuprofile" && len(f) == 2 && f[1] == "stop":
				prof.stop()
				out.println("ok")
			default:
				out.println("error unknown command " + sc.Text())
			}
		}
		// The driver went away: do not linger.
		exit(0)
	}()
	if err := serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "echoserver:", err)
		exit(1)
	}
}

// memStats collects a garbage, returns freed memory to the OS and reports
// the heap and stack in use, the goroutine count and the resident set size
// as JSON. HeapInuse+StackInuse is what live connections hold.
func memStats() string {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	v := struct {
		HeapInuse, HeapAlloc, StackInuse, Sys uint64
		NumGC                                 uint32
		Goroutines                            int
		RSS                                   int64
	}{m.HeapInuse, m.HeapAlloc, m.StackInuse, m.Sys, m.NumGC, runtime.NumGoroutine(), selfRSS()}
	b, _ := json.Marshal(v)
	return string(b)
}

// selfRSS reads VmRSS from /proc/self/status, in bytes (0 if unknown).
func selfRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscan(rest, &kb)
			return kb << 10
		}
	}
	return 0
}

// writeHeapProfile writes the in-use heap after a garbage collection.
func writeHeapProfile(name string) error {
	runtime.GC()
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type syncWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (s *syncWriter) println(line string) {
	s.mu.Lock()
	s.w.WriteString(line)
	s.w.WriteByte('\n')
	s.w.Flush()
	s.mu.Unlock()
}

type profiler struct {
	mu sync.Mutex
	f  *os.File
}

func (p *profiler) start(name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f != nil {
		return fmt.Errorf("cpu profile already running")
	}
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return err
	}
	p.f = f
	return nil
}

func (p *profiler) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f != nil {
		pprof.StopCPUProfile()
		p.f.Close()
		p.f = nil
	}
}
