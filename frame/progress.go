package frame

import (
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// This file is the progress rule for incoming data (Config.MessageTimeout
// and MinMessageRate). RFC 6455 §10.4: "Implementations SHOULD impose
// implementation-specific limits on frame sizes and the total message size
// after reassembly from multiple frames", to protect against peers that
// tie up resources. Size limits alone do not stop a peer that sends a
// frame header and then one byte every few seconds: each such connection
// holds a read buffer, the message so far and (in goroutine or event
// mode) a goroutine, for as long as it likes. So once a read has had to
// wait in the middle of a frame or message, the rest of it is given a
// budget:
//
//	budget = MessageTimeout + (bytes of the frame or message received) / MinMessageRate
//
// counted from that first wait. A peer that sends at least MinMessageRate
// bytes per second never runs out; one that stalls or trickles fails the
// connection with 1008 (policy violation, §7.4.1) when its budget is
// spent. Time between messages does not count, and a message that arrives
// whole (the common case) never enters the rule at all.
//
// One goroutine watches the budgets of all the Conns of the process, the
// way one loop serves the keepalive of all a server's connections: a Conn
// whose read must wait inside a message puts itself on the watch list
// (under a mutex, once per such message) and takes itself off when the
// message is complete. The watcher looks every progressTick while the list
// is not empty; for a Conn over budget it marks the budget expired and, if
// a read is blocked, sets the socket's read deadline to the past, which
// ends that read. The reader sees the deadline error, finds the budget
// expired, and fails the connection. So the rule costs no timer per
// connection and no timer update per read (re-arming a timer on every
// blocked read woke the runtime's network poller each time, and cost a
// third of the throughput of 64 KiB echoes), and the application's own
// read deadlines are left alone.

// progressTick is how often the watcher checks the budgets: the rule is
// enforced to within this much.
const progressTick = 100 * time.Millisecond

// progress is a Conn's state for the progress rule, allocated the first
// time one of its reads waits inside a frame or message.
type progress struct {
	c       *Conn
	waiting atomic.Bool // a read is blocked: the watcher may end it
	expired atomic.Bool // the budget ran out: the reader fails the connection

	// Under watch.mu.
	listed      bool
	prev, next  *progress
	start       time.Time // the first wait of this frame or message
	act0        uint64    // Activity before the frame's bytes arrived
	deadlineSet bool      // the watcher set the read deadline to the past
}

// watch is the list of Conns whose reads are inside a frame or message,
// and its goroutine.
var watch struct {
	mu      sync.Mutex
	head    *progress
	running bool
}

// progressStart is called by the reader before a read that may block
// while a frame or message is incomplete. On the first such wait of a
// frame or message it puts the Conn on the watch list. It returns
// os.ErrDeadlineExceeded if the budget has run out already (ioError then
// fails the connection).
func (c *Conn) progressStart() error {
	if c.msgTimeout <= 0 {
		return nil
	}
	p := c.prog
	if p == nil {
		p = &progress{c: c}
		c.prog = p
	}
	if p.expired.Load() {
		return os.ErrDeadlineExceeded
	}
	if !c.progActive {
		c.progActive = true
		// The budget counts the bytes of the frame (and message) that
		// arrived before this first wait, too.
		got := uint64(c.w - c.r)
		if c.inMessage {
			got += uint64(c.msgLen)
		}
		act := c.activity.Load()
		watch.mu.Lock()
		p.start, p.act0 = time.Now(), act-min(got, act)
		p.listed = true
		p.next = watch.head
		if watch.head != nil {
			watch.head.prev = p
		}
		watch.head = p
		if !watch.running {
			watch.running = true
			go progressWatch()
		}
		watch.mu.Unlock()
	}
	p.waiting.Store(true)
	return nil
}

// progressStop is called after each read that progressStart preceded.
func (c *Conn) progressStop() {
	if c.progActive {
		c.prog.waiting.Store(false)
	}
}

// progressEnd ends the budget of the frame or message: it is complete, or
// the reader is between messages. It costs a field test when the frame
// never waited.
func (c *Conn) progressEnd() {
	if !c.progActive {
		return
	}
	c.progActive = false
	p := c.prog
	watch.mu.Lock()
	p.unlist()
	if !p.deadlineSet {
		// Complete in time after all (the watcher marked it while the
		// last bytes were being taken, and no read was cut).
		p.expired.Store(false)
	}
	watch.mu.Unlock()
}

// unlist takes p off the watch list if it is on it; watch.mu is held.
func (p *progress) unlist() {
	if !p.listed {
		return
	}
	p.listed = false
	if p.prev != nil {
		p.prev.next = p.next
	} else {
		watch.head = p.next
	}
	if p.next != nil {
		p.next.prev = p.prev
	}
	p.prev, p.next = nil, nil
}

// progressExpired reports whether a deadline error came from the
// progress rule rather than from a deadline the application set.
func (c *Conn) progressExpired() bool { return c.prog != nil && c.prog.expired.Load() }

// progressWatch is the watcher goroutine; it runs while the list is not
// empty.
func progressWatch() {
	t := time.NewTicker(progressTick)
	defer t.Stop()
	for now := range t.C {
		watch.mu.Lock()
		if watch.head == nil {
			watch.running = false
			watch.mu.Unlock()
			return
		}
		for p, next := watch.head, (*progress)(nil); p != nil; p = next {
			next = p.next
			c := p.c
			if c.isDone() {
				// Closed by another goroutine while its reader was
				// inside a message (and may never read again).
				p.unlist()
				continue
			}
			earned := time.Duration(float64(c.activity.Load()-p.act0) / float64(c.minRate) * float64(time.Second))
			if now.Sub(p.start) <= c.msgTimeout+earned || p.expired.Load() {
				continue
			}
			p.expired.Store(true)
			if p.waiting.Load() {
				p.deadlineSet = true
				c.nc.SetReadDeadline(time.Unix(1, 0))
			}
		}
		watch.mu.Unlock()
	}
}
