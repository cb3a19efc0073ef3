//go:build linux

package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/testdata/bench/internal/proc"
)

// The handshake rate (issue 12 §4): how many whole connection lifetimes a
// server completes per second. One cycle is
//
//  1. TCP connect, from one of CycleConfig.Sources loopback addresses;
//  2. the HTTP/1.1 opening handshake (RFC 6455 §4.1), no extension offered
//     unless CycleConfig.Deflate (then permessage-deflate, RFC 7692, no
//     context takeover, which the server must accept);
//  3. one binary message of CycleConfig.Size bytes, echoed back and compared
//     byte for byte;
//  4. the close handshake as RFC 6455 §7.1.1 and §7.1.2 describe it for a
//     client: send a close frame with 1000, read the server's close frame
//     (it must carry 1000), wait for the server to close TCP (a read of
//     EOF), then close the client's socket (frame.Conn.Close does all of
//     this). The server closes first, so the TIME_WAIT state of every
//     cycle lands on the server's side and the client's ephemeral port is
//     free again at once; no SO_LINGER 0, no reset: the clean path only.
//
// A cycle that fails at any step is counted by the step (CycleResult.Failures)
// and the run goes on; nothing is retried or dropped.

// Cycle steps, the keys of CycleResult.Failures.
const (
	StepDial    = "dial"      // TCP connect or opening handshake failed
	StepDeflate = "deflate"   // -deflate: the server declined permessage-deflate
	StepEcho    = "echo"      // the message could not be sent or its echo read
	StepMatch   = "mismatch"  // the echo differs from the message
	StepClose   = "close"     // the close handshake did not complete
	StepCode    = "code"      // the server's close frame did not carry 1000
	StepTCP     = "tcp-close" // the server did not close TCP first (the client timed out waiting)
)

// CycleConfig describes a handshake-rate run.
type CycleConfig struct {
	URL      string // ws://127.0.0.1:PORT/ of the server
	Cyclers  int    // concurrent cycling clients (default 1)
	Size     int    // payload bytes of the one echo (0: an empty message)
	Deflate  bool   // offer permessage-deflate, and require it
	Sources  int    // source addresses 127.0.0.1 .. 127.0.0.N, round robin (default 1)
	Warmup   time.Duration
	Duration time.Duration // measured window (when Cycles is 0)
	Cycles   int64         // if > 0, the window ends after this many cycles (clean or failed)
	// Rate, if > 0, paces the cyclers so that together they start about
	// Rate cycles per second (each waits for its next slot; a late one
	// does not burst to catch up): every server then does the same work
	// per second, and CPU per handshake is compared at the same operating
	// point instead of at whatever rate the closed loop reaches.
	Rate float64
	// Timeout bounds the dial and the echo of a cycle (default 10 s);
	// CloseTimeout its close handshake (frame.Config.CloseTimeout, which
	// also bounds the wait for the server's TCP close; default Timeout).
	Timeout, CloseTimeout time.Duration

	ServerPid int // process to charge CPU time to; 0 = none

	Progress      func(Progress) // Messages counts cycles here
	ProgressEvery time.Duration
}

// CycleResult is the measured window of a handshake-rate run.
type CycleResult struct {
	Cycles  int64 // cycles that completed cleanly in the window
	Elapsed time.Duration
	Rate    float64 // clean cycles per second

	// Failures counts the cycles of the window that failed, by step
	// (Step*); FailuresOutside those that failed during the warmup or
	// while the cyclers stopped. FirstFailure is one example message.
	Failures        map[string]int64
	FailuresOutside int64
	FirstFailure    string

	Latency Summary // whole cycle: connect to the client's socket closed
	Upgrade Summary // TCP connect + opening handshake
	Close   Summary // close frame sent to the server's TCP close seen

	CPU proc.CPU // server CPU time in the window (zero without ServerPid)
	// CPUPerCycle, UserPerCycle, SysPerCycle: server ns per clean cycle
	// (the CPU of failed cycles is charged to the clean ones).
	CPUPerCycle, UserPerCycle, SysPerCycle float64
}

// Failed is the number of failed cycles in the window.
func (r CycleResult) Failed() int64 {
	var n int64
	for _, v := range r.Failures {
		n += v
	}
	return n
}

// cycleConn wraps the client's TCP connection to learn how it ended: whether
// a read saw the server's FIN (io.EOF), which is how the client knows the
// server closed TCP first.
type cycleConn struct {
	net.Conn
	eof atomic.Bool
}

func (c *cycleConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == io.EOF {
		c.eof.Store(true)
	}
	return n, err
}

// ipBindAddressNoPort is Linux's IP_BIND_ADDRESS_NO_PORT (linux/in.h): a
// bind to an address with port 0 leaves the port to connect, which picks
// it for the 4-tuple, so each source address has the whole ephemeral range
// for each destination.
const ipBindAddressNoPort = 24

// sourceDialer returns a NetDial that connects from 127.0.0.1, 127.0.0.2,
// ..., 127.0.0.n in turn (all of 127/8 is local on Linux) and wraps the
// connection in a cycleConn.
func sourceDialer(n int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	dialers := make([]*net.Dialer, max(n, 1))
	for i := range dialers {
		d := &net.Dialer{}
		if n > 1 {
			d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, byte((i+1)>>8), byte(i+1))}
			d.Control = func(_, _ string, rc syscall.RawConn) error {
				var serr error
				err := rc.Control(func(fd uintptr) {
					serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
				})
				return errors.Join(err, serr)
			}
		}
		dialers[i] = d
	}
	var next atomic.Uint64
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := dialers[next.Add(1)%uint64(len(dialers))]
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &cycleConn{Conn: nc}, nil
	}
}

// cyclerState is one cycler's clean cycles and its failures by step, in
// the window and outside it.
type cyclerState struct {
	clean   atomic.Int64 // clean cycles, all phases
	cleanIn atomic.Int64 // clean cycles started in the window
	mu      sync.Mutex
	inside  map[string]int64
	outside int64
	first   string
	_       [32]byte
}

func (s *cyclerState) fail(measuring bool, step string, err error) {
	s.mu.Lock()
	if measuring {
		s.inside[step]++
	} else {
		s.outside++
	}
	if s.first == "" {
		s.first = fmt.Sprintf("%s: %v", step, err)
	}
	s.mu.Unlock()
}

// Cycle runs cfg.Cyclers clients, each doing cycles back to back, and
// returns the measured window. It returns an error only when the run itself
// could not be done (context cancelled, server's CPU unreadable, no cycle
// started in the window); failed cycles are in the result.
func Cycle(ctx context.Context, cfg CycleConfig) (CycleResult, error) {
	var res CycleResult
	cfg.Cyclers = max(cfg.Cyclers, 1)
	cfg.Size = max(cfg.Size, 0)
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = cfg.Timeout
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 500 * time.Millisecond
	}
	payload, err := makePayload("random", cfg.Size)
	if err != nil {
		return res, err
	}
	d := &handshake.Dialer{
		HandshakeTimeout: cfg.Timeout,
		NetDial:          sourceDialer(cfg.Sources),
		FrameConfig:      frame.Config{CloseTimeout: cfg.CloseTimeout},
	}
	if cfg.Deflate {
		d.Compression = &handshake.DeflateOffer{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
		d.FrameConfig.CompressMinSize = -1
	}

	var (
		phase                   atomic.Int32
		hist, upHist, closeHist Histogram
		states                  = make([]cyclerState, cfg.Cyclers)
		wg                      sync.WaitGroup
		started                 atomic.Int64 // cycles begun in the window
	)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i := range states {
		st := &states[i]
		st.inside = map[string]int64{}
		var interval time.Duration
		if cfg.Rate > 0 {
			interval = time.Duration(float64(cfg.Cyclers) / cfg.Rate * float64(time.Second))
		}
		pace := newPacer(interval, interval*time.Duration(i)/time.Duration(cfg.Cyclers))
		wg.Go(func() {
			var buf []byte
			for {
				pace.wait()
				ph := phase.Load()
				if ph == phaseStop {
					return
				}
				measuring := ph == phaseMeasure
				if measuring {
					if cfg.Cycles > 0 && started.Add(1) > cfg.Cycles {
						return
					}
				}
				up, cl, total, step, err := cycleOnce(runCtx, d, cfg, payload, &buf)
				if runCtx.Err() != nil {
					return // the run was cancelled: not the server's failure
				}
				// A failure counts in the phase its cycle started in; a clean
				// cycle in the window it ended in (the rate's count), and in
				// the latencies if it started and ended in the window.
				if err != nil {
					st.fail(measuring, step, err)
					continue
				}
				st.clean.Add(1)
				if measuring {
					st.cleanIn.Add(1)
				}
				if measuring && phase.Load() == phaseMeasure {
					hist.Record(i, total)
					upHist.Record(i, up)
					closeHist.Record(i, cl)
				}
			}
		})
	}
	clean := func() int64 {
		var n int64
		for i := range states {
			n += states[i].clean.Load()
		}
		return n
	}
	var cpuErr error
	readCPU := func() proc.CPU {
		if cfg.ServerPid == 0 {
			return proc.CPU{}
		}
		c, err := proc.ReadCPU(cfg.ServerPid)
		if err != nil && cpuErr == nil {
			cpuErr = err
		}
		return c
	}

	tick := time.NewTicker(min(cfg.ProgressEvery, 10*time.Millisecond))
	defer tick.Stop()
	start := time.Now()
	phaseStart, lastReport, lastCount := start, start, int64(0)
	var cpu0 proc.CPU
	var count0 int64
	measuring := false
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	stopped := false // every cycler returned by itself (-Cycles reached)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-done:
			stopped = true
			break loop
		case now := <-tick.C:
			n := clean()
			if !measuring && now.Sub(start) >= cfg.Warmup {
				cpu0 = readCPU()
				count0 = n
				phase.Store(phaseMeasure)
				measuring = true
				phaseStart = time.Now()
				lastReport, lastCount = phaseStart, count0
				continue
			}
			if measuring && cfg.Cycles <= 0 && now.Sub(phaseStart) >= cfg.Duration {
				break loop
			}
			if cfg.Progress != nil && now.Sub(lastReport) >= cfg.ProgressEvery {
				p := Progress{Measuring: measuring, Elapsed: now.Sub(phaseStart), Messages: n - count0}
				p.Rate = float64(n-lastCount) / now.Sub(lastReport).Seconds()
				if measuring && p.Messages > 0 && cfg.ServerPid != 0 {
					p.CPUPerMsg = float64(readCPU().Sub(cpu0).Total) / float64(p.Messages)
				}
				cfg.Progress(p)
				lastReport, lastCount = now, n
			}
		}
	}
	// End of the window. With -Cycles, it ended when the last cycle did.
	end := time.Now()
	cpu1 := readCPU()
	count1 := clean()
	phase.Store(phaseStop)
	if !stopped {
		// Cycles under way finish (each is bounded by cfg.Timeout per step);
		// they count outside the window.
		select {
		case <-done:
		case <-time.After(2*cfg.Timeout + 2*cfg.CloseTimeout + 5*time.Second):
			cancel()
			<-done
			return res, errors.New("load: cyclers did not stop within their timeouts")
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if cpuErr != nil {
		return res, cpuErr
	}
	if !measuring {
		return res, errors.New("load: stopped before the measured window")
	}
	res.Cycles = count1 - count0
	if cfg.Cycles > 0 {
		// Every cycle started in the window has ended: count them.
		res.Cycles = 0
		for i := range states {
			res.Cycles += states[i].cleanIn.Load()
		}
	}
	res.Elapsed = end.Sub(phaseStart)
	res.Rate = float64(res.Cycles) / res.Elapsed.Seconds()
	res.Latency, res.Upgrade, res.Close = hist.Summary(), upHist.Summary(), closeHist.Summary()
	res.Failures = map[string]int64{}
	for i := range states {
		st := &states[i]
		for k, v := range st.inside {
			res.Failures[k] += v
		}
		res.FailuresOutside += st.outside
		if res.FirstFailure == "" {
			res.FirstFailure = st.first
		}
	}
	res.CPU = cpu1.Sub(cpu0)
	if res.Cycles > 0 {
		res.CPUPerCycle = float64(res.CPU.Total) / float64(res.Cycles)
		res.UserPerCycle = float64(res.CPU.User) / float64(res.Cycles)
		res.SysPerCycle = float64(res.CPU.Sys) / float64(res.Cycles)
	}
	if cfg.Progress != nil {
		cfg.Progress(Progress{Measuring: true, Elapsed: res.Elapsed, Messages: res.Cycles, Rate: res.Rate, CPUPerMsg: res.CPUPerCycle})
	}
	return res, nil
}

// cycleOnce runs one cycle and returns how long the upgrade and the close
// took, the whole cycle, and on failure the step that failed.
func cycleOnce(ctx context.Context, d *handshake.Dialer, cfg CycleConfig, payload []byte, buf *[]byte) (up, cl, total time.Duration, step string, err error) {
	t0 := time.Now()
	c, resp, err := d.Dial(ctx, cfg.URL)
	if err != nil {
		return 0, 0, 0, StepDial, err
	}
	t1 := time.Now()
	up = t1.Sub(t0)
	if cfg.Deflate && resp.Deflate == nil {
		c.CloseNow()
		return up, 0, 0, StepDeflate, errors.New("the server declined permessage-deflate")
	}
	nc, ok := c.NetConn().(*cycleConn)
	if !ok {
		c.CloseNow()
		return up, 0, 0, StepDial, fmt.Errorf("load: the dialer's connection is a %T, not the cycle's", c.NetConn())
	}
	nc.SetDeadline(t1.Add(cfg.Timeout))
	if err := c.WriteMessage(frame.OpBinary, payload); err != nil {
		c.CloseNow()
		return up, 0, 0, StepEcho, fmt.Errorf("write: %w", err)
	}
	_, msg, err := c.ReadMessage(*buf)
	if err != nil {
		c.CloseNow()
		return up, 0, 0, StepEcho, fmt.Errorf("read: %w", err)
	}
	*buf = msg
	if !bytes.Equal(msg, payload) {
		c.CloseNow()
		return up, 0, 0, StepMatch, fmt.Errorf("echo of %d bytes differs (sent %d)", len(msg), len(payload))
	}
	// The close handshake has its own clock (CloseTimeout).
	nc.SetDeadline(time.Time{})
	t2 := time.Now()
	cerr := c.Close()
	t3 := time.Now()
	cl, total = t3.Sub(t2), t3.Sub(t0)
	if cerr != nil {
		return up, cl, total, StepClose, cerr
	}
	if code := frame.CloseStatus(c.Err()); code != frame.CloseNormal {
		return up, cl, total, StepCode, fmt.Errorf("server's close code %d, want 1000", code)
	}
	if !nc.eof.Load() {
		return up, cl, total, StepTCP, errors.New("the server did not close TCP within the close timeout")
	}
	return up, cl, total, "", nil
}

// FailureSteps lists the steps of m with failures, in the order of a cycle.
func FailureSteps(m map[string]int64) []string {
	order := []string{StepDial, StepDeflate, StepEcho, StepMatch, StepClose, StepCode, StepTCP}
	var out []string
	for _, s := range order {
		if m[s] > 0 {
			out = append(out, s)
		}
	}
	for s, v := range m {
		if v > 0 && !slices.Contains(order, s) {
			out = append(out, s)
		}
	}
	return out
}
