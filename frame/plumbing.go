package frame

// Plumbing is what event loops and test tools need of a Conn, beyond RFC
// 6455: package server's event mode reads through TryReadMessage and
// registers the socket with epoll through RawControl; the conformance
// runner's tests send invalid frames through WriteFrame. Applications do
// not need it. It is kept off Conn's method set so that a reader of
// go doc frame.Conn sees the protocol and nothing else.
//
// (The project's style would put this behind an internal/ package shared
// by frame and server, the way net/http keeps its helpers off its API.
// Go lets an internal/ directory be imported only from below its parent,
// and the only parent of both frame/ and server/ is the module root, whose
// layout is fixed without one; so this is an exported type, named for what
// it is.)
type Plumbing struct{ c *Conn }

// PlumbingOf returns c's plumbing.
func PlumbingOf(c *Conn) Plumbing { return Plumbing{c} }

// CanTryRead reports whether TryReadMessage can work on this Conn: its
// net.Conn exposes a file descriptor (syscall.Conn) on a Unix system. A
// Conn over TLS or a net.Pipe cannot, because readiness of the socket does
// not tell whether a message is there.
func (p Plumbing) CanTryRead() bool { return p.c.canTryRead() }

// TryReadMessage is ReadMessage for event loops. If bytes of a next
// message are buffered, or may be pending in the socket, it reads the
// message like ReadMessage; once a message has begun it reads all of it,
// blocking as ReadMessage does until the rest arrives (bounded by the
// progress rule, Config.MessageTimeout). If nothing has arrived it returns
// ErrWouldBlock at once, without holding a buffer.
//
// readable tells TryReadMessage that the socket became readable since the
// previous ErrWouldBlock (the event loop saw a readiness event). Without it,
// TryReadMessage tries the socket only if its previous read filled the
// buffer (the socket may hold more); after a read that did not fill the
// buffer everything that had arrived was consumed, so it returns
// ErrWouldBlock without a system call. This is what lets an edge-triggered
// event loop (EPOLLET) serve a request-response exchange with one read and
// one write per message and no read that fails with EAGAIN: any byte that
// arrives after that short read makes a new readiness event.
//
// When it returns a message and more input is already buffered, writes
// are held: small frames written before the next call (by anyone), up to
// 1 KiB in all, are kept and sent in one system call as soon as the
// buffered input is used up, before TryReadMessage reads the socket or
// returns ErrWouldBlock, or at Flush. So the small echoes of a burst of
// pipelined requests leave together.
// The caller must therefore come back (or call Flush) promptly.
//
// TryReadMessage needs CanTryRead; on other Conns it is ReadMessage.
func (p Plumbing) TryReadMessage(dst []byte, readable bool) (Opcode, []byte, error) {
	return p.c.tryReadMessage(dst, readable)
}

// HasInput reports whether TryReadMessage, called without a new readiness
// event (readable false), would find input: bytes are buffered, or the
// last read filled the buffer so the socket may hold more. An event loop
// that ends a connection's turn early asks it to know whether the
// connection needs another turn.
func (p Plumbing) HasInput() bool { return p.c.hasInput() }

// Flush sends the frames that writes held back (see TryReadMessage) and
// stops holding. A Conn read only with ReadMessage never holds.
func (p Plumbing) Flush() error { return p.c.flush() }

// RawControl calls f with the socket's file descriptor, for event loops
// that register it with the kernel (epoll). f must not read, write or
// close it; while f runs the descriptor cannot be closed and reused.
func (p Plumbing) RawControl(f func(fd uintptr)) error { return p.c.rawControl(f) }

// AfterDone arranges for f to run in a goroutine of its own once the
// connection has ended (when Done is closed), or at once if it has; a
// later call replaces an f that has not run. An event loop uses it to learn
// that a connection it does not read from was closed: by a write that
// failed, a close timeout, or another goroutine.
func (p Plumbing) AfterDone(f func()) { p.c.setAfterDone(f) }

// Activity returns a counter of the bytes read from the peer so far. A
// keepalive loop compares two samples to find connections that were idle
// in between, without a timer or a clock read per frame.
func (p Plumbing) Activity() uint64 { return p.c.bytesRead() }

// WriteFrame writes one frame exactly as given, with no checks: any
// opcode, RSV bits, FIN, and the masking key in h (the payload is masked in
// a copy when h.Masked is set). It is for test tools that must send
// invalid traffic; applications use Conn's message methods.
func (p Plumbing) WriteFrame(h Header, payload []byte) error { return p.c.writeRawFrame(h, payload) }
