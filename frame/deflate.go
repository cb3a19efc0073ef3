package frame

import (
	"errors"
	"io"
	"sync"

	"github.com/ws6455/ws6455/frame/internal/deflate"
)

// This file applies permessage-deflate (RFC 7692) to messages. The
// handshake negotiated the parameters (Config.Deflate); the DEFLATE engine
// is in frame/internal/deflate.
//
// RFC 7692 §6: a compressed message has RSV1 ("Per-Message Compressed") set
// on its first frame only; its payload, across all its frames, is one
// DEFLATE stream ending in a sync flush whose last four bytes, 00 00 ff ff,
// are removed by the sender (§7.2.1) and put back by the receiver (§7.2.2).
// Control frames are never compressed.
//
// Context takeover (§7.1.1): unless an endpoint announced
// *_no_context_takeover, its compressor keeps its LZ77 window across
// messages and the peer's decompressor must keep the matching window. A
// compressor or decompressor is only needed while a message is moving, so
// it comes from a pool and an idle connection holds none. When a side does
// not take over context that is all; when it does, the connection keeps
// the window's bytes between messages (hist: the last 2^bits bytes at
// most, fewer while less was sent) and installs them in the pooled
// compressor or decompressor at the next message, the compressor
// rebuilding its hash tables over them. An idle connection with context
// takeover thus holds up to 2^bits bytes per direction, not the 250 KiB of
// a 32 KiB-window compressor's buffers and tables; the price is a copy of
// the window per message, and a rebuild of the hash tables on the sending
// side.
//
// Window bits (§7.1.2): our compressor never refers further back than
// 2^(our max_window_bits) bytes; our decompressor holds 2^(peer's
// max_window_bits) bytes of window.

// inflater is the receive side of a compressed connection.
type inflater struct {
	bits      int  // peer's window bits
	noContext bool // the peer resets its context after each message
	d         *deflate.Decompressor
	hist      []byte // context takeover: the window between messages
	plain     int    // bytes at rbuf[r:r+plain] already unmasked, not yet inflated
}

// deflater is the send side.
type deflater struct {
	bits      int
	level     int
	noContext bool
	minSize   int
	c         *deflate.Compressor
	hist      []byte // context takeover: the window between messages
}

func newInflater(c *Conn) *inflater {
	p := c.cfg.Deflate
	f := &inflater{bits: p.ClientMaxWindowBits, noContext: p.ClientNoContextTakeover}
	if c.role == RoleClient {
		f.bits, f.noContext = p.ServerMaxWindowBits, p.ServerNoContextTakeover
	}
	if f.bits == 0 {
		f.bits = deflate.MaxWindowBits
	}
	return f
}

func newDeflater(c *Conn) *deflater {
	p := c.cfg.Deflate
	d := &deflater{bits: p.ServerMaxWindowBits, noContext: p.ServerNoContextTakeover}
	if c.role == RoleClient {
		d.bits, d.noContext = p.ClientMaxWindowBits, p.ClientNoContextTakeover
	}
	if d.bits == 0 {
		d.bits = deflate.MaxWindowBits
	}
	d.level = c.cfg.CompressionLevel
	if d.level <= 0 || d.level > deflate.BestCompression {
		d.level = deflate.BestSpeed
	}
	d.minSize = c.cfg.CompressMinSize
	switch {
	case d.minSize == 0:
		d.minSize = DefaultCompressMinSize
	case d.minSize < 0:
		d.minSize = 0
	}
	return d
}

// Pools of compressors and decompressors, by window bits (and level).
var (
	decompPools [deflate.MaxWindowBits + 1]sync.Pool
	compPools   [deflate.BestCompression + 1][deflate.MaxWindowBits + 1]sync.Pool
)

// begin is called when a compressed message starts.
func (f *inflater) begin() {
	if f.d == nil {
		if v, _ := decompPools[f.bits].Get().(*deflate.Decompressor); v != nil {
			f.d = v
		} else {
			f.d = deflate.NewDecompressor(f.bits)
		}
		if len(f.hist) > 0 {
			f.d.SetHistory(f.hist)
		}
	}
}

// end is called when a compressed message was read whole: the
// decompressor goes back to its pool, keeping its window in hist first
// when the peer takes over context.
func (f *inflater) end() {
	if !f.noContext {
		f.hist = keepHistory(f.hist, f.d.HistoryLen(), f.bits)
		f.hist = f.d.AppendHistory(f.hist)
	}
	f.d.Reset()
	decompPools[f.bits].Put(f.d)
	f.d = nil
}

// keepHistory returns hist emptied, with room for n bytes: its capacity
// grows by doubling, up to the 2^bits a window can hold, so that a
// connection allocates only until its history has reached its final size.
func keepHistory(hist []byte, n, bits int) []byte {
	if n > cap(hist) {
		hist = make([]byte, 0, min(max(n, 2*cap(hist), 256), 1<<bits))
	}
	return hist[:0]
}

// readInflated is readData for a compressed message: it unmasks the
// compressed bytes in the read buffer, inflates them into p, and checks
// the size limit on the inflated bytes while inflating, so that a small
// compressed "bomb" fails with 1009 long before it is inflated whole.
func (c *Conn) readInflated(p []byte) (int, error) {
	f := c.infl
	for {
		if f.plain == 0 && c.remaining > 0 {
			if c.w == c.r {
				if err := c.fill(1); err != nil {
					return 0, c.ioError(err)
				}
			}
			k := int(min(int64(c.w-c.r), c.remaining))
			if c.hdr.Masked {
				c.maskPos = Mask(c.hdr.Mask, c.maskPos, c.rbuf[c.r:c.r+k])
			}
			f.plain = k
		}
		if c.remaining == 0 && !c.hdr.Fin {
			if err := c.nextFrame(); err != nil {
				return 0, err
			}
			continue
		}
		last := c.hdr.Fin && c.remaining == int64(f.plain)
		n, used, err := f.d.DecompressTo(p, c.rbuf[c.r:c.r+f.plain], last, c.maxMsg)
		c.r += used
		f.plain -= used
		c.remaining -= int64(used)
		if n > 0 {
			c.msgLen += int64(n)
			if c.msgOp == OpText {
				if _, ok := c.utf8.Write(p[:n]); !ok {
					return 0, c.fail(violation(CloseInvalidPayload, "invalid UTF-8 in text message"))
				}
			}
		}
		switch {
		case err == io.EOF:
			if c.msgOp == OpText && !c.utf8.Complete() {
				return 0, c.fail(violation(CloseInvalidPayload, "text message ends inside a UTF-8 sequence"))
			}
			c.inMessage = false
			f.end()
			return n, io.EOF
		case errors.Is(err, deflate.ErrTooLarge):
			return 0, c.fail(violation(CloseMessageTooBig, "message larger than the limit after decompression"))
		case err != nil:
			// Not a valid DEFLATE stream, or a reference beyond the
			// negotiated window: the message cannot be decoded, and the
			// connection fails (RFC 6455 §7.1.7).
			return 0, c.fail(violation(CloseInvalidPayload, "invalid compressed data: "+err.Error()))
		}
		if n > 0 || len(p) == 0 {
			return n, nil
		}
	}
}

// wants reports whether a message of n bytes is worth compressing.
func (d *deflater) wants(n int) bool { return n >= d.minSize }

// get takes a compressor from the pool for a message, with the history
// kept from the last one under context takeover.
func (d *deflater) get() {
	if d.c == nil {
		if v, _ := compPools[d.level][d.bits].Get().(*deflate.Compressor); v != nil {
			d.c = v
		} else {
			d.c = deflate.NewCompressor(d.level, d.bits)
		}
		if len(d.hist) > 0 {
			d.c.SetHistory(d.hist)
		}
	}
}

// put returns the compressor to the pool after a message, keeping its
// history first under context takeover.
func (d *deflater) put() {
	if !d.noContext {
		d.hist = keepHistory(d.hist, d.c.HistoryLen(), d.bits)
		d.hist = d.c.AppendHistory(d.hist)
	}
	d.c.Reset()
	compPools[d.level][d.bits].Put(d.c)
	d.c = nil
}

// writeMessage compresses p whole and sends it, in frames of fragment bytes
// of compressed payload if fragment > 0. dataMu is held.
//
// RFC 7692 §6.1 lets an endpoint send any message uncompressed, RSV1
// clear, while the extension is in use: a message that does not get
// smaller (random or already compressed data, which level 1 stores) is
// sent as it is, which saves the stored blocks' framing on the wire and
// the peer an inflate. The peer's decompressor does not see such a
// message, so under context takeover (§7.1.1) it must not enter our
// compressor's window either: the window kept in hist stays as it was
// before the message, and both ends go on from the same history.
func (d *deflater) writeMessage(c *Conn, op Opcode, p []byte, fragment int) error {
	d.get()
	bp := getBuf(len(p) + len(p)>>8 + 64)
	enc := d.c.AppendCompress((*bp)[:0], p)
	rsv, out := RSV1, enc
	if len(enc) >= len(p) {
		rsv, out = 0, p
		d.drop()
	} else {
		d.put()
	}
	var err error
	if fragment > 0 {
		err = c.writeFragments(op, rsv, out, fragment)
	} else {
		err = c.writeFrame(true, rsv, op, out)
	}
	if cap(enc) == cap(*bp) {
		putBuf(bp)
	}
	return err
}

// drop returns the compressor to the pool after a message that is sent
// uncompressed, forgetting that message: hist keeps the window from before
// it.
func (d *deflater) drop() {
	d.c.Reset()
	compPools[d.level][d.bits].Put(d.c)
	d.c = nil
}

// beginStream prepares the compressor for a NextWriter message.
func (d *deflater) beginStream() { d.get() }

// streamWrite compresses p into the writer's buffer, sending a frame
// whenever a buffer's worth of compressed bytes is ready.
func (d *deflater) streamWrite(w *messageWriter, p []byte) (int, error) {
	total := len(p)
	buf := *w.bufp
	for len(p) > 0 {
		k := min(len(p), len(buf)/2)
		out := d.c.AppendCompressPart(buf[:w.n], p[:k], false)
		p = p[k:]
		if len(out) >= len(buf)/2 {
			err := w.c.writeFrame(false, w.rsv, w.op, out)
			w.op, w.rsv, w.n = OpContinuation, 0, 0
			if err != nil {
				return total - len(p), err
			}
			continue
		}
		w.n = len(out)
	}
	return total, nil
}

// dropStream gives back the compressor of a NextWriter message that a write
// error ended. Its state is mid-message; the connection is failed, so no
// history is kept.
func (d *deflater) dropStream() {
	if d.c != nil {
		d.drop()
	}
}

// streamClose finishes a NextWriter message.
func (d *deflater) streamClose(w *messageWriter) error {
	out := d.c.AppendCompressPart((*w.bufp)[:w.n], nil, true)
	d.put()
	return w.c.writeFrame(true, w.rsv, w.op, out)
}

// release returns the pooled inflater when a connection ends (the
// deflater is not pooled).
func (c *Conn) releaseDeflate() {
	if f := c.infl; f != nil && f.d != nil {
		f.d.Reset()
		decompPools[f.bits].Put(f.d)
		f.d = nil
	}
}
