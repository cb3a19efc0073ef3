package frame

import (
	"context"
	"encoding/binary"
	"sync"
	"time"
)

// This file is the part of Conn's API that gorilla/websocket and
// coder/websocket users reach for beyond reading and writing messages:
// per-connection control-frame handlers, a ping that waits for its pong,
// a read limit that can change, the negotiated subprotocol.

// Subprotocol returns the subprotocol the opening handshake agreed on
// (RFC 6455 §4.2.2, Sec-WebSocket-Protocol), or "" for none. Package server
// and handshake.Dialer set it (Config.Subprotocol).
func (c *Conn) Subprotocol() string { return c.cfg.Subprotocol }

// SetReadLimit sets the largest message accepted, counted after
// decompression, from the next frame on: a larger message fails the
// connection with 1009 (RFC 6455 §7.4.1). n <= 0 means no limit; the frame
// limit (Config.MaxFrameSize) is lowered to n if it is larger. Call it from
// the goroutine that reads (before a read, or in an event-mode callback),
// as with gorilla's SetReadLimit.
func (c *Conn) SetReadLimit(n int64) {
	if n <= 0 {
		n = 1<<63 - 1
	}
	c.maxMsg = n
	c.maxFrame = min(c.cfgMaxFrame(), n)
}

// cfgMaxFrame is the frame limit the Config asked for.
func (c *Conn) cfgMaxFrame() int64 {
	if f := c.cfg.MaxFrameSize; f > 0 {
		return f
	}
	return 1<<63 - 1
}

// SetPingHandler sets the function called, from the reading goroutine,
// with the payload of each ping this connection receives; the payload is
// valid only during the call. It replaces Config.OnPing for this
// connection; nil restores it. The pong is sent either way: RFC 6455 §5.5.2
// says an endpoint MUST answer (gorilla's ping handler sends the pong
// itself; here it cannot be forgotten). Safe to call at any time.
func (c *Conn) SetPingHandler(h func(payload []byte)) { c.pingH.Store(funcPtr(h)) }

// SetPongHandler sets the function called, from the reading goroutine,
// with the payload of each pong this connection receives (§5.5.3). It
// replaces Config.OnPong for this connection; nil restores it. Pongs that
// answer Ping are consumed by Ping and also passed here. Safe to call at
// any time.
func (c *Conn) SetPongHandler(h func(payload []byte)) { c.pongH.Store(funcPtr(h)) }

// SetCloseHandler sets the function called, from the reading goroutine,
// when the peer's close frame arrives, with its code and reason (CloseNoStatus
// for a close frame without a body). With a handler set, the Conn does not
// answer the close frame at once: RFC 6455 §5.5.1 lets an endpoint finish
// sending first ("An endpoint MAY delay sending a Close frame until its
// current message is sent"). The read then returns the peer's *CloseError,
// writes go on, and Close (or CloseWith) sends the answer and closes the
// connection. If the application has not answered within CloseTimeout, the
// Conn answers itself, and closes TCP at the latest one more CloseTimeout
// later. nil restores the default: the answer goes at once, with the
// peer's code, and later writes fail with ErrCloseSent. Set it before the
// peer's close frame can be read (in a Handler before the first read, in
// event mode in OnOpen).
func (c *Conn) SetCloseHandler(h func(code CloseCode, reason string)) {
	if h == nil {
		c.closeH.Store(nil)
		return
	}
	c.closeH.Store(&h)
}

func funcPtr(h func([]byte)) *func([]byte) {
	if h == nil {
		return nil
	}
	return &h
}

// onPing and onPong run the handler for a control frame (reader only).
func (c *Conn) onPing(p []byte) {
	if h := c.pingH.Load(); h != nil {
		(*h)(p)
	} else if c.cfg.OnPing != nil {
		c.cfg.OnPing(p)
	}
}

func (c *Conn) onPong(p []byte) {
	if w := c.pings.Load(); w != nil {
		w.arrived(p)
	}
	if h := c.pongH.Load(); h != nil {
		(*h)(p)
	} else if c.cfg.OnPong != nil {
		c.cfg.OnPong(p)
	}
}

// Ping sends a ping (RFC 6455 §5.5.2) and waits for the pong that answers
// it (§5.5.3: the pong carries the ping's payload), like coder/websocket's
// Ping; it returns the round-trip time. Another goroutine must be reading
// (ReadMessage, NextReader, or event mode), since pongs arrive through the
// reader. It returns ctx's error if ctx ends first, and the connection's
// error if it ends. Pings may be in flight from several goroutines at once;
// each payload is a sequence number of 8 bytes, so a pong is matched to its
// own ping. To send a ping without waiting, use WriteControl(OpPing, p).
func (c *Conn) Ping(ctx context.Context) (time.Duration, error) {
	w := c.pings.Load()
	if w == nil {
		c.pings.CompareAndSwap(nil, &pingWaiters{waiting: map[uint64]chan struct{}{}})
		w = c.pings.Load()
	}
	seq, ch := w.add()
	defer w.remove(seq)
	var p [8]byte
	binary.BigEndian.PutUint64(p[:], seq)
	start := time.Now()
	if err := c.writeControl(OpPing, p[:]); err != nil {
		return 0, err
	}
	select {
	case <-ch:
		return time.Since(start), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-c.done:
		return 0, c.Err()
	}
}

// pingWaiters are the pings of Ping that wait for their pongs.
type pingWaiters struct {
	mu      sync.Mutex
	seq     uint64
	waiting map[uint64]chan struct{}
}

func (w *pingWaiters) add() (uint64, chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	ch := make(chan struct{})
	w.waiting[w.seq] = ch
	return w.seq, ch
}

func (w *pingWaiters) remove(seq uint64) {
	w.mu.Lock()
	delete(w.waiting, seq)
	w.mu.Unlock()
}

// arrived wakes the Ping whose payload p is, if any.
func (w *pingWaiters) arrived(p []byte) {
	if len(p) != 8 {
		return
	}
	seq := binary.BigEndian.Uint64(p)
	w.mu.Lock()
	if ch, ok := w.waiting[seq]; ok {
		close(ch)
		delete(w.waiting, seq)
	}
	w.mu.Unlock()
}

// WriteControl sends a ping or a pong with payload p, at most 125 bytes
// (RFC 6455 §5.5): a ping to which the peer's pong arrives through the pong
// handler, or an unsolicited pong, which serves as a unidirectional
// heartbeat (§5.5.3). Close frames go through WriteClose, Close and
// CloseWith. Control frames may go between the frames of a message being
// written (§5.4).
func (c *Conn) WriteControl(op Opcode, p []byte) error {
	if op != OpPing && op != OpPong {
		return ErrBadOpcode
	}
	return c.writeControl(op, p)
}
