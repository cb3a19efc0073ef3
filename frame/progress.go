package frame

import (
	"os"
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
// mode) a goroutine, for as long as it likes. So the time the reader
// spends waiting inside a frame or a message is budgeted:
//
//	budget = MessageTimeout + (bytes of the frame or message received) / MinMessageRate
//
// A peer that sends at least MinMessageRate bytes per second never runs
// out; one that stalls or trickles fails the connection with 1008 (policy
// violation, §7.4.1) when its budget is spent. Waiting between messages
// is not counted, and neither is the time the application takes between
// reads: only the reads that block.
//
// The budget is enforced by one timer per connection, armed only around a
// read that blocks in the middle of a frame or message; a message that
// arrives whole (the common case) never touches it. When the timer fires
// during such a read, it sets the socket's read deadline to the past,
// which ends the read; the reader sees the deadline error, finds the
// budget expired, and fails the connection. The application's own read
// deadlines are left alone otherwise.

// progress is the reader's state for the progress rule, allocated the
// first time a read blocks inside a frame or message.
type progress struct {
	c       *Conn
	timer   *time.Timer
	waiting atomic.Bool // a read is blocked: the timer may end it
	expired atomic.Bool // the budget ran out: the reader fails the connection
	active  bool        // reader only: a frame or message is spending its budget
	spent   time.Duration
	act0    uint64 // Activity when the budget began
}

// progressStart is called by the reader before a read that may block
// while a frame or message is incomplete. It returns the start time to
// hand to progressStop, or os.ErrDeadlineExceeded with the budget marked
// expired if it is spent already (ioError then fails the connection).
func (c *Conn) progressStart() (time.Time, error) {
	if c.msgTimeout <= 0 {
		return time.Time{}, nil
	}
	p := c.prog
	if p == nil {
		p = &progress{c: c}
		p.timer = time.AfterFunc(time.Hour, p.fire)
		p.timer.Stop()
		c.prog = p
	}
	act := c.activity.Load()
	if !p.active {
		// The budget counts the bytes of the frame (and message) that
		// arrived before this first wait, too.
		got := uint64(c.w - c.r)
		if c.inMessage {
			got += uint64(c.msgLen)
		}
		p.active, p.spent, p.act0 = true, 0, act-min(got, act)
	}
	earned := time.Duration(float64(act-p.act0) / float64(c.minRate) * float64(time.Second))
	budget := c.msgTimeout + earned - p.spent
	if budget <= 0 || p.expired.Load() {
		p.expired.Store(true)
		return time.Time{}, os.ErrDeadlineExceeded
	}
	p.waiting.Store(true)
	p.timer.Reset(budget)
	return time.Now(), nil
}

// progressStop is called after the read that progressStart preceded.
func (c *Conn) progressStop(start time.Time) {
	if start.IsZero() {
		return
	}
	p := c.prog
	p.waiting.Store(false)
	p.timer.Stop()
	p.spent += time.Since(start)
}

// progressEnd ends the budget of the frame or message: it is complete, or
// the reader is between messages.
func (c *Conn) progressEnd() {
	if c.prog != nil {
		c.prog.active = false
	}
}

// progressExpired reports whether a deadline error came from the
// progress rule rather than from a deadline the application set.
func (c *Conn) progressExpired() bool { return c.prog != nil && c.prog.expired.Load() }

// fire ends a blocked read whose budget ran out.
func (p *progress) fire() {
	if p.waiting.Load() {
		p.expired.Store(true)
		p.c.nc.SetReadDeadline(time.Unix(1, 0))
	}
}
