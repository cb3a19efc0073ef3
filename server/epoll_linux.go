//go:build linux

package server

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ws6455/ws6455/frame"
)

// poller runs event mode's loops. Each loop waits on its own
// edge-triggered epoll set (epoll(7)) for the sockets of its idle
// connections; connections are shared out among the loops in turn, and
// there is one loop per P (GOMAXPROCS), so that loops scale with the
// cores the Go scheduler runs on.
//
// Edge-triggered (EPOLLET): the kernel reports a socket once each time new
// bytes arrive, so a socket that is being read is not reported again and
// again, and a connection can go idle after a read that did not fill its
// buffer without first reading until EAGAIN (see
// frame.Plumbing.TryReadMessage).
//
// Run to completion: a loop's goroutine reads the connections that became
// readable itself, calls OnMessage and writes the answers inline, with no
// hand-off to another goroutine. It serves each for one turn (turnBytes);
// a connection with input left at the end of its turn is carried over to
// the loop's next round, ahead of the new events, and the loop does not
// wait while one is carried. One rule keeps a connection from holding
// up the others of its loop (a callback that blocks, a write to a peer
// that does not read, a message that arrives slowly): a connection that
// keeps its loop busy for longer than loopBudget is moved off the loop.
// The poller's watchdog notices it within loopBudget more and starts a
// new goroutine that takes the loop over (and the connections the stuck
// goroutine had not reached yet); the stuck goroutine finishes that one
// connection's input, as a worker would, and ends. See watch.
//
// A loop's goroutine never blocks in epoll_wait: the epoll descriptor is
// itself pollable (it is readable while events are ready), so it is handed
// to the Go runtime's network poller like a socket, through os.NewFile and
// RawConn.Read, and the goroutine parks there. A blocking epoll_wait would
// tie up an OS thread and make every wakeup a hand-off between threads.
//
// Many cores: nothing is shared between loops on the message path (each
// has its own epoll set, lock and goroutine; the watchdog only reads each
// loop's state every loopBudget while some loop is busy), so throughput
// should scale with the loops until the kernel's network stack is the
// limit. Connections are dealt round-robin when they open and never
// rebalanced, so at 64 cores a loop that was dealt the busiest
// connections stays the busiest. Only 1 and 2 loops could be measured
// here (testdata/bench/RESULTS.md).
//
// With Server.EventLoops < 0 there is one loop, and it hands each
// readable connection to a worker goroutine instead (see dispatch): the
// design for handlers whose callbacks often block.
type poller struct {
	s        *Server
	inline   bool
	loops    []*loop
	next     atomic.Uint32 // round robin of add
	stopping atomic.Bool
	budget   time.Duration // loopBudget, unless a test changed it

	// The watchdog (inline loops only): it runs while some loop is busy,
	// and parks otherwise (watching false), so an idle server does not
	// wake up.
	watching atomic.Bool
	kick     chan struct{}
	stopWD   chan struct{}
	wdDone   chan struct{}
}

// loopBudget is how long a connection may keep its loop busy before it is
// moved off the loop. A connection that overruns it delays the others of
// its loop by less than twice the budget.
const loopBudget = 10 * time.Millisecond

// loop is one epoll set and the goroutine that serves it (run).
type loop struct {
	p    *poller
	epfd int // closed by stop, after the last run has ended

	mu     sync.Mutex
	conns  map[int32]*evConn // by file descriptor
	closed bool

	cur atomic.Pointer[run] // the goroutine serving the loop now

	// The watchdog's view of cur at its last look.
	seen    *run
	seenSeq uint64
}

// run is a goroutine that waits on its loop's epoll set through its own
// duplicate of the epoll descriptor (so a new run can take over while an
// old one is still inside a callback, in its own RawConn.Read).
type run struct {
	l      *loop
	file   *os.File
	rc     syscall.RawConn
	events []syscall.EpollEvent
	waitFn func(fd uintptr) bool
	done   chan struct{}

	// The connections of the current turn of the loop: first nCarried
	// connections whose previous turn ended with input left (carried
	// over), then those the current epoll_wait found readable. next
	// claims them one at a time, so that a run that takes over serves
	// those its stuck predecessor had not reached.
	batch    []*evConn
	n        int32
	nCarried int32
	next     atomic.Int32

	// carry collects the connections of this turn that end it with
	// input left (see turnBytes); they start the next turn's batch. Only
	// the run appends to it, and only while it owns the loop (between
	// connections), so a run that takes over can read it.
	carry []*evConn

	// busy is the sequence number of the connection the run is serving
	// (odd), or 0 between connections; the watchdog swaps it to
	// superseded when it takes the loop over.
	busy atomic.Uint64
	seq  uint64

	// prev is the run this one took over from, until every connection
	// left unclaimed in its batch, and in the batches of the runs before
	// it, has been claimed. A run taken over while it serves those is
	// itself a prev, so what it had not reached is served by its successor.
	prev atomic.Pointer[run]
}

const superseded = ^uint64(0)

func newPoller(s *Server) (*poller, error) {
	n := s.EventLoops
	inline := n >= 0
	if n <= 0 {
		n = 1
		if inline {
			n = runtime.GOMAXPROCS(0)
		}
	}
	budget := loopBudget
	if s.testLoopBudget > 0 {
		budget = s.testLoopBudget
	}
	p := &poller{s: s, inline: inline, budget: budget, kick: make(chan struct{}, 1), stopWD: make(chan struct{}), wdDone: make(chan struct{})}
	for range n {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			p.closeLoops()
			return nil, fmt.Errorf("epoll_create1: %w", err)
		}
		l := &loop{p: p, epfd: epfd, conns: make(map[int32]*evConn)}
		p.loops = append(p.loops, l)
		r, err := l.newRun()
		if err != nil {
			p.closeLoops()
			return nil, err
		}
		l.cur.Store(r)
	}
	for _, l := range p.loops {
		go l.cur.Load().serve()
	}
	if inline {
		go p.watch()
	} else {
		close(p.wdDone)
	}
	return p, nil
}

// newRun duplicates the epoll descriptor and registers the duplicate, in
// non-blocking mode, with the Go runtime's poller.
func (l *loop) newRun() (*run, error) {
	fd, err := syscall.Dup(l.epfd)
	if err != nil {
		return nil, fmt.Errorf("epoll: dup: %w", err)
	}
	syscall.CloseOnExec(fd)
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("epoll: set nonblocking: %w", err)
	}
	f := os.NewFile(uintptr(fd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("epoll: %w", err)
	}
	r := &run{l: l, file: f, rc: rc, events: make([]syscall.EpollEvent, 128), done: make(chan struct{})}
	r.batch = make([]*evConn, 0, len(r.events))
	r.carry = make([]*evConn, 0, len(r.events))
	r.waitFn = r.collect
	return r, nil
}

func (p *poller) closeLoops() {
	for _, l := range p.loops {
		if r := l.cur.Load(); r != nil {
			r.file.Close()
		}
		syscall.Close(l.epfd)
	}
}

// add registers e's socket with one of the loops. Events that arrive from
// now on wake e.
//
// The registration happens inside RawControl's callback, while the
// runtime holds a reference to the descriptor: a connection closed at
// that moment (by a write that failed, say) keeps its descriptor number
// until the callback returns, so the number cannot be reused by a new
// connection between reading it and registering it.
func (p *poller) add(e *evConn) error {
	l := p.loops[int(p.next.Add(1))%len(p.loops)]
	var err error
	cerr := frame.PlumbingOf(e.t.c).RawControl(func(f uintptr) {
		fd := int32(f)
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.closed {
			err = ErrServerClosed
			return
		}
		// EPOLLRDHUP and errors (always reported) wake the connection
		// too, so that a peer that goes away is noticed while idle.
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | -syscall.EPOLLET, Fd: fd}
		if err = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev); err != nil {
			err = fmt.Errorf("epoll_ctl add: %w", err)
			return
		}
		l.conns[fd] = e
		e.fd, e.loop = fd, l
	})
	if cerr != nil {
		return fmt.Errorf("no file descriptor: %w", cerr)
	}
	return err
}

// remove forgets e. Its socket is closed already, which took it out of
// the epoll set; a new connection may have its descriptor number by now,
// so only e's own entry is deleted.
func (p *poller) remove(e *evConn) {
	l := e.loop
	l.mu.Lock()
	if l.conns[e.fd] == e {
		delete(l.conns, e.fd)
	}
	l.mu.Unlock()
}

// stop ends the watchdog, then every loop, and closes the epoll sets. It
// does not wait for the loops' goroutines: one may be inside a callback
// that blocks, and Close must not wait for it. Each ends when its
// callback returns (RawConn.Read reports the closed descriptor); a run
// that was taken over never waits on the epoll set again.
func (p *poller) stop() {
	p.stopping.Store(true)
	close(p.stopWD)
	<-p.wdDone
	for _, l := range p.loops {
		l.cur.Load().file.Close() // wakes the run's RawConn.Read with an error
		l.mu.Lock()
		l.closed = true
		syscall.Close(l.epfd) // the runs hold duplicates
		l.mu.Unlock()
	}
}

// serve is the run's goroutine. A run that takes over first serves the
// connections its predecessors had not reached: the one it took over
// from may itself have been serving an earlier run's leftovers. Each
// epoll event is reported once (edge-triggered), so a connection left
// unclaimed in a batch would never be served again.
func (r *run) serve() {
	defer close(r.done)
	for p := r.prev.Load(); p != nil; p = p.prev.Load() {
		for {
			i := p.next.Add(1) - 1
			if i >= p.n {
				break
			}
			if !r.serveOne(p.batch[i], i < p.nCarried) {
				r.file.Close() // taken over: the successor goes on from r.prev
				return
			}
		}
		// What p carried over to its next turn, which it will not have.
		// The entries are claimed by clearing them, for the same reason.
		for i, e := range p.carry {
			if e == nil {
				continue
			}
			p.carry[i] = nil
			if !r.serveOne(e, true) {
				r.file.Close()
				return
			}
		}
	}
	r.prev.Store(nil) // all claimed; let the old runs go
	// RawConn.Read calls collect, and parks in the runtime's poller each
	// time it returns false, until the descriptor is closed or collect
	// returns true. Staying inside one RawConn.Read matters: a new Read
	// would reset the readiness the runtime recorded since collect last
	// looked, so collect would have to call epoll_wait once more before
	// every park to find out.
	err := r.rc.Read(r.waitFn)
	takenOver := r.busy.Load() == superseded
	if takenOver {
		r.file.Close()
	}
	// Closing the descriptor (stop) is how a loop is meant to end; the
	// error it gives is not os.ErrClosed but the poller's "use of closed
	// file", so stop says so itself.
	if err != nil && !takenOver && !r.l.p.stopping.Load() {
		r.l.p.s.logger().Error("epoll: event mode stops", "err", err)
	}
}

// collect takes the ready events without blocking (timeout 0) and serves
// their connections. It returns false, to park until the epoll descriptor
// is readable again, once it has taken fewer events than it asked for
// (nothing else is ready); true, to end the run: on an error, or when the
// run was taken over.
func (r *run) collect(epfd uintptr) bool {
	l := r.l
	for {
		n, err := syscall.EpollWait(int(epfd), r.events, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			l.p.s.logger().Error("epoll_wait failed; event mode stops", "err", err)
			return true
		}
		// The connections carried over from the previous turn go first:
		// they have waited one turn already.
		r.batch = append(r.batch, r.carry...)
		r.nCarried = int32(len(r.carry))
		clear(r.carry)
		r.carry = r.carry[:0]
		l.mu.Lock()
		for _, ev := range r.events[:n] {
			if e := l.conns[ev.Fd]; e != nil {
				r.batch = append(r.batch, e)
			}
		}
		l.mu.Unlock()
		r.n = int32(len(r.batch))
		r.next.Store(0)
		for {
			i := r.next.Add(1) - 1
			if i >= r.n {
				break
			}
			if !r.serveOne(r.batch[i], i < r.nCarried) {
				return true // taken over: the batch belongs to the new run
			}
		}
		clear(r.batch)
		r.batch = r.batch[:0]
		if n < len(r.events) && len(r.carry) == 0 {
			return false
		}
		// Another round without parking. Yield first: a run that never
		// parks never reaches the scheduler, and the runtime's sysmon
		// then preempts it every 10 ms and takes its P away in the
		// middle of a system call (a signal, a hand-off to another
		// thread and back, and sysmon polling every 20 µs after). One
		// Gosched per round is a scheduler pass per 128 ready events.
		runtime.Gosched()
	}
}

// serveOne serves e, which has input: inline, or through a worker.
// carried says e's previous turn ended with input left (e is still
// running); otherwise its socket became readable. A turn that ends with
// input left again puts e in r.carry for the next turn. serveOne reports
// false if the run was taken over meanwhile; then e is served to the end
// of its input here, as a worker would, since r has no next turn.
func (r *run) serveOne(e *evConn, carried bool) bool {
	s := r.l.p.s
	if !r.l.p.inline {
		s.wake(e, false)
		return true
	}
	r.seq += 2
	r.busy.Store(r.seq | 1)
	if !r.l.p.watching.Load() && r.l.p.watching.CompareAndSwap(false, true) {
		select {
		case r.l.p.kick <- struct{}{}:
		default:
		}
	}
	var more bool
	if carried {
		more = s.runEvents(e, false, true)
	} else {
		more = s.wake(e, true)
	}
	if !r.busy.CompareAndSwap(r.seq|1, 0) {
		if more {
			s.runEvents(e, false, false)
		}
		return false
	}
	if more {
		r.carry = append(r.carry, e)
	}
	return true
}

// watch is the watchdog of the inline loops. While some loop is busy it
// looks every loopBudget; a loop whose run is still serving the
// connection it served at the last look is taken over (takeOver). It
// parks when two looks in a row found every loop between connections.
func (p *poller) watch() {
	defer close(p.wdDone)
	t := time.NewTimer(p.budget)
	t.Stop()
	for {
		select {
		case <-p.kick:
		case <-p.stopWD:
			return
		}
		for quiet := 0; quiet < 2; {
			t.Reset(p.budget)
			select {
			case <-t.C:
			case <-p.stopWD:
				return
			}
			busy := false
			for _, l := range p.loops {
				r := l.cur.Load()
				b := r.busy.Load()
				if b != 0 && b != superseded {
					busy = true
					if r == l.seen && b == l.seenSeq && r.busy.CompareAndSwap(b, superseded) {
						p.takeOver(l, r, b)
					}
				}
				l.seen, l.seenSeq = r, b
			}
			if busy {
				quiet = 0
			} else {
				quiet++
			}
			if quiet == 2 {
				// Park, unless a loop became busy after the look: it
				// saw watching still true and did not kick.
				p.watching.Store(false)
				for _, l := range p.loops {
					if b := l.cur.Load().busy.Load(); b != 0 && b != superseded && p.watching.CompareAndSwap(false, true) {
						quiet = 0
						break
					}
				}
			}
		}
	}
}

// takeOver gives loop l a new run in place of r, which has kept it busy
// (with the connection numbered busy) for longer than loopBudget. r
// finishes its connection and ends.
func (p *poller) takeOver(l *loop, r *run, busy uint64) {
	nr, err := l.newRun()
	if err != nil {
		// The loop stays with r, which serves it again when its
		// connection is done: slower, not stuck for good.
		r.busy.Store(busy)
		p.s.logger().Error("event loop: cannot take over a busy loop", "err", err)
		return
	}
	p.s.logger().Debug("event loop: a connection kept its loop busy; a new goroutine takes the loop over", "budget", p.budget)
	nr.prev.Store(r)
	l.cur.Store(nr)
	go nr.serve()
}
