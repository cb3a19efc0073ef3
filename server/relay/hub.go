package relay

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ws6455/ws6455/frame"
	"github.com/ws6455/ws6455/handshake"
)

// Defaults for the zero values of Hub's fields.
const (
	DefaultQueueSize      = 256
	DefaultQueueBytes     = 1 << 20
	DefaultMaxPending     = 256
	DefaultMaxMessageSize = 64 << 10
	DefaultStuckTimeout   = 10 * time.Second
)

// Error codes of the relay protocol, in the "code" field of an error
// envelope (see the package doc, "Error codes").
const (
	CodeBadRequest       = "bad_request"
	CodeTooLarge         = "too_large"
	CodeUnknownRecipient = "unknown_recipient"
	CodeRecipientSlow    = "recipient_slow"
	CodeRecipientGone    = "recipient_gone"
)

// Hub is a server.Handler that relays messages between the connections
// it serves, by the protocol of the package doc. The zero value is ready
// to use; a zero field means its default.
//
// Set the fields before the hub serves a connection and do not change
// them afterwards. A Hub is safe for any number of connections: routing a
// message looks the recipient up in a concurrent map and locks only the
// recipient's queue. An idle Hub (no clients) holds no goroutine.
type Hub struct {
	// QueueSize is the number of messages (and presence events) that may
	// wait to be written to one connection. 0 means DefaultQueueSize.
	QueueSize int
	// QueueBytes bounds the bytes of those messages; a message is always
	// accepted into an empty queue. 0 means DefaultQueueBytes.
	QueueBytes int
	// MaxPending is the number of requests from one connection whose
	// answers are not yet written to it. 0 means DefaultMaxPending.
	MaxPending int
	// MaxMessageSize is the largest request accepted, in bytes of JSON
	// text; a longer one is answered too_large. 0 means
	// DefaultMaxMessageSize.
	MaxMessageSize int
	// StuckTimeout is how long a write to a connection may stay blocked
	// before the connection is closed with 1008. It is checked every
	// quarter of it. 0 means DefaultStuckTimeout.
	StuckTimeout time.Duration
	// Logger receives joins and leaves (debug) and stuck clients (info);
	// nil means slog.Default(). Nothing is logged per message.
	Logger *slog.Logger

	clients  sync.Map // id string → *client
	watchers sync.Map // *client → struct{}
	nclients atomic.Int64
	node     *Node // set by JoinNATS: other clients are on other nodes

	mu        sync.Mutex // janitorOn; taken once per connect, not per message
	janitorOn bool
	idle      chan struct{} // capacity 1: the last client left
}

// NumClients returns the number of connected clients.
func (h *Hub) NumClients() int { return int(h.nclients.Load()) }

func (h *Hub) queueSize() int  { return intOr(h.QueueSize, DefaultQueueSize) }
func (h *Hub) queueBytes() int { return intOr(h.QueueBytes, DefaultQueueBytes) }
func (h *Hub) maxPending() int { return intOr(h.MaxPending, DefaultMaxPending) }
func (h *Hub) maxMessage() int { return intOr(h.MaxMessageSize, DefaultMaxMessageSize) }
func (h *Hub) stuckTimeout() time.Duration {
	if h.StuckTimeout <= 0 {
		return DefaultStuckTimeout
	}
	return h.StuckTimeout
}

func (h *Hub) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

func intOr(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// newID returns 128 bits from crypto/rand in unpadded base64url.
func newID() string {
	var b [16]byte
	rand.Read(b[:]) // crypto/rand.Read never returns an error (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// epoch makes monoNow monotonic (time.Since reads the monotonic clock).
var epoch = time.Now()

// monoNow returns a positive monotonic timestamp in nanoseconds.
func monoNow() int64 { return int64(time.Since(epoch)) + 1 }

// ServeWS runs one client: it registers the connection under a fresh id,
// sends the welcome, then reads requests until the connection ends, and
// returns after the client's writer goroutine has ended.
func (h *Hub) ServeWS(c *frame.Conn, _ *handshake.Result) {
	// The client's close frame is answered after what is queued for it
	// has been written (see finish).
	c.SetCloseHandler(func(frame.CloseCode, string) {})
	cl := &client{
		hub:   h,
		c:     c,
		slots: make(chan struct{}, h.maxPending()),
		wake:  make(chan struct{}, 1),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	for {
		cl.id = newID()
		// The welcome is queued before anyone can find the id, so it is
		// the first thing the client reads.
		cl.replies = append(cl.replies[:0], outItem{data: appendWelcome(nil, cl.id, h.maxMessage())})
		if _, taken := h.clients.LoadOrStore(cl.id, cl); !taken {
			break
		}
	}
	h.join()
	if h.node != nil {
		h.node.joined(cl) // reachable from the other nodes too
	}
	log := h.logger()
	log.Debug("relay: client joined", "id", cl.id, "remote", c.NetConn().RemoteAddr())
	if hook := hookJoining.Load(); hook != nil {
		(*hook)(cl)
	}
	// Announce the join before starting the writer: only the writer (a
	// failed write), the janitor (a blocked write) and the reader can
	// detach cl, so the join is queued for every watcher before cl's
	// leave can be. (Started first, a writer whose welcome failed could
	// announce the leave ahead of the join, and a watcher would keep a
	// client that is gone.)
	h.announce(cl, appendPresence(nil, "join", cl.id))
	go cl.writeLoop()

	err := cl.readLoop()

	var ce *frame.CloseError
	if errors.As(err, &ce) && !ce.Local && ce.Code != frame.CloseAbnormal && !cl.kicked.Load() {
		cl.finish()
	}
	cl.detach()
	if cl.kicked.Load() {
		// Close with 1008 before returning, or the server would close
		// with 1000 first.
		c.CloseWith(frame.ClosePolicyViolation, kickReason)
	}
	<-cl.done
	log.Debug("relay: client left", "id", cl.id, "err", err)
}

// join counts a new client and makes sure the janitor runs.
func (h *Hub) join() {
	h.mu.Lock()
	h.nclients.Add(1)
	if !h.janitorOn {
		h.janitorOn = true
		if h.idle == nil {
			h.idle = make(chan struct{}, 1)
		}
		go h.janitor(h.idle)
	}
	h.mu.Unlock()
}

// leave uncounts a client; the last one to leave stops the janitor.
func (h *Hub) leave() {
	if h.nclients.Add(-1) == 0 {
		select {
		case h.idle <- struct{}{}:
		default:
		}
	}
}

// janitor kicks stuck clients, those with a write blocked for
// StuckTimeout. It looks every quarter of StuckTimeout, so a stuck client
// is closed between 1 and 1.25 StuckTimeouts after its write began. It
// runs only while clients are connected.
func (h *Hub) janitor(idle <-chan struct{}) {
	timeout := h.stuckTimeout()
	t := time.NewTicker(max(timeout/4, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-idle:
		}
		h.mu.Lock()
		if h.nclients.Load() == 0 {
			h.janitorOn = false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		now := monoNow()
		h.clients.Range(func(_, v any) bool {
			cl := v.(*client)
			if ws := cl.writeStart.Load(); ws != 0 && time.Duration(now-ws) >= timeout {
				cl.kick("a write to it has been blocked for " + time.Duration(now-ws).Round(time.Millisecond).String())
			}
			return true
		})
	}
}

// announce queues a presence event for every watcher but cl (cl is nil
// for the clients of other nodes).
func (h *Hub) announce(cl *client, ev []byte) {
	h.watchers.Range(func(k, _ any) bool {
		if w := k.(*client); w != cl {
			w.enqueue(outItem{data: ev}, true)
		}
		return true
	})
}

// online returns the ids of the connected clients other than cl, on
// every node.
func (h *Hub) online(cl *client) []string {
	ids := make([]string, 0, h.nclients.Load())
	h.clients.Range(func(k, v any) bool {
		if v.(*client) != cl {
			ids = append(ids, k.(string))
		}
		return true
	})
	if h.node != nil {
		ids = h.node.remoteIDs(ids)
	}
	return ids
}

// outItem is one envelope waiting to be written to a connection.
type outItem struct {
	data []byte
	// For a relayed message: the sender, who is told the outcome, and the
	// sender's ref. nil for answers and presence events.
	from *client
	ref  []byte
	// slot: writing this answer frees one of the connection's MaxPending
	// request slots.
	slot bool
	// list: the answer to a list request, with ref; the writer takes the
	// online list when it writes it (data is nil).
	list bool
}

// client is one connection in the hub.
type client struct {
	hub *Hub
	c   *frame.Conn
	id  string

	slots chan struct{} // one per request whose answer is not yet written
	wake  chan struct{} // capacity 1: work for the writer
	quit  chan struct{} // closed by detach
	done  chan struct{} // closed when the writer goroutine ends

	mu       sync.Mutex
	replies  []outItem // answers and the welcome: never refused
	msgs     []outItem // relayed messages and presence events: bounded
	qCount   int       // messages queued or being written
	qBytes   int       // their bytes
	resync   bool      // a presence event was refused: send a fresh list
	draining bool      // the client closed: nothing new is queued; the writer ends when the queues are empty
	closed   bool      // detached: nothing more is queued

	// writeStart is when the write in progress began (monoNow), 0 between
	// writes; the janitor reads it.
	writeStart atomic.Int64

	watching   atomic.Bool
	gone       atomic.Bool // detached; the writer stops writing messages
	kicked     atomic.Bool
	detachOnce sync.Once
	leaveOnce  sync.Once
}

var (
	errFull   = errors.New("relay: queue full")
	errClosed = errors.New("relay: client gone")
)

// signal wakes the writer.
func (cl *client) signal() {
	select {
	case cl.wake <- struct{}{}:
	default:
	}
}

// enqueue offers a relayed message or presence event to the bounded queue.
// It returns errFull or errClosed when the item was not queued; a refused
// presence event sets the resync flag instead.
func (cl *client) enqueue(it outItem, presence bool) error {
	cl.mu.Lock()
	if cl.closed || cl.draining {
		cl.mu.Unlock()
		return errClosed
	}
	if cl.qCount >= cl.hub.queueSize() || (cl.qCount > 0 && cl.qBytes+len(it.data) > cl.hub.queueBytes()) {
		if presence {
			cl.resync = true
		}
		cl.mu.Unlock()
		return errFull
	}
	cl.msgs = append(cl.msgs, it)
	cl.qCount++
	cl.qBytes += len(it.data)
	cl.mu.Unlock()
	cl.signal()
	return nil
}

// reply queues an answer to one of cl's requests (the request holds a
// slot, so the answers are at most MaxPending).
func (cl *client) reply(data []byte) {
	cl.replyItem(outItem{data: data, slot: true})
}

// replyItem queues an answer given as an outItem (see outItem.list).
func (cl *client) replyItem(it outItem) {
	cl.mu.Lock()
	if cl.closed {
		cl.mu.Unlock()
		return
	}
	cl.replies = append(cl.replies, it)
	cl.mu.Unlock()
	cl.signal()
}

// kick closes a stuck connection with 1008 (RFC 6455 §7.4.1 "policy
// violation": the policy being that clients read what is sent to them).
func (cl *client) kick(why string) {
	if !cl.kicked.CompareAndSwap(false, true) {
		return
	}
	cl.hub.logger().Info("relay: closing a stuck client with 1008", "id", cl.id,
		"remote", cl.c.NetConn().RemoteAddr(), "why", why)
	cl.detach()
	// The close frame goes after the write in progress, if that ends;
	// the close handshake's timer (frame.Config.CloseTimeout) closes the
	// connection either way, which also ends that write.
	go cl.c.CloseWith(frame.ClosePolicyViolation, kickReason)
}

// kickReason is the close reason sent with 1008.
const kickReason = "relay: client does not read"

// kickAbandoned is logged when the write in progress on a kicked
// connection did not end before the close handshake's timer closed the
// connection: the client got no 1008 close frame.
const kickAbandoned = "relay: gave up the write to a stuck client; closing it without a close frame"

// finish runs when the client has sent its close frame. RFC 6455 §5.5.1
// lets an endpoint finish sending before it answers a close, and the
// client may be waiting for answers and messages already queued for it (a
// script that sends a request and closes when its input ends, say). So
// the client leaves the hub (nothing new is routed to it: senders get
// unknown_recipient, or recipient_gone if they found it a moment before),
// the writer delivers what was queued until then, acking each message to
// its sender, and only then does the server answer the close. The wait is
// bounded by the connection's CloseTimeout: after it the frame.Conn
// answers the close itself and closes TCP (frame.Conn.SetCloseHandler),
// and what was not written is answered recipient_gone.
func (cl *client) finish() {
	cl.mu.Lock()
	cl.draining = true
	cl.mu.Unlock()
	cl.leaveHub()
	cl.signal()
	select {
	case <-cl.done: // the writer emptied the queues and ended
	case <-cl.c.Done():
	}
}

// leaveHub makes cl unreachable, once: no more messages are routed to it
// and its watchers are told it left.
func (cl *client) leaveHub() {
	cl.leaveOnce.Do(func() {
		h := cl.hub
		h.clients.CompareAndDelete(cl.id, cl)
		h.watchers.Delete(cl)
		h.announce(cl, appendPresence(nil, "leave", cl.id))
		if h.node != nil {
			h.node.leftHub(cl)
		}
	})
}

// detach removes cl from the hub: no more messages are routed to it, those
// still queued are answered recipient_gone, watchers are told it left and
// the writer stops. It runs once: from the reader when the connection
// ends, from the writer when a write fails, or from kick.
func (cl *client) detach() {
	cl.detachOnce.Do(func() {
		h := cl.hub
		// gone first: handle re-checks it after adding a watcher.
		cl.gone.Store(true)
		h.clients.CompareAndDelete(cl.id, cl)
		h.watchers.Delete(cl)
		cl.mu.Lock()
		cl.closed = true
		pending := cl.msgs
		cl.msgs, cl.replies = nil, nil
		cl.mu.Unlock()
		close(cl.quit)
		cl.signal()
		cl.failAll(pending)
		h.leave()
		cl.leaveHub()
	})
}

// failAll tells the senders of relayed messages that they were not
// delivered to cl.
func (cl *client) failAll(items []outItem) {
	for i := range items {
		if from := items[i].from; from != nil {
			from.reply(appendError(nil, CodeRecipientGone, "recipient disconnected before the message was delivered", cl.id, items[i].ref))
		}
	}
}

// write writes one envelope, with its start time visible to the janitor.
func (cl *client) write(p []byte) error {
	cl.writeStart.Store(monoNow())
	err := cl.c.WriteMessage(frame.OpText, p)
	cl.writeStart.Store(0)
	return err
}

// writeLoop is the connection's only writer of envelopes: it drains the
// answers, then the queued messages, and reports each message's outcome
// to its sender.
func (cl *client) writeLoop() {
	defer close(cl.done)
	var replies, msgs []outItem
	for {
		cl.mu.Lock()
		if cl.closed {
			cl.mu.Unlock()
			return
		}
		// Take the queues, leaving the emptied batches of the last round.
		replies, cl.replies = cl.replies, replies[:0]
		msgs, cl.msgs = cl.msgs, msgs[:0]
		resync := cl.resync
		cl.resync = false
		draining := cl.draining
		cl.mu.Unlock()
		if len(replies) == 0 && len(msgs) == 0 && !resync {
			if draining {
				return // finish: all that was queued is written
			}
			<-cl.wake
			continue
		}
		if err := cl.writeBatch(replies, msgs, resync); err != nil {
			if err != errClosed && !errors.Is(err, frame.ErrCloseSent) {
				if cl.kicked.Load() {
					cl.hub.logger().Info(kickAbandoned, "id", cl.id, "err", err)
				}
				// A broken or timed-out connection: end the reader too.
				cl.c.CloseNow()
			}
			cl.detach()
			return
		}
		clear(replies)
		clear(msgs)
	}
}

// writeBatch writes answers first, then messages in queue order, then the
// presence list if one is due (after the events queued before it).
func (cl *client) writeBatch(replies, msgs []outItem, resync bool) error {
	for _, it := range replies {
		data := it.data
		if it.list {
			// Taken now, after this batch was taken from the queues:
			// every presence event written before it (earlier batches)
			// was queued before this moment, so after its change to the
			// clients map, and is reflected in the list; every event
			// queued after this batch was taken is written after it. The
			// events in msgs are written after it too, and a join or
			// leave the list already reflects changes nothing. (Taken in
			// handle, a list could be written after a leave it still
			// showed, and the watcher would keep the leaver forever.)
			data = appendOnline(nil, cl.hub.online(cl), it.ref, false)
		}
		err := cl.write(data)
		if it.slot {
			<-cl.slots
		}
		if err != nil {
			cl.failAll(msgs)
			return err
		}
	}
	for i := range msgs {
		it := &msgs[i]
		if cl.gone.Load() {
			cl.failAll(msgs[i:])
			return errClosed
		}
		err := cl.write(it.data)
		cl.mu.Lock()
		cl.qCount--
		cl.qBytes -= len(it.data)
		cl.mu.Unlock()
		if err != nil {
			cl.failAll(msgs[i:])
			return err
		}
		if it.from != nil {
			it.from.reply(appendAck(nil, cl.id, it.ref))
		}
	}
	if resync {
		if err := cl.write(appendOnline(nil, cl.hub.online(cl), nil, true)); err != nil {
			return err
		}
	}
	return nil
}

// acquireSlot waits until fewer than MaxPending of cl's requests are
// unanswered. (A client that does not read its answers blocks its writer,
// and the janitor kicks it.) It returns false when the connection is
// ending.
func (cl *client) acquireSlot() bool {
	select {
	case cl.slots <- struct{}{}:
		return true
	default:
	}
	select {
	case cl.slots <- struct{}{}:
		return true
	case <-cl.quit:
		return false
	case <-cl.c.Done():
		return false
	}
}

// Test hooks that stretch two race windows (race_test.go):
// hookListed runs in handle where the list was taken before;
// hookJoining runs in ServeWS before the join is announced.
var (
	hookListed  atomic.Pointer[func()]
	hookJoining atomic.Pointer[func(*client)]
)

var errKicked = errors.New("relay: connection closed as stuck")

// readLoop reads and answers requests until the connection ends.
func (cl *client) readLoop() error {
	limit := cl.hub.maxMessage()
	buf := make([]byte, 0, 512)
	for {
		if !cl.acquireSlot() {
			return errKicked
		}
		op, rd, err := cl.c.NextReader()
		if err != nil {
			<-cl.slots
			return err
		}
		buf, err = readAtMost(rd, buf[:0], limit+1)
		if err != nil {
			<-cl.slots
			return err
		}
		switch {
		case len(buf) > limit:
			cl.reply(appendError(nil, CodeTooLarge, tooLargeText(limit), "", refFromPrefix(buf)))
		case op != frame.OpText:
			cl.reply(appendError(nil, CodeBadRequest, "requests are JSON in text messages; got a binary message", "", nil))
		default:
			cl.handle(buf)
		}
		if cap(buf) > 64<<10 {
			buf = make([]byte, 0, 512) // an idle client keeps no large buffer
		}
	}
}

// readAtMost appends up to n bytes of the message to buf; whatever is left
// of the message is skipped by the next NextReader.
func readAtMost(rd io.Reader, buf []byte, n int) ([]byte, error) {
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		k, err := rd.Read(buf[len(buf):min(cap(buf), n)])
		buf = buf[:len(buf)+k]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// handle answers one request of at most MaxMessageSize bytes.
func (cl *client) handle(p []byte) {
	req, err := parseRequest(p)
	if err != nil {
		cl.reply(appendError(nil, CodeBadRequest, err.Error(), "", req.ref))
		return
	}
	switch req.kind {
	case reqList:
		if req.watch == watchOn {
			cl.watching.Store(true)
			cl.hub.watchers.Store(cl, struct{}{})
			if cl.gone.Load() {
				// detach ran meanwhile (its writer failed): do not
				// leave a departed client among the watchers.
				cl.hub.watchers.Delete(cl)
			}
		} else if req.watch == watchOff && cl.watching.Swap(false) {
			cl.hub.watchers.Delete(cl)
		}
		if h := hookListed.Load(); h != nil {
			(*h)()
		}
		// The list itself is taken by the writer when it writes the
		// answer (see writeBatch), not here: presence events queued
		// between here and then could otherwise be written before a list
		// that does not reflect them.
		cl.replyItem(outItem{ref: req.ref, list: true, slot: true})
	case reqSend:
		v, ok := cl.hub.clients.Load(req.to)
		if !ok && cl.hub.node != nil {
			// Not here: maybe on another node (NATS tells).
			cl.hub.node.sendRemote(cl, req)
			return
		}
		if !ok {
			cl.reply(appendError(nil, CodeUnknownRecipient, "no connected client has this id", shortID(req.to), req.ref))
			return
		}
		dst := v.(*client)
		it := outItem{data: appendMessage(nil, cl.id, req.message), from: cl, ref: req.ref}
		switch dst.enqueue(it, false) {
		case nil:
			// The outcome comes from dst's writer.
		case errFull:
			cl.reply(appendError(nil, CodeRecipientSlow, "the recipient's queue is full; the message was not queued", dst.id, req.ref))
		default:
			cl.reply(appendError(nil, CodeRecipientGone, "recipient disconnected before the message was delivered", dst.id, req.ref))
		}
	}
}
