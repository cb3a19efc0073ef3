//go:build linux

// Package runner starts the echo servers of the benchmarks as child
// processes (cmd/echoserver for the Go libraries, node/echo.mjs for Node's
// ws), optionally pinned to CPUs with taskset, and talks to them over their
// stdin/stdout contract: the first stdout line is the address; "memstats"
// answers with "memstats {json}"; "quit" or EOF ends them.
package runner

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Go lists the implementations served by cmd/echoserver; "node" is served
// by node/echo.mjs.
var Go = []string{"ws6455", "ws6455-workers", "ws6455-goroutine", "gobwas", "gws", "gorilla", "coder"}

// All is every implementation, ws6455 first.
var All = append(append([]string(nil), Go...), "node")

// Floors are the plain byte-moving servers of cmd/echoserver (floor.go,
// floor_uring_linux.go):
// the same bytes as a WebSocket echo, none of the protocol's work, one per
// I/O model. What a WebSocket server spends above its model's floor is the
// price of the protocol and of its library.
var Floors = []string{"floor-goroutine", "floor-epoll", "floor-uring"}

// IsFloor reports whether impl is one of Floors.
func IsFloor(impl string) bool { return slices.Contains(Floors, impl) }

// Experiments are ws6455 variants served by cmd/echoserver for profiling
// the server layer; they are not peers and not in All.
var Experiments = []string{"ws6455-lean", "ws6455-nobuf", "ws6455-prewait", "ws6455-cork", "ws6455-uring", "ws6455-epollmem"}

// Options says how to start servers.
type Options struct {
	EchoServer string // path of the built cmd/echoserver binary
	NodeDir    string // directory holding echo.mjs and node_modules
	CPUs       string // taskset CPU list for the server ("" = not pinned)
	GOMAXPROCS int    // for Go servers; 0 leaves the runtime's default
	ExtraArgs  []string
}

// Server is a running echo server.
type Server struct {
	Impl string
	Addr string
	Pid  int

	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	mu    sync.Mutex
	done  chan struct{}
	err   error
}

// MemStats is the answer to "memstats": after a garbage collection,
// HeapInuse+StackInuse is what the server holds (Node: heapUsed+external).
type MemStats struct {
	HeapInuse, HeapAlloc, StackInuse, Sys uint64
	NumGC                                 uint32
	Goroutines                            int
	RSS                                   int64
}

// Start starts the server for impl and waits for its address.
func Start(ctx context.Context, impl string, o Options) (*Server, error) {
	var argv []string
	if o.CPUs != "" {
		argv = append(argv, "taskset", "-c", o.CPUs)
	}
	if impl == "node" {
		argv = append(argv, "node", "--expose-gc", filepath.Join(o.NodeDir, "echo.mjs"), "--memstats")
	} else {
		argv = append(argv, o.EchoServer, "-impl", impl, "-memstats")
	}
	argv = append(argv, o.ExtraArgs...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	cmd.Env = os.Environ()
	if o.GOMAXPROCS > 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("GOMAXPROCS=%d", o.GOMAXPROCS))
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("runner: start %s: %w", impl, err)
	}
	s := &Server{Impl: impl, Pid: cmd.Process.Pid, cmd: cmd, stdin: stdin, lines: make(chan string, 16), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	select {
	case line, ok := <-s.lines:
		if !ok {
			s.Stop()
			return nil, fmt.Errorf("runner: %s exited before printing its address", impl)
		}
		s.Addr = strings.TrimSpace(line)
	case <-ctx.Done():
		s.Stop()
		return nil, fmt.Errorf("runner: %s printed no address: %w", impl, ctx.Err())
	}
	// taskset execs the server in place, so the pid is the server's.
	return s, nil
}

// URL is the WebSocket URL of the server.
func (s *Server) URL() string { return "ws://" + s.Addr + "/" }

// command sends one stdin line and waits for the reply line.
func (s *Server) command(cmd string, timeout time.Duration) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := io.WriteString(s.stdin, cmd+"\n"); err != nil {
		return "", err
	}
	select {
	case line, ok := <-s.lines:
		if !ok {
			return "", errors.New("runner: server exited")
		}
		return line, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("runner: no answer to %q", cmd)
	}
}

// MemStats asks the server for its memory statistics after a GC.
func (s *Server) MemStats() (MemStats, error) {
	var m MemStats
	line, err := s.command("memstats", 30*time.Second)
	if err != nil {
		return m, err
	}
	js, ok := strings.CutPrefix(line, "memstats ")
	if !ok {
		return m, fmt.Errorf("runner: unexpected answer %q", line)
	}
	err = json.Unmarshal([]byte(js), &m)
	return m, err
}

// CPUProfile starts (file != "") or stops (file == "") a CPU profile in a Go
// server.
func (s *Server) CPUProfile(file string) error {
	cmd := "cpuprofile stop"
	if file != "" {
		cmd = "cpuprofile start " + file
	}
	line, err := s.command(cmd, 10*time.Second)
	if err == nil && line != "ok" {
		err = errors.New(line)
	}
	return err
}

// HeapProfile makes a Go server write its live heap profile to file.
func (s *Server) HeapProfile(file string) error {
	line, err := s.command("heapprofile "+file, 30*time.Second)
	if err == nil && line != "ok" {
		err = errors.New(line)
	}
	return err
}

// Stop ends the server: "quit" and EOF on stdin, then a kill after a second.
func (s *Server) Stop() {
	io.WriteString(s.stdin, "quit\n")
	s.stdin.Close()
	select {
	case <-s.done:
	case <-time.After(time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// BuildEchoServer builds cmd/echoserver into dir and returns its path. The
// module root is found from this source file.
func BuildEchoServer(dir string) (string, error) {
	root, err := ModuleDir()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "echoserver")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/echoserver")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("runner: go build ./cmd/echoserver: %w", err)
	}
	return out, nil
}

// ModuleDir returns the directory of the testdata/bench module: the
// working directory or a parent holding its go.mod, else the source tree
// this binary was built from.
func ModuleDir() (string, error) {
	isBench := func(d string) bool {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		return err == nil && strings.Contains(string(b), "module github.com/ws6455/ws6455/testdata/bench")
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if isBench(d) {
				return d, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
		if d := filepath.Join(wd, "testdata", "bench"); isBench(d) {
			return d, nil
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		if d := filepath.Join(filepath.Dir(file), "..", ".."); isBench(d) {
			return filepath.Clean(d), nil
		}
	}
	return "", errors.New("runner: cannot find the testdata/bench module; run from inside it")
}
