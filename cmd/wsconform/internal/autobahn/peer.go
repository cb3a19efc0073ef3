package autobahn

import (
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/ws6455/ws6455/frame"
)

// State is the endpoint's WebSocket state, numbered as in Autobahn.
type State int

// States of the connection (RFC 6455 §4, §7).
const (
	StateClosed     State = 0
	StateConnecting State = 1
	StateClosing    State = 2 // a close frame was sent
	StateOpen       State = 3
)

func (s State) String() string {
	switch s {
	case StateClosed:
		return "CLOSED"
	case StateConnecting:
		return "CONNECTING"
	case StateClosing:
		return "CLOSING"
	case StateOpen:
		return "OPEN"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Close codes a received close frame may carry (Autobahn 0.10's
// CLOSE_STATUS_CODES_ALLOWED for 1000-2999; 3000-4999 are always allowed).
var allowedCloseCodes = map[int]bool{1000: true, 1001: true, 1002: true, 1003: true, 1007: true, 1008: true, 1009: true, 1010: true, 1011: true}

// Peer is the fuzzer's endpoint of one WebSocket connection, driven by one
// case. Its methods are Autobahn's WebSocketProtocol methods that cases
// call; they must be called from the case's callbacks, which all run on the
// peer's loop goroutine. Nothing here is safe for use from other
// goroutines.
type Peer struct {
	opts Options
	run  *Run
	nc   net.Conn
	w    *writer
	// stream: nc is an HTTP/2 stream (RFC 8441), not a TCP connection.
	stream bool
	q      *queue
	rnd    *rand.ChaCha8

	state             State
	connectionWasOpen bool

	// Close bookkeeping (Autobahn's names; see the report's "Closing
	// Behavior" table).
	closedByMe                     bool // we sent the first close frame
	failedByMe                     bool // we failed the connection (RFC 6455 §7.1.7)
	droppedByMe                    bool // we closed the TCP connection
	wasClean                       bool // the close handshake completed
	wasNotCleanReason              string
	wasServerConnectionDropTimeout bool
	wasOpenHandshakeTimeout        bool
	wasCloseHandshakeTimeout       bool
	localCloseCode                 *int
	localCloseReason               []byte // nil: none sent
	remoteCloseCode                *int
	remoteCloseReason              *string

	// permessage-deflate (RFC 7692), when the handshake agreed on it.
	deflate    *frame.DeflateParams
	pmce       *deflateCodec
	inflateErr string // why a compressed message could not be inflated
	traffic    trafficStats

	// Receiving.
	insideMessage bool
	msgCompressed bool // the message being received has RSV1 set
	msgOpcode     frame.Opcode
	msgBuf        []byte
	validateUTF8  bool
	utf8          frame.UTF8Validator
	utf8Rejected  bool // the text message being received had invalid UTF-8

	// Streaming send (BeginMessage ... EndMessage).
	sendState     int
	sendOpcode    frame.Opcode
	sendFrameLen  int64
	sendFramePos  int
	sendFrameKey  [4]byte
	sendFrameMask bool

	// Writes of the current loop event, flushed as one item afterwards.
	pending []byte

	// Timers.
	timers         []*timer
	closeHSTimer   *timer
	serverDropTime *timer
	watchdog       *time.Timer
	deadline       time.Time
	lost           bool

	// Logs and statistics for the report.
	createWirelog bool
	wirelog       []any
	rxOctetStats  map[int]int
	txOctetStats  map[int]int
	rxFrameStats  map[int]int
	txFrameStats  map[int]int
	caseStart     time.Time
	caseEnd       time.Time
}

func newPeer(opts Options, r *Run) *Peer {
	var seed [32]byte
	crand.Read(seed[:])
	p := &Peer{
		opts:          opts,
		run:           r,
		q:             newQueue(),
		rnd:           rand.NewChaCha8(seed),
		state:         StateConnecting,
		createWirelog: true,
		rxOctetStats:  map[int]int{},
		txOctetStats:  map[int]int{},
		rxFrameStats:  map[int]int{},
		txFrameStats:  map[int]int{},
	}
	r.P = p
	return p
}

// Role returns the role the fuzzer plays on this connection.
func (p *Peer) Role() Role { return p.opts.Role }

// State returns the connection's state.
func (p *Peer) State() State { return p.state }

// Deflate returns the permessage-deflate parameters in force (RFC 7692
// §7.1), or nil if the extension was not negotiated.
func (p *Peer) Deflate() *frame.DeflateParams { return p.deflate }

// InflateError returns why a compressed message received could not be
// decompressed, or "".
func (p *Peer) InflateError() string { return p.inflateErr }

// TxFrameStats returns how many frames were sent, by opcode.
func (p *Peer) TxFrameStats() map[int]int { return p.txFrameStats }

// SetAutoFragmentSize makes SendMessage split messages into frames of n
// bytes (Autobahn's autoFragmentSize option); 0 sends one frame.
func (p *Peer) SetAutoFragmentSize(n int) { p.opts.AutoFragmentSize = n }

// AutoFragmentSize returns the current autoFragmentSize.
func (p *Peer) AutoFragmentSize() int { return p.opts.AutoFragmentSize }

// SetCreateWirelog turns the wire log on or off without noting it in the
// log (cases with large payloads switch it off).
func (p *Peer) SetCreateWirelog(on bool) { p.createWirelog = on }

// EnableWirelog turns the wire log on or off and notes the change in it.
func (p *Peer) EnableWirelog(on bool) {
	if on != p.createWirelog {
		p.createWirelog = on
		p.wirelog = append(p.wirelog, []any{"WLM", on})
	}
}

// ---- Sending ----

// Frame describes a frame to send, with Autobahn's sendFrame arguments. It
// may break any rule of RFC 6455: reserved bits and opcodes, fragmented
// control frames, oversized control payloads.
type Frame struct {
	Opcode     int // 0-15
	Payload    []byte
	Fin        bool
	Rsv        int      // RSV bits as a 3-bit number: 4 is RSV1, 2 is RSV2, 1 is RSV3
	Mask       *[4]byte // explicit masking key; nil applies the role's rule
	PayloadLen int64    // when > 0, Payload is repeated (and cut) to this length
	Chopsize   int      // when > 0, the frame is written in writes of this many bytes
	Sync       bool     // write the frame on its own, not coalesced with other writes
}

// Fr returns a final frame with the given opcode and payload.
func Fr(opcode int, payload string) Frame {
	return Frame{Opcode: opcode, Payload: []byte(payload), Fin: true}
}

// NoFin clears the FIN bit.
func (f Frame) NoFin() Frame { f.Fin = false; return f }

// WithFin sets the FIN bit to fin.
func (f Frame) WithFin(fin bool) Frame { f.Fin = fin; return f }

// WithRsv sets the reserved bits.
func (f Frame) WithRsv(rsv int) Frame { f.Rsv = rsv; return f }

// Chop makes the frame go out in writes of n bytes.
func (f Frame) Chop(n int) Frame { f.Chopsize = n; return f }

// SyncWrite makes the frame go out in a write of its own.
func (f Frame) SyncWrite(sync bool) Frame { f.Sync = sync; return f }

// RepeatTo repeats the payload to n bytes.
func (f Frame) RepeatTo(n int64) Frame { f.PayloadLen = n; return f }

func (p *Peer) masks() bool {
	if p.opts.Role == RoleServer {
		return p.opts.MaskServerFrames
	}
	return p.opts.MaskClientFrames
}

func (p *Peer) newMask() (k [4]byte) {
	binary.LittleEndian.PutUint32(k[:], uint32(p.rnd.Uint64()))
	return k
}

// SendFrame sends f (Autobahn's sendFrame). Like Autobahn it does not look
// at the connection state: frames are sent after a close frame too, which
// some cases rely on. It does nothing once the connection is closed.
func (p *Peer) SendFrame(f Frame) {
	pl := f.Payload
	if f.PayloadLen > 0 {
		if len(pl) == 0 {
			panic("autobahn: cannot repeat an empty payload")
		}
		rep := make([]byte, f.PayloadLen)
		for i := int64(0); i < f.PayloadLen; i += int64(len(pl)) {
			copy(rep[i:], pl)
		}
		pl = rep
	}
	h := frame.Header{
		Fin:    f.Fin,
		Rsv:    byte(f.Rsv%8) << 4,
		Opcode: frame.Opcode(f.Opcode & 0x0F),
		Length: int64(len(pl)),
	}
	var mask *[4]byte
	if f.Mask != nil || p.masks() {
		h.Masked = true
		if f.Mask != nil {
			h.Mask = *f.Mask
		} else {
			h.Mask = p.newMask()
		}
		mask = &h.Mask
	}
	raw := make([]byte, 0, frame.HeaderSize(h)+len(pl))
	raw = frame.AppendHeader(raw, h)
	start := len(raw)
	raw = append(raw, pl...)
	if h.Masked && p.opts.ApplyMask {
		frame.Mask(h.Mask, 0, raw[start:])
	}
	p.txFrameStats[f.Opcode]++
	if f.Opcode <= 2 {
		p.traffic.OutgoingWebSocketFrames++
	}
	if p.createWirelog {
		var mk any
		if mask != nil {
			mk = hex.EncodeToString(mask[:])
		}
		var rep any
		if f.PayloadLen > 0 {
			rep = f.PayloadLen
		}
		var chop any
		if f.Chopsize > 0 {
			chop = f.Chopsize
		}
		p.wirelog = append(p.wirelog, []any{"TF", []any{len(f.Payload), logText(f.Payload, 64)},
			f.Opcode, f.Fin, f.Rsv, mk, rep, chop, f.Sync})
	}
	p.sendData(raw, f.Sync, f.Chopsize)
}

// SendRaw writes b as it is (no framing), optionally chopped.
func (p *Peer) SendRaw(b []byte, sync bool, chopsize int) {
	p.sendData(append([]byte(nil), b...), sync, chopsize)
}

// sendData is Autobahn's sendData: chopped writes and synchronous writes go
// through the send queue, one Write each; other writes are coalesced.
func (p *Peer) sendData(data []byte, sync bool, chopsize int) {
	if p.state == StateClosed || p.w == nil {
		return
	}
	if chopsize > 0 {
		p.flushPending()
		for i := 0; i < len(data) || i == 0; i += chopsize {
			j := min(i+chopsize, len(data))
			p.logTxOctets(data[i:j], true)
			p.w.push(writeItem{data: data[i:j], queued: true})
			if j == len(data) {
				break
			}
		}
		return
	}
	if sync || p.w.queued.Load() > 0 {
		p.flushPending()
		p.logTxOctets(data, sync)
		p.w.push(writeItem{data: data, queued: true})
		return
	}
	p.logTxOctets(data, false)
	if len(data) > 64<<10 && len(p.pending) == 0 {
		// Large write: hand it over without copying.
		p.w.push(writeItem{data: data})
		return
	}
	p.pending = append(p.pending, data...)
}

func (p *Peer) flushPending() {
	if len(p.pending) > 0 && p.w != nil {
		p.w.push(writeItem{data: p.pending})
		p.pending = nil
	}
}

func (p *Peer) logTxOctets(b []byte, sync bool) {
	p.txOctetStats[len(b)]++
	if p.state == StateOpen {
		p.traffic.OutgoingOctetsWireLevel += int64(len(b))
	}
	if p.createWirelog {
		p.wirelog = append(p.wirelog, []any{"TO", []any{len(b), logHex(b, 64)}, sync})
	}
}

// SendMessage sends a whole data message (Autobahn's sendMessage): one
// frame, or frames of fragmentSize bytes (RFC 6455 §5.4) when fragmentSize
// > 0 or, if it is 0, the autoFragmentSize option is set and the payload is
// longer. With permessage-deflate the message is compressed first, the
// compressed bytes are what is fragmented, and the first frame has RSV1
// set (RFC 7692 §6). Only in the OPEN state. Payload must stay unmodified.
func (p *Peer) SendMessage(payload []byte, binary bool, fragmentSize int) {
	if p.state != StateOpen {
		return
	}
	op := 1
	if binary {
		op = 2
	}
	p.traffic.OutgoingWebSocketMessages++
	p.traffic.OutgoingOctetsAppLevel += int64(len(payload))
	rsv := 0
	if p.pmce != nil {
		c, err := p.pmce.compress(payload)
		if err != nil {
			// Our own compressor failing is a bug of the runner.
			panic("autobahn: compressing a message: " + err.Error())
		}
		payload, rsv = c, 4
	}
	p.traffic.OutgoingOctetsWebSocketLevel += int64(len(payload))
	pfs := fragmentSize
	if pfs <= 0 {
		pfs = p.opts.AutoFragmentSize
	}
	if pfs <= 0 || len(payload) <= pfs {
		p.SendFrame(Frame{Opcode: op, Payload: payload, Fin: true, Rsv: rsv})
		return
	}
	// Autobahn's loop: a frame is final only once i+pfs passes the end, so
	// a payload that is a multiple of pfs long ends with an empty final
	// continuation frame (9.3.1 sends 65536 frames of 64 bytes and one of
	// 0 bytes).
	n := len(payload)
	for i, done := 0, false; !done; i += pfs {
		j := i + pfs
		if j > n {
			done = true
			j = n
		}
		o, r := 0, 0
		if i == 0 {
			o, r = op, rsv
		}
		p.SendFrame(Frame{Opcode: o, Payload: payload[i:j], Fin: done, Rsv: r})
	}
}

// Streaming send states (Autobahn's SEND_STATE_*).
const (
	sendGround = iota
	sendMessageBegin
	sendInsideMessage
	sendInsideFrame
)

// BeginMessage starts a message sent frame by frame (Autobahn's
// beginMessage); only in the OPEN state.
func (p *Peer) BeginMessage(binary bool) {
	if p.state != StateOpen {
		return
	}
	if p.sendState != sendGround {
		panic("autobahn: BeginMessage inside a message")
	}
	p.sendOpcode = frame.OpText
	if binary {
		p.sendOpcode = frame.OpBinary
	}
	p.sendState = sendMessageBegin
}

// BeginMessageFrame writes the header of a non-final frame of length bytes
// of the current message; its payload follows in SendMessageFrameData
// calls, which may be spread over time.
func (p *Peer) BeginMessageFrame(length int64) {
	if p.state != StateOpen {
		return
	}
	if p.sendState != sendMessageBegin && p.sendState != sendInsideMessage {
		panic("autobahn: BeginMessageFrame outside a message")
	}
	h := frame.Header{Length: length}
	if p.sendState == sendMessageBegin {
		h.Opcode = p.sendOpcode
	}
	p.sendFrameMask = p.masks()
	if p.sendFrameMask {
		h.Masked = true
		h.Mask = p.newMask()
		p.sendFrameKey = h.Mask
	}
	p.sendFrameLen = length
	p.sendFramePos = 0
	p.sendData(frame.AppendHeader(nil, h), false, 0)
	p.sendState = sendInsideFrame
}

// SendMessageFrameData writes the next payload bytes of the frame begun by
// BeginMessageFrame; bytes beyond the frame's length are dropped.
func (p *Peer) SendMessageFrameData(payload []byte) {
	if p.state != StateOpen {
		return
	}
	if p.sendState != sendInsideFrame {
		panic("autobahn: SendMessageFrameData outside a frame")
	}
	if rest := p.sendFrameLen - int64(p.sendFramePos); int64(len(payload)) > rest {
		payload = payload[:rest]
	}
	b := append([]byte(nil), payload...)
	if p.sendFrameMask && p.opts.ApplyMask {
		frame.Mask(p.sendFrameKey, p.sendFramePos, b)
	}
	p.sendFramePos += len(b)
	p.sendData(b, false, 0)
	if int64(p.sendFramePos) >= p.sendFrameLen {
		p.sendState = sendInsideMessage
	}
}

// EndMessage ends the current message with an empty final continuation
// frame.
func (p *Peer) EndMessage() {
	if p.state != StateOpen {
		return
	}
	p.SendFrame(Frame{Opcode: 0, Fin: true})
	p.sendState = sendGround
}

// NoCode as a close code means "no status code in the close frame".
const NoCode = -1

// SendCloseFrame sends a close frame with the given code (NoCode for none)
// and raw reason (nil for none), without checking either (Autobahn's
// sendCloseFrame), and moves to CLOSING. isReply marks a reply to the
// other side's close. Only in the OPEN state. When we initiate, the other
// side has CloseHandshakeTimeout to answer before we drop TCP.
func (p *Peer) SendCloseFrame(code int, reason []byte, isReply bool) {
	if p.state != StateOpen {
		return
	}
	var payload []byte
	if code != NoCode {
		payload = binary.BigEndian.AppendUint16(payload, uint16(code))
	}
	payload = append(payload, reason...)
	p.SendFrame(Frame{Opcode: 8, Payload: payload, Fin: true})
	p.state = StateClosing
	p.closedByMe = !isReply
	if code != NoCode {
		c := code
		p.localCloseCode = &c
	}
	p.localCloseReason = reason
	if p.closedByMe && p.opts.CloseHandshakeTimeout > 0 {
		p.closeHSTimer = p.after(p.opts.CloseHandshakeTimeout, p.onCloseHandshakeTimeout)
	}
}

// SendClose starts the closing handshake (RFC 6455 §7.1.2) with a valid
// code (1000 or 3000-4999, NoCode for none) and reason; a reason longer than
// 123 bytes is cut to 120 bytes and "...".
func (p *Peer) SendClose(code int, reason string) {
	if code != NoCode && code != 1000 && (code < 3000 || code > 4999) {
		panic(fmt.Sprintf("autobahn: SendClose with invalid code %d", code))
	}
	var r []byte
	if reason != "" {
		if code == NoCode {
			panic("autobahn: close reason without close code")
		}
		r = []byte(reason)
		if len(r)+2 > 125 {
			r = append(r[:120:120], "..."...)
		}
	}
	p.SendCloseFrame(code, r, false)
}

// ---- Failing and dropping ----

// FailConnection is _Fail the WebSocket Connection_ (RFC 6455 §7.1.7): send
// a close frame with code and reason, or drop TCP if a close frame was
// already sent (or if the FailByDrop option is set).
func (p *Peer) FailConnection(code int, reason string) {
	if p.state == StateClosed {
		return
	}
	p.failedByMe = true
	switch {
	case p.opts.FailByDrop:
		p.wasClean = false
		p.wasNotCleanReason = "I failed the WebSocket connection by dropping the TCP connection"
		p.DropConnection(true)
	case p.state != StateClosing:
		r := []byte(reason)
		if len(r) > 123 {
			r = r[:123]
		}
		p.SendCloseFrame(code, r, false)
	default:
		p.DropConnection(false)
	}
}

// protocolViolation fails the connection with 1002 (RFC 6455 §7.4.1); it
// reports whether processing must stop (only with FailByDrop).
func (p *Peer) protocolViolation(reason string) bool {
	p.FailConnection(1002, reason)
	return p.opts.FailByDrop
}

// invalidPayload fails the connection with 1007 (RFC 6455 §8.1).
func (p *Peer) invalidPayload(reason string) bool {
	p.FailConnection(1007, reason)
	return p.opts.FailByDrop
}

// DropConnection closes the TCP connection: at once (abort) or after
// writing what is buffered.
func (p *Peer) DropConnection(abort bool) {
	if p.state == StateClosed {
		return
	}
	p.droppedByMe = true
	p.state = StateClosed
	if p.w == nil {
		if p.nc != nil {
			p.nc.Close()
		}
		return
	}
	if abort {
		p.pending = nil
		p.w.abort()
	} else {
		p.flushPending()
		p.w.closeAfterFlush()
	}
}

func (p *Peer) onCloseHandshakeTimeout() {
	p.closeHSTimer = nil
	if p.state != StateClosed {
		p.wasClean = false
		p.wasNotCleanReason = "peer did not respond (in time) in closing handshake"
		p.wasCloseHandshakeTimeout = true
		p.DropConnection(true)
	}
}

func (p *Peer) onServerConnectionDropTimeout() {
	p.serverDropTime = nil
	if p.state != StateClosed {
		p.wasClean = false
		p.wasNotCleanReason = "server did not drop TCP connection (in time)"
		p.wasServerConnectionDropTimeout = true
		p.DropConnection(true)
	}
}

// ---- Timers ----

// after runs fn on the loop after d, unless cancelled.
func (p *Peer) after(d time.Duration, fn func()) *timer {
	t := &timer{}
	t.t = time.AfterFunc(d, func() { p.q.post(evTimer{t: t, fn: fn}) })
	p.timers = append(p.timers, t)
	p.armWatchdog(d)
	return t
}

func seconds(d time.Duration) float64 { return d.Seconds() }

// KillAfter fails the connection (code 1001) after d unless it is closed
// by then (Autobahn's killAfter).
func (p *Peer) KillAfter(d time.Duration) {
	p.wirelog = append(p.wirelog, []any{"KL", seconds(d)})
	p.after(d, func() {
		if p.state != StateClosed {
			p.wirelog = append(p.wirelog, []any{"KLE"})
			p.FailConnection(1001, "Going Away")
		}
	})
}

// CloseAfter starts the closing handshake, with a close frame without
// status code, after d unless the connection is closed by then
// (Autobahn's closeAfter).
func (p *Peer) CloseAfter(d time.Duration) {
	p.wirelog = append(p.wirelog, []any{"TI", seconds(d)})
	p.after(d, func() {
		if p.state != StateClosed {
			p.wirelog = append(p.wirelog, []any{"TIE"})
			p.SendClose(NoCode, "")
		}
	})
}

// ContinueLater runs fn after d unless the connection is closed by then
// (Autobahn's continueLater); tag names the delay in the wire log.
func (p *Peer) ContinueLater(d time.Duration, tag string, fn func()) {
	var t any
	if tag != "" {
		t = tag
	}
	p.wirelog = append(p.wirelog, []any{"CT", seconds(d), t})
	p.after(d, func() {
		if p.state != StateClosed {
			p.wirelog = append(p.wirelog, []any{"CTE", t})
			fn()
		}
	})
}

// watchdogSlack is how long the runner waits beyond the latest timer a
// case has set before it gives up on a connection that neither side
// closes. Autobahn has no such limit (such a case hangs); it is a safety
// net only: every case ends through its own timers first.
const watchdogSlack = 10 * time.Second

func (p *Peer) armWatchdog(d time.Duration) {
	nd := time.Now().Add(d + watchdogSlack)
	if nd.After(p.deadline) {
		p.deadline = nd
	}
	if p.watchdog == nil {
		p.watchdog = time.AfterFunc(time.Until(p.deadline), func() { p.q.post(evWatchdog{}) })
	}
}

func (p *Peer) onWatchdog() {
	if rem := time.Until(p.deadline); rem > 0 {
		p.watchdog.Reset(rem)
		return
	}
	if p.state != StateClosed {
		p.wasClean = false
		p.wasNotCleanReason = "wsconform: neither side closed the connection in time (runner watchdog)"
		p.DropConnection(true)
	}
}
