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
	DefaultCompressMinSize = 64 // messages shorter than this are sent uncompressed
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

	// CloseTimeout bounds how long the close handshake waits for the peer
	// (RFC 6455 §7.1.1, §7.1.2). 0 means DefaultCloseTimeout.
	CloseTimeout time.Duration

	// WriteTimeout, if positive, bounds each frame write: a peer that stops
	// reading cannot block a writer longer than this. The deadline is
	// refreshed only when half of it has passed, so it costs a clock read
	// per frame rather than a timer update. The error is sticky.
	WriteTimeout time.Duration

	// Deflate holds the negotiated permessage-deflate parameters (RFC
	// 7692); nil if the extension was not negotiated.
	Deflate *DeflateParams
	// CompressionLevel is the DEFLATE effort for outgoing messages, 1
	// (fastest) to 9 (smallest); 0 means 1.
	CompressionLevel int
	// CompressMinSize: outgoing messages shorter than this are sent
	// uncompressed even when the extension is on (RFC 7692 §6 lets a sender
	// choose per message). 0 means DefaultCompressMinSize; -1 compresses all.
	CompressMinSize int

	// OnPing and OnPong, if set, are called from the reading goroutine with
	// the payload of each ping or pong received; the payload is valid only
	// during the call. Pongs are sent automatically whether or not OnPing
	// is set (RFC 6455 §5.5.2).
	OnPing, OnPong func(payload []byte)

	// Trace, if set, is called for every frame read or written, with the
	// unmasked payload when it is at hand in one piece (control frames,
	// and data frames of ReadMessage and whole-message writes) and nil
	// otherwise. It is for teaching and debugging tools; it costs nothing
	// when nil.
	Trace func(dir Direction, h Header, payload []byte)
}

// Errors returned by Conn.
var (
	// ErrCloseSent is returned by writes after a close frame was sent
	// (RFC 6455 §5.5.1: "The application MUST NOT send any more data
	// frames after sending a Close frame").
	ErrCloseSent = errors.New("frame: close frame already sent")
	// ErrMessageTooBig reports an outgoing control frame payload over 125
	// bytes.
	ErrControlTooLong = errors.New("frame: control frame payload longer than 125 bytes")
	// ErrBadOpcode is returned when a data write names a control opcode or
	// a control write names a data opcode.
	ErrBadOpcode = errors.New("frame: opcode not allowed here")
)

// Conn is a WebSocket connection after the opening handshake: it reads and
// writes messages as frames over a net.Conn (RFC 6455 §5-§8) for either
// role. It answers pings, runs the close handshake, fails the connection
// with the right status code on every protocol violation, and enforces the
// configured limits.
//
// Concurrency: one goroutine at a time may read (ReadMessage, NextReader
// and the io.Reader it returns). Writes (WriteMessage, WriteFragmented,
// NextWriter, Ping, Pong, WriteClose, WriteFrame) are safe from any number
// of goroutines: data messages are written whole, one after another, and
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
	wdeadline          time.Time // write deadline in force (under wmu)
	cfg                *Config   // for hooks and compression settings

	activity atomic.Uint64 // bytes read; see Activity

	// Reader state, owned by the reading goroutine (rmu).
	rmu         sync.Mutex
	rbufp       *[]byte
	rbuf        []byte
	r, w        int
	mayHaveMore bool // the last read filled the buffer: the socket may hold more
	waitArmed   bool // for waitReadable's callback
	waitFn      func(uintptr) bool
	peek        [1]byte
	tryFn       func(uintptr) bool // TryReadMessage's non-blocking read
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

	closeOnce sync.Once
	done      chan struct{}
	closeErr  atomic.Pointer[CloseError]
	doneMu    sync.Mutex // guards ended and afterDone
	ended     bool
	afterDone func()
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
	cc := cfg
	c.cfg = &cc
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
	if sc, ok := nc.(syscall.Conn); ok && canWaitRaw {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw = raw
			c.waitFn = c.waitCallback
			c.tryFn = c.tryCallback
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

// NetConn returns the underlying connection. Reading from or writing to it
// directly corrupts the stream; setting deadlines on it is fine.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Role returns the role the Conn was created with.
func (c *Conn) Role() Role { return c.role }

// Compressed reports whether permessage-deflate is in use.
func (c *Conn) Compressed() bool { return c.cfg.Deflate != nil }

// Done returns a channel that is closed when the TCP connection is closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Activity returns a counter of the bytes read from the peer so far. A
// keepalive loop compares two samples to find connections that were idle
// in between, without a timer or a clock read per frame.
func (c *Conn) Activity() uint64 { return c.activity.Load() }

// Err reports how the connection ended: nil while it is open, else a
// *CloseError: the peer's close code after a close handshake, the code we
// failed the connection with (Local), or 1006 when TCP ended without a
// close frame or was closed with CloseNow.
func (c *Conn) Err() error {
	if ce := c.closeErr.Load(); ce != nil {
		return ce
	}
	select {
	case <-c.done:
		if ce := c.closeErr.Load(); ce != nil {
			return ce
		}
		return &CloseError{Code: CloseAbnormal, Err: net.ErrClosed}
	default:
		return nil
	}
}

// closeNet closes the TCP connection once.
func (c *Conn) closeNet() {
	c.closeOnce.Do(func() {
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

// AfterDone arranges for f to run in a goroutine of its own once the
// connection has ended (when Done is closed), or at once if it has; a
// later call replaces an f that has not run. An event loop uses it to learn
// that a connection it does not read from was closed: by a write that
// failed, a close timeout, or another goroutine.
func (c *Conn) AfterDone(f func()) {
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
// Use it to abort; Close and CloseWith close gracefully.
func (c *Conn) CloseNow() error {
	c.closeNet()
	return nil
}

// Close runs the close handshake with status 1000 (normal closure) and then
// closes the TCP connection. See CloseWith.
func (c *Conn) Close() error { return c.CloseWith(CloseNormal, "") }

// CloseWith starts the close handshake of RFC 6455 §7.1.2: it sends a close
// frame with code and reason, waits up to the close timeout for the peer's
// close frame, then closes the TCP connection (§7.1.1). Data messages that
// arrive meanwhile are discarded. If another goroutine is reading, that
// reader receives the peer's close frame and returns a *CloseError, and
// CloseWith waits for it. A zero code sends a close frame with no body.
func (c *Conn) CloseWith(code CloseCode, reason string) error {
	werr := c.WriteClose(code, reason)
	if c.rmu.TryLock() {
		// No reader is active: read the peer's answer ourselves.
		if c.readErr == nil {
			ce := &CloseError{Code: CloseAbnormal, Err: werr}
			if werr == nil {
				c.nc.SetReadDeadline(time.Now().Add(c.closeTimeout))
				ce = c.drainUntilClose()
			}
			// Later reads report how the connection ended instead of
			// parsing what is left in the buffer.
			c.readErr = ce
			c.closeErr.CompareAndSwap(nil, ce)
		}
		c.closeNet()
		c.r, c.w = 0, 0 // the rest is discarded (§7.1.1)
		c.releaseRead()
		c.rmu.Unlock()
		return werr
	}
	select {
	case <-c.done:
	case <-time.After(c.closeTimeout + 100*time.Millisecond):
		c.closeNet()
	}
	return werr
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
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
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
		}
		if c.role == RoleClient {
			for {
				if _, err := c.nc.Read(c.ctrl[:]); err != nil {
					break
				}
			}
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
	c.releaseRead()
	c.releaseDeflate()
	return ce
}
