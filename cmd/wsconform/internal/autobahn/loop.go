package autobahn

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ws6455/ws6455/frame"
)

// The fuzzer's endpoint runs like Autobahn on Twisted: one goroutine (the
// loop) owns all protocol and case state and handles one event at a time:
// a received frame, a fired timer, the end of the TCP connection. Reading
// and writing happen on two helper goroutines so that the loop never blocks
// on the network: a case can queue a 16 MiB frame and still see its timers
// fire and the other side's close frame arrive, as it would with Twisted's
// non-blocking transport.

// queue is the loop's unbounded event queue; posting never blocks, so the
// reader keeps draining the socket whatever the loop is doing.
type queue struct {
	mu    sync.Mutex
	items []any
	wake  chan struct{}
}

func newQueue() *queue { return &queue{wake: make(chan struct{}, 1)} }

func (q *queue) post(ev any) {
	q.mu.Lock()
	q.items = append(q.items, ev)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take waits for events and returns all that are queued.
func (q *queue) take() []any {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			items := q.items
			q.items = nil
			q.mu.Unlock()
			return items
		}
		q.mu.Unlock()
		<-q.wake
	}
}

// Events handled by the loop.
type (
	evFrame struct {
		h         frame.Header
		payload   []byte
		violation string // set when the header broke a length rule of RFC 6455 §5.2
		fatal     bool   // the header made the rest of the stream unparsable
	}
	evOctets struct {
		n    int
		head []byte // the first bytes, for the wire log
	}
	evLost  struct{ err error }
	evTimer struct {
		t  *timer
		fn func()
	}
	evWatchdog struct{}
)

// timer is a cancelable callback run on the loop.
type timer struct {
	t         *time.Timer
	cancelled bool
}

// cancel stops t; it must be called on the loop. A nil timer is fine.
func (t *timer) cancel() {
	if t != nil {
		t.cancelled = true
		t.t.Stop()
	}
}

// writeItem is one write of the writer goroutine. queued marks writes that
// Autobahn puts on its send queue (chopped or synchronous writes, and any
// write issued while that queue is not empty): each goes out in its own
// Write call, and they are skipped once the connection is closed. Direct
// writes issued during one loop event are coalesced into one item, as
// Twisted's transport buffer coalesces them.
type writeItem struct {
	data      []byte
	queued    bool
	closeConn bool // close the connection once everything before it is written
	stop      bool // the writer goroutine ends
}

type writer struct {
	nc       net.Conn
	mu       sync.Mutex
	cond     *sync.Cond
	items    []writeItem
	queued   atomic.Int32 // queued items not yet written or skipped
	closed   atomic.Bool  // the endpoint is in STATE_CLOSED: skip queued items
	done     chan struct{}
	flushCap time.Duration
	// stream: nc is an HTTP/2 stream (RFC 8441), where a failed write
	// does not mean that the connection is gone (see run).
	stream bool
}

func newWriter(nc net.Conn, stream bool) *writer {
	w := &writer{nc: nc, done: make(chan struct{}), flushCap: 5 * time.Second, stream: stream}
	w.cond = sync.NewCond(&w.mu)
	go w.run()
	return w
}

func (w *writer) push(it writeItem) {
	if it.queued {
		w.queued.Add(1)
	}
	w.mu.Lock()
	w.items = append(w.items, it)
	w.mu.Unlock()
	w.cond.Signal()
}

func (w *writer) run() {
	defer close(w.done)
	broken := false
	for {
		w.mu.Lock()
		for len(w.items) == 0 {
			w.cond.Wait()
		}
		it := w.items[0]
		w.items[0] = writeItem{}
		w.items = w.items[1:]
		w.mu.Unlock()

		switch {
		case it.stop:
			return
		case it.closeConn:
			w.nc.Close()
			broken = true
			continue
		}
		if it.queued {
			w.queued.Add(-1)
			if w.closed.Load() {
				continue
			}
		}
		if broken {
			continue
		}
		if _, err := w.nc.Write(it.data); err != nil {
			broken = true
			if w.stream {
				// On an HTTP/2 stream a write fails at once when the
				// server has finished its response and reset the
				// stream to stop our sending (RST_STREAM NO_ERROR,
				// RFC 9113 §8.1, which net/http's server sends when a
				// handler returns before reading the whole request
				// body). What the server sent before stays readable,
				// up to its END_STREAM -- the TCP close of RFC 8441 §5
				// -- or the reset. Closing here would throw that away,
				// an echo that arrived just before a violation's close
				// frame among it. So the stream is left to the reader,
				// which ends the case at its end (bounded by the
				// case's own timeouts, as a TCP read is).
				continue
			}
			// Twisted loses the connection on a write error; the reader
			// sees the closed socket and reports the loss to the loop.
			// (Over TCP the error comes from a reset that arrived after
			// the peer's data, which the reader has read by then.)
			w.nc.Close()
		}
	}
}

// closeAfterFlush writes what is already pushed (queued items are skipped,
// the endpoint being closed), then closes the connection: Twisted's
// loseConnection. The flush is bounded so that a peer that stops reading
// cannot hold the case forever.
func (w *writer) closeAfterFlush() {
	w.closed.Store(true)
	w.nc.SetWriteDeadline(time.Now().Add(w.flushCap))
	w.push(writeItem{closeConn: true})
}

// abort closes the connection at once, discarding unwritten data:
// Twisted's abortConnection.
func (w *writer) abort() {
	w.closed.Store(true)
	w.nc.Close()
}

func (w *writer) stop() {
	w.push(writeItem{stop: true})
	<-w.done
}
