//go:build linux

package server

// Idle memory per connection. The requirement: "measure it at 10,000
// idle connections and report bytes per connection", target at most 4 KB
// per idle connection after traffic.
//
//	WS6455_IDLEMEM=1 go test -run TestIdleMemory -v ./server            # 10,000 connections
//	WS6455_IDLEMEM=20000 go test -run TestIdleMemory -v ./server        # any number
//	WS6455_IDLEMEM_HANDLER=reuse ...   # echo handler that keeps its read buffer (wsecho -mode goroutines)
//	WS6455_IDLEMEM_HANDLER=events ...  # event mode, Server.Events (cmd/wsecho's default)
//	WS6455_IDLEMEM_PROFILE=1 ...       # also a heap profile by allocation site (MemProfileRate=1)
//	WS6455_IDLEMEM_MSGS=0 ...          # messages echoed per connection before it idles (default 4)
//	WS6455_IDLEMEM_HTTP=1 ...          # each connection sends a plain GET first (the HTTP fallback), then upgrades on it
//	WS6455_IDLEMEM_SLOW=1 ...          # each connection ends with a frame header and 1 byte of 64 KiB: slow senders
//	WS6455_IDLEMEM_DEFLATE=1 ...       # permessage-deflate as cmd/wsecho serves it (DefaultDeflateConfig()), offered as Chromium does
//	WS6455_IDLEMEM_DEFLATE=full ...    # permessage-deflate with context takeover both ways (CompressionFull, 32 KiB windows)
//	WS6455_IDLEMEM_DEFLATE=full:B ...  # CompressionFull with B window bits asked of both compressors
//
// Without WS6455_IDLEMEM the test runs with 1,000 connections and only
// logs (skipped with -short). Numbers taken under -race are inflated by the
// race detector.
//
// The server runs in this process; the clients run in a separate process
// (testdata/idleclient) so that their memory is not counted. Every
// connection echoes a few messages (so buffers were used), then all go
// idle; after several garbage collections (which also shrink idle
// goroutine stacks) the runtime's memory classes and the process RSS are
// compared with a baseline taken before the clients connected.

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/server/internal/wstest"
)

func TestIdleMemory(t *testing.T) {
	n := 1000
	if v := os.Getenv("WS6455_IDLEMEM"); v != "" {
		n = 10000
		if k, err := strconv.Atoi(v); err == nil && k > 1 {
			n = k
		}
	} else if testing.Short() {
		t.Skip("idle memory measurement skipped in -short mode")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the client:", err)
	}
	raiseNoFile(t, uint64(n)+256)

	// Build the client first, so its build does not disturb the numbers.
	client := filepath.Join(t.TempDir(), "idleclient")
	build := exec.Command(goTool, "build", "-o", client, "./testdata/idleclient")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the client: %v\n%s", err, out)
	}

	handler := HandlerFunc(echo)
	handlerName := "echo, ReadMessage(nil): no buffer kept between messages"
	if os.Getenv("WS6455_IDLEMEM_HANDLER") == "reuse" {
		handler = echoReuse
		handlerName = "echo reusing its message buffer (like cmd/wsecho)"
	}
	profile := os.Getenv("WS6455_IDLEMEM_PROFILE") != ""
	if profile {
		old := runtime.MemProfileRate
		runtime.MemProfileRate = 1
		t.Cleanup(func() { runtime.MemProfileRate = old })
	}

	s := &Server{Handler: handler}
	if os.Getenv("WS6455_IDLEMEM_HANDLER") == "events" {
		s = &Server{Events: echoEvents{}}
		handlerName = "event mode (Server.Events), echo in OnMessage"
	}
	var clientArgs []string
	if os.Getenv("WS6455_IDLEMEM_HTTP") != "" {
		s.HTTP = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "page") })
		clientArgs = append(clientArgs, "-via-http")
		handlerName += ", upgraded through the HTTP fallback's keep-alive connections"
	}
	if os.Getenv("WS6455_IDLEMEM_SLOW") != "" {
		// The connections stay in the middle of a frame during the
		// measurement: the progress rule must not cut them before it.
		s.Config.MessageTimeout = time.Hour
		clientArgs = append(clientArgs, "-slow")
		handlerName += ", each in the middle of a 64 KiB frame (slow senders)"
	}
	if v := os.Getenv("WS6455_IDLEMEM_DEFLATE"); v != "" {
		// RFC 7692: each client offers "permessage-deflate;
		// client_max_window_bits" and sends JSON-like text, so every
		// message is compressed both ways.
		cfg := handshake.DefaultDeflateConfig()
		if mode, bits, _ := strings.Cut(v, ":"); mode == "full" {
			cfg = handshake.DeflateConfig{Mode: handshake.CompressionFull}
			if b, err := strconv.Atoi(bits); err == nil {
				cfg.ServerMaxWindowBits, cfg.ClientMaxWindowBits = b, b
			}
		}
		s.Upgrader.Compression = cfg
		clientArgs = append(clientArgs, "-deflate")
		handlerName += fmt.Sprintf(", permessage-deflate %+v", cfg)
	}
	addr := serveLocal(t, s)
	// Warm up: the keepalive loop, the maps, the pools exist before the
	// baseline.
	c := wstest.Dial(t, addr, "/", frame.Config{})
	roundTrip(t, c, "warm-up")
	c.Close()
	for s.NumConns() != 0 {
		time.Sleep(time.Millisecond)
	}

	base := sampleMemory()
	msgs := 4
	if v, err := strconv.Atoi(os.Getenv("WS6455_IDLEMEM_MSGS")); err == nil && v >= 0 {
		msgs = v
	}
	cmd := exec.Command(client, append([]string{"-addr", addr, "-n", strconv.Itoa(n), "-msgs", strconv.Itoa(msgs)}, clientArgs...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// One goroutine reads the client's output: the ready line, then
	// anything else until it exits.
	exited := make(chan error, 1)
	ready := make(chan string, 1)
	go func() {
		br := bufio.NewReader(stdout)
		line, _ := br.ReadString('\n')
		ready <- line
		io.Copy(io.Discard, br)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(wstest.Timeout):
			cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case line := <-ready:
		if !strings.HasPrefix(line, "ready") {
			t.Fatalf("client: %q", line)
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("client not ready after 3 minutes")
	}
	connected := time.Since(start)
	if got := s.NumConns(); got != n {
		t.Fatalf("NumConns = %d, want %d", got, n)
	}
	time.Sleep(200 * time.Millisecond) // let every handler park
	idle := sampleMemory()
	if got := s.NumConns(); got != n {
		t.Fatalf("NumConns = %d after the measurement, want %d", got, n)
	}

	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) }
	t.Logf("idle memory: %d connections, %d messages echoed on each (%v), handler: %s, race detector: %v, %s",
		n, msgs, connected.Round(time.Millisecond), handlerName, raceEnabled, runtime.Version())
	t.Logf("  %-44s %12s %12s %10s", "", "baseline", "idle", "per conn")
	row := func(name string, a, b uint64) {
		t.Logf("  %-44s %12d %12d %10.0f", name, b, a, per(a, b))
	}
	row("Go heap objects (heap/objects)", idle.heapObjects, base.heapObjects)
	row("Go heap unused in spans (heap/unused)", idle.heapUnused, base.heapUnused)
	row("goroutine stacks (heap/stacks = StackInuse)", idle.stacks, base.stacks)
	row("runtime metadata: mspan", idle.mspan, base.mspan)
	row("runtime metadata: mcache + other (GC bitmaps...)", idle.metadata-idle.mspan, base.metadata-base.mspan)
	row("runtime other (pollDescs, ...) (other)", idle.other, base.other)
	row("profiling buckets", idle.profiling, base.profiling)
	row("MemStats HeapInuse + StackInuse", idle.heapInuse+idle.stackInuse, base.heapInuse+base.stackInuse)
	row("all runtime memory in use", idle.inUse, base.inUse)
	row("heap objects (count)", idle.objects, base.objects)
	row("goroutines (count)", idle.goroutines, base.goroutines)
	row("RSS after GC (VmRSS)", idle.rssGC, base.rssGC)
	row("RSS after debug.FreeOSMemory (VmRSS)", idle.rss, base.rss)
	inUse := per(idle.inUse, base.inUse)
	verdict := "meets"
	if inUse > 4096 {
		verdict = "MISSES"
	}
	t.Logf("  => %.0f bytes of runtime memory per idle connection (%s the 4096-byte target); RSS %.0f bytes",
		inUse, verdict, per(idle.rss, base.rss))
	t.Logf("  stack per goroutine: %.0f bytes (%s)", per(idle.stacks, base.stacks)/max(per(idle.goroutines, base.goroutines), 1),
		"the minimum is 2048, but the GC halves a stack only while less than a quarter of it, counting the 800-byte nosplit reserve, is in use: under 224 bytes for 4 KiB, less than any goroutine parked in the poller uses")

	t.Logf("what one connection holds (type sizes; the heap rounds up to size classes):")
	type sized struct {
		name string
		size uintptr
	}
	for _, s := range []sized{
		{"frame.Conn", unsafe.Sizeof(*(*frame.Conn)(nil))},
		{"frame.Config (copied by NewConn)", unsafe.Sizeof(frame.Config{})},
		{"server.tracked", unsafe.Sizeof(tracked{})},
		{"handshake.Result (if the handler keeps it)", unsafe.Sizeof(handshake.Result{})},
		{"handshake.Request (if the handler keeps it)", unsafe.Sizeof(handshake.Request{})},
	} {
		t.Logf("  %-44s %5d bytes (size class %d)", s.name, s.size, sizeClass(s.size))
	}
	logParkedStack(t, n)
	if profile {
		logHeapBySite(t, n)
	}
}

// echoReuse is echo keeping its buffer across messages, as cmd/wsecho
// does: no allocation per message, but an idle connection keeps the buffer.
var echoReuse = HandlerFunc(func(c *frame.Conn, _ *handshake.Result) {
	var buf []byte
	for {
		op, p, err := c.ReadMessage(buf)
		if err != nil {
			return
		}
		buf = p
		if err := c.WriteMessage(op, p); err != nil {
			return
		}
	}
})

// memSample is the process's memory at one moment.
type memSample struct {
	heapObjects, heapUnused, stacks, metadata, other, profiling, inUse uint64
	mspan, heapInuse, stackInuse                                       uint64
	objects, goroutines                                                uint64
	rssGC, rss                                                         uint64
}

// sampleMemory collects garbage several times (each cycle can halve the
// stack of an idle goroutine) and reads the runtime's memory classes and
// the RSS, before and after returning free memory to the OS.
func sampleMemory() memSample {
	for range 6 {
		runtime.GC()
	}
	var m memSample
	m.rssGC = vmRSS()
	debug.FreeOSMemory()
	m.rss = vmRSS()
	names := []string{
		"/memory/classes/heap/objects:bytes",
		"/memory/classes/heap/unused:bytes",
		"/memory/classes/heap/stacks:bytes",
		"/memory/classes/os-stacks:bytes",
		"/memory/classes/metadata/mcache/inuse:bytes",
		"/memory/classes/metadata/mspan/inuse:bytes",
		"/memory/classes/metadata/other:bytes",
		"/memory/classes/other:bytes",
		"/memory/classes/profiling/buckets:bytes",
		"/gc/heap/objects:objects",
		"/sched/goroutines:goroutines",
	}
	samples := make([]metrics.Sample, len(names))
	for i, n := range names {
		samples[i].Name = n
	}
	metrics.Read(samples)
	v := func(i int) uint64 {
		if samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return samples[i].Value.Uint64()
	}
	m.heapObjects, m.heapUnused = v(0), v(1)
	m.stacks = v(2) + v(3)
	m.metadata = v(4) + v(5) + v(6)
	m.mspan = v(5)
	m.other, m.profiling = v(7), v(8)
	m.objects, m.goroutines = v(9), v(10)
	m.inUse = m.heapObjects + m.heapUnused + m.stacks + m.metadata + m.other + m.profiling
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.heapInuse, m.stackInuse = ms.HeapInuse, ms.StackInuse
	return m
}

// vmRSS returns the resident set size from /proc/self/status, in bytes.
func vmRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// raiseNoFile raises the soft RLIMIT_NOFILE to the hard limit and skips the
// test if that is below need.
func raiseNoFile(t testing.TB, need uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip("getrlimit:", err)
	}
	if lim.Cur < need && lim.Cur < lim.Max {
		old := lim.Cur
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Skip("setrlimit:", err)
		}
		t.Cleanup(func() {
			lim.Cur = old
			syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		})
	}
	if lim.Cur < need {
		t.Skipf("RLIMIT_NOFILE hard limit %d is below the %d needed", lim.Max, need)
	}
}

// sizeClass rounds n up to the Go allocator's size class (classes up to
// 4 KiB; larger sizes are rounded to 8 KiB pages here, roughly).
func sizeClass(n uintptr) uintptr {
	for _, c := range []uintptr{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
		288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792,
		2048, 2304, 2688, 3072, 3200, 3456, 4096} {
		if n <= c {
			return c
		}
	}
	return (n + 8191) &^ 8191
}

// logParkedStack logs the most common goroutine stack, which with n idle
// connections is where their goroutines wait.
func logParkedStack(t *testing.T, n int) {
	var buf bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&buf, 1)
	best, bestCount := "", 0
	for _, group := range strings.Split(buf.String(), "\n\n") {
		if _, rest, ok := strings.Cut(group, "\n"); ok && strings.HasPrefix(group, "goroutine profile:") {
			group = rest
		}
		var count int
		if _, err := fmt.Sscanf(group, "%d @", &count); err == nil && count > bestCount {
			best, bestCount = group, count
		}
	}
	var frames []string
	for line := range strings.Lines(best) {
		if f, ok := strings.CutPrefix(line, "#\t"); ok {
			fields := strings.Fields(f)
			if len(fields) >= 2 {
				frames = append(frames, fields[1])
			}
		}
	}
	t.Logf("where %d of the %d connection goroutines wait (innermost first):\n\t%s", bestCount, n, strings.Join(frames, "\n\t"))
}

// logHeapBySite logs the live heap per connection by allocation site (the
// innermost frame outside the runtime), from a heap profile recorded with
// MemProfileRate = 1.
func logHeapBySite(t *testing.T, n int) {
	runtime.GC()
	runtime.GC()
	var recs []runtime.MemProfileRecord
	for {
		k, ok := runtime.MemProfile(recs, false)
		if ok {
			recs = recs[:k]
			break
		}
		recs = make([]runtime.MemProfileRecord, k+100)
	}
	type site struct {
		name          string
		bytes, allocs int64
	}
	bySite := map[string]*site{}
	for _, r := range recs {
		if r.InUseBytes() == 0 {
			continue
		}
		frames := runtime.CallersFrames(r.Stack())
		name, caller, rt := "?", "", []string(nil)
		for {
			f, more := frames.Next()
			if strings.HasPrefix(f.Function, "runtime.") && len(rt) < 3 {
				rt = append(rt, f.Function)
			}
			if !strings.HasPrefix(f.Function, "runtime.") {
				if name == "?" {
					name = f.Function
				} else {
					caller = f.Function
					break
				}
			}
			if !more {
				break
			}
		}
		if name == "?" {
			name = "runtime only: " + strings.Join(rt, " <- ")
		}
		key := name + " <- " + caller
		if bySite[key] == nil {
			bySite[key] = &site{name: key}
		}
		bySite[key].bytes += r.InUseBytes()
		bySite[key].allocs += r.InUseObjects()
	}
	sites := make([]*site, 0, len(bySite))
	for _, s := range bySite {
		sites = append(sites, s)
	}
	slices.SortFunc(sites, func(a, b *site) int { return cmp.Compare(b.bytes, a.bytes) })
	t.Logf("live heap by allocation site (MemProfileRate=1), sites with at least n/2 objects:")
	for _, s := range sites {
		if s.allocs < int64(n/2) {
			continue
		}
		t.Logf("  %7.1f B/conn %6.2f obj/conn  %s", float64(s.bytes)/float64(n), float64(s.allocs)/float64(n), s.name)
	}
}

// echoEvents echoes in event mode.
type echoEvents struct{}

func (echoEvents) OnOpen(*frame.Conn, *handshake.Result) {}
func (echoEvents) OnMessage(c *frame.Conn, op frame.Opcode, msg []byte) {
	c.WriteMessage(op, msg)
}
func (echoEvents) OnClose(*frame.Conn, error) {}
