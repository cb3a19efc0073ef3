package frame

import (
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Role says which end of the connection a Conn is. It decides the masking
// rules of RFC 6455 §5.1 and who closes the TCP connection first (§7.1.1).
type Role uint8

const (
	// RoleServer: frames sent are not masked; frames received must be.
	RoleServer Role = iota
	// RoleClient: frames sent are masked with a fresh key; frames received
	// must not be.
	RoleClient
)

func (r Role) String() string {
	if r == RoleClient {
		return "client"
	}
	return "server"
}

// Direction tells a Trace hook whether a frame was read or written.
type Direction uint8

const (
	Inbound  Direction = iota // read from the peer
	Outbound                  // written to the peer
)

// Defaults for the zero values of Config.
const (
	DefaultMaxMessageSize  = 16 << 20 // 16 MiB, after decompression
	DefaultBufferSize      = 4096
	DefaultCloseTimeout    = 5 * time.Second
	DefaultWriteTimeout    = 30 * time.Second
	DefaultCompressMinSize = 64 // messages shorter than this are sent uncompressed
	DefaultMessageTimeout  = 20 * time.Second
	DefaultMinMessageRate  = 1024 // bytes per second
)

// Config holds the options of a Conn. The zero value is a server with safe
// defaults.
type Config struct {
	Role Role

	// MaxMessageSize is the largest message accepted, counted after
	// decompression. A larger message fails the connection with 1009
	// (RFC 6455 §7.4.1) as soon as its size is known to exceed the limit.
	// 0 means DefaultMaxMessageSize; -1 means no limit.
	MaxMessageSize int64

	// MaxFrameSize is the largest frame payload accepted, as declared by
	// the frame header: a larger one fails the connection with 1009
	// before any of its payload is read. 0 means MaxMessageSize.
	MaxFrameSize int64

	// ReadBufferSize and WriteBufferSize size the pooled buffers used while
	// a frame is being read or written. 0 means DefaultBufferSize.
	ReadBufferSize, WriteBufferSize int

	// CloseTimeout bounds the close handshake (RFC 6455 §7.1.1, §7.1.2):
	// from the moment this end sends or must answer a close frame, the
	// TCP connection is closed within CloseTimeout, whatever the peer does
	// and whatever writes are still in progress. 0 means
	// DefaultCloseTimeout.
	CloseTimeout time.Duration

	// WriteTimeout bounds each frame write: a peer that stops reading
	// cannot block a writer longer than this. 0 means DefaultWriteTimeout
	// (30 s); -1 means no limit. The deadline is
	// refreshed only when half of it has passed, so it costs a clock read
	// per frame rather than a timer update: a write fails between
	// WriteTimeout/2 and WriteTimeout after it began to block. A write
	// that fails or times out fails the connection at once (the stream
	// may hold half a frame, so no close frame can follow): TCP is
	// closed, and reads and Err report 1006 with the write error.
	WriteTimeout time.Duration

	// MessageTimeout and MinMessageRate are the progress rule for
	// incoming data (RFC 6455 §10.4 lets an endpoint limit the resources a
	// peer can hold): once a read has had to wait in the middle of a frame
	// or message, the rest of that message must arrive within
	// MessageTimeout plus one second for every MinMessageRate bytes of it
	// received. A peer that trickles a message (one byte every few
	// seconds, say) fails the connection with 1008 when its budget runs
	// out, instead of holding a buffer and a goroutine for as long as it
	// likes; a peer that sends at least MinMessageRate bytes per second is
	// never cut. Time between messages does not count; a message that
	// arrives whole never enters the rule. It is checked every 100 ms by
	// one goroutine for all connections (progress.go). 0 means
	// DefaultMessageTimeout (20 s) and DefaultMinMessageRate (1 KiB/s); a
	// negative MessageTimeout disables the rule.
	MessageTimeout time.Duration
	MinMessageRate int

	// Deflate holds the negotiated permessage-deflate parameters (RFC
	// 7692); nil if the extension was not negotiated.
	Deflate *DeflateParams
	// CompressionLevel is the DEFLATE effort for outgoing messages, 1
	// (fastest) to 9 (smallest); 0 means 1.
	CompressionLevel int
	// CompressMinSize: outgoing messages shorter than this are sent
	// uncompressed even when the extension is on (RFC 7692 §6 lets a sender
	// choose per message). 0 means DefaultCompressMinSize; -1 compresses all.
	// A WriteMessage or WriteFragmented message that compressing does not
	// make smaller (random or already compressed data) is sent uncompressed
	// too, whatever its size (RFC 7692 §6.1).
	CompressMinSize int

	// OnPing and OnPong, if set, are called from the reading goroutine with
	// the payload of each ping or pong received; the payload is valid only
	// during the call. Pongs are sent automatically whether or not OnPing
	// is set (RFC 6455 §5.5.2). They are the defaults of every Conn made
	// with this Config; Conn.SetPingHandler and SetPongHandler replace
	// them for one connection.
	OnPing, OnPong func(payload []byte)

	// Subprotocol is the subprotocol the opening handshake agreed on, which
	// Conn.Subprotocol returns; package server and handshake.Dialer set it.
	Subprotocol string

	// Trace, if set, is called for every frame read or written on c, with
	// the unmasked payload when it is at hand in one piece (control
	// frames, and data frames of ReadMessage and whole-message writes) and
	// nil otherwise. It is for teaching and debugging tools (wsecho -trace,
	// wsc --show-frames); it costs nothing when nil.
	Trace func(c *Conn, dir Direction, h Header, payload []byte)
}

// Errors returned by Conn.
var (
	// ErrCloseSent is returned by writes after a close frame was sent
	// (RFC 6455 §5.5.1: "The application MUST NOT send any more data
	// frames after sending a Close frame").
	ErrCloseSent = errors.New("frame: close frame already sent")
	// ErrControlTooLong reports an outgoing control frame payload over 125
	// bytes (RFC 6455 §5.5).
	ErrControlTooLong = errors.New("frame: control frame payload longer than 125 bytes")
	// ErrBadOpcode is returned when a data write names a control opcode or
	// a control write names a data opcode.
	ErrBadOpcode = errors.New("frame: opcode not allowed here")
	// ErrCloseTimeout is the cause (CloseError.Err) of a 1006 when the
	// close handshake did not finish within CloseTimeout.
	ErrCloseTimeout = errors.New("frame: close handshake timed out (no close frame from the peer within the close timeout)")
	// ErrClosedLocally is the cause of a 1006 after CloseNow.
	ErrClosedLocally = errors.New("frame: connection closed with CloseNow")
)

// Conn is a WebSocket connection after the opening handshake: it reads and
// writes messages as frames over a net.Conn (RFC 6455 §5-§8) for either
// role. It answers pings, runs the close handshake, fails the connection
// with the right status code on every protocol violation, and enforces the
// configured limits.
//
// Concurrency: one goroutine at a time may read (ReadMessage, NextReader
// and the io.Reader it returns; SetReadLimit belongs to the reader too).
// Writes (WriteMessage, WriteFragmented, NextWriter, WriteControl, Ping,
// WriteClose) and the close methods are safe from any number of
// goroutines, as are the Set*Handler methods: data messages are written whole, one after another, and
// control frames, including the automatic pong and close replies, may be
// sent between the frames of a fragmented message (§5.4).
//
// Memory: a Conn holds no read or write buffer while it is idle. On a TCP
// connection it waits for the socket to become readable before it takes a
// read buffer from a pool, and it returns the buffer when all bytes
// received have been consumed.
type Conn struct {
	nc   net.Conn
	raw  syscall.RawConn // nil if nc does not expose its file descriptor
	role Role

	maxMsg, maxFrame   int64
	rbufSize, wbufSize int
	closeTimeout       time.Duration
	writeTimeout       time.Duration
	msgTimeout         time.Duration // progress rule; <= 0: off
	minRate            int64
	wdeadline          time.Time    // write deadline in force (under wmu)
	userWD             atomic.Int64 // StreamConn's write deadline, unix ns; 0: none
	cfg                Config       // a copy, for hooks and compression settings

	activity atomic.Uint64 // bytes read; see Plumbing.Activity

	// Reader state, owned by the reading goroutine (rmu).
	rmu         sync.Mutex
	rbufp       *[]byte
	rbuf        []byte
	r, w        int
	mayHaveMore bool               // the last read filled the buffer: the socket may hold more
	waitArmed   bool               // for waitReadable's callback
	waitFn      func(uintptr) bool // c.waitCallback, made on first use
	peek        [1]byte
	tryFn       func(uintptr) bool // c.tryCallback, made on first use (event mode)
	tryBuf      []byte
	tryN        int
	tryErrno    syscall.Errno
	tryMode     bool // inside TryReadMessage

	hdr        Header // header of the frame being read
	remaining  int64  // payload bytes of hdr not yet read
	maskPos    int
	inMessage  bool   // a message is being read (its first frame was seen)
	msgOp      Opcode // OpText or OpBinary
	msgLen     int64  // bytes of the message delivered so far
	compressed bool   // the message being read has RSV1 set (RFC 7692)
	utf8       UTF8Validator
	readErr    error // sticky: set once the connection failed or closed
	ctrl       [MaxControlPayload]byte
	mr         messageReader
	infl       *inflater // permessage-deflate receive side, nil if off

	// Writer state. dataMu serialises data messages; wmu serialises frames.
	dataMu    sync.Mutex
	wmu       sync.Mutex
	werr      error
	closeSent atomic.Bool
	holding   atomic.Bool // small frames are held in held until flushHeld
	hasHeld   atomic.Bool // len(held) > 0, for flushHeld's check without wmu
	heldp     *[]byte     // pooled buffer of held frames (under wmu)
	held      []byte
	// The pong the reader owes while another goroutine holds wmu; see
	// queuePong.
	pongMu      sync.Mutex
	pongPending atomic.Bool
	pongLen     int                     // under pongMu
	pongIn      [MaxControlPayload]byte // under pongMu
	pongOut     [MaxControlPayload]byte // under wmu
	iov         [2][]byte
	bufs        net.Buffers
	hdrOut      [MaxHeaderSize]byte
	ctrlOut     [MaxControlPayload]byte
	rng         *mrand.ChaCha8 // client mask keys (RFC 6455 §5.3, §10.3)
	mw          messageWriter
	defl        *deflater // permessage-deflate send side, nil if off

	closeOnce  sync.Once
	done       chan struct{}
	closeErr   atomic.Pointer[CloseError]
	peerClose  atomic.Pointer[CloseError] // the peer's close frame, once received
	pingH      atomic.Pointer[func([]byte)]
	pongH      atomic.Pointer[func([]byte)]
	closeH     atomic.Pointer[func(CloseCode, string)] // non-nil: the close reply is deferred
	pings      atomic.Pointer[pingWaiters]             // Ping's waiters, once Ping was called
	closing    atomic.Pointer[closing]                 // set when the close handshake begins
	prog       *progress                               // reader: the progress rule, once needed
	progActive bool                                    // reader: on the progress watch list
	doneMu     sync.Mutex                              // guards ended and afterDone
	ended      bool
	afterDone  func()
}

// NewConn returns a Conn over nc, which has completed the opening handshake.
// buffered holds bytes already read from nc after the handshake (the
// beginning of the first frames); it is copied. cfg is copied.
func NewConn(nc net.Conn, buffered []byte, cfg Config) *Conn {
	c := &Conn{
		nc:           nc,
		role:         cfg.Role,
		maxMsg:       cfg.MaxMessageSize,
		maxFrame:     cfg.MaxFrameSize,
		rbufSize:     cfg.ReadBufferSize,
		wbufSize:     cfg.WriteBufferSize,
		closeTimeout: cfg.CloseTimeout,
		writeTimeout: cfg.WriteTimeout,
		mayHaveMore:  true,
		done:         make(chan struct{}),
	}
	c.cfg = cfg
	if c.maxMsg == 0 {
		c.maxMsg = DefaultMaxMessageSize
	}
	if c.maxMsg < 0 {
		c.maxMsg = 1<<63 - 1
	}
	if c.maxFrame == 0 || c.maxFrame > c.maxMsg {
		c.maxFrame = c.maxMsg
	}
	if c.maxFrame < 0 {
		c.maxFrame = 1<<63 - 1
	}
	if c.rbufSize <= 0 {
		c.rbufSize = DefaultBufferSize
	}
	c.rbufSize = max(c.rbufSize, 256)
	if c.wbufSize <= 0 {
		c.wbufSize = DefaultBufferSize
	}
	c.wbufSize = max(c.wbufSize, 256)
	if c.closeTimeout <= 0 {
		c.closeTimeout = DefaultCloseTimeout
	}
	switch c.writeTimeout {
	case 0:
		c.writeTimeout = DefaultWriteTimeout
	case -1:
		c.writeTimeout = 0
	}
	switch c.msgTimeout = cfg.MessageTimeout; {
	case c.msgTimeout == 0:
		c.msgTimeout = DefaultMessageTimeout
	case c.msgTimeout < 0:
		c.msgTimeout = 0
	}
	if c.minRate = int64(cfg.MinMessageRate); c.minRate <= 0 {
		c.minRate = DefaultMinMessageRate
	}
	if sc, ok := rawSocket(nc); ok && canWaitRaw {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw = raw
		}
	}
	if c.role == RoleClient {
		var seed [32]byte
		if _, err := rand.Read(seed[:]); err != nil {
			panic("frame: crypto/rand failed: " + err.Error())
		}
		c.rng = mrand.NewChaCha8(seed)
	}
	if cfg.Deflate != nil {
		c.infl = newInflater(c)
		c.defl = newDeflater(c)
	}
	if len(buffered) > 0 {
		c.rbufp = getBuf(max(len(buffered), c.rbufSize))
		c.rbuf = *c.rbufp
		c.w = copy(c.rbuf, buffered)
	}
	c.mr.c = c
	c.mw.c = c
	return c
}

// rawSocket returns nc as a syscall.Conn when it is a socket the Conn may
// wait on and read from directly (the fast path: readiness through
// syscall.RawConn, no buffer while idle, event mode). Only the standard
// library's own socket types qualify: a wrapper that embeds one gets its
// SyscallConn method promoted, but may buffer or transform what it reads
// (a replayed prefix, TLS), and reading its descriptor would bypass that.
func rawSocket(nc net.Conn) (syscall.Conn, bool) {
	switch s := nc.(type) {
	case *net.TCPConn:
		return s, true
	case *net.UnixConn:
		return s, true
	}
	return nil, false
}

// NetConn returns the underlying connection. Reading from or writing to it
// directly corrupts the stream; setting deadlines on it is fine.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Done returns a channel that is closed when the TCP connection is closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// bytesRead: see Plumbing.Activity.
func (c *Conn) bytesRead() uint64 { return c.activity.Load() }

// Err reports how the connection ended: nil while it is open, else a
// *CloseError: the peer's close code after a close handshake, the code we
// failed the connection with (Local), or 1006 when TCP ended without a
// close frame: Local when this end cut it (a write that failed or timed
// out, a close handshake that timed out, CloseNow), not Local when the
// peer went away.
func (c *Conn) Err() error {
	if ce := c.closeErr.Load(); ce != nil {
		return ce
	}
	if c.isDone() {
		if ce := c.closeErr.Load(); ce != nil {
			return ce
		}
		return &CloseError{Code: CloseAbnormal, Err: net.ErrClosed}
	}
	return nil
}

// isDone reports whether the TCP connection has been closed.
func (c *Conn) isDone() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// closeNet closes the TCP connection once.
func (c *Conn) closeNet() {
	c.closeOnce.Do(func() {
		if cl := c.closing.Load(); cl != nil {
			cl.timer.Stop()
		}
		c.nc.Close()
		close(c.done)
		c.doneMu.Lock()
		c.ended = true
		f := c.afterDone
		c.afterDone = nil
		c.doneMu.Unlock()
		if f != nil {
			go f()
		}
	})
}

// abort ends the connection at once, without a close handshake or the
// rest of one: ce is how it ended, unless that was already decided.
// Closing the socket also ends any read or write blocked on it.
func (c *Conn) abort(ce *CloseError) {
	c.closeErr.CompareAndSwap(nil, ce)
	c.closeNet()
}

// setAfterDone: see Plumbing.AfterDone.
func (c *Conn) setAfterDone(f func()) {
	c.doneMu.Lock()
	if c.ended {
		c.doneMu.Unlock()
		go f()
		return
	}
	c.afterDone = f
	c.doneMu.Unlock()
}

// CloseNow closes the TCP connection at once, without a close handshake.
// Use it to abort; Close and CloseWith close gracefully. Err then reports
// 1006 (Local, ErrClosedLocally) unless the connection had ended before.
func (c *Conn) CloseNow() error {
	if c.closeErr.Load() != nil {
		// How it ended is decided (abort would keep it): just make sure
		// TCP is closed, without allocating the error that would lose.
		c.closeNet()
		return nil
	}
	c.abort(&CloseError{Code: CloseAbnormal, Local: true, Err: ErrClosedLocally})
	return nil
}

// Close runs the close handshake with status 1000 (normal closure), or,
// when the peer's close frame is waiting for its answer (SetCloseHandler),
// with the peer's code. See CloseWith.
func (c *Conn) Close() error {
	if pc := c.peerClose.Load(); pc != nil && !c.closeSent.Load() {
		return c.CloseWith(echoCode(pc.Code), pc.Reason)
	}
	return c.CloseWith(CloseNormal, "")
}

// echoCode is the code of the close frame that answers one with code
// (RFC 6455 §5.5.1: "the endpoint typically echos the status code it
// received"): a close frame without a body is answered without one.
func echoCode(code CloseCode) CloseCode {
	if code == CloseNoStatus {
		return 0
	}
	return code
}

// CloseWith runs the close handshake of RFC 6455 §7.1.2: it sends a close
// frame with code and reason (unless one was sent already), waits for the
// peer's close frame, then closes the TCP connection (§7.1.1: a server at
// once, a client after the server). The whole handshake takes at most
// CloseTimeout; then the TCP connection is closed regardless. Data
// messages that arrive meanwhile are discarded. If another goroutine is
// reading, that reader receives the peer's close frame and returns a
// *CloseError, and CloseWith waits for it. A zero code sends a close frame
// with no body.
//
// It returns nil when the close handshake completed (a close frame went
// each way, in either order), and otherwise how the connection ended, as
// Err reports it: 1006 with ErrCloseTimeout when the peer never answered,
// 1006 with the write error when our close frame could not be sent, or
// the code this end failed the connection with before.
func (c *Conn) CloseWith(code CloseCode, reason string) error {
	c.WriteClose(code, reason)
	if c.rmu.TryLock() {
		// No reader is active: read the peer's answer ourselves.
		switch {
		case c.readErr == nil && !c.isDone():
			// No deadline is needed: the close timer (beginClose) closes
			// the socket under the read if the answer does not come.
			c.closeErr.CompareAndSwap(nil, c.drainUntilClose())
			// Later reads report how the connection ended instead of
			// parsing what is left in the buffer.
			c.readErr = c.closeErr.Load()
		case c.role == RoleClient && c.peerClose.Load() != nil && !c.isDone():
			// The peer's close came first (SetCloseHandler) and we just
			// answered: a client waits for the server to close TCP.
			c.awaitTCPClose()
		}
		if ce := c.closeErr.Load(); ce == nil && c.readErr != nil {
			if rce, ok := c.readErr.(*CloseError); ok {
				c.closeErr.CompareAndSwap(nil, rce)
			}
		}
		c.closeNet()
		c.r, c.w = 0, 0 // the rest is discarded (§7.1.1)
		c.releaseRead()
		c.rmu.Unlock()
	} else {
		// The reader gets the peer's close frame and ends the connection,
		// or the close timer does (beginClose).
		<-c.done
	}
	return c.closeResult()
}

// closeResult is what CloseWith returns once the connection has ended:
// nil when the close handshake completed, else how it ended.
func (c *Conn) closeResult() error {
	ce := c.closeErr.Load()
	if ce == nil {
		return c.Err()
	}
	if !ce.Local && ce.Code != CloseAbnormal && c.closeSent.Load() && c.peerClose.Load() != nil {
		return nil
	}
	return ce
}

// closing is the state of a close handshake under way.
type closing struct {
	timer  *time.Timer
	forced atomic.Bool // the timer answered a deferred close itself
}

// beginClose starts the close handshake's clock, once (RFC 6455 §7.1.1:
// an endpoint may close TCP itself "after a reasonable amount of time"):
// CloseTimeout from now the TCP connection is closed, whatever the peer
// does and whatever write is still in progress. Closing the socket is what
// bounds every wait of the handshake in one place: a close frame that
// never comes back, a close frame that cannot be written to a peer that
// does not read, a writer ahead of it holding the write lock, and a
// reader failing the connection behind such a writer.
func (c *Conn) beginClose() {
	if c.closing.Load() != nil || c.isDone() {
		return
	}
	t := time.AfterFunc(c.closeTimeout, c.closeTimedOut)
	if !c.closing.CompareAndSwap(nil, &closing{timer: t}) {
		t.Stop()
	}
}

// closeTimedOut runs when CloseTimeout has passed since the close
// handshake began.
func (c *Conn) closeTimedOut() {
	pc := c.peerClose.Load()
	if pc == nil {
		// The peer's close frame never came (§7.1.5: 1006).
		c.abort(&CloseError{Code: CloseAbnormal, Local: true, Err: ErrCloseTimeout})
		return
	}
	cl := c.closing.Load()
	if !c.closeSent.Load() && cl.forced.CompareAndSwap(false, true) {
		// A close handler, and the application did not answer in time:
		// answer for it (§5.5.1: the endpoint MUST send a close frame in
		// response), within one more CloseTimeout, then close TCP.
		cl.timer.Reset(c.closeTimeout)
		go func() {
			c.WriteClose(echoCode(pc.Code), pc.Reason)
			c.abort(pc)
		}()
		return
	}
	// Both close frames went (or ours could not): only the TCP close is
	// missing, and the peer's code is how the connection ended.
	c.abort(pc)
}

// fail fails the WebSocket connection (RFC 6455 §7.1.7) because of a
// protocol violation detected by the reader: it sends a close frame with the
// error's code and closes the connection with lingerClose. It returns the
// sticky read error.
func (c *Conn) fail(pe *ProtocolError) error {
	ce := &CloseError{Code: pe.Code, Reason: pe.Reason, Local: true, Err: pe}
	c.readErr = ce
	c.closeErr.CompareAndSwap(nil, ce)
	c.WriteClose(pe.Code, pe.Reason)
	c.lingerClose()
	c.progressEnd()
	c.releaseRead()
	c.releaseDeflate()
	return ce
}

// lingerClose closes the connection after a failure. The stream can no
// longer be parsed (a peer may even send its close reply in the middle of
// the frame we refused), so instead of waiting for a close frame it shuts
// down the sending side (a FIN after our close frame: §7.1.1, the server
// closes the TCP connection first), then discards whatever arrives until
// the peer closes its side or a short timeout passes, and closes. Reading
// on prevents the TCP reset that closing with unread data would cause,
// which could destroy our close frame before the peer reads it.
func (c *Conn) lingerClose() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok && !c.isDone() && cw.CloseWrite() == nil {
		c.nc.SetReadDeadline(time.Now().Add(min(c.closeTimeout, lingerTimeout)))
		c.r, c.w = 0, 0
		c.acquireRead(0)
		for {
			if _, err := c.nc.Read(c.rbuf); err != nil {
				break
			}
		}
		c.r, c.w = 0, 0
	}
	c.closeNet()
}

// lingerTimeout bounds lingerClose.
const lingerTimeout = 2 * time.Second

// awaitTCPClose is a client's last step of the close handshake: after
// both close frames, it waits for the server to close the TCP connection
// (RFC 6455 §7.1.1), reading and discarding, within CloseTimeout.
func (c *Conn) awaitTCPClose() {
	c.nc.SetReadDeadline(time.Now().Add(c.closeTimeout))
	for {
		if _, err := c.nc.Read(c.ctrl[:]); err != nil {
			return
		}
	}
}

// drainUntilClose reads and discards frames until the peer's close frame,
// an error, or the read deadline set by the caller. It returns the error
// later reads report: the peer's close (§7.1.5), or 1006 if none came. A
// client that got the close then waits for the server to close TCP first
// (RFC 6455 §7.1.1), as readClose does.
func (c *Conn) drainUntilClose() *CloseError {
	for {
		if c.remaining > 0 {
			if err := c.skip(c.remaining); err != nil {
				return &CloseError{Code: CloseAbnormal, Err: err}
			}
		}
		h, err := c.readHeaderRaw()
		if err != nil {
			return &CloseError{Code: CloseAbnormal, Err: err}
		}
		c.hdr, c.remaining, c.maskPos = h, h.Length, 0
		if h.Opcode != OpClose || h.Length > MaxControlPayload {
			continue
		}
		// readHeaderRaw buffered the control payload.
		p := c.ctrl[:h.Length]
		c.r += copy(p, c.rbuf[c.r:])
		c.remaining = 0
		if h.Masked {
			Mask(h.Mask, 0, p)
		}
		ce := &CloseError{}
		if code, reason, err := ParseClosePayload(p); err != nil {
			ce.Code, ce.Local, ce.Err = CloseStatus(err), true, err
		} else {
			ce.Code, ce.Reason = code, string(reason)
			c.peerClose.CompareAndSwap(nil, ce)
		}
		if c.role == RoleClient {
			c.awaitTCPClose()
		}
		return ce
	}
}

// terminate ends the connection after an I/O error or after the close
// handshake completed, and records the sticky error.
func (c *Conn) terminate(ce *CloseError) error {
	c.readErr = ce
	c.closeErr.CompareAndSwap(nil, ce)
	c.closeNet()
	c.progressEnd()
	c.releaseRead()
	c.releaseDeflate()
	return ce
}
