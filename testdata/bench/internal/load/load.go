//go:build linux

// Package load drives WebSocket echo servers: N client connections (ws6455's
// handshake.Dialer and frame.Conn, the same client for every server), each
// sending binary messages of a fixed size either one at a time (ping-pong)
// or keeping K in flight (pipelined). It measures echoes per second, round
// trip latency, per-connection fairness, and the server process's CPU time
// per echoed message, read from the kernel before and after the measured
// window.
package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
	"github.com/ws6455/ws6455/testdata/bench/internal/proc"
)

// Config describes one load run.
type Config struct {
	Size     int           // payload bytes per message
	InFlight int           // messages in flight per connection; 1 = ping-pong
	Warmup   time.Duration // load before the measured window
	Duration time.Duration // measured window (when Messages is 0)
	Messages int64         // if > 0, the window ends after this many echoes

	// Rate, if > 0, paces ping-pong connections so that together they send
	// about Rate messages per second (each waits for its echo and then for
	// its next slot): every server then does the same work per second, and
	// CPU per message is compared at the same operating point instead of
	// at whatever throughput the closed loop reaches. Pipelined runs ignore
	// it.
	Rate float64

	ServerPid int // process to charge CPU time to; 0 = none

	// Payload is what the messages hold: "random" (the default: random
	// bytes, which DEFLATE cannot shrink) or "text" (English-like log
	// lines, which compress about 3:1), for runs with permessage-deflate.
	Payload string

	// Progress, if set, is called about every ProgressEvery (default
	// 500 ms) from the controlling goroutine.
	Progress      func(Progress)
	ProgressEvery time.Duration
}

// Progress is a live snapshot of a run.
type Progress struct {
	Measuring bool
	Elapsed   time.Duration // since the start of the current phase
	Messages  int64         // echoes in the current phase
	Rate      float64       // echoes/s over the last interval
	CPUPerMsg float64       // server ns per echo in the measured window so far
}

// Result of a run: the measured window only.
type Result struct {
	Messages int64
	Elapsed  time.Duration
	Rate     float64 // echoes/s
	Latency  Summary
	CPU      proc.CPU // server CPU time in the window (zero without ServerPid)
	// CPUPerMsg, UserPerMsg, SysPerMsg: server ns per echoed message.
	CPUPerMsg, UserPerMsg, SysPerMsg float64
	// Fairness over connections of the echoes each got in the window:
	// Jain's index (1 = perfectly even, 1/N = one connection got all) and
	// the smallest and largest share.
	Jain             float64
	MinConn, MaxConn int64
	// WireBytes: bytes the clients read from their sockets in the window
	// (the server's echoes as sent: frame headers, compressed payloads).
	// WireRatio = WireBytes / (Messages * Size): about 1 without
	// compression, the server's compression ratio with it.
	WireBytes int64
	WireRatio float64
}

// DialOptions are options of DialWith.
type DialOptions struct {
	// Deflate offers permessage-deflate (RFC 7692) with no context
	// takeover in either direction; the dial fails if a server declines.
	Deflate bool
}

// Dial opens n connections to url, dialing up to 32 at a time.
func Dial(ctx context.Context, url string, n int) ([]*frame.Conn, error) {
	return DialWith(ctx, url, n, DialOptions{})
}

// DialWith is Dial with options.
func DialWith(ctx context.Context, url string, n int, o DialOptions) ([]*frame.Conn, error) {
	conns := make([]*frame.Conn, n)
	var (
		wg       sync.WaitGroup
		next     atomic.Int64
		errOnce  sync.Once
		firstErr error
	)
	d := &handshake.Dialer{HandshakeTimeout: 10 * time.Second}
	if o.Deflate {
		d.Compression = &handshake.DeflateOffer{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
		d.FrameConfig.CompressMinSize = -1
	}
	for range min(n, 32) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				c, resp, err := d.Dial(ctx, url)
				if err == nil && o.Deflate && resp.Deflate == nil {
					c.CloseNow()
					err = errors.New("the server declined permessage-deflate")
				}
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("load: dial %d: %w", i, err) })
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		CloseAll(conns)
		return nil, firstErr
	}
	return conns, nil
}

// CloseAll closes the connections with a close handshake, in parallel.
func CloseAll(conns []*frame.Conn) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	for _, c := range conns {
		if c == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			c.NetConn().SetDeadline(time.Now().Add(2 * time.Second))
			c.Close()
			<-sem
		})
	}
	wg.Wait()
}

const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

// connState is one connection's counters, padded to its own cache line.
type connState struct {
	count atomic.Int64 // echoes received, all phases
	_     [56]byte
}

// Run drives conns with cfg and returns the measured window. The
// connections stay open, with nothing in flight, when it returns without
// error.
func Run(ctx context.Context, conns []*frame.Conn, cfg Config) (Result, error) {
	var res Result
	if len(conns) == 0 {
		return res, errors.New("load: no connections")
	}
	if cfg.InFlight < 1 {
		cfg.InFlight = 1
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 500 * time.Millisecond
	}
	payload, err := makePayload(cfg.Payload, cfg.Size)
	if err != nil {
		return res, err
	}
	wire := func() int64 {
		var n uint64
		for _, c := range conns {
			n += frame.PlumbingOf(c).Activity()
		}
		return int64(n)
	}
	var wire0 int64

	var (
		phase    atomic.Int32
		hist     Histogram
		states   = make([]connState, len(conns))
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err })
		phase.Store(phaseStop)
	}
	for i, c := range conns {
		st := &states[i]
		if cfg.InFlight == 1 {
			var interval time.Duration
			if cfg.Rate > 0 {
				interval = time.Duration(float64(len(conns)) / cfg.Rate * float64(time.Second))
			}
			offset := interval * time.Duration(i) / time.Duration(len(conns))
			wg.Go(func() { pingPong(c, i, payload, interval, offset, &phase, st, &hist, fail) })
		} else {
			wg.Go(func() { pipelined(c, i, cfg.InFlight, payload, &phase, st, &hist, fail) })
		}
	}
	total := func() int64 {
		var n int64
		for i := range states {
			n += states[i].count.Load()
		}
		return n
	}
	readCPU := func() proc.CPU {
		if cfg.ServerPid == 0 {
			return proc.CPU{}
		}
		c, err := proc.ReadCPU(cfg.ServerPid)
		if err != nil {
			fail(err)
		}
		return c
	}

	tick := time.NewTicker(min(cfg.ProgressEvery, 10*time.Millisecond))
	defer tick.Stop()
	start := time.Now()
	phaseStart, lastReport, lastCount := start, start, int64(0)
	var cpu0 proc.CPU
	var count0 int64
	var perConn0 []int64
	measuring := false
	report := func(now time.Time, n int64, force bool) {
		if cfg.Progress == nil || (!force && now.Sub(lastReport) < cfg.ProgressEvery) {
			return
		}
		p := Progress{Measuring: measuring, Elapsed: now.Sub(phaseStart), Messages: n - count0}
		if dt := now.Sub(lastReport).Seconds(); dt > 0 {
			p.Rate = float64(n-lastCount) / dt
		}
		if measuring && p.Messages > 0 && cfg.ServerPid != 0 {
			p.CPUPerMsg = float64(readCPU().Sub(cpu0).Total) / float64(p.Messages)
		}
		cfg.Progress(p)
		lastReport, lastCount = now, n
	}
loop:
	for {
		select {
		case <-ctx.Done():
			fail(ctx.Err())
			break loop
		case now := <-tick.C:
			if phase.Load() == phaseStop {
				break loop
			}
			n := total()
			if !measuring && now.Sub(start) >= cfg.Warmup {
				// Start of the measured window.
				cpu0 = readCPU()
				count0 = total()
				wire0 = wire()
				perConn0 = make([]int64, len(states))
				for i := range states {
					perConn0[i] = states[i].count.Load()
				}
				phase.Store(phaseMeasure)
				measuring = true
				phaseStart = time.Now()
				lastReport, lastCount = phaseStart, count0
				continue
			}
			if measuring && ((cfg.Messages > 0 && n-count0 >= cfg.Messages) ||
				(cfg.Messages <= 0 && now.Sub(phaseStart) >= cfg.Duration)) {
				break loop
			}
			report(now, n, false)
		}
	}
	// End of the measured window: take the counters first, then stop.
	end := time.Now()
	cpu1 := readCPU()
	count1 := total()
	wire1 := wire()
	perConn := make([]int64, len(states))
	for i := range states {
		perConn[i] = states[i].count.Load()
	}
	phase.Store(phaseStop)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		for _, c := range conns {
			c.NetConn().SetDeadline(time.Now())
		}
		<-done
		fail(errors.New("load: connections did not drain within 10s"))
	}
	if firstErr != nil {
		return res, firstErr
	}
	if !measuring {
		return res, errors.New("load: stopped before the measured window")
	}
	res.Messages = count1 - count0
	res.Elapsed = end.Sub(phaseStart)
	res.Rate = float64(res.Messages) / res.Elapsed.Seconds()
	res.Latency = hist.Summary()
	res.CPU = cpu1.Sub(cpu0)
	if res.Messages > 0 {
		res.CPUPerMsg = float64(res.CPU.Total) / float64(res.Messages)
		res.UserPerMsg = float64(res.CPU.User) / float64(res.Messages)
		res.SysPerMsg = float64(res.CPU.Sys) / float64(res.Messages)
	}
	res.WireBytes = wire1 - wire0
	if res.Messages > 0 && cfg.Size > 0 {
		res.WireRatio = float64(res.WireBytes) / float64(res.Messages*int64(cfg.Size))
	}
	var sum, sumSq float64
	res.MinConn = 1<<63 - 1
	for i := range perConn {
		d := perConn[i] - perConn0[i]
		sum += float64(d)
		sumSq += float64(d) * float64(d)
		res.MinConn, res.MaxConn = min(res.MinConn, d), max(res.MaxConn, d)
	}
	if sumSq > 0 {
		res.Jain = sum * sum / (float64(len(perConn)) * sumSq)
	}
	if cfg.Progress != nil {
		cfg.Progress(Progress{Measuring: true, Elapsed: res.Elapsed, Messages: res.Messages, Rate: res.Rate, CPUPerMsg: res.CPUPerMsg})
	}
	return res, nil
}

// checkEcho verifies an echo: its length always, its bytes for the first
// few messages of each connection (the comparison costs only the client).
func checkEcho(n int64, got, want []byte) error {
	if len(got) != len(want) || (n < 3 && !bytes.Equal(got, want)) {
		return fmt.Errorf("load: echo #%d differs (%d bytes, sent %d)", n, len(got), len(want))
	}
	return nil
}

// pacer spaces a loop's turns interval apart, starting offset from now
// (interval 0: no pacing). A late loop does not burst to catch up.
type pacer struct {
	interval time.Duration
	next     time.Time
}

func newPacer(interval, offset time.Duration) *pacer {
	return &pacer{interval: interval, next: time.Now().Add(offset)}
}

// wait sleeps until the next turn.
func (p *pacer) wait() {
	if p.interval <= 0 {
		return
	}
	if d := time.Until(p.next); d > 0 {
		time.Sleep(d)
	}
	if floor := time.Now().Add(-p.interval); p.next.Before(floor) {
		p.next = floor
	}
	p.next = p.next.Add(p.interval)
}

func pingPong(c *frame.Conn, id int, payload []byte, interval, offset time.Duration, phase *atomic.Int32, st *connState, hist *Histogram, fail func(error)) {
	var buf []byte
	var n int64
	pace := newPacer(interval, offset)
	for phase.Load() != phaseStop {
		pace.wait()
		t := time.Now()
		if err := c.WriteMessage(frame.OpBinary, payload); err != nil {
			fail(fmt.Errorf("load: conn %d: write: %w", id, err))
			return
		}
		_, msg, err := c.ReadMessage(buf)
		if err != nil {
			fail(fmt.Errorf("load: conn %d: read: %w", id, err))
			return
		}
		buf = msg
		lat := time.Since(t)
		if err := checkEcho(n, msg, payload); err != nil {
			fail(err)
			return
		}
		n++
		st.count.Add(1)
		if phase.Load() == phaseMeasure {
			hist.Record(id, lat)
		}
	}
}

func pipelined(c *frame.Conn, id, k int, payload []byte, phase *atomic.Int32, st *connState, hist *Histogram, fail func(error)) {
	sem := make(chan struct{}, k)
	sent := make(chan time.Time, k)
	stopWriter := make(chan struct{})
	go func() {
		defer close(sent)
		for phase.Load() != phaseStop {
			select {
			case sem <- struct{}{}:
			case <-stopWriter:
				return
			}
			sent <- time.Now()
			if err := c.WriteMessage(frame.OpBinary, payload); err != nil {
				fail(fmt.Errorf("load: conn %d: write: %w", id, err))
				return
			}
		}
	}()
	var buf []byte
	var n int64
	for t := range sent {
		_, msg, err := c.ReadMessage(buf)
		if err != nil {
			fail(fmt.Errorf("load: conn %d: read: %w", id, err))
			close(stopWriter)
			for range sent {
			}
			return
		}
		buf = msg
		lat := time.Since(t)
		<-sem
		if err := checkEcho(n, msg, payload); err != nil {
			fail(err)
		}
		n++
		st.count.Add(1)
		if phase.Load() == phaseMeasure {
			hist.Record(id, lat)
		}
	}
}

// words make the "text" payload: log lines of a made-up service, the kind
// of message that permessage-deflate is for.
var words = strings.Fields(`the user session request response server client message
	connection timeout error retry accepted closed opened payload frame order account
	balance updated created deleted status pending complete failed queue worker cache
	hit miss latency region east west north south api v1 v2 id name email price total`)

// makePayload returns size bytes of the given kind ("" or "random", "text").
func makePayload(kind string, size int) ([]byte, error) {
	r := rand.New(rand.NewPCG(1, 2))
	switch kind {
	case "", "random":
		p := make([]byte, size)
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		return p, nil
	case "text":
		var b strings.Builder
		for b.Len() < size {
			fmt.Fprintf(&b, "%d level=info msg=%q", 1700000000+r.IntN(1000000), words[r.IntN(len(words))])
			for range 3 + r.IntN(5) {
				fmt.Fprintf(&b, " %s=%s", words[r.IntN(len(words))], words[r.IntN(len(words))])
			}
			fmt.Fprintf(&b, " n=%d\n", r.IntN(10000))
		}
		return []byte(b.String()[:size]), nil
	}
	return nil, fmt.Errorf("load: unknown payload %q (random or text)", kind)
}
